//! Thin, checked wrappers over the raw syscalls that neither std nor nix offers (or offers on
//! only one libc): openat2, pivot_root, clone-as-fork, pidfd, close_range, capset, keyctl.
//! Every error says which syscall failed; callers add the path or field.

use anyhow::{Context, Result};
use std::ffi::CString;
use std::io::Error;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("{} contains a NUL byte", p.display()))
}

fn check(ret: libc::c_long, what: &str) -> Result<libc::c_long> {
    if ret < 0 {
        Err(Error::last_os_error()).with_context(|| what.to_string())
    } else {
        Ok(ret)
    }
}

/// A small file of /proc or cgroupfs as text in two read(2)s (the second sees EOF): they report
/// size 0, so std's read_to_string probes with 32 bytes and doubles from there (six reads for
/// /proc/PID/stat, eight for a mountinfo), after an fstat and an lseek.
pub fn read_pseudo(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let (mut text, mut chunk) = (Vec::new(), [0u8; 4096]);
    loop {
        match f.read(&mut chunk)? {
            0 => break,
            n => text.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8(text).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// openat2(2) with `resolve` flags (RESOLVE_IN_ROOT etc.). Returns the raw io::Error so
/// callers can tell ENOENT from the rest.
pub fn openat2(dirfd: RawFd, path: &Path, flags: i32, mode: u32, resolve: u64) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::from_raw_os_error(libc::EINVAL))?;
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & libc::O_CREAT != 0 { mode as u64 } else { 0 };
    how.resolve = resolve;
    loop {
        let fd = unsafe {
            libc::syscall(libc::SYS_openat2, dirfd, c.as_ptr(), &how as *const libc::open_how, std::mem::size_of::<libc::open_how>())
        };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        }
        let e = Error::last_os_error();
        // EAGAIN: a rename raced the lookup under RESOLVE_IN_ROOT; the kernel asks us to retry.
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
}

pub fn pivot_root(new_root: &Path, put_old: &Path) -> Result<()> {
    let (a, b) = (cstr(new_root)?, cstr(put_old)?);
    check(unsafe { libc::syscall(libc::SYS_pivot_root, a.as_ptr(), b.as_ptr()) }, "pivot_root")?;
    Ok(())
}

/// clone(2) used like fork(2) but able to create namespaces in the same call: the child runs
/// on a copy of our stack and returns 0. `flags` are CLONE_NEW* bits.
///
/// # Safety
/// As fork: the caller must be single-threaded.
pub unsafe fn clone_fork(flags: u64) -> Result<i32> {
    let ret = unsafe {
        libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD as u64) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize)
    };
    Ok(check(ret, "clone")? as i32)
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

impl CloneArgs {
    fn new(flags: u64, cgroup: Option<RawFd>) -> CloneArgs {
        let mut args = CloneArgs { flags, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
        if let Some(fd) = cgroup {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = fd as u64;
        }
        args
    }
}

/// clone3(2) used like fork, with CLONE_* `flags` (namespaces allowed) and, given a cgroup2
/// directory fd, CLONE_INTO_CGROUP: the child is born in that cgroup, which spares the RCU
/// grace period a later cgroup.procs write of another process costs.
///
/// # Safety
/// As fork: the caller must be single-threaded.
pub unsafe fn clone3_fork(flags: u64, cgroup: Option<RawFd>) -> std::io::Result<i32> {
    let mut args = CloneArgs::new(flags, cgroup);
    let r = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>()) };
    if r < 0 {
        return Err(Error::last_os_error());
    }
    Ok(r as i32)
}

/// clone3(2) with CLONE_VM | CLONE_VFORK (and CLONE_INTO_CGROUP given a cgroup2 directory
/// fd), as posix_spawn does: `child` runs in a new process that shares our memory, on our
/// stack below our frame, and we are suspended until it execs or exits. No page tables are
/// copied and neither side takes copy-on-write faults. Returns the child's pid.
///
/// # Safety
/// The caller must be single-threaded. `child` must end in execve or _exit and must never
/// wait for this process. What it writes to memory, and per-mm state such as
/// PR_SET_DUMPABLE, this process sees once it goes on.
#[cfg(target_arch = "x86_64")]
pub unsafe fn clone3_vfork<F: FnOnce()>(cgroup: Option<RawFd>, child: F) -> std::io::Result<i32> {
    use std::mem::ManuallyDrop;
    extern "C" fn entry<F: FnOnce()>(f: *mut ManuallyDrop<F>) -> ! {
        // SAFETY: the parent neither uses nor drops its closure once the child has it.
        let f = unsafe { ManuallyDrop::take(&mut *f) };
        f();
        unsafe { libc::_exit(127) }
    }
    let mut f = ManuallyDrop::new(child);
    let mut args = CloneArgs::new((libc::CLONE_VM | libc::CLONE_VFORK) as u64, cgroup);
    let ret: isize;
    // The kernel gives the child our registers and stack pointer (stack 0). It moves below
    // the red zone, aligns, and enters `entry`, which never returns: nothing at or above the
    // parent's stack pointer is written, so the parent's frames are intact when it resumes.
    // Its return address is 0, where unwinders stop (a backtrace, RUST_BACKTRACE=1 with an
    // anyhow error, would otherwise walk into this frame's unwind rules with the child's
    // stack pointer and read garbage). Not `nostack`: the compiler keeps nothing live below
    // the stack pointer across this.
    unsafe {
        std::arch::asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "sub rsp, 256",
            "and rsp, -16",
            "xor ebp, ebp",
            "mov rdi, r13",
            "push 0",
            "jmp r12",
            "2:",
            inlateout("rax") libc::SYS_clone3 as isize => ret,
            in("rdi") &mut args as *mut CloneArgs,
            in("rsi") std::mem::size_of::<CloneArgs>(),
            in("r12") entry::<F> as extern "C" fn(*mut ManuallyDrop<F>) -> !,
            in("r13") &mut f as *mut ManuallyDrop<F>,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    if ret < 0 {
        drop(ManuallyDrop::into_inner(f));
        return Err(Error::from_raw_os_error(-ret as i32));
    }
    Ok(ret as i32)
}

/// Elsewhere the callers fork.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn clone3_vfork<F: FnOnce()>(_cgroup: Option<RawFd>, _child: F) -> std::io::Result<i32> {
    Err(Error::from_raw_os_error(libc::ENOSYS))
}

/// Moves the calling thread into the v1 cgroup whose `tasks` file `fd` is. For a single
/// thread moving itself the kernel skips the global threadgroup lock (and its RCU wait).
pub fn join_v1_tasks(fd: RawFd) -> Result<()> {
    if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
        let e = Error::last_os_error();
        let path = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
        return Err(e).with_context(|| format!("joining the container's cgroup: writing 0 to {}", path.display()));
    }
    Ok(())
}

pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::last_os_error());
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// pidfd_send_signal(2): any signal number (realtime ones too) to exactly that process.
pub fn pidfd_send_signal(pidfd: RawFd, sig: i32) -> std::io::Result<()> {
    if unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd, sig, 0usize, 0u32) } != 0 {
        return Err(Error::last_os_error());
    }
    Ok(())
}

/// poll(2), retried when a signal interrupts it. Returns how many fds have events (0: timeout).
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> std::io::Result<usize> {
    loop {
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Marks every fd from `first` up close-on-exec (CVE-2024-21626: nothing of ours may reach
/// the container's process).
pub fn cloexec_from(first: u32) -> Result<()> {
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if ret == 0 {
        return Ok(());
    }
    // Pre-5.11 kernels: walk the fd table ourselves.
    for entry in std::fs::read_dir("/proc/self/fd").context("listing /proc/self/fd")?.flatten() {
        if let Ok(fd) = entry.file_name().to_string_lossy().parse::<i32>()
            && fd >= first as i32 {
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
    }
    Ok(())
}

/// capset(2) for all three sets at once (v3 header: 64 capability bits).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut hdr = Header { version: 0x2008_0522, pid: 0 };
    let data = [
        Data { effective: effective as u32, permitted: permitted as u32, inheritable: inheritable as u32 },
        Data { effective: (effective >> 32) as u32, permitted: (permitted >> 32) as u32, inheritable: (inheritable >> 32) as u32 },
    ];
    check(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut Header, data.as_ptr()) }, "capset")?;
    Ok(())
}

/// Joins a fresh anonymous session keyring, so containers do not share the host's keys.
pub fn join_session_keyring(name: &str) -> Result<()> {
    let c = CString::new(name)?;
    check(unsafe { libc::syscall(libc::SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, c.as_ptr()) }, "keyctl(JOIN_SESSION_KEYRING)")?;
    Ok(())
}

/// Closes every fd from `first` up except those in `keep` (one close_range per gap).
pub fn close_fds_except(first: i32, keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd >= first).collect();
    keep.sort_unstable();
    let mut lo = first;
    for k in keep.into_iter().chain(std::iter::once(i32::MAX)) {
        if k > lo {
            let hi = if k == i32::MAX { u32::MAX } else { (k - 1) as u32 };
            unsafe { libc::syscall(libc::SYS_close_range, lo as u32, hi, 0) };
        }
        lo = k.saturating_add(1);
    }
}

/// Puts the file `tmp` (just written) in the place of `dest` atomically, as rename(2) does,
/// but swapping the two names (renameat2 RENAME_EXCHANGE) when `dest` exists, then removing
/// the old file. Why not a plain rename: over an existing file, ext4 (auto_da_alloc) starts
/// writing the new file's data to disk in the rename, and a later unlink of it waits for that
/// I/O; an exchange is not a replace, so run-time state that lives for milliseconds never
/// reaches the disk. Falls back to rename where there is nothing to swap with or the
/// filesystem cannot exchange.
pub fn replace_file(tmp: &Path, dest: &Path) -> Result<()> {
    let (a, b) = (cstr(tmp)?, cstr(dest)?);
    let r = unsafe { libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), libc::RENAME_EXCHANGE) };
    if r == 0 {
        return std::fs::remove_file(tmp).with_context(|| format!("removing {} (the old {})", tmp.display(), dest.display()));
    }
    match Error::last_os_error().raw_os_error() {
        Some(libc::ENOENT | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP | libc::EPERM) => {}
        _ => return Err(Error::last_os_error()).with_context(|| format!("renameat2({}, {}, RENAME_EXCHANGE)", tmp.display(), dest.display())),
    }
    std::fs::rename(tmp, dest).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))
}

/// mount_setattr(2) on the mount `fd` refers to (AT_EMPTY_PATH), optionally on every mount
/// below it (AT_RECURSIVE). `attr_set`/`attr_clr` are MOUNT_ATTR_* bits; `userns_fd` is for
/// MOUNT_ATTR_IDMAP. Returns the raw error so callers can explain EINVAL/ENOSYS.
pub fn mount_setattr(fd: RawFd, recursive: bool, attr_set: u64, attr_clr: u64, userns_fd: Option<RawFd>) -> std::io::Result<()> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    const AT_RECURSIVE: u32 = 0x8000;
    let attr = MountAttr { attr_set, attr_clr, propagation: 0, userns_fd: userns_fd.map(|f| f as u64).unwrap_or(0) };
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    let r = unsafe { libc::syscall(libc::SYS_mount_setattr, fd, c"".as_ptr(), flags, &attr as *const MountAttr, std::mem::size_of::<MountAttr>()) };
    if r < 0 { Err(Error::last_os_error()) } else { Ok(()) }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    /// Fills a page of the child's stack, as a deep call would.
    #[inline(never)]
    fn scribble() -> u8 {
        let junk = std::hint::black_box([0xffu8; 4096]);
        junk[4095]
    }

    /// In a process of its own (a child that crashes holding a lock would hang this one):
    /// 0 when all held, else which check failed.
    fn vfork_checks() -> i32 {
        let canary = std::hint::black_box([0x5au8; 512]);
        let mut seen: i32 = 0;
        let seen_at = &mut seen as *mut i32;
        let pid = unsafe {
            super::clone3_vfork(None, || {
                let _ = std::hint::black_box(std::backtrace::Backtrace::force_capture());
                let _ = scribble();
                *seen_at = libc::getpid();
                libc::_exit(7)
            })
        };
        let Ok(pid) = pid else { return 1 };
        // CLONE_VFORK returned only once the child had exited.
        if unsafe { std::ptr::read_volatile(seen_at) } != pid {
            return 2;
        }
        if !canary.iter().all(|&b| b == 0x5a) {
            return 3;
        }
        let mut status = 0;
        if unsafe { libc::waitpid(pid, &mut status, 0) } != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 7 {
            return 4;
        }
        0
    }

    /// Run by the test below in a process of its own (this test binary again, this test
    /// alone): exits with vfork_checks' code.
    #[test]
    #[ignore = "a helper process of clone3_vfork_child_shares_memory_and_leaves_our_frame_alone"]
    fn clone3_vfork_probe() {
        std::process::exit(vfork_checks());
    }

    /// The child shares our memory and runs below our frame: we see what it wrote, our own
    /// locals are intact, and a backtrace taken in the child ends instead of walking into our
    /// frames with its stack pointer (with a return address into our code it looped or
    /// crashed). In a fresh single-threaded process: a child that crashed holding a lock would
    /// hang this one, and a fork of this multi-threaded one could inherit a lock held.
    #[test]
    fn clone3_vfork_child_shares_memory_and_leaves_our_frame_alone() {
        let mut probe = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "sys::tests::clone3_vfork_probe", "--test-threads=1"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("running the probe");
        for _ in 0..200 {
            if let Some(status) = probe.try_wait().unwrap() {
                // 1: clone3 failed, 2: the child's write is not in our memory, 3: it wrote
                // into our frame, 4: it did not exit 7; None: a signal killed the probe.
                assert_eq!(status.code(), Some(0), "clone3_vfork check failed: {status}");
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = probe.kill();
        let _ = probe.wait();
        panic!("clone3_vfork: no result in 20 s (the child hung, or crashed holding a lock)");
    }
}
