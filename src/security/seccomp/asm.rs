//! The BPF code generator: a tiny classic-BPF assembler with forward labels ([`Asm`]) and
//! the emitter that lays out the program described in the module documentation of
//! `seccomp/mod.rs` (arch dispatch, a search tree per ABI, rule blocks).

use anyhow::{Result, anyhow, bail};
use seccompiler::{BpfProgram, SeccompAction, sock_filter};

use super::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, Abi, Cond, Op, Rule, Table, X32_SYSCALL_BIT};

// Classic BPF opcodes (linux/bpf_common.h).
pub(super) const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub(super) const BPF_ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub(super) const BPF_JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub(super) const BPF_JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
pub(super) const BPF_JMP_JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
pub(super) const BPF_JMP_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
pub(super) const BPF_JMP_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
pub(super) const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

// struct seccomp_data offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// Return value for a syscall from an ABI that is not in the filter
/// (libseccomp's default bad-arch action `SCMP_ACT_KILL`).
const RET_BAD_ARCH: u32 = libc::SECCOMP_RET_KILL_THREAD;

type Label = u32;

/// A conditional jump's target.
#[derive(Clone, Copy)]
enum Tgt {
    Next,
    To(Label),
}

/// No label: the next instruction (jt, jf), no jump (ja), not yet bound (labels).
const NONE: u32 = u32::MAX;

/// An instruction before its jumps are resolved. Targets are u32 labels with NONE for "the
/// next instruction", not `Tgt`s and `Option`s: 20 bytes instead of 56, and what the assembler
/// writes is fresh memory, a page fault per 4 KiB.
struct Insn {
    code: u16,
    k: u32,
    /// Labels, or NONE for the next instruction.
    jt: u32,
    jf: u32,
    /// For `BPF_JA`: the target label (its 32-bit offset goes in `k`), else NONE.
    ja: u32,
}

/// A tiny classic-BPF assembler with forward labels.
struct Asm {
    insns: Vec<Insn>,
    /// Each label's instruction, or NONE while unbound.
    labels: Vec<u32>,
}

impl Asm {
    /// Room for about `insns` instructions, reserved once: growing would copy what was
    /// written into more fresh memory.
    fn with_capacity(insns: usize) -> Asm {
        Asm { insns: Vec::with_capacity(insns), labels: Vec::with_capacity(insns / 2) }
    }
    fn label(&mut self) -> Label {
        self.labels.push(NONE);
        (self.labels.len() - 1) as Label
    }
    fn bind(&mut self, l: Label) {
        debug_assert!(self.labels[l as usize] == NONE);
        self.labels[l as usize] = self.insns.len() as u32;
    }
    fn push(&mut self, code: u16, k: u32, jt: Tgt, jf: Tgt, ja: Option<Label>) {
        let label = |t: Tgt| match t {
            Tgt::Next => NONE,
            Tgt::To(l) => l,
        };
        self.insns.push(Insn { code, k, jt: label(jt), jf: label(jf), ja: ja.unwrap_or(NONE) });
    }
    fn ld(&mut self, off: u32) {
        self.push(BPF_LD_W_ABS, off, Tgt::Next, Tgt::Next, None);
    }
    fn and(&mut self, k: u32) {
        self.push(BPF_ALU_AND_K, k, Tgt::Next, Tgt::Next, None);
    }
    fn jmp(&mut self, code: u16, k: u32, jt: Tgt, jf: Tgt) {
        self.push(code, k, jt, jf, None);
    }
    fn ja(&mut self, l: Label) {
        self.push(BPF_JMP_JA, 0, Tgt::Next, Tgt::Next, Some(l));
    }
    fn ret(&mut self, k: u32) {
        self.push(BPF_RET_K, k, Tgt::Next, Tgt::Next, None);
    }

    fn finish(self) -> Result<BpfProgram> {
        let target = |at: usize, l: Label| -> Result<usize> {
            let to = self.labels[l as usize];
            if to == NONE {
                bail!("seccomp: internal error: unbound label");
            }
            (to as usize).checked_sub(at + 1).ok_or_else(|| anyhow!("seccomp: internal error: backward jump"))
        };
        let short = |at: usize, l: u32| -> Result<u8> {
            if l == NONE {
                return Ok(0);
            }
            u8::try_from(target(at, l)?).map_err(|_| anyhow!("seccomp: internal error: conditional jump out of range"))
        };
        let mut out = Vec::with_capacity(self.insns.len());
        for (at, i) in self.insns.iter().enumerate() {
            let k = if i.ja == NONE { i.k } else { u32::try_from(target(at, i.ja)?)? };
            out.push(sock_filter {
                code: i.code,
                jt: short(at, i.jt)?,
                jf: short(at, i.jf)?,
                k,
            });
        }
        Ok(out)
    }
}

pub(super) fn emit(tables: &[(Abi, Table)], rules: &[Rule], default: u32, enosys_stub: bool) -> Result<BpfProgram> {
    let get = |abi| tables.iter().find(|(a, _)| *a == abi).map(|(_, t)| t);
    // At most two runs per entry (its own and a gap of default numbers before it; neighbours
    // with one action merge) and about one instruction per run, the conditions' and the
    // dispatch's on top.
    let entries: usize = tables.iter().map(|(_, t)| t.entries.len()).sum();
    let conds: usize = rules.iter().map(|r| r.conds.len()).sum();
    let mut asm = Asm::with_capacity(2 * entries + 8 * conds + 64);

    // Architecture dispatch.
    let l_x86_64 = asm.label();
    let l_i386 = asm.label();
    asm.ld(OFF_ARCH);
    let not_x86_64 = asm.label();
    asm.jmp(
        BPF_JMP_JEQ_K,
        AUDIT_ARCH_X86_64,
        Tgt::Next,
        Tgt::To(not_x86_64),
    );
    asm.ja(l_x86_64);
    asm.bind(not_x86_64);
    let i386 = get(Abi::I386);
    if i386.is_some() {
        let not_i386 = asm.label();
        asm.jmp(BPF_JMP_JEQ_K, AUDIT_ARCH_I386, Tgt::Next, Tgt::To(not_i386));
        asm.ja(l_i386);
        asm.bind(not_i386);
    }
    asm.ret(RET_BAD_ARCH);

    // AUDIT_ARCH_X86_64: x86_64, or x32 when bit 30 of nr is set.
    asm.bind(l_x86_64);
    asm.ld(OFF_NR);
    let l_64 = asm.label();
    asm.jmp(BPF_JMP_JSET_K, X32_SYSCALL_BIT, Tgt::Next, Tgt::To(l_64));
    let x32 = get(Abi::X32);
    let l_x32 = asm.label();
    if x32.is_some() {
        asm.ja(l_x32);
    } else {
        let bad = asm.label();
        asm.jmp(BPF_JMP_JEQ_K, u32::MAX, Tgt::Next, Tgt::To(bad));
        asm.ret(default);
        asm.bind(bad);
        asm.ret(RET_BAD_ARCH);
    }
    asm.bind(l_64);
    let x86_64 =
        get(Abi::X86_64).ok_or_else(|| anyhow!("seccomp: internal error: no x86_64 table"))?;
    let blocks = emit_table(&mut asm, x86_64, rules, default, enosys_stub);
    emit_blocks(&mut asm, Abi::X86_64, &blocks, rules, default);
    if let Some(t) = x32 {
        asm.bind(l_x32);
        let blocks = emit_table(&mut asm, t, rules, default, enosys_stub);
        emit_blocks(&mut asm, Abi::X32, &blocks, rules, default);
    }
    if let Some(t) = i386 {
        asm.bind(l_i386);
        asm.ld(OFF_NR);
        let blocks = emit_table(&mut asm, t, rules, default, enosys_stub);
        emit_blocks(&mut asm, Abi::I386, &blocks, rules, default);
    }
    asm.finish()
}

/// What one syscall number of a table leads to.
#[derive(Clone, Copy, PartialEq)]
enum Act {
    Ret(u32),
    /// The block holding the syscall's rules (argument conditions, or several entries).
    Block(Label),
}

/// The largest conditional jump: its offset is 8 bits.
const MAX_SHORT: usize = 255;

/// Emit the lookup for one ABI. The accumulator holds the syscall number.
///
/// The table becomes runs: every u32 syscall number falls in exactly one run (start, action),
/// neighbours with the same action merged (an allow list is mostly long runs of allowed
/// numbers between a few denied ones). A balanced search tree of `jge` over the runs' starts
/// finds the run: a lookup costs about log2(runs) comparisons, and the program has about one
/// instruction per run (plus a pool of one per action, see [`emit_runs`]), not one per
/// syscall. The kernel JIT-compiles the program at every seccomp(2) (for the init and each
/// exec), at a cost that grows with its length.
fn emit_table<'t>(asm: &mut Asm, table: &'t Table, rules: &[Rule], default: u32, enosys_stub: bool) -> Vec<(Label, &'t [(u32, u32)])> {
    let mut blocks: Vec<(Label, &[(u32, u32)])> = Vec::new();
    let mut runs: Vec<(u32, Act)> = Vec::with_capacity(2 * table.entries.len() + 2);
    let push = |runs: &mut Vec<(u32, Act)>, start: u64, act: Act| {
        if start <= u64::from(u32::MAX) && runs.last().map(|r| r.1) != Some(act) {
            runs.push((start as u32, act));
        }
    };
    let rule = |e: &(u32, u32)| &rules[e.1 as usize];
    // The first number not yet in a run.
    let mut next: u64 = 0;
    for (nr, entries) in table.by_number() {
        // Rules after an unconditional one can never match.
        let end = entries.iter().position(|e| rule(e).conds.is_empty()).map_or(entries.len(), |p| p + 1);
        let entries = &entries[..end];
        let act = match entries {
            [e] if rule(e).conds.is_empty() => Act::Ret(rule(e).ret),
            _ => {
                let l = asm.label();
                blocks.push((l, entries));
                Act::Block(l)
            }
        };
        if u64::from(nr) > next {
            push(&mut runs, next, Act::Ret(default));
        }
        push(&mut runs, u64::from(nr), act);
        next = u64::from(nr) + 1;
    }
    // runc's -ENOSYS stub: numbers above the largest the profile names.
    let stub_from = table.max_nr.filter(|_| enosys_stub).map(|max| u64::from(max) + 1);
    if stub_from.is_none_or(|s| next < s) {
        push(&mut runs, next, Act::Ret(default));
    }
    if let Some(s) = stub_from {
        push(&mut runs, s, Act::Ret(SeccompAction::Errno(libc::ENOSYS as u32).into()));
    }
    emit_runs(asm, &runs);
    blocks
}

/// The search tree over `runs` (sorted by start, the first starting at or below any number
/// that reaches it).
///
/// A tree of at most 255 instructions, pool included (runs - 1 + distinct actions), is
/// pooled: its leaves are not instructions but jump targets, one return (or `ja` to a rule
/// block) per distinct action placed right after the tree, so the tree is one `jge` per run
/// boundary instead of a `jge` and a `ret` per run: about 40% fewer instructions for the
/// engines' default profile, and the kernel's JIT at every seccomp(2) costs about the
/// length. A longer tree splits at its root as before.
fn emit_runs(asm: &mut Asm, runs: &[(u32, Act)]) {
    if let [(_, act)] = runs {
        emit_leaf(asm, *act);
        return;
    }
    if let Some(acts) = pool_of(runs) {
        let pool: Vec<(Act, Label)> = acts.into_iter().map(|a| (a, asm.label())).collect();
        emit_pooled(asm, runs, &pool);
        for &(act, l) in &pool {
            asm.bind(l);
            emit_leaf(asm, act);
        }
        return;
    }
    let (below, above) = runs.split_at(runs.len() / 2);
    let to_above = asm.label();
    if tree_len(below) <= MAX_SHORT {
        asm.jmp(BPF_JMP_JGE_K, above[0].0, Tgt::To(to_above), Tgt::Next);
    } else {
        let to_below = asm.label();
        asm.jmp(BPF_JMP_JGE_K, above[0].0, Tgt::Next, Tgt::To(to_below));
        asm.ja(to_above);
        asm.bind(to_below);
    }
    emit_runs(asm, below);
    asm.bind(to_above);
    emit_runs(asm, above);
}

/// A run's action as one instruction: its return, or the jump to its rule block.
fn emit_leaf(asm: &mut Asm, act: Act) {
    match act {
        Act::Ret(r) => asm.ret(r),
        Act::Block(l) => asm.ja(l),
    }
}

/// The pool of a tree over `runs` (its distinct actions, in order of first appearance), or
/// None when the tree is too long to pool. A pooled tree is `runs - 1` jumps then one
/// instruction per action; at most MAX_SHORT of them in all keeps every jump, which lands
/// inside them, within the 8-bit offset.
fn pool_of(runs: &[(u32, Act)]) -> Option<Vec<Act>> {
    if runs.len() > MAX_SHORT {
        return None;
    }
    let mut acts: Vec<Act> = Vec::new();
    for &(_, a) in runs {
        if !acts.contains(&a) {
            acts.push(a);
            if runs.len() - 1 + acts.len() > MAX_SHORT {
                return None;
            }
        }
    }
    Some(acts)
}

/// One `jge` per inner node; a side that is a single run is a jump into `pool`, a longer one
/// follows inline (the lower side first, the upper after it).
fn emit_pooled(asm: &mut Asm, runs: &[(u32, Act)], pool: &[(Act, Label)]) {
    let (below, above) = runs.split_at(runs.len() / 2);
    let leaf = |side: &[(u32, Act)]| match side {
        [(_, act)] => Some(pool.iter().find(|(a, _)| a == act).expect("the pool holds every action of its tree").1),
        _ => None,
    };
    let (below_leaf, above_leaf) = (leaf(below), leaf(above));
    let to_above = (below_leaf.is_none() && above_leaf.is_none()).then(|| asm.label());
    let jt = match above_leaf.or(to_above) {
        Some(l) => Tgt::To(l),
        None => Tgt::Next,
    };
    let jf = below_leaf.map_or(Tgt::Next, Tgt::To);
    asm.jmp(BPF_JMP_JGE_K, above[0].0, jt, jf);
    if below_leaf.is_none() {
        emit_pooled(asm, below, pool);
    }
    if let Some(l) = to_above {
        asm.bind(l);
    }
    if above_leaf.is_none() {
        emit_pooled(asm, above, pool);
    }
}

/// How many instructions [`emit_runs`] emits for `runs`.
fn tree_len(runs: &[(u32, Act)]) -> usize {
    if runs.len() <= 1 {
        return runs.len();
    }
    if let Some(acts) = pool_of(runs) {
        return runs.len() - 1 + acts.len();
    }
    let (below, above) = runs.split_at(runs.len() / 2);
    let b = tree_len(below);
    let jump = if b <= MAX_SHORT { 1 } else { 2 };
    jump + b + tree_len(above)
}

/// Emit each syscall's rules, in config order (first match wins), then the default.
fn emit_blocks(asm: &mut Asm, abi: Abi, blocks: &[(Label, &[(u32, u32)])], rules: &[Rule], default: u32) {
    for &(l, entries) in blocks {
        asm.bind(l);
        for &(_, r) in entries {
            let rule = &rules[r as usize];
            let fail = asm.label();
            for c in &rule.conds {
                emit_cond(asm, abi, c, fail);
            }
            asm.ret(rule.ret);
            asm.bind(fail);
        }
        asm.ret(default);
    }
}

/// Emit one argument condition: falls through when it holds, jumps to `fail`
/// otherwise. Clobbers the accumulator.
fn emit_cond(asm: &mut Asm, abi: Abi, c: &Cond, fail: Label) {
    let lo_off = OFF_ARGS + 8 * c.index;
    let hi_off = lo_off + 4;
    let (v_hi, v_lo) = ((c.value >> 32) as u32, c.value as u32);
    let f = Tgt::To(fail);
    let n = Tgt::Next;

    if c.op == Op::MaskedEq {
        let datum = c.value_two & c.value;
        let half = |asm: &mut Asm, off: u32, mask: u32, datum: u32| {
            if mask == 0 {
                return; // (x & 0) == (d & 0): always true
            }
            asm.ld(off);
            if mask != u32::MAX {
                asm.and(mask);
            }
            asm.jmp(BPF_JMP_JEQ_K, datum, n, f);
        };
        if !abi.is_32bit() {
            half(asm, hi_off, v_hi, (datum >> 32) as u32);
        }
        half(asm, lo_off, v_lo, datum as u32);
        return;
    }

    if abi.is_32bit() {
        asm.ld(lo_off);
        let (code, jt, jf) = match c.op {
            Op::Eq => (BPF_JMP_JEQ_K, n, f),
            Op::Ne => (BPF_JMP_JEQ_K, f, n),
            Op::Gt => (BPF_JMP_JGT_K, n, f),
            Op::Ge => (BPF_JMP_JGE_K, n, f),
            Op::Lt => (BPF_JMP_JGE_K, f, n),
            Op::Le => (BPF_JMP_JGT_K, f, n),
            Op::MaskedEq => unreachable!(),
        };
        asm.jmp(code, v_lo, jt, jf);
        return;
    }

    // Unsigned 64-bit comparison, high half first.
    let pass = asm.label();
    let p = Tgt::To(pass);
    asm.ld(hi_off);
    match c.op {
        Op::Eq => {
            asm.jmp(BPF_JMP_JEQ_K, v_hi, n, f);
            asm.ld(lo_off);
            asm.jmp(BPF_JMP_JEQ_K, v_lo, n, f);
        }
        Op::Ne => {
            asm.jmp(BPF_JMP_JEQ_K, v_hi, n, p);
            asm.ld(lo_off);
            asm.jmp(BPF_JMP_JEQ_K, v_lo, f, n);
        }
        Op::Gt | Op::Ge => {
            asm.jmp(BPF_JMP_JGT_K, v_hi, p, n);
            asm.jmp(BPF_JMP_JEQ_K, v_hi, n, f);
            asm.ld(lo_off);
            let code = if c.op == Op::Gt {
                BPF_JMP_JGT_K
            } else {
                BPF_JMP_JGE_K
            };
            asm.jmp(code, v_lo, n, f);
        }
        Op::Lt | Op::Le => {
            asm.jmp(BPF_JMP_JGT_K, v_hi, f, n);
            asm.jmp(BPF_JMP_JEQ_K, v_hi, n, p);
            asm.ld(lo_off);
            // lt: fail if lo >= v; le: fail if lo > v
            let code = if c.op == Op::Lt {
                BPF_JMP_JGE_K
            } else {
                BPF_JMP_JGT_K
            };
            asm.jmp(code, v_lo, f, n);
        }
        Op::MaskedEq => unreachable!(),
    }
    asm.bind(pass);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trees of runs around the pooling limit (a pooled tree's jumps reach its pool; a longer
    /// one splits), with few actions or each run its own, as returns or as jumps to rule
    /// blocks: every number gets its run's action, and `tree_len` is what is emitted.
    #[test]
    fn pooled_trees_answer_every_number_at_any_size() {
        for n in [2usize, 3, 4, 100, 127, 128, 129].into_iter().chain(240..=300).chain([511, 700]) {
            for distinct in [2, 3, 5, n] {
                for blocks in [false, true] {
                    let case = format!("{n} runs, {distinct} actions, blocks {blocks}");
                    let mut asm = Asm::with_capacity(2 * n);
                    let labels: Vec<Label> = (0..distinct).map(|_| asm.label()).collect();
                    let act = |j: usize| if blocks { Act::Block(labels[j]) } else { Act::Ret(100 + j as u32) };
                    let runs: Vec<(u32, Act)> = (0..n).map(|i| (3 * i as u32, act(i % distinct))).collect();
                    asm.ld(OFF_NR);
                    emit_runs(&mut asm, &runs);
                    let tree = asm.insns.len() - 1;
                    if blocks {
                        for (j, &l) in labels.iter().enumerate() {
                            asm.bind(l);
                            asm.ret(100 + j as u32);
                        }
                    }
                    let prog = asm.finish().unwrap_or_else(|e| panic!("{case}: {e}"));
                    crate::security::seccomp::tests::validate(&prog);
                    assert_eq!(tree, tree_len(&runs), "{case}");
                    for nr in 0..3 * n as u32 + 3 {
                        let want = 100 + ((nr / 3) as usize).min(n - 1) % distinct;
                        assert_eq!(crate::security::seccomp::tests::run(&prog, 0, nr, [0; 6]), want as u32, "{case}, nr {nr}");
                    }
                }
            }
        }
    }
}
