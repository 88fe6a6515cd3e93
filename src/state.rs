//! Container state on disk and the lifecycle it follows.
//!
//! Each container owns `<root>/<id>/` (mode 0700) holding `state.json` (written atomically:
//! temp file + rename, an exchange when it exists: see sys::replace_file), `config.json` (the spec as loaded at create, for exec/delete/hooks),
//! `exec.fifo` while the container is created but not started, and `seccomp.bpf` when the
//! config has a seccomp profile (the compiled filter exec loads: security::seccomp::saved).
//!
//! Commands that change a container take an exclusive `flock` on its directory; readers
//! (`state`, `list`) never lock, so a hook that calls `bulkhead state` during create cannot
//! deadlock. The recorded status is refined by looking at the init process: once it is gone
//! (or its pid was reused: the start time differs), the container is stopped.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::cgroups::Cgroup;
use crate::security::rootless::with_hint;

/// The OCI lifecycle, plus `paused` (a frozen running container) as runc reports it.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// The transitions the lifecycle allows; everything else is a caller error.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Creating, Created)
                | (Creating, Stopped)
                | (Created, Running)
                | (Created, Stopped)
                // runc pauses a created container too; resuming returns it to created.
                | (Created, Paused)
                | (Paused, Created)
                | (Running, Paused)
                | (Running, Stopped)
                | (Paused, Running)
                | (Paused, Stopped)
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `state.json` holds: the OCI state fields plus what later commands need.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub owner: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Start time of the init (field 22 of /proc/PID/stat): tells a live init from a reused pid.
    #[serde(default)]
    pub init_start_time: u64,
    #[serde(default)]
    pub cgroup: Option<Cgroup>,
    /// The config has poststart or poststop hooks: only then do `start` and `delete` read it.
    #[serde(default)]
    pub post_hooks: bool,
}

impl State {
    /// The OCI state document (what `state`, every hook phase, the seccomp agent and
    /// `list --format json` get).
    pub fn oci_json(&self) -> serde_json::Value {
        self.oci_json_at(self.status, self.pid)
    }

    /// The same document at a step where `status` and `pid` are not saved yet (the init's
    /// createContainer/startContainer hooks, prestart with the new pid, the seccomp agent).
    pub fn oci_json_at(&self, status: Status, pid: i32) -> serde_json::Value {
        let pid = if status == Status::Stopped { 0 } else { pid };
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": pid,
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::json!(self.annotations);
        }
        v
    }

    /// Moves to `next`, refusing transitions the lifecycle does not have.
    pub fn transition(&mut self, next: Status) -> Result<()> {
        if !self.status.can_become(next) {
            bail!("container {:?} is {}: it cannot become {}", self.id, self.status, next);
        }
        self.status = next;
        Ok(())
    }
}

/// runc's rule for container IDs, plus a length bound: letters, digits, `_ + - .`, not `.`/`..`.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("invalid container ID: empty");
    }
    if id.len() > 1024 {
        bail!("invalid container ID: longer than 1024 bytes");
    }
    if id == "." || id == ".." {
        bail!("invalid container ID {id:?}");
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || "_+-.".contains(*c))) {
        bail!("invalid container ID {:?}: character {c:?} not allowed (use letters, digits, '_', '+', '-', '.')", id.escape_debug().to_string());
    }
    Ok(())
}

/// Is the process `pid` alive and the same one that was started at `start_time`?
pub fn process_alive(pid: i32, start_time: u64) -> bool {
    match read_stat(pid) {
        Some((state, st)) => state != 'Z' && state != 'X' && (start_time == 0 || st == start_time),
        None => false,
    }
}

/// A pidfd on the container's init, or None when it is gone. The pidfd is opened first and
/// the start time checked after: the handle then cannot name a process that reused the pid.
pub fn open_init(pid: i32, start_time: u64) -> Option<std::os::fd::OwnedFd> {
    let fd = crate::sys::pidfd_open(pid).ok()?;
    process_alive(pid, start_time).then_some(fd)
}

/// (state letter, start time) from /proc/PID/stat.
pub fn read_stat(pid: i32) -> Option<(char, u64)> {
    if pid <= 0 {
        return None;
    }
    let s = crate::sys::read_pseudo(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and ')': fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let start = f.nth(18)?.parse().ok()?; // field 22 overall; we are at field 3
    Some((state, start))
}

/// `--pid-file`, written as runc does: a temp file created O_EXCL|O_NOFOLLOW (a planted symlink
/// there fails the call instead of being followed), then renamed over the path (which replaces
/// a symlink there rather than writing through it). Readers never see a partial pid. The
/// swap is an exchange where it can be (see sys::replace_file). The temp name carries our
/// pid, so one left by a killed runtime cannot block later writes; on failure it is removed.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    // An exchange with a directory would succeed and move it aside: refuse one up front.
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        bail!("--pid-file: {} is a directory", path.display());
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .mode(0o644)
        .open(&tmp)
        .with_context(|| format!("--pid-file: creating {}", tmp.display()))?;
    if let Err(e) = f.write_all(pid.to_string().as_bytes()) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("--pid-file: writing {}", tmp.display()));
    }
    drop(f);
    crate::sys::replace_file(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        e.context("--pid-file")
    })
}

/// Where all containers live (`--root`).
pub struct Root {
    pub dir: PathBuf,
}

impl Root {
    pub fn new(dir: &Path) -> Root {
        Root { dir: dir.to_path_buf() }
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// IDs of all containers under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join("state.json").exists() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Claims a new container directory: the mkdir is the atomic step that makes two
    /// concurrent creates of one ID resolve to exactly one winner.
    pub fn claim(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| with_hint(e, &self.dir, format!("creating state root {}", self.dir.display())))?;
        let dir = self.container_dir(id);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("container {id:?} already exists"),
            Err(e) => return Err(with_hint(e, &self.dir, format!("creating {}", dir.display()))),
        }
        let lock = lock_dir(&dir)?;
        Ok(Container { dir, lock: Some(lock), state: None })
    }

    /// Opens an existing container for a change, holding its lock until dropped. A container
    /// that is not there fails with a [`Missing`] (`downcast_ref`), which says which half is.
    pub fn open_locked(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = self.container_dir(id);
        let lock = match lock_dir(&dir) {
            Ok(l) => l,
            Err(_) if !dir.exists() => return Err(Missing::Container(id.to_string()).into()),
            Err(e) => return Err(e),
        };
        // The directory may have been deleted while we waited for the lock.
        let mut c = Container { dir, lock: Some(lock), state: None };
        c.state = Some(c.read_state().context(Missing::State(id.to_string()))?);
        c.refresh();
        Ok(c)
    }

    /// Removes a container directory without a readable state.json ([`Missing::State`]):
    /// what a `create` killed between its mkdir and its first state write leaves. Nothing else
    /// exists for it yet (the cgroup and the init come after that write), so removing the
    /// directory is the whole cleanup. Whether the ID is free now: false when the directory
    /// has a state after all (a create in progress holds the lock until it has one, so this
    /// waits for it).
    pub fn remove_unfinished(&self, id: &str) -> Result<bool> {
        validate_id(id)?;
        let dir = self.container_dir(id);
        let Ok(lock) = lock_dir(&dir) else { return Ok(!dir.exists()) };
        let mut c = Container { dir, lock: Some(lock), state: None };
        if c.read_state().is_ok() {
            return Ok(false);
        }
        crate::debug!("removing {}: a create that never wrote its state", c.dir.display());
        c.remove_dir()?;
        Ok(true)
    }

    /// Reads a container without locking (for `state` and `list`).
    pub fn open_unlocked(&self, id: &str) -> Result<Container> {
        let mut c = self.read_unlocked(id)?;
        c.refresh();
        Ok(c)
    }

    /// As `open_unlocked`, with a pidfd on the init while it is alive (None where the kernel
    /// has no pidfd_open). The pidfd is opened before the status check, so that one read of
    /// /proc/PID/stat both sets the status and proves the handle names the container's init,
    /// not a process that reused its pid (the argument of `open_init`). Not inlined, as
    /// `exec_spec`.
    #[inline(never)]
    pub fn open_unlocked_with_init(&self, id: &str) -> Result<(Container, Option<std::os::fd::OwnedFd>)> {
        let mut c = self.read_unlocked(id)?;
        let pid = c.state().pid;
        let fd = if pid > 0 { crate::sys::pidfd_open(pid).ok() } else { None };
        c.refresh();
        let alive = c.state().status != Status::Stopped;
        Ok((c, fd.filter(|_| alive)))
    }

    /// The recorded state, not yet checked against the init.
    fn read_unlocked(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        let mut c = Container { dir: self.container_dir(id), lock: None, state: None };
        c.state = Some(c.read_state().context(Missing::State(id.to_string()))?);
        Ok(c)
    }
}

/// A container that cannot be opened because it is not there: the kind callers branch on
/// (`delete`), found with `anyhow::Error::downcast_ref`. Both read "container ID does not
/// exist", as runc's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// No directory under the root.
    Container(String),
    /// A directory without a readable state.json: a create killed before its first state
    /// write (or a state file that no longer parses).
    State(String),
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (Missing::Container(id) | Missing::State(id)) = self;
        write!(f, "container {id:?} does not exist")
    }
}

impl std::error::Error for Missing {}

/// Locks a container dir. While we waited, the container may have been deleted and another of
/// the same ID created: then the lock is on the old, unlinked directory, so we try again on
/// whatever the path names now.
fn lock_dir(dir: &Path) -> Result<File> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let f = File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("flock {}", dir.display()));
        }
        let locked = f.metadata().with_context(|| format!("fstat {}", dir.display()))?;
        let now = std::fs::metadata(dir).with_context(|| format!("opening {}", dir.display()))?;
        if (locked.dev(), locked.ino()) == (now.dev(), now.ino()) {
            return Ok(f);
        }
    }
}

/// One container's directory and state.
pub struct Container {
    pub dir: PathBuf,
    lock: Option<File>,
    pub state: Option<State>,
}

impl Container {
    pub fn state(&self) -> &State {
        self.state.as_ref().expect("container state loaded")
    }

    pub fn state_mut(&mut self) -> &mut State {
        self.state.as_mut().expect("container state loaded")
    }

    pub fn set_initial_state(&mut self, s: State) {
        self.state = Some(s);
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn spec(&self) -> Result<oci_spec::runtime::Spec> {
        self.parse_config(crate::spec::parse)
    }

    /// What `exec` reads of the saved config.json (spec::parse_for_exec). Not inlined: the
    /// parse's frames are then live only while it runs, not under all of `exec`'s.
    #[inline(never)]
    pub fn exec_spec(&self) -> Result<crate::spec::ExecSpec> {
        self.parse_config(crate::spec::parse_for_exec)
    }

    /// The saved config.json read and parsed by `parse`; errors name the file.
    fn parse_config<T>(&self, parse: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
        let p = self.config_path();
        let text = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        parse(&text).with_context(|| format!("parsing {}", p.display()))
    }

    fn read_state(&self) -> Result<State> {
        let p = self.dir.join("state.json");
        let text = std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", p.display()))
    }

    /// Replaces the recorded status with what the init process says now.
    fn refresh(&mut self) {
        let fifo = self.fifo_path();
        let s = self.state_mut();
        if matches!(s.status, Status::Creating | Status::Created | Status::Running | Status::Paused)
            && s.pid > 0
            && !process_alive(s.pid, s.init_start_time)
        {
            let _ = s.transition(Status::Stopped);
        } else if s.status == Status::Created && !fifo.exists() {
            let _ = s.transition(Status::Running);
        }
    }

    /// Moves to `next`, refusing transitions the lifecycle does not have.
    pub fn transition(&mut self, next: Status) -> Result<()> {
        self.state_mut().transition(next)
    }

    /// Writes state.json atomically.
    pub fn save(&self) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        let final_path = self.dir.join("state.json");
        let data = serde_json::to_vec(self.state())?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(&data).with_context(|| format!("writing {}", tmp.display()))?;
        drop(f);
        crate::sys::replace_file(&tmp, &final_path)
    }

    /// Removes the container's directory (the lock dies with the last handle).
    pub fn remove_dir(&mut self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir).with_context(|| format!("removing {}", self.dir.display()))?;
        self.lock = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `delete` branches on: no directory, or a directory without state; both say
    /// "does not exist" to the user.
    #[test]
    fn missing_container_and_missing_state_are_told_apart() {
        let tmp = tempfile::tempdir().unwrap();
        let root = Root::new(tmp.path());
        let kind = |id: &str| root.open_locked(id).err().and_then(|e| e.downcast_ref::<Missing>().cloned());
        assert_eq!(kind("nope"), Some(Missing::Container("nope".into())));
        assert_eq!(format!("{:#}", root.open_locked("nope").err().unwrap()), "container \"nope\" does not exist");
        std::fs::create_dir(root.container_dir("half")).unwrap();
        assert_eq!(kind("half"), Some(Missing::State("half".into())));
        assert_eq!(root.open_unlocked("half").err().unwrap().downcast_ref::<Missing>(), Some(&Missing::State("half".into())));
        assert!(root.remove_unfinished("half").unwrap());
        assert!(!root.container_dir("half").exists());
        assert!(root.remove_unfinished("half").unwrap(), "already gone: the ID is free");
        assert!(kind("").is_none(), "an invalid ID is not a missing container");
    }

    #[test]
    fn transitions_follow_the_lifecycle() {
        use Status::*;
        assert!(Creating.can_become(Created));
        assert!(Created.can_become(Running));
        assert!(Running.can_become(Paused));
        assert!(Paused.can_become(Running));
        assert!(Running.can_become(Stopped));
        assert!(!Stopped.can_become(Running));
        assert!(Created.can_become(Paused) && Paused.can_become(Created));
        assert!(!Stopped.can_become(Paused));
        assert!(!Running.can_become(Created));
        assert!(!Running.can_become(Running));
    }

    #[test]
    fn ids() {
        for ok in ["a", "abc-123_x.y+z", &"x".repeat(1024)] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a\nb", "a b", "\u{1}", &"x".repeat(1025)] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn stat_of_self_parses() {
        let (state, start) = read_stat(std::process::id() as i32).unwrap();
        assert!(state != 'Z' && state != 'X', "{state}");
        assert!(start > 0);
        assert!(process_alive(std::process::id() as i32, start));
        assert!(!process_alive(std::process::id() as i32, start + 1));
    }

    #[test]
    fn oci_json_hides_pid_when_stopped() {
        let mut s = State {
            oci_version: "1.0.2".into(),
            id: "x".into(),
            status: Status::Running,
            pid: 42,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "t".into(),
            owner: String::new(),
            annotations: HashMap::new(),
            init_start_time: 1,
            cgroup: None,
            post_hooks: false,
        };
        assert_eq!(s.oci_json()["pid"], 42);
        s.transition(Status::Stopped).unwrap();
        assert!(s.transition(Status::Running).is_err(), "stopped is final");
        assert_eq!(s.oci_json()["pid"], 0);
        assert_eq!(s.oci_json()["status"], "stopped");
    }

    #[test]
    fn pid_file_replaces_a_file_and_a_symlink_without_following_it() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pid");
        write_pid_file(&p, 1).unwrap();
        write_pid_file(&p, 22).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "22");
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&victim, &p).unwrap();
        write_pid_file(&p, 333).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "333");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let mut names: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["pid", "victim"], "a temp file was left behind");
    }
}
