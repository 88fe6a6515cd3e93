//! Creating the container's init process: the parent side of the create path.
//!
//!   parent: clone(new namespaces) ──► init waits for Go
//!           join cgroup, write id maps, send Go(pid)
//!                                      init: mounts ──► HooksRequest (if any prestart/createRuntime)
//!           run those hooks, HooksDone ◄─┘
//!                                      init: createContainer hooks, pivot_root, console,
//!                                            masked paths, sysctl, identity ──► Ready
//!           return pid                 init: blocks on exec.fifo until `start`, then execs
//!
//! When a namespace is joined by path (or a time namespace is asked for), a short-lived
//! "joiner" child does the setns/unshare and clones the init, so the runtime process and the
//! hooks it runs stay in the host's namespaces.

pub mod exec;
pub mod finalize;
pub mod foreground;
pub mod init;
pub mod namespaces;
pub mod sync;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::cgroups::Cgroup;
use sync::Msg;

/// Everything the init needs; built by `create` in the parent before the clone.
pub struct InitConfig<'a> {
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    /// exec.fifo opened O_RDONLY|O_NONBLOCK: the init waits on it for `start`.
    pub fifo: OwnedFd,
    pub console_socket: Option<OwnedFd>,
    pub preserve_fds: u32,
    pub listen_fds: u32,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub cgroup: &'a Cgroup,
    pub cgroup_unified: bool,
    /// linux.seccomp, compiled before the clone so the init only has to load it.
    pub seccomp: Option<&'a crate::security::seccomp::CompiledFilter>,
}

/// Runs the create path and returns the init's pid once it waits for `start`.
/// `hooks` runs prestart + createRuntime hooks in the runtime's namespaces, given the pid.
pub fn spawn(cfg: InitConfig, hooks: &dyn Fn(i32) -> Result<()>) -> Result<i32> {
    let plan = namespaces::Plan::from_spec(cfg.spec);
    if !plan.mount {
        bail!("linux.namespaces: a mount namespace is required (add {{\"type\": \"mount\"}})");
    }
    let joins = plan.open_joins()?;
    let (parent, child) = sync::pair()?;

    let pid = if plan.needs_joiner() {
        // SAFETY: the runtime is single-threaded here.
        let joiner = unsafe { crate::sys::clone_fork(0)? };
        if joiner == 0 {
            drop(parent);
            let r = (|| -> Result<i32> {
                namespaces::join(&joins)?;
                if plan.new_time {
                    namespaces::unshare_time(cfg.spec)?;
                }
                let pid = unsafe { crate::sys::clone_fork(plan.clone_flags.bits() as u64)? };
                if pid == 0 {
                    init::run(&cfg, &plan, &child);
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
        match parent.recv()? {
            Some(Msg::Pid(p)) => p,
            Some(Msg::Error(e)) => bail!("{e}"),
            other => bail!("joining namespaces: unexpected {other:?} from the joiner process"),
        }
    } else {
        // SAFETY: the runtime is single-threaded here.
        let pid = unsafe { crate::sys::clone_fork(plan.clone_flags.bits() as u64) }.context("creating the container's namespaces")?;
        if pid == 0 {
            drop(parent);
            init::run(&cfg, &plan, &child);
        }
        drop(child);
        pid
    };
    drop(cfg.fifo);

    let handshake = || -> Result<()> {
        cfg.cgroup.add_pid(pid).context("adding the init to its cgroup")?;
        if plan.new_user {
            namespaces::write_id_maps(pid, cfg.spec)?;
        }
        parent.send(&Msg::Go(pid))?;
        loop {
            match parent.recv()? {
                Some(Msg::HooksRequest) => {
                    hooks(pid)?;
                    parent.send(&Msg::HooksDone)?;
                }
                Some(Msg::Ready) => return Ok(()),
                Some(Msg::Error(e)) => bail!("{e}"),
                Some(other) => bail!("unexpected {other:?} from the container's init"),
                None => bail!("the container's init exited during setup"),
            }
        }
    };
    if let Err(e) = handshake() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        // Reap it when it is our child; otherwise its new parent will.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::__WALL));
        return Err(e);
    }
    Ok(pid)
}
