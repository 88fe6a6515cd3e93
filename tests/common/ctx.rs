//! The [`Ctx`] type: one test's bundle, state root, container IDs, cgroup and helper
//! processes, its runtime commands and assertions, and its cleanup on Drop.

use super::{
    CMD_TIMEOUT, Out, WAIT_TIMEOUT, build_rootfs, cgroup_dirs_for, cleanup_cgroup, cmdline,
    default_spec, exec, ns_link, poll_until, processes_mentioning, rt_raw, unescape_mountinfo,
    wait_until,
};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
