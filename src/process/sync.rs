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
    /// Init → parent: the seccomp notify fd, attached with SCM_RIGHTS (send it with
    /// [`Channel::send_fd`]); received, the number is an fd the receiver now owns.
    SeccompFd(i32),
    /// Parent → init: the notify fd reached the agent at listenerPath.
    SeccompDone,
    /// Init → parent, while mounting: open the source of mounts[index] (rootfs::sources).
    MountRequest(usize),
    /// Parent → init: the source of mounts[index] opened by the runtime, attached with
    /// SCM_RIGHTS; received, an fd the receiver owns.
    MountSource(usize, i32),
    /// Joiner → parent, before Pid, for --no-pivot in a user namespace: the mount namespace
    /// the init's was copied from (process::hostfs), attached with SCM_RIGHTS; received, an fd
    /// the receiver owns.
    MountNs(i32),
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
            Msg::SeccompFd(_) => bail!("SeccompFd carries an fd: use send_fd"),
            Msg::MountSource(..) => bail!("MountSource carries an fd: use send_mount_source"),
            Msg::MountNs(_) => bail!("MountNs carries an fd: use send_mount_ns"),
            Msg::SeccompDone => buf.push(b's'),
            Msg::MountRequest(i) => {
                buf.push(b'm');
                buf.extend_from_slice(&(*i as u64).to_le_bytes());
            }
        }
        let n = unsafe { libc::send(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("sending on the init sync channel");
        }
        Ok(())
    }

    /// Sends `fd` with SCM_RIGHTS as a SeccompFd message.
    pub fn send_fd(&self, fd: std::os::fd::RawFd) -> Result<()> {
        crate::console::send_fd(self.0.as_raw_fd(), fd, "S").context("sending the seccomp notify fd on the init sync channel")
    }

    /// Sends the opened source of mounts[`index`] as a MountSource message.
    pub fn send_mount_source(&self, index: usize, fd: std::os::fd::RawFd) -> Result<()> {
        crate::console::send_fd(self.0.as_raw_fd(), fd, &format!("M{index}")).with_context(|| format!("sending the source of mounts[{index}] on the init sync channel"))
    }

    /// Sends a mount namespace fd as a MountNs message.
    pub fn send_mount_ns(&self, fd: std::os::fd::RawFd) -> Result<()> {
        crate::console::send_fd(self.0.as_raw_fd(), fd, "N").context("sending a mount namespace on the init sync channel")
    }

    /// The length of the next message (0: the other side is gone), without taking it; the
    /// peek carries no control buffer, so no fd attached to the message is installed twice.
    fn next_size(&self) -> nix::Result<usize> {
        // SAFETY: a zero-length read into no buffer; MSG_TRUNC makes it return the real length.
        let n = unsafe { libc::recv(self.0.as_raw_fd(), std::ptr::null_mut(), 0, libc::MSG_PEEK | libc::MSG_TRUNC) };
        nix::errno::Errno::result(n).map(|n| n as usize)
    }

    /// The next message, or None when the other side is gone. An fd attached to a SeccompFd
    /// message is returned in it; fds attached to anything else are closed.
    pub fn recv(&self) -> Result<Option<Msg>> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let mut buf = Vec::new();
        let mut fds: Vec<i32> = Vec::new();
        let mut reset_seen = false;
        let n = loop {
            // The buffer is the message's size, learnt by a peek: a fixed 64 KiB one was zeroed
            // again on every reuse (and, in a forked child, copied page by page).
            let size = match self.next_size() {
                Ok(size) => size,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::ECONNRESET) if !reset_seen => {
                    reset_seen = true;
                    continue;
                }
                Err(e) => return Err(e).context("reading the init sync channel"),
            };
            buf.resize(size.max(1), 0);
            let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(self.0.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
                Ok(msg) => {
                    for c in msg.cmsgs().context("reading control messages on the init sync channel")? {
                        if let ControlMessageOwned::ScmRights(r) = c {
                            fds.extend(r);
                        }
                    }
                    break msg.bytes;
                }
                Err(nix::errno::Errno::EINTR) => continue,
                // A peer that exits with our messages unread leaves ECONNRESET pending on this
                // socket, and the kernel reports it before the messages the peer sent first
                // (its Error, typically). Reading clears it; the next read gets those.
                Err(nix::errno::Errno::ECONNRESET) if !reset_seen => reset_seen = true,
                Err(e) => return Err(e).context("reading the init sync channel"),
            }
        };
        if n > 0 && buf[0] == b'M' {
            let index = std::str::from_utf8(&buf[1..n]).ok().and_then(|s| s.parse().ok());
            if let (Some(index), Some((first, rest))) = (index, fds.split_first()) {
                for fd in rest {
                    unsafe { libc::close(*fd) };
                }
                return Ok(Some(Msg::MountSource(index, *first)));
            }
            bail!("malformed mount source message on the init sync channel");
        }
        if n > 0 && (buf[0] == b'S' || buf[0] == b'N') {
            if let Some((first, rest)) = fds.split_first() {
                for fd in rest {
                    unsafe { libc::close(*fd) };
                }
                return Ok(Some(if buf[0] == b'S' { Msg::SeccompFd(*first) } else { Msg::MountNs(*first) }));
            }
            bail!("{} message without an fd on the init sync channel", if buf[0] == b'S' { "seccomp notify" } else { "mount namespace" });
        }
        for fd in fds {
            unsafe { libc::close(fd) };
        }
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
            b's' => Msg::SeccompDone,
            b'm' => Msg::MountRequest(u64::from_le_bytes(buf[..n].get(1..9).context("short message")?.try_into()?) as usize),
            t => bail!("unknown message {t} on the init sync channel"),
        }))
    }
}

/// Child side (init or exec'd process): installs `filter`; a notify fd goes to the parent,
/// which hands it to the agent at listenerPath, and we wait until it has. Any other answer
/// means the parent gave up (and reports why): exit with `code`.
pub fn install_seccomp(k: &impl crate::kernel::Kernel, filter: Option<&crate::security::seccomp::CompiledFilter>, ch: &Channel, code: i32) -> Result<()> {
    let Some(filter) = filter else { return Ok(()) };
    let notify = crate::security::seccomp::install(k, filter).context("linux.seccomp: loading the filter")?;
    if let Some(fd) = notify {
        ch.send_fd(fd.as_raw_fd())?;
        drop(fd);
        match ch.recv()? {
            Some(Msg::SeccompDone) => {}
            _ => unsafe { libc::_exit(code) },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_eof_is_none() {
        let (a, b) = pair().unwrap();
        for m in [Msg::Go(42), Msg::Joined, Msg::HooksRequest, Msg::HooksDone, Msg::Ready, Msg::Pid(-7), Msg::Error("mounts[1]: boom".into()), Msg::MountRequest(300)] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }

    #[test]
    fn a_long_message_arrives_whole_after_a_short_one() {
        let (a, b) = pair().unwrap();
        let long = "x".repeat(40_000);
        a.send(&Msg::Ready).unwrap();
        a.send(&Msg::Error(long.clone())).unwrap();
        a.send(&Msg::Go(7)).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::Ready));
        assert_eq!(b.recv().unwrap(), Some(Msg::Error(long)));
        assert_eq!(b.recv().unwrap(), Some(Msg::Go(7)));
    }

    #[test]
    fn seccomp_fd_travels_with_scm_rights() {
        let (a, b) = pair().unwrap();
        let f = std::fs::File::open("/proc/self/status").unwrap();
        a.send_fd(f.as_raw_fd()).unwrap();
        let Some(Msg::SeccompFd(fd)) = b.recv().unwrap() else { panic!("expected SeccompFd") };
        assert_ne!(fd, f.as_raw_fd());
        let got = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
        assert_eq!(got, std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).unwrap());
        unsafe { libc::close(fd) };
        a.send(&Msg::SeccompDone).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::SeccompDone));
        a.send_mount_source(12, f.as_raw_fd()).unwrap();
        let Some(Msg::MountSource(12, fd)) = b.recv().unwrap() else { panic!("expected MountSource(12, _)") };
        unsafe { libc::close(fd) };
    }

    #[test]
    fn error_survives_a_peer_that_exits_with_unread_messages() {
        let (parent, init) = pair().unwrap();
        parent.send(&Msg::Joined).unwrap(); // never read by the init
        init.send(&Msg::Error("mounts[3]: refused".into())).unwrap();
        drop(init); // closing with unread data: the kernel marks ECONNRESET on the parent's side
        assert_eq!(parent.recv().unwrap(), Some(Msg::Error("mounts[3]: refused".into())));
        assert_eq!(parent.recv().unwrap(), None);
    }
}
