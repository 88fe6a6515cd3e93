//! Runtime selection: which binary the suite drives (bulkhead or `BULKHEAD_TEST_RUNTIME`)
//! and whether it is runc.

use super::{CMD_TIMEOUT, exec};
use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The runtime under test.
pub fn runtime() -> PathBuf {
    match std::env::var_os("BULKHEAD_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_bulkhead")),
    }
}

/// True when the runtime under test is runc. Only for the few places where runc
/// 1.1.5 deviates from the spec or the issue; every use must say why.
pub fn is_runc() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| {
        let rt = runtime();
        if rt.file_name() == Some(OsStr::new("runc")) {
            return true;
        }
        let out = exec(Command::new(&rt).arg("--version"), CMD_TIMEOUT);
        out.stdout.trim_start().starts_with("runc")
    })
}

/// True when the runtime under test is a runc older than `major.minor` (runc 1.1.5 lacks what
/// runc 1.2+ added: idmapped mounts, mount source requests). False for bulkhead.
pub fn runc_older_than(major: u32, minor: u32) -> bool {
    if !is_runc() {
        return false;
    }
    let out = exec(Command::new(runtime()).arg("--version"), CMD_TIMEOUT);
    let v: Vec<u32> = out.stdout.split_whitespace().nth(2).unwrap_or("0.0").split('.').take(2).filter_map(|n| n.parse().ok()).collect();
    (v.first().copied().unwrap_or(0), v.get(1).copied().unwrap_or(0)) < (major, minor)
}
