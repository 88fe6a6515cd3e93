//! runc's `tmpcopyup` mount extension: a tmpfs mounted over a directory of the image starts
//! with a copy of that directory (podman asks for it on every tmpfs it makes).
//!
//! runc mounts the tmpfs on a host scratch dir, copies into it and moves it over the
//! destination. Here the destination is opened *before* the tmpfs covers it; that handle
//! keeps reading the covered directory, so the copy goes straight from it into the mounted
//! tmpfs: no host directory, no move. Everything is done relative to directory fds with
//! O_NOFOLLOW/AT_SYMLINK_NOFOLLOW, so a symlink in the image cannot lead the copy outside.

use anyhow::{Context, Result};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

fn open_dir_at(dir: &impl AsFd, name: &OsStr) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
}

/// A readable handle on the directory an O_PATH handle names (to keep reading it once a
/// mount covers it).
pub fn open_lower(target: &OwnedFd) -> Result<OwnedFd> {
    open_dir_at(target, OsStr::new(".")).context("tmpcopyup: opening the directory the tmpfs will cover")
}

/// Copies the contents of directory `from` into directory `to`: files, directories,
/// symlinks, device nodes, fifos and sockets, with mode, owner and times.
pub fn copy_tree(from: &OwnedFd, to: &OwnedFd) -> Result<()> {
    let entries: Vec<Vec<u8>> = {
        let mut d = nix::dir::Dir::from_fd(nix::unistd::dup(from).context("dup")?).context("tmpcopyup: reading a directory")?;
        d.iter().filter_map(|e| e.ok()).map(|e| e.file_name().to_bytes().to_vec()).filter(|n| n != b"." && n != b"..").collect()
    };
    for name in entries {
        let name = OsStr::from_bytes(&name);
        copy_entry(from, to, name).with_context(|| format!("tmpcopyup: copying {}", name.to_string_lossy()))?;
    }
    Ok(())
}

fn copy_entry(from: &OwnedFd, to: &OwnedFd, name: &OsStr) -> Result<()> {
    let st = nix::sys::stat::fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    match kind {
        SFlag::S_IFDIR => {
            nix::sys::stat::mkdirat(to, name, Mode::from_bits_truncate(0o700))?;
            let (sub_from, sub_to) = (open_dir_at(from, name)?, open_dir_at(to, name)?);
            copy_tree(&sub_from, &sub_to)?;
        }
        SFlag::S_IFREG => {
            let src = nix::fcntl::openat(from, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())?;
            let dst = nix::fcntl::openat(to, name, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::from_bits_truncate(0o600))?;
            std::io::copy(&mut std::fs::File::from(src), &mut std::fs::File::from(dst.try_clone()?))?;
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(from, name)?;
            nix::unistd::symlinkat(target.as_os_str(), to, name)?;
        }
        _ => nix::sys::stat::mknodat(to, name, kind, perm, st.st_rdev)?,
    }
    let flags = AtFlags::AT_SYMLINK_NOFOLLOW;
    nix::unistd::fchownat(to, name, Some(st.st_uid.into()), Some(st.st_gid.into()), flags)?;
    if kind != SFlag::S_IFLNK {
        // After chown, which clears set-id bits.
        nix::sys::stat::fchmodat(to, name, perm, nix::sys::stat::FchmodatFlags::FollowSymlink)?;
    }
    let times = [
        libc::timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec },
        libc::timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec },
    ];
    let c = std::ffi::CString::new(name.as_bytes())?;
    if unsafe { libc::utimensat(to.as_raw_fd(), c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(std::io::Error::last_os_error()).context("utimensat");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_dirs_symlinks_with_modes() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::create_dir(a.path().join("d")).unwrap();
        std::fs::write(a.path().join("d/f"), "hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", a.path().join("l")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(a.path().join("d/f"), std::fs::Permissions::from_mode(0o4751)).unwrap();
        let from = OwnedFd::from(std::fs::File::open(a.path()).unwrap());
        let to = OwnedFd::from(std::fs::File::open(b.path()).unwrap());
        copy_tree(&from, &to).unwrap();
        assert_eq!(std::fs::read_to_string(b.path().join("d/f")).unwrap(), "hello");
        assert_eq!(std::fs::metadata(b.path().join("d/f")).unwrap().permissions().mode() & 0o7777, 0o4751);
        assert_eq!(std::fs::read_link(b.path().join("l")).unwrap(), std::path::Path::new("/etc/passwd"));
        assert_eq!(std::fs::metadata(b.path().join("d")).unwrap().permissions().mode() & 0o777, std::fs::metadata(a.path().join("d")).unwrap().permissions().mode() & 0o777);
    }
}
