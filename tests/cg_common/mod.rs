//! Helpers for tests/cgroups.rs: busybox bundles, containers with their own --root and
//! absolute cgroupsPath, cleaned up by a Drop guard (even on panic), and bounded waits.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The runtime under test: bulkhead, or `BULKHEAD_TEST_RUNTIME` (as tests/common does).
pub static BIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("BULKHEAD_TEST_RUNTIME").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| env!("CARGO_BIN_EXE_bulkhead").to_string())
});

/// Runs `cmd`, killing it (and failing the test) after `secs`. Output goes through files,
/// not pipes: a detached container inherits them and would keep a pipe open forever.
pub fn output_within(mut cmd: Command, secs: u64) -> Output {
    let desc = format!("{cmd:?}");
    let mut out = tempfile::tempfile().unwrap();
    let mut err = tempfile::tempfile().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{desc}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{desc}: still running after {secs}s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    use std::io::Seek;
    let (mut o, mut e) = (Vec::new(), Vec::new());
    out.rewind().unwrap();
    out.read_to_end(&mut o).unwrap();
    err.rewind().unwrap();
    err.read_to_end(&mut e).unwrap();
    Output { status, stdout: o, stderr: e }
}

/// Polls `f` until it returns true; panics with `what` after `secs`.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        if Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The mount point of the v1 hierarchy holding `ctrl` (or of name=systemd / cgroup2 "unified").
pub fn v1_mount(ctrl: &str) -> Option<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for l in mi.lines() {
        let Some((pre, post)) = l.split_once(" - ") else { continue };
        let mut p = post.split_whitespace();
        let fstype = p.next().unwrap_or("");
        let opts = p.nth(1).unwrap_or("");
        let Some(mp) = pre.split_whitespace().nth(4) else { continue };
        if fstype == "cgroup" && opts.split(',').any(|o| o == ctrl) {
            return Some(PathBuf::from(mp));
        }
    }
    None
}

/// Every cgroup mount point (v1 and v2) of the host.
pub fn all_mounts() -> Vec<PathBuf> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mi.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            let mp = pre.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(mp))
        })
        .collect()
}

/// True on hosts with v1 memory, cpu, pids, freezer and devices controllers (this suite's
/// target; pure cgroup v2 is covered by the VM tests in vm/tests/).
pub fn v1_host() -> bool {
    ["memory", "cpu", "pids", "freezer", "devices", "cpuset"].iter().all(|c| v1_mount(c).is_some())
}

/// Busybox rootfs: /bin/busybox plus a symlink per applet.
pub fn make_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for a in String::from_utf8_lossy(&list.stdout).lines() {
        if a != "busybox" && !a.is_empty() {
            std::os::unix::fs::symlink("busybox", bin.join(a)).unwrap();
        }
    }
    for d in ["proc", "sys", "dev", "tmp", "etc"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One container under test: own ID, --root, bundle and absolute cgroupsPath.
pub struct Ctr {
    pub id: String,
    pub root: tempfile::TempDir,
    pub bundle: tempfile::TempDir,
    /// e.g. "/bulkhead-cg-memory-1234-0"
    pub cgpath: String,
}

impl Ctr {
    /// A bundle running `args` with a writable root, edited further by `edit`.
    pub fn new(name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> Ctr {
        assert!(nix_is_root(), "tests/cgroups.rs needs root");
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let uniq = format!("{name}-{}-{n}", std::process::id());
        let root = tempfile::Builder::new().prefix("bulkhead-cgroot-").tempdir().unwrap();
        let bundle = tempfile::Builder::new().prefix("bulkhead-cgbundle-").tempdir().unwrap();
        make_rootfs(&bundle.path().join("rootfs"));
        let o = output_within(
            {
                let mut c = Command::new(&*BIN);
                c.args(["spec", "-b"]).arg(bundle.path());
                c
            },
            10,
        );
        assert!(o.status.success(), "spec: {}", String::from_utf8_lossy(&o.stderr));
        let p = bundle.path().join("config.json");
        let mut cfg: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        cfg["process"]["terminal"] = json!(false);
        cfg["process"]["args"] = json!(args);
        cfg["root"]["readonly"] = json!(false);
        let cgpath = format!("/bulkhead-cg-{uniq}");
        cfg["linux"]["cgroupsPath"] = json!(cgpath);
        edit(&mut cfg);
        std::fs::write(&p, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        Ctr { id: format!("cg-{uniq}"), root, bundle, cgpath }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&*BIN);
        c.arg("--root").arg(self.root.path()).args(args);
        c
    }

    /// Runs a bulkhead command (bounded: 30 s).
    pub fn bh(&self, args: &[&str]) -> Output {
        output_within(self.cmd(args), 30)
    }

    /// Like `bh` but fails the test unless it exits 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.bh(args);
        assert!(o.status.success(), "bulkhead {args:?}: {}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    }

    /// `run -d` and return the init pid.
    pub fn start(&self) -> i32 {
        let b = self.bundle.path().to_str().unwrap().to_string();
        self.ok(&["run", "-d", "--bundle", &b, &self.id]);
        self.pid()
    }

    pub fn state(&self) -> Value {
        serde_json::from_str(&self.ok(&["state", &self.id])).unwrap()
    }

    pub fn status(&self) -> String {
        self.state()["status"].as_str().unwrap().to_string()
    }

    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().unwrap() as i32
    }

    /// The container's directory in the hierarchy of `ctrl` (v1), or "unified"/"systemd".
    pub fn dir(&self, ctrl: &str) -> PathBuf {
        let m = match ctrl {
            "systemd" => v1_mount("name=systemd"),
            "unified" => all_mounts().into_iter().find(|m| m.ends_with("unified")),
            c => v1_mount(c),
        }
        .unwrap_or_else(|| panic!("no {ctrl} cgroup hierarchy"));
        m.join(self.cgpath.trim_start_matches('/'))
    }

    pub fn read(&self, ctrl: &str, file: &str) -> String {
        let p = self.dir(ctrl).join(file);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).trim().to_string()
    }

    /// Every directory named after the cgroupsPath that still exists, in any hierarchy.
    pub fn leftover_dirs(&self) -> Vec<PathBuf> {
        all_mounts().into_iter().map(|m| m.join(self.cgpath.trim_start_matches('/'))).filter(|d| d.exists()).collect()
    }

    /// A file in the container's rootfs (as the host sees it).
    pub fn rootfs(&self, rel: &str) -> PathBuf {
        self.bundle.path().join("rootfs").join(rel)
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = Command::new(&*BIN)
            .arg("--root")
            .arg(self.root.path())
            .args(["delete", "--force", &self.id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for d in self.leftover_dirs() {
            // Thaw and kill anything left, then remove child cgroups and the dir.
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
            if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for p in s.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    unsafe { libc_kill(p, 9) };
                }
            }
            for _ in 0..100 {
                if std::fs::remove_dir(&d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
    fn geteuid() -> u32;
}

pub fn nix_is_root() -> bool {
    unsafe { geteuid() == 0 }
}

/// Line reader over a child's stdout with a bounded wait per line.
pub struct Lines {
    pub child: std::process::Child,
    rx: std::sync::mpsc::Receiver<String>,
}

impl Lines {
    pub fn spawn(mut cmd: Command) -> Lines {
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Lines { child, rx }
    }

    /// The next line within `secs` (None on timeout or end of output).
    pub fn next(&self, secs: u64) -> Option<String> {
        self.rx.recv_timeout(Duration::from_secs(secs)).ok()
    }

    /// Wait (bounded) for the process to exit.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pids whose /proc/PID/cgroup names `cgpath` in any hierarchy (independent of bulkhead).
pub fn procs_in(cgpath: &str) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cgroup"))
                .is_ok_and(|s| s.lines().any(|l| l.rsplit(':').next().is_some_and(|x| x == cgpath || x.starts_with(&format!("{cgpath}/")))))
        })
        .collect();
    v.sort();
    v
}

/// The State: letter of /proc/PID/status.
pub fn proc_state(pid: i32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines().find_map(|l| l.strip_prefix("State:")).unwrap_or("").trim().to_string()
}
