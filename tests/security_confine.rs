//! What confines the container's process besides namespaces and seccomp: the capability sets
//! after exec (unknown names, ambient), LSM labels and intelRdt refused where the host lacks
//! them, linux.personality.

mod sec_common;

use sec_common::*;
use serde_json::json;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Capabilities.
// ---------------------------------------------------------------------------------------------

fn status_caps(out: &str) -> std::collections::BTreeMap<String, u64> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.starts_with("Cap").then(|| (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap()))
        })
        .collect()
}

/// runc 1.5: a capability the runtime does not know is ignored with a warning naming it (the
/// config may be written for a newer kernel); see also config_apply.rs.
#[test]
fn capabilities_unknown_name_is_ignored_with_a_warning_naming_it() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("capname");
    let mut cfg = ctx.config();
    cfg["process"]["capabilities"]["bounding"].as_array_mut().unwrap().push(json!("CAP_BOGUS"));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    assert!(o.stderr.contains("ignoring unknown or unavailable capabilities: [CAP_BOGUS]"), "{o:?}");
}

/// Every set as the config says after exec, read from the container's /proc/self/status:
/// the bounding set was dropped before exec, ambient needs permitted + inheritable and
/// survives the exec of a non-root program.
#[test]
fn capabilities_sets_after_exec() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("caps");
    let base = ctx.config();
    let mut cfg = base.clone();
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    cfg["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["cat", "/proc/self/status"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let c = status_caps(&o.stdout);
    assert_eq!(c["CapBnd"], (1 << 0) | (1 << 5) | (1 << 10), "{c:x?}");
    assert_eq!(c["CapInh"], (1 << 0) | (1 << 10), "{c:x?}");
    assert_eq!(c["CapAmb"], 1 << 10, "{c:x?}");
    // A non-root exec without file caps keeps exactly the ambient set.
    assert_eq!(c["CapPrm"], 1 << 10, "{c:x?}");
    assert_eq!(c["CapEff"], 1 << 10, "{c:x?}");

    // Root: the sets are the config's, and nothing outside the bounding set comes back.
    let mut cfg = base;
    cfg["process"]["capabilities"] = json!({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["cat", "/proc/self/status"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let c = status_caps(&o.stdout);
    assert_eq!((c["CapBnd"], c["CapEff"], c["CapPrm"], c["CapInh"], c["CapAmb"]), (1 << 5, 1 << 5, 1 << 5, 0, 0), "{c:x?}");
}

/// An ambient capability missing from inheritable cannot be raised: as runc, the container
/// still starts, without it.
#[test]
fn capabilities_ambient_needs_inheritable() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("amb");
    let mut cfg = ctx.config();
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    cfg["process"]["capabilities"] = json!({"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "effective": ["CAP_KILL"], "ambient": ["CAP_KILL"]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["cat", "/proc/self/status"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let c = status_caps(&o.stdout);
    assert_eq!((c["CapAmb"], c["CapEff"]), (0, 0), "{c:x?}");
}

// ---------------------------------------------------------------------------------------------
// LSM labels, personality, intelRdt.
// ---------------------------------------------------------------------------------------------

fn host_has_apparmor() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.starts_with('Y')).unwrap_or(false)
}

fn host_has_selinux() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// runc 1.1.5 on a host without AppArmor fails such a container ("write /proc/self/attr/exec:
/// invalid argument"); so does bulkhead, before creating anything and with the field named.
/// Likewise SELinux labels (runc: "selinux label is specified in config, but selinux is
/// disabled or not supported") and intelRdt without resctrl.
#[test]
fn lsm_labels_and_intel_rdt_refused_when_the_host_lacks_them() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("lsm");
    let base = ctx.config();
    let cases: Vec<(&str, Box<dyn Fn(&mut serde_json::Value)>, bool)> = vec![
        ("process.apparmorProfile", Box::new(|c| c["process"]["apparmorProfile"] = json!("docker-default")), host_has_apparmor()),
        ("process.selinuxLabel", Box::new(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0")), host_has_selinux()),
        ("linux.mountLabel", Box::new(|c| c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0")), host_has_selinux()),
        ("linux.intelRdt", Box::new(|c| c["linux"]["intelRdt"] = json!({"closID": "x", "l3CacheSchema": "L3:0=f"})), false),
    ];
    for (field, edit, host_has_it) in cases {
        if host_has_it {
            eprintln!("{field}: host supports it; refusal not tested");
            continue;
        }
        let mut cfg = base.clone();
        edit(&mut cfg);
        let id = ctx.new_id();
        ctx.set(&mut cfg, &id, &["true"]);
        let o = ctx.run(&id);
        assert!(!o.ok() && o.stderr.contains(field), "{field}: {o:?}");
        assert!(ctx.state(&id).is_none(), "{field}: state left behind");
    }
}

/// linux.personality: LINUX32 makes `uname -m` report a 32-bit machine; unknown flags are
/// an error naming the field.
#[test]
fn personality_domain_and_flags() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("pers");
    let mut cfg = ctx.config();
    cfg["linux"]["personality"] = json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "uname -m; cat /proc/self/personality"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let mut l = o.stdout.lines();
    let machine = l.next().unwrap_or_default();
    assert!(machine == "i686" || machine == "i386" || machine.starts_with("armv"), "{o:?}");
    assert_eq!(u64::from_str_radix(l.next().unwrap_or_default().trim(), 16).unwrap(), 0x0040008, "{o:?}");

    cfg["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["NOT_A_FLAG"]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("linux.personality.flags[0]"), "{o:?}");
}
