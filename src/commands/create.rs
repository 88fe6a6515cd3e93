//! `create`: set the container up and leave its init waiting on exec.fifo.

use anyhow::{Context, Result};
use std::os::fd::OwnedFd;
use std::path::Path;

use crate::cgroups::{Cgroup, Driver, Manager};
use crate::cli::{CreateArgs, Global};
use crate::hooks::{self, Phase};
use crate::process::{self, InitConfig};
use crate::security::seccomp::CompiledFilter;
use crate::spec::Bundle;
use crate::state::{self, Container, Root, State, Status};

pub fn run(g: &Global, id: &str, opts: &CreateArgs) -> Result<i32> {
    let console = opts.console_socket.as_deref().map(crate::console::connect).transpose()?;
    create(g, id, opts, console)?;
    Ok(0)
}

/// Creates the container and returns it {created}, still locked: `run` starts it without
/// reading back what was just written (dropping it releases the lock). `console` is the socket
/// that receives the pty master (from --console-socket, or run's own). On error nothing is
/// left behind.
pub fn create(g: &Global, id: &str, opts: &CreateArgs, console: Option<OwnedFd>) -> Result<Container> {
    state::validate_id(id)?;
    create_from(g, id, opts, Bundle::load(&opts.bundle)?, console)
}

/// `create` with the bundle already loaded (run reads it first to learn about the terminal).
pub fn create_from(g: &Global, id: &str, opts: &CreateArgs, bundle: Bundle, console: Option<OwnedFd>) -> Result<Container> {
    crate::trace::mark("spec");
    state::validate_id(id)?;
    let pid_file = opts.pid_file.as_ref().map(std::path::absolute).transpose().context("--pid-file")?;
    check_config(&bundle.spec, console.is_some())?;
    // The namespaces the init gets, worked out once for the thread below and the clone.
    let plan = process::namespaces::Plan::from_spec(&bundle.spec);
    // Made on another CPU while the rest is prepared (process::netns).
    let net_ns = process::netns::Ahead::start(&plan);
    let seccomp = match bundle.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Some(crate::security::seccomp::compile_for_process(s)?),
        None => None,
    };
    crate::trace::mark("seccomp-compile");
    crate::debug!("create {id}: bundle {} loaded and validated", bundle.dir.display());
    let mut c = Root::new(&g.root).claim(id)?;
    crate::trace::mark("claim");
    crate::debug!("create {id}: state directory {} claimed", c.dir.display());
    let result = (|| -> Result<()> {
        let (mut cgroup, fifo, start_error) = prepare_state(&mut c, id, &bundle, seccomp.as_ref(), g.systemd_cgroup)?;
        make_cgroup(&mut c, id, &mut cgroup, &bundle.spec)?;
        crate::trace::mark("cgroups");
        let (pid, start_time) = process::spawn(InitConfig {
            id,
            spec: &bundle.spec,
            bundle: &bundle.dir,
            rootfs: &bundle.rootfs,
            fifo,
            start_error,
            console_socket: console,
            preserve_fds: opts.preserve_fds,
            listen_fds: super::listen_fds(),
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            cgroup: &cgroup,
            // None: rootless, running without a cgroup of its own.
            cgroup_made: cgroup.create_makes_dirs() && c.state().cgroup.is_some(),
            cgroup_unified: cgroup.layout() == crate::cgroups::Layout::Unified,
            seccomp: seccomp.as_ref(),
            state: c.state(),
        }, plan, net_ns)?;
        crate::debug!("create {id}: init {pid} set up, waiting for start on exec.fifo");
        save_created(&mut c, pid, start_time)?;
        crate::debug!("create {id}: state saved (created, pid {pid})");
        if let Some(p) = &pid_file {
            crate::state::write_pid_file(p, pid)?;
            crate::trace::mark("pid-file");
        }
        if let Some(sock) = &opts.pidfd_socket {
            crate::console::send_pidfd(sock, pid, "standard")?;
        }
        crate::trace::flush("create");
        Ok(())
    })();
    if let Err(e) = result {
        undo(&mut c, &bundle.spec);
        return Err(e);
    }
    Ok(c)
}

/// What the config asks of the host must be there, and the 1.3 fields follow runc's rules:
/// checked before anything is created.
fn check_config(spec: &oci_spec::runtime::Spec, have_console: bool) -> Result<()> {
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    if terminal && !have_console {
        anyhow::bail!("process.terminal is true: --console-socket is required to receive the terminal");
    }
    // Labels and host features the config asks for must be honoured, not silently skipped.
    crate::security::lsm::validate(spec)?;
    crate::security::personality::value(spec)?;
    crate::process::tuning::validate(spec)?;
    crate::netdev::validate(spec)
}

/// The claimed state dir's contents before the clone: config.json, the compiled seccomp
/// filter (for exec), state.json {creating} (recording the cgroup, so a killed create's
/// leftovers can be deleted), exec.fifo.
fn prepare_state(c: &mut Container, id: &str, bundle: &Bundle, seccomp: Option<&CompiledFilter>, systemd_cgroup: bool) -> Result<(Cgroup, OwnedFd, OwnedFd)> {
    // The bytes that were validated, not a second read of a file that may have changed.
    std::fs::write(c.config_path(), &bundle.config_bytes).context("saving config.json in the state dir")?;
    if let Some(f) = seccomp {
        crate::security::seccomp::saved::save(&c.dir, f)?;
    }
    crate::trace::mark("config-copy");
    let spec = &bundle.spec;
    let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().as_ref()).map(|p| p.to_string_lossy().into_owned());
    let annotations = spec.annotations().clone().unwrap_or_default();
    let driver = if systemd_cgroup { Driver::Systemd { annotations: &annotations } } else { Driver::Cgroupfs };
    let cgroup = Cgroup::resolve(cgroups_path.as_deref(), id, driver)?;
    crate::trace::mark("cgroup-resolve");
    refuse_busy_cgroup(&cgroup)?;
    c.set_initial_state(State {
        oci_version: spec.version().clone(),
        id: id.to_string(),
        status: Status::Creating,
        pid: 0,
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::log::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations().clone().unwrap_or_default(),
        init_start_time: 0,
        cgroup: Some(cgroup.clone()),
        post_hooks: !Phase::Poststart.of(spec.hooks().as_ref()).is_empty() || !Phase::Poststop.of(spec.hooks().as_ref()).is_empty(),
    });
    c.save()?;
    crate::trace::mark("state-creating");
    let (fifo, start_error) = make_fifo(&c.fifo_path())?;
    crate::trace::mark("fifo");
    Ok((cgroup, fifo, start_error))
}

/// Creates the cgroup and applies linux.resources. A frozen cgroup is refused and left alone;
/// rootless without a delegated cgroup runs in the caller's (as runc), with a warning.
fn make_cgroup(c: &mut Container, id: &str, cgroup: &mut Cgroup, spec: &oci_spec::runtime::Spec) -> Result<()> {
    match cgroup.create() {
        Ok(()) => {
            if let Err(e) = cgroup.refuse_frozen() {
                // Not ours to remove: the cleanup must leave that cgroup alone.
                c.state_mut().cgroup = None;
                return Err(e).context("linux.cgroupsPath");
            }
            if cgroup.keep_made_parents() {
                c.state_mut().cgroup = Some(cgroup.clone());
                c.save()?;
            }
            crate::debug!("create {id}: cgroup {} ready ({:?})", cgroup.path(), cgroup.layout());
            // Each error and warning names its linux.resources field.
            let applied = cgroup.apply_resources(&effective_resources(spec));
            for w in applied.map_err(|e| rootless_limit_hint(e, cgroup))? {
                crate::warn!("{w}");
            }
            crate::debug!("create {id}: linux.resources applied");
            Ok(())
        }
        Err(e) if crate::security::rootless::is_rootless_cgroups() => {
            crate::warn!("rootless: {e:#}; running without a cgroup of its own (linux.resources not applied)");
            c.state_mut().cgroup = None;
            c.save()
        }
        Err(e) => Err(e).context("linux.cgroupsPath"),
    }
}

/// A limit that a rootless runtime could not apply: the error (which names the field and the
/// file), then the way out. The cgroup exists, so it is the delegation that lacks a controller
/// or a file.
fn rootless_limit_hint(e: anyhow::Error, cgroup: &Cgroup) -> anyhow::Error {
    match limit_hint(crate::security::rootless::is_rootless_cgroups(), cgroup.layout()) {
        Some(hint) => anyhow::anyhow!("{e:#}; {hint}"),
        None => e,
    }
}

fn limit_hint(rootless: bool, layout: crate::cgroups::Layout) -> Option<&'static str> {
    if !rootless {
        return None;
    }
    Some(if layout == crate::cgroups::Layout::Unified {
        "rootless: the controllers delegated to your cgroup (cgroup.controllers of its parent) do not cover this limit: \
         on systemd, run from your user manager's subtree (podman does, given the user's systemd and its \
         XDG_RUNTIME_DIR) and have the controller delegated (Delegate= in a drop-in for user@.service), or drop the limit"
    } else {
        "rootless on cgroup v1: no controller is delegated to you, so drop the limit (podman drops them with a warning)"
    })
}

/// The init waits for `start`: state {created, pid, its start time}.
fn save_created(c: &mut Container, pid: i32, start_time: u64) -> Result<()> {
    let st = c.state_mut();
    st.pid = pid;
    st.init_start_time = start_time;
    c.transition(Status::Created)?;
    c.save()?;
    crate::trace::mark("state-created");
    Ok(())
}

/// A failed create leaves nothing: the init (if it got as far as Ready), the cgroup, the state
/// dir. runtime.md: after a failed create-time hook the runtime "MUST ... stop the container,
/// and continue the lifecycle at step 12" (poststop); the same cleanup serves every failure,
/// so poststop hooks always see one.
fn undo(c: &mut Container, spec: &oci_spec::runtime::Spec) {
    if let Some(st) = c.state.as_mut() {
        if let Some(init) = crate::state::open_init(st.pid, st.init_start_time) {
            use std::os::fd::AsRawFd;
            let _ = crate::sys::pidfd_send_signal(init.as_raw_fd(), libc::SIGKILL);
        }
        if let Some(cg) = &st.cgroup
            && let Err(e) = cg.destroy() {
                crate::warn!("cleaning up after a failed create: {e:#}");
            }
        // Creating and Created may always stop (Status::can_become).
        let _ = st.transition(Status::Stopped);
        hooks::run_warn(Phase::Poststop, spec.hooks().as_ref(), &st.oci_json().to_string());
    }
    let _ = c.remove_dir();
}

/// As runc 1.5 (runc 1.1 only warned): a cgroup that already holds processes is not the new
/// container's to configure, join, or destroy on failure. Checked before the state records
/// the cgroup, so a refused create's cleanup never touches it or its processes.
fn refuse_busy_cgroup(cgroup: &Cgroup) -> Result<()> {
    let pids = cgroup.pids().context("linux.cgroupsPath")?;
    if !pids.is_empty() {
        anyhow::bail!("linux.cgroupsPath: container's cgroup is not empty: {} process(es) found", pids.len());
    }
    Ok(())
}

/// linux.resources as the cgroup must see it: the config's device rules first, then (as runc)
/// the devices every container may use. `linux.devices` get no rule of their own: creating a
/// node does not grant access to it (runc behaves the same).
fn effective_resources(spec: &oci_spec::runtime::Spec) -> oci_spec::runtime::LinuxResources {
    let linux = spec.linux().as_ref();
    let mut r = linux.and_then(|l| l.resources().clone()).unwrap_or_default();
    r.set_devices(Some(crate::cgroups::devices::with_defaults(r.devices().clone().unwrap_or_default())));
    r
}


/// exec.fifo, opened twice for the init: for reading without blocking (it waits on it for
/// `start`) and for writing (after `start`, a failed startContainer hook or execve is written
/// back into it, and `start` reads it once the reader is gone). So the created init holds no
/// other fd into the state dir, as runc's.
fn make_fifo(path: &Path) -> Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{open, OFlag};
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).with_context(|| format!("mkfifo {}", path.display()))?;
    let what = || format!("opening {}", path.display());
    let read = open(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).with_context(what)?;
    let write = open(path, OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).with_context(what)?;
    Ok((read, write))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Layout;

    #[test]
    fn a_rootless_limit_error_says_what_the_user_can_do() {
        assert_eq!(limit_hint(false, Layout::Unified), None);
        assert!(limit_hint(true, Layout::Unified).is_some_and(|h| h.contains("Delegate=") && h.contains("drop the limit")));
        assert!(limit_hint(true, Layout::Hybrid).is_some_and(|h| h.contains("cgroup v1")));
    }
}
