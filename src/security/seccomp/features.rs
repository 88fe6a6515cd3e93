//! The `linux.seccomp` block of `bulkhead features`: exactly what `compile` translates.

use serde_json::{json, Value};

/// Every action `compile` maps to a SECCOMP_RET_* value.
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
];
pub const OPERATORS: &[&str] =
    &["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"];
/// The ABIs the emitted program dispatches on (others are accepted and ignored on x86_64).
pub const ARCHS: &[&str] = &["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"];
pub const KNOWN_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

/// Whether this kernel accepts a seccomp(2) filter flag: with a NULL program it answers
/// EFAULT for known flags and EINVAL for unknown ones (runc's test, without installing
/// anything).
fn kernel_has_flag(name: &str) -> bool {
    let flag = match name {
        "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
        // TSYNC is accepted and not passed (the init is single-threaded).
        "SECCOMP_FILTER_FLAG_TSYNC" => return true,
        // Only valid together with NEW_LISTENER.
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
        _ => return false,
    };
    let r = unsafe { libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flag, std::ptr::null::<u8>()) };
    r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

pub fn document() -> Value {
    json!({
        "enabled": true,
        "actions": ACTIONS,
        "operators": OPERATORS,
        "archs": ARCHS,
        "knownFlags": KNOWN_FLAGS,
        "supportedFlags": KNOWN_FLAGS.iter().filter(|f| kernel_has_flag(f)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each advertised name parses as the spec type and compiles in a filter.
    #[test]
    fn every_advertised_item_compiles() {
        for a in ACTIONS {
            let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": a, "errnoRet": 1}]});
            let s = super::super::parse_json(&v).unwrap_or_else(|e| panic!("{a}: {e:#}"));
            super::super::compile(&s).unwrap_or_else(|e| panic!("{a}: {e:#}"));
        }
        for op in OPERATORS {
            let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO",
                "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]}]});
            super::super::compile(&super::super::parse_json(&v).unwrap()).unwrap_or_else(|e| panic!("{op}: {e:#}"));
        }
        let v = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHS, "flags": KNOWN_FLAGS});
        let c = super::super::compile(&super::super::parse_json(&v).unwrap()).unwrap();
        assert!(c.ignored_architectures().is_empty());
        assert!(document()["supportedFlags"].as_array().unwrap().iter().any(|f| f == "SECCOMP_FILTER_FLAG_LOG"));
    }
}
