//! cgroups for bulkhead: v1, v2 and hybrid hosts, with runc's fs/fs2 driver semantics.
//!
//! * [`Layout`] is detected from /proc/self/mountinfo (never assumed: cpu and cpuacct may be
//!   separate or co-mounted, cgroup2 may be at /sys/fs/cgroup or /sys/fs/cgroup/unified).
//! * [`Cgroup`] is the container's cgroup in every hierarchy it uses; it is serializable so
//!   the runtime keeps it in state.json and finds the directories again.
//! * On a hybrid host the container joins every v1 hierarchy (controllers + name=systemd)
//!   and the cgroup2 one; resources go to the v1 controllers (as runc).
//! * [`Cgroup::apply_resources`] returns warnings (fields the kernel cannot apply, such as a
//!   missing `memory.kmem.limit_in_bytes`); it fails for fields that are set but cannot be
//!   honoured (controller missing, kernel rejects the value) and never for unset fields.
//!
//! Layout of the module: `layout` (pure parsing and path resolution), `resources` (the
//! translation of linux.resources to files, unit-tested with a fake file system),
//! `devices` (v1 rule lines and the v2 eBPF device filter), `stats` (`runc events --stats`).

pub mod devices;
pub mod layout;
pub mod oom;
pub mod resources;
pub mod stats;

#[cfg(test)]
mod root_tests;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use layout::{Hierarchy, Layout};
use resources::{Ctx, Files, errtext};

impl Layout {
    /// Detect the host's layout from /proc/self/mountinfo.
    pub fn detect() -> Result<Layout> {
        let mi =
            fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        layout::detect_layout(&layout::parse_mountinfo(&mi))
    }
}

/// The container's cgroup: one directory per hierarchy.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Cgroup {
    layout: Layout,
    /// The cgroup path relative to the hierarchy root (the v2 one when there is one).
    path: String,
    hierarchies: Vec<Hierarchy>,
    /// Directories this value (or a clone of it) created; removed again when a later step
    /// of create/add_pid fails. Not persisted.
    #[serde(skip)]
    created: Arc<Mutex<Vec<PathBuf>>>,
}

/// Warnings from [`Cgroup::apply_resources`]: one line per field that was not applied.
pub type Warnings = Vec<String>;

fn write_raw(p: &Path, v: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new().write(true).open(p)?;
    let n = f.write(v.as_bytes())?;
    if n != v.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({n} of {} bytes)", v.len()),
        ));
    }
    Ok(())
}

fn write_ctx(p: &Path, v: &str, what: &str) -> Result<()> {
    write_raw(p, v).map_err(|e| anyhow!("{what}: writing {v} to {}: {}", p.display(), errtext(&e)))
}

fn read_ctx(p: &Path) -> Result<String> {
    fs::read_to_string(p).map_err(|e| anyhow!("reading {}: {}", p.display(), errtext(&e)))
}

/// v1 files: each controller in its hierarchy's directory.
struct V1Files<'a> {
    hs: &'a [Hierarchy],
}

impl V1Files<'_> {
    fn dir(&self, c: &str) -> Option<&Path> {
        self.hs
            .iter()
            .find(|h| !h.v2 && h.has(c))
            .map(|h| h.dir.as_path())
    }
}

impl Files for V1Files<'_> {
    fn has_controller(&self, c: &str) -> bool {
        self.dir(c).is_some()
    }
    fn path(&self, c: &str, file: &str) -> PathBuf {
        match self.dir(c) {
            Some(d) => d.join(file),
            None => PathBuf::from(format!("<no {c} hierarchy>/{file}")),
        }
    }
    fn exists(&self, c: &str, file: &str) -> bool {
        self.dir(c).is_some_and(|d| d.join(file).exists())
    }
    fn read(&self, c: &str, file: &str) -> io::Result<String> {
        fs::read_to_string(self.path(c, file))
    }
    fn write(&mut self, c: &str, file: &str, value: &str) -> io::Result<()> {
        write_raw(&self.path(c, file), value)
    }
}

/// v2 files: one directory; controllers from its cgroup.controllers.
struct V2Files {
    dir: PathBuf,
    controllers: Vec<String>,
}

impl V2Files {
    fn new(dir: &Path) -> V2Files {
        let controllers = fs::read_to_string(dir.join("cgroup.controllers"))
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        V2Files {
            dir: dir.to_path_buf(),
            controllers,
        }
    }
}

impl Files for V2Files {
    fn has_controller(&self, c: &str) -> bool {
        self.controllers.iter().any(|x| x == c)
    }
    fn path(&self, _c: &str, file: &str) -> PathBuf {
        self.dir.join(file)
    }
    fn exists(&self, _c: &str, file: &str) -> bool {
        self.dir.join(file).exists()
    }
    fn read(&self, _c: &str, file: &str) -> io::Result<String> {
        fs::read_to_string(self.dir.join(file))
    }
    fn write(&mut self, _c: &str, file: &str, value: &str) -> io::Result<()> {
        write_raw(&self.dir.join(file), value)
    }
}

/// All pids in `dir` and its descendants.
fn collect_procs(dir: &Path, out: &mut Vec<i32>) -> io::Result<()> {
    match fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_procs(&e.path(), out)?;
        }
    }
    Ok(())
}

/// rmdir a cgroup directory and its child cgroups (children first); missing is fine;
/// EBUSY (tasks still exiting) is retried for a while.
fn remove_cgroup_tree(dir: &Path) -> Result<()> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(anyhow!("reading {}: {}", dir.display(), errtext(&e))),
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path())?;
        }
    }
    let mut delay = Duration::from_millis(10);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(anyhow!(
                    "removing cgroup {}: {}",
                    dir.display(),
                    errtext(&e)
                ));
            }
        }
    }
}

impl Cgroup {
    /// Resolve cgroupsPath with runc's fs driver semantics: absolute → under each
    /// hierarchy root; relative → under the caller's own cgroup in that hierarchy
    /// (/proc/self/cgroup); None (or "") → relative "<id>". Creates nothing.
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        let mi =
            fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        let pc = fs::read_to_string("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
        Self::resolve_from(&mi, &pc, cgroups_path, id)
    }

    /// [`Cgroup::resolve`] from given mountinfo and /proc/self/cgroup text.
    pub fn resolve_from(
        mountinfo: &str,
        proc_self_cgroup: &str,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<Cgroup> {
        let r = layout::resolve_from(mountinfo, proc_self_cgroup, cgroups_path, id)
            .with_context(|| format!("resolving the cgroup of container {id}"))?;
        Ok(Cgroup {
            layout: r.layout,
            path: r.path,
            hierarchies: r.hierarchies,
            created: Default::default(),
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The resolved cgroup path relative to the hierarchy roots, for messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn hierarchies(&self) -> &[Hierarchy] {
        &self.hierarchies
    }

    /// The cgroup2 directory (pure v2, or the hybrid "unified" one).
    pub fn v2_dir(&self) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.v2)
            .map(|h| h.dir.as_path())
    }

    /// The v1 directory of `controller` (v1 and hybrid layouts).
    pub fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| !h.v2 && h.has(controller))
            .map(|h| h.dir.as_path())
    }

    /// Whether any of the directories exists.
    pub fn exists(&self) -> bool {
        self.hierarchies.iter().any(|h| h.dir.exists())
    }

    /// For the rootfs "cgroup" mount without a cgroup namespace: (name under
    /// /sys/fs/cgroup in the container, host directory to bind), e.g. ("memory",
    /// /sys/fs/cgroup/memory/<path>), ("cpu,cpuacct", ...), ("systemd", ...),
    /// ("unified", ...). On a pure v2 host the name is "" (bind it on /sys/fs/cgroup),
    /// wherever the host mounts cgroup2.
    pub fn mount_sources(&self) -> Vec<(String, PathBuf)> {
        self.hierarchies
            .iter()
            .map(|h| {
                (
                    if self.layout == Layout::Unified {
                        String::new()
                    } else {
                        h.mount_name()
                    },
                    h.dir.clone(),
                )
            })
            .collect()
    }

    /// Symlinks runc adds next to co-mounted hierarchies: ("cpu", "cpu,cpuacct"),
    /// ("cpuacct", "cpu,cpuacct"), ... (link name, target) under /sys/fs/cgroup.
    pub fn mount_symlinks(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for h in self.hierarchies.iter().filter(|h| !h.v2) {
            let name = h.mount_name();
            if h.controllers.len() > 1 {
                for c in &h.controllers {
                    if c != &name && !c.starts_with("name=") {
                        out.push((c.clone(), name.clone()));
                    }
                }
            }
        }
        out
    }

    fn forget_created(&self) {
        let mut made = self.created.lock().unwrap_or_else(|e| e.into_inner());
        for d in made.iter().rev() {
            let _ = fs::remove_dir(d);
        }
        made.clear();
    }

    /// mkdir -p in every hierarchy. v1 cpuset: empty cpuset.cpus/mems are copied from the
    /// parent (otherwise nothing can join). v2 (pure): the available controllers are enabled
    /// in each ancestor's cgroup.subtree_control (errors there are ignored like runc: a
    /// missing controller is reported when a resource needs it). On failure every directory
    /// made here is removed again.
    pub fn create(&self) -> Result<()> {
        let mut made = Vec::new();
        let r = self.create_inner(&mut made);
        if r.is_err() {
            for d in made.iter().rev() {
                let _ = fs::remove_dir(d);
            }
        } else {
            self.created
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(made);
        }
        r.with_context(|| format!("creating cgroup {}", self.path))
    }

    fn create_inner(&self, made: &mut Vec<PathBuf>) -> Result<()> {
        for h in &self.hierarchies {
            let rel = h.dir.strip_prefix(&h.mountpoint).with_context(|| {
                format!(
                    "{} is not under {}",
                    h.dir.display(),
                    h.mountpoint.display()
                )
            })?;
            let mut cur = h.mountpoint.clone();
            let cpuset = !h.v2 && h.has("cpuset");
            for comp in rel.components() {
                if h.v2 && self.layout == Layout::Unified {
                    enable_controllers(&cur);
                }
                let parent = cur.clone();
                cur.push(comp);
                match fs::create_dir(&cur) {
                    Ok(()) => made.push(cur.clone()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => bail!("creating {}: {}", cur.display(), errtext(&e)),
                }
                if cpuset {
                    copy_cpuset(&parent, &cur)?;
                }
            }
        }
        Ok(())
    }

    /// Move `pid` into the cgroup in every hierarchy (cgroup.procs). On failure the pid is
    /// moved back where it was and the directories this value created are removed.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        let before = fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map(|s| layout::parse_proc_cgroup(&s))
            .with_context(|| format!("reading /proc/{pid}/cgroup"))?;
        for (i, h) in self.hierarchies.iter().enumerate() {
            let p = h.dir.join("cgroup.procs");
            if let Err(e) = write_raw(&p, &pid.to_string()) {
                // roll back
                for h in &self.hierarchies[..i] {
                    let old = before.iter().find(|o| {
                        if h.v2 {
                            o.controllers.is_empty()
                        } else {
                            o.controllers == h.controllers
                        }
                    });
                    if let Some(old) = old
                        && let Ok(d) = layout::dir_for(&h.mountpoint, &h.root, &old.path)
                    {
                        let _ = write_raw(&d.join("cgroup.procs"), &pid.to_string());
                    }
                }
                self.forget_created();
                bail!(
                    "adding pid {pid} to cgroup {}: writing {pid} to {}: {}",
                    self.path,
                    p.display(),
                    errtext(&e)
                );
            }
        }
        // Joined: from now on the directories belong to the container (destroy removes them).
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(())
    }

    /// Apply `linux.resources` (also used by `update`). Returns warnings for fields the
    /// kernel cannot apply. On v1/hybrid hosts resources go to the v1 controllers; the
    /// `unified` map is an error on pure v1 and goes to the cgroup2 directory on hybrid.
    /// On v2, device rules become an eBPF program attached to the cgroup.
    pub fn apply_resources(&self, r: &LinuxResources) -> Result<Warnings> {
        let unified = r.unified().as_ref().filter(|m| !m.is_empty());
        let mut warnings = Vec::new();
        match self.layout {
            Layout::V1 | Layout::Hybrid => {
                let mut f = V1Files {
                    hs: &self.hierarchies,
                };
                let mut cx = Ctx::new(&mut f);
                resources::apply_v1(&mut cx, r)?;
                warnings.extend(cx.warnings);
                if let Some(map) = unified {
                    let Some(dir) = self.v2_dir().filter(|_| self.layout == Layout::Hybrid) else {
                        bail!(
                            "linux.resources.unified: invalid configuration: cannot use unified on cgroup v1"
                        );
                    };
                    let mut f = V2Files::new(dir);
                    let mut cx = Ctx::new(&mut f);
                    resources::apply_unified(&mut cx, map)?;
                    warnings.extend(cx.warnings);
                }
            }
            Layout::Unified => {
                let dir = self
                    .v2_dir()
                    .ok_or_else(|| anyhow!("no cgroup2 directory"))?;
                let mut f = V2Files::new(dir);
                let mut cx = Ctx::new(&mut f);
                resources::apply_v2(&mut cx, r)?;
                if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty()) {
                    devices::apply_v2(dir, rules)?;
                }
                if let Some(map) = unified {
                    resources::apply_unified(&mut cx, map)?;
                }
                warnings.extend(cx.warnings);
            }
        }
        Ok(warnings)
    }

    /// The directory whose subtree holds every process of the container.
    fn procs_dir(&self) -> &Path {
        self.v2_dir()
            .or_else(|| self.v1_dir("freezer"))
            .or_else(|| self.v1_dir("pids"))
            .unwrap_or(self.hierarchies[0].dir.as_path())
    }

    /// Every pid in the cgroup and its descendants, sorted (empty if it does not exist).
    pub fn pids(&self) -> Result<Vec<i32>> {
        let dir = self.procs_dir();
        let mut v = Vec::new();
        collect_procs(dir, &mut v).map_err(|e| {
            anyhow!(
                "listing the processes of {}: {}",
                dir.display(),
                errtext(&e)
            )
        })?;
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    fn freezer(&self) -> Result<Freezer<'_>> {
        match self.layout {
            Layout::Unified => Ok(Freezer::V2(
                self.v2_dir()
                    .ok_or_else(|| anyhow!("no cgroup2 directory"))?,
            )),
            _ => self
                .v1_dir("freezer")
                .map(Freezer::V1)
                .ok_or_else(|| anyhow!("the freezer cgroup controller is not mounted")),
        }
    }

    /// Freeze every process (v1 freezer.state / v2 cgroup.freeze) and wait until frozen.
    pub fn freeze(&self) -> Result<()> {
        self.freezer()?
            .freeze()
            .with_context(|| format!("freezing cgroup {}", self.path))
    }

    pub fn thaw(&self) -> Result<()> {
        self.freezer()?
            .thaw()
            .with_context(|| format!("thawing cgroup {}", self.path))
    }

    pub fn is_frozen(&self) -> Result<bool> {
        self.freezer()?.is_frozen()
    }

    /// Send `signal` to every process. SIGKILL uses cgroup.kill where the kernel has it
    /// (a cgroup2 directory: pure v2, or the hybrid unified one the pids also joined);
    /// otherwise the cgroup is frozen, each pid signalled, and thawed (as runc).
    pub fn kill_all(&self, signal: i32) -> Result<()> {
        if signal == libc::SIGKILL
            && let Some(d) = self.v2_dir()
        {
            let k = d.join("cgroup.kill");
            if k.exists() {
                write_ctx(&k, "1", "killing all processes")?;
                // A v1 freezer (hybrid) keeps killed tasks frozen: thaw so they can die.
                if self.layout != Layout::Unified
                    && let Ok(f) = self.freezer()
                    && f.is_frozen().unwrap_or(false)
                {
                    f.thaw()?;
                }
                return Ok(());
            }
        }
        // A paused container stays paused (the signal is delivered on resume), except for
        // SIGKILL: the processes are thawed so that they die.
        let was_frozen = self.is_frozen().unwrap_or(false);
        let froze = !was_frozen && self.freezer().and_then(|f| f.freeze()).is_ok();
        let me = std::process::id() as i32;
        let mut res = Ok(());
        match self.pids() {
            Ok(pids) => {
                for pid in pids.into_iter().filter(|p| *p != me && *p > 0) {
                    // SAFETY: kill(2) with a positive pid.
                    if unsafe { libc::kill(pid, signal) } != 0 {
                        let e = io::Error::last_os_error();
                        if e.raw_os_error() != Some(libc::ESRCH) && res.is_ok() {
                            res = Err(anyhow!(
                                "sending signal {signal} to pid {pid}: {}",
                                errtext(&e)
                            ));
                        }
                    }
                }
            }
            Err(e) => res = Err(e),
        }
        if (froze || (was_frozen && signal == libc::SIGKILL))
            && let Err(e) = self.thaw()
            && res.is_ok()
        {
            res = Err(e);
        }
        res
    }

    /// SIGKILL any process left, wait (up to 10 s) until the cgroup is empty, then rmdir
    /// the directory (and any child cgroups) in every hierarchy. Idempotent: missing
    /// directories are fine.
    pub fn destroy(&self) -> Result<()> {
        if !self.exists() {
            return Ok(());
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last_kill: Option<Instant> = None;
        loop {
            let pids = self.pids().unwrap_or_default();
            if pids.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "destroying cgroup {}: processes {pids:?} are still running",
                    self.path
                );
            }
            if last_kill.is_none_or(|t| t.elapsed() > Duration::from_millis(500)) {
                let _ = self.kill_all(libc::SIGKILL);
                last_kill = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut first_err = None;
        for h in &self.hierarchies {
            if let Err(e) = remove_cgroup_tree(&h.dir) {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e.context(format!("destroying cgroup {}", self.path))),
            None => Ok(()),
        }
    }

    /// Statistics in the shape of the "data" of `runc events --stats`.
    pub fn stats(&self) -> Result<serde_json::Value> {
        let sizes = stats::hugepage_sizes();
        match self.layout {
            Layout::Unified => {
                let dir = self
                    .v2_dir()
                    .ok_or_else(|| anyhow!("no cgroup2 directory"))?
                    .to_path_buf();
                if !dir.exists() {
                    bail!("cgroup {} does not exist", dir.display());
                }
                let read = move |_c: &str, f: &str| fs::read_to_string(dir.join(f)).ok();
                Ok(stats::stats_v2(&read, &sizes))
            }
            _ => {
                if !self.exists() {
                    bail!("cgroup {} does not exist", self.path);
                }
                let read = |c: &str, f: &str| {
                    self.v1_dir(c)
                        .and_then(|d| fs::read_to_string(d.join(f)).ok())
                };
                Ok(stats::stats_v1(&read, &sizes))
            }
        }
    }
}

/// Enable every available controller of `dir` in its cgroup.subtree_control (runc's
/// CreateCgroupPath): all at once, else one by one, ignoring errors.
///
/// Never in a non-root cgroup that holds processes of its own (the caller's leaf, a systemd
/// service): the kernel refuses domain controllers there (EBUSY) but accepts the threaded
/// ones (cpu, pids, cpuset), and that turns the populated cgroup into a thread root whose new
/// children are "domain invalid", so moving the init into one fails with EOPNOTSUPP (runc
/// then switches the child to threaded mode; leaving the caller's cgroup as it was is better).
fn enable_controllers(dir: &Path) {
    let Ok(avail) = fs::read_to_string(dir.join("cgroup.controllers")) else {
        return;
    };
    let enabled = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let want: Vec<String> = avail
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if want.is_empty() {
        return;
    }
    // Only the root has no cgroup.type; it is exempt from the no-internal-process rule.
    if dir.join("cgroup.type").exists() && has_own_procs(dir) {
        return;
    }
    let p = dir.join("cgroup.subtree_control");
    if write_raw(&p, &want.join(" ")).is_err() {
        for w in want {
            let _ = write_raw(&p, &w);
        }
    }
}

/// Whether `dir` itself (not its descendants) holds a process; unreadable counts as yes.
fn has_own_procs(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.procs")).map_or(true, |s| !s.trim().is_empty())
}

/// v1 cpuset: a new cgroup starts with empty cpus/mems; copy the parent's.
fn copy_cpuset(parent: &Path, dir: &Path) -> Result<()> {
    for f in ["cpuset.cpus", "cpuset.mems"] {
        let cur = fs::read_to_string(dir.join(f)).unwrap_or_default();
        if cur.trim().is_empty() {
            let v = read_ctx(&parent.join(f))?;
            let v = v.trim();
            if !v.is_empty() {
                write_ctx(&dir.join(f), v, "initialising cpuset from the parent")?;
            }
        }
    }
    Ok(())
}

enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Freezer<'_> {
    fn freeze(&self) -> Result<()> {
        match self {
            Freezer::V1(d) => {
                let p = d.join("freezer.state");
                // runc's loop: retry while FREEZING, thawing now and then so that a
                // cgroup with new processes appearing can settle.
                for i in 0..1000 {
                    if i % 50 == 49 {
                        let _ = write_raw(&p, "THAWED");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    write_ctx(&p, "FROZEN", "freezing")?;
                    if i % 25 == 24 {
                        std::thread::sleep(Duration::from_micros(10));
                    }
                    let s = read_ctx(&p)?;
                    match s.trim() {
                        "FREEZING" => continue,
                        "FROZEN" => return Ok(()),
                        other => bail!(
                            "unexpected freezer state {other:?} after writing FROZEN to {}",
                            p.display()
                        ),
                    }
                }
                let _ = write_raw(&p, "THAWED");
                bail!("unable to freeze {}: stuck in FREEZING", d.display())
            }
            Freezer::V2(d) => {
                let p = d.join("cgroup.freeze");
                write_ctx(&p, "1", "freezing")?;
                if wait_frozen(d, true)? {
                    Ok(())
                } else {
                    let _ = write_raw(&p, "0");
                    bail!("timed out waiting for {} to be frozen", d.display())
                }
            }
        }
    }

    fn thaw(&self) -> Result<()> {
        match self {
            Freezer::V1(d) => {
                let p = d.join("freezer.state");
                for _ in 0..1000 {
                    write_ctx(&p, "THAWED", "thawing")?;
                    if read_ctx(&p)?.trim() == "THAWED" {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                bail!("unable to thaw {}", d.display())
            }
            Freezer::V2(d) => {
                write_ctx(&d.join("cgroup.freeze"), "0", "thawing")?;
                wait_frozen(d, false)?;
                Ok(())
            }
        }
    }

    fn is_frozen(&self) -> Result<bool> {
        match self {
            Freezer::V1(d) => Ok(read_ctx(&d.join("freezer.state"))?.trim() == "FROZEN"),
            Freezer::V2(d) => Ok(events_frozen(d)?),
        }
    }
}

fn events_frozen(d: &Path) -> Result<bool> {
    let s = read_ctx(&d.join("cgroup.events"))?;
    Ok(s.lines().any(|l| l.trim() == "frozen 1"))
}

/// Wait (up to 10 s) until cgroup.events says frozen == `want`.
fn wait_frozen(d: &Path, want: bool) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut delay = Duration::from_micros(100);
    loop {
        if events_frozen(d)? == want {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMOUNT: &str = "\
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 30 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";

    #[test]
    fn state_json_round_trip() {
        let cg = Cgroup::resolve_from(COMOUNT, "0::/\n", Some("/a/b"), "b").unwrap();
        let j = serde_json::to_value(&cg).unwrap();
        assert_eq!(j["layout"], "hybrid");
        assert_eq!(j["path"], "/a/b");
        let back: Cgroup = serde_json::from_value(j).unwrap();
        assert_eq!(back.hierarchies(), cg.hierarchies());
        assert_eq!(back.path(), "/a/b");
        assert_eq!(back.layout(), Layout::Hybrid);
    }

    #[test]
    fn mount_sources_and_symlinks() {
        let cg = Cgroup::resolve_from(COMOUNT, "0::/\n", Some("/a"), "a").unwrap();
        assert_eq!(
            cg.mount_sources(),
            vec![
                (
                    "cpu,cpuacct".to_string(),
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a")
                ),
                (
                    "memory".to_string(),
                    PathBuf::from("/sys/fs/cgroup/memory/a")
                ),
                (
                    "systemd".to_string(),
                    PathBuf::from("/sys/fs/cgroup/systemd/a")
                ),
                (
                    "unified".to_string(),
                    PathBuf::from("/sys/fs/cgroup/unified/a")
                ),
            ]
        );
        assert_eq!(
            cg.mount_symlinks(),
            vec![
                ("cpu".to_string(), "cpu,cpuacct".to_string()),
                ("cpuacct".to_string(), "cpu,cpuacct".to_string())
            ]
        );
        assert_eq!(
            cg.v1_dir("cpuacct"),
            Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/a"))
        );
        assert_eq!(cg.v2_dir(), Some(Path::new("/sys/fs/cgroup/unified/a")));
        let v2 = Cgroup::resolve_from(
            "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "0::/\n",
            None,
            "c",
        )
        .unwrap();
        assert_eq!(
            v2.mount_sources(),
            vec![(String::new(), PathBuf::from("/sys/fs/cgroup/c"))]
        );
        assert!(v2.mount_symlinks().is_empty());
    }

    #[test]
    fn v1_files_route_controllers_to_their_hierarchy() {
        let cg = Cgroup::resolve_from(COMOUNT, "0::/\n", Some("/a"), "a").unwrap();
        let f = V1Files {
            hs: cg.hierarchies(),
        };
        assert!(f.has_controller("cpuacct") && f.has_controller("memory"));
        assert!(!f.has_controller("pids") && !f.has_controller("systemd"));
        assert_eq!(
            f.path("cpu", "cpu.shares"),
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a/cpu.shares")
        );
        assert_eq!(
            f.path("pids", "pids.max"),
            PathBuf::from("<no pids hierarchy>/pids.max")
        );
    }

    #[test]
    fn unified_map_rejected_on_pure_v1() {
        let mi = "35 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        let cg =
            Cgroup::resolve_from(mi, "4:memory:/\n", Some("/nonexistent-bulkhead-x"), "a").unwrap();
        assert_eq!(cg.layout(), Layout::V1);
        let r: LinuxResources = serde_json::from_str(r#"{"unified":{"memory.max":"1"}}"#).unwrap();
        let e = cg.apply_resources(&r).unwrap_err().to_string();
        assert!(e.contains("cannot use unified on cgroup v1"), "{e}");
    }
    #[test]
    fn v2_create_enables_missing_controllers_in_ancestors() {
        // A fake cgroup2 tree in a temporary directory (plain files stand in for cgroupfs).
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        fs::write(root.join("cgroup.subtree_control"), "memory\n").unwrap();
        let mi = format!("1 0 0:1 / {} rw - cgroup2 cgroup2 rw\n", root.display());
        let cg = Cgroup::resolve_from(&mi, "0::/\n", Some("/a/b"), "b").unwrap();
        assert_eq!(cg.layout(), Layout::Unified);
        cg.create().unwrap();
        assert!(root.join("a/b").is_dir());
        // only the missing ones are asked for; the leaf's own subtree_control is untouched
        assert_eq!(
            fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
            "+cpu +pids"
        );
        assert!(!root.join("a/b/cgroup.subtree_control").exists());
        cg.create().unwrap(); // idempotent
        cg.destroy().unwrap();
        assert!(!root.join("a/b").exists() && root.join("a").exists());
    }
    #[test]
    fn v2_create_leaves_a_populated_parent_alone() {
        // The caller's own leaf cgroup holds processes: enabling (threaded) controllers there
        // would make its new children "domain invalid" (EOPNOTSUPP when the init joins).
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        fs::write(root.join("cgroup.subtree_control"), "cpu memory pids\n").unwrap();
        let leaf = root.join("caller");
        fs::create_dir(&leaf).unwrap();
        for (f, v) in [
            ("cgroup.type", "domain\n"),
            ("cgroup.procs", "4242\n"),
            ("cgroup.controllers", "cpu memory pids\n"),
            ("cgroup.subtree_control", ""),
        ] {
            fs::write(leaf.join(f), v).unwrap();
        }
        let mi = format!("1 0 0:1 / {} rw - cgroup2 cgroup2 rw\n", root.display());
        let cg = Cgroup::resolve_from(&mi, "0::/caller\n", None, "c1").unwrap();
        cg.create().unwrap();
        assert!(leaf.join("c1").is_dir());
        assert_eq!(fs::read_to_string(leaf.join("cgroup.subtree_control")).unwrap(), "");
        cg.destroy().unwrap();
        // once the leaf is empty, its controllers are enabled as before
        fs::write(leaf.join("cgroup.procs"), "").unwrap();
        cg.create().unwrap();
        assert_eq!(
            fs::read_to_string(leaf.join("cgroup.subtree_control")).unwrap(),
            "+cpu +memory +pids"
        );
        cg.destroy().unwrap();
    }
}
