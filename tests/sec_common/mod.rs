//! Helpers for tests/security*.rs and tests/rootless.rs: busybox bundles, a bounded runner for the bulkhead binary,
//! and a guard that removes every container (and its cgroup) even when a test panics.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_bulkhead");
static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn unique(tag: &str) -> String {
    format!("sec-{tag}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst))
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Skips (returns true) when the test cannot run here: not root, or no busybox.
pub fn skip() -> bool {
    if !is_root() || !Path::new("/bin/busybox").exists() {
        eprintln!("skipped: needs root and /bin/busybox");
        return true;
    }
    false
}

/// A busybox rootfs at `dir`: /bin/busybox plus a symlink per applet.
pub fn busybox_rootfs(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy("/bin/busybox", bin.join("busybox")).unwrap();
    let out = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
        }
    }
    for d in ["proc", "sys", "dev", "etc", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n").unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// The result of one bounded run of the bulkhead binary.
#[derive(Debug)]
pub struct Out {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
}

/// One test's world: a temp dir with a bundle, its own --root, its own cgroup path.
pub struct Ctx {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub cgroup: String,
    pub tag: String,
    /// Binary used for every command (a copy for the CVE-2019-5736 decoy test).
    pub bin: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
    n: std::cell::Cell<u32>,
}

impl Ctx {
    pub fn new(tag: &str) -> Ctx {
        let tmp = tempfile::Builder::new().prefix("bulkhead-sec-").tempdir().unwrap();
        let root = tmp.path().join("state");
        let bundle = tmp.path().join("bundle");
        let rootfs = bundle.join("rootfs");
        busybox_rootfs(&rootfs);
        let tag = unique(tag);
        let c = Ctx {
            root,
            bundle: bundle.clone(),
            rootfs,
            cgroup: format!("/bulkhead-{tag}"),
            tag,
            bin: PathBuf::from(BIN),
            ids: Default::default(),
            n: Default::default(),
            tmp,
        };
        let o = c.cmd(&["spec", "--bundle", bundle.to_str().unwrap()], None);
        assert!(o.ok(), "bulkhead spec: {o:?}");
        let mut cfg = c.config();
        cfg["process"]["terminal"] = json!(false);
        c.write_config(&cfg);
        c
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    /// config.json as it is on disk now: after `set`, that is the last container's config.
    pub fn config(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.bundle.join("config.json")).unwrap()).unwrap()
    }

    /// Writes `cfg` with this test's cgroup path (suffixed per container by `new_id`).
    pub fn write_config(&self, cfg: &Value) {
        std::fs::write(self.bundle.join("config.json"), serde_json::to_vec_pretty(cfg).unwrap()).unwrap();
    }

    /// A fresh container id, registered for cleanup; the config's cgroupsPath follows it.
    pub fn new_id(&self) -> String {
        let n = self.n.get();
        self.n.set(n + 1);
        let id = format!("{}-{n}", self.tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Sets process.args and cgroupsPath for `id`, writing config.json.
    pub fn set(&self, cfg: &mut Value, id: &str, args: &[&str]) {
        cfg["process"]["args"] = json!(args);
        cfg["linux"]["cgroupsPath"] = json!(format!("/bulkhead-{id}"));
        self.write_config(cfg);
    }

    /// Runs bulkhead with --root, bounded by 30 s.
    pub fn cmd(&self, args: &[&str], timeout: Option<Duration>) -> Out {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root).args(args);
        run_bounded(c, timeout.unwrap_or(Duration::from_secs(30)))
    }

    /// `run` in the foreground: the container's output.
    pub fn run(&self, id: &str) -> Out {
        self.cmd(&["run", "--bundle", self.bundle.to_str().unwrap(), id], None)
    }

    pub fn create(&self, id: &str) -> Out {
        self.cmd(&["create", "--bundle", self.bundle.to_str().unwrap(), id], None)
    }

    pub fn state(&self, id: &str) -> Option<Value> {
        let o = self.cmd(&["state", id], Some(Duration::from_secs(10)));
        serde_json::from_str(&o.stdout).ok()
    }

    pub fn pid(&self, id: &str) -> i32 {
        self.state(id).and_then(|s| s["pid"].as_i64()).unwrap_or(0) as i32
    }

    pub fn delete(&self, id: &str) {
        let _ = self.cmd(&["delete", "--force", id], Some(Duration::from_secs(15)));
    }

    /// Waits (bounded) until the container is stopped or gone.
    pub fn wait_stopped(&self, id: &str, limit: Duration) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            match self.state(id) {
                Some(s) if s["status"] != "stopped" => std::thread::sleep(Duration::from_millis(50)),
                _ => return true,
            }
        }
        false
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter().rev() {
            let pid = self.pid(id);
            self.delete(id);
            if pid > 0 {
                // A leftover init (delete failed): kill it by pid, nothing broader.
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            // A leftover cgroup (creates that died half-way): remove the empty dirs.
            for base in ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/devices", "/sys/fs/cgroup/freezer", "/sys/fs/cgroup"] {
                let _ = std::fs::remove_dir(Path::new(base).join(format!("bulkhead-{id}")));
            }
        }
    }
}

/// Spawns `c` with stdout/stderr going to temp files (a container init may keep pipes open
/// forever), waits at most `limit`, kills it on timeout.
pub fn run_bounded(mut c: Command, limit: Duration) -> Out {
    let out = tempfile::tempfile().unwrap();
    let err = tempfile::tempfile().unwrap();
    c.stdin(Stdio::null()).stdout(out.try_clone().unwrap()).stderr(err.try_clone().unwrap());
    let mut child = c.spawn().expect("spawning bulkhead");
    let end = Instant::now() + limit;
    let (code, timed_out) = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break (st.code(), false);
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Out { code, stdout: read(out), stderr: read(err), timed_out }
}

/// Mount points of the host (this test process's mount namespace).
pub fn host_mounts() -> std::collections::BTreeSet<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// New host mount points since `before`. Other test suites running at the same time mount
/// things under /tmp (their own temp dirs) and /run: only those under this test's own temp
/// dir count there; anything new elsewhere on the host counts.
/// New host mounts the attacks could have made: under this test's temp dir (the planted
/// symlinks' targets) or on the host's system trees. Other new mounts are somebody else's
/// (a daemon or another test running on the machine at the same time) and are ignored.
pub fn new_host_mounts(before: &std::collections::BTreeSet<String>, ctx: &Ctx) -> Vec<String> {
    let own = ctx.tmp.path().to_string_lossy().into_owned();
    let system = ["/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib", "/root", "/boot"];
    host_mounts()
        .difference(before)
        .filter(|m| m.starts_with(&own) || m.as_str() == "/" || system.iter().any(|s| m.as_str() == *s || m.starts_with(&format!("{s}/"))))
        .cloned()
        .collect()
}

/// A tmpfs this test mounts on the host (under its temp dir) and unmounts in Drop.
pub struct HostMount(pub PathBuf);

impl HostMount {
    pub fn tmpfs(at: &Path, flags: nix::mount::MsFlags) -> HostMount {
        std::fs::create_dir_all(at).unwrap();
        nix::mount::mount(Some("tmpfs"), at, Some("tmpfs"), flags, Some("size=1m")).unwrap();
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

pub fn sha(p: &Path) -> Vec<u8> {
    // No hash crate here: the whole content is the fingerprint (compared, not printed).
    std::fs::read(p).unwrap()
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mount_entry(dest: &str, typ: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": dest, "type": typ, "source": source, "options": options})
}

/// A real unprivileged user made for one test (useradd; /etc/subuid and /etc/subgid entries
/// come with it), removed by userdel in Drop.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    pub fn new() -> Option<TestUser> {
        let name = format!("bhsec{}x{}", std::process::id() % 100000, SEQ.fetch_add(1, Ordering::SeqCst));
        let st = Command::new("useradd").args(["-M", "-s", "/bin/sh", &name]).status().ok()?;
        if !st.success() {
            return None;
        }
        let id = |flag: &str| -> Option<u32> {
            let o = Command::new("id").args([flag, &name]).output().ok()?;
            String::from_utf8_lossy(&o.stdout).trim().parse().ok()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        let u = TestUser { name, uid: uid.unwrap_or(0), gid: gid.unwrap_or(0) };
        (u.uid != 0).then_some(u)
    }

    /// The first subordinate id range of this user in /etc/subuid or /etc/subgid.
    pub fn subids(&self, file: &str) -> Option<(u32, u32)> {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() == 3 && (f[0] == self.name || f[0] == self.uid.to_string()) {
                Some((f[1].parse().ok()?, f[2].parse().ok()?))
            } else {
                None
            }
        })
    }

    /// Runs `bin args` as this user (no supplementary groups), bounded.
    pub fn run(&self, bin: &Path, args: &[&str], cwd: &Path) -> Out {
        use std::os::unix::process::CommandExt;
        let mut c = Command::new(bin);
        c.args(args).current_dir(cwd).uid(self.uid).gid(self.gid).env_clear().env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("HOME", "/");
        run_bounded(c, Duration::from_secs(30))
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // (Containers of the user are deleted by the Ctx guard, declared after the user so
        // dropped first.)
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// chown -R (no symlink following).
pub fn chown_r(p: &Path, uid: u32, gid: u32) {
    let _ = std::os::unix::fs::lchown(p, Some(uid), Some(gid));
    if std::fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false) {
        for e in std::fs::read_dir(p).unwrap() {
            chown_r(&e.unwrap().path(), uid, gid);
        }
    }
}
