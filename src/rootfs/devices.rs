//! Device nodes in the container's /dev: the defaults every container gets, `linux.devices`,
//! and the standard symlinks.

use anyhow::{Context, Result};
use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::inroot::{fd_path, InRoot, Kind};
use crate::kernel::Kernel;

pub struct Device {
    pub path: PathBuf,
    pub kind: u32, // S_IFCHR, S_IFBLK, S_IFIFO
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices the runtime spec says every container has.
pub fn defaults() -> Vec<Device> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .into_iter()
        .map(|(n, major, minor)| Device { path: Path::new("/dev").join(n), kind: libc::S_IFCHR, major, minor, mode: 0o666, uid: 0, gid: 0 })
        .collect()
}

pub fn from_spec(d: &LinuxDevice) -> Device {
    let kind = match d.typ() {
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        _ => libc::S_IFCHR,
    };
    Device {
        path: d.path().clone(),
        kind,
        major: d.major() as u64,
        minor: d.minor() as u64,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    }
}

/// Creates every device of `devs` in the rootfs. The directory of each is resolved once for
/// the devices that follow it there (the defaults are all in /dev): nothing of the container
/// runs yet that could swap it.
pub fn create_all(k: &impl Kernel, root: &InRoot, devs: &[Device], in_userns: bool) -> Result<()> {
    let mut dir: Option<(&Path, OwnedFd)> = None;
    for dev in devs {
        let parent = dev.path.parent().unwrap_or(Path::new("/"));
        let fd = match dir.take() {
            Some((p, fd)) if p == parent => fd,
            _ => root.resolve_create(parent, Kind::Dir, false).with_context(|| format!("device {}", dev.path.display()))?,
        };
        create(k, root, &fd, dev, in_userns).with_context(|| format!("device {}", dev.path.display()))?;
        dir = Some((parent, fd));
    }
    Ok(())
}

/// Creates `dev` in `dir`, its directory in the rootfs. In a user namespace mknod is not
/// allowed, so the host's node is bind-mounted onto an empty file instead (as runc does).
fn create(k: &impl Kernel, root: &InRoot, dir: &OwnedFd, dev: &Device, in_userns: bool) -> Result<()> {
    let name = dev.path.file_name().context("device path has no file name")?;
    let cname = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(name))?;
    // A file already there (from the image) is replaced.
    unsafe { libc::unlinkat(dir.as_raw_fd(), cname.as_ptr(), 0) };
    if in_userns {
        let target = root.resolve_create(&dev.path, Kind::File, false)?;
        return k.mount(Some(&dev.path), &fd_path(&target), None, MsFlags::MS_BIND, None)
            .with_context(|| format!("bind-mounting host {} into the container", dev.path.display()));
    }
    let rdev = libc::makedev(dev.major as u32, dev.minor as u32);
    k.mknodat(dir.as_fd(), &cname, dev.kind | dev.mode, rdev).with_context(|| format!("mknod {}", root.display(&dev.path)))?;
    k.fchownat(dir.as_fd(), &cname, dev.uid, dev.gid).with_context(|| format!("chown {}", root.display(&dev.path)))
}

/// /dev/fd, /dev/std{in,out,err}, /dev/ptmx (to the container's devpts), /dev/core.
pub fn symlinks(root: &InRoot) -> Result<()> {
    let dev = root.resolve_create(Path::new("/dev"), Kind::Dir, false)?;
    let mut links = vec![("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")];
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    for (name, target) in links {
        let (n, t) = (std::ffi::CString::new(name)?, std::ffi::CString::new(target)?);
        if name == "ptmx" {
            unsafe { libc::unlinkat(dev.as_raw_fd(), n.as_ptr(), 0) };
        }
        if unsafe { libc::symlinkat(t.as_ptr(), dev.as_raw_fd(), n.as_ptr()) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e).with_context(|| format!("symlink /dev/{name} -> {target}"));
            }
        }
    }
    Ok(())
}
