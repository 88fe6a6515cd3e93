//! `exec`: a new process inside a running container (the setns path).
//!
//!   parent: pidfd_open(init) (checked against its start time),
//!           v1 `tasks` files and the v2 directory opened,
//!           setns(pid ns) for its own children only,
//!           clone3(CLONE_INTO_CGROUP v2 dir) ──────────────────────────► child
//!           (+ CLONE_VM | CLONE_VFORK when the child never waits for us: we sleep until
//!           its execve, and no memory is copied; see spawn_sharing_memory)
//!                                   non-dumpable; "0" → each v1 tasks file;
//!                                   setns(every other namespace, user first);
//!                                   pty; rlimits; cwd; seccomp /
//!                                   identity / caps / NNP; program looked up ──► Ready
//!           Go ──────────────────────────────────────────────────────────►
//!           (only when the parent writes cgroup.procs or sets the final CPU affinity)
//!                                   exec (the channel is close-on-exec: EOF means success)
//!           EOF ◄─────── or Error(why) if the execve failed
//!
//! One fork: the parent joins the container's pid namespace for its children before forking,
//! so the child is already inside it and no intermediate process is needed. The child is a
//! direct child of `bulkhead exec`, which waits for it in the foreground.
//!
//! Cgroups without the RCU grace period a cgroup.procs write of another pid costs (the
//! global threadgroup rwsem taken for writing: 10-20 ms, most of an exec): the child is born
//! in the v2 cgroup (CLONE_INTO_CGROUP) and moves itself, a single thread writing "0", into
//! each v1 hierarchy, which the kernel does without that lock. Where that is not possible
//! (old kernel, a frozen cgroup that would stop the child mid-setup) the parent writes the
//! pid to every cgroup.procs after the child is set up, as runc does.

use anyhow::{Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::finalize;
use super::sync::{self, Channel, Msg};

/// Everything the exec'd process needs, prepared by the parent before the fork.
pub struct ExecConfig<'a> {
    pub init_pid: i32,
    pub init_start_time: u64,
    pub process: &'a Process,
    /// The container's namespaces (every type its config lists: the init is in all of them).
    pub namespaces: Vec<LinuxNamespaceType>,
    /// The cgroup directory in every hierarchy, the v2 one flagged `true`; the process is in
    /// all of them before it may exec.
    pub cgroup_dirs: Vec<(PathBuf, bool)>,
    pub seccomp: Option<&'a crate::security::seccomp::CompiledFilter>,
    /// linux.personality of the container (security::personality::value).
    pub personality: Option<u64>,
    /// Receives the pty master when process.terminal is true.
    pub console_socket: Option<RawFd>,
    /// The console socket is the runtime's own (foreground `exec -t`), which relays the pty.
    pub relay_pty: bool,
    pub preserve_fds: u32,
    /// The cgroup is frozen (--ignore-paused): the parent moves the process in once it is
    /// set up, so the freeze holds it just before exec rather than mid-setup.
    pub frozen: bool,
    /// Return once the process is in its cgroup and told to go, without waiting for the
    /// execve to succeed (a frozen cgroup holds it until it is thawed).
    pub no_wait_exec: bool,
    /// linux.memoryPolicy of the container.
    pub memory_policy: Option<&'a oci_spec::runtime::LinuxMemoryPolicy>,
    /// The config's ociVersion and the container's state: what a seccomp agent is told with a
    /// notify fd.
    pub oci_version: &'a str,
    pub state: &'a crate::state::State,
}

fn ns_name(t: LinuxNamespaceType) -> &'static str {
    use LinuxNamespaceType::*;
    match t {
        User => "user",
        Mount => "mnt",
        Pid => "pid",
        Network => "net",
        Ipc => "ipc",
        Uts => "uts",
        Cgroup => "cgroup",
        Time => "time",
    }
}

/// How the child reaches the container's namespaces.
enum Target {
    /// One setns(pidfd, flags) joins them all atomically (Linux ≥ 5.8).
    Pidfd(OwnedFd),
    /// Older kernels: one fd per /proc/PID/ns/X, joined user first and mount last.
    Files(Vec<(LinuxNamespaceType, OwnedFd)>),
}

fn ns_order(t: &LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 2,
        _ => 1,
    }
}

/// `init`: a pidfd on the init already checked against its start time (state's
/// `open_unlocked_with_init`), or None to open one here.
fn open_target(cfg: &ExecConfig, init: Option<OwnedFd>) -> Result<Target> {
    if let Some(fd) = init {
        return Ok(Target::Pidfd(fd));
    }
    let pid = cfg.init_pid;
    let gone = || anyhow::anyhow!("the container's init (pid {pid}) is no longer running");
    let target = match crate::sys::pidfd_open(pid) {
        Ok(fd) => Target::Pidfd(fd),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Err(gone()),
        Err(_) => {
            let mut fds = Vec::new();
            let mut nss = cfg.namespaces.clone();
            nss.sort_by_key(ns_order);
            for t in nss {
                let p = format!("/proc/{pid}/ns/{}", ns_name(t));
                let fd = nix::fcntl::open(p.as_str(), nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
                    .with_context(|| format!("opening {p}"))?;
                fds.push((t, fd));
            }
            Target::Files(fds)
        }
    };
    // Checked after the handle exists: a pid reused since `create` is not the container's.
    if !crate::state::process_alive(pid, cfg.init_start_time) {
        return Err(gone());
    }
    Ok(target)
}

fn flags_of(nss: &[LinuxNamespaceType]) -> libc::c_int {
    nss.iter().fold(0, |f, t| f | super::namespaces::flag(*t).bits())
}

fn setns(fd: RawFd, flags: libc::c_int) -> std::io::Result<()> {
    if unsafe { libc::setns(fd, flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Starts the process and returns its pid (as the host sees it) once it has exec'd (or, with
/// `no_wait_exec`, once it was told to). On error nothing is left running. `init`: see
/// open_target.
pub fn spawn(cfg: &ExecConfig, init: Option<OwnedFd>) -> Result<i32> {
    let target = open_target(cfg, init)?;
    let has_pid_ns = cfg.namespaces.contains(&LinuxNamespaceType::Pid);
    // As runc: a user namespace whose setgroups is denied (its own, or the runtime's: `unshare
    // -r`) refuses setgroups(2) even with an empty list.
    let in_userns = crate::security::rootless::in_userns(crate::security::rootless::facts(), cfg.namespaces.contains(&LinuxNamespaceType::User));
    let setgroups_allowed = !in_userns
        || std::fs::read_to_string(format!("/proc/{}/setgroups", cfg.init_pid)).map(|s| s.trim() != "deny").unwrap_or(true);
    let last_cap = crate::security::caps::last_cap();
    crate::trace::mark("target");

    // Our children are born in the container's pid namespace; we stay where we are.
    if has_pid_ns {
        let r = match &target {
            Target::Pidfd(fd) => setns(fd.as_raw_fd(), libc::CLONE_NEWPID),
            Target::Files(fds) => {
                let (_, fd) = fds.iter().find(|(t, _)| *t == LinuxNamespaceType::Pid).expect("pid ns opened");
                setns(fd.as_raw_fd(), libc::CLONE_NEWPID)
            }
        };
        r.context("joining the container's pid namespace (setns CLONE_NEWPID)")?;
    }

    // The fast cgroup path (see the module doc): v1 tasks files for the child, v2 directory
    // for clone3. A frozen cgroup would stop the child before it reports Ready.
    let mut tasks: Vec<OwnedFd> = Vec::new();
    let mut v2_dir: Option<OwnedFd> = None;
    let mut parent_writes: Vec<PathBuf> = Vec::new();
    for (dir, v2) in &cfg.cgroup_dirs {
        if cfg.frozen {
            parent_writes.push(dir.clone());
        } else if *v2 {
            v2_dir = Some(open_cgroup(dir, "", nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY)?);
        } else {
            tasks.push(open_cgroup(dir, "tasks", nix::fcntl::OFlag::O_WRONLY)?);
        }
    }

    crate::trace::mark("cgroup-open");
    let (parent, child) = sync::pair()?;
    let affinity = cfg.process.exec_cpu_affinity().as_ref();
    let runtime_affinity = super::tuning::initial_affinity(affinity)?;
    let fork = |into: Option<RawFd>| -> Result<i32> {
        // SAFETY: the runtime is single-threaded.
        let r = match into {
            Some(fd) => unsafe { crate::sys::clone3_fork(0, Some(fd)) }.context("clone3(CLONE_INTO_CGROUP)"),
            None => unsafe { crate::sys::clone_fork(0) },
        };
        match r {
            Ok(p) => Ok(p),
            // The pid namespace's init died: the kernel refuses new members.
            Err(e) if has_pid_ns => Err(e).context("forking into the container's pid namespace (has its init exited?)"),
            Err(e) => Err(e),
        }
    };
    // The child waits for Go only when the parent has work between its setup and its execve
    // (cgroup.procs writes, the final CPU affinity); otherwise it execs at once, which saves
    // a round trip of wake-ups on every exec. Read by the child as it was at its fork.
    let sets_final_affinity = affinity.is_some_and(|a| a.cpu_affinity_final().is_some());
    let mut wait_for_go = sets_final_affinity || !parent_writes.is_empty();
    let into = v2_dir.as_ref().map(|d| d.as_raw_fd());
    // Held until we return: by then the child has left our memory (see NonDumpable).
    let mut _non_dumpable = None;
    let shared = if !wait_for_go && may_share_memory(cfg) {
        let guard = NonDumpable::set();
        let pid = spawn_sharing_memory(into, || child_main(cfg, &target, &tasks, &child, Setup { last_cap, setgroups_allowed, wait_for_go }));
        _non_dumpable = pid.map(|_| guard);
        pid
    } else {
        None
    };
    let pid = match shared {
        Some(p) => p,
        None => match into.map(|fd| fork(Some(fd))) {
            Some(Ok(p)) => p,
            // No clone3 / CLONE_INTO_CGROUP here, or the cgroup refuses it: the slow path.
            Some(Err(_)) => {
                let (dir, _) = cfg.cgroup_dirs.iter().find(|(_, v2)| *v2).expect("v2 dir");
                parent_writes.push(dir.clone());
                wait_for_go = true;
                fork(None)?
            }
            None => fork(None)?,
        },
    };
    if pid == 0 {
        drop(parent);
        child_main(cfg, &target, &tasks, &child, Setup { last_cap, setgroups_allowed, wait_for_go });
    }
    super::tuning::restore_affinity(runtime_affinity);
    drop(child);
    drop(target);
    drop(tasks);
    drop(v2_dir);

    let abort = |e: anyhow::Error| -> anyhow::Error {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        e
    };
    loop {
        match parent.recv() {
            Ok(Some(Msg::Ready)) => break,
            Ok(Some(Msg::SeccompFd(fd))) => {
                // SAFETY: recv hands us this fd (SCM_RIGHTS); nothing else owns it.
                let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                let sent = super::send_seccomp_fd(cfg.oci_version, cfg.seccomp, cfg.state.oci_json(), pid, &fd);
                if let Err(e) = sent.and_then(|()| parent.send(&Msg::SeccompDone)) {
                    return Err(abort(e));
                }
            }
            Ok(Some(Msg::Error(e))) => return Err(abort(anyhow::anyhow!(e))),
            Ok(_) => return Err(abort(anyhow::anyhow!("the exec'd process exited during setup"))),
            Err(e) => return Err(abort(e)),
        }
    }
    for dir in &parent_writes {
        let p = dir.join("cgroup.procs");
        if let Err(e) = std::fs::write(&p, pid.to_string()) {
            let why = if e.kind() == std::io::ErrorKind::NotFound { format!("{} does not exist", dir.display()) } else { e.to_string() };
            return Err(abort(anyhow::anyhow!("adding pid {pid} to the container's cgroup: writing {}: {why}", p.display())));
        }
    }
    // In its cgroup now (a cpuset there would narrow an earlier mask).
    if let Err(e) = super::tuning::final_affinity(affinity, pid) {
        return Err(abort(e));
    }
    if wait_for_go && let Err(e) = parent.send(&Msg::Go(pid)) {
        return Err(abort(e));
    }
    if cfg.no_wait_exec {
        return Ok(pid);
    }
    match parent.recv() {
        // The channel is close-on-exec: EOF is a successful execve.
        Ok(None) => Ok(pid),
        Ok(Some(Msg::Error(e))) => Err(abort(anyhow::anyhow!(e))),
        Ok(Some(other)) => Err(abort(anyhow::anyhow!("unexpected {other:?} from the exec'd process"))),
        Err(e) => Err(abort(e)),
    }
}

/// The child may share our memory until its execve when it never waits for us: not for Go
/// (checked by the caller), not for a seccomp agent's answer, and not behind a terminal. A
/// time namespace refuses setns from a process whose memory is shared (EUSERS).
fn may_share_memory(cfg: &ExecConfig) -> bool {
    !cfg.seccomp.is_some_and(|f| f.needs_listener())
        && !cfg.process.terminal().unwrap_or(false)
        && !cfg.namespaces.contains(&LinuxNamespaceType::Time)
}

/// Starts the child with CLONE_VM | CLONE_VFORK (sys::clone3_vfork): we go on once it has
/// exec'd or exited. None where the kernel refuses it (no clone3, CLONE_VM after
/// setns(CLONE_NEWPID) on old kernels, a cgroup that refuses CLONE_INTO_CGROUP): the caller
/// forks instead.
fn spawn_sharing_memory(into: Option<RawFd>, child: impl FnOnce()) -> Option<i32> {
    // SAFETY: the runtime is single-threaded; child_main ends in execve or _exit and, with
    // may_share_memory, never waits for us.
    let pid = unsafe { crate::sys::clone3_vfork(into, child) }.ok()?;
    // A child killed (SIGKILL: `kill --all`, the container's init dying) inside an allocation,
    // a log write or a trace mark left that lock held in our memory, and maybe a free list
    // half-updated: nothing here may allocate again. Its error cannot be reported through the
    // heap either.
    if crate::heap::held() || crate::log::held() || crate::trace::held() {
        let msg = b"bulkhead: exec failed: the process was killed during its setup\n";
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::_exit(255)
        }
    }
    Some(pid)
}

/// Our memory is non-dumpable while a child runs on it: from before the clone (the child
/// starts with our credentials) until it has left it. Restored on drop, which `spawn` holds
/// until it returns: after the channel's EOF, which the kernel sends only once the execve has
/// switched the child to its new memory, or after the child was reaped. Restoring when the
/// vfork wait ends would be too early (the kernel wakes us before the switch, a window in which
/// a container process could open /proc/<child>/exe: CVE-2019-5736).
struct NonDumpable {
    restore: bool,
}

impl NonDumpable {
    fn set() -> NonDumpable {
        let was = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        NonDumpable { restore: was == 1 }
    }
}

impl Drop for NonDumpable {
    fn drop(&mut self) {
        if self.restore {
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        }
    }
}

/// What the parent found out for the child before the fork.
struct Setup {
    last_cap: u8,
    setgroups_allowed: bool,
    /// The parent has work to do once the child is Ready: wait for its Go.
    wait_for_go: bool,
}

fn child_main(cfg: &ExecConfig, target: &Target, tasks: &[OwnedFd], ch: &Channel, setup: Setup) -> ! {
    let err = match child_setup(cfg, target, tasks, ch, &setup) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = ch.send(&Msg::Error(format!("{err:#}")));
    unsafe { libc::_exit(255) }
}

fn child_setup(cfg: &ExecConfig, target: &Target, tasks: &[OwnedFd], ch: &Channel, setup: &Setup) -> Result<std::convert::Infallible> {
    let process = cfg.process;
    // CVE-2019-5736: while this (runtime) code runs among the container's processes, nothing
    // there may ptrace it or open /proc/PID/exe. execve makes the program dumpable again.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("prctl(PR_SET_DUMPABLE, 0)");
    }
    // Into each v1 hierarchy: "0" is this thread, and we are the only one.
    for fd in tasks {
        crate::sys::join_v1_tasks(fd.as_raw_fd())?;
    }
    crate::trace::mark("v1-join");
    // Through the host's /proc, before the mount namespace changes.
    finalize::set_oom_score_adj(None, process.oom_score_adj())?;

    let others: Vec<LinuxNamespaceType> = cfg.namespaces.iter().copied().filter(|t| *t != LinuxNamespaceType::Pid).collect();
    match target {
        Target::Pidfd(fd) => {
            let flags = flags_of(&others);
            if flags != 0 {
                setns(fd.as_raw_fd(), flags).with_context(|| {
                    let names: Vec<&str> = others.iter().map(|t| ns_name(*t)).collect();
                    format!("joining the container's namespaces ({}) with setns(pidfd)", names.join(","))
                })?;
            }
        }
        Target::Files(fds) => {
            for (t, fd) in fds.iter().filter(|(t, _)| *t != LinuxNamespaceType::Pid) {
                setns(fd.as_raw_fd(), super::namespaces::flag(*t).bits()).with_context(|| format!("joining the container's {} namespace (setns)", ns_name(*t)))?;
            }
        }
    }
    // setns(CLONE_NEWNS) put our root and cwd on the namespace's root, following the mounts
    // stacked there: the rootfs after pivot_root, and also after --no-pivot's MS_MOVE.
    if !cfg.namespaces.contains(&LinuxNamespaceType::Mount) {
        // No mount namespace to join: the container's root is the directory its init
        // chrooted into.
        let root = format!("/proc/{}/root", cfg.init_pid);
        nix::unistd::chroot(root.as_str()).with_context(|| format!("chroot {root} (the container has no mount namespace)"))?;
        std::env::set_current_dir("/").context("chdir /")?;
    }

    crate::trace::mark("setns");
    if process.terminal().unwrap_or(false) {
        let sock = cfg.console_socket.context("process.terminal is true but there is no console socket")?;
        let size = process.console_size().as_ref().map(|b| (b.height() as u16, b.width() as u16));
        crate::console::attach_pty(sock, size, false, process.user().uid(), cfg.relay_pty)?;
    }
    finalize::set_rlimits(process)?;
    finalize::chdir_cwd(process.cwd(), false)?;
    crate::trace::mark("rlimits-cwd");
    let limits = finalize::Limits {
        process,
        personality: cfg.personality,
        memory_policy: cfg.memory_policy,
        seccomp: cfg.seccomp,
        last_cap: setup.last_cap,
        setgroups_allowed: setup.setgroups_allowed,
    };
    finalize::confine(&crate::kernel::Host, &limits, ch, 255)?;

    let env = finalize::environment(process, 0);
    let args = process.args().clone().unwrap_or_default();
    let program = finalize::lookup(args.first().context("process.args: empty")?, &env)?;
    ch.send(&Msg::Ready)?;
    if setup.wait_for_go {
        match ch.recv()? {
            Some(Msg::Go(_)) => {}
            // The parent gave up; its error is what the user sees.
            _ => unsafe { libc::_exit(255) },
        }
    }
    let umask = process.user().umask().unwrap_or(0o022);
    finalize::exec(&program, &args, &env, cfg.preserve_fds, umask)
}

/// `<dir>/<file>` of a cgroup, with an error naming a missing (sub-)cgroup.
fn open_cgroup(dir: &Path, file: &str, flags: nix::fcntl::OFlag) -> Result<OwnedFd> {
    let p = if file.is_empty() { dir.to_path_buf() } else { dir.join(file) };
    nix::fcntl::open(&p, flags | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).map_err(|e| {
        let why = if e == nix::errno::Errno::ENOENT { format!("{} does not exist", dir.display()) } else { e.to_string() };
        anyhow::anyhow!("joining the container's cgroup: opening {}: {why}", p.display())
    })
}


