//! Device access rules: v1 `devices.allow`/`devices.deny` lines, and for cgroup v2 an eBPF
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program generated from the rules, loaded with
//! bpf(BPF_PROG_LOAD) and attached with bpf(BPF_PROG_ATTACH, BPF_F_ALLOW_MULTI), replacing
//! the programs attached before (as runc does).
//!
//! Program semantics ("last matching rule wins", like crun; default deny): the rules are
//! checked from the last to the first, the first match decides. An allow rule matches when
//! the requested access is a subset of its access; a deny rule matches when the requested
//! access shares any bit with its access. Type "a" (or no type) matches block and char.
//! Compared with the v1 kernel's exception lists, two allow rules that each grant part of a
//! request (r, then w) are not merged for an "rw" open.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

// ---------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------

/// A validated rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// 'a', 'b' or 'c'.
    pub typ: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Subset of "rwm", canonical order.
    pub access: String,
}

impl Rule {
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Result<Rule> {
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => bail!(
                "linux.resources.devices: device type \"p\" (FIFO) cannot be used in a cgroup rule"
            ),
        };
        let num = |v: Option<i64>, what: &str| -> Result<Option<u32>> {
            match v {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None), // -1 is the wildcard in some configs
                Some(n) if n > u32::MAX as i64 => {
                    bail!("linux.resources.devices: invalid {what} {n}")
                }
                Some(n) => Ok(Some(n as u32)),
            }
        };
        let acc = d.access().as_deref().unwrap_or("");
        let acc = if acc.is_empty() { "rwm" } else { acc };
        let mut access = String::new();
        for c in ['r', 'w', 'm'] {
            if acc.contains(c) {
                access.push(c);
            }
        }
        if let Some(bad) = acc.chars().find(|c| !"rwm".contains(*c)) {
            bail!(
                "linux.resources.devices: invalid access {acc:?} (character {bad:?}; use a subset of \"rwm\")"
            );
        }
        Ok(Rule {
            allow: d.allow(),
            typ,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            access,
        })
    }

    /// "a" wildcard for everything: type a, or no numbers and full access.
    pub fn is_all(&self) -> bool {
        self.typ == 'a' && self.major.is_none() && self.minor.is_none() && self.access == "rwm"
    }

    /// The v1 line: "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        let n = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "*".into());
        format!(
            "{} {}:{} {}",
            self.typ,
            n(self.major),
            n(self.minor),
            self.access
        )
    }

    fn bpf_access(&self) -> i32 {
        let mut a = 0;
        for c in self.access.chars() {
            a |= match c {
                'm' => BPF_DEVCG_ACC_MKNOD,
                'r' => BPF_DEVCG_ACC_READ,
                _ => BPF_DEVCG_ACC_WRITE,
            };
        }
        a
    }
}

pub fn parse_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    rules.iter().map(Rule::from_oci).collect()
}

/// v1 writes in order: (file, line). A leading deny-all becomes `devices.deny` "a".
pub fn v1_writes(rules: &[LinuxDeviceCgroup]) -> Result<Vec<(&'static str, String)>> {
    let rules = parse_rules(rules)?;
    let mut out = Vec::new();
    for r in &rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        if r.is_all() {
            // "a" alone switches the default and clears the exception list.
            out.push((file, "a".to_string()));
        } else {
            out.push((file, r.v1_line()));
        }
    }
    Ok(out)
}

/// The devices runc allows by default (specconv AllowedDevices) besides the config's own;
/// the runtime appends these (and its linux.devices) after linux.resources.devices.
pub fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    let mk = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    };
    use LinuxDeviceType::C;
    vec![
        mk(C, None, None, "m"), // mknod any char device
        mk(LinuxDeviceType::B, None, None, "m"),
        mk(C, Some(1), Some(3), "rwm"), // /dev/null
        mk(C, Some(1), Some(8), "rwm"), // /dev/random
        mk(C, Some(1), Some(7), "rwm"), // /dev/full
        mk(C, Some(5), Some(0), "rwm"), // /dev/tty
        mk(C, Some(1), Some(5), "rwm"), // /dev/zero
        mk(C, Some(1), Some(9), "rwm"), // /dev/urandom
        mk(C, Some(136), None, "rwm"),  // /dev/pts/*
        mk(C, Some(5), Some(2), "rwm"), // /dev/ptmx
    ]
}

// ---------------------------------------------------------------------------------------
// eBPF program generation
// ---------------------------------------------------------------------------------------

pub const BPF_DEVCG_ACC_MKNOD: i32 = 1;
pub const BPF_DEVCG_ACC_READ: i32 = 2;
pub const BPF_DEVCG_ACC_WRITE: i32 = 4;
pub const BPF_DEVCG_DEV_BLOCK: i32 = 1;
pub const BPF_DEVCG_DEV_CHAR: i32 = 2;

// Opcodes (linux/bpf_common.h, linux/bpf.h).
pub const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
pub const ALU32_AND_K: u8 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
pub const ALU32_RSH_K: u8 = 0x04 | 0x70;
pub const ALU32_MOV_K: u8 = 0x04 | 0xb0;
pub const ALU32_MOV_X: u8 = 0x04 | 0xb0 | 0x08;
pub const JMP_JNE_K: u8 = 0x05 | 0x50; // BPF_JMP | BPF_JNE | BPF_K
pub const JMP_JNE_X: u8 = 0x05 | 0x50 | 0x08;
pub const JMP_JEQ_K: u8 = 0x05 | 0x10;
pub const JMP_EXIT: u8 = 0x05 | 0x90;

/// struct bpf_insn.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (dst & 0xf) | (src << 4),
            off,
            imm,
        }
    }
    pub fn dst(&self) -> u8 {
        self.regs & 0xf
    }
    pub fn src(&self) -> u8 {
        self.regs >> 4
    }
}

/// Prologue as runc's devicefilter: R2 = type, R3 = access, R4 = major, R5 = minor from
/// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; } at R1.
fn prologue() -> Vec<Insn> {
    vec![
        Insn::new(LDX_MEM_W, 2, 1, 0, 0),
        Insn::new(ALU32_AND_K, 2, 0, 0, 0xffff),
        Insn::new(LDX_MEM_W, 3, 1, 0, 0),
        Insn::new(ALU32_RSH_K, 3, 0, 0, 16),
        Insn::new(LDX_MEM_W, 4, 1, 4, 0),
        Insn::new(LDX_MEM_W, 5, 1, 8, 0),
    ]
}

/// One rule's block; every "no match" jump goes to the end of the block.
fn rule_block(r: &Rule) -> Vec<Insn> {
    // (insn, is_jump_to_next)
    let mut b: Vec<(Insn, bool)> = Vec::new();
    match r.typ {
        'b' => b.push((Insn::new(JMP_JNE_K, 2, 0, 0, BPF_DEVCG_DEV_BLOCK), true)),
        'c' => b.push((Insn::new(JMP_JNE_K, 2, 0, 0, BPF_DEVCG_DEV_CHAR), true)),
        _ => {}
    }
    let acc = r.bpf_access();
    if acc != BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE {
        b.push((Insn::new(ALU32_MOV_X, 1, 3, 0, 0), false));
        b.push((Insn::new(ALU32_AND_K, 1, 0, 0, acc), false));
        if r.allow {
            // requested ⊆ allowed: (R3 & acc) == R3
            b.push((Insn::new(JMP_JNE_X, 1, 3, 0, 0), true));
        } else {
            // requested ∩ denied ≠ ∅
            b.push((Insn::new(JMP_JEQ_K, 1, 0, 0, 0), true));
        }
    }
    if let Some(m) = r.major {
        b.push((Insn::new(JMP_JNE_K, 4, 0, 0, m as i32), true));
    }
    if let Some(m) = r.minor {
        b.push((Insn::new(JMP_JNE_K, 5, 0, 0, m as i32), true));
    }
    b.push((Insn::new(ALU32_MOV_K, 0, 0, 0, r.allow as i32), false));
    b.push((Insn::new(JMP_EXIT, 0, 0, 0, 0), false));
    let len = b.len();
    b.into_iter()
        .enumerate()
        .map(|(i, (mut insn, jump))| {
            if jump {
                insn.off = (len - i - 1) as i16;
            }
            insn
        })
        .collect()
}

/// The whole program for these rules.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = prologue();
    for r in rules.iter().rev() {
        p.extend(rule_block(r));
        // A rule that matches everything makes the rest unreachable.
        if r.is_all() {
            return p;
        }
    }
    p.push(Insn::new(ALU32_MOV_K, 0, 0, 0, 0));
    p.push(Insn::new(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// A tiny interpreter for the generated subset, for tests: returns R0.
pub fn run(prog: &[Insn], access_type: u32, major: u32, minor: u32) -> Result<u64> {
    let ctx = [access_type, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    let mut steps = 0;
    while pc < prog.len() {
        steps += 1;
        if steps > 10_000 {
            bail!("loop");
        }
        let i = prog[pc];
        let (d, s) = (i.dst() as usize, i.src() as usize);
        let mut next = pc + 1;
        match i.code {
            LDX_MEM_W => {
                if s != 1 || i.off % 4 != 0 || i.off < 0 || i.off > 8 {
                    bail!("bad load at {pc}");
                }
                r[d] = ctx[(i.off / 4) as usize] as u64;
            }
            ALU32_AND_K => r[d] = ((r[d] as u32) & (i.imm as u32)) as u64,
            ALU32_RSH_K => r[d] = ((r[d] as u32) >> i.imm) as u64,
            ALU32_MOV_K => r[d] = i.imm as u32 as u64,
            ALU32_MOV_X => r[d] = r[s] as u32 as u64,
            JMP_JNE_K => {
                if r[d] != i.imm as i64 as u64 {
                    next = (pc as i64 + 1 + i.off as i64) as usize
                }
            }
            JMP_JEQ_K => {
                if r[d] == i.imm as i64 as u64 {
                    next = (pc as i64 + 1 + i.off as i64) as usize
                }
            }
            JMP_JNE_X => {
                if r[d] != r[s] {
                    next = (pc as i64 + 1 + i.off as i64) as usize
                }
            }
            JMP_EXIT => return Ok(r[0]),
            c => bail!("unknown opcode {c:#x} at {pc}"),
        }
        if next > prog.len() {
            bail!("jump out of range at {pc}");
        }
        pc = next;
    }
    bail!("fell off the end")
}

// ---------------------------------------------------------------------------------------
// bpf(2)
// ---------------------------------------------------------------------------------------

const BPF_PROG_LOAD: i32 = 5;
const BPF_PROG_ATTACH: i32 = 8;
const BPF_PROG_DETACH: i32 = 9;
const BPF_PROG_GET_FD_BY_ID: i32 = 13;
const BPF_PROG_QUERY: i32 = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// union bpf_attr, as raw bytes (zeroed tail, as the kernel requires).
#[repr(C, align(8))]
struct Attr([u8; 128]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 128])
    }
    fn u32(&mut self, off: usize, v: u32) -> &mut Self {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn u64(&mut self, off: usize, v: u64) -> &mut Self {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
        self
    }
    fn get_u32(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.0[off..off + 4].try_into().unwrap())
    }
}

fn bpf(cmd: i32, attr: &mut Attr) -> std::io::Result<i64> {
    // SAFETY: attr is a valid, writable buffer of the size passed.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.0.as_mut_ptr(), attr.0.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache";
    let try_load = |log: Option<&mut Vec<u8>>| -> std::io::Result<OwnedFd> {
        let mut a = Attr::new();
        a.u32(0, BPF_PROG_TYPE_CGROUP_DEVICE)
            .u32(4, prog.len() as u32)
            .u64(8, prog.as_ptr() as u64)
            .u64(16, license.as_ptr() as u64);
        if let Some(buf) = log {
            a.u32(24, 1)
                .u32(28, buf.len() as u32)
                .u64(32, buf.as_mut_ptr() as u64);
            let fd = bpf(BPF_PROG_LOAD, &mut a)?;
            // SAFETY: the kernel returned a new fd.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let fd = bpf(BPF_PROG_LOAD, &mut a)?;
        // SAFETY: the kernel returned a new fd.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    };
    match try_load(None) {
        Ok(fd) => Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            // Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
            let inf = libc::rlimit {
                rlim_cur: libc::RLIM_INFINITY,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: plain setrlimit.
            unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &inf) };
            try_load(None).map_err(|e| {
                anyhow!(
                    "linux.resources.devices: bpf(BPF_PROG_LOAD): {}",
                    super::resources::errtext(&e)
                )
            })
        }
        Err(e) => {
            let mut log = vec![0u8; 65536];
            let _ = try_load(Some(&mut log));
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            Err(anyhow!(
                "linux.resources.devices: bpf(BPF_PROG_LOAD) of the device filter: {}; verifier log: {}",
                super::resources::errtext(&e),
                String::from_utf8_lossy(&log[..end]).trim()
            ))
        }
    }
}

/// IDs of the device programs attached to the cgroup.
fn query(cg: &OwnedFd) -> std::io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut a = Attr::new();
    a.u32(0, cg.as_raw_fd() as u32)
        .u32(4, BPF_CGROUP_DEVICE)
        .u64(16, ids.as_mut_ptr() as u64)
        .u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a)?;
    let n = a.get_u32(24) as usize;
    ids.truncate(n.min(64));
    Ok(ids)
}

/// Load a program for `rules` and attach it to the cgroup v2 directory `dir`, replacing
/// whatever device programs were attached before.
pub fn apply_v2(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let rules = parse_rules(rules)?;
    let prog = program(&rules);
    let pfd = load(&prog)?;
    let cg: OwnedFd = std::fs::File::open(dir)
        .with_context(|| format!("linux.resources.devices: opening {}", dir.display()))?
        .into();
    let old = query(&cg).unwrap_or_default();
    let mut a = Attr::new();
    a.u32(0, cg.as_raw_fd() as u32)
        .u32(4, pfd.as_raw_fd() as u32)
        .u32(8, BPF_CGROUP_DEVICE)
        .u32(12, BPF_F_ALLOW_MULTI);
    if let Err(e) = bpf(BPF_PROG_ATTACH, &mut a) {
        // Old kernels without multi-attach: a plain attach replaces the single program.
        a.u32(12, 0);
        bpf(BPF_PROG_ATTACH, &mut a).map_err(|e2| {
            anyhow!(
                "linux.resources.devices: attaching the device filter to {}: {} (without BPF_F_ALLOW_MULTI: {})",
                dir.display(),
                super::resources::errtext(&e),
                super::resources::errtext(&e2)
            )
        })?;
        return Ok(());
    }
    for id in old {
        let mut g = Attr::new();
        g.u32(0, id);
        let Ok(fd) = bpf(BPF_PROG_GET_FD_BY_ID, &mut g) else {
            continue;
        };
        // SAFETY: new fd from the kernel.
        let ofd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut d = Attr::new();
        d.u32(0, cg.as_raw_fd() as u32)
            .u32(4, ofd.as_raw_fd() as u32)
            .u32(8, BPF_CGROUP_DEVICE);
        bpf(BPF_PROG_DETACH, &mut d).map_err(|e| {
            anyhow!(
                "linux.resources.devices: detaching the old device filter (id {id}) from {}: {}",
                dir.display(),
                super::resources::errtext(&e)
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }
    const R: u32 = BPF_DEVCG_ACC_READ as u32;
    const W: u32 = BPF_DEVCG_ACC_WRITE as u32;
    const M: u32 = BPF_DEVCG_ACC_MKNOD as u32;
    fn req(typ: i32, acc: u32) -> u32 {
        (typ as u32) | (acc << 16)
    }
    const C: i32 = BPF_DEVCG_DEV_CHAR;
    const B: i32 = BPF_DEVCG_DEV_BLOCK;

    #[test]
    fn rule_parsing_and_v1_lines() {
        let r = parse_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"mwr"},
                {"allow":true,"type":"b","major":-1,"minor":-1,"access":"m"},{"allow":true,"type":"u","major":4}]"#,
        ))
        .unwrap();
        assert!(r[0].is_all() && !r[0].allow);
        assert_eq!(r[1].v1_line(), "c 1:3 rwm");
        assert_eq!(r[2].v1_line(), "b *:* m");
        assert_eq!(r[3].v1_line(), "c 4:* rwm");
        assert!(parse_rules(&rules(r#"[{"allow":true,"access":"rx"}]"#)).is_err());
        assert!(parse_rules(&rules(r#"[{"allow":true,"type":"p"}]"#)).is_err());
        let w = v1_writes(&rules(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]"#)).unwrap();
        assert_eq!(
            w,
            vec![
                ("devices.deny", "a".to_string()),
                ("devices.allow", "c 1:3 rw".to_string())
            ]
        );
    }

    #[test]
    fn prologue_encoding() {
        let p = program(&[]);
        // runc's devicefilter prologue, then "return 0"
        assert_eq!(p.len(), 8);
        assert_eq!(
            p[0],
            Insn {
                code: 0x61,
                regs: 0x12,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(
            p[1],
            Insn {
                code: 0x54,
                regs: 0x02,
                off: 0,
                imm: 0xffff
            }
        );
        assert_eq!(
            p[2],
            Insn {
                code: 0x61,
                regs: 0x13,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(
            p[3],
            Insn {
                code: 0x74,
                regs: 0x03,
                off: 0,
                imm: 16
            }
        );
        assert_eq!(
            p[4],
            Insn {
                code: 0x61,
                regs: 0x14,
                off: 4,
                imm: 0
            }
        );
        assert_eq!(
            p[5],
            Insn {
                code: 0x61,
                regs: 0x15,
                off: 8,
                imm: 0
            }
        );
        assert_eq!(
            p[6],
            Insn {
                code: 0xb4,
                regs: 0x00,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(
            p[7],
            Insn {
                code: 0x95,
                regs: 0,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    #[test]
    fn block_encoding_with_jumps() {
        let r = parse_rules(&rules(
            r#"[{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]"#,
        ))
        .unwrap();
        let b = rule_block(&r[0]);
        assert_eq!(
            b,
            vec![
                Insn {
                    code: 0x55,
                    regs: 0x02,
                    off: 7,
                    imm: 2
                }, // if type != char goto next
                Insn {
                    code: 0xbc,
                    regs: 0x31,
                    off: 0,
                    imm: 0
                }, // r1 = r3
                Insn {
                    code: 0x54,
                    regs: 0x01,
                    off: 0,
                    imm: 6
                }, // r1 &= r|w
                Insn {
                    code: 0x5d,
                    regs: 0x31,
                    off: 4,
                    imm: 0
                }, // if r1 != r3 goto next
                Insn {
                    code: 0x55,
                    regs: 0x04,
                    off: 3,
                    imm: 1
                }, // if major != 1 goto next
                Insn {
                    code: 0x55,
                    regs: 0x05,
                    off: 2,
                    imm: 3
                }, // if minor != 3 goto next
                Insn {
                    code: 0xb4,
                    regs: 0x00,
                    off: 0,
                    imm: 1
                }, // r0 = 1
                Insn {
                    code: 0x95,
                    regs: 0,
                    off: 0,
                    imm: 0
                }, // exit
            ]
        );
        // deny with partial access uses "jeq r1, 0"
        let r = parse_rules(&rules(r#"[{"allow":false,"type":"b","access":"w"}]"#)).unwrap();
        let b = rule_block(&r[0]);
        assert_eq!(
            b[0],
            Insn {
                code: 0x55,
                regs: 0x02,
                off: 5,
                imm: 1
            }
        );
        assert_eq!(
            b[3],
            Insn {
                code: 0x15,
                regs: 0x01,
                off: 2,
                imm: 0
            }
        );
        assert_eq!(
            b[4],
            Insn {
                code: 0xb4,
                regs: 0,
                off: 0,
                imm: 0
            }
        );
    }

    #[test]
    fn runc_default_like_policy() {
        let mut rs = rules(r#"[{"allow":false,"access":"rwm"}]"#);
        rs.extend(default_allowed());
        let p = program(&parse_rules(&rs).unwrap());
        // /dev/null rw allowed, /dev/sda denied, mknod of any char allowed, block read denied
        assert_eq!(run(&p, req(C, R | W), 1, 3).unwrap(), 1);
        assert_eq!(run(&p, req(C, R), 136, 7).unwrap(), 1);
        assert_eq!(run(&p, req(B, R), 8, 0).unwrap(), 0);
        assert_eq!(run(&p, req(B, M), 8, 0).unwrap(), 1);
        assert_eq!(run(&p, req(C, M), 10, 200).unwrap(), 1);
        assert_eq!(run(&p, req(C, R), 10, 200).unwrap(), 0);
        assert_eq!(run(&p, req(C, R), 1, 4).unwrap(), 0);
    }

    #[test]
    fn last_rule_wins_and_deny_any_bit() {
        let p = program(
            &parse_rules(&rules(
                r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
            ))
            .unwrap(),
        );
        assert_eq!(run(&p, req(C, R), 1, 3).unwrap(), 1);
        assert_eq!(run(&p, req(C, R | W), 1, 3).unwrap(), 0);
        assert_eq!(run(&p, req(C, W), 1, 3).unwrap(), 0);
        assert_eq!(run(&p, req(B, W), 8, 0).unwrap(), 1);
        // later allow re-opens
        let p = program(
            &parse_rules(&rules(
                r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":9}]"#,
            ))
            .unwrap(),
        );
        assert_eq!(run(&p, req(C, R), 1, 8).unwrap(), 1);
        assert_eq!(run(&p, req(C, R), 1, 9).unwrap(), 0);
        assert_eq!(run(&p, req(C, R), 2, 9).unwrap(), 0);
    }

    #[test]
    fn allow_all_stops_generation() {
        let p = program(
            &parse_rules(&rules(
                r#"[{"allow":false,"type":"c","major":1},{"allow":true}]"#,
            ))
            .unwrap(),
        );
        // prologue + block of allow-all (mov + exit) and nothing after
        assert_eq!(p.len(), 8);
        assert_eq!(run(&p, req(C, R), 1, 1).unwrap(), 1);
    }

    #[test]
    fn all_jumps_in_range() {
        let mut rs = rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"b","major":8,"access":"r"}]"#,
        );
        rs.extend(default_allowed());
        let p = program(&parse_rules(&rs).unwrap());
        for (pc, i) in p.iter().enumerate() {
            if matches!(i.code, JMP_JNE_K | JMP_JNE_X | JMP_JEQ_K) {
                let t = pc as i64 + 1 + i.off as i64;
                assert!(t > pc as i64 && (t as usize) < p.len());
            }
        }
        assert_eq!(p.last().unwrap().code, JMP_EXIT);
        assert_eq!(run(&p, req(B, R), 8, 1).unwrap(), 1);
        assert_eq!(run(&p, req(B, W), 8, 1).unwrap(), 0);
    }
}
