//! `features`: what this runtime implements, as the OCI features document.

use anyhow::Result;
use serde_json::json;

pub fn run() -> Result<i32> {
    println!("{}", serde_json::to_string_pretty(&features())?);
    Ok(0)
}

pub fn features() -> serde_json::Value {
    let opts: Vec<&str> = vec![
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud", "mand",
        "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime",
        "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared", "rslave", "runbindable", "rw",
        "shared", "silent", "slave", "strictatime", "suid", "sync", "unbindable",
    ];
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": opts,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<std::collections::BTreeSet<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false}
        },
        "annotations": {"org.opencontainers.runtime-spec.features.version": env!("CARGO_PKG_VERSION")}
    })
}
