//! Helpers for the exec tests: a busybox container per test, with its own ID, `--root`,
//! absolute cgroupsPath and a Drop guard that removes everything even on panic. Every wait
//! is bounded.

#![allow(dead_code)]

use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The runtime under test: bulkhead, or `BULKHEAD_TEST_RUNTIME` (as tests/common does), so the
/// same cases run against runc.
pub static BIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    std::env::var("BULKHEAD_TEST_RUNTIME").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| env!("CARGO_BIN_EXE_bulkhead").to_string())
});
pub const TIMEOUT: Duration = Duration::from_secs(20);

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// Runs `cmd`, failing the test if it takes longer than `TIMEOUT`.
pub fn run_bounded(mut cmd: Command) -> Output {
    let child = cmd.spawn().expect("spawning bulkhead");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(out) => out.expect("waiting for bulkhead"),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("{cmd:?} did not finish within {TIMEOUT:?}");
        }
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `f` until it returns Some, for at most `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub struct Ct {
    pub id: String,
    pub root: tempfile::TempDir,
    pub bundle: tempfile::TempDir,
    /// Absolute cgroupsPath, e.g. /bulkhead-exec-123-4.
    pub cgroup: String,
}

fn build_rootfs(rootfs: &Path) {
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in text(&list.stdout).lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let _ = symlink("busybox", rootfs.join("bin").join(applet));
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
}

impl Ct {
    /// A running container (`run -d`) whose config is `bulkhead spec` edited by `tweak`.
    pub fn start(name: &str, tweak: impl FnOnce(&mut Value)) -> Ct {
        Ct::with(name, tweak, &["run", "-d"])
    }

    /// As `start`, with another command line (`["create"]`, `["run", "-d", "--no-pivot"]`).
    pub fn with(name: &str, tweak: impl FnOnce(&mut Value), how: &[&str]) -> Ct {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let id = format!("{name}-{}-{n}", std::process::id());
        let cgroup = format!("/bulkhead-exec-{}-{n}-{name}", std::process::id());
        let root = tempfile::tempdir().unwrap();
        let bundle = tempfile::tempdir().unwrap();
        build_rootfs(&bundle.path().join("rootfs"));
        let out = Command::new(&*BIN).args(["spec", "--bundle"]).arg(bundle.path()).output().unwrap();
        assert!(out.status.success(), "spec: {}", text(&out.stderr));
        let cfg_path = bundle.path().join("config.json");
        let mut cfg: Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
        cfg["process"]["terminal"] = Value::Bool(false);
        cfg["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        cfg["linux"]["cgroupsPath"] = Value::String(cgroup.clone());
        cfg["root"]["readonly"] = Value::Bool(false);
        tweak(&mut cfg);
        std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
        let ct = Ct { id, root, bundle, cgroup };
        let mut args: Vec<&str> = how.to_vec();
        args.extend(["--bundle", ct.bundle.path().to_str().unwrap(), &ct.id]);
        let out = ct.cmd(&args, true);
        assert!(out.status.success(), "{how:?} {}: {}", ct.id, text(&out.stderr));
        ct
    }

    /// `bulkhead --root R <args>`, bounded. With `detached` (for `run -d`, `exec -d`: the
    /// container's process inherits our stdio and would hold pipes open), stdout goes to
    /// /dev/null and stderr to a file read back into the Output.
    pub fn cmd(&self, args: &[&str], detached: bool) -> Output {
        let mut c = Command::new(&*BIN);
        c.arg("--root").arg(self.root.path()).args(args).stdin(Stdio::null());
        if !detached {
            c.stdout(Stdio::piped()).stderr(Stdio::piped());
            return run_bounded(c);
        }
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let errpath = self.root.path().join(format!("stderr-{n}"));
        let f = std::fs::File::create(&errpath).unwrap();
        c.stdout(Stdio::null()).stderr(Stdio::from(f));
        let mut out = run_bounded(c);
        out.stderr = std::fs::read(&errpath).unwrap_or_default();
        out
    }

    /// `exec <flags...> ID <command...>` in the foreground.
    pub fn exec(&self, flags: &[&str], command: &[&str]) -> Output {
        let mut args = vec!["exec"];
        args.extend_from_slice(flags);
        args.push(&self.id);
        args.extend_from_slice(command);
        self.cmd(&args, false)
    }

    /// Runs `sh -c script` and returns stdout, asserting exit 0.
    pub fn sh(&self, flags: &[&str], script: &str) -> String {
        let out = self.exec(flags, &["sh", "-c", script]);
        assert_eq!(out.status.code(), Some(0), "exec {flags:?} sh -c {script:?}: stderr {}", text(&out.stderr));
        text(&out.stdout)
    }

    pub fn state(&self) -> Value {
        let out = self.cmd(&["state", &self.id], false);
        assert!(out.status.success(), "state: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn init_pid(&self) -> i32 {
        self.state()["pid"].as_i64().unwrap() as i32
    }

    pub fn rootfs(&self) -> PathBuf {
        self.bundle.path().join("rootfs")
    }

    /// The container's cgroup directory in every mounted hierarchy that has it.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let rel = self.cgroup.trim_start_matches('/');
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            out.push(Path::new("/sys/fs/cgroup").join(rel));
            return out;
        }
        for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let d = e.path().join(rel);
            if d.is_dir() {
                out.push(d);
            }
        }
        out
    }

    /// Makes `<cgroup>/<name>` in every hierarchy (cpuset copied from the parent so tasks
    /// may join).
    pub fn make_sub_cgroup(&self, name: &str) {
        for d in self.cgroup_dirs() {
            let sub = d.join(name);
            let _ = std::fs::create_dir(&sub);
            for f in ["cpuset.cpus", "cpuset.mems"] {
                if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                    let _ = std::fs::write(sub.join(f), v.trim());
                }
            }
        }
    }

    /// The v1 freezer directory, or the cgroup2 one on a pure v2 host.
    pub fn freezer_file(&self) -> (PathBuf, &'static str, &'static str) {
        let rel = self.cgroup.trim_start_matches('/');
        let v1 = Path::new("/sys/fs/cgroup/freezer").join(rel).join("freezer.state");
        if v1.exists() {
            return (v1, "FROZEN", "THAWED");
        }
        (Path::new("/sys/fs/cgroup").join(rel).join("cgroup.freeze"), "1", "0")
    }

    /// Every pid in the container's cgroup (all hierarchies, subgroups included).
    pub fn cgroup_pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        fn walk(d: &Path, pids: &mut Vec<i32>) {
            if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
                pids.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    walk(&e.path(), pids);
                }
            }
        }
        for d in self.cgroup_dirs() {
            walk(&d, &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Waits until only the init is left in the cgroup.
    pub fn assert_only_init(&self) {
        let init = self.init_pid();
        wait_for(Duration::from_secs(5), "only the init left in the cgroup", || {
            let p = self.cgroup_pids();
            (p == vec![init]).then_some(())
        });
    }
}

impl Drop for Ct {
    fn drop(&mut self) {
        // Thaw first: a frozen container cannot die.
        let (f, _, thawed) = self.freezer_file();
        let _ = std::fs::write(&f, thawed);
        let mut c = Command::new(&*BIN);
        c.arg("--root").arg(self.root.path()).args(["delete", "--force", &self.id]).stdout(Stdio::null()).stderr(Stdio::null());
        if let Ok(mut child) = c.spawn() {
            let end = Instant::now() + TIMEOUT;
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Leftovers (the delete failed, or a test made sub-cgroups): kill and remove.
        for d in self.cgroup_dirs() {
            remove_cgroup(&d);
        }
    }
}

fn remove_cgroup(d: &Path) {
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup(&e.path());
        }
    }
    if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
        for pid in s.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    for _ in 0..200 {
        if std::fs::remove_dir(d).is_ok() || !d.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A console-socket receiver: a Unix listener that accepts one connection and takes the fd
/// sent with SCM_RIGHTS.
pub struct ConsoleReceiver {
    pub path: PathBuf,
    listener: std::os::unix::net::UnixListener,
    _dir: tempfile::TempDir,
}

impl ConsoleReceiver {
    pub fn new() -> ConsoleReceiver {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("console.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        ConsoleReceiver { path, listener, _dir: dir }
    }

    /// (the received fd, the name sent with it), within `TIMEOUT`.
    pub fn receive(&self) -> (std::os::fd::OwnedFd, String) {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        use std::os::fd::{AsRawFd, FromRawFd};
        let (stream, _) = wait_for(TIMEOUT, "a connection on the console socket", || self.listener.accept().ok());
        stream.set_nonblocking(false).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).expect("recvmsg on the console socket");
        let mut fd = None;
        for c in msg.cmsgs().unwrap() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                fd = fds.first().copied();
            }
        }
        let n = msg.bytes;
        let fd = fd.expect("no fd received over the console socket");
        (unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }, text(&buf[..n]))
    }
}

/// Reads `fd` (a pty master) until EOF/EIO or `limit`, returning what arrived.
pub fn read_pty(fd: &std::os::fd::OwnedFd, limit: Duration) -> String {
    use std::os::fd::AsRawFd;
    let end = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let n = unsafe { libc::poll(&mut p, 1, 100) };
        if n <= 0 {
            continue;
        }
        let r = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if r <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..r as usize]);
    }
    text(&out)
}

/// A `Seccomp:` line value of /proc/PID/status text.
pub fn status_field<'a>(status: &'a str, field: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::trim))
}

/// Parses a hex capability mask.
pub fn capmask(s: &str) -> u64 {
    u64::from_str_radix(s.trim(), 16).unwrap()
}
