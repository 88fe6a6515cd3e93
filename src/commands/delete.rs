//! `delete`: remove a container's cgroup, run poststop hooks, remove its state.

use anyhow::{bail, Result};
use std::time::Duration;

use crate::cgroups::Manager;
use crate::cli::Global;
use crate::hooks::{self, Phase};
use crate::state::{Container, Missing, Root, Status};

pub fn run(g: &Global, ids: &[String], force: bool) -> Result<i32> {
    let root = Root::new(&g.root);
    for id in ids {
        let mut c = match root.open_locked(id) {
            Ok(c) => c,
            Err(e) => {
                let gone = match e.downcast_ref::<Missing>() {
                    Some(Missing::Container(_)) => true,
                    // A create killed before its first state write left a directory that no
                    // command can open; remove it (as runc) so the ID can be used again.
                    Some(Missing::State(_)) => root.remove_unfinished(id)?,
                    None => false,
                };
                // containerd always follows `delete` with `delete --force`: a missing
                // container is what it asked for.
                if force && gone {
                    continue;
                }
                return Err(e);
            }
        };
        delete(&mut c, force)?;
    }
    Ok(0)
}

/// Deletes one locked container. A created container may be deleted without --force (the
/// init has not run the user's program yet); running or paused ones need it.
pub fn delete(c: &mut Container, force: bool) -> Result<()> {
    let s = c.state().clone();
    match s.status {
        Status::Stopped | Status::Creating => {}
        Status::Created => kill_and_wait(s.pid, s.init_start_time),
        Status::Running if force => kill_and_wait(s.pid, s.init_start_time),
        Status::Paused if force => {
            // Frozen tasks do not die until thawed: kill everything, then thaw.
            if let Some(cg) = &s.cgroup {
                let _ = cg.kill_all(libc::SIGKILL);
                let _ = cg.thaw();
            }
            kill_and_wait(s.pid, s.init_start_time)
        }
        st => bail!("cannot delete container {:?}: it is {st} (stop it first, or use --force)", s.id),
    }
    crate::trace::mark("lock-kill");
    if let Some(cg) = &s.cgroup {
        cg.destroy()?;
        crate::trace::mark("cgroups");
    }
    if s.status != Status::Stopped {
        c.transition(Status::Stopped)?;
    }
    if let Some(spec) = s.post_hooks.then(|| c.spec().ok()).flatten() {
        hooks::run_warn(Phase::Poststop, spec.hooks().as_ref(), &c.state().oci_json().to_string());
    }
    let r = c.remove_dir();
    crate::trace::mark("state-remove");
    crate::trace::flush("delete");
    r
}

/// SIGKILL the init and wait (bounded) until it is gone. A paused init dies too: SIGKILL is
/// delivered to frozen tasks once the cgroup is destroyed or thawed.
fn kill_and_wait(pid: i32, start_time: u64) {
    use std::os::fd::AsRawFd;
    let Some(fd) = crate::state::open_init(pid, start_time) else { return };
    let _ = crate::sys::pidfd_send_signal(fd.as_raw_fd(), libc::SIGKILL);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    unsafe { libc::poll(&mut p, 1, 10_000) };
    // pidfd reports exit, but a zombie still shows in /proc until reaped: that counts as gone.
    while crate::state::process_alive(pid, start_time) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
}
