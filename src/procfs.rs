//! Writes to procfs that cannot be redirected (CVE-2025-52881).
//!
//! A path under /proc can be covered by another mount (a bind of a different proc file, a
//! tmpfs...). Checking the filesystem type of the opened file is not enough: a bind of another
//! *procfs* file (say /proc/sys/kernel/hostname over .../domainname) still says "procfs". So a
//! handle is accepted only when it is on procfs **and** on the very mount of `/proc` itself
//! (same mount id as the /proc directory): anything mounted over a file or a directory on the
//! way has a different mount id.

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::inroot::InRoot;

/// Mount id of the filesystem object behind `fd` (statx STATX_MNT_ID, Linux 5.8).
pub fn mnt_id(fd: &OwnedFd) -> std::io::Result<u64> {
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::statx(fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW, libc::STATX_MNT_ID, &mut st) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if st.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(std::io::Error::from_raw_os_error(libc::ENOSYS));
    }
    Ok(st.stx_mnt_id)
}

/// Opens `path` (which must be below /proc) inside `root` with `flags`, without following
/// symlinks or magic links, and checks that it is on the procfs mounted at `<root>/proc`.
pub fn open_verified(root: &InRoot, path: &Path, flags: i32) -> Result<OwnedFd> {
    let proc_dir = root.resolve(Path::new("/proc"), true).context("opening /proc")?;
    let fd = root.open_file(path, flags)?;
    for f in [&proc_dir, &fd] {
        let fs = nix::sys::statfs::fstatfs(f).context("fstatfs")?;
        if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            bail!("{} is not on procfs (something is mounted over it)", path.display());
        }
    }
    let (want, got) = (mnt_id(&proc_dir).context("statx /proc")?, mnt_id(&fd).context("statx")?);
    if want != got {
        bail!("{} is not on the /proc mount (mount id {got}, /proc is {want}): something is mounted over it; refusing to write", path.display());
    }
    Ok(fd)
}

/// Writes `value` to a verified /proc file in one write(2).
pub fn write_verified(root: &InRoot, path: &Path, value: &str) -> Result<()> {
    let fd = open_verified(root, path, libc::O_WRONLY)?;
    let n = unsafe { libc::write(fd.as_raw_fd(), value.as_ptr().cast(), value.len()) };
    if n < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// After pivot_root, mounts onto an O_PATH handle go through /proc/self/fd/N, which the
/// kernel resolves in the container's tree. Checks that this path really is our own fd
/// table on the container's procfs (not an image directory when no procfs is mounted, not
/// something mounted over /proc/<pid>/fd), by reaching a known fd both ways.
pub fn check_fd_paths(root: &InRoot) -> Result<()> {
    open_verified(root, Path::new("/proc/self/fd"), libc::O_PATH | libc::O_DIRECTORY).context("/proc/self/fd, needed to mount onto verified handles (linux.maskedPaths, linux.readonlyPaths, the console): mounts must have a proc mount on /proc")?;
    let probe = root.resolve(Path::new("/"), false).context("opening /")?;
    let a = nix::sys::stat::fstat(&probe).context("fstat /")?;
    let b = nix::sys::stat::stat(&crate::inroot::fd_path(&probe)).context("stat /proc/self/fd/N")?;
    if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) {
        bail!("/proc/self/fd/N does not lead to our own file descriptors; refusing to mount through it");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In a forked child with its own mount namespace: another procfs file bound over a
    /// sysctl passes an fstatfs check but not the mount-id one.
    #[test]
    fn bind_of_another_proc_file_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        match unsafe { libc::fork() } {
            0 => {
                let code = (|| -> Result<i32> {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_NEWUTS)?;
                    nix::mount::mount(None::<&str>, "/", None::<&str>, nix::mount::MsFlags::MS_PRIVATE | nix::mount::MsFlags::MS_REC, None::<&str>)?;
                    nix::mount::mount(Some("/proc/sys/kernel/hostname"), "/proc/sys/kernel/domainname", None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)?;
                    let root = InRoot::open(Path::new("/"))?;
                    let e = match write_verified(&root, Path::new("/proc/sys/kernel/domainname"), "pwned") {
                        Ok(()) => return Ok(1),
                        Err(e) => format!("{e:#}"),
                    };
                    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
                    Ok(if e.contains("mount id") && !host.contains("pwned") { 0 } else { 2 })
                })()
                .unwrap_or(3);
                unsafe { libc::_exit(code) }
            }
            p => {
                let mut st = 0;
                unsafe { libc::waitpid(p, &mut st, 0) };
                assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "child status {st}");
            }
        }
    }

    #[test]
    fn host_proc_files_verify_and_others_do_not() {
        let root = InRoot::open(Path::new("/")).unwrap();
        open_verified(&root, Path::new("/proc/self/status"), libc::O_RDONLY).unwrap();
        // /proc/sys is usually its own mount only inside containers; /etc never is procfs.
        let e = open_verified(&root, Path::new("/proc/../etc/hostname"), libc::O_RDONLY);
        assert!(e.is_err() || !Path::new("/etc/hostname").exists());
    }
}
