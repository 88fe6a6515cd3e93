//! The foreground side shared by `run` and `exec`: signals blocked and read from a signalfd,
//! forwarded to the container's process, children reaped, the pty relayed in raw mode, and
//! the exit status mapped as runc does (128+N for a signal).

use anyhow::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::os::fd::{AsRawFd, OwnedFd};

/// Blocks every signal we forward (before the child exists, so none is lost; the child
/// restores an empty mask before exec) and returns a signalfd reading them. As runc, that is
/// everything a process can catch, job-control signals (SIGTSTP, SIGTTIN, SIGTTOU) and
/// realtime ones included: the container decides what they do, not the runtime.
pub fn block_signals() -> Result<SignalFd> {
    let mut mask = SigSet::all();
    for s in [Signal::SIGKILL, Signal::SIGSTOP, Signal::SIGSEGV, Signal::SIGBUS, Signal::SIGILL, Signal::SIGFPE] {
        mask.remove(s);
    }
    mask.thread_block().context("blocking signals")?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("signalfd")
}

pub fn exit_code(ws: WaitStatus) -> Option<i32> {
    match ws {
        WaitStatus::Exited(_, c) => Some(c),
        WaitStatus::Signaled(_, s, _) => Some(128 + s as i32),
        _ => None,
    }
}

/// The foreground end of `run` and `exec`: the pty (if any) gets the caller's window size and
/// the caller's terminal goes raw for the relay; then `wait_loop`. The terminal is restored
/// whatever happens.
pub fn attach(pid: i32, sigfd: &SignalFd, master: Option<&OwnedFd>) -> Result<i32> {
    if let Some(m) = master {
        copy_winsize(0, m.as_raw_fd());
    }
    let raw = master.and_then(|_| RawTerminal::enter());
    let code = wait_loop(pid, sigfd, master);
    drop(raw);
    code
}

/// Forwards signals to the init and reaps children until the init exits; relays the pty.
fn wait_loop(pid: i32, sigfd: &SignalFd, master: Option<&OwnedFd>) -> Result<i32> {
    let mut code = None;
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    // On the heap and only for a pty: an 8 KiB stack buffer cost two stack pages (page
    // faults) on every foreground run and exec, relay or not.
    let mut buf = if master.is_some() { vec![0u8; 8192] } else { Vec::new() };
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
        let n = crate::sys::poll(&mut fds, timeout).context("poll")?;
        if n == 0 && code.is_some() {
            break;
        }
        if fds[0].revents & libc::POLLIN != 0
            && let Ok(Some(info)) = sigfd.read_signal() {
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
        // As runc's SetRaw: output processing stays on, so the `\n` of a container pty without
        // ONLCR (console::clear_onlcr) still starts a new line on this terminal.
        raw.output_flags.insert(OutputFlags::OPOST);
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal(orig))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, &self.0);
    }
}
