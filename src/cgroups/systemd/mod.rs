//! The systemd cgroup driver (`--systemd-cgroup`, runc's systemd UnifiedManager): the
//! container's cgroup is a transient unit of the system's (or the user's) systemd manager,
//! `prefix-name.scope` in a slice, started over D-Bus with the init as its process.
//!
//! * systemd makes, owns and removes the cgroup; what it has properties for (MemoryMax,
//!   CPUQuota, TasksMax, AllowedCPUs, ...) goes to the unit, and every resource is also
//!   written to the unit's cgroup files through the cgroupfs driver ([`FsCgroup`] on the
//!   unit's path), as runc does. Freezing, pids, kill, stats and OOM are the cgroupfs ones.
//! * A scope cannot exist without a process, so the unit starts in [`Manager::add_pid`]
//!   (runc's Apply): create only connects, and the resources given before the unit exists
//!   wait for it (they become properties of the StartTransientUnit call itself).
//! * Cost: nothing unless `--systemd-cgroup` is given (no connection, no code on the cgroupfs
//!   path); with it, one connection and about three round trips per create.
//!
//! Files: `mod.rs` (the driver), `path.rs` (cgroupsPath → unit), `properties.rs`
//! (config → unit properties), `dbus.rs` (the D-Bus client).

pub mod dbus;
pub mod path;
pub mod properties;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use super::{FsCgroup, Hierarchy, Layout, Manager, Warnings};
use dbus::{Conn, Prop, remote_error_name};

/// The container's cgroup under the systemd driver: its unit, and the unit's cgroup for the
/// files. Serialized in state.json (`unit` tells it apart from a cgroupfs one).
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SystemdCgroup {
    unit: String,
    slice: String,
    /// A user's manager (rootless), not the system's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    user: bool,
    /// The unit's cgroup, written through the cgroupfs driver.
    fs: FsCgroup,
    /// The connection, opened on first use (never for a container only listed or signalled).
    #[serde(skip)]
    conn: Arc<Mutex<Option<Conn>>>,
    /// Between create and add_pid: the unit does not exist yet; what it will start with.
    #[serde(skip)]
    pending: Arc<Mutex<Option<Pending>>>,
}

#[derive(Debug, Default)]
struct Pending {
    container: String,
    annotations: Vec<Prop>,
    /// The resource properties and the resources for the files (apply_resources before start).
    resources: Option<(Vec<Prop>, LinuxResources)>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Conn")
    }
}

/// The manager to talk to: (its private socket, the uid to authenticate as, user manager?).
fn manager_socket() -> Result<(PathBuf, u32, bool)> {
    let user = crate::security::rootless::is_rootless_cgroups();
    if !user {
        if !Path::new("/run/systemd/system").is_dir() {
            bail!("systemd is not running on this host (no /run/systemd/system): the systemd cgroup driver needs systemd as the init system; use the cgroupfs driver (omit --systemd-cgroup)");
        }
        return Ok((PathBuf::from("/run/systemd/private"), 0, false));
    }
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .ok_or_else(|| anyhow!("rootless: XDG_RUNTIME_DIR is not set: the systemd cgroup driver needs the user's systemd manager ($XDG_RUNTIME_DIR/systemd/private)"))?;
    let sock = Path::new(&dir).join("systemd/private");
    if !sock.exists() {
        bail!("rootless: no user systemd manager ({} does not exist); use the cgroupfs driver (omit --systemd-cgroup)", sock.display());
    }
    Ok((sock, host_uid()?, true))
}

/// Our uid as systemd sees it (SO_PEERCRED): outside the user namespace we may run in.
fn host_uid() -> Result<u32> {
    let uid = nix::unistd::geteuid().as_raw();
    let map = std::fs::read_to_string("/proc/self/uid_map").context("reading /proc/self/uid_map")?;
    for l in map.lines() {
        let f: Vec<u32> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        if let [inside, outside, count] = f[..]
            && uid >= inside
            && uid - inside < count
        {
            return Ok(outside + (uid - inside));
        }
    }
    bail!("uid {uid} is not mapped in /proc/self/uid_map")
}

impl SystemdCgroup {
    /// The unit for cgroupsPath `slice:prefix:name` of container `id`, and its cgroup under
    /// the host's cgroup2 mount. Connects (a user's manager tells where its tree is) but
    /// creates nothing.
    pub fn resolve(cgroups_path: Option<&str>, id: &str, annotations: &std::collections::HashMap<String, String>) -> Result<SystemdCgroup> {
        let user = crate::security::rootless::is_rootless_cgroups();
        let u = path::parse(cgroups_path, id, user).context("linux.cgroupsPath")?;
        let annotations = properties::annotation_properties(annotations)?;
        let (socket, uid, _) = manager_socket()?;
        let mut conn = Conn::connect(&socket, uid)?;
        let cgroup = if user {
            // e.g. /user.slice/user-1000.slice/user@1000.service + /user.slice/x.scope
            match conn.manager_property("ControlGroup")? {
                dbus::Value::Str(root) => format!("{}{}", root.trim_end_matches('/'), u.cgroup),
                v => bail!("the user manager's ControlGroup is {v:?}, not a path"),
            }
        } else {
            u.cgroup.clone()
        };
        let fs = FsCgroup::resolve(Some(&cgroup), id)?;
        if fs.layout() != Layout::Unified {
            bail!("the systemd cgroup driver supports cgroup v2 only; this host has a {:?} cgroup layout (use the cgroupfs driver)", fs.layout());
        }
        Ok(SystemdCgroup {
            unit: u.unit,
            slice: u.slice,
            user,
            fs,
            conn: Arc::new(Mutex::new(Some(conn))),
            pending: Arc::new(Mutex::new(Some(Pending { container: id.to_string(), annotations, resources: None }))),
        })
    }

    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// Run `f` on the connection, opening it first if needed.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let mut g = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            let (socket, uid, _) = manager_socket()?;
            *g = Some(Conn::connect(&socket, uid)?);
        }
        f(g.as_mut().expect("connected above"))
    }

    /// StartTransientUnit and wait for its job (runc's startUnit): a unit of the same name
    /// left failed is reset and the start tried once more; a failed job resets the unit, so
    /// a failed create leaves nothing.
    fn start_unit(&self, props: &[Prop]) -> Result<()> {
        let unit = &self.unit;
        self.with_conn(|c| {
            let job = match c.start_transient_unit(unit, props) {
                Err(e) if remote_error_name(&e) == Some("org.freedesktop.systemd1.UnitExists") => {
                    let _ = c.reset_failed_unit(unit);
                    c.start_transient_unit(unit, props)
                }
                r => r,
            }?;
            let result = c.wait_job(&job);
            if !matches!(result.as_deref(), Ok("done")) {
                // A unit whose start failed is left failed: reset (as runc).
                let _ = c.reset_failed_unit(unit);
            }
            match result?.as_str() {
                "done" => Ok(()),
                other => bail!("systemd's job starting unit {unit} ended {other:?}"),
            }
        })
        .with_context(|| format!("starting systemd unit {unit} in {}", self.slice))
    }

    /// Once the unit's processes are gone: wait until systemd has seen that (a scope stops
    /// by itself when empty), StopUnit what is still active (a slice, or systemd being slow),
    /// then ResetFailedUnit so that a unit that ended failed (an OOM kill) goes away too.
    /// A unit already collected needs nothing (GetUnit answers NoSuchUnit); a failed one is
    /// only reset once systemd has recorded its end, so it cannot turn failed after the reset.
    fn stop_unit(&self) -> Result<()> {
        let unit = &self.unit;
        self.with_conn(|c| {
            let deadline = Instant::now() + Duration::from_secs(5);
            let state = loop {
                let s = c.unit_active_state(unit)?;
                match s.as_deref() {
                    None | Some("inactive" | "failed") => break s,
                    _ if Instant::now() >= deadline => break s,
                    _ => std::thread::sleep(Duration::from_millis(20)),
                }
            };
            match state.as_deref() {
                None => return Ok(()),
                Some("inactive" | "failed") => {}
                Some(_) => match c.stop_unit(unit) {
                    Ok(job) => {
                        let r = c.wait_job(&job)?;
                        if r != "done" {
                            crate::warn!("stopping systemd unit {unit}: the job ended {r:?}");
                        }
                    }
                    Err(e) if remote_error_name(&e) == Some("org.freedesktop.systemd1.NoSuchUnit") => return Ok(()),
                    Err(e) => return Err(e),
                },
            }
            let _ = c.reset_failed_unit(unit);
            Ok(())
        })
        .with_context(|| format!("stopping systemd unit {unit}"))
    }
}

impl Manager for SystemdCgroup {
    fn layout(&self) -> Layout {
        self.fs.layout()
    }
    fn path(&self) -> &str {
        self.fs.path()
    }
    fn hierarchies(&self) -> &[Hierarchy] {
        self.fs.hierarchies()
    }
    /// Nothing to make yet: systemd makes the cgroup when the unit starts (add_pid). A
    /// directory already there belongs to another unit (or to nobody we know): refused, as
    /// the init would be born into it and never start a unit of its own.
    fn create(&self) -> Result<()> {
        if self.fs.exists() {
            bail!("cgroup {} already exists: unit {} is in use (or its cgroup was left behind)", self.fs.path(), self.unit);
        }
        Ok(())
    }
    fn refuse_frozen(&self) -> Result<()> {
        self.fs.refuse_frozen()
    }
    fn keep_made_parents(&mut self) -> bool {
        false
    }
    fn create_makes_dirs(&self) -> bool {
        false
    }
    /// Before the unit exists: start it with `pid` as its process and the resources given so
    /// far, then write those to the files. Later (a unit already running): join its cgroup.
    /// The pending start is forgotten only once the unit runs: until then destroy (a failed
    /// create's cleanup) must not touch a unit of the same name that is someone else's.
    fn add_pid(&self, pid: i32) -> Result<()> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = pending.as_ref() else {
            drop(pending);
            return self.fs.add_pid(pid);
        };
        let u = path::UnitName { slice: self.slice.clone(), unit: self.unit.clone(), cgroup: self.fs.path().to_string() };
        let scope_pid = (!u.is_slice()).then_some(pid as u32);
        let mut props = properties::unit_properties(&u, &p.container, scope_pid, &p.annotations);
        props.extend(p.resources.iter().flat_map(|(r, _)| r.iter().cloned()));
        self.start_unit(&props)?;
        let p = pending.take().expect("checked above");
        drop(pending);
        if scope_pid.is_none() {
            // A slice holds no process of its own in systemd's view: join its cgroup directly.
            self.fs.add_pid(pid)?;
        }
        if let Some((_, r)) = &p.resources {
            for w in self.fs.apply_resources(r).context("linux.resources")? {
                crate::warn!("linux.resources: {w}");
            }
        }
        Ok(())
    }
    /// SetUnitProperties (runtime) with what systemd owns, then the files; before the unit
    /// exists, kept for its start.
    fn apply_resources(&self, r: &LinuxResources) -> Result<Warnings> {
        let (props, files) = properties::resource_properties(r)?;
        if let Some(p) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            p.resources = Some((props, files));
            return Ok(Vec::new());
        }
        if !props.is_empty() {
            self.with_conn(|c| c.set_unit_properties(&self.unit, &props))
                .with_context(|| format!("setting the properties of systemd unit {}", self.unit))?;
        }
        self.fs.apply_resources(&files)
    }
    fn pids(&self) -> Result<Vec<i32>> {
        self.fs.pids()
    }
    fn freeze(&self) -> Result<()> {
        self.fs.freeze()
    }
    fn thaw(&self) -> Result<()> {
        self.fs.thaw()
    }
    fn is_frozen(&self) -> Result<bool> {
        self.fs.is_frozen()
    }
    fn kill_all(&self, signal: i32) -> Result<()> {
        self.fs.kill_all(signal)
    }
    /// Kill what is left (stopping a scope would SIGTERM first and wait TimeoutStopSec), stop
    /// the unit, and remove what systemd leaves of the cgroup. Without systemd (a create that
    /// failed for that reason) there is no unit: only the files are looked at.
    fn destroy(&self) -> Result<()> {
        if self.pending.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
            // Never started (a create that failed before): nothing here is ours.
            return Ok(());
        }
        if !self.fs.pids().unwrap_or_default().is_empty() {
            let _ = self.fs.kill_all(libc::SIGKILL);
        }
        let systemd = self.conn.lock().unwrap_or_else(|e| e.into_inner()).is_some() || manager_socket().is_ok();
        if systemd {
            self.stop_unit()?;
        }
        self.fs.destroy()
    }
    fn stats(&self) -> Result<serde_json::Value> {
        self.fs.stats()
    }
    fn oom_notifier(&self) -> Result<Option<super::oom::OomNotifier>> {
        self.fs.oom_notifier()
    }
    /// Between create and add_pid the cgroup is as good as there: systemd makes it with the
    /// unit (the create path must not take the missing directory for "no cgroup").
    fn exists(&self) -> bool {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).is_some() || self.fs.exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Cgroup;

    fn unit(fs: FsCgroup) -> SystemdCgroup {
        SystemdCgroup { unit: "bulkhead-c1.scope".into(), slice: "system.slice".into(), user: false, fs, conn: Default::default(), pending: Default::default() }
    }

    #[test]
    fn state_json_tells_the_drivers_apart() {
        let mi = "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let fs = FsCgroup::resolve_from(mi, "0::/\n", Some("/system.slice/bulkhead-c1.scope"), "c1").unwrap();
        let j = serde_json::to_string(&Cgroup::Systemd(unit(fs.clone()))).unwrap();
        let back: Cgroup = serde_json::from_str(&j).unwrap();
        assert!(matches!(&back, Cgroup::Systemd(s) if s.unit() == "bulkhead-c1.scope" && !s.user), "{j}");
        assert_eq!(back.path(), "/system.slice/bulkhead-c1.scope");
        assert_eq!(back.v2_dir(), Some(Path::new("/sys/fs/cgroup/system.slice/bulkhead-c1.scope")));
        let j = serde_json::to_string(&Cgroup::Fs(fs)).unwrap();
        assert!(matches!(serde_json::from_str::<Cgroup>(&j).unwrap(), Cgroup::Fs(_)), "{j}");
    }

    /// Before the unit starts: resources wait for it (no connection), the cgroup counts as
    /// there for the create path, and a failed create's destroy touches nothing.
    #[test]
    fn pending_unit_keeps_resources_and_destroys_nothing() {
        let mi = "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let fs = FsCgroup::resolve_from(mi, "0::/\n", Some("/bulkhead-test-none.slice/x.scope"), "c1").unwrap();
        let mut sd = unit(fs);
        sd.pending = Arc::new(Mutex::new(Some(Pending::default())));
        let r: LinuxResources = serde_json::from_str(r#"{"pids": {"limit": 5}}"#).unwrap();
        assert!(sd.apply_resources(&r).unwrap().is_empty());
        assert!(sd.conn.lock().unwrap().is_none(), "connected before the unit exists");
        let kept = sd.pending.lock().unwrap().as_ref().unwrap().resources.clone().unwrap();
        assert_eq!(kept.0, vec![("TasksMax".to_string(), dbus::Value::U64(5))]);
        assert!(sd.exists());
        sd.destroy().unwrap();
        assert!(sd.conn.lock().unwrap().is_none());
    }
}
