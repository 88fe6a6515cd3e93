//! Polling helpers (bounded waits for a condition or file content) and /proc process
//! helpers (liveness, namespaces, children, command lines).

use super::WAIT_TIMEOUT;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// Poll `f` until it returns true; panic with `what` after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(2);
    loop {
        if f() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(50));
    }
}

/// Like [`wait_until`] but returns false instead of panicking.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait until `path` exists and contains `needle`; returns the content.
#[track_caller]
pub fn wait_file_contains(path: &Path, needle: &str) -> String {
    let mut last = String::new();
    let found = poll_until(WAIT_TIMEOUT, || {
        last = fs::read_to_string(path).unwrap_or_default();
        last.contains(needle)
    });
    assert!(
        found,
        "timed out waiting for {} to contain {needle:?}; it has {last:?}",
        path.display()
    );
    last
}

/// Process exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    match stat.rfind(')') {
        Some(i) => !matches!(stat[i + 1..].trim_start().chars().next(), Some('Z' | 'X')),
        None => false,
    }
}

/// Namespace link of the test process, e.g. `ns_link("self", "net")` -> "net:[4026531992]".
pub fn ns_link(pid: &str, ns: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{ns}: {e}"))
}

/// Direct children of `pid` (from /proc/PID/task/PID/children).
pub fn children_of(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

pub fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim_end()
                .to_string()
        })
        .unwrap_or_default()
}

/// Pids of processes (other than this one) whose command line or cwd mentions any needle.
pub fn processes_mentioning(needles: &[&str]) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me || !pid_alive(pid) {
            continue;
        }
        let cl = cmdline(pid);
        let cwd = fs::read_link(format!("/proc/{pid}/cwd"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if needles
            .iter()
            .any(|n| !n.is_empty() && (cl.contains(n) || cwd.contains(n)))
        {
            found.push((pid, format!("{cl} (cwd {cwd})")));
        }
    }
    found
}
