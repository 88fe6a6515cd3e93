//! Unit tests: a tiny classic-BPF interpreter runs the compiled programs.
//! This module holds the shared helpers (interpreter, profile builders, a docker-like
//! profile); the tests live in one submodule per concern.

use super::asm::{
    BPF_ALU_AND_K, BPF_JMP_JA, BPF_JMP_JEQ_K, BPF_JMP_JGE_K, BPF_JMP_JGT_K, BPF_JMP_JSET_K,
    BPF_LD_W_ABS, BPF_RET_K,
};
use super::*;
use serde_json::{Value, json};

mod actions;
mod arches;
mod args;
mod kernel;
mod layout;
mod profiles;

pub(super) const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
pub(super) const KILL_THREAD: u32 = libc::SECCOMP_RET_KILL_THREAD;
pub(super) const KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;

pub(super) fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

/// Checks what the kernel's BPF checker checks, for the instructions we use.
pub(super) fn validate(prog: &[sock_filter]) {
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
pub(super) fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    run_at_most(prog, arch, nr, args, usize::MAX).expect("the program returns")
}

/// [`run`], giving up (None) after `limit` instructions.
pub(super) fn run_at_most(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6], limit: usize) -> Option<u32> {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let (mut a, mut pc) = (0u32, 0usize);
    for _ in 0..limit {
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
            BPF_RET_K => return Some(i.k),
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
    None
}

pub(super) fn profile(v: Value) -> CompiledFilter {
    let f = compile(&parse_json(&v).unwrap()).unwrap();
    validate(f.program());
    f
}

pub(super) fn compile_err(v: Value) -> String {
    match parse_json(&v) {
        Err(e) => e.to_string(),
        Ok(s) => compile(&s).unwrap_err().to_string(),
    }
}

fn nr(name: &str) -> u32 {
    Abi::X86_64.resolve(name).unwrap()
}

/// x86_64 call of `name` with `args`.
pub(super) fn call(f: &CompiledFilter, name: &str, args: [u64; 6]) -> u32 {
    run(f.program(), AUDIT_ARCH_X86_64, nr(name), args)
}

pub(super) fn arg0(a: u64) -> [u64; 6] {
    [a, 0, 0, 0, 0, 0]
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
pub(super) fn docker_like() -> (Value, Vec<&'static str>, Vec<&'static str>) {
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
