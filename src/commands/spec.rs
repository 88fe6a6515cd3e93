//! `spec`: a default config.json, what runc 1.5's `spec` writes on the same host: no ambient
//! capabilities, and a cgroup namespace only where /sys/fs/cgroup is cgroup2 (runc's
//! IsCgroup2UnifiedMode), so scripts that edit runc's default config work unchanged. The
//! hostname is the one difference ("bulkhead" where runc writes "runc").

use anyhow::{bail, Context, Result};
use std::path::Path;

pub fn run(bundle: &Path, rootless: bool) -> Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} exists: remove it first", path.display());
    }
    // The effective ids, as runc's specconv.ToRootless maps them.
    let text = serde_json::to_string_pretty(&crate::spec::default_spec(rootless, nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw(), cgroup2_unified()))?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}

/// runc's IsCgroup2UnifiedMode: /sys/fs/cgroup itself is a cgroup2 filesystem.
fn cgroup2_unified() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup").is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}
