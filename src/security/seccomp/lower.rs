//! From a parsed profile to per-ABI tables of syscall numbers ([`Lowered`]): actions and
//! errnos checked, argument conditions translated, names resolved. `asm::emit` lays the
//! tables out as BPF.

use anyhow::{Result, bail};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};
use seccompiler::SeccompAction;

use super::{Abi, Cond, FLAG_LOG, FLAG_NEW_LISTENER, FLAG_SPEC_ALLOW, FLAG_WAIT_KILLABLE_RECV, Op, Rule, Table, action_value};

/// A profile checked and resolved to syscall numbers, per ABI: what `asm::emit` turns into BPF.
pub(super) struct Lowered {
    pub(super) tables: Vec<(Abi, Table)>,
    /// What the tables' entries point at: each config entry's rules (one, or one per
    /// condition when an argument index repeats), shared by its names on every ABI.
    pub(super) rules: Vec<Rule>,
    /// The default action's return value.
    pub(super) default: u32,
    /// runc's -ENOSYS for numbers above the largest each table names (see seccomp/mod.rs).
    pub(super) enosys_stub: bool,
    pub(super) flags: u32,
    pub(super) needs_listener: bool,
    pub(super) skipped_syscalls: Vec<String>,
    pub(super) ignored_architectures: Vec<Arch>,
}

pub(super) fn lower(seccomp: &LinuxSeccomp) -> Result<Lowered> {
    if !cfg!(target_arch = "x86_64") {
        bail!("linux.seccomp: only x86_64 hosts are supported");
    }
    const P: &str = "linux.seccomp";
    let default_action = seccomp.default_action();
    if default_action == LinuxSeccompAction::ScmpActNotify {
        bail!("{P}.defaultAction: SCMP_ACT_NOTIFY cannot be used as the default action");
    }
    let default = action_value(
        default_action,
        seccomp.default_errno_ret(),
        &format!("{P}.defaultErrnoRet"),
    )?;

    // Architectures: the native x86_64 is always there.
    let mut abis = vec![Abi::X86_64];
    let mut ignored_architectures = Vec::new();
    for arch in seccomp.architectures().iter().flatten() {
        let abi = match arch {
            Arch::ScmpArchNative | Arch::ScmpArchX86_64 => Abi::X86_64,
            Arch::ScmpArchX86 => Abi::I386,
            Arch::ScmpArchX32 => Abi::X32,
            other => {
                if !ignored_architectures.contains(other) {
                    ignored_architectures.push(*other);
                }
                continue;
            }
        };
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }

    let mut flags = 0;
    let mut wait_killable = false;
    for flag in seccomp.flags().iter().flatten() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => flags |= FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => flags |= FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => wait_killable = true,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {}
        }
    }

    // Fresh memory is most of the cost: compiling runs once per process, and each page it
    // touches first is a page fault (~2 us on the build host). Entries are pairs of numbers in
    // one vector per ABI, sized once and sorted in place; with a map of vectors of rules, a
    // create with podman's profile took 46 more faults and ~130 us more.
    let names: usize = seccomp.syscalls().iter().flatten().map(|sc| sc.names().len()).sum();
    let mut tables: Vec<(Abi, Table)> = abis.iter().map(|&a| (a, Table { entries: Vec::with_capacity(names), max_nr: None })).collect();
    let mut rules: Vec<Rule> = Vec::new();
    let mut cursors = vec![0usize; tables.len()];
    let mut skipped_syscalls: Vec<String> = Vec::new();
    let mut needs_listener = false;
    for (i, sc) in seccomp.syscalls().iter().flatten().enumerate() {
        let path = format!("{P}.syscalls[{i}]");
        let ret = action_value(sc.action(), sc.errno_ret(), &format!("{path}.errnoRet"))?;
        let is_notify = sc.action() == LinuxSeccompAction::ScmpActNotify;
        needs_listener |= is_notify;

        let mut conds = Vec::new();
        let mut per_index = [0usize; 6];
        for (j, arg) in sc.args().iter().flatten().enumerate() {
            let index = arg.index();
            if index > 5 {
                bail!("{path}.args[{j}].index: {index} is out of range (0-5)");
            }
            per_index[index] += 1;
            let op = match arg.op() {
                LinuxSeccompOperator::ScmpCmpNe => Op::Ne,
                LinuxSeccompOperator::ScmpCmpLt => Op::Lt,
                LinuxSeccompOperator::ScmpCmpLe => Op::Le,
                LinuxSeccompOperator::ScmpCmpEq => Op::Eq,
                LinuxSeccompOperator::ScmpCmpGe => Op::Ge,
                LinuxSeccompOperator::ScmpCmpGt => Op::Gt,
                LinuxSeccompOperator::ScmpCmpMaskedEq => Op::MaskedEq,
            };
            conds.push(Cond {
                index: index as u32,
                op,
                value: arg.value(),
                value_two: arg.value_two().unwrap_or(0),
            });
        }
        // runc: same argument index used twice -> every condition is its own rule.
        let first = rules.len() as u32;
        if per_index.iter().any(|&n| n > 1) {
            rules.extend(conds.into_iter().map(|c| Rule { conds: vec![c], ret }));
        } else {
            rules.push(Rule { conds, ret });
        }
        let these = first..rules.len() as u32;

        for (k, name) in sc.names().iter().enumerate() {
            if name.is_empty() {
                bail!("{path}.names[{k}]: empty syscall name");
            }
            if is_notify && name == "write" {
                bail!("{path}.action: SCMP_ACT_NOTIFY cannot be used for the write syscall");
            }
            let mut known = false;
            for ((abi, table), cursor) in tables.iter_mut().zip(cursors.iter_mut()) {
                let Some(nr) = abi.resolve_near(name, cursor) else {
                    continue;
                };
                known = true;
                table.max_nr = table.max_nr.max(Some(nr));
                if ret != default {
                    table.entries.extend(these.clone().map(|r| (nr, r)));
                }
            }
            if !known && !skipped_syscalls.contains(name) {
                skipped_syscalls.push(name.clone());
            }
        }
    }
    for (_, table) in &mut tables {
        // By number, then rule index: a syscall's rules stay in config order (the first match
        // wins). In place: a stable sort would take a scratch buffer as large.
        table.entries.sort_unstable();
    }
    if needs_listener {
        flags |= FLAG_NEW_LISTENER;
        if wait_killable {
            flags |= FLAG_WAIT_KILLABLE_RECV;
        }
    }

    use LinuxSeccompAction as A;
    let enosys_stub = !matches!(
        default_action,
        A::ScmpActAllow | A::ScmpActLog | A::ScmpActTrace
    ) && default != u32::from(SeccompAction::Errno(libc::ENOSYS as u32));
    Ok(Lowered {
        tables,
        rules,
        default,
        enosys_stub,
        flags,
        needs_listener,
        skipped_syscalls,
        ignored_architectures,
    })
}
