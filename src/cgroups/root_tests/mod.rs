//! Tests against the real cgroup file system. They need root; without it they print a note
//! and pass. Every test uses its own cgroup path `/bulkhead-unit-<pid>-<n>` and a Drop
//! guard that kills its children and destroys the cgroup even when the test panics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::resources::tests::res;
use super::*;

mod cgroup2;
mod device_rules;
mod lifecycle;
mod limits;

static N: AtomicUsize = AtomicUsize::new(0);

pub(super) fn unique() -> String {
    format!(
        "/bulkhead-unit-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

pub(super) fn root() -> bool {
    let ok = nix::unistd::geteuid().is_root()
        && Path::new("/proc/self/mountinfo").exists()
        && Layout::detect().is_ok();
    if !ok {
        eprintln!("skipping: needs root and a cgroup file system");
    }
    ok
}

/// Kills its children and destroys its cgroups on drop.
pub(super) struct Guard {
    cg: Cgroup,
    children: Vec<Child>,
    extra_dirs: Vec<PathBuf>,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            cg: Cgroup::resolve(Some(&unique()), "unit", super::Driver::Cgroupfs).unwrap(),
            children: vec![],
            extra_dirs: vec![],
        }
    }
    fn spawn_sleep(&mut self) -> i32 {
        let c = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }
    /// A shell that waits for a line on stdin before running `script`.
    fn spawn_gated(&mut self, script: &str) -> i32 {
        let c = Command::new("sh")
            .arg("-c")
            .arg(format!("read x; {script}"))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }
    fn release(&mut self, pid: i32) -> i32 {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .unwrap();
        c.stdin.take().unwrap().write_all(b"go\n").unwrap();
        c.wait().unwrap().code().unwrap_or(-1)
    }
    fn wait_exit(&mut self, pid: i32) -> std::process::ExitStatus {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "pid {pid} did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.destroy();
        for d in self.extra_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The common setup: a created cgroup of its own, and its guard (None without root).
pub(super) fn created() -> Option<(Guard, Cgroup)> {
    if !root() {
        return None;
    }
    let g = Guard::new();
    let cg = g.cg.clone();
    cg.create().unwrap();
    Some((g, cg))
}

pub(super) fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

fn proc_state(pid: i32) -> String {
    read(format!("/proc/{pid}/status"))
        .lines()
        .find(|l| l.starts_with("State:"))
        .unwrap()
        .to_string()
}

/// utime + stime of a process, in clock ticks.
pub(super) fn cpu_ticks(pid: i32) -> u64 {
    let s = read(format!("/proc/{pid}/stat"));
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

pub(super) fn wait_state(pid: i32, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = proc_state(pid);
        if pred(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
