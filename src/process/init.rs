//! The container's init: the child side of the create path. It runs in the new namespaces
//! and never returns: it either execs the user's program or reports an error and exits.

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};

use super::namespaces::Plan;
use super::sync::{Channel, Msg};
use super::{finalize, InitConfig};
use crate::cgroups::Manager;
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

fn setup_and_exec(cfg: &InitConfig, plan: &Plan, ch: &Channel, cgroup_tasks: &[OwnedFd]) -> Result<std::convert::Infallible> {
    let spec = cfg.spec;
    let process = spec.process().as_ref().context("process: missing")?;
    let host_pid = match ch.recv()? {
        Some(Msg::Go(pid)) => pid,
        // The parent gave up (its own error is what the user sees).
        _ => unsafe { libc::_exit(1) },
    };
    crate::trace::mark("go");
    // Already so unless a rootless parent needed our /proc files for the id maps.
    crate::security::dumpable::set_non_dumpable()?;
    // The fast cgroup join: born in the cgroup2 dir, now each v1 hierarchy (see spawn).
    for fd in cgroup_tasks {
        crate::sys::join_v1_tasks(fd.as_raw_fd())?;
    }
    crate::trace::mark("cgroup-join");
    // Nothing of the runtime's may live on in the container: not the state dir's lock (held
    // until exec it would block `start`), not the caller's stray fds (CVE-2024-21626).
    let mut keep = vec![ch.as_raw_fd(), cfg.fifo.as_raw_fd(), cfg.start_error.as_raw_fd()];
    keep.extend(cfg.console_socket.as_ref().map(|s| s.as_raw_fd()));
    keep.extend(crate::log::file_fd());
    crate::sys::close_fds_except(3 + (cfg.preserve_fds + cfg.listen_fds) as i32, &keep);
    // File modes below (devices, mount points) must be exactly what the config says.
    unsafe { libc::umask(0) };
    if plan.user {
        // Become the namespace's root: the parent has written a new one's id maps; in a joined
        // one our host uid may be unmapped (files we create would fail with EOVERFLOW), and
        // runc's nsexec does the same for both.
        nix::unistd::setresgid(0.into(), 0.into(), 0.into()).context("setresgid(0) in the new user namespace")?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into()).context("setresuid(0) in the new user namespace")?;
    }
    // The parent is joining us to our cgroup meanwhile. A cgroup namespace is rooted where we
    // stand when we make it, so that waits for Joined; a cgroup2 mount inside it must come
    // after it, other mounts need not wait.
    let joined = std::cell::Cell::new(false);
    if plan.new_cgroup && cfg.cgroup_unified {
        wait_joined(ch)?;
        joined.set(true);
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP)")?;
    }
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).with_context(|| format!("hostname: sethostname({h:?})"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty())
        && unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("domainname: setdomainname({d:?})"));
        }

    crate::trace::mark("fds-hostname");
    // Read what we need from the host's /proc and /dev before they go away.
    let last_cap = crate::security::caps::last_cap();

    // A rootless container may have no cgroup of its own: bind only what exists.
    let cgroup_sources: Vec<_> = cfg.cgroup.mount_sources().into_iter().filter(|(_, d)| d.exists()).collect();
    crate::rootfs::prepare(&crate::rootfs::RootfsConfig {
        spec,
        rootfs: cfg.rootfs,
        bundle: cfg.bundle,
        in_userns: plan.in_userns,
        cgroup_ns: plan.new_cgroup,
        cgroup_sources: &cgroup_sources,
        cgroup_unified: cfg.cgroup_unified,
        request_source: &|i| request_source(ch, i, &joined),
        ask_for_binds: plan.user && !crate::security::rootless::is_rootless_euid(),
        own_mount_ns: plan.mount,
    })?;
    crate::trace::mark("mounts");

    if !joined.get() {
        wait_joined(ch)?;
        if plan.new_cgroup {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP)")?;
        }
    }

    crate::trace::mark("joined");
    let hooks = spec.hooks().as_ref();
    if !Phase::Prestart.of(hooks).is_empty() || !Phase::CreateRuntime.of(hooks).is_empty() {
        ch.send(&Msg::HooksRequest)?;
        match ch.recv()? {
            Some(Msg::HooksDone) => {}
            _ => unsafe { libc::_exit(1) },
        }
    }
    // The state JSON is built only for hooks that exist: this runs on every container start.
    if !Phase::CreateContainer.of(hooks).is_empty() {
        let setting = hooks::Setting { dir: Some(cfg.rootfs), default_env: process.env().as_deref().unwrap_or(&[]) };
        hooks::run_in(Phase::CreateContainer, hooks, &cfg.state.oci_json_at(Status::Creating, host_pid).to_string(), &setting)?;
    }

    crate::trace::mark("hooks");
    crate::rootfs::pivot(cfg.rootfs, cfg.no_pivot, plan.mount)?;
    crate::trace::mark("pivot");
    if process.terminal().unwrap_or(false) {
        let sock = cfg.console_socket.as_ref().context("process.terminal is true but no --console-socket was given")?;
        let size = process.console_size().as_ref().map(|b| (b.height() as u16, b.width() as u16));
        crate::console::setup_in_container(sock.as_raw_fd(), size, process.user().uid())?;
    }
    crate::rootfs::finish(spec, plan.mount)?;
    crate::trace::mark("finish");
    if !cfg.no_new_keyring {
        // EACCES/ENOSYS where keyrings are unavailable (some LSMs, old kernels): not fatal.
        if let Err(e) = crate::sys::join_session_keyring(&format!("_ses.{}", cfg.id)) {
            crate::debug!("{e:#}");
        }
    }
    finalize::set_rlimits(process)?;
    finalize::chdir_cwd(process.cwd(), true)?;
    crate::trace::mark("keyring-rlimits-cwd");
    let setgroups_allowed = !plan.in_userns || std::fs::read_to_string("/proc/self/setgroups").map(|s| s.trim() != "deny").unwrap_or(true);
    // As runc: without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so it goes in
    // before the capabilities are dropped; with it, as late as possible.
    let nnp = process.no_new_privileges().unwrap_or(false);
    // LSM labels and the personality take effect at the exec; set while we are still fully
    // privileged and before seccomp (profiles restrict personality(2)).
    crate::security::lsm::apply_exec_labels(spec.process().as_ref())?;
    crate::security::personality::apply(spec)?;
    crate::trace::mark("lsm-personality");
    if !nnp {
        load_seccomp(cfg, ch)?;
        crate::trace::mark("seccomp");
    }
    finalize::set_identity(process, last_cap, setgroups_allowed)?;
    crate::trace::mark("caps");
    // As runc: with the container's own capabilities (CAP_SYS_NICE for real-time policies).
    super::tuning::apply(process, spec.linux().as_ref().and_then(|l| l.memory_policy().as_ref()))?;
    if nnp {
        load_seccomp(cfg, ch)?;
        crate::trace::mark("seccomp");
    }

    let env = finalize::environment(process, cfg.listen_fds);
    let args = process.args().clone().unwrap_or_default();
    // Resolve the program now, so a missing binary fails `create` rather than `start`.
    let program = finalize::lookup(&args[0], &env)?;
    crate::trace::mark("lookup");
    crate::trace::flush("init");
    ch.send(&Msg::Ready)?;

    wait_for_start(&cfg.fifo)?;
    crate::trace::mark("fifo");
    let after_start = (|| {
        if !Phase::StartContainer.of(hooks).is_empty() {
            let setting = hooks::Setting { dir: None, default_env: &env };
            hooks::run_in(Phase::StartContainer, hooks, &cfg.state.oci_json_at(Status::Created, host_pid).to_string(), &setting)?;
        }
        let umask = process.user().umask().unwrap_or(0o022);
        crate::trace::flush("init-start");
        finalize::exec(&program, &args, &env, cfg.preserve_fds + cfg.listen_fds, umask)
    })();
    // Only reached on failure: `start` is waiting for our fifo to close and then looks here.
    let e = match after_start {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // One write of at most PIPE_BUF bytes into exec.fifo: atomic, and never blocks.
    let msg = format!("{e:#}");
    let n = msg.floor_char_boundary(libc::PIPE_BUF);
    unsafe { libc::write(cfg.start_error.as_raw_fd(), msg.as_ptr().cast(), n) };
    Err(e)
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
fn request_source(ch: &Channel, i: usize, joined: &std::cell::Cell<bool>) -> Result<OwnedFd> {
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

fn wait_joined(ch: &Channel) -> Result<()> {
    match ch.recv()? {
        Some(Msg::Joined) => Ok(()),
        // The parent failed to join us and reports that itself.
        _ => unsafe { libc::_exit(1) },
    }
}

/// Installs linux.seccomp. With SCMP_ACT_NOTIFY rules the notify fd goes to the runtime,
/// which hands it to the agent at listenerPath (security::notify); we wait until it has.
fn load_seccomp(cfg: &InitConfig, ch: &Channel) -> Result<()> {
    super::sync::install_seccomp(cfg.seccomp, ch, 1)
}

/// Blocks until `start` opens the fifo for writing and writes its byte.
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    loop {
        let mut pfd = libc::pollfd { fd: fifo.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let n = unsafe { libc::poll(&mut pfd, 1, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e).context("waiting on exec.fifo");
        }
        let mut b = [0u8; 1];
        let r = unsafe { libc::read(fifo.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
        if r == 1 {
            return Ok(());
        }
        if r == 0 && pfd.revents & libc::POLLHUP != 0 {
            bail!("exec.fifo was closed without a start signal");
        }
    }
}
