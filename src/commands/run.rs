//! `run`: create + start. Detached it returns at once; in the foreground it stays as the
//! container's subreaper, forwards signals, relays the terminal when there is one, and exits
//! with the container's status (128+N for a signal), deleting the container unless --keep.

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::cli::{CreateArgs, Global};
use crate::state::Root;

pub fn run(g: &Global, id: &str, opts: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    if detach {
        let console = opts.console_socket.as_deref().map(crate::console::connect).transpose()?;
        super::create::create(g, id, opts, console)?;
        if let Err(e) = super::start::start(g, id) {
            remove(g, id);
            return Err(e);
        }
        return Ok(0);
    }

    // Orphans of the container (and an init cloned by a joiner process) come back to us.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // Block the signals we forward before the init exists, so none is lost; the init
    // restores an empty mask before exec.
    let mut mask = SigSet::all();
    for s in [Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGILL, Signal::SIGFPE, Signal::SIGTTIN, Signal::SIGTTOU, Signal::SIGTSTP] {
        mask.remove(s);
    }
    mask.thread_block().context("blocking signals")?;
    let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("signalfd")?;

    let terminal = crate::spec::Bundle::load(&opts.bundle)?.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let (ours, theirs) = if terminal && opts.console_socket.is_none() {
        let (a, b) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .context("socketpair for the terminal")?;
        (Some(a), Some(b))
    } else {
        (None, opts.console_socket.as_deref().map(crate::console::connect).transpose()?)
    };
    let pid = super::create::create(g, id, opts, theirs)?;
    let master = match ours.as_ref().map(|s| crate::console::recv_fd(s.as_raw_fd())).transpose() {
        Ok(m) => m,
        Err(e) => {
            remove(g, id);
            return Err(e);
        }
    };
    if let Err(e) = super::start::start(g, id) {
        remove(g, id);
        return Err(e);
    }
    if let Some(m) = &master {
        copy_winsize(0, m.as_raw_fd());
    }
    let raw = master.as_ref().and_then(|_| RawTerminal::enter());
    let code = wait_loop(pid, &sigfd, master.as_ref());
    drop(raw);
    if !keep {
        remove(g, id);
    }
    code
}

fn remove(g: &Global, id: &str) {
    if let Ok(mut c) = Root::new(&g.root).open_locked(id) {
        if let Err(e) = super::delete::delete(&mut c, true) {
            crate::warn!("removing container {id}: {e:#}");
        }
    }
}

fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// Forwards signals to the init and reaps children until the init exits; relays the pty.
fn wait_loop(pid: i32, sigfd: &SignalFd, master: Option<&OwnedFd>) -> Result<i32> {
    let mut code = None;
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = [0u8; 8192];
    loop {
        if code.is_some() && !master_open {
            break;
        }
        let mut fds = vec![libc::pollfd { fd: sigfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        if let Some(m) = master.filter(|_| master_open) {
            fds.push(libc::pollfd { fd: m.as_raw_fd(), events: libc::POLLIN, revents: 0 });
            if stdin_open {
                fds.push(libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 });
            }
        }
        // Once the init is gone, give the terminal a moment to drain, then stop.
        let timeout = if code.is_some() { 100 } else { -1 };
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(std::io::Error::last_os_error()).context("poll");
        }
        if n == 0 && code.is_some() {
            break;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Ok(Some(info)) = sigfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    loop {
                        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
                            Ok(WaitStatus::StillAlive) | Err(_) => break,
                            Ok(ws) => {
                                if ws.pid().map(|p| p.as_raw()) == Some(pid) {
                                    code = exit_code(ws);
                                }
                            }
                        }
                    }
                } else if sig == libc::SIGWINCH {
                    if let Some(m) = master {
                        copy_winsize(0, m.as_raw_fd());
                    }
                } else {
                    unsafe { libc::kill(pid, sig) };
                }
            }
        }
        if let Some(m) = master {
            if fds.len() > 1 && fds[1].revents != 0 {
                let r = unsafe { libc::read(m.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    master_open = false;
                } else {
                    write_all(1, &buf[..r as usize]);
                }
            }
            if fds.len() > 2 && fds[2].revents != 0 {
                let r = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if r <= 0 {
                    stdin_open = false;
                } else {
                    write_all(m.as_raw_fd(), &buf[..r as usize]);
                }
            }
        }
    }
    Ok(code.unwrap_or(255))
}

fn write_all(fd: i32, mut data: &[u8]) {
    while !data.is_empty() {
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            return;
        }
        data = &data[n as usize..];
    }
}

fn copy_winsize(from: i32, to: i32) {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) } == 0 {
        unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) };
    }
}

/// Puts our stdin terminal in raw mode for the relay; restores it on drop.
struct RawTerminal(nix::sys::termios::Termios);

impl RawTerminal {
    fn enter() -> Option<RawTerminal> {
        use nix::sys::termios::*;
        let stdin = std::io::stdin();
        let orig = tcgetattr(&stdin).ok()?;
        let mut raw = orig.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal(orig))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &self.0);
    }
}
