//! Small parsers: /proc status fields, capability masks, mountinfo lines, and a helper
//! appending to a config array.

use super::{Ctx, unescape_mountinfo};

/// Value of `Key:` in a /proc/PID/status text.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim())
    })
}

/// Bit mask of capability names ("CAP_KILL" ...).
pub fn cap_mask(names: &[&str]) -> u64 {
    names.iter().fold(0u64, |m, n| m | (1u64 << cap_number(n)))
}

pub fn cap_number(name: &str) -> u32 {
    const CAPS: &[&str] = &[
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    CAPS.iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("unknown capability {name}")) as u32
}

/// Line of /proc/self/mountinfo text whose mount point is `target`.
pub fn mountinfo_line<'a>(mountinfo: &'a str, target: &str) -> Option<&'a str> {
    mountinfo.lines().rfind(|l| {
        l.split_whitespace()
            .nth(4)
            .map(unescape_mountinfo)
            .as_deref()
            == Some(target)
    })
}

/// Per-mount options (field 6) and super options (last field) of a mountinfo line.
pub fn mount_opts(line: &str) -> (Vec<String>, Vec<String>) {
    let (pre, post) = line.split_once(" - ").unwrap_or((line, ""));
    let per = pre
        .split_whitespace()
        .nth(5)
        .unwrap_or("")
        .split(',')
        .map(String::from)
        .collect();
    let sup = post
        .split_whitespace()
        .nth(2)
        .unwrap_or("")
        .split(',')
        .map(String::from)
        .collect();
    (per, sup)
}

/// Appends `v` to the config array at JSON pointer `ptr`.
pub fn push(c: &mut Ctx, ptr: &str, v: serde_json::Value) {
    let arr = c
        .config
        .pointer_mut(ptr)
        .and_then(|a| a.as_array_mut())
        .unwrap_or_else(|| panic!("config has no array at {ptr}"));
    arr.push(v);
}
