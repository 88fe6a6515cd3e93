//! Argument conditions: every comparison operator on 64-bit and 32-bit ABIs, and MASKED_EQ.

use super::*;

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
