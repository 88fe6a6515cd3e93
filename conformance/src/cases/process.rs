//! The container process (config.md#process, #posix-process, #linux-process: rlimits, user, caps,
//! cwd, env, args, oomScoreAdj, noNewPrivileges, LSM labels) and config-linux.md sysctl, seccomp, personality.

use super::*;

fn caps_mask(names: &[&str]) -> u64 {
    let table = [
        ("CHOWN", 0), ("DAC_OVERRIDE", 1), ("DAC_READ_SEARCH", 2), ("FOWNER", 3), ("FSETID", 4), ("KILL", 5), ("SETGID", 6),
        ("SETUID", 7), ("SETPCAP", 8), ("NET_BIND_SERVICE", 10), ("NET_RAW", 13), ("SYS_CHROOT", 18), ("SYS_ADMIN", 21),
        ("MKNOD", 27), ("AUDIT_WRITE", 29), ("SETFCAP", 31),
    ];
    names.iter().map(|n| 1u64 << table.iter().find(|(t, _)| t == n).map(|(_, b)| *b).expect("cap")).fold(0, |a, b| a | b)
}

pub fn cases() -> Vec<Case> {
    vec![
        case!("sysctl", "config-linux.md#sysctl: \"sysctl (object, OPTIONAL) allows kernel parameters to be modified at runtime for the container.\"", |ctx| {
            inside(ctx, "sysctl", |b| {
                b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"});
                b.checks.push(json!({"kind": "file", "path": "/proc/sys/net/ipv4/ip_forward", "value": "1"}));
                b.checks.push(json!({"kind": "file", "path": "/proc/sys/kernel/msgmax", "value": "12345"}));
                Ok(())
            })
        }),
        case!("rlimits", "config.md#posix-process: \"rlimits ... soft (uint64, REQUIRED) the value of the limit enforced for the corresponding resource. hard (uint64, REQUIRED) the ceiling for the soft limit\"", |ctx| {
            inside(ctx, "rlimits", |b| {
                b.config["process"]["rlimits"] = json!([
                    {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
                    {"type": "RLIMIT_CORE", "soft": 1024, "hard": 2048},
                    {"type": "RLIMIT_NICE", "soft": 0, "hard": 0}
                ]);
                b.checks.push(json!({"kind": "rlimit", "resource": libc::RLIMIT_NOFILE, "soft": 256, "hard": 512}));
                b.checks.push(json!({"kind": "rlimit", "resource": libc::RLIMIT_CORE, "soft": 1024, "hard": 2048}));
                b.checks.push(json!({"kind": "rlimit", "resource": libc::RLIMIT_NICE, "soft": 0, "hard": 0}));
                Ok(())
            })
        }),
        case!("rlimits-invalid-type", "config.md#posix-process: \"The runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface.\"", |ctx| {
            lifecycle(ctx, "rlimit-bad", |b| {
                b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_CONFORMANCE_BOGUS", "soft": 1, "hard": 1}]);
                b.write()?;
                let o = b.create();
                if o.ok() {
                    let _ = b.rt(&["start", &b.id]);
                    return Err("create succeeded with an unknown rlimit type".into());
                }
                if b.state().is_ok() {
                    return Err("create failed but a container exists (\"a new container MUST NOT be created\")".into());
                }
                Ok(())
            })
        }),
        case!("caps-root", "config.md#linux-process: \"capabilities (object, OPTIONAL) is an object containing arrays that specifies the sets of capabilities for the process.\" (uid 0 with noNewPrivileges: after execve P=E=(bounding|inheritable|ambient)&permitted)", |ctx| {
            inside(ctx, "caps-root", |b| {
                let bnd = ["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID", "SETGID"];
                let inh = ["KILL", "SETGID"];
                let amb = ["KILL"];
                b.config["process"]["capabilities"] = json!({"bounding": cap_list(&bnd), "permitted": cap_list(&["KILL", "CHOWN", "SETGID"]),
                    "effective": cap_list(&["KILL", "CHOWN"]), "inheritable": cap_list(&inh), "ambient": cap_list(&amb)});
                // noNewPrivileges (baseline true): execve cannot gain beyond the old permitted set
                let all = (caps_mask(&bnd) | caps_mask(&inh) | caps_mask(&amb)) & caps_mask(&["KILL", "CHOWN", "SETGID"]);
                b.checks.extend([
                    json!({"kind": "status", "field": "CapBnd", "hex": caps_mask(&bnd)}),
                    json!({"kind": "status", "field": "CapInh", "hex": caps_mask(&inh)}),
                    json!({"kind": "status", "field": "CapAmb", "hex": caps_mask(&amb)}),
                    json!({"kind": "status", "field": "CapPrm", "hex": all}),
                    json!({"kind": "status", "field": "CapEff", "hex": all}),
                ]);
                Ok(())
            })
        }),
        case!("caps-nonroot", "config.md#linux-process: \"capabilities ... effective, bounding, inheritable, permitted, ambient\" (uid 1000: after execve P=E=ambient)", |ctx| {
            inside(ctx, "caps-user", |b| {
                let bnd = ["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID"];
                let inh = ["KILL", "NET_BIND_SERVICE"];
                let amb = ["NET_BIND_SERVICE"];
                b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
                b.config["process"]["capabilities"] = json!({"bounding": cap_list(&bnd), "permitted": cap_list(&["KILL", "NET_BIND_SERVICE", "CHOWN"]),
                    "effective": cap_list(&["KILL", "CHOWN"]), "inheritable": cap_list(&inh), "ambient": cap_list(&amb)});
                b.checks.extend([
                    json!({"kind": "status", "field": "CapBnd", "hex": caps_mask(&bnd)}),
                    json!({"kind": "status", "field": "CapInh", "hex": caps_mask(&inh)}),
                    json!({"kind": "status", "field": "CapAmb", "hex": caps_mask(&amb)}),
                    json!({"kind": "status", "field": "CapPrm", "hex": caps_mask(&amb)}),
                    json!({"kind": "status", "field": "CapEff", "hex": caps_mask(&amb)}),
                ]);
                Ok(())
            })
        }),
        case!("user-ids", "config.md#posix-platform-user: \"uid (int, REQUIRED) specifies the user ID in the container namespace. gid ... additionalGids (array of ints, OPTIONAL) specifies additional group IDs in the container namespace to be added to the process.\"", |ctx| {
            inside(ctx, "user-ids", |b| {
                b.config["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 3000]});
                b.checks.push(json!({"kind": "ids", "uid": 1000, "gid": 1001, "groups": [2000, 3000]}));
                Ok(())
            })
        }),
        case!("umask", "config.md#posix-platform-user: \"umask (int, OPTIONAL) specifies the umask of the user.\"", |ctx| {
            inside(ctx, "umask", |b| {
                b.config["process"]["user"]["umask"] = json!(0o027);
                b.checks.push(json!({"kind": "status", "field": "Umask", "value": "0027"}));
                Ok(())
            })
        }),
        case!("cwd", "config.md#process: \"cwd (string, REQUIRED) is the working directory that will be set for the executable.\"", |ctx| {
            inside(ctx, "cwd", |b| {
                b.config["process"]["cwd"] = json!("/conformance/wd");
                b.checks.push(json!({"kind": "cwd", "value": "/conformance/wd"}));
                Ok(())
            })
        }),
        case!("env", "config.md#process: \"env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.\"", |ctx| {
            inside(ctx, "env", |b| {
                b.config["process"]["env"] = json!(["PATH=/bin", "CONF_A=bar", "CONF_B=x=y", "CONF_EMPTY="]);
                b.checks.push(json!({"kind": "env", "name": "CONF_A", "value": "bar"}));
                b.checks.push(json!({"kind": "env", "name": "CONF_B", "value": "x=y"}));
                b.checks.push(json!({"kind": "env", "name": "CONF_EMPTY", "value": ""}));
                b.checks.push(json!({"kind": "env", "name": "PATH", "value": "/bin"}));
                Ok(())
            })
        }),
        case!("args", "config.md#process: \"args (array of strings, OPTIONAL) with similar semantics to IEEE Std 1003.1-2008 execvp's argv.\"", |ctx| {
            inside(ctx, "args", |b| {
                let argv = json!(["/conformance/checker", "/conformance/checks.json", "with space", "", "--flag=1"]);
                b.config["process"]["args"] = argv.clone();
                b.checks.push(json!({"kind": "argv", "value": argv}));
                Ok(())
            })
        }),
        case!("args-path-lookup", "config.md#process: \"args ... with similar semantics to IEEE Std 1003.1-2008 execvp's argv\" (execvp searches PATH for a name without slash)", |ctx| {
            inside(ctx, "args-path", |b| {
                b.config["process"]["args"] = json!(["checker", "/conformance/checks.json"]);
                b.config["process"]["env"] = json!(["PATH=/nonexistent:/conformance:/bin"]);
                b.checks.push(json!({"kind": "env", "name": "PATH", "value": "/nonexistent:/conformance:/bin"}));
                Ok(())
            })
        }),
        case!("oom-score-adj", "config.md#linux-process: \"oomScoreAdj (int, OPTIONAL) adjusts the oom-killer score in [pid]/oom_score_adj for the process's [pid] in a proc pseudo-filesystem.\"", |ctx| {
            inside(ctx, "oom", |b| {
                b.config["process"]["oomScoreAdj"] = json!(500);
                b.checks.push(json!({"kind": "file", "path": "/proc/self/oom_score_adj", "value": "500"}));
                Ok(())
            })
        }),
        case!("no-new-privileges-true", "config.md#linux-process: \"noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the process from gaining additional privileges.\"", |ctx| {
            inside(ctx, "nnp-true", |b| {
                b.checks.push(json!({"kind": "status", "field": "NoNewPrivs", "value": "1"}));
                Ok(())
            })
        }),
        case!("no-new-privileges-false", "config.md#linux-process: \"noNewPrivileges (bool, OPTIONAL)\" (false: the flag is not set)", |ctx| {
            inside(ctx, "nnp-false", |b| {
                b.config["process"]["noNewPrivileges"] = json!(false);
                b.checks.push(json!({"kind": "status", "field": "NoNewPrivs", "value": "0"}));
                Ok(())
            })
        }),
        case!("seccomp-errno-ret", "config-linux.md#seccomp: \"errnoRet (uint, OPTIONAL) - the errno return code to use.\"", |ctx| {
            inside(ctx, "seccomp-errno", |b| {
                b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]});
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getppid, "errno": 42}));
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getpid}));
                b.checks.push(json!({"kind": "status", "field": "Seccomp", "value": "2"}));
                Ok(())
            })
        }),
        case!("seccomp-errno-default", "config-linux.md#seccomp: \"errnoRet (uint, OPTIONAL) ... If not specified its default value is `EPERM`.\"", |ctx| {
            inside(ctx, "seccomp-eperm", |b| {
                b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]});
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getppid, "errno": libc::EPERM}));
                Ok(())
            })
        }),
        case!("seccomp-default-action", "config-linux.md#seccomp: \"defaultAction (string, REQUIRED) - the default action for seccomp.\"; \"defaultErrnoRet (uint, OPTIONAL) - the errno return code to use.\"", |ctx| {
            inside(ctx, "seccomp-default", |b| {
                // default: ERRNO(38); allow list: everything the checker and the runtime's last exec steps need
                let allow = ["read", "write", "open", "openat", "close", "fstat", "newfstatat", "stat", "lstat", "statx", "mmap", "munmap", "mprotect", "brk",
                    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl", "readv", "writev", "access", "execve", "execveat", "exit", "exit_group", "arch_prctl",
                    "set_tid_address", "getdents64", "readlink", "readlinkat", "getcwd", "uname", "getpid", "getuid", "getgid", "geteuid", "getegid",
                    "getgroups", "getrlimit", "prlimit64", "statfs", "fstatfs", "lseek", "fcntl", "futex", "sigaltstack", "poll", "ppoll", "set_robust_list", "rseq",
                    "capget", "capset", "prctl", "setuid", "setgid", "setgroups", "setresuid", "setresgid", "chdir", "fchdir", "getrandom", "madvise", "nanosleep",
                    "clock_nanosleep", "epoll_pwait", "epoll_wait", "epoll_ctl", "select", "pselect6", "sched_yield", "gettid", "tgkill", "kill", "umask",
                    "dup", "dup2", "dup3", "pipe", "pipe2", "sendmsg", "sendto", "recvmsg", "recvfrom", "socket", "connect", "shutdown", "wait4", "clone", "clone3", "fork", "vfork", "close_range", "faccessat", "faccessat2", "openat2"];
                b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": allow.to_vec(), "action": "SCMP_ACT_ALLOW"}]});
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getppid, "errno": 38}));
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getpid}));
                Ok(())
            })
        }),
        case!("apparmor", "config.md#linux-process: \"apparmorProfile (string, OPTIONAL) specifies the name of the AppArmor profile for the process.\"", |ctx| {
            inside(ctx, "apparmor", |b| {
                if fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.trim() != "Y").unwrap_or(true) {
                    return Err("SKIP: AppArmor LSM absent on this host (/sys/module/apparmor/parameters/enabled missing or not Y)".into());
                }
                b.config["process"]["apparmorProfile"] = json!("unconfined");
                b.checks.push(json!({"kind": "file", "path": "/proc/self/attr/current", "contains": "unconfined"}));
                Ok(())
            })
        }),
        case!("selinux", "config.md#linux-process: \"selinuxLabel (string, OPTIONAL) specifies the SELinux label for the process.\"", |ctx| {
            inside(ctx, "selinux", |_b| {
                if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
                    return Err("SKIP: SELinux LSM absent on this host (/sys/fs/selinux missing)".into());
                }
                Err("SELinux host: label check not implemented".into())
            })
        }),
    ]
}

/// Runs after `lifecycle::operations` (registry order).
pub fn personality() -> Vec<Case> {
    vec![
        case!("personality", "config-linux.md#personality: \"`LINUX32` will set the `uname` system call to show a 32 bit CPU type, such as `i686`.\"", |ctx| {
            inside(ctx, "personality", |b| {
                b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
                b.checks.push(json!({"kind": "uname", "field": "machine", "value": "i686"}));
                Ok(())
            })
        }),
    ]
}
