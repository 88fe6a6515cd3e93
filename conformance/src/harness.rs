//! Bundles, runtime CLI driving with timeouts, cleanup.

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const CMD_TIMEOUT: Duration = Duration::from_secs(10);
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole case (cleanup excepted): once spent, runtime calls get only a short grace.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Each cleanup call (state, kill, delete --force).
pub const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

pub struct Case {
    pub name: &'static str,
    /// spec file#section: "short quote"
    pub spec: &'static str,
    pub f: fn(&Ctx) -> Outcome,
}

pub struct Ctx {
    pub runtime: String,
    pub name: String,
    pub run_dir: PathBuf,
    pub root: PathBuf,
    template: PathBuf,
    applets: Vec<String>,
    counter: AtomicUsize,
    pub host_ns: std::collections::HashMap<String, u64>,
}

impl Ctx {
    pub fn new(runtime: &str) -> Result<Ctx, String> {
        let runtime = if runtime.contains('/') {
            fs::canonicalize(runtime).map_err(|e| format!("{runtime}: {e}"))?.display().to_string()
        } else {
            runtime.to_string()
        };
        let name = std::env::var("CONF_RUNTIME_NAME").unwrap_or_else(|_| {
            let base = Path::new(&runtime).file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            for k in ["bulkhead", "crun", "runc", "youki"] {
                if base.contains(k) {
                    return k.to_string();
                }
            }
            base
        });
        let checker = std::env::var("CONF_CHECKER").map(PathBuf::from).unwrap_or_else(|_| {
            std::env::current_exe().unwrap().parent().unwrap().join("conf-checker")
        });
        if !checker.exists() {
            return Err(format!("checker binary {} not found (set CONF_CHECKER)", checker.display()));
        }
        cleanup_stale(false);
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        let run_dir = PathBuf::from(format!("/tmp/bulkhead-conf.{}.{}", std::process::id(), t % 100000));
        mkdir(&run_dir)?;
        let root = run_dir.join("state");
        mkdir(&root)?;
        let template = run_dir.join("template");
        mkdir(&template)?;
        fs::copy("/bin/busybox", template.join("busybox")).map_err(|e| format!("copy /bin/busybox: {e}"))?;
        fs::copy(&checker, template.join("checker")).map_err(|e| format!("copy checker: {e}"))?;
        for f in ["busybox", "checker"] {
            fs::set_permissions(template.join(f), fs::Permissions::from_mode(0o755)).ok();
        }
        let out = Command::new("/bin/busybox").arg("--list").output().map_err(|e| e.to_string())?;
        let applets = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty() && *l != "busybox")
            .map(String::from)
            .collect();
        let mut host_ns = std::collections::HashMap::new();
        for ns in ["pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"] {
            if let Ok(m) = fs::metadata(format!("/proc/self/ns/{ns}")) {
                host_ns.insert(ns.to_string(), m.ino());
            }
        }
        Ok(Ctx { runtime, name, run_dir, root, template, applets, counter: AtomicUsize::new(0), host_ns })
    }
}

pub fn mkdir(p: &Path) -> Result<(), String> {
    fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).ok();
    Ok(())
}

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
    pub fn describe(&self) -> String {
        if self.timed_out {
            return "timed out (killed)".into();
        }
        let e = self.stderr.trim();
        let e: String = e.chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
        format!("exit {:?}: {}", self.code, e)
    }
}

/// Run a command with stdio redirected to files (a container may inherit
/// them, so pipes could block), killing its process group on timeout.
pub fn run_cmd(cmd: &mut Command, dir: &Path, timeout: Duration) -> Out {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let o = dir.join(format!(".cmd{n}.out"));
    let e = dir.join(format!(".cmd{n}.err"));
    let res = (|| {
        let fo = fs::File::create(&o).ok()?;
        let fe = fs::File::create(&e).ok()?;
        cmd.stdin(Stdio::null()).stdout(fo).stderr(fe).process_group(0);
        cmd.spawn().ok()
    })();
    let mut child = match res {
        Some(c) => c,
        None => return Out { code: None, stdout: String::new(), stderr: format!("cannot spawn {cmd:?}"), timed_out: false },
    };
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let code = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st.code().or(st.signal_code().map(|s| 128 + s)),
            Ok(None) => {}
            Err(_) => break None,
        }
        if Instant::now() > deadline {
            timed_out = true;
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let stdout = fs::read_to_string(&o).unwrap_or_default();
    let stderr = fs::read_to_string(&e).unwrap_or_default();
    let _ = fs::remove_file(&o);
    let _ = fs::remove_file(&e);
    Out { code, stdout, stderr, timed_out }
}

trait SigCode {
    fn signal_code(&self) -> Option<i32>;
}
impl SigCode for std::process::ExitStatus {
    fn signal_code(&self) -> Option<i32> {
        std::os::unix::process::ExitStatusExt::signal(self)
    }
}

pub struct Bundle<'a> {
    pub ctx: &'a Ctx,
    pub id: String,
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub config: Value,
    pub checks: Vec<Value>,
    pub cgpath: String,
    /// helper processes (namespace holders) killed on drop
    pub helpers: Vec<std::process::Child>,
    /// extra container ids created from this bundle, cleaned on drop
    pub extra_ids: Vec<String>,
    pub deadline: Instant,
    cleaning: std::cell::Cell<bool>,
}

pub fn cap_list(names: &[&str]) -> Value {
    json!(names.iter().map(|n| format!("CAP_{n}")).collect::<Vec<_>>())
}

pub fn baseline(cgpath: &str) -> Value {
    let caps = cap_list(&["AUDIT_WRITE", "KILL", "NET_BIND_SERVICE"]);
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/conformance/checker", "/conformance/checks.json"],
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "cgroupsPath": cgpath,
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

impl<'a> Bundle<'a> {
    pub fn new(ctx: &'a Ctx, tag: &str) -> Result<Bundle<'a>, String> {
        let n = ctx.counter.fetch_add(1, Ordering::SeqCst);
        let uniq = format!("{}-{}-{n}", std::process::id(), tag);
        let id = format!("conf-{uniq}");
        let dir = ctx.run_dir.join(format!("b{n}-{tag}"));
        let rootfs = dir.join("rootfs");
        for d in ["bin", "dev", "proc", "sys", "tmp", "etc", "conformance", "conformance/wd", "root", "mnt"] {
            mkdir(&rootfs.join(d))?;
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).ok();
        for f in ["busybox", "checker"] {
            let dst = if f == "busybox" { rootfs.join("bin/busybox") } else { rootfs.join("conformance/checker") };
            if fs::hard_link(ctx.template.join(f), &dst).is_err() {
                fs::copy(ctx.template.join(f), &dst).map_err(|e| format!("copy {f}: {e}"))?;
            }
        }
        for a in &ctx.applets {
            let _ = symlink("busybox", rootfs.join("bin").join(a));
        }
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nu1000:x:1000:1000::/tmp:/bin/sh\n").ok();
        fs::write(rootfs.join("etc/group"), "root:x:0:\nu1000:x:1000:\n").ok();
        let cgpath = format!("/bulkhead-conf-{uniq}");
        Ok(Bundle {
            ctx,
            id,
            config: baseline(&cgpath),
            dir,
            rootfs,
            checks: vec![],
            cgpath,
            helpers: vec![],
            extra_ids: vec![],
            deadline: Instant::now() + CASE_TIMEOUT,
            cleaning: std::cell::Cell::new(false),
        })
    }

    pub fn write(&self) -> Result<(), String> {
        fs::write(self.dir.join("config.json"), serde_json::to_string_pretty(&self.config).unwrap()).map_err(|e| e.to_string())?;
        fs::write(self.rootfs.join("conformance/checks.json"), serde_json::to_string(&self.checks).unwrap()).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Timeout for the next runtime call: CMD_TIMEOUT, cut to what is left of
    /// the case's CASE_TIMEOUT (at least 1 s), or CLEANUP_TIMEOUT while cleaning up.
    pub fn timeout(&self) -> Duration {
        if self.cleaning.get() {
            return CLEANUP_TIMEOUT;
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        CMD_TIMEOUT.min(left).max(Duration::from_secs(1))
    }

    pub fn rt(&self, args: &[&str]) -> Out {
        let mut c = Command::new(&self.ctx.runtime);
        c.arg("--root").arg(&self.ctx.root).args(args).current_dir(&self.dir);
        run_cmd(&mut c, &self.dir, self.timeout())
    }

    /// `create --bundle <dir> [--pid-file f] <id>`; the container's stdout/stderr go to
    /// `<dir>/ctr.out` / `ctr.err` (inherited from the create call).
    pub fn create_id(&self, id: &str, extra: &[&str]) -> Out {
        let mut c = Command::new(&self.ctx.runtime);
        c.arg("--root").arg(&self.ctx.root).arg("create").arg("--bundle").arg(&self.dir).args(extra).arg(id).current_dir(&self.dir);
        let fo = fs::OpenOptions::new().create(true).append(true).open(self.dir.join("ctr.out"));
        let fe = fs::OpenOptions::new().create(true).append(true).open(self.dir.join("ctr.err"));
        let (fo, fe) = match (fo, fe) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Out { code: None, stdout: String::new(), stderr: "cannot open ctr.out".into(), timed_out: false },
        };
        c.stdin(Stdio::null()).stdout(fo).stderr(fe).process_group(0);
        let mut child = match c.spawn() {
            Ok(ch) => ch,
            Err(e) => return Out { code: None, stdout: String::new(), stderr: format!("spawn {}: {e}", self.ctx.runtime), timed_out: false },
        };
        let deadline = Instant::now() + self.timeout();
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    let err = fs::read_to_string(self.dir.join("ctr.err")).unwrap_or_default();
                    return Out { code: st.code(), stdout: String::new(), stderr: err, timed_out: false };
                }
                Ok(None) => {}
                Err(e) => return Out { code: None, stdout: String::new(), stderr: e.to_string(), timed_out: false },
            }
            if Instant::now() > deadline {
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.kill();
                let _ = child.wait();
                return Out { code: None, stdout: String::new(), stderr: String::new(), timed_out: true };
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn create(&self) -> Out {
        self.create_id(&self.id, &[])
    }

    pub fn state_of(&self, id: &str) -> Result<Value, String> {
        let o = self.rt(&["state", id]);
        if !o.ok() {
            return Err(format!("state: {}", o.describe()));
        }
        serde_json::from_str(&o.stdout).map_err(|e| format!("state output is not JSON ({e}): {:?}", o.stdout))
    }
    pub fn state(&self) -> Result<Value, String> {
        self.state_of(&self.id)
    }

    /// Poll `state` until the status is `stopped` (or the state query fails).
    pub fn wait_stopped_id(&self, id: &str) -> Result<(), String> {
        let deadline = Instant::now() + WAIT_TIMEOUT.min(self.timeout());
        loop {
            match self.state_of(id) {
                Ok(v) if v["status"] == "stopped" => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() > deadline {
                return Err("container did not stop in time".to_string());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    pub fn wait_stopped(&self) -> Result<(), String> {
        self.wait_stopped_id(&self.id)
    }

    pub fn ctr_out(&self) -> String {
        fs::read_to_string(self.dir.join("ctr.out")).unwrap_or_default()
    }
    pub fn ctr_err(&self) -> String {
        fs::read_to_string(self.dir.join("ctr.err")).unwrap_or_default()
    }

    /// Full run: write, create, (host check), start, wait, parse checker output, delete.
    pub fn run_checks_with(&mut self, host: &dyn Fn(&Bundle, &Value) -> Result<(), String>) -> Result<(), String> {
        self.write()?;
        let o = self.create();
        if !o.ok() {
            return Err(format!("create failed: {}", o.describe()));
        }
        let st = self.state()?;
        let mut errs = vec![];
        if let Err(e) = host(self, &st) {
            errs.push(format!("host-side: {e}"));
        }
        let o = self.rt(&["start", &self.id]);
        if !o.ok() {
            return Err(format!("start failed: {}; {}", o.describe(), errs.join("; ")));
        }
        self.wait_stopped()?;
        let out = self.ctr_out();
        let line = out.lines().find(|l| l.starts_with("CONFCHECK ")).ok_or_else(|| {
            format!("no checker output; stdout {:?} stderr {:?}", out.chars().take(300).collect::<String>(), self.ctr_err().chars().take(300).collect::<String>())
        })?;
        let v: Value = serde_json::from_str(&line[10..]).map_err(|e| format!("bad checker output: {e}"))?;
        if let Some(e) = v.get("error") {
            return Err(format!("checker: {e}"));
        }
        let res = v["results"].as_array().cloned().unwrap_or_default();
        if res.len() != self.checks.len() {
            errs.push(format!("checker returned {} results for {} checks", res.len(), self.checks.len()));
        }
        for (c, r) in self.checks.iter().zip(res.iter()) {
            if r["ok"] != true {
                errs.push(format!("[{}] {}", c["kind"].as_str().unwrap_or(""), r["msg"].as_str().unwrap_or("")));
            }
        }
        let o = self.rt(&["delete", &self.id]);
        if !o.ok() {
            errs.push(format!("delete of stopped container failed: {}", o.describe()));
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs.join("\n"))
        }
    }

    pub fn cleanup(&mut self) {
        self.cleaning.set(true);
        let mut ids = vec![self.id.clone()];
        ids.extend(self.extra_ids.iter().cloned());
        for id in &ids {
            // state first: cheap, and avoids noise when it is already gone
            if let Ok(st) = self.state_of(id) {
                let pid = st["pid"].as_i64().unwrap_or(0);
                if pid > 1 && st["status"] != "stopped" {
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
                let _ = self.rt(&["kill", id, "KILL"]);
                let _ = self.rt(&["delete", "--force", id]);
                if self.state_of(id).is_ok() {
                    let _ = self.rt(&["delete", "--force", id]);
                }
            }
        }
        for h in self.helpers.iter_mut() {
            let _ = h.kill();
            let _ = h.wait();
        }
        cleanup_cgroup(&self.cgpath);
        umount_under(&self.dir);
        if std::env::var("CONF_KEEP").is_err() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Bundle<'_> {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Host cgroup directories for a cgroupsPath: v2 unified or each v1 hierarchy.
pub fn cgroup_dirs(cgpath: &str) -> Vec<PathBuf> {
    let mut v = vec![];
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        v.push(base.join(cgpath.trim_start_matches('/')));
        return v;
    }
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            let p = e.path();
            if fs::symlink_metadata(&p).map(|m| m.file_type().is_symlink()).unwrap_or(true) {
                continue;
            }
            v.push(p.join(cgpath.trim_start_matches('/')));
        }
    }
    v
}

/// v1 controller file (or v2 when unified), e.g. ("memory", "memory.limit_in_bytes").
pub fn cgroup_file(cgpath: &str, ctrl: &str, file: &str) -> PathBuf {
    let base = Path::new("/sys/fs/cgroup");
    if base.join("cgroup.controllers").exists() {
        base.join(cgpath.trim_start_matches('/')).join(file)
    } else {
        base.join(ctrl).join(cgpath.trim_start_matches('/')).join(file)
    }
}

pub fn cleanup_cgroup(cgpath: &str) {
    for d in cgroup_dirs(cgpath) {
        if !d.exists() {
            continue;
        }
        // children first (depth-first)
        let mut stack = vec![d.clone()];
        let mut all = vec![];
        while let Some(p) = stack.pop() {
            if let Ok(rd) = fs::read_dir(&p) {
                for e in rd.flatten() {
                    if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                        stack.push(e.path());
                    }
                }
            }
            all.push(p);
        }
        for p in all.iter().rev() {
            let fz = p.join("freezer.state");
            if fz.exists() {
                let _ = fs::write(&fz, "THAWED");
            }
            for _ in 0..100 {
                let procs = fs::read_to_string(p.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                if fs::remove_dir(p).is_ok() || !p.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

pub fn umount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    for _ in 0..3 {
        let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut targets: Vec<String> = mi
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|t| t == &prefix || t.starts_with(&format!("{prefix}/")))
            .collect();
        if targets.is_empty() {
            return;
        }
        targets.sort_by_key(|t| std::cmp::Reverse(t.len()));
        for t in targets {
            if let Ok(c) = std::ffi::CString::new(t) {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

pub fn final_cleanup(ctx: &Ctx) {
    umount_under(&ctx.run_dir);
    if std::env::var("CONF_KEEP").is_err() {
        let _ = fs::remove_dir_all(&ctx.run_dir);
    }
    cleanup_stale(true);
}

fn pid_dead(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Leftovers of runs that were interrupted (runner pid no longer alive), and
/// with `own`, this run's: cgroups `bulkhead-conf-<pid>-*` (processes killed),
/// run directories `/tmp/bulkhead-conf.<pid>.*` (unmounted, removed).
pub fn cleanup_stale(own: bool) {
    let me = std::process::id();
    let stale = |pid: Option<u32>| match pid {
        Some(p) => (own && p == me) || (p != me && pid_dead(p)),
        None => false,
    };
    for d in cgroup_dirs("/") {
        if let Ok(rd) = fs::read_dir(&d) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().to_string();
                if let Some(rest) = n.strip_prefix("bulkhead-conf-") {
                    if stale(rest.split('-').next().and_then(|p| p.parse().ok())) {
                        cleanup_cgroup(&format!("/{n}"));
                    }
                }
            }
        }
    }
    if let Ok(rd) = fs::read_dir("/tmp") {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().to_string();
            if let Some(rest) = n.strip_prefix("bulkhead-conf.") {
                if stale(rest.split('.').next().and_then(|p| p.parse().ok())) && !(own && std::env::var("CONF_KEEP").is_ok()) {
                    umount_under(&e.path());
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    }
}

pub fn run_case(ctx: &Ctx, case: &Case) -> Outcome {
    (case.f)(ctx)
}

/// Helper: run a case body that returns Result, mapping Err to Fail.
pub fn res(r: Result<(), String>) -> Outcome {
    match r {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}
