//! Seccomp: compile an OCI `linux.seccomp` section into a classic-BPF program
//! (in the parent, before fork) and install it (in the container's init).
//!
//! Pure Rust, no libseccomp, so the binary can stay static.
//!
//! # What seccompiler is used for, and why the rest is our own
//!
//! From `seccompiler` we use the BPF instruction type ([`seccompiler::sock_filter`],
//! `#[repr(C)]`, layout-identical to the kernel's `struct sock_filter`, handed
//! to seccomp(2) as is) and [`seccompiler::SeccompAction`]'s conversion to the
//! kernel's `SECCOMP_RET_*` return values for every action it knows.
//!
//! Its `SeccompFilter` compiler is not used. A `SeccompFilter` has one
//! match action and one mismatch action for the whole filter, while an OCI
//! profile gives each syscall entry its own action and errno. It has no
//! `SECCOMP_RET_USER_NOTIF`. It knows one architecture per filter, not the
//! x86_64 + x86 + x32 mix that docker's profile asks for. Its syscall
//! table is private. So the code generator (`seccomp/asm.rs`) is our own: a small
//! assembler with labels, plus the layout described next.
//!
//! # Program layout
//!
//! ```text
//!   ld arch; jeq AUDIT_ARCH_X86_64 -> ja X86_64; [jeq AUDIT_ARCH_I386 -> ja I386]; ret BADARCH
//! X86_64:
//!   ld nr; jset X32_SYSCALL_BIT -> (ja X32 | ret BADARCH, or ret default for nr == -1)
//!   <table x86_64>
//! X32:  <table x32>     (only when SCMP_ARCH_X32 is listed)
//! I386: ld nr; <table i386> (only when SCMP_ARCH_X86 is listed)
//!
//! table:
//!   runs: every number from 0 to 2^32-1 falls in one run [start, next start) with one
//!   action: a syscall's action (ret ACTION, or ja BLOCK), the default between named
//!   numbers, and runc's -ENOSYS stub above the largest one named (see below); neighbours
//!   with the same action are one run.
//!   tree: jge start_of_the_upper_half -> upper tree; lower tree (a `ja` hops over a lower
//!   tree too long for the 8-bit offset); a single run is its action. A tree of at most 255
//!   instructions, pool included (runs - 1 + distinct actions), is pooled: a side that is a
//!   single run is a jump to its action's one instruction (ret ACTION or ja BLOCK) in a pool
//!   placed right after the tree, so the tree is one `jge` per run boundary.
//!   BLOCK (one per syscall that has argument conditions or several entries):
//!     rule*: conditions (each one jumps to the next rule on mismatch); ret ACTION
//!     ret default
//! ```
//!
//! A lookup costs about log2(runs) comparisons, and the program about one instruction per
//! run: a docker-like profile is ~310 instructions (~500 with a `ret` per run, ~1,260 with
//! one `jeq` per syscall and ABI), answered in at most ~20. The length matters at every
//! seccomp(2), which JIT-compiles the program: for the init and for each exec. Conditional
//! jumps have 8-bit offsets, so they only ever go inside one tree of at most 255 instructions
//! or inside one rule (at most 6 conditions of at most 8 instructions); every longer jump is
//! a `BPF_JA` with a 32-bit offset, so offsets cannot overflow whatever the profile's size.
//!
//! # Semantics (as runc + libseccomp, unless said otherwise)
//!
//! * Actions: `SCMP_ACT_KILL` = `KILL_THREAD`. `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE`
//!   use `errnoRet` (`defaultErrnoRet` for the default action), or EPERM when it is
//!   absent. `errnoRet` > 65535 is rejected, as it cannot be encoded in
//!   `SECCOMP_RET_DATA` (libseccomp would truncate it). `SCMP_ACT_NOTIFY` is
//!   rejected as the default action and for `write`, as runc does.
//! * A rule whose action (with its errno) equals the default action is dropped
//!   (runc skips it because libseccomp refuses it). Its names still count for
//!   the -ENOSYS stub.
//! * Several entries naming one syscall are alternatives. The first one whose
//!   conditions match, in config order, wins. This is not exactly libseccomp,
//!   which merges rules into a decision tree. The two agree except when rules with
//!   different actions overlap, and libseccomp refuses or reorders some of those.
//! * `args` of one entry are ANDed. runc quirk, mirrored: if two or more `args`
//!   of one entry use the same argument `index`, runc adds every condition of
//!   that entry as a separate rule. So all its conditions are ORed.
//! * 64-bit arguments are compared on both 32-bit halves, as exact unsigned
//!   64-bit comparisons. For the 32-bit ABIs (x86, and x32, which libseccomp also
//!   treats as 32-bit) only the low half is compared, against the low half of
//!   the value, as libseccomp does.
//! * `SCMP_CMP_MASKED_EQ`: `(arg & value) == (valueTwo & value)`. libseccomp masks
//!   the datum too. A missing `valueTwo` is 0.
//! * Architectures: the native x86_64 is always in the filter (libseccomp's
//!   `seccomp_init` adds it). `SCMP_ARCH_X86` adds the i386 ABI, and `SCMP_ARCH_X32`
//!   the x32 ABI (same `AUDIT_ARCH_X86_64`, syscall numbers with bit 30 set).
//!   Any other architecture in the list is ignored, and reported in
//!   [`CompiledFilter::ignored_architectures`]: an x86_64 kernel never reports
//!   such an arch in `seccomp_data.arch`, so its checks would be dead code.
//!   A syscall from an ABI not in the filter gets libseccomp's default
//!   "bad arch" action, `SCMP_ACT_KILL` (kill thread), which runc keeps. One
//!   exception: nr == -1 on x86_64 without x32 gets the default action, because
//!   tracers use -1 to skip a syscall.
//! * The -ENOSYS stub (runc's `patchbpf`): unless the default action is ALLOW, LOG
//!   or TRACE, a syscall whose number is greater than the largest number the
//!   profile names for that ABI gets `ERRNO(ENOSYS)` instead of the default. So
//!   newer syscalls (e.g. clone3 on an old profile) make libc fall back, instead
//!   of failing with EPERM.
//! * Syscall names unknown to every ABI of the filter are skipped. They are
//!   returned in [`CompiledFilter::skipped_syscalls`] for the caller to log. On
//!   i386, only direct syscall numbers are matched. The `socketcall(2)`/`ipc(2)`
//!   multiplexed forms are matched only by the names `socketcall`/`ipc`.
//!   libseccomp would also rewrite e.g. `socket` into `socketcall` with an
//!   argument condition. The name tables (`seccomp/syscall_tables.rs`) are
//!   generated by `seccomp/gen_syscall_tables.py` from the kernel UAPI headers,
//!   plus syscalls up to Linux 6.19. A test checks the x86_64 table against `libc::SYS_*`.
//! * Flags: `SECCOMP_FILTER_FLAG_LOG`, `SECCOMP_FILTER_FLAG_SPEC_ALLOW` and
//!   `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` are passed to seccomp(2).
//!   `WAIT_KILLABLE_RECV` is passed only when there is a notify listener: the
//!   kernel refuses it otherwise. `SECCOMP_FILTER_FLAG_TSYNC` is accepted and
//!   ignored, as runc does, because init is single-threaded.
//!   `SECCOMP_FILTER_FLAG_NEW_LISTENER` is added when an entry uses `SCMP_ACT_NOTIFY`,
//!   as runc does, even if none of its names is known.
//! * No-new-privileges is not set here. The runtime sets it if
//!   `process.noNewPrivileges` is set. Without it, installing needs
//!   CAP_SYS_ADMIN.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use seccompiler::{BpfProgram, SeccompAction, sock_filter};

use asm::emit;
use lower::lower;
pub use install::{install, install_detailed, Installed};

mod asm;
pub mod features;
mod install;
mod lower;
pub mod saved;
mod syscall_tables;
#[cfg(test)]
mod tests;

/// The kernel's limit on the length of a classic BPF program (`BPF_MAXINSNS`).
pub const BPF_MAXINSNS: usize = 4096;

const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const FLAG_LOG: u32 = libc::SECCOMP_FILTER_FLAG_LOG as u32;
const FLAG_SPEC_ALLOW: u32 = libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW as u32;
const FLAG_NEW_LISTENER: u32 = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32;
const FLAG_WAIT_KILLABLE_RECV: u32 = libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u32;
/// Flags [`install`] drops (newest first) when the kernel refuses them with EINVAL:
/// they only add logging, lift a mitigation, or make notify waits killable.
const OPTIONAL_FLAGS: [u32; 3] = [FLAG_WAIT_KILLABLE_RECV, FLAG_SPEC_ALLOW, FLAG_LOG];

/// A compiled seccomp filter, ready for [`install`].
#[derive(Clone, Debug)]
pub struct CompiledFilter {
    program: BpfProgram,
    flags: u32,
    needs_listener: bool,
    skipped_syscalls: Vec<String>,
    ignored_architectures: Vec<Arch>,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
}

impl CompiledFilter {
    /// The BPF program.
    pub fn program(&self) -> &[sock_filter] {
        &self.program
    }
    /// `SECCOMP_FILTER_FLAG_*` bits passed to seccomp(2), including
    /// `NEW_LISTENER` when [`Self::needs_listener`].
    pub fn flags(&self) -> u32 {
        self.flags
    }
    /// True when a rule uses `SCMP_ACT_NOTIFY`. [`install`] then returns the
    /// notify fd, for the runtime to send to `listener_path`.
    pub fn needs_listener(&self) -> bool {
        self.needs_listener
    }
    /// Syscall names that no ABI of the filter knows, skipped (in config order,
    /// each once). The runtime debug-logs them.
    pub fn skipped_syscalls(&self) -> &[String] {
        &self.skipped_syscalls
    }
    /// Architectures of `linux.seccomp.architectures` that cannot occur on an
    /// x86_64 kernel and were therefore left out of the filter.
    pub fn ignored_architectures(&self) -> &[Arch] {
        &self.ignored_architectures
    }
    /// `linux.seccomp.listenerPath`, carried for the runtime.
    pub fn listener_path(&self) -> Option<&std::path::Path> {
        self.listener_path.as_deref()
    }
    /// `linux.seccomp.listenerMetadata`, carried for the runtime.
    pub fn listener_metadata(&self) -> Option<&str> {
        self.listener_metadata.as_deref()
    }
}

/// Parse a `linux.seccomp` JSON object, with errors that name the field, e.g.
/// `linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`.
///
/// For callers that hold raw JSON. [`compile`] takes the typed form, where
/// unknown enum values cannot occur.
pub fn parse_json(value: &serde_json::Value) -> Result<LinuxSeccomp> {
    use serde_json::Value;
    const P: &str = "linux.seccomp";
    let obj = value
        .as_object()
        .ok_or_else(|| anyhow!("{P}: expected an object"))?;
    check_enum::<LinuxSeccompAction>(
        obj.get("defaultAction"),
        &format!("{P}.defaultAction"),
        "action",
        true,
    )?;
    for (key, what) in [("architectures", "architecture"), ("flags", "flag")] {
        if let Some(list) = non_null(obj.get(key)) {
            let list = list
                .as_array()
                .ok_or_else(|| anyhow!("{P}.{key}: expected an array"))?;
            for (i, v) in list.iter().enumerate() {
                let path = format!("{P}.{key}[{i}]");
                if key == "architectures" {
                    check_enum::<Arch>(Some(v), &path, what, true)?;
                } else {
                    check_enum::<LinuxSeccompFilterFlag>(Some(v), &path, what, true)?;
                }
            }
        }
    }
    if let Some(list) = non_null(obj.get("syscalls")) {
        let list = list
            .as_array()
            .ok_or_else(|| anyhow!("{P}.syscalls: expected an array"))?;
        for (i, sc) in list.iter().enumerate() {
            let path = format!("{P}.syscalls[{i}]");
            let sc = sc
                .as_object()
                .ok_or_else(|| anyhow!("{path}: expected an object"))?;
            match sc.get("names") {
                Some(Value::Array(names)) => {
                    for (k, n) in names.iter().enumerate() {
                        if !n.is_string() {
                            bail!("{path}.names[{k}]: expected a string, got {n}");
                        }
                    }
                }
                Some(other) => bail!("{path}.names: expected an array of strings, got {other}"),
                None => bail!("{path}.names: missing"),
            }
            check_enum::<LinuxSeccompAction>(
                sc.get("action"),
                &format!("{path}.action"),
                "action",
                true,
            )?;
            if let Some(v) = non_null(sc.get("errnoRet"))
                && v.as_u64().is_none_or(|e| e > u32::MAX as u64)
            {
                bail!("{path}.errnoRet: expected a non-negative integer, got {v}");
            }
            if let Some(args) = non_null(sc.get("args")) {
                let args = args
                    .as_array()
                    .ok_or_else(|| anyhow!("{path}.args: expected an array"))?;
                for (j, a) in args.iter().enumerate() {
                    let apath = format!("{path}.args[{j}]");
                    let a = a
                        .as_object()
                        .ok_or_else(|| anyhow!("{apath}: expected an object"))?;
                    check_enum::<LinuxSeccompOperator>(
                        a.get("op"),
                        &format!("{apath}.op"),
                        "operator",
                        true,
                    )?;
                    for key in ["index", "value", "valueTwo"] {
                        match non_null(a.get(key)) {
                            Some(v) if v.as_u64().is_none() => {
                                bail!("{apath}.{key}: expected a non-negative integer, got {v}")
                            }
                            None if key != "valueTwo" => bail!("{apath}.{key}: missing"),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    serde_json::from_value(value.clone()).map_err(|e| anyhow!("{P}: {e}"))
}

fn non_null(v: Option<&serde_json::Value>) -> Option<&serde_json::Value> {
    v.filter(|v| !v.is_null())
}

fn check_enum<T: serde::de::DeserializeOwned>(
    v: Option<&serde_json::Value>,
    path: &str,
    what: &str,
    required: bool,
) -> Result<()> {
    match non_null(v) {
        None if required => bail!("{path}: missing"),
        None => Ok(()),
        Some(serde_json::Value::String(s)) => {
            serde_json::from_value::<T>(serde_json::Value::String(s.clone()))
                .map(|_| ())
                .map_err(|_| anyhow!("{path}: unknown {what} {s:?}"))
        }
        Some(other) => bail!("{path}: expected a string, got {other}"),
    }
}

/// The kernel return value of an OCI action.
fn action_value(
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    errno_field: &str,
) -> Result<u32> {
    use LinuxSeccompAction as A;
    let data = || -> Result<u32> {
        let e = errno_ret.unwrap_or(libc::EPERM as u32);
        if e > libc::SECCOMP_RET_DATA {
            bail!("{errno_field}: {e} is out of range (0-65535)");
        }
        Ok(e)
    };
    Ok(match action {
        A::ScmpActKill | A::ScmpActKillThread => SeccompAction::KillThread.into(),
        A::ScmpActKillProcess => SeccompAction::KillProcess.into(),
        A::ScmpActTrap => SeccompAction::Trap.into(),
        A::ScmpActErrno => SeccompAction::Errno(data()?).into(),
        A::ScmpActTrace => SeccompAction::Trace(data()?).into(),
        A::ScmpActLog => SeccompAction::Log.into(),
        A::ScmpActAllow => SeccompAction::Allow.into(),
        A::ScmpActNotify => libc::SECCOMP_RET_USER_NOTIF,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    MaskedEq,
}

#[derive(Clone, Copy, Debug)]
struct Cond {
    index: u32,
    op: Op,
    value: u64,
    value_two: u64,
}

#[derive(Clone, Debug)]
struct Rule {
    conds: Vec<Cond>,
    ret: u32,
}

/// One syscall ABI on an x86_64 kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abi {
    X86_64,
    X32,
    I386,
}

impl Abi {
    fn table(self) -> &'static [(&'static str, u32)] {
        match self {
            Abi::X86_64 => syscall_tables::X86_64,
            Abi::X32 => syscall_tables::X32,
            Abi::I386 => syscall_tables::I386,
        }
    }
    fn resolve(self, name: &str) -> Option<u32> {
        let t = self.table();
        t.binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| t[i].1)
    }
    /// [`Abi::resolve`], searching from `*cursor` (where the previous name was, or would
    /// have been) onwards when the name sorts after it, and leaving the cursor at this one.
    /// Profiles list their names mostly in alphabetical order: the next one is then a few
    /// entries on, found in a few comparisons instead of a binary search's nine, each of which
    /// was a mispredicted branch (a docker profile is ~1,200 lookups).
    fn resolve_near(self, name: &str, cursor: &mut usize) -> Option<u32> {
        let t = self.table();
        let start = *cursor;
        let (lo, hi) = if start < t.len() && t[start].0 < name {
            // Gallop: t[below].0 < name throughout.
            let (mut below, mut step) = (start, 1);
            loop {
                let probe = start + step;
                if probe >= t.len() {
                    break (below + 1, t.len());
                }
                if t[probe].0 >= name {
                    break (below + 1, probe + 1);
                }
                below = probe;
                step *= 2;
            }
        } else {
            (0, (start + 1).min(t.len()))
        };
        match t[lo..hi].binary_search_by(|(n, _)| (*n).cmp(name)) {
            Ok(i) => {
                *cursor = lo + i;
                Some(t[lo + i].1)
            }
            Err(i) => {
                *cursor = lo + i;
                None
            }
        }
    }
    /// libseccomp's `ARCH_SIZE_32`: arguments compared on their low 32 bits only.
    fn is_32bit(self) -> bool {
        self != Abi::X86_64
    }
}

/// The syscall number of `name` for the x86_64, x32 and i386 ABIs.
pub fn resolve_syscall(name: &str) -> (Option<u32>, Option<u32>, Option<u32>) {
    (
        Abi::X86_64.resolve(name),
        Abi::X32.resolve(name),
        Abi::I386.resolve(name),
    )
}

/// One ABI's lookup.
struct Table {
    /// (syscall number, index into `Lowered::rules`), sorted: by number, and a number's rules
    /// in config order.
    entries: Vec<(u32, u32)>,
    max_nr: Option<u32>,
}

impl Table {
    /// Each number the table names, with its entries.
    fn by_number(&self) -> impl Iterator<Item = (u32, &[(u32, u32)])> {
        self.entries.chunk_by(|a, b| a.0 == b.0).map(|g| (g[0].0, g))
    }
}

/// Compile in the parent before fork. Errors name the field, e.g.
/// `linux.seccomp.syscalls[3].args[0].index: 7 is out of range (0-5)`.
/// [`compile`] for a process about to run (create and exec alike): notify rules without a
/// listenerPath are refused, since nobody would ever answer their notifications.
pub fn compile_for_process(seccomp: &LinuxSeccomp) -> Result<CompiledFilter> {
    let f = compile(seccomp)?;
    if !f.skipped_syscalls().is_empty() {
        crate::debug!("linux.seccomp: syscalls unknown on this architecture, skipped: {}", f.skipped_syscalls().join(", "));
    }
    if f.needs_listener() && f.listener_path().is_none_or(|p| p.as_os_str().is_empty()) {
        bail!("linux.seccomp: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath (the agent's socket)");
    }
    Ok(f)
}

pub fn compile(seccomp: &LinuxSeccomp) -> Result<CompiledFilter> {
    let l = lower(seccomp)?;
    let program = emit(&l.tables, &l.rules, l.default, l.enosys_stub)?;
    if program.len() > BPF_MAXINSNS {
        bail!(
            "linux.seccomp: the compiled filter has {} instructions, more than the kernel's limit of {BPF_MAXINSNS}",
            program.len()
        );
    }
    Ok(CompiledFilter {
        program,
        flags: l.flags,
        needs_listener: l.needs_listener,
        skipped_syscalls: l.skipped_syscalls,
        ignored_architectures: l.ignored_architectures,
        listener_path: seccomp.listener_path().clone(),
        listener_metadata: seccomp.listener_metadata().clone(),
    })
}
