//! `exec`: run a new process in a running container, with runc's flags and exit codes.
//!
//! The process is the container's `process` with the command line's overrides, or the one in
//! `--process process.json` (containerd, podman); it gets the container's namespaces, cgroup,
//! seccomp filter and security context (`process::exec` does the setns path). In the
//! foreground we forward signals, relay the pty when `--tty`, and exit with the process's
//! status (128+N for a signal); `--detach` returns once it runs. Every failure exits 255, as
//! runc's exec does.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Capability, LinuxCapabilities, Process};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::cgroups::Manager;
use crate::cli::{ExecArgs, Global};
use crate::process::exec::ExecConfig;
use crate::process::foreground::{attach, block_signals};
use crate::state::{Root, Status};

pub fn run(g: &Global, a: &ExecArgs) -> Result<i32> {
    match exec(g, a) {
        Ok(code) => Ok(code),
        Err(e) => {
            let msg = format!("exec failed: {e:#}");
            crate::log::log(crate::log::Level::Error, &msg);
            eprintln!("bulkhead: {msg}");
            Ok(255)
        }
    }
}

fn exec(g: &Global, a: &ExecArgs) -> Result<i32> {
    crate::trace::begin();
    let id = a.id.as_str();
    let (c, init) = Root::new(&g.root).open_unlocked_with_init(id)?;
    crate::trace::mark("state");
    let st = c.state().clone();
    if st.status == Status::Stopped {
        bail!("cannot exec in a stopped container {id:?}");
    }
    let frozen = st.status == Status::Paused || st.cgroup.as_ref().is_some_and(|cg| cg.is_frozen().unwrap_or(false));
    if frozen && !a.ignore_paused {
        bail!("cannot exec in a paused container {id:?} (use --ignore-paused to override)");
    }
    let spec = c.exec_spec()?;
    crate::trace::mark("spec");
    let process = match &a.process {
        Some(path) => load_process(path)?,
        None => process_from_flags(&spec, a)?,
    };
    crate::process::tuning::validate_process(&process)?;
    let terminal = process.terminal().unwrap_or(false);
    if a.detach && terminal && a.console_socket.is_none() {
        bail!("cannot allocate tty if bulkhead will detach without setting console socket (--console-socket)");
    }
    if (!a.detach || !terminal) && a.console_socket.is_some() {
        bail!("cannot use console socket if bulkhead will not detach or allocate tty (--console-socket needs --detach and --tty)");
    }
    if process.selinux_label().as_deref().is_some_and(|l| !l.is_empty()) && !Path::new("/sys/fs/selinux/enforce").exists() {
        bail!("SELinux label {:?} was requested (--process-label / selinuxLabel), but SELinux is not enabled on this host", process.selinux_label().as_deref().unwrap_or(""));
    }
    let pid_file = a.pid_file.as_ref().map(std::path::absolute).transpose().context("--pid-file")?;

    let cgroup_dirs = match &st.cgroup {
        Some(cg) => cgroup_dirs(cg, &a.cgroup)?,
        None if !a.cgroup.is_empty() => bail!("--cgroup: the container has no cgroup"),
        None => Vec::new(),
    };
    let seccomp = spec.seccomp.as_deref().map(|raw| seccomp_filter(&c, raw)).transpose()?;

    // Foreground: signals blocked before the process exists, so none is lost.
    let sigfd = if a.detach { None } else { Some(block_signals()?) };
    let (ours, theirs): (Option<OwnedFd>, Option<OwnedFd>) = if terminal && !a.detach {
        let (x, y) = crate::console::relay_pair()?;
        (Some(x), Some(y))
    } else if terminal {
        (None, a.console_socket.as_deref().map(crate::console::connect).transpose()?)
    } else {
        (None, None)
    };

    crate::trace::mark("prepare");
    let pid = crate::process::exec::spawn(&ExecConfig {
        init_pid: st.pid,
        init_start_time: st.init_start_time,
        process: &process,
        namespaces: spec.namespaces,
        cgroup_dirs,
        seccomp: seccomp.as_ref(),
        personality: crate::security::personality::value_of(spec.personality.as_ref())?,
        console_socket: theirs.as_ref().map(|s| s.as_raw_fd()),
        relay_pty: ours.is_some(),
        preserve_fds: a.preserve_fds,
        frozen,
        no_wait_exec: frozen && a.detach,
        memory_policy: spec.memory_policy.as_ref(),
        oci_version: &spec.version,
        state: &st,
    }, init)?;
    drop(theirs);
    crate::trace::mark("spawn");
    let handed_out = |p: &Path| crate::state::write_pid_file(p, pid);
    let pidfd_sent = || a.pidfd_socket.as_deref().map(|s| crate::console::send_pidfd(s, pid, "setns")).transpose();
    if let Err(e) = pid_file.as_deref().map(handed_out).transpose().and_then(|_| pidfd_sent()) {
            // Nobody could find or manage the process without its pid file (or pidfd): stop it.
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            if !a.detach {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            }
            return Err(e);
        }
    let Some(sigfd) = sigfd else {
        crate::trace::flush("exec");
        return Ok(0);
    };
    let master = match ours.as_ref().map(|s| crate::console::recv_fd(s.as_raw_fd())).transpose() {
        Ok(m) => m,
        Err(e) => {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            return Err(e);
        }
    };
    let code = attach(pid, &sigfd, master.as_ref());
    crate::trace::mark("wait");
    crate::trace::flush("exec");
    code
}

/// The container's seccomp filter as `create` saved it compiled, or else (a container from an
/// earlier bulkhead, a damaged file) compiled here from its config's `linux.seccomp`.
fn seccomp_filter(c: &crate::state::Container, raw: &serde_json::value::RawValue) -> Result<crate::security::seccomp::CompiledFilter> {
    if let Some(f) = crate::security::seccomp::saved::load(&c.dir) {
        return Ok(f);
    }
    let s = serde_json::from_str(raw.get()).context("linux.seccomp")?;
    crate::security::seccomp::compile_for_process(&s)
}

/// `--process F`: the whole process, as containerd and podman write it. Not inlined: its
/// serde frames would swell exec's own, which every exec carries.
#[inline(never)]
fn load_process(path: &Path) -> Result<Process> {
    let text = std::fs::read(path).with_context(|| format!("--process: reading {}", path.display()))?;
    // The plain parse first: it accepts only what the mending parse below would read the
    // same way (a process with a user and known capabilities), at a fraction of its cost.
    if let Ok(p) = serde_json::from_slice::<Process>(&crate::spec::scheduler_flag_spellings(&text)) {
        validate(&p).with_context(|| format!("--process {}", path.display()))?;
        return Ok(p);
    }
    process_slowly(path, &text)
}

/// The parse that names the field at fault, and mends what runc accepts: a missing user (uid
/// 0, gid 0), capabilities this build does not know (dropped with runc's warning).
#[cold]
#[inline(never)]
fn process_slowly(path: &Path, text: &[u8]) -> Result<Process> {
    let mut v: serde_json::Value = serde_json::from_slice(&crate::spec::scheduler_flag_spellings(text)).map_err(|e| anyhow::anyhow!("--process {}: invalid JSON: {e}", path.display()))?;
    // As runc (a struct there, not a pointer): a missing user is uid 0, gid 0.
    if let Some(o) = v.as_object_mut() {
        o.entry("user").or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    crate::spec::warn_ignored_caps(&crate::spec::drop_unknown_caps(&mut v));
    let p: Process = serde_path_to_error::deserialize(v).map_err(|e| {
        let at = e.path().to_string();
        anyhow::anyhow!("--process {}: invalid process JSON at {}: {}", path.display(), if at.is_empty() || at == "." { "top level".to_string() } else { at }, e.inner())
    })?;
    validate(&p).with_context(|| format!("--process {}", path.display()))?;
    Ok(p)
}

fn validate(p: &Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("process args cannot be empty");
    }
    if p.cwd().as_os_str().is_empty() {
        bail!("cwd must not be empty");
    }
    if !p.cwd().is_absolute() {
        bail!("cwd {} must be an absolute path", p.cwd().display());
    }
    Ok(())
}

/// The container's process with the command line's overrides (runc's getProcess).
#[inline(never)]
fn process_from_flags(spec: &crate::spec::ExecSpec, a: &ExecArgs) -> Result<Process> {
    let mut p = spec.process.clone().context("the container's config has no process")?;
    p.set_args(Some(a.command.clone()));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(ap) = a.apparmor.as_ref().filter(|s| !s.is_empty()) {
        p.set_apparmor_profile(Some(ap.clone()));
    }
    if let Some(l) = a.process_label.as_ref().filter(|s| !s.is_empty()) {
        p.set_selinux_label(Some(l.clone()));
    }
    if !a.cap.is_empty() {
        add_caps(&mut p, &a.cap);
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(dedup_env(env)));
    p.set_terminal(Some(a.tty));
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(u) = &a.user {
        let mut user = p.user().clone();
        let (uid, gid) = match u.split_once(':') {
            Some((uid, gid)) => (uid, Some(gid)),
            None => (u.as_str(), None),
        };
        if let Some(gid) = gid {
            user.set_gid(gid.parse().map_err(|e| anyhow::anyhow!("--user {u}: parsing {gid:?} as a numeric gid: {e}"))?);
        }
        user.set_uid(uid.parse().map_err(|e| anyhow::anyhow!("--user {u}: parsing {uid:?} as a numeric uid: {e}"))?);
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        for g in &a.additional_gids {
            let n: i64 = g.parse().map_err(|e| anyhow::anyhow!("--additional-gids {g:?}: not a number: {e}"))?;
            if !(0..=u32::MAX as i64).contains(&n) {
                bail!("--additional-gids {g}: must be a positive number");
            }
            gids.push(n as u32);
        }
        user.set_additional_gids(Some(gids));
        p.set_user(user);
    }
    validate(&p)?;
    Ok(p)
}

/// `--cap`: added to bounding, effective and permitted; to ambient only when the process has
/// an inheritable set (the kernel refuses ambient caps that are not inheritable); never to
/// inheritable — all as runc's exec. Names it does not know are ignored with runc's warning.
fn add_caps(p: &mut Process, names: &[String]) {
    let mut caps: LinuxCapabilities = p.capabilities().clone().unwrap_or_else(|| {
        let mut none = LinuxCapabilities::default();
        none.set_bounding(None).set_effective(None).set_permitted(None).set_inheritable(None).set_ambient(None);
        none
    });
    let mut unknown = Vec::new();
    for name in names {
        let Some(c) = parse_cap(name) else {
            unknown.push(name.clone());
            continue;
        };
        let add = |s: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = s.clone().unwrap_or_default();
            s.insert(c);
            Some(s)
        };
        let (b, e, pm) = (add(caps.bounding()), add(caps.effective()), add(caps.permitted()));
        caps.set_bounding(b).set_effective(e).set_permitted(pm);
        if caps.inheritable().is_some() {
            let am = add(caps.ambient());
            caps.set_ambient(am);
        }
    }
    unknown.sort();
    unknown.dedup();
    crate::spec::warn_ignored_caps(&unknown);
    p.set_capabilities(Some(caps));
}

/// `net_raw`, `NET_RAW` and `CAP_NET_RAW` all name CAP_NET_RAW; None when unknown.
fn parse_cap(name: &str) -> Option<Capability> {
    let up = name.to_ascii_uppercase();
    let full = if up.starts_with("CAP_") { up } else { format!("CAP_{up}") };
    serde_json::from_value(serde_json::Value::String(full)).ok()
}

/// Later entries win (runc sets them one by one); the first occurrence keeps its place.
fn dedup_env(env: Vec<String>) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map(|(k, _)| k.to_string()).unwrap_or_else(|| e.to_string());
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for e in env {
        let k = key(&e);
        match out.iter_mut().find(|o| key(o) == k) {
            Some(slot) => *slot = e,
            None => out.push(e),
        }
    }
    out
}

/// The cgroup.procs directories to join: the container's, or sub-cgroups of it (`--cgroup
/// sub` for every hierarchy, `--cgroup ctrl[,ctrl]:sub` per controller). A sub-path may not
/// leave the container's cgroup.
fn cgroup_dirs(cg: &crate::cgroups::Cgroup, args: &[String]) -> Result<Vec<(PathBuf, bool)>> {
    let hs = cg.hierarchies();
    let with_kind = |dirs: Vec<PathBuf>| dirs.into_iter().zip(hs).map(|(d, h)| (d, h.v2)).collect();
    let mut dirs: Vec<PathBuf> = hs.iter().map(|h| h.dir.clone()).collect();
    let sub = |base: &Path, rel: &str, arg: &str| -> Result<PathBuf> {
        let mut out = base.to_path_buf();
        for comp in rel.split('/') {
            match comp {
                "" | "." => {}
                ".." => {
                    if out == base || !out.pop() {
                        bail!("--cgroup {arg}: {rel} is not a sub cgroup path (it leaves the container's cgroup)");
                    }
                }
                c => out.push(c),
            }
        }
        Ok(out)
    };
    if args.is_empty() {
        return Ok(with_kind(dirs));
    }
    let mut all = None;
    let mut per: Vec<(String, String, String)> = Vec::new();
    for arg in args {
        let parts: Vec<&str> = arg.splitn(3, ':').collect();
        match parts.as_slice() {
            [path] => {
                if args.len() != 1 {
                    bail!("--cgroup {arg}: missing <controller>: prefix (needed when --cgroup is given more than once)");
                }
                all = Some(path.to_string());
            }
            [ctrls, path] => {
                for c in ctrls.split(',').filter(|c| !c.is_empty()) {
                    per.push((c.to_string(), path.to_string(), arg.clone()));
                }
            }
            _ => bail!("--cgroup {arg}: invalid (use <path> or <controller>[,<controller>]:<path>)"),
        }
    }
    if let Some(path) = all {
        for (d, h) in dirs.iter_mut().zip(hs) {
            *d = sub(&h.dir, &path, &path)?;
        }
        return Ok(with_kind(dirs));
    }
    for (ctrl, path, arg) in per {
        let mut found = false;
        for (d, h) in dirs.iter_mut().zip(hs) {
            let matches = if h.v2 { ctrl == "unified" || (cg.layout() == crate::cgroups::Layout::Unified) } else { h.has(&ctrl) || h.has(&format!("name={ctrl}")) };
            if matches {
                *d = sub(&h.dir, &path, &arg)?;
                found = true;
            }
        }
        if !found {
            bail!("--cgroup {arg}: unknown controller {ctrl:?} for this container's cgroup");
        }
    }
    Ok(with_kind(dirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_later_wins_in_place() {
        let e = dedup_env(vec!["PATH=/a".into(), "A=1".into(), "PATH=/b".into(), "B".into()]);
        assert_eq!(e, vec!["PATH=/b".to_string(), "A=1".into(), "B".into()]);
    }

    fn process_file(json: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("process.json");
        std::fs::write(&path, json).unwrap();
        (dir, path)
    }

    /// Both parses read a complete process alike; the mending one fills in a missing user and
    /// drops unknown capabilities; a bad field is named.
    #[test]
    fn process_file_parses() {
        let (_d, p) = process_file(r#"{"args": ["true"], "cwd": "/", "user": {"uid": 7, "gid": 8}, "capabilities": {"bounding": ["CAP_KILL"]}}"#);
        let fast = load_process(&p).unwrap();
        assert_eq!(fast, process_slowly(&p, &std::fs::read(&p).unwrap()).unwrap());
        assert_eq!((fast.user().uid(), fast.user().gid()), (7, 8));

        let (_d, p) = process_file(r#"{"args": ["true"], "cwd": "/"}"#);
        let no_user = load_process(&p).unwrap();
        assert_eq!((no_user.user().uid(), no_user.user().gid()), (0, 0));

        let (_d, p) = process_file(r#"{"args": ["true"], "cwd": "/", "capabilities": {"bounding": ["CAP_KILL", "CAP_NOT_YET"]}}"#);
        let mended = load_process(&p).unwrap();
        assert_eq!((mended.user().uid(), mended.user().gid()), (0, 0));
        assert_eq!(mended.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().len(), 1);

        let (_d, p) = process_file(r#"{"args": ["true"], "cwd": "/", "user": {"uid": "x", "gid": 0}}"#);
        let e = format!("{:#}", load_process(&p).unwrap_err());
        assert!(e.contains("user.uid"), "{e}");

        let (_d, p) = process_file(r#"{"args": [], "cwd": "/", "user": {"uid": 0, "gid": 0}}"#);
        assert!(format!("{:#}", load_process(&p).unwrap_err()).contains("args cannot be empty"));
    }

    #[test]
    fn caps_parse() {
        assert_eq!(parse_cap("CAP_SYS_ADMIN").unwrap(), Capability::SysAdmin);
        assert_eq!(parse_cap("net_raw").unwrap(), Capability::NetRaw);
        assert!(parse_cap("CAP_NOPE").is_none());
    }
}
