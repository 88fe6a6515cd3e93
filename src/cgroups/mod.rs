//! cgroups for bulkhead: the driver interface ([`Manager`], the idea of runc's
//! `cgroups.Manager`) and its first driver, cgroupfs ([`cgroupfs::FsCgroup`], runc's fs/fs2
//! semantics) on v1, v2 and hybrid hosts.
//!
//! * Commands and process/ use only [`Cgroup`] through [`Manager`]: create, add a pid, set
//!   resources, freeze/thaw, kill all, destroy, stats, pids and paths. [`Cgroup`] is an enum
//!   of the drivers (static dispatch: one `match`, inlined, nothing on the create path); the
//!   systemd driver becomes a second variant without touching the commands.
//! * [`Layout`] is detected from /proc/self/mountinfo (never assumed: cpu and cpuacct may be
//!   separate or co-mounted, cgroup2 may be at /sys/fs/cgroup or /sys/fs/cgroup/unified).
//! * [`Cgroup`] is serializable (untagged: state.json holds the driver's own fields, so files
//!   written before the interface existed still load) and is kept in state.json.
//! * On a hybrid host the container joins every v1 hierarchy (controllers + name=systemd)
//!   and the cgroup2 one; resources go to the v1 controllers (as runc).
//! * [`Manager::apply_resources`] returns warnings (fields the kernel cannot apply, such as a
//!   missing `memory.kmem.limit_in_bytes`); it fails for fields that are set but cannot be
//!   honoured (controller missing, kernel rejects the value) and never for unset fields.
//!
//! Files: `mod.rs` (the interface), `cgroupfs.rs` (the cgroupfs driver: resolve, create, join,
//! resources, pids, kill, destroy, stats), `files.rs` (its file access), `freezer.rs`,
//! `tree.rs` (pids of a subtree, rmdir children first), `layout` (pure parsing and path
//! resolution), `resources` (linux.resources → files, unit-tested with a fake file system),
//! `devices` (v1 rule lines and the v2 eBPF device filter), `stats` (`runc events --stats`).

pub mod devices;
mod files;
mod freezer;
pub mod cgroupfs;
pub mod layout;
pub mod oom;
pub mod resources;
pub mod stats;
pub mod systemd;
mod tree;

#[cfg(test)]
mod root_tests;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

pub use cgroupfs::FsCgroup;
pub use systemd::SystemdCgroup;
pub use layout::{Hierarchy, Layout};

impl Layout {
    /// Detect the host's layout from /proc/self/mountinfo.
    pub fn detect() -> Result<Layout> {
        let mi =
            std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        layout::detect_layout(&layout::parse_mountinfo(&mi))
    }
}

/// Warnings from [`Manager::apply_resources`]: one line per field that was not applied.
pub type Warnings = Vec<String>;


/// What a cgroup driver does for one container (runc's `cgroups.Manager`). Paths: every
/// driver ends up with directories in the host's hierarchies (the systemd driver too), which
/// the create path needs for the fast join and the container's cgroup mount.
pub trait Manager {
    fn layout(&self) -> Layout;
    /// The cgroup path relative to the hierarchy roots, for messages.
    fn path(&self) -> &str;
    /// The container's directory in each hierarchy it uses.
    fn hierarchies(&self) -> &[Hierarchy];
    /// Make the cgroup (nothing joins it yet). On failure nothing it made is left.
    fn create(&self) -> Result<()>;
    /// Fails when the cgroup is frozen (its own freezer or an ancestor's): an init born there
    /// would stop before its first instruction and create would wait for it forever. What
    /// `create` made is removed again; what existed before is kept.
    fn refuse_frozen(&self) -> Result<()>;
    /// Remembers the ancestors `create` made (a nested cgroupsPath), so that `destroy` removes
    /// them again when empty; true when there are any (the state must be saved again).
    fn keep_made_parents(&mut self) -> bool;
    /// Whether a successful `create` leaves every hierarchy's directory in place (cgroupfs);
    /// systemd's scope, and so its directory, only comes with `add_pid`.
    fn create_makes_dirs(&self) -> bool;
    /// Move `pid` into the cgroup in every hierarchy (runc's Apply).
    fn add_pid(&self, pid: i32) -> Result<()>;
    /// Set `linux.resources` (create and `update`; runc's Set); warnings for fields the
    /// kernel cannot apply.
    fn apply_resources(&self, r: &LinuxResources) -> Result<Warnings>;
    /// Every pid in the cgroup and its descendants, sorted.
    fn pids(&self) -> Result<Vec<i32>>;
    fn freeze(&self) -> Result<()>;
    fn thaw(&self) -> Result<()>;
    fn is_frozen(&self) -> Result<bool>;
    /// Send `signal` to every process of the cgroup.
    fn kill_all(&self, signal: i32) -> Result<()>;
    /// Kill what is left and remove the cgroup; idempotent.
    fn destroy(&self) -> Result<()>;
    /// Statistics in the shape of the "data" of `runc events --stats`.
    fn stats(&self) -> Result<serde_json::Value>;
    /// A pollable fd that becomes readable on an OOM kill (None without a memory controller).
    fn oom_notifier(&self) -> Result<Option<oom::OomNotifier>>;

    /// The cgroup2 directory (pure v2, or the hybrid "unified" one).
    fn v2_dir(&self) -> Option<&Path> {
        self.hierarchies()
            .iter()
            .find(|h| h.v2)
            .map(|h| h.dir.as_path())
    }

    /// The directory whose subtree holds every process of the container.
    fn procs_dir(&self) -> &Path {
        self.v2_dir()
            .or_else(|| self.v1_dir("freezer"))
            .or_else(|| self.v1_dir("pids"))
            .unwrap_or(self.hierarchies()[0].dir.as_path())
    }

    /// The v1 directory of `controller` (v1 and hybrid layouts).
    fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.hierarchies()
            .iter()
            .find(|h| !h.v2 && h.has(controller))
            .map(|h| h.dir.as_path())
    }

    /// Whether any of the directories exists.
    fn exists(&self) -> bool {
        self.hierarchies().iter().any(|h| h.dir.exists())
    }

    /// For the rootfs "cgroup" mount without a cgroup namespace: (name under
    /// /sys/fs/cgroup in the container, host directory to bind), e.g. ("memory",
    /// /sys/fs/cgroup/memory/<path>), ("cpu,cpuacct", ...), ("systemd", ...),
    /// ("unified", ...). On a pure v2 host the name is "" (bind it on /sys/fs/cgroup),
    /// wherever the host mounts cgroup2.
    fn mount_sources(&self) -> Vec<(String, PathBuf)> {
        self.hierarchies()
            .iter()
            .map(|h| {
                (
                    if self.layout() == Layout::Unified {
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
    fn mount_symlinks(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for h in self.hierarchies().iter().filter(|h| !h.v2) {
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
}

/// Which driver a new container's cgroup gets (the global `--systemd-cgroup`).
pub enum Driver<'a> {
    Cgroupfs,
    /// With the config's annotations (`org.systemd.property.*` become unit properties).
    Systemd { annotations: &'a std::collections::HashMap<String, String> },
}

/// The container's cgroup, whichever driver manages it. Serialized untagged: each driver's
/// fields tell them apart.
#[derive(Serialize, Clone, Debug)]
#[serde(untagged)]
pub enum Cgroup {
    Fs(FsCgroup),
    Systemd(SystemdCgroup),
}

/// Untagged as serde's derive would read it (the cgroupfs driver's fields first, then the
/// systemd one's), but each attempt parses the object's text itself. The derive buffers the
/// whole object (13 hierarchies on a hybrid host) into serde's generic `Content` first: ~16
/// KiB of allocations, new heap pages, in every command that reads state.json; here the
/// object's text is copied once (a boxed RawValue: any serde_json input, a `Value` too).
impl<'de> Deserialize<'de> for Cgroup {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        if let Ok(fs) = serde_json::from_str(raw.get()) {
            return Ok(Cgroup::Fs(fs));
        }
        if let Ok(sd) = serde_json::from_str(raw.get()) {
            return Ok(Cgroup::Systemd(sd));
        }
        Err(serde::de::Error::custom("data did not match any variant of untagged enum Cgroup"))
    }
}

/// One `match` over the drivers, so a call costs what the driver's own method costs.
macro_rules! each_driver {
    ($self:ident, $d:ident => $e:expr) => {
        match $self {
            Cgroup::Fs($d) => $e,
            Cgroup::Systemd($d) => $e,
        }
    };
}

impl Cgroup {
    /// Resolve cgroupsPath for container `id` with the driver the command line chose
    /// (`--systemd-cgroup`: [`SystemdCgroup::resolve`], else [`FsCgroup::resolve`]). Creates
    /// nothing; only the systemd driver connects (to its manager).
    pub fn resolve(cgroups_path: Option<&str>, id: &str, driver: Driver) -> Result<Cgroup> {
        match driver {
            Driver::Cgroupfs => FsCgroup::resolve(cgroups_path, id).map(Cgroup::Fs).context("linux.cgroupsPath"),
            Driver::Systemd { annotations } => SystemdCgroup::resolve(cgroups_path, id, annotations).map(Cgroup::Systemd).context("--systemd-cgroup"),
        }
    }

    /// [`Cgroup::resolve`] from given mountinfo and /proc/self/cgroup text.
    pub fn resolve_from(mountinfo: &str, proc_self_cgroup: &str, cgroups_path: Option<&str>, id: &str) -> Result<Cgroup> {
        FsCgroup::resolve_from(mountinfo, proc_self_cgroup, cgroups_path, id).map(Cgroup::Fs)
    }
}

impl Manager for Cgroup {
    #[inline]
    fn layout(&self) -> Layout {
        each_driver!(self, d => d.layout())
    }
    #[inline]
    fn path(&self) -> &str {
        each_driver!(self, d => d.path())
    }
    #[inline]
    fn hierarchies(&self) -> &[Hierarchy] {
        each_driver!(self, d => d.hierarchies())
    }
    #[inline]
    fn create(&self) -> Result<()> {
        each_driver!(self, d => d.create())
    }
    #[inline]
    fn refuse_frozen(&self) -> Result<()> {
        each_driver!(self, d => d.refuse_frozen())
    }
    #[inline]
    fn keep_made_parents(&mut self) -> bool {
        each_driver!(self, d => d.keep_made_parents())
    }
    #[inline]
    fn create_makes_dirs(&self) -> bool {
        each_driver!(self, d => d.create_makes_dirs())
    }
    #[inline]
    fn add_pid(&self, pid: i32) -> Result<()> {
        each_driver!(self, d => d.add_pid(pid))
    }
    #[inline]
    fn apply_resources(&self, r: &LinuxResources) -> Result<Warnings> {
        each_driver!(self, d => d.apply_resources(r))
    }
    #[inline]
    fn pids(&self) -> Result<Vec<i32>> {
        each_driver!(self, d => d.pids())
    }
    #[inline]
    fn freeze(&self) -> Result<()> {
        each_driver!(self, d => d.freeze())
    }
    #[inline]
    fn thaw(&self) -> Result<()> {
        each_driver!(self, d => d.thaw())
    }
    #[inline]
    fn is_frozen(&self) -> Result<bool> {
        each_driver!(self, d => d.is_frozen())
    }
    #[inline]
    fn kill_all(&self, signal: i32) -> Result<()> {
        each_driver!(self, d => d.kill_all(signal))
    }
    #[inline]
    fn destroy(&self) -> Result<()> {
        each_driver!(self, d => d.destroy())
    }
    #[inline]
    fn stats(&self) -> Result<serde_json::Value> {
        each_driver!(self, d => d.stats())
    }
    #[inline]
    fn oom_notifier(&self) -> Result<Option<oom::OomNotifier>> {
        each_driver!(self, d => d.oom_notifier())
    }
    #[inline]
    fn exists(&self) -> bool {
        each_driver!(self, d => d.exists())
    }
}

#[cfg(test)]
mod tests;
