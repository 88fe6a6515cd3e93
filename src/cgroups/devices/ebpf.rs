//! The cgroup v2 device filter: a `BPF_PROG_TYPE_CGROUP_DEVICE` program generated from the
//! rules (loaded and attached by `bpf.rs`), and a small interpreter the tests run it with.
//!
//! Program semantics ("last matching rule wins", like crun; default deny): the rules are
//! checked from the last to the first, the first match decides. An allow rule matches when
//! the requested access is a subset of its access; a deny rule matches when the requested
//! access shares any bit with its access. Type "a" (or no type) matches block and char.
//! Compared with the v1 kernel's exception lists, two allow rules that each grant part of a
//! request (r, then w) are not merged for an "rw" open.

use anyhow::{Result, bail};

use super::Rule;

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

/// The rule's access as BPF_DEVCG_ACC_* bits.
fn bpf_access(r: &Rule) -> i32 {
    let mut a = 0;
    for c in r.access.chars() {
        a |= match c {
            'm' => BPF_DEVCG_ACC_MKNOD,
            'r' => BPF_DEVCG_ACC_READ,
            _ => BPF_DEVCG_ACC_WRITE,
        };
    }
    a
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
    let acc = bpf_access(r);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::devices::{default_allowed, parse_rules};

    fn rules(json: &str) -> Vec<oci_spec::runtime::LinuxDeviceCgroup> {
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
