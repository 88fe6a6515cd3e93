//! `start`: release a created container's init so it execs the user's program.

use anyhow::{bail, Context, Result};

use crate::cli::Global;
use crate::hooks::{self, Phase};
use crate::state::{Container, Root, Status};

pub fn run(g: &Global, id: &str) -> Result<i32> {
    start(g, id)?;
    Ok(0)
}

/// Waits until the init has exec'd the program (or died): its fifo fd is close-on-exec, so the
/// write end reports POLLERR once no reader is left. Poststart hooks run only after that.
fn wait_exec(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let mut p = [libc::pollfd { fd: fd.as_raw_fd(), events: 0, revents: 0 }];
    // No timeout: it returns once the fifo has no reader (POLLERR), or on an error.
    let _ = crate::sys::poll(&mut p, -1);
}

/// What the init wrote back into exec.fifo when a startContainer hook or the execve failed
/// (empty when it exec'd). Read while our write end keeps the pipe and its data alive.
fn start_error(fifo: &std::path::Path) -> String {
    use nix::fcntl::{open, OFlag};
    let Ok(fd) = open(fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()) else { return String::new() };
    let mut buf = vec![0u8; libc::PIPE_BUF];
    let n = nix::unistd::read(&fd, &mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

pub fn start(g: &Global, id: &str) -> Result<()> {
    let mut c = Root::new(&g.root).open_locked(id)?;
    crate::trace::mark("lock-state");
    start_locked(&mut c)
}

/// `start` of a container already open and locked (`run` hands over the one it created).
pub fn start_locked(c: &mut Container) -> Result<()> {
    let id = c.state().id.clone();
    match c.state().status {
        Status::Created => {}
        Status::Stopped => bail!("cannot start container {id:?}: it has stopped"),
        s => bail!("cannot start container {id:?}: it is already {s}"),
    }
    let fifo = c.fifo_path();
    // Non-blocking: ENXIO means no reader, i.e. the init is gone, instead of hanging forever.
    let fd = match nix::fcntl::open(&fifo, nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENXIO) => bail!("cannot start container {id:?}: its init process is no longer waiting"),
        Err(e) => return Err(e).with_context(|| format!("opening {}", fifo.display())),
    };
    nix::unistd::write(&fd, b"0").with_context(|| format!("writing {}", fifo.display()))?;
    wait_exec(&fd);
    let msg = start_error(&fifo);
    drop(fd);
    crate::trace::mark("fifo");
    if !msg.is_empty() {
        let _ = std::fs::remove_file(&fifo);
        c.transition(Status::Stopped)?;
        c.save()?;
        bail!("starting container {id:?}: {msg}");
    }
    std::fs::remove_file(&fifo).with_context(|| format!("removing {}", fifo.display()))?;
    // state.json keeps `created`: a created container without its fifo reads as running
    // (Container::refresh), as runc and crun derive it, so `start` writes no state.
    c.transition(Status::Running)?;
    if c.state().post_hooks {
        let spec = c.spec()?;
        // runtime-spec 1.3 (as runc and crun): a failed poststart hook stops the container
        // and fails `start`; poststop hooks then run at `delete`.
        if let Err(e) = hooks::run(Phase::Poststart, spec.hooks().as_ref(), &c.state().oci_json().to_string()) {
            stop(c.state());
            return Err(e).with_context(|| format!("starting container {id:?}: it was stopped"));
        }
        crate::trace::mark("poststart");
    }
    crate::trace::flush("start");
    Ok(())
}

/// SIGKILL to the init (and, without a pid namespace, to the rest of its cgroup), then wait
/// until it is gone, so `start` returns with the container stopped.
fn stop(st: &crate::state::State) {
    use crate::cgroups::Manager;
    use std::os::fd::AsRawFd;
    if let Some(cg) = &st.cgroup {
        let _ = cg.kill_all(libc::SIGKILL);
    }
    if let Some(init) = crate::state::open_init(st.pid, st.init_start_time) {
        let _ = crate::sys::pidfd_send_signal(init.as_raw_fd(), libc::SIGKILL);
        let mut p = libc::pollfd { fd: init.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        unsafe { libc::poll(&mut p, 1, 10_000) };
    }
}
