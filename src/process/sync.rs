//! The parent ↔ init channel: a SOCK_SEQPACKET socketpair, so every message arrives whole and
//! the parent sees EOF the moment the init dies.

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Parent → init: cgroup joined and id maps written; carries the init's pid as the host sees it.
    Go(i32),
    /// Parent → init: the init is in its cgroup(s) now.
    Joined,
    /// Init → parent: mounts done; run prestart/createRuntime hooks now, before pivot_root.
    HooksRequest,
    /// Parent → init: hooks ran.
    HooksDone,
    /// Init → parent: set up; now blocked until `start`.
    Ready,
    /// Joiner → parent: pid of the init it cloned.
    Pid(i32),
    /// Init → parent: setup failed; the message names what.
    Error(String),
}

pub struct Channel(OwnedFd);

pub fn pair() -> Result<(Channel, Channel)> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).context("socketpair for the init sync channel")?;
    Ok((Channel(a), Channel(b)))
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl Channel {
    pub fn send(&self, m: &Msg) -> Result<()> {
        let mut buf = Vec::with_capacity(8);
        match m {
            Msg::Go(p) => {
                buf.push(b'G');
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::Joined => buf.push(b'J'),
            Msg::HooksRequest => buf.push(b'H'),
            Msg::HooksDone => buf.push(b'h'),
            Msg::Ready => buf.push(b'R'),
            Msg::Pid(p) => {
                buf.push(b'P');
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::Error(s) => {
                buf.push(b'E');
                buf.extend_from_slice(&s.as_bytes()[..s.len().min(60_000)]);
            }
        }
        let n = unsafe { libc::send(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("sending on the init sync channel");
        }
        Ok(())
    }

    /// The next message, or None when the other side is gone.
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 65_536];
        let n = loop {
            let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                break n as usize;
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e).context("reading the init sync channel");
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let int = |b: &[u8]| -> Result<i32> { Ok(i32::from_le_bytes(b.get(1..5).context("short message")?.try_into()?)) };
        Ok(Some(match buf[0] {
            b'G' => Msg::Go(int(&buf[..n])?),
            b'J' => Msg::Joined,
            b'H' => Msg::HooksRequest,
            b'h' => Msg::HooksDone,
            b'R' => Msg::Ready,
            b'P' => Msg::Pid(int(&buf[..n])?),
            b'E' => Msg::Error(String::from_utf8_lossy(&buf[1..n]).into_owned()),
            t => bail!("unknown message {t} on the init sync channel"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (a, b) = pair().unwrap();
        for m in [Msg::Go(42), Msg::Joined, Msg::HooksRequest, Msg::HooksDone, Msg::Ready, Msg::Pid(-7), Msg::Error("mounts[1]: boom".into())] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
