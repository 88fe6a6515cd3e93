//! `features`: what this runtime implements, as the OCI features document (runtime-spec 1.3
//! features.md). containerd's CRI plugin reads it to decide what it may ask for (rro,
//! idmapped mounts for user-namespaced pods), so every entry is implemented and nothing
//! implemented is left out; tests/features.rs runs each advertised item.

use anyhow::Result;
use serde_json::json;

pub fn run() -> Result<i32> {
    println!("{}", serde_json::to_string_pretty(&features())?);
    Ok(0)
}

pub fn features() -> serde_json::Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::rootfs::options::known(),
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps::all().iter().map(|c| c.to_string()).collect::<std::collections::BTreeSet<_>>(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true},
            "seccomp": crate::security::seccomp::features::document(),
            // Labels are applied where the host has the LSM, refused where it has not.
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "mountExtensions": {"idmap": {"enabled": true}},
            "memoryPolicy": {"modes": crate::process::tuning::MPOL_MODES, "flags": crate::process::tuning::MPOL_FLAGS},
            "netDevices": {"enabled": true}
        },
        "annotations": {"org.opencontainers.runtime-spec.features.version": env!("CARGO_PKG_VERSION")}
    })
}
