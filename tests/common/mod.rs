//! Shared harness for bulkhead's end-to-end tests.
//!
//! The suite drives any runc-compatible binary through its CLI:
//! `BULKHEAD_TEST_RUNTIME=/usr/sbin/runc cargo test` runs it against runc,
//! otherwise the bulkhead binary built by cargo is used.
//!
//! Every test builds a [`Ctx`]: its own bundle (busybox rootfs + config.json from
//! `<runtime> spec`), its own `--root` state dir, container ID and cgroupsPath, so
//! tests can run in parallel threads. Dropping the `Ctx` (also on panic) force-deletes
//! its containers, kills whatever is left in its cgroup, removes the cgroup dirs it
//! named and the temp dir.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// Upper bound for one runtime invocation; a hung runtime fails the test instead of CI.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for polling a condition (status change, file appearing, ...).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Runtime selection
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Running commands with a deadline
// ---------------------------------------------------------------------------

/// Result of one command: exit code (None if killed by a signal or timed out),
/// captured stdout and stderr.
#[derive(Debug, Clone)]
pub struct Out {
    pub cmd: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success:\n{self}");
        self
    }

    /// The command ran to completion (no timeout, no crash by signal) and exited non-zero.
    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a clean non-zero exit:\n{self}"
        );
        self
    }

    /// Non-zero exit and a message on stderr.
    #[track_caller]
    pub fn assert_fail_msg(&self) -> &Self {
        self.assert_fail();
        assert!(
            !self.stderr.trim().is_empty(),
            "expected an error message on stderr:\n{self}"
        );
        self
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmd)?;
        if self.timed_out {
            writeln!(f, "=> TIMED OUT (killed)")?;
        } else if let Some(s) = self.signal {
            writeln!(f, "=> killed by signal {s}")?;
        } else {
            writeln!(f, "=> exit code {:?}", self.code)?;
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            s.push_str(&format!(" {a:?}"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    if s.len() > 600 {
        s.truncate(600);
        s.push_str("...");
    }
    s
}

/// Wait for `child` at most `timeout`; None if it is still running then.
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

fn read_back(mut f: File) -> String {
    let mut buf = Vec::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Run `cmd` with stdin null and stdout/stderr captured in anonymous temp files
/// (files, not pipes: a detached container inherits them and may keep them open).
/// The command gets its own process group, killed as a whole on timeout.
/// Never panics, so it is usable from Drop.
pub fn exec(cmd: &mut Command, timeout: Duration) -> Out {
    let desc = describe(cmd);
    let fail = |msg: String| Out {
        cmd: desc.clone(),
        code: None,
        signal: None,
        timed_out: false,
        stdout: String::new(),
        stderr: msg,
    };
    let (so, se) = match (tempfile::tempfile(), tempfile::tempfile()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return fail("cannot create capture files".into()),
    };
    let (so2, se2) = match (so.try_clone(), se.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return fail("cannot clone capture files".into()),
    };
    cmd.stdin(Stdio::null())
        .stdout(so2)
        .stderr(se2)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("spawn failed: {e}")),
    };
    let status = wait_deadline(&mut child, timeout);
    let timed_out = status.is_none();
    if timed_out {
        // SAFETY: plain kill(2) on the process group we created for this child.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }
    Out {
        cmd: desc,
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        stdout: read_back(so),
        stderr: read_back(se),
    }
}

/// A Command for the runtime under test (no `--root`).
pub fn rt_raw() -> Command {
    Command::new(runtime())
}

/// Run the runtime with exactly these arguments.
pub fn rt_exec(args: &[&str]) -> Out {
    exec(rt_raw().args(args), CMD_TIMEOUT)
}

// ---------------------------------------------------------------------------
// Polling helpers
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Cgroups
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Bundles
// ---------------------------------------------------------------------------

fn busybox_applets() -> &'static [String] {
    static V: OnceLock<Vec<String>> = OnceLock::new();
    V.get_or_init(|| {
        let out = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("/bin/busybox --list (is busybox-static installed?)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty() && !l.contains('/') && l != "busybox")
            .collect()
    })
}

/// A busybox rootfs: /bin/busybox plus one symlink per applet, and the usual dirs.
pub fn build_rootfs(rootfs: &Path) {
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    for d in ["proc", "sys", "dev", "tmp", "etc", "root"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).expect("copy /bin/busybox");
    for a in busybox_applets() {
        let _ = symlink("busybox", rootfs.join("bin").join(a));
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
}

/// The runtime's default config (`<runtime> spec --bundle DIR`), generated once per process.
pub fn default_spec() -> Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("bulkhead-spec-")
            .tempdir()
            .unwrap();
        let out = exec(
            rt_raw().arg("spec").arg("--bundle").arg(dir.path()),
            CMD_TIMEOUT,
        );
        out.assert_ok();
        let text = fs::read_to_string(dir.path().join("config.json"))
            .unwrap_or_else(|e| panic!("spec wrote no config.json: {e}\n{out}"));
        serde_json::from_str(&text).expect("spec output is JSON")
    })
    .clone()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One test's world: bundle, state root, container IDs, cgroup, helpers. Cleans up on Drop.
pub struct Ctx {
    /// Main container ID.
    pub id: String,
    /// The cgroupsPath written to the config (absolute).
    pub cgroup_path: String,
    /// config.json as a value; mutate freely, it is written before create/run.
    pub config: Value,
    /// The test's temp dir (holds everything below).
    pub dir: PathBuf,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// `--root` state directory (not created up front).
    pub root: PathBuf,
    /// Host dir bind-mounted read-write at /out in the container.
    pub out: PathBuf,
    ids: Mutex<Vec<String>>,
    helpers: Mutex<Vec<Child>>,
    tmp: Option<tempfile::TempDir>,
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.chars().take(40).collect()
}

impl Ctx {
    pub fn new(name: &str) -> Ctx {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        // Counter before pid: no ID is a substring of another one (leftover-process scans rely on it).
        let id = format!("{}-{}-{}", sanitize(name), n, std::process::id());
        let tmp = tempfile::Builder::new()
            .prefix("bulkhead-test-")
            .tempdir()
            .expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let bundle = dir.join("bundle");
        let rootfs = bundle.join("rootfs");
        let out = dir.join("out");
        fs::create_dir_all(&out).unwrap();
        build_rootfs(&rootfs);
        let cgroup_path = format!("/bulkhead-test-{id}");
        let mut config = default_spec();
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(["sleep", "1000"]);
        config["linux"]["cgroupsPath"] = json!(cgroup_path);
        config["mounts"]
            .as_array_mut()
            .expect("spec has mounts")
            .push(json!({
                "destination": "/out",
                "type": "bind",
                "source": out,
                "options": ["rbind", "rw"],
            }));
        Ctx {
            id: id.clone(),
            cgroup_path,
            config,
            root: dir.join("root"),
            dir,
            bundle,
            rootfs,
            out,
            ids: Mutex::new(vec![id]),
            helpers: Mutex::new(Vec::new()),
            tmp: Some(tmp),
        }
    }

    /// Another container ID for this test (same root), cleaned up on Drop.
    pub fn new_id(&self, suffix: &str) -> String {
        let id = format!("{}-{}", self.id, sanitize(suffix));
        self.track_id(&id);
        id
    }

    /// Make Drop clean up this ID too.
    pub fn track_id(&self, id: &str) {
        self.ids.lock().unwrap().push(id.to_string());
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
    }

    pub fn write_config(&self) {
        fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// The runtime with `--root <root>` already given.
    pub fn rt(&self) -> Command {
        let mut c = rt_raw();
        c.arg("--root").arg(&self.root);
        c
    }

    /// `runtime --root R <args>`.
    pub fn cmd(&self, args: &[&str]) -> Out {
        exec(self.rt().args(args), CMD_TIMEOUT)
    }

    pub fn bundle_str(&self) -> &str {
        self.bundle.to_str().unwrap()
    }

    /// `runtime --root R create --bundle B <extra> ID` (config not written).
    pub fn create_cmd(&self, extra: &[&str]) -> Command {
        let mut c = self.rt();
        c.arg("create")
            .arg("--bundle")
            .arg(&self.bundle)
            .args(extra)
            .arg(&self.id);
        c
    }

    /// Write config, `create --bundle B <extra> ID`; returns the outcome.
    pub fn try_create(&self, extra: &[&str]) -> Out {
        self.write_config();
        exec(&mut self.create_cmd(extra), CMD_TIMEOUT)
    }

    #[track_caller]
    pub fn create(&self) -> Out {
        let o = self.try_create(&[]);
        o.assert_ok();
        o
    }

    pub fn try_start(&self) -> Out {
        self.cmd(&["start", &self.id])
    }

    #[track_caller]
    pub fn start(&self) -> Out {
        let o = self.try_start();
        o.assert_ok();
        o
    }

    pub fn try_state(&self) -> Out {
        self.cmd(&["state", &self.id])
    }

    #[track_caller]
    pub fn state(&self) -> Value {
        state_of(&self.try_state())
    }

    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap_or("").to_string()
    }

    #[track_caller]
    pub fn pid(&self) -> i32 {
        let st = self.state();
        st["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("state has no pid: {st}")) as i32
    }

    /// `kill ID [SIG]`.
    pub fn kill(&self, sig: Option<&str>) -> Out {
        let mut a = vec!["kill", self.id.as_str()];
        a.extend(sig);
        self.cmd(&a)
    }

    /// `delete [--force] ID`.
    pub fn delete(&self, force: bool) -> Out {
        if force {
            self.cmd(&["delete", "--force", &self.id])
        } else {
            self.cmd(&["delete", &self.id])
        }
    }

    /// Write config and run in the foreground: `run --bundle B <extra> ID`.
    pub fn run(&self, extra: &[&str]) -> Out {
        self.write_config();
        let mut c = self.rt();
        c.arg("run")
            .arg("--bundle")
            .arg(&self.bundle)
            .args(extra)
            .arg(&self.id);
        exec(&mut c, CMD_TIMEOUT)
    }

    /// Run `sh -c script` in the foreground.
    pub fn sh(&mut self, script: &str) -> Out {
        self.set_args(&["sh", "-c", script]);
        self.run(&[])
    }

    /// Run `sh -c script`, assert exit 0, return its stdout.
    #[track_caller]
    pub fn sh_ok(&mut self, script: &str) -> String {
        let o = self.sh(script);
        o.assert_ok();
        o.stdout
    }

    /// Poll `state` until the status is `want`.
    #[track_caller]
    pub fn wait_status(&self, want: &str) {
        let mut last = String::new();
        let ok = poll_until(WAIT_TIMEOUT, || {
            let o = self.try_state();
            last = o.to_string();
            o.ok()
                && serde_json::from_str::<Value>(&o.stdout)
                    .map(|v| v["status"] == want)
                    .unwrap_or(false)
        });
        assert!(
            ok,
            "container never reached status {want:?}; last state:\n{last}"
        );
    }

    /// Existing cgroup dirs for this test's cgroupsPath.
    pub fn existing_cgroup_dirs(&self) -> Vec<PathBuf> {
        cgroup_dirs_for(&self.cgroup_path)
            .into_iter()
            .filter(|d| d.exists())
            .collect()
    }

    #[track_caller]
    pub fn assert_no_cgroup(&self) {
        let left = self.existing_cgroup_dirs();
        assert!(left.is_empty(), "cgroup dirs left behind: {left:?}");
    }

    /// Nothing from container `id` left: `state` fails, no entry under --root,
    /// no cgroup dir for our cgroupsPath, no process mentioning the ID or the bundle.
    #[track_caller]
    pub fn assert_gone(&self, id: &str) {
        let st = self.cmd(&["state", id]);
        assert!(!st.ok(), "state still succeeds:\n{st}");
        assert!(
            !self.root.join(id).exists(),
            "{} still exists",
            self.root.join(id).display()
        );
        let mut procs = Vec::new();
        let bundle = self.bundle_str().to_string();
        let gone = poll_until(Duration::from_secs(5), || {
            procs = processes_mentioning(&[id, &bundle]);
            procs.is_empty()
        });
        assert!(gone, "leftover processes: {procs:?}");
        // cgroup removal can lag a moment behind the last process exiting.
        let _ = poll_until(Duration::from_secs(5), || {
            self.existing_cgroup_dirs().is_empty()
        });
        self.assert_no_cgroup();
    }

    /// Like [`Ctx::assert_gone`] and also nothing at all under --root.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str) {
        self.assert_gone(id);
        let entries: Vec<_> = fs::read_dir(&self.root)
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(entries.is_empty(), "left under --root: {entries:?}");
    }

    /// Start `unshare --<ns> sleep 1000` and return its pid once it sits in a new
    /// namespace of that type. Killed on Drop.
    pub fn spawn_ns_holder(&self, ns_flag: &str, ns_name: &str) -> i32 {
        let child = Command::new("unshare")
            .arg(format!("--{ns_flag}"))
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let pid = child.id() as i32;
        self.helpers.lock().unwrap().push(child);
        let mine = ns_link("self", ns_name);
        wait_until(WAIT_TIMEOUT, "unshare to enter a new namespace", || {
            fs::read_link(format!("/proc/{pid}/ns/{ns_name}"))
                .map(|l| l.to_string_lossy() != mine)
                .unwrap_or(false)
                && cmdline(pid).starts_with("sleep")
        });
        pid
    }

    /// Keep a helper process; it is killed on Drop.
    pub fn adopt_helper(&self, c: Child) {
        self.helpers.lock().unwrap().push(c);
    }
}

/// Parse `state` output (asserting it succeeded).
#[track_caller]
pub fn state_of(o: &Out) -> Value {
    o.assert_ok();
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("state is not JSON ({e}):\n{o}"))
}

fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = mi
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(dir))
        .collect();
    // deepest first
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v
}

impl Drop for Ctx {
    fn drop(&mut self) {
        let ids = self.ids.lock().map(|v| v.clone()).unwrap_or_default();
        for id in &ids {
            let _ = exec(
                self.rt().args(["delete", "--force", id.as_str()]),
                Duration::from_secs(20),
            );
        }
        if let Ok(mut hs) = self.helpers.lock() {
            for h in hs.iter_mut() {
                let _ = h.kill();
                let _ = h.wait();
            }
        }
        cleanup_cgroup(&self.cgroup_path);
        // Anything still naming our unique ID or temp dir was started by this test.
        let dir = self.dir.to_string_lossy().into_owned();
        let mut needles: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
        needles.push(&dir);
        for (pid, _) in processes_mentioning(&needles) {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // A runtime bug could leave mounts in our namespace under the temp dir:
        // detach them so removing the dir cannot walk into anything else.
        for m in mounts_under(&self.dir) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        if !mounts_under(&self.dir).is_empty()
            && let Some(t) = self.tmp.take()
        {
            let kept = t.keep();
            eprintln!(
                "warning: mounts left under {}, not removing it",
                kept.display()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Console socket (runc protocol: the runtime connects and sends the pty master
// with SCM_RIGHTS)
// ---------------------------------------------------------------------------

pub struct ConsoleSocket {
    pub path: PathBuf,
    rx: mpsc::Receiver<Result<OwnedFd, String>>,
}

impl ConsoleSocket {
    /// Listen on `dir/console.sock`; a thread accepts one connection and receives one fd.
    pub fn new(dir: &Path) -> ConsoleSocket {
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind console socket");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(recv_one_fd(listener, CMD_TIMEOUT));
        });
        ConsoleSocket { path, rx }
    }

    /// The received pty master.
    #[track_caller]
    pub fn master(&self) -> OwnedFd {
        match self.rx.recv_timeout(CMD_TIMEOUT + Duration::from_secs(5)) {
            Ok(Ok(fd)) => fd,
            Ok(Err(e)) => panic!("console socket: {e}"),
            Err(e) => panic!("console socket: no fd received: {e}"),
        }
    }
}

fn poll_in(fd: i32, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0
}

fn recv_one_fd(listener: UnixListener, timeout: Duration) -> Result<OwnedFd, String> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::io::IoSliceMut;
    if !poll_in(listener.as_raw_fd(), timeout) {
        return Err("nobody connected to the console socket".into());
    }
    let (stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    if !poll_in(stream.as_raw_fd(), timeout) {
        return Err("no message on the console socket".into());
    }
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let mut got: Option<OwnedFd> = None;
    for c in msg.cmsgs().map_err(|e| format!("cmsgs: {e}"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just gave us this fd; we own it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    got.ok_or_else(|| "message carried no SCM_RIGHTS fd".into())
}

/// Read from `fd` (a pty master) until the accumulated text contains `needle`.
#[track_caller]
pub fn read_until(fd: &OwnedFd, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut acc = Vec::new();
    loop {
        if String::from_utf8_lossy(&acc).contains(needle) {
            return String::from_utf8_lossy(&acc).into_owned();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !poll_in(fd.as_raw_fd(), left) {
            panic!(
                "timed out waiting for {needle:?} on the tty; got {:?}",
                String::from_utf8_lossy(&acc)
            );
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a local buffer from an fd we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // EIO: every slave end closed.
            panic!(
                "tty closed before {needle:?} appeared; got {:?}",
                String::from_utf8_lossy(&acc)
            );
        }
        acc.extend_from_slice(&buf[..n as usize]);
    }
}

pub fn write_fd(fd: &OwnedFd, data: &[u8]) {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writing from a live slice to an fd we own.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                data[off..].as_ptr().cast(),
                data.len() - off,
            )
        };
        assert!(
            n > 0,
            "write to tty failed: {}",
            std::io::Error::last_os_error()
        );
        off += n as usize;
    }
}

// ---------------------------------------------------------------------------
// Small parsers
// ---------------------------------------------------------------------------

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
