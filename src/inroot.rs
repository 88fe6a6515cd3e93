//! Resolving container paths inside the rootfs without ever leaving it.
//!
//! Every destination goes through openat2(RESOLVE_IN_ROOT), so a symlink planted in the image
//! (`/proc -> /`, `/dst -> /etc` on the host...) resolves as if the rootfs were `/`. Missing
//! components are created one at a time relative to the fd of their verified parent. Callers
//! then mount onto `/proc/self/fd/N` of the O_PATH handle, so a symlink swapped in after the
//! check cannot redirect the mount either (CVE-2019-19921, CVE-2021-30465).

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// What to create when the last component of a destination is missing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dir,
    File,
}

/// An open handle on a root directory (the rootfs before pivot_root, or `/` after it).
pub struct InRoot {
    fd: OwnedFd,
    path: PathBuf,
}

/// The magic-link path through which the kernel reaches exactly the inode behind `fd`.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn relative(p: &Path) -> PathBuf {
    p.components().filter(|c| matches!(c, Component::Normal(_))).collect()
}

impl InRoot {
    pub fn open(path: &Path) -> Result<InRoot> {
        let fd = crate::sys::openat2(libc::AT_FDCWD, path, libc::O_PATH | libc::O_DIRECTORY, 0, 0)
            .with_context(|| format!("opening root {}", path.display()))?;
        Ok(InRoot { fd, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Host-side spelling of a container path, for messages only.
    pub fn display(&self, p: &Path) -> String {
        self.path.join(relative(p)).display().to_string()
    }

    /// Resolves `p` inside the root as an O_PATH handle. With `no_symlinks`, any symlink on
    /// the way is an error (for /proc and /sys targets, as runc requires).
    pub fn resolve(&self, p: &Path, no_symlinks: bool) -> std::io::Result<OwnedFd> {
        let rel = relative(p);
        let rel = if rel.as_os_str().is_empty() { PathBuf::from(".") } else { rel };
        let mut resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
        if no_symlinks {
            resolve |= RESOLVE_NO_SYMLINKS;
        }
        crate::sys::openat2(self.fd.as_raw_fd(), &rel, libc::O_PATH, 0, resolve)
    }

    /// Opens `p` inside the root for reading or writing (`flags` as open(2)).
    pub fn open_file(&self, p: &Path, flags: i32) -> Result<OwnedFd> {
        crate::sys::openat2(self.fd.as_raw_fd(), &relative(p), flags | libc::O_NOFOLLOW, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
            .with_context(|| format!("opening {}", self.display(p)))
    }

    /// Resolves `p`, creating missing directories on the way and the last component as
    /// `kind`. Each creation happens relative to the already-resolved parent.
    pub fn resolve_create(&self, p: &Path, kind: Kind, no_symlinks: bool) -> Result<OwnedFd> {
        self.resolve_create_at_depth(p, kind, no_symlinks, 0)
    }

    /// `depth`: dangling symlinks followed so far (a loop of them ends as ELOOP would).
    fn resolve_create_at_depth(&self, p: &Path, kind: Kind, no_symlinks: bool, depth: u32) -> Result<OwnedFd> {
        // Most destinations exist already: one lookup instead of one per component.
        if let Ok(fd) = self.resolve(p, no_symlinks) {
            return Ok(fd);
        }
        let rel = relative(p);
        // Most missing destinations miss only their last component (a mountpoint in a fresh
        // tmpfs, a device node): create it in the resolved parent, then look it up again. Any
        // other outcome (a dangling symlink there, a missing parent) takes the walk below.
        if let (Some(dir), Some(name)) = (rel.parent(), rel.file_name())
            && let Ok(parent) = self.resolve(dir, no_symlinks)
            && create_at(&parent, name, kind).is_ok()
            && let Ok(fd) = self.resolve(p, no_symlinks)
        {
            return Ok(fd);
        }
        let comps: Vec<_> = rel.components().collect();
        let mut parent = self.resolve(Path::new("/"), false).with_context(|| format!("opening {}", self.path.display()))?;
        let mut prefix = PathBuf::new();
        for (i, comp) in comps.iter().enumerate() {
            prefix.push(comp);
            let last = i + 1 == comps.len();
            let mut created = false;
            loop {
                match self.resolve(&prefix, no_symlinks) {
                    Ok(fd) => {
                        parent = fd;
                        break;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) && !created => {
                        create_at(&parent, comp.as_os_str(), if last { kind } else { Kind::Dir })
                            .with_context(|| format!("creating {}", self.display(&prefix)))?;
                        created = true;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                        // A dangling symlink: as runc, what it points to is created, inside
                        // the root (its target is resolved in-root like any destination).
                        if depth >= 40 {
                            bail!("{} is a dangling symlink (too many levels)", self.display(&prefix));
                        }
                        let target = nix::fcntl::readlinkat(&parent, comp.as_os_str())
                            .with_context(|| format!("{} is a dangling symlink", self.display(&prefix)))?;
                        let base = if Path::new(&target).is_absolute() { PathBuf::from("/") } else { Path::new("/").join(prefix.parent().unwrap_or(Path::new(""))) };
                        let mut next = clean_in_root(&base.join(target));
                        next.extend(&comps[i + 1..]);
                        return self.resolve_create_at_depth(&next, kind, no_symlinks, depth + 1);
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ELOOP) && no_symlinks => {
                        bail!("{} is a symlink, which is not allowed here", self.display(&prefix))
                    }
                    Err(e) => return Err(e).with_context(|| format!("resolving {} inside the rootfs", self.display(&prefix))),
                }
            }
        }
        Ok(parent)
    }
}

/// `p` with `.` and `..` applied lexically, never above `/` (the root's own `..` is itself).
fn clean_in_root(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

fn create_at(parent: &OwnedFd, name: &std::ffi::OsStr, kind: Kind) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(name.as_bytes()).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let ret = match kind {
        Kind::Dir => unsafe { libc::mkdirat(parent.as_raw_fd(), c.as_ptr(), 0o755) },
        Kind::File => unsafe { libc::mknodat(parent.as_raw_fd(), c.as_ptr(), libc::S_IFREG | 0o644, 0) },
    };
    if ret != 0 {
        let e = std::io::Error::last_os_error();
        // Someone else (or a symlink with that name) got there first; the retry decides.
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("up")).unwrap();
        let r = InRoot::open(&root).unwrap();
        // Creating through "escape/x" must land in root/x, never in the host's /x.
        r.resolve_create(Path::new("/escape/bulkhead-test-dir"), Kind::Dir, false).unwrap();
        assert!(root.join("bulkhead-test-dir").is_dir());
        assert!(!Path::new("/bulkhead-test-dir").exists());
        r.resolve_create(Path::new("/up/f"), Kind::File, false).unwrap();
        assert!(root.join("etc/f").is_file());
        // With no_symlinks the same path is refused.
        assert!(r.resolve_create(Path::new("/escape/y"), Kind::Dir, true).is_err());
    }

    #[test]
    fn dangling_symlink_target_is_created_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/nowhere/deeper", t.path().join("d")).unwrap();
        std::fs::create_dir(t.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("../../../rel-target", t.path().join("sub/r")).unwrap();
        let r = InRoot::open(t.path()).unwrap();
        r.resolve_create(Path::new("/d/x"), Kind::File, false).unwrap();
        assert!(t.path().join("nowhere/deeper/x").is_file());
        // The last component alone missing (made in its parent), or a symlink refused.
        r.resolve_create(Path::new("/sub/new"), Kind::File, false).unwrap();
        assert!(t.path().join("sub/new").is_file());
        assert!(r.resolve_create(Path::new("/sub/r"), Kind::Dir, true).is_err());
        assert!(!t.path().join("rel-target").exists());
        r.resolve_create(Path::new("/sub/r"), Kind::Dir, false).unwrap();
        assert!(t.path().join("rel-target").is_dir());
        assert!(!Path::new("/nowhere").exists() && !Path::new("/rel-target").exists());
        // A loop of dangling links ends with an error.
        std::os::unix::fs::symlink("/loop-b", t.path().join("loop-a")).unwrap();
        std::os::unix::fs::symlink("/loop-a", t.path().join("loop-b")).unwrap();
        assert!(r.resolve_create(Path::new("/loop-a"), Kind::Dir, false).is_err());
    }
}
