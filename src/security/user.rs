//! Switching to the process's user and groups while keeping the capabilities we then set.

use anyhow::{Context, Result};

use crate::kernel::Kernel;

/// `setgroups_allowed` is false in a user namespace whose setgroups is denied (rootless).
pub fn switch(k: &impl Kernel, uid: u32, gid: u32, additional_gids: &[u32], setgroups_allowed: bool) -> Result<()> {
    // Keep permitted capabilities across the uid change; capset then restores effective.
    let _ = k.prctl(libc::PR_SET_KEEPCAPS, 1, 0);
    if setgroups_allowed {
        k.setgroups(additional_gids).with_context(|| format!("process.user.additionalGids: setgroups({additional_gids:?})"))?;
    }
    k.setresgid(gid).with_context(|| format!("process.user.gid: setresgid({gid})"))?;
    k.setresuid(uid).with_context(|| format!("process.user.uid: setresuid({uid})"))?;
    let _ = k.prctl(libc::PR_SET_KEEPCAPS, 0, 0);
    Ok(())
}

/// HOME from the container's /etc/passwd for `uid`, else "/" (what runc does when the config
/// does not set HOME).
pub fn home_for(uid: u32) -> String {
    let Ok(text) = std::fs::read_to_string("/etc/passwd") else { return "/".into() };
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 6 && f[2].parse() == Ok(uid) {
            return f[5].to_string();
        }
    }
    "/".into()
}
