//! The container's init: the child side of the create path. It runs in the new namespaces
//! and never returns: it either execs the user's program or reports an error and exits.

use anyhow::{bail, Context, Result};
use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};

use super::namespaces::Plan;
use super::sync::{Channel, Msg};
use super::{finalize, InitConfig};
use crate::cgroups::Manager;
use crate::kernel::Host;
use crate::hooks::{self, Phase};
use crate::state::Status;

pub fn run(cfg: &InitConfig, plan: &Plan, ch: &Channel, cgroup_tasks: &[OwnedFd]) -> ! {
    crate::trace::begin();
    let err = match setup_and_exec(cfg, plan, ch, cgroup_tasks) {
        Ok(never) => match never {},
        Err(e) => blame_nofile(e, cfg.spec),
    };
    // Before Ready the parent is listening and reports the error; after it (exec failed
    // after start) stderr is all there is.
    if ch.send(&Msg::Error(format!("{err:#}"))).is_err() {
        eprintln!("bulkhead: {err:#}");
    }
    unsafe { libc::_exit(127) }
}

/// The init's steps, in the order of ARCHITECTURE.md's create path.
fn setup_and_exec(cfg: &InitConfig, plan: &Plan, ch: &Channel, cgroup_tasks: &[OwnedFd]) -> Result<std::convert::Infallible> {
    let k = &Host;
    let spec = cfg.spec;
    let process = spec.process().as_ref().context("process: missing")?;
    let host_pid = wait_go(ch)?;
    crate::trace::mark("go");
    join_cgroups(cgroup_tasks)?;
    crate::trace::mark("cgroup-join");
    close_runtime_fds(cfg, ch);
    // File modes below (devices, mount points) must be exactly what the config says.
    unsafe { libc::umask(0) };
    if plan.user {
        become_userns_root(k)?;
    }
    // The parent is joining us to our cgroup meanwhile. A cgroup namespace is rooted where we
    // stand when we make it, so that waits for Joined; a cgroup2 mount inside it must come
    // after it, other mounts need not wait. Joined may also arrive while we wait for a mount
    // source (request_source).
    let joined = Cell::new(false);
    let early_cgroupns = plan.new_cgroup && cfg.cgroup_unified;
    if early_cgroupns {
        wait_joined(ch, &joined)?;
        unshare_cgroup_ns(k)?;
    }
    set_uts_names(spec)?;
    crate::trace::mark("fds-hostname");
    // Read what we need from the host's /proc and /dev before they go away.
    let last_cap = crate::security::caps::last_cap();
    prepare_rootfs(cfg, plan, ch, &joined)?;
    crate::trace::mark("mounts");
    wait_joined(ch, &joined)?;
    if plan.new_cgroup && !early_cgroupns {
        unshare_cgroup_ns(k)?;
    }
    crate::trace::mark("joined");
    run_create_hooks(cfg, ch, host_pid)?;
    crate::trace::mark("hooks");
    crate::rootfs::pivot(k, cfg.rootfs, cfg.no_pivot, plan.mount)?;
    crate::trace::mark("pivot");
    if process.terminal().unwrap_or(false) {
        set_up_console(cfg, process)?;
    }
    crate::rootfs::finish(k, spec, plan.mount)?;
    crate::trace::mark("finish");
    join_session_keyring(cfg);
    finalize::set_rlimits(process)?;
    finalize::chdir_cwd(process.cwd(), true)?;
    crate::trace::mark("keyring-rlimits-cwd");
    finalize::confine(k, &limits(cfg, plan, last_cap)?, ch, 1)?;
    let env = finalize::environment(process, cfg.listen_fds);
    let args = process.args().clone().unwrap_or_default();
    // Resolve the program now, so a missing binary fails `create` rather than `start`.
    let program = finalize::lookup(&args[0], &env)?;
    crate::trace::mark("lookup");
    crate::trace::flush("init");
    ch.send(&Msg::Ready)?;
    wait_for_start(&cfg.fifo)?;
    crate::trace::mark("fifo");
    Err(start(cfg, host_pid, &program, &args, &env))
}

/// The pty inside the container, its master sent over the console socket.
fn set_up_console(cfg: &InitConfig, process: &oci_spec::runtime::Process) -> Result<()> {
    let sock = cfg.console_socket.as_ref().context("process.terminal is true but no --console-socket was given")?;
    let size = process.console_size().as_ref().map(|b| (b.height() as u16, b.width() as u16));
    crate::console::setup_in_container(sock.as_raw_fd(), size, process.user().uid())
}

/// What finalize::confine applies to the init. `last_cap` was read from the host's /proc.
fn limits<'a>(cfg: &'a InitConfig, plan: &Plan, last_cap: u8) -> Result<finalize::Limits<'a>> {
    let spec = cfg.spec;
    Ok(finalize::Limits {
        process: spec.process().as_ref().context("process: missing")?,
        personality: crate::security::personality::value(spec)?,
        memory_policy: spec.linux().as_ref().and_then(|l| l.memory_policy().as_ref()),
        seccomp: cfg.seccomp,
        last_cap,
        setgroups_allowed: !plan.in_userns || std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() != "deny").unwrap_or(true),
    })
}

/// Waits for the parent's Go (our id maps are written). Returns our pid as the host sees it.
fn wait_go(ch: &Channel) -> Result<i32> {
    match ch.recv()? {
        Some(Msg::Go(pid)) => Ok(pid),
        // The parent gave up (its own error is what the user sees).
        _ => unsafe { libc::_exit(1) },
    }
}

/// The fast cgroup join: born in the cgroup2 dir, now each v1 hierarchy (see spawn).
fn join_cgroups(cgroup_tasks: &[OwnedFd]) -> Result<()> {
    // Already so unless a rootless parent needed our /proc files for the id maps.
    crate::security::dumpable::set_non_dumpable()?;
    for fd in cgroup_tasks {
        crate::sys::join_v1_tasks(fd.as_raw_fd())?;
    }
    Ok(())
}

/// Nothing of the runtime's may live on in the container: not the state dir's lock (held
/// until exec it would block `start`), not the caller's stray fds (CVE-2024-21626).
fn close_runtime_fds(cfg: &InitConfig, ch: &Channel) {
    let mut keep = vec![ch.as_raw_fd(), cfg.fifo.as_raw_fd(), cfg.start_error.as_raw_fd()];
    keep.extend(cfg.console_socket.as_ref().map(|s| s.as_raw_fd()));
    keep.extend(crate::log::file_fd());
    crate::sys::close_fds_except(3 + (cfg.preserve_fds + cfg.listen_fds) as i32, &keep);
}

/// Become the namespace's root: the parent has written a new one's id maps; in a joined one
/// our host uid may be unmapped (files we create would fail with EOVERFLOW), and runc's
/// nsexec does the same for both.
fn become_userns_root(k: &impl crate::kernel::Kernel) -> Result<()> {
    k.setresgid(0).context("setresgid(0) in the new user namespace")?;
    k.setresuid(0).context("setresuid(0) in the new user namespace")?;
    Ok(())
}

/// The cgroup namespace, rooted at the cgroup we stand in (wait_joined first).
fn unshare_cgroup_ns(k: &impl crate::kernel::Kernel) -> Result<()> {
    k.unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP)")
}

/// hostname and domainname (validate made sure there is a UTS namespace).
fn set_uts_names(spec: &oci_spec::runtime::Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).with_context(|| format!("hostname: sethostname({h:?})"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty())
        && unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("domainname: setdomainname({d:?})"));
        }
    Ok(())
}

fn prepare_rootfs(cfg: &InitConfig, plan: &Plan, ch: &Channel, joined: &Cell<bool>) -> Result<()> {
    // A rootless container may have no cgroup of its own: bind only what exists.
    let cgroup_sources: Vec<_> = cfg.cgroup.mount_sources().into_iter().filter(|(_, d)| cfg.cgroup_made || d.exists()).collect();
    crate::rootfs::prepare(&Host, &crate::rootfs::RootfsConfig {
        spec: cfg.spec,
        rootfs: cfg.rootfs,
        bundle: cfg.bundle,
        in_userns: plan.in_userns,
        cgroup_ns: plan.new_cgroup,
        cgroup_sources: &cgroup_sources,
        cgroup_unified: cfg.cgroup_unified,
        request_source: &|i| request_source(ch, i, joined),
        ask_for_binds: plan.user && !crate::security::rootless::is_rootless_euid(),
        own_mount_ns: plan.mount,
    })
}

/// prestart + createRuntime (the parent runs them, in the runtime's namespaces), then
/// createContainer here (cwd: the rootfs; env: theirs, else process.env).
fn run_create_hooks(cfg: &InitConfig, ch: &Channel, host_pid: i32) -> Result<()> {
    let hooks = cfg.spec.hooks().as_ref();
    if !Phase::Prestart.of(hooks).is_empty() || !Phase::CreateRuntime.of(hooks).is_empty() {
        ch.send(&Msg::HooksRequest)?;
        match ch.recv()? {
            Some(Msg::HooksDone) => {}
            _ => unsafe { libc::_exit(1) },
        }
    }
    // The state JSON is built only for hooks that exist: this runs on every container start.
    if !Phase::CreateContainer.of(hooks).is_empty() {
        let default_env = cfg.spec.process().as_ref().and_then(|p| p.env().as_deref()).unwrap_or(&[]);
        let setting = hooks::Setting { dir: Some(cfg.rootfs), default_env };
        hooks::run_in(Phase::CreateContainer, hooks, &cfg.state.oci_json_at(Status::Creating, host_pid).to_string(), &setting)?;
    }
    Ok(())
}

fn join_session_keyring(cfg: &InitConfig) {
    if !cfg.no_new_keyring {
        // EACCES/ENOSYS where keyrings are unavailable (some LSMs, old kernels): not fatal.
        if let Err(e) = crate::sys::join_session_keyring(&format!("_ses.{}", cfg.id)) {
            crate::debug!("{e:#}");
        }
    }
}

/// After `start`: startContainer hooks (env: the process's when a hook has none, as runc),
/// then the exec. Returns only on failure, which it also writes into exec.fifo, where
/// `start` (waiting for our fifo to close) reads it.
fn start(cfg: &InitConfig, host_pid: i32, program: &std::path::Path, args: &[String], env: &[String]) -> anyhow::Error {
    let process = cfg.spec.process().as_ref().expect("checked by setup_and_exec");
    let after_start = (|| {
        let hooks = cfg.spec.hooks().as_ref();
        if !Phase::StartContainer.of(hooks).is_empty() {
            let setting = hooks::Setting { dir: None, default_env: env };
            hooks::run_in(Phase::StartContainer, hooks, &cfg.state.oci_json_at(Status::Created, host_pid).to_string(), &setting)?;
        }
        let umask = process.user().umask().unwrap_or(0o022);
        crate::trace::flush("init-start");
        finalize::exec(program, args, env, cfg.preserve_fds + cfg.listen_fds, umask)
    })();
    let e = match after_start {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // One write of at most PIPE_BUF bytes into exec.fifo: atomic, and never blocks.
    let msg = format!("{e:#}");
    let n = msg.floor_char_boundary(libc::PIPE_BUF);
    unsafe { libc::write(cfg.start_error.as_raw_fd(), msg.as_ptr().cast(), n) };
    e
}

/// The init applies process.rlimits before its last steps (cwd, seccomp, lookup, exec): an
/// RLIMIT_NOFILE too low for those fails them with EMFILE, which must name the field.
fn blame_nofile(e: anyhow::Error, spec: &oci_spec::runtime::Spec) -> anyhow::Error {
    let emfile = e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.raw_os_error() == Some(libc::EMFILE))
        || c.downcast_ref::<nix::errno::Errno>() == Some(&nix::errno::Errno::EMFILE));
    let nofile = spec.process().as_ref().and_then(|p| p.rlimits().as_ref()).and_then(|r| r.iter().find(|l| l.typ() == oci_spec::runtime::PosixRlimitType::RlimitNofile));
    match nofile {
        Some(l) if emfile => e.context(format!("process.rlimits: RLIMIT_NOFILE soft {} leaves too few file descriptors to start the process", l.soft())),
        _ => e,
    }
}

/// The source of mounts[`i`] from the runtime (rootfs::sources). The parent's Joined may
/// come first: noted in `joined`, for the wait on it not to block.
fn request_source(ch: &Channel, i: usize, joined: &Cell<bool>) -> Result<OwnedFd> {
    ch.send(&Msg::MountRequest(i))?;
    loop {
        match ch.recv()? {
            // SAFETY: recv hands us this fd (SCM_RIGHTS); nothing else owns it.
            Some(Msg::MountSource(j, fd)) if j == i => return Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }),
            Some(Msg::Joined) => joined.set(true),
            // The parent could not open it and reports why.
            _ => unsafe { libc::_exit(1) },
        }
    }
}

/// Waits for the parent's Joined (we are in our cgroup), unless it already came.
fn wait_joined(ch: &Channel, joined: &Cell<bool>) -> Result<()> {
    if joined.replace(true) {
        return Ok(());
    }
    match ch.recv()? {
        Some(Msg::Joined) => Ok(()),
        // The parent failed to join us and reports that itself.
        _ => unsafe { libc::_exit(1) },
    }
}

/// Blocks until `start` opens the fifo for writing and writes its byte.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    loop {
        let mut pfd = [libc::pollfd { fd: fifo.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        crate::sys::poll(&mut pfd, -1).context("waiting on exec.fifo")?;
        let mut b = [0u8; 1];
        let r = unsafe { libc::read(fifo.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if r == 1 {
            return Ok(());
        }
        if r == 0 && pfd[0].revents & libc::POLLHUP != 0 {
            bail!("exec.fifo was closed without a start signal");
        }
    }
}
