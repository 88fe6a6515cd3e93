//! Architectures (native, x32, i386, foreign), the runc-like ENOSYS stub, and the
//! syscall tables checked against libc.

use super::*;

const AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;

#[test]
fn architectures() {
    // Native only.
    let f = profile(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    let p = f.program();
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 0, [0; 6]), ALLOW);
    assert_eq!(run(p, AUDIT_ARCH_I386, 3, [0; 6]), KILL_THREAD);
    assert_eq!(run(p, AARCH64, 63, [0; 6]), KILL_THREAD);
    assert_eq!(
        run(p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6]),
        KILL_THREAD
    ); // x32 read
    assert_eq!(run(p, AUDIT_ARCH_X86_64, u32::MAX, [0; 6]), errno(1)); // nr -1: default
    assert!(f.ignored_architectures().is_empty());

    // docker's x86_64 set, plus a foreign arch that is ignored.
    let f = profile(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64", "SCMP_ARCH_NATIVE"],
        "syscalls": [{"names": ["read", "rt_sigaction", "_llseek", "arch_prctl"], "action": "SCMP_ACT_ALLOW"}]}));
    let p = f.program();
    assert_eq!(f.ignored_architectures(), [Arch::ScmpArchAarch64]);
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 0, [0; 6]), ALLOW); // read
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 13, [0; 6]), ALLOW); // rt_sigaction
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 158, [0; 6]), ALLOW); // arch_prctl
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 1, [0; 6]), errno(1)); // write
    assert_eq!(run(p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6]), ALLOW); // x32 read
    assert_eq!(
        run(p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 512, [0; 6]),
        ALLOW
    ); // x32 rt_sigaction
    assert_eq!(
        run(p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 13, [0; 6]),
        errno(1)
    ); // not an x32 syscall
    assert_eq!(run(p, AUDIT_ARCH_I386, 3, [0; 6]), ALLOW); // i386 read
    assert_eq!(run(p, AUDIT_ARCH_I386, 140, [0; 6]), ALLOW); // i386 _llseek
    assert_eq!(run(p, AUDIT_ARCH_I386, 0, [0; 6]), errno(1)); // i386 restart_syscall
    assert_eq!(run(p, AARCH64, 63, [0; 6]), KILL_THREAD);
    assert_eq!(run(p, 0x4000_0028, 3, [0; 6]), KILL_THREAD); // arm

    // x32 alone is added to the native x86_64 (as libseccomp does).
    let f = profile(
        json!({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X32"],
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}),
    );
    assert_eq!(run(f.program(), AUDIT_ARCH_X86_64, 0, [0; 6]), ALLOW);
    assert_eq!(
        run(f.program(), AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, [0; 6]),
        ALLOW
    );
    assert_eq!(run(f.program(), AUDIT_ARCH_I386, 3, [0; 6]), KILL_THREAD);
}

#[test]
fn enosys_stub_like_runc() {
    let v = |default: Value, extra: Value| {
        let mut v = json!({"defaultAction": default, "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["read", "write", "close_range"], "action": "SCMP_ACT_ALLOW"}]});
        if let Value::Object(m) = extra {
            v.as_object_mut().unwrap().extend(m);
        }
        profile(v)
    };
    let f = v(json!("SCMP_ACT_ERRNO"), json!({}));
    let p = f.program();
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 39, [0; 6]), errno(1)); // getpid: below close_range (436)
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 436, [0; 6]), ALLOW);
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 437, [0; 6]), errno(libc::ENOSYS));
    assert_eq!(
        run(p, AUDIT_ARCH_X86_64, 10_000, [0; 6]),
        errno(libc::ENOSYS)
    );
    assert_eq!(
        run(p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 437, [0; 6]),
        errno(libc::ENOSYS)
    );
    assert_eq!(
        run(p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 100, [0; 6]),
        errno(1)
    );
    assert_eq!(
        run(p, AUDIT_ARCH_X86_64, u32::MAX, [0; 6]),
        errno(libc::ENOSYS)
    ); // as runc with x32
    assert_eq!(run(p, AUDIT_ARCH_I386, 437, [0; 6]), errno(libc::ENOSYS));
    assert_eq!(run(p, AUDIT_ARCH_I386, 4, [0; 6]), ALLOW);
    // Kill default: also patched.
    let f = v(json!("SCMP_ACT_KILL_PROCESS"), json!({}));
    assert_eq!(
        run(f.program(), AUDIT_ARCH_X86_64, 437, [0; 6]),
        errno(libc::ENOSYS)
    );
    assert_eq!(
        run(f.program(), AUDIT_ARCH_X86_64, 39, [0; 6]),
        KILL_PROCESS
    );
    // Permissive defaults: no stub.
    for d in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"] {
        let f = profile(
            json!({"defaultAction": d, "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL"}]}),
        );
        assert_ne!(
            run(f.program(), AUDIT_ARCH_X86_64, 437, [0; 6]),
            errno(libc::ENOSYS),
            "{d}"
        );
    }
}

#[test]
fn syscall_tables_are_sorted_and_consistent() {
    for t in [
        syscall_tables::X86_64,
        syscall_tables::X32,
        syscall_tables::I386,
    ] {
        assert!(
            t.windows(2).all(|w| w[0].0 < w[1].0),
            "table not sorted / has duplicates"
        );
    }
    assert_eq!(
        resolve_syscall("read"),
        (Some(0), Some(X32_SYSCALL_BIT), Some(3))
    );
    assert_eq!(
        resolve_syscall("rt_sigaction"),
        (Some(13), Some(X32_SYSCALL_BIT | 512), Some(174))
    );
    assert_eq!(resolve_syscall("socketcall"), (None, None, Some(102)));
    assert_eq!(
        resolve_syscall("mseal"),
        (Some(462), Some(X32_SYSCALL_BIT | 462), Some(462))
    );
    assert_eq!(
        resolve_syscall("uretprobe"),
        (Some(335), Some(X32_SYSCALL_BIT | 335), None)
    );
    assert_eq!(resolve_syscall("no_such_syscall"), (None, None, None));
    for (name, n) in syscall_tables::X32 {
        assert!(n & X32_SYSCALL_BIT != 0, "{name}");
    }
}

/// The x86_64 table agrees with every `libc::SYS_*` constant that both the
/// gnu and the musl targets of libc define.
#[cfg(target_arch = "x86_64")]
#[test]
fn x86_64_table_matches_libc() {
    macro_rules! pairs {
        ($($id:ident),* $(,)?) => { [$((stringify!($id), libc::$id as u32)),*] };
    }
    #[rustfmt::skip]
    let pairs = pairs!(
        SYS__sysctl, SYS_accept, SYS_accept4, SYS_access, SYS_acct, SYS_add_key, SYS_adjtimex,
        SYS_afs_syscall, SYS_alarm, SYS_arch_prctl, SYS_bind, SYS_bpf, SYS_brk, SYS_capget,
        SYS_capset, SYS_chdir, SYS_chmod, SYS_chown, SYS_chroot, SYS_clock_adjtime,
        SYS_clock_getres, SYS_clock_gettime, SYS_clock_nanosleep, SYS_clock_settime, SYS_clone,
        SYS_clone3, SYS_close, SYS_close_range, SYS_connect, SYS_copy_file_range, SYS_creat,
        SYS_delete_module, SYS_dup, SYS_dup2, SYS_dup3, SYS_epoll_create, SYS_epoll_create1,
        SYS_epoll_ctl, SYS_epoll_ctl_old, SYS_epoll_pwait, SYS_epoll_pwait2, SYS_epoll_wait,
        SYS_epoll_wait_old, SYS_eventfd, SYS_eventfd2, SYS_execve, SYS_execveat, SYS_exit,
        SYS_exit_group, SYS_faccessat, SYS_faccessat2, SYS_fadvise64, SYS_fallocate,
        SYS_fanotify_init, SYS_fanotify_mark, SYS_fchdir, SYS_fchmod, SYS_fchmodat, SYS_fchmodat2,
        SYS_fchown, SYS_fchownat, SYS_fcntl, SYS_fdatasync, SYS_fgetxattr, SYS_finit_module,
        SYS_flistxattr, SYS_flock, SYS_fork, SYS_fremovexattr, SYS_fsconfig, SYS_fsetxattr,
        SYS_fsmount, SYS_fsopen, SYS_fspick, SYS_fstat, SYS_fstatfs, SYS_fsync, SYS_ftruncate,
        SYS_futex, SYS_futex_waitv, SYS_futimesat, SYS_get_mempolicy, SYS_get_robust_list,
        SYS_get_thread_area, SYS_getcpu, SYS_getcwd, SYS_getdents, SYS_getdents64, SYS_getegid,
        SYS_geteuid, SYS_getgid, SYS_getgroups, SYS_getitimer, SYS_getpeername, SYS_getpgid,
        SYS_getpgrp, SYS_getpid, SYS_getpmsg, SYS_getppid, SYS_getpriority, SYS_getrandom,
        SYS_getresgid, SYS_getresuid, SYS_getrlimit, SYS_getrusage, SYS_getsid, SYS_getsockname,
        SYS_getsockopt, SYS_gettid, SYS_gettimeofday, SYS_getuid, SYS_getxattr, SYS_init_module,
        SYS_inotify_add_watch, SYS_inotify_init, SYS_inotify_init1, SYS_inotify_rm_watch,
        SYS_io_cancel, SYS_io_destroy, SYS_io_getevents, SYS_io_setup, SYS_io_submit,
        SYS_io_uring_enter, SYS_io_uring_register, SYS_io_uring_setup, SYS_ioctl, SYS_ioperm,
        SYS_iopl, SYS_ioprio_get, SYS_ioprio_set, SYS_kcmp, SYS_kexec_file_load, SYS_kexec_load,
        SYS_keyctl, SYS_kill, SYS_landlock_add_rule, SYS_landlock_create_ruleset,
        SYS_landlock_restrict_self, SYS_lchown, SYS_lgetxattr, SYS_link, SYS_linkat, SYS_listen,
        SYS_listxattr, SYS_llistxattr, SYS_lookup_dcookie, SYS_lremovexattr, SYS_lseek,
        SYS_lsetxattr, SYS_lstat, SYS_madvise, SYS_mbind, SYS_membarrier, SYS_memfd_create,
        SYS_memfd_secret, SYS_migrate_pages, SYS_mincore, SYS_mkdir, SYS_mkdirat, SYS_mknod,
        SYS_mknodat, SYS_mlock, SYS_mlock2, SYS_mlockall, SYS_mmap, SYS_modify_ldt, SYS_mount,
        SYS_mount_setattr, SYS_move_mount, SYS_move_pages, SYS_mprotect, SYS_mq_getsetattr,
        SYS_mq_notify, SYS_mq_open, SYS_mq_timedreceive, SYS_mq_timedsend, SYS_mq_unlink,
        SYS_mremap, SYS_mseal, SYS_msgctl, SYS_msgget, SYS_msgrcv, SYS_msgsnd, SYS_msync,
        SYS_munlock, SYS_munlockall, SYS_munmap, SYS_name_to_handle_at, SYS_nanosleep,
        SYS_newfstatat, SYS_nfsservctl, SYS_open, SYS_open_by_handle_at, SYS_open_tree, SYS_openat,
        SYS_openat2, SYS_pause, SYS_perf_event_open, SYS_personality, SYS_pidfd_getfd,
        SYS_pidfd_open, SYS_pidfd_send_signal, SYS_pipe, SYS_pipe2, SYS_pivot_root, SYS_pkey_alloc,
        SYS_pkey_free, SYS_pkey_mprotect, SYS_poll, SYS_ppoll, SYS_prctl, SYS_pread64, SYS_preadv,
        SYS_preadv2, SYS_prlimit64, SYS_process_madvise, SYS_process_mrelease, SYS_process_vm_readv,
        SYS_process_vm_writev, SYS_pselect6, SYS_ptrace, SYS_putpmsg, SYS_pwrite64, SYS_pwritev,
        SYS_pwritev2, SYS_quotactl, SYS_quotactl_fd, SYS_read, SYS_readahead, SYS_readlink,
        SYS_readlinkat, SYS_readv, SYS_reboot, SYS_recvfrom, SYS_recvmmsg, SYS_recvmsg,
        SYS_remap_file_pages, SYS_removexattr, SYS_rename, SYS_renameat, SYS_renameat2,
        SYS_request_key, SYS_restart_syscall, SYS_rmdir, SYS_rseq, SYS_rt_sigaction,
        SYS_rt_sigpending, SYS_rt_sigprocmask, SYS_rt_sigqueueinfo, SYS_rt_sigreturn,
        SYS_rt_sigsuspend, SYS_rt_sigtimedwait, SYS_rt_tgsigqueueinfo, SYS_sched_get_priority_max,
        SYS_sched_get_priority_min, SYS_sched_getaffinity, SYS_sched_getattr, SYS_sched_getparam,
        SYS_sched_getscheduler, SYS_sched_rr_get_interval, SYS_sched_setaffinity, SYS_sched_setattr,
        SYS_sched_setparam, SYS_sched_setscheduler, SYS_sched_yield, SYS_seccomp, SYS_security,
        SYS_select, SYS_semctl, SYS_semget, SYS_semop, SYS_semtimedop, SYS_sendfile, SYS_sendmmsg,
        SYS_sendmsg, SYS_sendto, SYS_set_mempolicy, SYS_set_mempolicy_home_node,
        SYS_set_robust_list, SYS_set_thread_area, SYS_set_tid_address, SYS_setdomainname,
        SYS_setfsgid, SYS_setfsuid, SYS_setgid, SYS_setgroups, SYS_sethostname, SYS_setitimer,
        SYS_setns, SYS_setpgid, SYS_setpriority, SYS_setregid, SYS_setresgid, SYS_setresuid,
        SYS_setreuid, SYS_setrlimit, SYS_setsid, SYS_setsockopt, SYS_settimeofday, SYS_setuid,
        SYS_setxattr, SYS_shmat, SYS_shmctl, SYS_shmdt, SYS_shmget, SYS_shutdown, SYS_sigaltstack,
        SYS_signalfd, SYS_signalfd4, SYS_socket, SYS_socketpair, SYS_splice, SYS_stat, SYS_statfs,
        SYS_statx, SYS_swapoff, SYS_swapon, SYS_symlink, SYS_symlinkat, SYS_sync,
        SYS_sync_file_range, SYS_syncfs, SYS_sysfs, SYS_sysinfo, SYS_syslog, SYS_tee, SYS_tgkill,
        SYS_time, SYS_timer_create, SYS_timer_delete, SYS_timer_getoverrun, SYS_timer_gettime,
        SYS_timer_settime, SYS_timerfd_create, SYS_timerfd_gettime, SYS_timerfd_settime, SYS_times,
        SYS_tkill, SYS_truncate, SYS_tuxcall, SYS_umask, SYS_umount2, SYS_uname, SYS_unlink,
        SYS_unlinkat, SYS_unshare, SYS_uselib, SYS_userfaultfd, SYS_ustat, SYS_utime, SYS_utimensat,
        SYS_utimes, SYS_vfork, SYS_vhangup, SYS_vmsplice, SYS_vserver, SYS_wait4, SYS_waitid,
        SYS_write, SYS_writev,
    );
    assert_eq!(pairs.len(), 360);
    for (id, n) in pairs {
        let name = id.strip_prefix("SYS_").unwrap();
        assert_eq!(Abi::X86_64.resolve(name), Some(n), "{name}");
    }
}

#[test]
fn resolve_near_finds_what_resolve_finds_in_any_order() {
    let mut names: Vec<&str> = syscall_tables::X86_64.iter().chain(syscall_tables::I386).map(|(n, _)| *n).collect();
    names.sort();
    names.dedup();
    names.extend(["", "aaa", "zzzz", "read_", "no_such_call"]);
    let mut shuffled = names.clone();
    // A fixed permutation: every 7th, then the rest.
    shuffled.sort_by_key(|n| n.len() * 31 % 7);
    let backwards: Vec<&str> = names.iter().rev().copied().collect();
    for order in [&names, &shuffled, &backwards] {
        for abi in [Abi::X86_64, Abi::X32, Abi::I386] {
            let mut cursor = 0;
            for n in order.iter() {
                assert_eq!(abi.resolve_near(n, &mut cursor), abi.resolve(n), "{abi:?} {n:?}");
            }
        }
    }
}
