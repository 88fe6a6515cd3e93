//! Cgroups: the hierarchies visible to the tests, the dirs a cgroupsPath maps to, and
//! their forced cleanup.

use super::poll_until;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Mount points of every cgroup (v1 and v2) hierarchy visible to this process.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v = Vec::new();
    for line in mi.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = post.split_whitespace().next().unwrap_or("");
        if let (true, Some(mp)) = (
            fstype == "cgroup" || fstype == "cgroup2",
            pre.split_whitespace().nth(4),
        ) {
            v.push(PathBuf::from(unescape_mountinfo(mp)));
        }
    }
    v
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directories `cgroups_path` maps to, one per hierarchy (existing or not).
pub fn cgroup_dirs_for(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    cgroup_mounts().into_iter().map(|m| m.join(rel)).collect()
}

/// Kill everything in the cgroup dirs named by `cgroups_path` and rmdir them.
/// Only ever touches the exact directory named by the test.
pub fn cleanup_cgroup(cgroups_path: &str) {
    if cgroups_path.trim_matches('/').is_empty() {
        return; // never the root
    }
    let dirs: Vec<PathBuf> = cgroup_dirs_for(cgroups_path)
        .into_iter()
        .filter(|d| d.is_dir())
        .collect();
    if dirs.is_empty() {
        return;
    }
    for d in &dirs {
        // A frozen cgroup's tasks cannot die: thaw first.
        if d.join("freezer.state").exists() {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
        }
        if d.join("cgroup.freeze").exists() {
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        }
    }
    let procs = |d: &Path| -> Vec<i32> {
        fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect()
    };
    let _ = poll_until(Duration::from_secs(5), || {
        let mut any = false;
        for d in &dirs {
            for p in procs(d) {
                any = true;
                // SAFETY: plain kill(2) of a process inside the cgroup this test created.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
        }
        !any
    });
    let _ = poll_until(Duration::from_secs(5), || {
        for d in &dirs {
            if d.exists() {
                let _ = fs::remove_dir(d);
            }
        }
        dirs.iter().all(|d| !d.exists())
    });
}
