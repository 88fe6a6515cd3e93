//! Creating the container's init process: the parent side of the create path.
//!
//!   parent: clone3(new namespaces, CLONE_INTO_CGROUP) ──► init waits for Go
//!           write id maps, send Go(pid)       init: writes 0 to each v1 `tasks` file
//!           [fallback: write cgroup.procs], send Joined
//!                                      init: (waits for Joined before its cgroup namespace)
//!                                      init: mounts ──► HooksRequest (if any prestart/createRuntime)
//!           run those hooks, HooksDone ◄─┘
//!                                      init: createContainer hooks, pivot_root, console,
//!                                            masked paths, sysctl, identity ──► Ready
//!           return pid                 init: blocks on exec.fifo until `start`, then execs
//!
//! Cgroups: writing another process's pid to cgroup.procs takes the kernel's global
//! threadgroup lock for writing, an RCU grace period (~10 ms here, most of a create). So the
//! init is born in its cgroup2 directory and moves itself (a single thread writing "0") into
//! each v1 hierarchy, which the kernel does without that lock. With a new user namespace,
//! rootless, a joiner, or no clone3, the parent writes cgroup.procs instead, overlapped with
//! the init's mounts.
//!
//! When a namespace is joined by path (or a time namespace is asked for, or --no-pivot in a
//! user namespace needs the host's proc and sysfs covered, see hostfs), a short-lived "joiner"
//! child does the setns/unshare and clones the init, so the runtime process and the hooks it
//! runs stay in the host's namespaces.

pub mod exec;
pub mod finalize;
pub mod foreground;
pub mod hostfs;
pub mod init;
pub mod namespaces;
pub mod netns;
pub mod sync;
pub mod tuning;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::cgroups::{Cgroup, Manager};
use crate::hooks::{self, Phase};
use crate::state::{State, Status};
use sync::Msg;

/// Everything the init needs; built by `create` in the parent before the clone.
pub struct InitConfig<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    /// exec.fifo opened O_RDONLY|O_NONBLOCK: the init waits on it for `start`.
    pub fifo: OwnedFd,
    /// exec.fifo again, open for writing: where the init reports a failure after `start` (a
    /// startContainer hook, the execve), for `start` to read once the init is gone. Opened by
    /// the runtime, so an init in a user namespace needs no right to open files there.
    pub start_error: OwnedFd,
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub listen_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub cgroup: &'a Cgroup,
    /// Every hierarchy's directory was made before the clone (`Manager::create_makes_dirs`):
    /// the init binds them without a stat each.
    pub cgroup_made: bool,
    pub cgroup_unified: bool,
    /// linux.seccomp, compiled before the clone so the init only has to load it.
    pub seccomp: Option<&'a crate::security::seccomp::CompiledFilter>,
    /// The container's saved state ({creating}): every hook phase and the seccomp agent get
    /// its one OCI document (`State::oci_json_at`).
    pub state: &'a State,
}

/// Open `tasks` files of the v1 hierarchies and the cgroup2 directory, for the fast join.
/// Empty when any is missing (the slow path then reports it).
fn fast_join_handles(cg: &Cgroup) -> (Vec<OwnedFd>, Option<OwnedFd>) {
    use nix::fcntl::{open, OFlag};
    let mut tasks = Vec::new();
    let mut v2 = None;
    for h in cg.hierarchies() {
        let r = if h.v2 {
            open(&h.dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).map(|fd| v2 = Some(fd))
        } else {
            open(&h.dir.join("tasks"), OFlag::O_WRONLY | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).map(|fd| tasks.push(fd))
        };
        if r.is_err() {
            return (Vec::new(), None);
        }
    }
    (tasks, v2)
}

/// Runs the create path and returns the init's pid and start time (/proc/PID/stat field 22,
/// for state.json) once it waits for `start`. `net_ns`: the network namespace being made
/// ahead for it (netns), joined before the clone. `plan`: cfg.spec's namespaces
/// (Plan::from_spec).
pub fn spawn(cfg: InitConfig, mut plan: namespaces::Plan, net_ns: netns::Ahead) -> Result<(i32, u64)> {
    plan.in_userns = crate::security::rootless::in_userns(crate::security::rootless::facts(), plan.user);
    let joins = plan.open_joins()?;
    // Idmapped mounts are made by the runtime when the init asks (rootfs::sources): refuse
    // those it could not make before anything is cloned.
    crate::rootfs::sources::check(cfg.spec)?;
    make_non_dumpable(&plan)?;
    let detach_hostfs = must_detach_hostfs(&cfg, &plan)?;
    // The runtime forks only while single-threaded: the namespace's thread is done first.
    let net_ns = net_ns.take();
    crate::trace::mark("netns-wait");
    let init = if plan.needs_joiner() || detach_hostfs {
        clone_through_joiner(&cfg, &plan, &joins, detach_hostfs)?
    } else {
        clone_into_cgroup(&cfg, &plan, net_ns)?
    };
    crate::trace::mark("clone");
    crate::debug!("create {}: init cloned as pid {}{}", cfg.id, init.pid, if init.in_cgroup { " into its cgroup" } else { "" });
    let r = handshake(&cfg, &plan, &init).and_then(|start_time| match &init.hostfs_ns {
        Some(ns) => hostfs::detach_host_pseudofs(ns, cfg.rootfs).map(|()| start_time),
        None => Ok(start_time),
    });
    crate::trace::mark("init");
    match r {
        // Dropping `cfg` closes our copy of exec.fifo's read end: `run` starts the container
        // next, and `start` sees the init's exec by that end going away.
        Ok(start_time) => Ok((init.pid, start_time)),
        Err(e) => {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(init.pid), nix::sys::signal::Signal::SIGKILL);
            // Reap it when it is our child; otherwise its new parent will.
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(init.pid), Some(nix::sys::wait::WaitPidFlag::__WALL));
            Err(e)
        }
    }
}

/// The cloned init, seen from the runtime.
struct Init {
    pid: i32,
    /// The runtime's end of the sync channel.
    ch: sync::Channel,
    /// Born in its cgroup2 directory, and moved itself into the v1 ones: no cgroup.procs write.
    in_cgroup: bool,
    /// --no-pivot in a user namespace: the shared mount namespace the init was cloned from.
    hostfs_ns: Option<OwnedFd>,
}

/// CVE-2019-5736: everything forked from here on is non-dumpable from its first instruction
/// (see security::dumpable); the init's execve makes the container's program dumpable again.
/// Rootless exception (as runc): an unprivileged runtime must open the init's uid_map and
/// gid_map, which a non-dumpable process's /proc files forbid; that init makes itself
/// non-dumpable as soon as the maps are written (init::run, after Go). Until then it sits in a
/// user namespace owned by the caller, who may ptrace it anyway.
fn make_non_dumpable(plan: &namespaces::Plan) -> Result<()> {
    if !plan.new_user || !crate::security::rootless::is_rootless_euid() {
        crate::security::dumpable::set_non_dumpable()?;
    }
    Ok(())
}

/// --no-pivot keeps the host's mounts in the init's mount namespace: in a user namespace, the
/// joiner clones the init from a namespace through which the runtime detaches the host's proc
/// and sysfs once the init is set up (see hostfs).
fn must_detach_hostfs(cfg: &InitConfig, plan: &namespaces::Plan) -> Result<bool> {
    let facts = crate::security::rootless::facts();
    let host_root = !crate::security::rootless::rootless_euid(facts) && !facts.in_userns;
    let detach = hostfs::needed(cfg.no_pivot, plan.clone_flags.contains(nix::sched::CloneFlags::CLONE_NEWNS), plan.user, host_root);
    if detach {
        hostfs::check_propagation(cfg.spec)?;
    }
    Ok(detach)
}

/// A short-lived joiner child joins the namespaces given by path (and unshares a time
/// namespace, or enters a shared mount namespace for `detach_hostfs`), then clones the init
/// there, so the runtime and its hooks stay in the host's namespaces.
fn clone_through_joiner(cfg: &InitConfig, plan: &namespaces::Plan, joins: &[(oci_spec::runtime::LinuxNamespaceType, OwnedFd)], detach_hostfs: bool) -> Result<Init> {
    let (parent, child) = sync::pair()?;
    // SAFETY: the runtime is single-threaded here.
    let joiner = unsafe { crate::sys::clone_fork(0)? };
    if joiner == 0 {
        drop(parent);
        let r = (|| -> Result<i32> {
            let proc_self = namespaces::open_proc_self()?;
            if detach_hostfs {
                let ns = hostfs::enter_shared_ns()?;
                child.send_mount_ns(ns.as_raw_fd())?;
            }
            namespaces::join(&crate::kernel::Host, joins)?;
            if plan.new_time {
                namespaces::unshare_time(&crate::kernel::Host, cfg.spec, &proc_self)?;
            }
            drop(proc_self);
            let pid = unsafe { crate::sys::clone_fork(plan.clone_flags.bits() as u64)? };
            if pid == 0 {
                init::run(cfg, plan, &child, &[]);
            }
            Ok(pid)
        })();
        let (msg, code) = match r {
            Ok(pid) => (Msg::Pid(pid), 0),
            Err(e) => (Msg::Error(format!("{e:#}")), 1),
        };
        let _ = child.send(&msg);
        unsafe { libc::_exit(code) };
    }
    drop(child);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(joiner), None);
    let mut msg = parent.recv()?;
    let mut hostfs_ns = None;
    if let Some(Msg::MountNs(fd)) = msg {
        // SAFETY: recv hands us this fd (SCM_RIGHTS); nothing else owns it.
        hostfs_ns = Some(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        msg = parent.recv()?;
    }
    match msg {
        Some(Msg::Pid(pid)) => Ok(Init { pid, ch: parent, in_cgroup: false, hostfs_ns }),
        Some(Msg::Error(e)) => bail!("{e}"),
        other => bail!("joining namespaces: unexpected {other:?} from the joiner process"),
    }
}

/// Fast cgroup join (as exec does, see process/exec.rs): born in the cgroup2 directory
/// (CLONE_INTO_CGROUP), then the init moves itself into each v1 hierarchy. Without clone3
/// (or when the cgroup refuses CLONE_INTO_CGROUP) the runtime writes cgroup.procs instead.
/// With `net_ns` (made ahead, see netns) the init is cloned in it, without CLONE_NEWNET.
fn clone_into_cgroup(cfg: &InitConfig, plan: &namespaces::Plan, net_ns: Option<OwnedFd>) -> Result<Init> {
    let (parent, child) = sync::pair()?;
    let (tasks, v2) = if plan.new_user || crate::security::rootless::is_rootless_cgroups() { (Vec::new(), None) } else { fast_join_handles(cfg.cgroup) };
    let entered = net_ns.as_ref().and_then(|ns| netns::enter(ns).inspect_err(|e| crate::debug!("entering the network namespace made ahead: {e}; the clone makes one")).ok());
    let mut clone_flags = plan.clone_flags;
    if entered.is_some() {
        clone_flags.remove(nix::sched::CloneFlags::CLONE_NEWNET);
    }
    let flags = clone_flags.bits() as u64;
    // SAFETY: the runtime is single-threaded here.
    let forked = match (v2.as_ref(), tasks.is_empty()) {
        (Some(fd), _) => unsafe { crate::sys::clone3_fork(flags, Some(fd.as_raw_fd())) }.map(|p| (p, true)),
        (None, false) if cfg.cgroup.v2_dir().is_none() => unsafe { crate::sys::clone3_fork(flags, None) }.map(|p| (p, true)),
        _ => Err(std::io::Error::from_raw_os_error(libc::ENOSYS)),
    };
    let (pid, in_cgroup) = match forked {
        Ok(r) => r,
        Err(_) => (unsafe { crate::sys::clone_fork(flags) }.context("creating the container's namespaces")?, false),
    };
    if pid == 0 {
        drop(parent);
        if let Some(e) = entered {
            e.stay();
        }
        drop(net_ns);
        init::run(cfg, plan, &child, if in_cgroup { &tasks } else { &[] });
    }
    // Back in the runtime's network namespace before anything else.
    drop(entered);
    Ok(Init { pid, ch: parent, in_cgroup, hostfs_ns: None })
}

/// The runtime's side of the init's setup, message by message: id maps, Go, the cgroup join
/// (when the init was not born there), oomScoreAdj, netDevices, Joined; then what the init
/// asks for (hooks, the seccomp agent, mount sources) until Ready. Returns the init's start
/// time, read while it mounts (0 if unreadable, as before).
fn handshake(cfg: &InitConfig, plan: &namespaces::Plan, init: &Init) -> Result<u64> {
    let (pid, ch) = (init.pid, &init.ch);
    // If the init is gone, a send fails with EPIPE; what it said before dying (its Error) is
    // the message worth reporting.
    let send = |m: &Msg| -> Result<()> {
        ch.send(m).map_err(|e| match ch.recv() {
            Ok(Some(Msg::Error(msg))) => anyhow::anyhow!("{msg}"),
            _ => e,
        })
    };
    if plan.new_user {
        namespaces::write_id_maps(&crate::kernel::Host, pid, cfg.spec)?;
        crate::debug!("create {}: uid/gid maps written", cfg.id);
    }
    // In the fallback the init starts its mounts while we move it into its cgroups: the
    // cgroup.procs writes' RCU wait overlaps them (see the module doc).
    send(&Msg::Go(pid))?;
    if !init.in_cgroup {
        add_to_cgroup(cfg, pid)?;
    }
    // Written by the runtime on the host's /proc: the non-dumpable init may not be allowed
    // to open its own /proc files once in a user namespace.
    finalize::set_oom_score_adj(Some(pid), cfg.spec.process().as_ref().and_then(|p| p.oom_score_adj()))?;
    crate::netdev::move_all(cfg.spec, pid)?;
    send(&Msg::Joined)?;
    let start_time = crate::state::read_stat(pid).map(|s| s.1).unwrap_or(0);
    loop {
        match ch.recv()? {
            Some(Msg::HooksRequest) => {
                run_runtime_hooks(cfg.spec, cfg.state, pid)?;
                send(&Msg::HooksDone)?;
            }
            Some(Msg::SeccompFd(fd)) => {
                crate::debug!("create {}: passing the seccomp notify fd to the agent", cfg.id);
                // SAFETY: recv hands us this fd (SCM_RIGHTS); nothing else owns it.
                let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                send_seccomp_fd(cfg.spec.version(), cfg.seccomp, cfg.state.oci_json_at(Status::Creating, pid), pid, &fd)?;
                drop(fd);
                send(&Msg::SeccompDone)?;
            }
            Some(Msg::MountRequest(i)) => {
                let fd = crate::rootfs::sources::serve(pid, cfg.spec, cfg.bundle, i)?;
                ch.send_mount_source(i, fd.as_raw_fd())?;
            }
            Some(Msg::Ready) => return Ok(start_time),
            Some(Msg::Error(e)) => bail!("{e}"),
            Some(other) => bail!("unexpected {other:?} from the container's init"),
            None => bail!("the container's init exited during setup"),
        }
    }
}

/// The slow cgroup join: the runtime writes the init's pid to cgroup.procs.
fn add_to_cgroup(cfg: &InitConfig, pid: i32) -> Result<()> {
    if crate::security::rootless::is_rootless_cgroups() && !cfg.cgroup.exists() {
        crate::debug!("rootless: no cgroup {}; the init stays in the caller's cgroup", cfg.cgroup.path());
        return Ok(());
    }
    cfg.cgroup.add_pid(pid).context("adding the init to its cgroup")?;
    crate::debug!("create {}: init added to cgroup {}", cfg.id, cfg.cgroup.path());
    Ok(())
}

/// prestart + createRuntime hooks, in the runtime's namespaces, once the init asks (it has
/// mounted its rootfs), with the init's host pid in the state document.
fn run_runtime_hooks(spec: &Spec, state: &State, pid: i32) -> Result<()> {
    let hooks = spec.hooks().as_ref();
    let json = state.oci_json_at(Status::Creating, pid).to_string();
    hooks::run(Phase::Prestart, hooks, &json)?;
    hooks::run(Phase::CreateRuntime, hooks, &json)
}

/// The init's seccomp notify fd, with runc's ContainerProcessState, to the agent.
pub(super) fn send_seccomp_fd(oci_version: &str, seccomp: Option<&crate::security::seccomp::CompiledFilter>, state: serde_json::Value, pid: i32, fd: &OwnedFd) -> Result<()> {
    let filter = seccomp.context("a seccomp notify fd arrived but no filter was configured")?;
    let listener = filter.listener_path().context("linux.seccomp.listenerPath: required with SCMP_ACT_NOTIFY")?;
    let msg = crate::security::notify::process_state(oci_version, filter.listener_metadata().unwrap_or(""), pid, state);
    crate::security::notify::send_to_agent(listener, &msg, fd)
}
