//! The BPF code generator: a tiny classic-BPF assembler with forward labels ([`Asm`]) and
//! the emitter that lays out the program described in the module documentation of
//! `seccomp/mod.rs` (arch dispatch, per-ABI chunked tables, rule blocks).

use anyhow::{Result, anyhow};
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

type Label = usize;

#[derive(Clone, Copy)]
enum Tgt {
    Next,
    To(Label),
}

struct Insn {
    code: u16,
    k: u32,
    jt: Tgt,
    jf: Tgt,
    /// For `BPF_JA`: the target (its 32-bit offset goes in `k`).
    ja: Option<Label>,
}

/// A tiny classic-BPF assembler with forward labels.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        self.labels.len() - 1
    }
    fn bind(&mut self, l: Label) {
        debug_assert!(self.labels[l].is_none());
        self.labels[l] = Some(self.insns.len());
    }
    fn push(&mut self, code: u16, k: u32, jt: Tgt, jf: Tgt, ja: Option<Label>) {
        self.insns.push(Insn {
            code,
            k,
            jt,
            jf,
            ja,
        });
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
            let to =
                self.labels[l].ok_or_else(|| anyhow!("seccomp: internal error: unbound label"))?;
            to.checked_sub(at + 1)
                .ok_or_else(|| anyhow!("seccomp: internal error: backward jump"))
        };
        let short = |at: usize, t: Tgt| -> Result<u8> {
            match t {
                Tgt::Next => Ok(0),
                Tgt::To(l) => u8::try_from(target(at, l)?)
                    .map_err(|_| anyhow!("seccomp: internal error: conditional jump out of range")),
            }
        };
        let mut out = Vec::with_capacity(self.insns.len());
        for (at, i) in self.insns.iter().enumerate() {
            let k = match i.ja {
                Some(l) => u32::try_from(target(at, l)?)?,
                None => i.k,
            };
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

pub(super) fn emit(tables: &[(Abi, Table)], default: u32, enosys_stub: bool) -> Result<BpfProgram> {
    let get = |abi| tables.iter().find(|(a, _)| *a == abi).map(|(_, t)| t);
    let mut asm = Asm::default();

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
    emit_table(&mut asm, Abi::X86_64, x86_64, default, enosys_stub);
    if let Some(t) = x32 {
        asm.bind(l_x32);
        emit_table(&mut asm, Abi::X32, t, default, enosys_stub);
    }
    if let Some(t) = i386 {
        asm.bind(l_i386);
        asm.ld(OFF_NR);
        emit_table(&mut asm, Abi::I386, t, default, enosys_stub);
    }
    asm.finish()
}

enum Target {
    Ret(u32),
    Block(Label, Vec<Rule>),
}

/// Room for a chunk's `jeq`s plus its trampolines: keeps every conditional
/// jump of the chunk under 256.
const CHUNK_ROOM: usize = 250;

/// Emit the lookup for one ABI. The accumulator holds the syscall number.
fn emit_table(asm: &mut Asm, abi: Abi, table: &Table, default: u32, enosys_stub: bool) {
    if enosys_stub && let Some(max) = table.max_nr {
        let ok = asm.label();
        asm.jmp(BPF_JMP_JGT_K, max, Tgt::Next, Tgt::To(ok));
        asm.ret(SeccompAction::Errno(libc::ENOSYS as u32).into());
        asm.bind(ok);
    }

    // One target per syscall, sorted by number.
    let entries: Vec<(u32, Target)> = table
        .rules
        .iter()
        .map(|(&nr, rules)| {
            // Rules after an unconditional one can never match.
            let end = rules
                .iter()
                .position(|r| r.conds.is_empty())
                .map_or(rules.len(), |p| p + 1);
            let rules = &rules[..end];
            if rules.len() == 1 && rules[0].conds.is_empty() {
                (nr, Target::Ret(rules[0].ret))
            } else {
                (nr, Target::Block(asm.label(), rules.to_vec()))
            }
        })
        .collect();
    if entries.is_empty() {
        asm.ret(default);
        return;
    }

    // Split into chunks: a chunk's entries plus its distinct trampolines fit in CHUNK_ROOM.
    let mut chunks: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut rets: Vec<u32> = Vec::new();
        let mut blocks = 0;
        let mut end = start;
        while end < entries.len() {
            let (new_ret, new_block) = match &entries[end].1 {
                Target::Ret(r) => (usize::from(!rets.contains(r)), 0),
                Target::Block(..) => (0, 1),
            };
            if (end - start + 1) + rets.len() + new_ret + blocks + new_block > CHUNK_ROOM {
                break;
            }
            if new_ret == 1
                && let Target::Ret(r) = &entries[end].1
            {
                rets.push(*r);
            }
            blocks += new_block;
            end += 1;
        }
        chunks.push(start..end);
        start = end;
    }

    let n_chunks = chunks.len();
    for (ci, range) in chunks.into_iter().enumerate() {
        let chunk = &entries[range];
        let next_chunk = asm.label();
        if ci + 1 < n_chunks {
            let max = chunk.last().map(|(nr, _)| *nr).unwrap_or(0);
            asm.jmp(BPF_JMP_JGT_K, max, Tgt::To(next_chunk), Tgt::Next);
        }
        // Trampolines: one per distinct return value, one per block.
        let mut tramps: Vec<(Label, &Target)> = Vec::new();
        for (nr, target) in chunk {
            let existing = match target {
                Target::Ret(r) => tramps
                    .iter()
                    .find(|(_, t)| matches!(t, Target::Ret(x) if x == r))
                    .map(|(l, _)| *l),
                Target::Block(..) => None,
            };
            let l = existing.unwrap_or_else(|| {
                let l = asm.label();
                tramps.push((l, target));
                l
            });
            asm.jmp(BPF_JMP_JEQ_K, *nr, Tgt::To(l), Tgt::Next);
        }
        asm.ret(default);
        for (l, target) in tramps {
            asm.bind(l);
            match target {
                Target::Ret(r) => asm.ret(*r),
                Target::Block(b, _) => asm.ja(*b),
            }
        }
        asm.bind(next_chunk);
    }

    // Blocks: rules in config order, first match wins.
    for (_, target) in &entries {
        let Target::Block(l, rules) = target else {
            continue;
        };
        asm.bind(*l);
        for rule in rules {
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
