//! config.json for a bundle: the runtime's default spec (spec::default_spec) with terminal off
//! and a writable root, then the image config (Entrypoint/Cmd/Env/WorkingDir/User/Labels/
//! ExposedPorts/Volumes) and the command-line flags on top.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

pub struct Options {
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    /// (host dir, container dir, read-only)
    pub binds: Vec<(PathBuf, String, bool)>,
    /// Host directories for the image's anonymous volumes, with their container paths.
    pub volumes: Vec<(PathBuf, String)>,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub hostname: String,
    /// None: the host's network namespace; Some(path): join it.
    pub netns: Option<PathBuf>,
}

pub fn parse_bind(s: &str) -> Result<(PathBuf, String, bool)> {
    let parts: Vec<&str> = s.split(':').collect();
    let (h, c, ro) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        _ => bail!("volume {s:?}: expected HOSTDIR:CTRDIR[:ro]"),
    };
    if !c.starts_with('/') {
        bail!("volume {s:?}: the container path must be absolute");
    }
    let h = std::fs::canonicalize(h).with_context(|| format!("volume {s:?}: host path {h}"))?;
    Ok((h, c.to_string(), ro))
}

/// `1048576`, `512k`, `64m`, `2g` (binary units) → bytes.
pub fn parse_memory(s: &str) -> Result<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mul) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num.parse().map_err(|_| anyhow!("memory {s:?}: expected a size like 512m or 1g"))?;
    let v = (n * mul as f64) as i64;
    if v < 6 << 20 {
        bail!("memory {s:?}: the minimum is 6m");
    }
    Ok(v)
}

/// The user of the image config (`uid`, `uid:gid`, `name`, `name:group`), resolved against
/// the image's /etc/passwd and /etc/group.
pub fn resolve_user(user: &str, rootfs: &Path) -> Result<(u32, u32)> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
    let find = |db: &str, key: &str| -> Option<Vec<String>> {
        db.lines()
            .map(|l| l.split(':').map(str::to_string).collect::<Vec<_>>())
            .find(|f| f.len() >= 3 && (f[0] == key || f[2] == key))
    };
    let (uid, pw_gid) = match u.parse::<u32>() {
        Ok(n) => (n, find(&passwd, u).and_then(|f| f.get(3).and_then(|g| g.parse().ok()))),
        Err(_) => {
            let f = find(&passwd, u).ok_or_else(|| anyhow!("user {u:?} is not in the image's /etc/passwd"))?;
            (f[2].parse()?, f.get(3).and_then(|g| g.parse().ok()))
        }
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => find(&group, g).ok_or_else(|| anyhow!("group {g:?} is not in the image's /etc/group"))?[2].parse()?,
        },
        None => pw_gid.unwrap_or(0),
    };
    Ok((uid, gid))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// The image's `config.Volumes` paths.
pub fn image_volumes(image_config: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        image_config["config"]["Volumes"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    v.sort();
    v
}

pub fn build(image_config: &Value, rootfs: &Path, o: &Options) -> Result<Value> {
    let c = &image_config["config"];
    let mut spec = crate::spec::default_spec(false, 0, 0, true);
    spec["process"]["terminal"] = json!(false);
    spec["root"]["readonly"] = json!(false);

    let mut args = strings(&c["Entrypoint"]);
    if o.cmd.is_empty() {
        args.extend(strings(&c["Cmd"]));
    } else {
        args.extend(o.cmd.iter().cloned());
    }
    if args.is_empty() {
        bail!("no command: the image has no Entrypoint or Cmd; give one after --");
    }
    spec["process"]["args"] = json!(args);

    let mut env: Vec<String> = strings(&c["Env"]);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    for e in &o.env {
        let key = e.split('=').next().unwrap_or("");
        if key.is_empty() || !e.contains('=') {
            bail!("environment {e:?}: expected K=V");
        }
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.push(format!("HOSTNAME={}", o.hostname));
    }
    spec["process"]["env"] = json!(env);
    if let Some(wd) = c["WorkingDir"].as_str().filter(|w| !w.is_empty()) {
        if !wd.starts_with('/') {
            bail!("image WorkingDir {wd:?} is not absolute");
        }
        spec["process"]["cwd"] = json!(wd);
    }
    let (uid, gid) = resolve_user(c["User"].as_str().unwrap_or(""), rootfs)?;
    spec["process"]["user"] = json!({"uid": uid, "gid": gid});
    spec["hostname"] = json!(o.hostname);

    let mut ann = serde_json::Map::new();
    if let Some(labels) = c["Labels"].as_object() {
        for (k, v) in labels {
            ann.insert(k.clone(), json!(v.as_str().unwrap_or("")));
        }
    }
    if let Some(ports) = c["ExposedPorts"].as_object() {
        let mut p: Vec<&str> = ports.keys().map(String::as_str).collect();
        p.sort();
        ann.insert("org.opencontainers.image.exposedPorts".into(), json!(p.join(",")));
    }
    if !ann.is_empty() {
        spec["annotations"] = Value::Object(ann);
    }

    let mounts = spec["mounts"].as_array_mut().unwrap();
    for (host, dest) in &o.volumes {
        mounts.push(json!({"destination": dest, "type": "bind", "source": host, "options": ["rbind", "rw"]}));
    }
    for (host, dest, ro) in &o.binds {
        let mut opts = vec!["rbind", "rprivate"];
        opts.push(if *ro { "ro" } else { "rw" });
        mounts.retain(|m| m["destination"] != json!(dest));
        mounts.push(json!({"destination": dest, "type": "bind", "source": host, "options": opts}));
    }

    let linux = &mut spec["linux"];
    let ns = linux["namespaces"].as_array_mut().unwrap();
    match &o.netns {
        Some(p) => {
            for n in ns.iter_mut() {
                if n["type"] == "network" {
                    n["path"] = json!(p);
                }
            }
            // In a network namespace of its own, CAP_NET_RAW (as other engines grant) lets
            // ping work with any busybox (ping_group_range is set too, see network.rs).
            for set in ["bounding", "effective", "permitted"] {
                if let Some(a) = spec["process"]["capabilities"][set].as_array_mut() {
                    a.push(json!("CAP_NET_RAW"));
                }
            }
        }
        None => {
            ns.retain(|n| n["type"] != "network");
            // sysfs cannot be mounted without a network namespace of one's own: bind the host's.
            for m in spec["mounts"].as_array_mut().unwrap() {
                if m["destination"] == "/sys" {
                    *m = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
                }
            }
        }
    }
    if let Some(m) = o.memory {
        spec["linux"]["resources"]["memory"] = json!({"limit": m});
    }
    if let Some(c) = o.cpus {
        if c <= 0.0 {
            bail!("--cpus must be positive");
        }
        spec["linux"]["resources"]["cpu"] = json!({"quota": (c * 100000.0) as i64, "period": 100000});
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            cmd: vec![],
            env: vec!["FOO=bar".into(), "PATH=/x".into()],
            binds: vec![],
            volumes: vec![],
            memory: Some(64 << 20),
            cpus: Some(0.5),
            hostname: "h".into(),
            netns: Some("/run/x".into()),
        }
    }

    #[test]
    fn image_config_and_flags() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\nwww:x:33:44::/:/bin/sh\n").unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let img = json!({"config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["PATH=/bin", "A=1"],
            "WorkingDir": "/srv", "User": "www", "Labels": {"l": "v"}, "ExposedPorts": {"80/tcp": {}}}});
        let s = build(&img, d.path(), &opts()).unwrap();
        assert_eq!(s["process"]["args"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(s["process"]["env"], json!(["A=1", "FOO=bar", "PATH=/x", "HOSTNAME=h"]));
        assert_eq!(s["process"]["cwd"], "/srv");
        assert_eq!(s["process"]["user"], json!({"uid": 33, "gid": 44}));
        assert_eq!(s["process"]["terminal"], false);
        assert_eq!(s["root"]["readonly"], false);
        assert_eq!(s["annotations"]["l"], "v");
        assert_eq!(s["annotations"]["org.opencontainers.image.exposedPorts"], "80/tcp");
        assert_eq!(s["linux"]["resources"]["cpu"]["quota"], 50000);
        assert!(s["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["path"] == "/run/x"));
        let spec = crate::spec::parse(s.to_string().as_bytes()).unwrap();
        crate::spec::validate(&spec).unwrap();
        assert_eq!(resolve_user("www:staff", d.path()).unwrap(), (33, 50));
        assert_eq!(resolve_user("7", d.path()).unwrap(), (7, 0));
        assert!(resolve_user("nobody", d.path()).is_err());
        let mut o = opts();
        o.cmd = vec!["true".into()];
        o.netns = None;
        let s = build(&json!({"config": {}}), d.path(), &o).unwrap();
        assert_eq!(s["process"]["args"], json!(["true"]));
        assert!(!s["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == "network"));
        assert!(build(&json!({"config": {}}), d.path(), &opts()).is_err());
        assert_eq!(parse_memory("64m").unwrap(), 64 << 20);
        assert!(parse_memory("1k").is_err());
    }
}
