//! The lookup's layout (asm::emit_table): a search tree over runs of syscall numbers. Each
//! program is checked against the profile's tables, number by number, by a plain evaluator of
//! what the module documentation says a table means.

use super::*;
use super::super::lower::Lowered;

fn arch_of(abi: Abi) -> u32 {
    if abi == Abi::I386 { AUDIT_ARCH_I386 } else { AUDIT_ARCH_X86_64 }
}

/// Does argument condition `c` hold for `args` on `abi` (the 32-bit ABIs compare low halves)?
fn holds(abi: Abi, c: &Cond, args: &[u64; 6]) -> bool {
    let (a, v, v2) = if abi.is_32bit() {
        let low = |x: u64| x & 0xffff_ffff;
        (low(args[c.index as usize]), low(c.value), low(c.value_two))
    } else {
        (args[c.index as usize], c.value, c.value_two)
    };
    match c.op {
        Op::Eq => a == v,
        Op::Ne => a != v,
        Op::Lt => a < v,
        Op::Le => a <= v,
        Op::Gt => a > v,
        Op::Ge => a >= v,
        Op::MaskedEq => a & v == v2 & v,
    }
}

/// What the table says of syscall `nr`: its first matching rule, else the -ENOSYS stub above
/// the largest named number, else the default.
fn expected(l: &Lowered, abi: Abi, t: &Table, nr: u32, args: &[u64; 6]) -> u32 {
    if let Some((_, entries)) = t.by_number().find(|(n, _)| *n == nr) {
        let mut rules = entries.iter().map(|e| &l.rules[e.1 as usize]);
        return rules.find(|r| r.conds.iter().all(|c| holds(abi, c, args))).map_or(l.default, |r| r.ret);
    }
    if l.enosys_stub && t.max_nr.is_some_and(|m| nr > m) {
        return errno(libc::ENOSYS);
    }
    l.default
}

/// Every number near a table's entries and edges, on each ABI of the profile, with a few
/// argument sets: the program's answer is the table's.
fn check_every_number(v: Value) -> (CompiledFilter, Lowered) {
    let seccomp = parse_json(&v).unwrap();
    let l = lower(&seccomp).unwrap();
    let f = compile(&seccomp).unwrap();
    validate(f.program());
    let argsets: [[u64; 6]; 4] = [[0; 6], arg0(40), arg0(8), arg0(0x7e02_0000 | 0x11)];
    for (abi, t) in &l.tables {
        let base = if *abi == Abi::X32 { X32_SYSCALL_BIT } else { 0 };
        let mut nrs: Vec<u32> = (0..700).map(|n| base + n).collect();
        for n in t.by_number().map(|(n, _)| n).chain(t.max_nr) {
            nrs.extend([n.saturating_sub(1), n, n.saturating_add(1)]);
        }
        if *abi != Abi::X86_64 {
            // x86_64 numbers with bit 30 set are x32's; -1 is checked by `architectures`.
            nrs.extend([base + 0x3fff_fffe, 0xffff_fffe, u32::MAX]);
        } else {
            nrs.extend([0x3fff_ffff, 0x8000_0000]);
        }
        // On AUDIT_ARCH_X86_64, bit 30 of the number picks the x32 table or the x86_64 one.
        nrs.retain(|nr| match abi {
            Abi::X32 => nr & X32_SYSCALL_BIT != 0,
            Abi::X86_64 => nr & X32_SYSCALL_BIT == 0,
            Abi::I386 => true,
        });
        for nr in nrs {
            for args in &argsets {
                assert_eq!(
                    run(f.program(), arch_of(*abi), nr, *args),
                    expected(&l, *abi, t, nr, args),
                    "{abi:?} nr {nr:#x} args {args:?}"
                );
            }
        }
    }
    (f, l)
}

/// Instructions run to answer `nr` (the tests' interpreter, counting).
fn steps(prog: &[sock_filter], arch: u32, nr: u32) -> usize {
    (1..=prog.len()).find(|&n| super::run_at_most(prog, arch, nr, [0; 6], n).is_some()).expect("the program returns")
}

#[test]
fn docker_like_lookups_are_a_short_search() {
    let (v, allowed, _) = docker_like();
    let (f, l) = check_every_number(v);
    // One jeq per name and ABI at first, then a jge and a ret per run of numbers (~entries / 2),
    // now one jge per run boundary and a pool of returns per tree.
    let entries: usize = l.tables.iter().map(|(_, t)| t.by_number().count()).sum();
    eprintln!("docker-like: {} instructions, {} entries, {} names", f.program().len(), entries, allowed.len());
    assert!(f.program().len() < entries / 3, "{} instructions for {} entries", f.program().len(), entries);
    for (abi, t) in &l.tables {
        let base = if *abi == Abi::X32 { X32_SYSCALL_BIT } else { 0 };
        let worst = (0..600).map(|n| steps(f.program(), arch_of(*abi), base + n)).max().unwrap();
        // The arch dispatch, about log2(runs) comparisons and the return; not one per name.
        assert!(worst <= 20, "{abi:?}: {worst} instructions for a lookup ({} entries)", t.by_number().count());
    }
}

#[test]
fn default_allow_with_a_few_denials() {
    check_every_number(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5},
            {"names": ["mount", "umount2"], "action": "SCMP_ACT_KILL"},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
        ]}));
}

#[test]
fn only_names_with_the_default_action_still_get_the_stub() {
    let (f, l) = check_every_number(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}]}));
    assert!(l.tables[0].1.entries.is_empty());
    assert_eq!(call(&f, "getpid", [0; 6]), errno(libc::EPERM));
    assert_eq!(run(f.program(), AUDIT_ARCH_X86_64, 400, [0; 6]), errno(libc::ENOSYS));
}

/// Every number its own run: a tree far longer than a conditional jump reaches.
#[test]
fn alternating_actions_need_long_jumps() {
    let names: Vec<&str> = syscall_tables::X86_64.iter().map(|(n, _)| *n).collect();
    let syscalls: Vec<Value> = names
        .iter()
        .map(|n| json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": 1 + nr(n) % 2}))
        .collect();
    let (f, _) = check_every_number(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": syscalls}));
    assert!(f.program().len() > 2 * 256, "{} instructions", f.program().len());
}

/// Every named syscall has argument rules, so each leaf of the search trees (pooled or not) is
/// a jump to a rule block, between runs of the default: every number still gets its answer.
#[test]
fn rule_blocks_on_every_leaf() {
    let names: Vec<&str> = syscall_tables::X86_64.iter().map(|(n, _)| *n).step_by(2).take(60).collect();
    let syscalls: Vec<Value> = names
        .iter()
        .enumerate()
        .flat_map(|(i, n)| {
            [
                json!({"names": [n], "action": "SCMP_ACT_ERRNO", "errnoRet": i + 1, "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}),
                json!({"names": [n], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_GE"}]}),
            ]
        })
        .collect();
    check_every_number(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"], "syscalls": syscalls}));
}
