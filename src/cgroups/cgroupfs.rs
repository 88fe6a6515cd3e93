//! The cgroupfs driver (runc's fs/fs2 managers): the container's cgroup as one directory per
//! hierarchy, on v1, v2 and hybrid hosts, written through the cgroup file system.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use super::files::{V1Files, V2Files, read_ctx, write_ctx, write_raw};
use super::freezer::Freezer;
use super::resources::{self, Ctx, errtext};
use super::tree::{collect_procs, remove_cgroup_tree};
use super::{Hierarchy, Layout, Manager, Warnings, devices, layout, stats};
use crate::sys::read_pseudo;

/// The container's cgroup under the cgroupfs driver: one directory per hierarchy.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct FsCgroup {
    layout: Layout,
    /// The cgroup path relative to the hierarchy root (the v2 one when there is one).
    path: String,
    hierarchies: Vec<Hierarchy>,
    /// Directories this value (or a clone of it) created; removed again when a later step
    /// of create/add_pid fails. Not persisted.
    #[serde(skip)]
    created: Arc<Mutex<Vec<PathBuf>>>,
    /// Ancestors of the container's directories that create made (a nested cgroupsPath such
    /// as /pods/pod1/ctr): destroy removes them again when empty. runc leaves them behind;
    /// one that existed before is never touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    made_parents: Vec<PathBuf>,
}

impl FsCgroup {
    /// Resolve cgroupsPath with runc's fs driver semantics: absolute → under each
    /// hierarchy root; relative → under the caller's own cgroup in that hierarchy
    /// (/proc/self/cgroup); None (or "") → relative "<id>". Creates nothing.
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<FsCgroup> {
        let mi =
            read_pseudo("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        let pc = read_pseudo("/proc/self/cgroup").context("reading /proc/self/cgroup")?;
        Self::resolve_from(&mi, &pc, cgroups_path, id)
    }

    /// [`FsCgroup::resolve`] from given mountinfo and /proc/self/cgroup text.
    pub fn resolve_from(
        mountinfo: &str,
        proc_self_cgroup: &str,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<FsCgroup> {
        let r = layout::resolve_from(mountinfo, proc_self_cgroup, cgroups_path, id)
            .with_context(|| format!("resolving the cgroup of container {id}"))?;
        Ok(FsCgroup {
            layout: r.layout,
            path: r.path,
            hierarchies: r.hierarchies,
            created: Default::default(),
            made_parents: Vec::new(),
        })
    }

    /// Deepest first; one still holding another container's cgroup stays (ENOTEMPTY/EBUSY).
    fn remove_made_parents(&self) {
        for d in self.made_parents.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }

    fn forget_created(&self) {
        let mut made = self.created.lock().unwrap_or_else(|e| e.into_inner());
        for d in made.iter().rev() {
            let _ = fs::remove_dir(d);
        }
        made.clear();
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
}

impl Manager for FsCgroup {
    fn layout(&self) -> Layout {
        self.layout
    }

    /// The resolved cgroup path relative to the hierarchy roots, for messages.
    fn path(&self) -> &str {
        &self.path
    }

    fn hierarchies(&self) -> &[Hierarchy] {
        &self.hierarchies
    }

    /// mkdir -p in every hierarchy. v1 cpuset: empty cpuset.cpus/mems are copied from the
    /// parent (otherwise nothing can join). v2 (pure): the available controllers are enabled
    /// in each ancestor's cgroup.subtree_control (errors there are ignored like runc: a
    /// missing controller is reported when a resource needs it). On failure every directory
    /// made here is removed again.
    fn create(&self) -> Result<()> {
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

    fn keep_made_parents(&mut self) -> bool {
        let made = self.created.lock().unwrap_or_else(|e| e.into_inner());
        self.made_parents = made.iter().filter(|d| !self.hierarchies.iter().any(|h| &h.dir == *d)).cloned().collect();
        drop(made);
        !self.made_parents.is_empty()
    }

    fn create_makes_dirs(&self) -> bool {
        true
    }

    /// v1 freezer.state not THAWED, or cgroup2 cgroup.freeze / cgroup.events `frozen 1`.
    fn refuse_frozen(&self) -> Result<()> {
        let frozen = self.hierarchies.iter().find(|h| {
            if h.v2 {
                read_pseudo(h.dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1") || super::freezer::events_frozen(&h.dir).unwrap_or(false)
            } else {
                h.has("freezer") && read_pseudo(h.dir.join("freezer.state")).is_ok_and(|s| s.trim() != "THAWED")
            }
        });
        let Some(h) = frozen else { return Ok(()) };
        self.forget_created();
        bail!("cgroup {} is frozen ({}): thaw it first, or use another cgroup", self.path, h.dir.display())
    }

    /// Move `pid` into the cgroup in every hierarchy (cgroup.procs). On failure the pid is
    /// moved back where it was and the directories this value created are removed.
    fn add_pid(&self, pid: i32) -> Result<()> {
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
    fn apply_resources(&self, r: &LinuxResources) -> Result<Warnings> {
        let unified = r.unified().as_ref().filter(|m| !m.is_empty());
        let mut warnings = Vec::new();
        match self.layout {
            Layout::V1 | Layout::Hybrid => {
                let mut f = V1Files::new(&self.hierarchies);
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
                    .ok_or_else(|| anyhow!("linux.resources: the container has no cgroup2 directory"))?;
                let mut f = V2Files::new(dir);
                let mut cx = Ctx::new(&mut f);
                resources::apply_v2(&mut cx, r)?;
                if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty())
                    && let Err(e) = devices::apply_v2(dir, rules)
                {
                    if !devices::can_do_without_program(crate::security::rootless::facts().in_userns, rules) {
                        return Err(e);
                    }
                    // As runc (silently there): said once, for the user who wonders.
                    warnings.push(format!("{e:#}; running without a device filter (in a user namespace, as runc)"));
                }
                if let Some(map) = unified {
                    resources::apply_unified(&mut cx, map)?;
                }
                warnings.extend(cx.warnings);
            }
        }
        Ok(warnings)
    }

    /// Every pid in the cgroup and its descendants, sorted (empty if it does not exist).
    fn pids(&self) -> Result<Vec<i32>> {
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

    /// Freeze every process (v1 freezer.state / v2 cgroup.freeze) and wait until frozen.
    fn freeze(&self) -> Result<()> {
        self.freezer()?
            .freeze()
            .with_context(|| format!("freezing cgroup {}", self.path))
    }

    fn thaw(&self) -> Result<()> {
        self.freezer()?
            .thaw()
            .with_context(|| format!("thawing cgroup {}", self.path))
    }

    fn is_frozen(&self) -> Result<bool> {
        self.freezer()?.is_frozen()
    }

    /// Send `signal` to every process. SIGKILL uses cgroup.kill where the kernel has it
    /// (a cgroup2 directory: pure v2, or the hybrid unified one the pids also joined);
    /// otherwise the cgroup is frozen, each pid signalled, and thawed (as runc).
    fn kill_all(&self, signal: i32) -> Result<()> {
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
        // Signal 0 delivers nothing: no need to stop the processes for it.
        let froze = !was_frozen && signal != 0 && self.freezer().and_then(|f| f.freeze()).is_ok();
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
    fn destroy(&self) -> Result<()> {
        if !self.exists() {
            self.remove_made_parents();
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
        self.remove_made_parents();
        match first_err {
            Some(e) => Err(e.context(format!("destroying cgroup {}", self.path))),
            None => Ok(()),
        }
    }

    /// Statistics in the shape of the "data" of `runc events --stats`.
    fn oom_notifier(&self) -> Result<Option<super::oom::OomNotifier>> {
        FsCgroup::oom_notifier(self)
    }

    fn stats(&self) -> Result<serde_json::Value> {
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
    read_pseudo(dir.join("cgroup.procs")).map_or(true, |s| !s.trim().is_empty())
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
