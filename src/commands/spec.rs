//! `spec`: a default config.json, the same shape as runc's.

use anyhow::{bail, Context, Result};
use std::path::Path;

pub fn run(bundle: &Path, rootless: bool) -> Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} exists: remove it first", path.display());
    }
    // The effective ids, as runc's specconv.ToRootless maps them.
    let text = serde_json::to_string_pretty(&crate::spec::default_spec(rootless, nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw()))?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}
