//! Unit tests: a tiny classic-BPF interpreter runs the compiled programs.

use super::asm::{
    BPF_ALU_AND_K, BPF_JMP_JA, BPF_JMP_JEQ_K, BPF_JMP_JGE_K, BPF_JMP_JGT_K, BPF_JMP_JSET_K,
    BPF_LD_W_ABS, BPF_RET_K,
};
use super::*;
use serde_json::{Value, json};

const AARCH64: u32 = 183 | 0x8000_0000 | 0x4000_0000;
const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const KILL_THREAD: u32 = libc::SECCOMP_RET_KILL_THREAD;
const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;

fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

/// Checks what the kernel's BPF checker checks, for the instructions we use.
fn validate(prog: &[sock_filter]) {
    assert!(
        !prog.is_empty() && prog.len() <= BPF_MAXINSNS,
        "length {}",
        prog.len()
    );
    for (pc, i) in prog.iter().enumerate() {
        let next = pc + 1;
        match i.code {
            BPF_LD_W_ABS => assert!(i.k % 4 == 0 && i.k < 64, "bad load at {pc}"),
            BPF_ALU_AND_K | BPF_RET_K => {}
            BPF_JMP_JA => assert!(
                next + (i.k as usize) < prog.len(),
                "ja out of program at {pc}"
            ),
            BPF_JMP_JEQ_K | BPF_JMP_JGT_K | BPF_JMP_JGE_K | BPF_JMP_JSET_K => {
                assert!(
                    next + (i.jt as usize) < prog.len() && next + (i.jf as usize) < prog.len(),
                    "jump out at {pc}"
                )
            }
            c => panic!("unexpected opcode {c:#x} at {pc}"),
        }
    }
    assert_eq!(
        prog.last().unwrap().code,
        BPF_RET_K,
        "last instruction must be a return"
    );
}

/// Runs a program on a `struct seccomp_data`; returns the action value.
fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = &prog[pc];
        pc += 1;
        let cond = |c: bool| if c { i.jt as usize } else { i.jf as usize };
        match i.code {
            BPF_LD_W_ABS => {
                a = u32::from_ne_bytes(data[i.k as usize..i.k as usize + 4].try_into().unwrap())
            }
            BPF_ALU_AND_K => a &= i.k,
            BPF_JMP_JA => pc += i.k as usize,
            BPF_JMP_JEQ_K => pc += cond(a == i.k),
            BPF_JMP_JGT_K => pc += cond(a > i.k),
            BPF_JMP_JGE_K => pc += cond(a >= i.k),
            BPF_JMP_JSET_K => pc += cond(a & i.k != 0),
            BPF_RET_K => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

fn profile(v: Value) -> CompiledFilter {
    let f = compile(&parse_json(&v).unwrap()).unwrap();
    validate(f.program());
    f
}

fn compile_err(v: Value) -> String {
    match parse_json(&v) {
        Err(e) => e.to_string(),
        Ok(s) => compile(&s).unwrap_err().to_string(),
    }
}

fn nr(name: &str) -> u32 {
    Abi::X86_64.resolve(name).unwrap()
}

/// x86_64 call of `name` with `args`.
fn call(f: &CompiledFilter, name: &str, args: [u64; 6]) -> u32 {
    run(f.program(), AUDIT_ARCH_X86_64, nr(name), args)
}

fn arg0(a: u64) -> [u64; 6] {
    [a, 0, 0, 0, 0, 0]
}

#[test]
fn default_action_and_errno_values() {
    let f = profile(json!({"defaultAction": "SCMP_ACT_ERRNO"}));
    assert_eq!(call(&f, "getpid", [0; 6]), errno(libc::EPERM));
    let f = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 13}));
    assert_eq!(call(&f, "getpid", [0; 6]), errno(13));
    let f = profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["write", "close"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        ]
    }));
    assert_eq!(call(&f, "getpid", [0; 6]), ALLOW);
    assert_eq!(call(&f, "read", [0; 6]), errno(libc::EPERM));
    assert_eq!(call(&f, "write", [0; 6]), errno(38));
    assert_eq!(call(&f, "close", [0; 6]), errno(38));
    assert!(!f.needs_listener());
    assert_eq!(f.flags(), 0);
}

#[test]
fn every_action() {
    let cases = [
        (json!({"action": "SCMP_ACT_KILL"}), KILL_THREAD),
        (json!({"action": "SCMP_ACT_KILL_THREAD"}), KILL_THREAD),
        (json!({"action": "SCMP_ACT_KILL_PROCESS"}), KILL_PROCESS),
        (json!({"action": "SCMP_ACT_TRAP"}), libc::SECCOMP_RET_TRAP),
        (json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 5}), errno(5)),
        (
            json!({"action": "SCMP_ACT_TRACE"}),
            libc::SECCOMP_RET_TRACE | 1,
        ),
        (
            json!({"action": "SCMP_ACT_TRACE", "errnoRet": 7}),
            libc::SECCOMP_RET_TRACE | 7,
        ),
        (json!({"action": "SCMP_ACT_LOG"}), libc::SECCOMP_RET_LOG),
        (
            json!({"action": "SCMP_ACT_NOTIFY"}),
            libc::SECCOMP_RET_USER_NOTIF,
        ),
    ];
    for (mut entry, want) in cases {
        entry["names"] = json!(["read"]);
        let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [entry]}));
        assert_eq!(call(&f, "read", [0; 6]), want, "{entry}");
        assert_eq!(call(&f, "write", [0; 6]), ALLOW);
        let notify = entry["action"] == "SCMP_ACT_NOTIFY";
        assert_eq!(f.needs_listener(), notify);
        assert_eq!(f.flags() & FLAG_NEW_LISTENER != 0, notify);
    }
    // Allow with a non-allow default.
    let f = profile(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [{"names": ["write"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(call(&f, "write", [0; 6]), ALLOW);
    assert_eq!(call(&f, "read", [0; 6]), KILL_PROCESS);
}

const VALUES: [u64; 12] = [
    0,
    1,
    5,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0005,
    0x1_ffff_ffff,
    0x2_0000_0000,
    0x2_0000_0005,
    0xffff_ffff_0000_0000,
    u64::MAX,
];

fn op_holds(op: &str, a: u64, v: u64) -> bool {
    match op {
        "SCMP_CMP_NE" => a != v,
        "SCMP_CMP_LT" => a < v,
        "SCMP_CMP_LE" => a <= v,
        "SCMP_CMP_EQ" => a == v,
        "SCMP_CMP_GE" => a >= v,
        "SCMP_CMP_GT" => a > v,
        _ => unreachable!(),
    }
}

#[test]
fn arg_operators_64bit() {
    for op in [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
    ] {
        for v in VALUES {
            let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99,
                 "args": [{"index": 2, "value": v, "op": op}]}]}));
            for a in VALUES {
                let want = if op_holds(op, a, v) { errno(99) } else { ALLOW };
                assert_eq!(
                    call(&f, "read", [0, 0, a, 0, 0, 0]),
                    want,
                    "{a:#x} {op} {v:#x}"
                );
                // Only argument 2 is looked at.
                assert_eq!(
                    call(&f, "read", [a, a, 0, a, a, a]),
                    if op_holds(op, 0, v) { errno(99) } else { ALLOW }
                );
            }
        }
    }
}

#[test]
fn arg_operators_32bit_abi_compare_low_half() {
    for op in [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
    ] {
        for v in VALUES {
            let f = profile(
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"],
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99,
                 "args": [{"index": 0, "value": v, "op": op}]}]}),
            );
            for a in VALUES {
                let want = if op_holds(op, a & 0xffff_ffff, v & 0xffff_ffff) {
                    errno(99)
                } else {
                    ALLOW
                };
                assert_eq!(
                    run(f.program(), AUDIT_ARCH_I386, 3, arg0(a)),
                    want,
                    "i386 {a:#x} {op} {v:#x}"
                );
            }
        }
    }
}

#[test]
fn masked_eq() {
    let cases: [(u64, u64); 6] = [
        (2114060288, 0), // docker's clone namespace flags
        (0xff, 0x12),
        (0xffff_0000_0000_00ff, 0x1234_0000_0000_0012),
        (0x1_0000_0000, 0x1_0000_0000), // high half only
        (0xf0, 0x1f),                   // datum bits outside the mask are masked off
        (0, 0),                         // always true
    ];
    let args = [
        0u64,
        0x12,
        0x112,
        0x20000,
        0x1_0000_0000,
        0x1_0000_0012,
        0x1234_5678_0000_0012,
        0x10,
        u64::MAX,
    ];
    for (mask, datum) in cases {
        let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 0, "value": mask, "valueTwo": datum, "op": "SCMP_CMP_MASKED_EQ"}]}]}));
        for a in args {
            let want = if a & mask == datum & mask {
                errno(1)
            } else {
                ALLOW
            };
            assert_eq!(
                call(&f, "clone", arg0(a)),
                want,
                "({a:#x} & {mask:#x}) == {datum:#x}"
            );
        }
    }
    // Missing valueTwo is 0.
    let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0xf0, "op": "SCMP_CMP_MASKED_EQ"}]}]}));
    assert_eq!(call(&f, "clone", arg0(0x0f)), errno(1));
    assert_eq!(call(&f, "clone", arg0(0x10)), ALLOW);
}

#[test]
fn first_match_wins_in_config_order() {
    let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 10, "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]},
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 20, "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_LE"}]},
        {"names": ["write", "read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 30},
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 40},
    ]}));
    assert_eq!(call(&f, "read", arg0(1)), errno(10));
    assert_eq!(call(&f, "read", arg0(3)), errno(20));
    assert_eq!(call(&f, "read", arg0(9)), errno(30));
    assert_eq!(call(&f, "write", arg0(1)), errno(30));
    assert_eq!(call(&f, "close", arg0(1)), ALLOW);
}

#[test]
fn conditions_are_anded_but_same_index_is_ored_like_runc() {
    let f = profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["write"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]},
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [
            {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
            {"index": 1, "value": 7, "op": "SCMP_CMP_EQ"}]},
    ]}));
    assert_eq!(call(&f, "write", [1, 2, 0, 0, 0, 0]), errno(1));
    assert_eq!(call(&f, "write", [1, 3, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call(&f, "write", [0, 2, 0, 0, 0, 0]), ALLOW);
    assert_eq!(call(&f, "read", [1, 0, 0, 0, 0, 0]), errno(1));
    assert_eq!(call(&f, "read", [2, 0, 0, 0, 0, 0]), errno(1));
    assert_eq!(call(&f, "read", [3, 7, 0, 0, 0, 0]), errno(1));
    assert_eq!(call(&f, "read", [3, 0, 0, 0, 0, 0]), ALLOW);
}

#[test]
fn rules_with_the_default_action_are_dropped() {
    // As runc: the first entry equals the default action, so it is skipped and
    // the conditional ALLOW behind it is reachable.
    let f = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
        {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]},
    ]}));
    assert_eq!(call(&f, "read", arg0(5)), ALLOW);
    assert_eq!(call(&f, "read", arg0(4)), errno(1));
    // A different errno is a different action and is kept.
    let f = profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2},
        {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
    ]}));
    assert_eq!(call(&f, "read", arg0(5)), errno(2));
    // KILL and KILL_THREAD are the same action.
    let a = profile(json!({"defaultAction": "SCMP_ACT_KILL",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL_THREAD"}]}));
    let b = profile(json!({"defaultAction": "SCMP_ACT_KILL_THREAD",
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_KILL"}]}));
    assert_eq!(a.program(), b.program());
}

#[test]
fn unknown_names_are_skipped_and_reported() {
    let v = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "no_such_syscall", "socketcall", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["write"], "action": "SCMP_ACT_ALLOW"},
    ]});
    let f = profile(v.clone());
    assert_eq!(f.skipped_syscalls(), ["no_such_syscall", "socketcall"]);
    assert_eq!(call(&f, "read", [0; 6]), ALLOW);
    assert_eq!(call(&f, "write", [0; 6]), ALLOW);
    assert_eq!(call(&f, "getpid", [0; 6]), errno(libc::ENOSYS)); // above the profile's largest (write = 1)
    // socketcall exists on i386.
    let mut v = v;
    v["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
    let f = profile(v);
    assert_eq!(f.skipped_syscalls(), ["no_such_syscall"]);
    assert_eq!(run(f.program(), AUDIT_ARCH_I386, 102, [0; 6]), ALLOW);
}

#[test]
fn errors_name_the_field() {
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write"], "action": "SCMP_ACT_FOO"}]})),
        r#"linux.seccomp.syscalls[1].action: unknown action "SCMP_ACT_FOO""#
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 1, "op": "SCMP_CMP_BAR"}]}]})),
        r#"linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_BAR""#
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_NOPE"})),
        r#"linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE""#
    );
    assert_eq!(
        compile_err(json!({})),
        "linux.seccomp.defaultAction: missing"
    );
    assert_eq!(
        compile_err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]})
        ),
        r#"linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX""#
    );
    assert_eq!(
        compile_err(
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]})
        ),
        r#"linux.seccomp.flags[0]: unknown flag "SECCOMP_FILTER_FLAG_NOPE""#
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})),
        "linux.seccomp.syscalls[0].args[0].index: 6 is out of range (0-5)"
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]})),
        "linux.seccomp.syscalls[0].errnoRet: 70000 is out of range (0-65535)"
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65536})),
        "linux.seccomp.defaultErrnoRet: 65536 is out of range (0-65535)"
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_NOTIFY"})),
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be used as the default action"
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]})),
        "linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY cannot be used for the write syscall"
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]})),
        "linux.seccomp.syscalls[0].names[1]: empty syscall name"
    );
    assert_eq!(
        compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": "read", "action": "SCMP_ACT_ERRNO"}]})),
        r#"linux.seccomp.syscalls[0].names: expected an array of strings, got "read""#
    );
}

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

/// Names of the i386/x86_64 tables, as a stand-in for docker's big allow list.
fn all_x86_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = syscall_tables::X86_64
        .iter()
        .chain(syscall_tables::I386)
        .map(|(n, _)| *n)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Same shape and constructs as docker's default profile (moby
/// profiles/seccomp/default.json) after docker expanded it for x86_64 without
/// CAP_SYS_ADMIN: a big allow list, `socket` with NE, `personality` with
/// several EQ entries, `clone` with MASKED_EQ, `clone3` with errnoRet ENOSYS.
fn docker_like() -> (Value, Vec<&'static str>, Vec<&'static str>) {
    let denied = [
        "acct",
        "bpf",
        "clone",
        "clone3",
        "delete_module",
        "finit_module",
        "init_module",
        "ioperm",
        "iopl",
        "kcmp",
        "kexec_file_load",
        "kexec_load",
        "lookup_dcookie",
        "mount",
        "move_mount",
        "open_by_handle_at",
        "open_tree",
        "perf_event_open",
        "personality",
        "pivot_root",
        "ptrace",
        "quotactl",
        "reboot",
        "setns",
        "socket",
        "swapoff",
        "swapon",
        "syslog",
        "umount",
        "umount2",
        "unshare",
        "uselib",
        "userfaultfd",
        "vm86",
        "vm86old",
        "vhangup",
    ];
    let allowed: Vec<&str> = all_x86_names()
        .into_iter()
        .filter(|n| !denied.contains(n))
        .collect();
    let mut syscalls = vec![json!({"names": allowed, "action": "SCMP_ACT_ALLOW"})];
    syscalls.push(json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}));
    for v in [0u64, 8, 131072, 131080, 4294967295] {
        syscalls.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": v, "op": "SCMP_CMP_EQ"}]}));
    }
    syscalls.push(json!({"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW"}));
    syscalls.push(json!({"names": ["modify_ldt"], "action": "SCMP_ACT_ALLOW"}));
    syscalls.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
        "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]}));
    syscalls.push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}));
    let v = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": syscalls});
    (v, allowed, denied.to_vec())
}

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

// ---------------------------------------------------------------------------
// In the kernel: fork, install in the child, check there, report by exit code.

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
