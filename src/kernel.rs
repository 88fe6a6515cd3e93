//! The kernel-call seam: the calls of the create and exec paths whose order and arguments
//! security depends on (mounts, the root switch, /proc writes, the identity and capability
//! switch, seccomp), behind one trait.
//!
//! `Host` makes the calls. Code that must keep an order takes `k: &impl Kernel`, so it is
//! compiled for `Host` alone (static dispatch, no allocation: a container start pays nothing
//! for the seam). `Recorder` (unit tests) writes the calls down instead of making them, so the
//! order rules (sysctl → readonly → masked → readonly root; seccomp before the capability
//! drop unless noNewPrivileges; pivot_root or MS_MOVE + chroot) are pinned without root.
//!
//! Errors are the callee's own (`nix::Error`, `io::Error`, or the syscall named): the caller
//! adds what it was doing and the config field, as before the seam.

use anyhow::Result;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::ffi::CStr;
use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::inroot::InRoot;

pub trait Kernel {
    fn mount(&self, source: Option<&Path>, target: &Path, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> nix::Result<()>;
    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()>;
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()>;
    fn chroot(&self, path: &Path) -> nix::Result<()>;
    fn chdir(&self, path: &Path) -> std::io::Result<()>;
    fn fchdir(&self, dir: BorrowedFd) -> nix::Result<()>;
    fn setns(&self, ns: BorrowedFd, nstype: CloneFlags) -> nix::Result<()>;
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()>;
    /// mount_setattr(2) on the mount `dir` is on (with `recursive`, on every mount below too).
    fn mount_setattr(&self, dir: BorrowedFd, recursive: bool, set: u64, clr: u64) -> std::io::Result<()>;
    fn mknodat(&self, dir: BorrowedFd, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> std::io::Result<()>;
    fn fchownat(&self, dir: BorrowedFd, name: &CStr, uid: u32, gid: u32) -> std::io::Result<()>;
    /// A plain write of a host file (a new user namespace's uid_map, gid_map, setgroups).
    fn write_file(&self, path: &Path, text: &str) -> std::io::Result<()>;
    /// Writes a /proc file through a handle verified to be on the /proc mount of `root`
    /// (crate::procfs): sysctls, LSM labels.
    fn write_proc(&self, root: &InRoot, path: &Path, value: &str) -> Result<()>;
    fn prctl(&self, option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> std::io::Result<()>;
    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> Result<()>;
    fn setgroups(&self, gids: &[u32]) -> nix::Result<()>;
    fn setresgid(&self, gid: u32) -> nix::Result<()>;
    fn setresuid(&self, uid: u32) -> nix::Result<()>;
    /// seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): the syscall's return value (a notify fd
    /// with SECCOMP_FILTER_FLAG_NEW_LISTENER).
    fn seccomp_filter(&self, flags: u32, prog: &libc::sock_fprog) -> std::io::Result<libc::c_long>;
}

/// The running kernel.
pub struct Host;

fn io_result(r: libc::c_long) -> std::io::Result<libc::c_long> {
    if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(r) }
}

impl Kernel for Host {
    fn mount(&self, source: Option<&Path>, target: &Path, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }
    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        nix::mount::umount2(target, flags)
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        crate::sys::pivot_root(new_root, put_old)
    }
    fn chroot(&self, path: &Path) -> nix::Result<()> {
        nix::unistd::chroot(path)
    }
    fn chdir(&self, path: &Path) -> std::io::Result<()> {
        std::env::set_current_dir(path)
    }
    fn fchdir(&self, dir: BorrowedFd) -> nix::Result<()> {
        nix::unistd::fchdir(dir)
    }
    fn setns(&self, ns: BorrowedFd, nstype: CloneFlags) -> nix::Result<()> {
        nix::sched::setns(ns, nstype)
    }
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        nix::sched::unshare(flags)
    }
    fn write_file(&self, path: &Path, text: &str) -> std::io::Result<()> {
        std::fs::write(path, text)
    }
    fn mount_setattr(&self, dir: BorrowedFd, recursive: bool, set: u64, clr: u64) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        crate::sys::mount_setattr(dir.as_raw_fd(), recursive, set, clr, None)
    }
    fn mknodat(&self, dir: BorrowedFd, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        io_result(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, dev) } as libc::c_long).map(drop)
    }
    fn fchownat(&self, dir: BorrowedFd, name: &CStr, uid: u32, gid: u32) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        io_result(unsafe { libc::fchownat(dir.as_raw_fd(), name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) } as libc::c_long).map(drop)
    }
    fn write_proc(&self, root: &InRoot, path: &Path, value: &str) -> Result<()> {
        crate::procfs::write_verified(root, path, value)
    }
    fn prctl(&self, option: libc::c_int, arg2: libc::c_ulong, arg3: libc::c_ulong) -> std::io::Result<()> {
        io_result(unsafe { libc::prctl(option, arg2, arg3, 0 as libc::c_ulong, 0 as libc::c_ulong) } as libc::c_long).map(drop)
    }
    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
        crate::sys::capset(effective, permitted, inheritable)
    }
    // Raw syscalls, not libc's: musl applies set*id to every thread (__synccall: four more
    // signal-mask syscalls each), and the processes that call these are single-threaded.
    fn setgroups(&self, gids: &[u32]) -> nix::Result<()> {
        // SAFETY: the kernel reads gids.len() gids from the slice.
        nix::errno::Errno::result(unsafe { libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr()) }).map(drop)
    }
    fn setresgid(&self, gid: u32) -> nix::Result<()> {
        nix::errno::Errno::result(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
    }
    fn setresuid(&self, uid: u32) -> nix::Result<()> {
        nix::errno::Errno::result(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
    }
    fn seccomp_filter(&self, flags: u32, prog: &libc::sock_fprog) -> std::io::Result<libc::c_long> {
        // SAFETY: `prog` points at a program that outlives the call; the kernel copies it.
        io_result(unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong, flags as libc::c_ulong, prog as *const libc::sock_fprog) })
    }
}

/// One call as the `Recorder` saw it. Paths of `/proc/self/fd/N` handles are written as the
/// path the handle leads to, so a test reads `/proc/sys`, not a descriptor number.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount { source: Option<String>, target: String, fstype: Option<String>, flags: MsFlags },
    Umount { target: String, flags: MntFlags },
    PivotRoot { new_root: String, put_old: String },
    Chroot(String),
    Chdir(String),
    /// The namespace as /proc/self/fd/N shows it ("user:[4026531837]").
    Setns { ns: String, nstype: CloneFlags },
    Unshare(CloneFlags),
    WriteFile { path: String, text: String },
    Setattr { path: String, recursive: bool, set: u64, clr: u64 },
    Mknod { path: String, mode: libc::mode_t, dev: libc::dev_t },
    Chown { path: String, uid: u32, gid: u32 },
    WriteProc { path: String, value: String },
    Prctl { option: libc::c_int, arg2: libc::c_ulong },
    Capset { effective: u64, permitted: u64, inheritable: u64 },
    Setgroups(Vec<u32>),
    Setresgid(u32),
    Setresuid(u32),
    Seccomp { flags: u32 },
}

/// A fake kernel for unit tests: every call succeeds and is recorded, nothing is changed.
#[cfg(test)]
#[derive(Default)]
pub struct Recorder {
    pub calls: std::cell::RefCell<Vec<Call>>,
}

#[cfg(test)]
impl Recorder {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    fn push(&self, c: Call) {
        self.calls.borrow_mut().push(c);
    }

    /// Index of the first call `pick` accepts; panics with the whole record when none does.
    pub fn position(&self, what: &str, pick: impl Fn(&Call) -> bool) -> usize {
        let calls = self.calls();
        calls.iter().position(pick).unwrap_or_else(|| panic!("no {what} among the recorded calls: {calls:#?}"))
    }
}

#[cfg(test)]
fn shown(p: &Path) -> String {
    let s = p.to_string_lossy();
    let Some(rest) = s.strip_prefix("/proc/self/fd/") else { return s.into_owned() };
    // `/proc/self/fd/N/name`: a name in the directory behind N.
    let (fd, tail) = rest.split_once('/').map_or((rest, None), |(fd, t)| (fd, Some(t)));
    match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(t) => match tail {
            Some(tail) => format!("{}/{tail}", t.to_string_lossy()),
            None => t.to_string_lossy().into_owned(),
        },
        Err(_) => s.into_owned(),
    }
}

/// `name` in the directory `dir` is, as a path.
#[cfg(test)]
fn shown_at(dir: BorrowedFd, name: &CStr) -> String {
    use std::os::fd::AsRawFd;
    format!("{}/{}", shown(Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd()))), name.to_string_lossy())
}

#[cfg(test)]
impl Kernel for Recorder {
    fn mount(&self, source: Option<&Path>, target: &Path, fstype: Option<&str>, flags: MsFlags, _data: Option<&str>) -> nix::Result<()> {
        self.push(Call::Mount { source: source.map(shown), target: shown(target), fstype: fstype.map(str::to_string), flags });
        Ok(())
    }
    fn umount2(&self, target: &Path, flags: MntFlags) -> nix::Result<()> {
        self.push(Call::Umount { target: shown(target), flags });
        Ok(())
    }
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> Result<()> {
        self.push(Call::PivotRoot { new_root: shown(new_root), put_old: shown(put_old) });
        Ok(())
    }
    fn chroot(&self, path: &Path) -> nix::Result<()> {
        self.push(Call::Chroot(shown(path)));
        Ok(())
    }
    fn chdir(&self, path: &Path) -> std::io::Result<()> {
        self.push(Call::Chdir(shown(path)));
        Ok(())
    }
    fn fchdir(&self, dir: BorrowedFd) -> nix::Result<()> {
        use std::os::fd::AsRawFd;
        self.push(Call::Chdir(shown(Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())))));
        Ok(())
    }
    fn setns(&self, ns: BorrowedFd, nstype: CloneFlags) -> nix::Result<()> {
        use std::os::fd::AsRawFd;
        self.push(Call::Setns { ns: shown(Path::new(&format!("/proc/self/fd/{}", ns.as_raw_fd()))), nstype });
        Ok(())
    }
    fn unshare(&self, flags: CloneFlags) -> nix::Result<()> {
        self.push(Call::Unshare(flags));
        Ok(())
    }
    fn write_file(&self, path: &Path, text: &str) -> std::io::Result<()> {
        self.push(Call::WriteFile { path: shown(path), text: text.to_string() });
        Ok(())
    }
    fn mount_setattr(&self, dir: BorrowedFd, recursive: bool, set: u64, clr: u64) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        self.push(Call::Setattr { path: shown(Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd()))), recursive, set, clr });
        Ok(())
    }
    fn mknodat(&self, dir: BorrowedFd, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> std::io::Result<()> {
        self.push(Call::Mknod { path: shown_at(dir, name), mode, dev });
        Ok(())
    }
    fn fchownat(&self, dir: BorrowedFd, name: &CStr, uid: u32, gid: u32) -> std::io::Result<()> {
        self.push(Call::Chown { path: shown_at(dir, name), uid, gid });
        Ok(())
    }
    fn write_proc(&self, _root: &InRoot, path: &Path, value: &str) -> Result<()> {
        self.push(Call::WriteProc { path: shown(path), value: value.to_string() });
        Ok(())
    }
    fn prctl(&self, option: libc::c_int, arg2: libc::c_ulong, _arg3: libc::c_ulong) -> std::io::Result<()> {
        self.push(Call::Prctl { option, arg2 });
        Ok(())
    }
    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
        self.push(Call::Capset { effective, permitted, inheritable });
        Ok(())
    }
    fn setgroups(&self, gids: &[u32]) -> nix::Result<()> {
        self.push(Call::Setgroups(gids.to_vec()));
        Ok(())
    }
    fn setresgid(&self, gid: u32) -> nix::Result<()> {
        self.push(Call::Setresgid(gid));
        Ok(())
    }
    fn setresuid(&self, uid: u32) -> nix::Result<()> {
        self.push(Call::Setresuid(uid));
        Ok(())
    }
    fn seccomp_filter(&self, flags: u32, _prog: &libc::sock_fprog) -> std::io::Result<libc::c_long> {
        self.push(Call::Seccomp { flags });
        // A notify fd is the caller's to own and close: hand it one of its own.
        const NEW_LISTENER: u32 = 1 << 3;
        if flags & NEW_LISTENER != 0 {
            use std::os::fd::IntoRawFd;
            return Ok(std::fs::File::open("/dev/null")?.into_raw_fd() as libc::c_long);
        }
        Ok(0)
    }
}
