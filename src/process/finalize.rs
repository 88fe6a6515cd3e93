//! The last steps before the user's program runs, shared by the container's init and by
//! `exec`: rlimits, oom score, identity, capabilities, no_new_privs, and the execve itself.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxMemoryPolicy, PosixRlimitType, Process};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::sync::{install_seccomp, Channel};
use crate::kernel::Kernel;
use crate::security::seccomp::CompiledFilter;
use crate::security::{caps, user};

fn rlimit_resource(t: PosixRlimitType) -> nix::sys::resource::Resource {
    use nix::sys::resource::Resource as R;
    use PosixRlimitType::*;
    match t {
        RlimitCpu => R::RLIMIT_CPU,
        RlimitFsize => R::RLIMIT_FSIZE,
        RlimitData => R::RLIMIT_DATA,
        RlimitStack => R::RLIMIT_STACK,
        RlimitCore => R::RLIMIT_CORE,
        RlimitRss => R::RLIMIT_RSS,
        RlimitNproc => R::RLIMIT_NPROC,
        RlimitNofile => R::RLIMIT_NOFILE,
        RlimitMemlock => R::RLIMIT_MEMLOCK,
        RlimitAs => R::RLIMIT_AS,
        RlimitLocks => R::RLIMIT_LOCKS,
        RlimitSigpending => R::RLIMIT_SIGPENDING,
        RlimitMsgqueue => R::RLIMIT_MSGQUEUE,
        RlimitNice => R::RLIMIT_NICE,
        RlimitRtprio => R::RLIMIT_RTPRIO,
        RlimitRttime => R::RLIMIT_RTTIME,
    }
}

/// process.rlimits; the error names the limit and explains the usual cause.
pub fn set_rlimits(p: &Process) -> Result<()> {
    for r in p.rlimits().iter().flatten() {
        if let Err(e) = nix::sys::resource::setrlimit(rlimit_resource(r.typ()), r.soft(), r.hard()) {
            let why = if e == nix::errno::Errno::EPERM { " (raising a hard limit needs CAP_SYS_RESOURCE, which this runtime does not have)" } else { "" };
            bail!("process.rlimits[{:?}]: setrlimit(soft={}, hard={}): {e}{why}", r.typ(), r.soft(), r.hard());
        }
    }
    Ok(())
}

/// process.oomScoreAdj (`value`) of process `pid` (None: the caller), written through the
/// host's /proc with a verified handle: by the runtime for the init before it runs anything
/// (a non-dumpable init in a user namespace may not open its own /proc files), by an exec'd
/// process for itself before it joins the container's mount namespace.
pub fn set_oom_score_adj(pid: Option<i32>, value: Option<i32>) -> Result<()> {
    let Some(v) = value else { return Ok(()) };
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/oom_score_adj"),
        None => "/proc/self/oom_score_adj".to_string(),
    };
    let root = crate::inroot::InRoot::open(Path::new("/"))?;
    crate::procfs::write_verified(&root, Path::new(&path), &v.to_string())
        .with_context(|| format!("process.oomScoreAdj: writing {v} (lowering it below the current value needs CAP_SYS_RESOURCE)"))
}

/// The environment the program gets: process.env, HOME when missing, LISTEN_FDS when passed.
pub fn environment(p: &Process, listen_fds: u32) -> Vec<String> {
    let mut env: Vec<String> = p.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user::home_for(p.user().uid())));
    }
    if listen_fds > 0 {
        env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        env.push(format!("LISTEN_FDS={listen_fds}"));
        env.push("LISTEN_PID=1".into());
    }
    env
}

/// Finds args[0] as execvp would, with the PATH of the container's environment.
pub fn lookup(program: &str, env: &[String]) -> Result<PathBuf> {
    let executable = |p: &Path| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok();
    // Go's exec.LookPath words, which runc reports and docker/podman map to exit codes 126/127.
    let exec_err = |why: &str| anyhow::anyhow!("process.args[0]: exec: {program:?}: {why}");
    if program.contains('/') {
        let p = PathBuf::from(program);
        return match std::fs::metadata(&p) {
            Err(e) => Err(exec_err(&format!("stat {program}: {}", errno_text(&e)))),
            Ok(m) if m.is_dir() => Err(exec_err("is a directory")),
            Ok(_) if !executable(&p) => Err(exec_err("permission denied")),
            Ok(_) => Ok(p),
        };
    }
    let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or("");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let cand = Path::new(dir).join(program);
        if std::fs::metadata(&cand).is_ok_and(|m| m.is_file()) && executable(&cand) {
            return Ok(cand);
        }
    }
    Err(exec_err("executable file not found in $PATH"))
}

/// strerror in Go's spelling (lower case, no "(os error N)").
fn errno_text(e: &std::io::Error) -> String {
    let text = e.raw_os_error().map(|n| nix::errno::Errno::from_raw(n).desc().to_string()).unwrap_or_else(|| e.to_string());
    let mut c = text.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

/// What [`confine`] applies to the calling process.
pub struct Limits<'a> {
    pub process: &'a Process,
    /// linux.personality's value (security::personality::value), checked by `create`.
    pub personality: Option<u64>,
    pub memory_policy: Option<&'a LinuxMemoryPolicy>,
    /// linux.seccomp, compiled before the clone.
    pub seccomp: Option<&'a CompiledFilter>,
    /// The kernel's cap_last_cap, read while the host's /proc was reachable.
    pub last_cap: u8,
    /// False in a user namespace whose setgroups is "deny" (rootless).
    pub setgroups_allowed: bool,
}

/// The last privileged steps of the init and of every exec'd process, in runc's order:
/// LSM exec labels and the personality while still fully privileged (seccomp profiles
/// restrict personality(2)); seccomp; bounding set, identity, capabilities, no_new_privs;
/// scheduler, ioPriority, memoryPolicy with the container's own capabilities (CAP_SYS_NICE).
/// With noNewPrivileges seccomp goes last instead: without no_new_privs loading a filter
/// needs CAP_SYS_ADMIN, so it must precede the drop; with it, as late as possible. A notify
/// fd travels over `ch` (sync::install_seccomp); `exit_code` ends us if the parent gives up.
pub fn confine(k: &impl Kernel, l: &Limits, ch: &Channel, exit_code: i32) -> Result<()> {
    crate::security::lsm::apply_exec_labels(k, Some(l.process))?;
    crate::security::personality::set(l.personality)?;
    crate::trace::mark("lsm-personality");
    let nnp = l.process.no_new_privileges().unwrap_or(false);
    if !nnp {
        install_seccomp(k, l.seccomp, ch, exit_code)?;
        crate::trace::mark("seccomp");
    }
    set_identity(k, l.process, l.last_cap, l.setgroups_allowed)?;
    crate::trace::mark("caps");
    super::tuning::apply(l.process, l.memory_policy)?;
    if nnp {
        install_seccomp(k, l.seccomp, ch, exit_code)?;
        crate::trace::mark("seccomp");
    }
    Ok(())
}

/// Identity and capabilities: bounding set first (needs CAP_SETPCAP), then the uid change
/// with KEEPCAPS, then the remaining sets, then no_new_privs.
fn set_identity(k: &impl Kernel, p: &Process, last_cap: u8, setgroups_allowed: bool) -> Result<()> {
    let sets = caps::CapSets::from_spec(p.capabilities().as_ref(), last_cap);
    caps::drop_bounding(k, sets.bounding, last_cap).context("process.capabilities.bounding")?;
    let u = p.user();
    user::switch(k, u.uid(), u.gid(), u.additional_gids().as_deref().unwrap_or(&[]), setgroups_allowed)?;
    caps::apply(k, &sets, last_cap)?;
    if p.no_new_privileges().unwrap_or(false) {
        k.prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0).context("process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS)")?;
    }
    Ok(())
}

/// process.cwd, resolved inside the (already pivoted) root without following magic links, so
/// a cwd such as /proc/self/fd/N cannot reach a directory outside the container
/// (CVE-2024-21626), then entered with fchdir on the O_PATH handle (no /proc needed). The
/// init creates a missing cwd, as runc does; exec refuses it, as runc does.
pub fn chdir_cwd(cwd: &Path, create_missing: bool) -> Result<()> {
    use crate::inroot::{InRoot, Kind};
    let root = InRoot::open(Path::new("/"))?;
    let dir = if create_missing {
        root.resolve_create(cwd, Kind::Dir, false).with_context(|| format!("process.cwd {}", cwd.display()))?
    } else {
        root.resolve(cwd, false).map_err(|e| {
            let why = if e.raw_os_error() == Some(libc::ENOENT) { "no such directory in the container".to_string() } else { e.to_string() };
            anyhow::anyhow!("process.cwd {}: {why}", cwd.display())
        })?
    };
    let st = nix::sys::stat::fstat(&dir).with_context(|| format!("process.cwd {}", cwd.display()))?;
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        bail!("process.cwd {}: not a directory", cwd.display());
    }
    nix::unistd::fchdir(&dir).with_context(|| format!("process.cwd: chdir {}", cwd.display()))
}

/// Restores default signal handling (we may have ignored or blocked signals), hides every fd
/// beyond stdio and the preserved ones, and replaces this process with the program.
pub fn exec(path: &Path, args: &[String], env: &[String], preserve_fds: u32, umask: u32) -> Result<std::convert::Infallible> {
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
    crate::sys::cloexec_from(3 + preserve_fds)?;
    for fd in 3..3 + preserve_fds as i32 {
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    unsafe { libc::umask(umask as libc::mode_t) };
    let cpath = CString::new(path.as_os_str().as_bytes())?;
    let cargs: Vec<CString> = args.iter().map(|a| CString::new(a.as_bytes())).collect::<Result<_, _>>().context("process.args: NUL byte")?;
    let cenv: Vec<CString> = env.iter().map(|a| CString::new(a.as_bytes())).collect::<Result<_, _>>().context("process.env: NUL byte")?;
    let e = nix::unistd::execve(&cpath, &cargs, &cenv).unwrap_err();
    // Go's os.PathError, as runc reports a failed execve: "exec /bin/x: exec format error".
    bail!("exec {}: {}", path.display(), errno_text(&std::io::Error::from(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Call, Recorder};

    fn process(nnp: bool) -> Process {
        let mut v = crate::spec::default_spec(false, 0, 0, false)["process"].clone();
        v["noNewPrivileges"] = nnp.into();
        v["user"] = serde_json::json!({"uid": 1000, "gid": 1000, "additionalGids": [10]});
        serde_json::from_value(v).unwrap()
    }

    /// Runs `confine` against the Recorder with an allow-all filter.
    fn confine_recorded(nnp: bool) -> Recorder {
        let p = process(nnp);
        let seccomp: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW"})).unwrap();
        let filter = crate::security::seccomp::compile(&seccomp).unwrap();
        let limits = Limits { process: &p, personality: None, memory_policy: None, seccomp: Some(&filter), last_cap: 40, setgroups_allowed: true };
        let (_parent, child) = super::super::sync::pair().unwrap();
        let k = Recorder::default();
        confine(&k, &limits, &child, 1).unwrap();
        k
    }

    fn is_seccomp(c: &Call) -> bool {
        matches!(c, Call::Seccomp { .. })
    }

    /// Without noNewPrivileges the filter goes in while we still hold CAP_SYS_ADMIN: before
    /// the bounding set shrinks, the uid changes and capset drops the rest (as runc).
    #[test]
    fn seccomp_before_dropping_capabilities() {
        let k = confine_recorded(false);
        let seccomp = k.position("seccomp", is_seccomp);
        assert!(seccomp < k.position("bounding drop", |c| matches!(c, Call::Prctl { option: libc::PR_CAPBSET_DROP, .. })));
        assert!(seccomp < k.position("setresuid", |c| matches!(c, Call::Setresuid(1000))));
        assert!(seccomp < k.position("capset", |c| matches!(c, Call::Capset { .. })));
        assert!(!k.calls().iter().any(|c| matches!(c, Call::Prctl { option: libc::PR_SET_NO_NEW_PRIVS, .. })));
    }

    /// With noNewPrivileges it goes in last: after no_new_privs and the capability drop.
    #[test]
    fn seccomp_after_no_new_privs() {
        let k = confine_recorded(true);
        let seccomp = k.position("seccomp", is_seccomp);
        assert!(k.position("no_new_privs", |c| matches!(c, Call::Prctl { option: libc::PR_SET_NO_NEW_PRIVS, arg2: 1 })) < seccomp);
        assert!(k.position("capset", |c| matches!(c, Call::Capset { .. })) < seccomp);
        assert_eq!(k.calls().iter().filter(|c| is_seccomp(c)).count(), 1);
    }

    /// The identity switch: bounding set first (needs CAP_SETPCAP), KEEPCAPS around the uid
    /// change, groups before gid before uid, then capset and no_new_privs.
    #[test]
    fn identity_switch_order() {
        let k = confine_recorded(true);
        let calls: Vec<Call> = k.calls().into_iter().filter(|c| !matches!(c, Call::Prctl { option: libc::PR_CAPBSET_DROP, .. } | Call::Seccomp { .. })).collect();
        let caps = crate::security::caps::CapSets::from_spec(process(true).capabilities().as_ref(), 40);
        let ambient: Vec<Call> = (0..=40).filter(|i| caps.ambient & (1 << i) != 0).map(|_| Call::Prctl { option: libc::PR_CAP_AMBIENT, arg2: libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong }).collect();
        let mut want = vec![
            Call::Prctl { option: libc::PR_SET_KEEPCAPS, arg2: 1 },
            Call::Setgroups(vec![10]),
            Call::Setresgid(1000),
            Call::Setresuid(1000),
            Call::Prctl { option: libc::PR_SET_KEEPCAPS, arg2: 0 },
            Call::Capset { effective: caps.effective, permitted: caps.permitted, inheritable: caps.inheritable },
        ];
        want.extend(ambient);
        want.push(Call::Prctl { option: libc::PR_SET_NO_NEW_PRIVS, arg2: 1 });
        assert_eq!(calls, want);
        let first_other = k.position("keepcaps", |c| matches!(c, Call::Prctl { option: libc::PR_SET_KEEPCAPS, .. }));
        assert!(k.calls()[..first_other].iter().all(|c| matches!(c, Call::Prctl { option: libc::PR_CAPBSET_DROP, .. })), "{:#?}", k.calls());
    }
}
