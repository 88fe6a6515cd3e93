//! Actions, errno values, rule order and merging, unknown syscall names, and the
//! error messages that name the offending field.

use super::*;

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
