//! The bundle's rootfs: overlayfs over the store's layers.

use super::layer;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// overlayfs on `target`: every directory as a short path relative to the store (from a
/// chdir there), so about 260 layers fit in the mount data page; more go through fsconfig
/// `lowerdir+` (overlayfs stacks at most 500).
pub fn mount_overlay(store: &Path, name: &str, layers: &[String], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let mut lower = vec![format!("bundles/{name}/init")];
    lower.extend(layers.iter().rev().map(|h| format!("l/{}", layer::short_id(h))));
    // upper and work relative too: the store's path may hold ',' or ':'.
    let rel = |p: &Path| p.strip_prefix(store).map(Path::to_path_buf).unwrap_or_else(|_| p.to_path_buf());
    let data = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), rel(upper).display(), rel(work).display());
    let cwd = std::env::current_dir().ok();
    std::env::set_current_dir(store)?;
    let r = if data.len() < 4000 {
        nix::mount::mount(Some("overlay"), target, Some("overlay"), nix::mount::MsFlags::empty(), Some(data.as_str()))
            .map_err(anyhow::Error::from)
    } else {
        // Past one page: the new mount API, one `lowerdir+` at a time (Linux 6.8+).
        let mut opts = vec![("upperdir", rel(upper)), ("workdir", rel(work))];
        opts.extend(lower.iter().map(|l| ("lowerdir+", PathBuf::from(l))));
        fsmount_overlay(&opts, target)
    };
    if let Some(c) = cwd {
        let _ = std::env::set_current_dir(c);
    }
    r.with_context(|| format!("mounting overlay on {} ({} layers)", target.display(), layers.len()))
}

fn fsmount_overlay(opts: &[(&str, PathBuf)], target: &Path) -> Result<()> {
    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    let sys = |r: libc::c_long, what: &str| -> Result<OwnedFd> {
        if r < 0 {
            Err(std::io::Error::last_os_error()).with_context(|| what.to_string())
        } else {
            Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
        }
    };
    let fs = CString::new("overlay")?;
    let fsfd = sys(unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), 1 /* FSOPEN_CLOEXEC */) }, "fsopen(overlay)")?;
    use std::os::fd::AsRawFd;
    for (k, v) in opts {
        let key = CString::new(*k)?;
        let val = CString::new(v.as_os_str().as_bytes())?;
        let r = unsafe {
            libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), 1 /* FSCONFIG_SET_STRING */, key.as_ptr(), val.as_ptr(), 0)
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("overlay option {k}={}", v.display()));
        }
    }
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), 6 /* FSCONFIG_CMD_CREATE */, 0usize, 0usize, 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context("creating the overlay");
    }
    let mfd = sys(unsafe { libc::syscall(libc::SYS_fsmount, fsfd.as_raw_fd(), 1 /* FSMOUNT_CLOEXEC */, 0) }, "fsmount")?;
    let empty = CString::new("")?;
    let t = CString::new(target.as_os_str().as_bytes())?;
    let r = unsafe {
        libc::syscall(libc::SYS_move_mount, mfd.as_raw_fd(), empty.as_ptr(), libc::AT_FDCWD, t.as_ptr(), 4 /* MOVE_MOUNT_F_EMPTY_PATH */)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("move_mount to {}", target.display()));
    }
    Ok(())
}

pub fn unmount_all(p: &Path) -> Result<()> {
    loop {
        match nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("unmounting {}", p.display())),
        }
    }
}

