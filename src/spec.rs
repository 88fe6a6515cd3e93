//! Loading and validating a bundle's `config.json`.
//!
//! Parsing goes through `serde_path_to_error`, so a type error names the field
//! (`linux.namespaces[2].type: unknown variant ...`), and `validate` checks the rules the OCI
//! runtime spec states as MUSTs before anything on the host is touched: a config that fails here
//! leaves nothing behind.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use nix::mount::MsFlags;
use serde_json::{json, Value};
use std::path::{Component, Path, PathBuf};

/// The runtime spec version we implement (reported in state and features).
pub const OCI_VERSION: &str = "1.1.0";

/// A loaded bundle: the parsed config plus the absolute paths it refers to.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// config.json exactly as read and validated (what create saves in the state dir).
    pub config_bytes: Vec<u8>,
}

impl Bundle {
    /// Loads `<dir>/config.json` (dir relative to the caller's cwd) and validates it.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir).with_context(|| format!("bundle path {}", dir.display()))?;
        let config = dir.join("config.json");
        let text = read_regular(&config)?;
        let spec = parse(&text).with_context(|| format!("parsing {}", config.display()))?;
        let root = spec
            .root()
            .as_ref()
            .context("config.json: root: missing (the container's root filesystem must be given)")?;
        let rootfs = dir.join(root.path());
        let mut spec = spec;
        relative_mount_destinations_from_root(&mut spec);
        validate(&spec).context("config.json")?;
        let meta = std::fs::metadata(&rootfs).with_context(|| format!("config.json: root.path: {}", rootfs.display()))?;
        if !meta.is_dir() {
            bail!("config.json: root.path: {} is not a directory", rootfs.display());
        }
        Ok(Bundle { dir, rootfs, spec, config_bytes: text })
    }
}

/// `rootfsPropagation` and the propagation mount options.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// The default config.json (`bulkhead spec`, and the base of `bulkhead-bundle`'s configs): the
/// same shape as runc's.
pub fn default_spec(rootless: bool, uid: u32, gid: u32) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut v = json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "bulkhead",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        // runc's rootless shape: map only the caller, no network namespace (sysfs then comes
        // from a bind of the host's), no devpts gid option, no resources.
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}]);
        v["linux"].as_object_mut().unwrap().remove("resources");
        v["mounts"][2]["options"] = json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
        v["mounts"][5] = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
    }
    v
}

/// Reads config.json, which must be a regular file: a FIFO would block the read forever (runc
/// hangs there), a directory or a device is no config either. Opened without blocking and
/// checked on the open handle, so what is read is what was checked.
fn read_regular(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let t = f.metadata().with_context(|| format!("reading {}", path.display()))?.file_type();
    if !t.is_file() {
        let what = if t.is_dir() { "a directory" } else if t.is_fifo() { "a FIFO" } else if t.is_socket() { "a socket" } else { "a device" };
        bail!("{}: is {what}, not a regular file", path.display());
    }
    let mut text = Vec::new();
    f.read_to_end(&mut text).with_context(|| format!("reading {}", path.display()))?;
    Ok(text)
}

/// As runc 1.5 (specconv): a relative mount destination is taken from the container's `/`,
/// with runc's warning (it plans to refuse them); `..` is still refused by `validate`.
fn relative_mount_destinations_from_root(spec: &mut Spec) {
    for m in spec.mounts_mut().iter_mut().flatten() {
        if m.destination().is_relative() {
            crate::warn!("mount destination {} is not absolute. Support for non-absolute mount destinations will be removed in a future release.", m.destination().display());
            let abs = Path::new("/").join(m.destination());
            m.set_destination(abs);
        }
    }
}

/// Parses config.json text; errors name the offending field path. Capabilities this build does
/// not know are ignored with runc 1.5's warning (`drop_unknown_caps`); only a config that
/// names one pays for the second parse.
pub fn parse(text: &[u8]) -> Result<Spec> {
    let mut spec = parse_fields(text)?;
    empty_namespace_paths_are_none(&mut spec);
    Ok(spec)
}

/// As runc (and the spec's Go types, where "" is the zero value): a namespace with
/// `"path": ""` is a new namespace, not one to join.
fn empty_namespace_paths_are_none(spec: &mut Spec) {
    let Some(nss) = spec.linux_mut().as_mut().and_then(|l| l.namespaces_mut().as_mut()) else { return };
    for ns in nss.iter_mut().filter(|ns| ns.path().as_ref().is_some_and(|p| p.as_os_str().is_empty())) {
        ns.set_path(None);
    }
}

fn parse_fields(text: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(text);
    match serde_path_to_error::deserialize::<_, Spec>(de) {
        Ok(spec) => Ok(spec),
        Err(e) if e.path().to_string().starts_with("process.capabilities.") => {
            let mut v: serde_json::Value = serde_json::from_slice(text)?;
            let unknown = v.get_mut("process").map(drop_unknown_caps).unwrap_or_default();
            if unknown.is_empty() {
                return Err(field_error(e));
            }
            warn_ignored_caps(&unknown);
            serde_path_to_error::deserialize::<_, Spec>(v).map_err(field_error)
        }
        Err(e) if e.path().to_string() == "linux.memoryPolicy.mode" => {
            // runc's words for it; serde's list of variants would follow them.
            let v: serde_json::Value = serde_json::from_slice(text).unwrap_or_default();
            let mode = v.pointer("/linux/memoryPolicy/mode").map(|m| m.to_string()).unwrap_or_default();
            Err(anyhow::anyhow!("linux.memoryPolicy.mode: invalid memory policy mode {mode}"))
        }
        Err(e) => Err(field_error(e)),
    }
}

/// The five sets of a process's `capabilities`, as JSON keys.
const SET_KEYS: [&str; 5] = ["bounding", "effective", "inheritable", "permitted", "ambient"];

/// Removes from a process's `capabilities` (a JSON `process` object) every name this build's
/// table does not know, and returns them sorted and deduplicated. runc 1.5 ignores those with
/// a warning (configs written for newer kernels and tools still run) instead of refusing.
pub fn drop_unknown_caps(process: &mut serde_json::Value) -> Vec<String> {
    let mut unknown = std::collections::BTreeSet::new();
    for key in SET_KEYS {
        if let Some(set) = process.pointer_mut(&format!("/capabilities/{key}")).and_then(|s| s.as_array_mut()) {
            set.retain(|name| {
                // Anything but a string is a type error the typed parse reports.
                let known = !name.is_string() || serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
                if !known {
                    unknown.insert(name.as_str().unwrap_or_default().to_string());
                }
                known
            });
        }
    }
    unknown.into_iter().collect()
}

/// runc's warning for capabilities it ignores, word for word (a Go slice prints as `[A B]`).
pub fn warn_ignored_caps(names: &[String]) {
    if !names.is_empty() {
        crate::warn!("ignoring unknown or unavailable capabilities: [{}]", names.join(" "));
    }
}

fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> anyhow::Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." || path.is_empty() {
        return anyhow::anyhow!("{inner}");
    }
    anyhow::anyhow!("{path}: {inner}")
}

/// The checks the runtime spec makes mandatory, each error naming the field it is about.
pub fn validate(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref().context("process: missing (the container's process must be given)")?;
    match process.args() {
        Some(args) if !args.is_empty() => {}
        _ => bail!("process.args: must name at least the program to run"),
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd: {:?} must be an absolute path", process.cwd());
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') {
                bail!("process.env[{i}]: {e:?} is not of the form KEY=VALUE");
            }
        }
    }
    for phase in crate::hooks::Phase::ALL {
        for (i, h) in phase.of(spec.hooks().as_ref()).iter().enumerate() {
            if let Some(t) = h.timeout().filter(|t| *t <= 0) {
                bail!("hooks.{}[{i}].timeout: {t} is not allowed (it must be greater than zero)", phase.name());
            }
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        check_destination(m.destination()).with_context(|| format!("mounts[{i}].destination"))?;
    }
    let linux = spec.linux().as_ref();
    let namespaces = linux.and_then(|l| l.namespaces().as_ref());
    let mut seen = Vec::new();
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        if seen.contains(&ns.typ()) {
            bail!("linux.namespaces[{i}].type: {:?} is listed twice", ns.typ());
        }
        seen.push(ns.typ());
        if let Some(p) = ns.path()
            && !p.is_absolute() {
                bail!("linux.namespaces[{i}].path: {} must be absolute", p.display());
            }
    }
    let has = |t: LinuxNamespaceType| seen.contains(&t);
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        bail!("hostname: setting it needs a private UTS namespace (add {{\"type\": \"uts\"}} to linux.namespaces)");
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        bail!("domainname: setting it needs a private UTS namespace (add {{\"type\": \"uts\"}} to linux.namespaces)");
    }
    if let Some(linux) = linux {
        let user_ns = has(LinuxNamespaceType::User);
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !user_ns {
            bail!("linux.uidMappings: id mappings need a user namespace in linux.namespaces");
        }
        let joins_user = namespaces.into_iter().flatten().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        if user_ns && !joins_user && !maps {
            bail!("linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
        }
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            check_sysctl(key, &has).with_context(|| format!("linux.sysctl[{key:?}]"))?;
        }
        for (i, d) in linux.devices().iter().flatten().enumerate() {
            check_destination(d.path()).with_context(|| format!("linux.devices[{i}].path"))?;
            if !d.path().starts_with("/dev") {
                bail!("linux.devices[{i}].path: {} is not under /dev", d.path().display());
            }
        }
        if let Some(p) = linux.rootfs_propagation()
            && !p.is_empty() && propagation_flag(p).is_none() {
                bail!("linux.rootfsPropagation: {p:?} is not one of shared, slave, private, unbindable (or r-prefixed)");
            }
    }
    Ok(())
}

/// Mount and device destinations must be absolute and may not climb out with `..`.
pub fn check_destination(p: &Path) -> Result<()> {
    if !p.is_absolute() {
        bail!("{} must be an absolute path inside the container", p.display());
    }
    if p.components().any(|c| c == Component::ParentDir) {
        bail!("{} must not contain '..'", p.display());
    }
    Ok(())
}

/// runc's rule: a sysctl may only be set when the container owns the namespace it belongs to.
fn check_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        if !has(LinuxNamespaceType::Ipc) {
            bail!("needs a private IPC namespace");
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !has(LinuxNamespaceType::Network) {
            bail!("needs a private network namespace");
        }
        return Ok(());
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if !has(LinuxNamespaceType::Uts) {
            bail!("needs a private UTS namespace");
        }
        return Ok(());
    }
    bail!("is not namespaced: setting it would change the host")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_rootless_specs_are_valid() {
        for rootless in [false, true] {
            let v = default_spec(rootless, 1000, 1000);
            let spec = crate::spec::parse(v.to_string().as_bytes()).unwrap();
            crate::spec::validate(&spec).unwrap();
        }
        let r = default_spec(true, 1000, 1001);
        assert_eq!(r["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(r["linux"]["gidMappings"][0]["hostID"], 1001);
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn check(v: &serde_json::Value) -> Result<()> {
        validate(&parse(v.to_string().as_bytes())?)
    }

    #[test]
    fn baseline_is_valid() {
        check(&base()).unwrap();
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let mut v = base();
        v["linux"]["namespaces"][1]["type"] = "bogus".into();
        let e = format!("{:#}", check(&v).unwrap_err());
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
    }

    #[test]
    fn missing_process_is_an_error() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("process");
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("process: missing"));
    }

    #[test]
    fn relative_and_escaping_destinations_rejected() {
        for dest in ["tmp", "/a/../../etc"] {
            let mut v = base();
            v["mounts"] = serde_json::json!([{"destination": dest, "type": "tmpfs", "source": "tmpfs"}]);
            let e = format!("{:#}", check(&v).unwrap_err());
            assert!(e.contains("mounts[0].destination"), "{e}");
        }
    }

    #[test]
    fn hostname_needs_uts() {
        let mut v = base();
        v["hostname"] = "x".into();
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("UTS"));
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "uts"}));
        check(&v).unwrap();
    }

    #[test]
    fn sysctl_namespacing() {
        let mut v = base();
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        assert!(check(&v).is_err());
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "network"}));
        check(&v).unwrap();
        v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"});
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("not namespaced"));
    }

    #[test]
    fn duplicate_namespace_rejected() {
        let mut v = base();
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "pid"}));
        assert!(check(&v).is_err());
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let mut v = base();
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "user"}));
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("uidMappings"));
    }

    #[test]
    fn empty_namespace_path_means_a_new_namespace() {
        let mut v = base();
        v["linux"]["namespaces"][0]["path"] = "".into();
        let spec = parse(v.to_string().as_bytes()).unwrap();
        validate(&spec).unwrap();
        assert!(spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap()[0].path().is_none());
    }

    #[test]
    fn unknown_capabilities_are_ignored() {
        let mut v = base();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_KILL", "CAP_FROM_THE_FUTURE"]});
        let spec = parse(v.to_string().as_bytes()).unwrap();
        let caps = spec.process().as_ref().unwrap().capabilities().clone().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        v["process"]["capabilities"] = serde_json::json!({"bounding": [7]});
        assert!(format!("{:#}", parse(v.to_string().as_bytes()).unwrap_err()).contains("process.capabilities.bounding"));
    }

    #[test]
    fn unknown_names_are_dropped_and_reported_once() {
        let mut p = serde_json::json!({"capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_FUTURE", "CAP_AAA"], "effective": ["CAP_FUTURE"], "ambient": []}});
        assert_eq!(drop_unknown_caps(&mut p), vec!["CAP_AAA".to_string(), "CAP_FUTURE".to_string()]);
        assert_eq!(p["capabilities"]["bounding"], serde_json::json!(["CAP_CHOWN"]));
        assert_eq!(p["capabilities"]["effective"], serde_json::json!([]));
        assert!(drop_unknown_caps(&mut serde_json::json!({"args": ["sh"]})).is_empty());
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(parse(b"{ not json").is_err());
    }
}
