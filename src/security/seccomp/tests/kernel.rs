//! In the kernel: fork, install the filter in the child, check there, report by exit code.

use super::*;

/// Forks; the child runs `child` (which must not allocate or take locks) and
/// exits with its return value. Returns the child's wait status.
fn in_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only makes raw syscalls and then _exit()s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // Unprivileged runs need no_new_privs; as root it is not needed but harmless.
        unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
        let code = child();
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn assert_exit_0(status: i32) {
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: exited={} code={} signaled={} sig={}",
        libc::WIFEXITED(status),
        libc::WEXITSTATUS(status),
        libc::WIFSIGNALED(status),
        libc::WTERMSIG(status)
    );
}

#[test]
fn kernel_installs_filter_and_returns_chosen_errno() {
    let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdirat", "mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV},
        {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOTBLK},
        {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 0, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_EQ"}]},
    ]}));
    let status = in_child(|| {
        match install(&crate::kernel::Host, &f) {
            Ok(None) => {}
            _ => return 10,
        }
        let r = unsafe {
            libc::mkdirat(
                libc::AT_FDCWD,
                c"/tmp/bulkhead-seccomp-test".as_ptr(),
                0o700,
            )
        };
        if r != -1 || last_errno() != libc::EXDEV {
            return 11;
        }
        let r = unsafe { libc::chmod(c"/tmp".as_ptr(), 0o1777) };
        if r != -1 || last_errno() != libc::ENOTBLK {
            return 12;
        }
        if unsafe { libc::getpid() } <= 0 {
            return 13;
        }
        // 64-bit argument: only the high half differs.
        if unsafe { libc::syscall(libc::SYS_getppid, 0u64) } <= 0 {
            return 14;
        }
        if unsafe { libc::syscall(libc::SYS_getppid, 0x1_0000_0000u64) } != -1 || last_errno() != 1
        {
            return 15;
        }
        0
    });
    assert_exit_0(status);
}

#[test]
fn kernel_accepts_docker_like_profile() {
    let (v, _, _) = docker_like();
    let f = profile(v);
    let status = in_child(|| {
        if install(&crate::kernel::Host, &f).is_err() {
            return 10;
        }
        if unsafe { libc::syscall(libc::SYS_mount, 0, 0, 0, 0, 0) } != -1
            || last_errno() != libc::EPERM
        {
            return 11;
        }
        if unsafe { libc::syscall(libc::SYS_clone3, 0, 0) } != -1 || last_errno() != libc::ENOSYS {
            return 12;
        }
        if unsafe { libc::syscall(libc::SYS_socket, 40, libc::SOCK_STREAM, 0) } != -1
            || last_errno() != libc::EPERM
        {
            return 13;
        }
        if unsafe { libc::getpid() } <= 0 {
            return 14;
        }
        0
    });
    assert_exit_0(status);
}

#[test]
fn kernel_notify_returns_listener_fd() {
    let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}]}));
    assert_eq!(
        f.flags(),
        FLAG_LOG | FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV
    );
    let status = in_child(|| {
        let Ok(installed) = install_detailed(&crate::kernel::Host, &f) else {
            return 10;
        };
        let Some(fd) = installed.notify_fd else {
            return 11;
        };
        use std::os::fd::AsRawFd;
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) } < 0 {
            return 12;
        }
        // Must keep NEW_LISTENER; optional flags may have been dropped by an old kernel.
        if installed.flags & FLAG_NEW_LISTENER == 0 || installed.flags & !f.flags() != 0 {
            return 13;
        }
        0
    });
    assert_exit_0(status);
}

#[test]
fn kernel_kills_on_default_kill_process() {
    let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}]}));
    let status = in_child(|| {
        if install(&crate::kernel::Host, &f).is_err() {
            return 10;
        }
        unsafe { libc::getppid() };
        20
    });
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
        "status {status:#x}"
    );
}
