//! Whole profiles: the docker-like profile, long jumps in large programs, and the
//! flags / listener fields.

use super::*;

#[test]
fn docker_like_profile() {
    let (v, allowed, denied) = docker_like();
    let f = profile(v);
    let p = f.program();
    assert!(p.len() < BPF_MAXINSNS, "{} instructions", p.len());
    eprintln!(
        "docker-like profile: {} names, {} instructions",
        allowed.len(),
        p.len()
    );
    assert!(allowed.len() > 400);
    assert!(f.skipped_syscalls().is_empty());
    // Every allowed name on every ABI that knows it; every denied one is refused.
    for abi in [Abi::X86_64, Abi::X32, Abi::I386] {
        let arch = if abi == Abi::I386 {
            AUDIT_ARCH_I386
        } else {
            AUDIT_ARCH_X86_64
        };
        for name in &allowed {
            if let Some(n) = abi.resolve(name) {
                assert_eq!(run(p, arch, n, [0; 6]), ALLOW, "{abi:?} {name}");
            }
        }
        for name in denied
            .iter()
            .filter(|n| !["clone", "clone3", "socket", "personality"].contains(n))
        {
            if let Some(n) = abi.resolve(name) {
                assert_eq!(run(p, arch, n, [0; 6]), errno(1), "{abi:?} {name}");
            }
        }
    }
    assert_eq!(
        call(
            &f,
            "clone",
            arg0(libc::SIGCHLD as u64 | libc::CLONE_VM as u64)
        ),
        ALLOW
    );
    assert_eq!(call(&f, "clone", arg0(libc::CLONE_NEWNS as u64)), errno(1));
    assert_eq!(
        call(
            &f,
            "clone",
            arg0(libc::CLONE_NEWUSER as u64 | libc::SIGCHLD as u64)
        ),
        errno(1)
    );
    assert_eq!(call(&f, "clone3", [0; 6]), errno(38));
    assert_eq!(call(&f, "socket", arg0(libc::AF_INET as u64)), ALLOW);
    assert_eq!(call(&f, "socket", arg0(40)), errno(1));
    for v in [0, 8, 131072, 131080, 4294967295] {
        assert_eq!(call(&f, "personality", arg0(v)), ALLOW);
    }
    assert_eq!(call(&f, "personality", arg0(1)), errno(1));
    assert_eq!(call(&f, "personality", arg0(0x1_ffff_ffff)), errno(1));
    // Above every known syscall: -ENOSYS.
    assert_eq!(run(p, AUDIT_ARCH_X86_64, 600, [0; 6]), errno(libc::ENOSYS));
    assert_eq!(run(p, AUDIT_ARCH_I386, 600, [0; 6]), errno(libc::ENOSYS));
}

#[test]
fn large_conditional_profile_uses_long_jumps() {
    // 200 syscalls, each with two conditional rules: blocks end up far (> 255
    // instructions) from the lookup, so only BPF_JA can reach them.
    let names: Vec<&str> = syscall_tables::X86_64
        .iter()
        .map(|(n, _)| *n)
        .take(200)
        .collect();
    let syscalls: Vec<Value> = names
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            [
                json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1,
                    "args": [{"index": 1, "value": i, "op": "SCMP_CMP_EQ"}, {"index": 5, "value": 1u64 << 40, "op": "SCMP_CMP_GE"}]}),
                json!({"names": [n], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"}]}),
            ]
        })
        .collect();
    let f = profile(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": syscalls}));
    let p = f.program();
    assert!(p.len() > 2000, "{}", p.len());
    assert!(p.iter().any(|i| i.code == BPF_JMP_JA && i.k > 255));
    for (i, n) in names.iter().enumerate() {
        let i = i as u64;
        assert_eq!(
            call(&f, n, [0, i, 0, 0, 0, 1 << 40]),
            errno(i as i32 + 1),
            "{n}"
        );
        assert_eq!(call(&f, n, [7, i, 0, 0, 0, 1 << 39]), ALLOW, "{n}");
        assert_eq!(call(&f, n, [0, i, 0, 0, 0, 1 << 39]), KILL_PROCESS, "{n}");
    }
    // Too big for the kernel: a clear error.
    let syscalls: Vec<Value> = syscall_tables::X86_64
        .iter()
        .map(|(n, _)| {
            let args: Vec<Value> = (0..6)
                .map(|i| json!({"index": i, "value": 1u64 << 33, "op": "SCMP_CMP_LT"}))
                .collect();
            json!({"names": [n], "action": "SCMP_ACT_ALLOW", "args": args})
        })
        .collect();
    let err = compile_err(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": syscalls}));
    assert!(
        err.starts_with("linux.seccomp: the compiled filter has ") && err.contains("limit of 4096"),
        "{err}"
    );
}

#[test]
fn flags_and_listener_fields() {
    let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_TSYNC"],
        "listenerPath": "/run/agent.sock", "listenerMetadata": "meta"}));
    // WAIT_KILLABLE_RECV needs a listener; TSYNC is ignored.
    assert_eq!(f.flags(), FLAG_LOG | FLAG_SPEC_ALLOW);
    assert_eq!(
        f.listener_path(),
        Some(std::path::Path::new("/run/agent.sock"))
    );
    assert_eq!(f.listener_metadata(), Some("meta"));
    let f = profile(
        json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}]}),
    );
    assert_eq!(f.flags(), FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV);
    assert!(f.needs_listener());
}
