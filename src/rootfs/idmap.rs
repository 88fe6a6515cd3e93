//! Idmapped mounts: `mounts[].uidMappings` / `gidMappings` on bind mounts (Linux 5.12+).
//!
//! The runtime makes them for the init when it reaches the entry (rootfs::sources: a
//! container's own userns lacks CAP_SYS_ADMIN over the source filesystem, which
//! mount_setattr needs), as runc's mount source requests:
//!
//! 1. a throw-away child in a new user namespace gets the mount's mappings (as runc, the
//!    map line is `containerID hostID size`: files owned by containerID on disk appear as
//!    hostID); we keep an fd on its /proc/<pid>/ns/user and kill it. The `idmap`/`ridmap`
//!    options without mappings use the container's own mappings (or the userns it joins);
//! 2. in the init's mount namespace, with the earlier entries mounted (a source inside the
//!    rootfs sees them), open_tree(source, OPEN_TREE_CLONE [| AT_RECURSIVE for rbind]) makes
//!    a detached copy of the source; mount_setattr(MOUNT_ATTR_IDMAP, userns_fd
//!    [, AT_RECURSIVE for ridmap]) idmaps it (as runc: `idmap` maps only the top mount of an
//!    rbind);
//! 3. the init attaches it with move_mount onto the destination resolved inside the rootfs,
//!    then applies the remount flags.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const OPEN_TREE_CLONE: u32 = 1;
const AT_RECURSIVE: u32 = 0x8000;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// Whether the entry asks for an idmapped mount: mappings of its own, or the `idmap` /
/// `ridmap` option (which without mappings takes the container's, as runc).
pub fn wants_idmap(m: &Mount) -> bool {
    m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty())
        || m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty())
        || m.options().iter().flatten().any(|o| o == "idmap" || o == "ridmap")
}

/// The user namespace that carries an entry's mapping: its own mappings; else (idmap/ridmap
/// without mappings) the container's user namespace: the one it joins, or one made with
/// linux.uidMappings/gidMappings.
pub fn userns_for(m: &Mount, spec: &Spec) -> Result<OwnedFd> {
    let own = |v: &Option<Vec<LinuxIdMapping>>| v.clone().filter(|v| !v.is_empty());
    match (own(m.uid_mappings()), own(m.gid_mappings())) {
        (Some(u), Some(g)) => return userns_with(&u, &g),
        (None, None) => {}
        _ => bail!("uidMappings and gidMappings must both be given"),
    }
    let linux = spec.linux().as_ref();
    let userns = linux.and_then(|l| l.namespaces().as_ref()).into_iter().flatten().find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User);
    let Some(userns) = userns else { bail!("idmap/ridmap without uidMappings/gidMappings needs a user namespace in linux.namespaces") };
    if let Some(path) = userns.path() {
        return Ok(OwnedFd::from(std::fs::File::open(path).with_context(|| format!("opening the container's user namespace {}", path.display()))?));
    }
    match (linux.and_then(|l| own(l.uid_mappings())), linux.and_then(|l| own(l.gid_mappings()))) {
        (Some(u), Some(g)) => userns_with(&u, &g),
        _ => bail!("idmap/ridmap without mappings: the container has no linux.uidMappings/gidMappings"),
    }
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

/// A user namespace with these mappings, as an fd.
fn userns_with(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe().context("pipe")?;
    // SAFETY: the runtime is single-threaded here; the child only blocks on a read.
    let pid = unsafe { crate::sys::clone_fork(libc::CLONE_NEWUSER as u64)? };
    if pid == 0 {
        drop(w);
        let mut b = [0u8; 1];
        unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        unsafe { libc::_exit(0) };
    }
    drop(r);
    let result = (|| -> Result<OwnedFd> {
        std::fs::write(format!("/proc/{pid}/uid_map"), map_text(uids)).context("writing the idmap uid_map")?;
        std::fs::write(format!("/proc/{pid}/gid_map"), map_text(gids)).context("writing the idmap gid_map")?;
        Ok(OwnedFd::from(std::fs::File::open(format!("/proc/{pid}/ns/user")).context("opening the idmap user namespace")?))
    })();
    drop(w); // the child's read returns; it exits
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    result
}

/// Detached, idmapped copy of `src`: the copy takes the submounts with `rbind`
/// (`recursive_tree`), the mapping reaches them only with `ridmap` (`recursive_attr`), as runc.
fn idmapped_tree(src: &Path, recursive_tree: bool, recursive_attr: bool, userns: &OwnedFd) -> Result<OwnedFd> {
    let c = CString::new(std::os::unix::ffi::OsStrExt::as_bytes(src.as_os_str()))?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    if recursive_tree {
        flags |= AT_RECURSIVE;
    }
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        // The kernel locks the mounts a user namespace's mount namespace was copied with.
        let why = if e.raw_os_error() == Some(libc::EINVAL) && !recursive_tree { " (a mount below it may be locked in the container's user namespace: rbind copies it along)" } else { "" };
        return Err(e).with_context(|| format!("open_tree({}){why}", src.display()));
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    if let Err(e) = crate::sys::mount_setattr(fd.as_raw_fd(), recursive_attr, MOUNT_ATTR_IDMAP, 0, Some(userns.as_raw_fd())) {
        let why = match e.raw_os_error() {
            Some(libc::EINVAL) => " (the filesystem may not support idmapped mounts)",
            Some(libc::ENOSYS) => " (kernel older than 5.12)",
            _ => "",
        };
        return Err(e).with_context(|| format!("mount_setattr(MOUNT_ATTR_IDMAP) on {}{why}", src.display()));
    }
    Ok(fd)
}

/// The detached, idmapped copy of entry `m`'s source `src`, made in the caller's current
/// mount namespace (rootfs::sources enters the init's first).
pub fn tree(m: &Mount, src: &Path, userns: &OwnedFd) -> Result<OwnedFd> {
    let opts = super::options::parse(m.options().as_deref().unwrap_or(&[]));
    let ridmap = opts.idmap == Some(super::options::IdmapKind::Recursive);
    idmapped_tree(src, opts.flags.contains(nix::mount::MsFlags::MS_REC), ridmap, userns)
}

/// runc's checkIDMapMounts, before any namespace is entered.
pub fn check(m: &Mount) -> Result<()> {
    let opts = super::options::parse(m.options().as_deref().unwrap_or(&[]));
    if !(opts.is_bind() || m.typ().as_deref() == Some("bind")) {
        bail!("uidMappings/gidMappings are only supported on bind mounts");
    }
    if crate::security::rootless::is_rootless_euid() {
        bail!("id-mapped mounts are not supported for rootless containers");
    }
    Ok(())
}

/// In the init: attach the prepared mount `fd` at `target` (an O_PATH handle in the rootfs).
/// move_mount takes the handle itself (MOVE_MOUNT_T_EMPTY_PATH): through the
/// /proc/self/fd/N magic link the kernel refuses it with EINVAL.
pub fn attach(fd: &OwnedFd, target: &OwnedFd) -> Result<()> {
    let r = unsafe {
        libc::syscall(libc::SYS_move_mount, fd.as_raw_fd(), c"".as_ptr(), target.as_raw_fd(), c"".as_ptr(), MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context("move_mount of the idmapped mount");
    }
    Ok(())
}
