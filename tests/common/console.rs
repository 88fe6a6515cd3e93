//! Console socket (runc protocol: the runtime connects and sends the pty master with
//! SCM_RIGHTS), and reading/writing the received pty master.

use super::CMD_TIMEOUT;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct ConsoleSocket {
    pub path: PathBuf,
    rx: mpsc::Receiver<Result<OwnedFd, String>>,
}

impl ConsoleSocket {
    /// Listen on `dir/console.sock`; a thread accepts one connection and receives one fd.
    pub fn new(dir: &Path) -> ConsoleSocket {
        let path = dir.join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind console socket");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(recv_one_fd(listener, CMD_TIMEOUT));
        });
        ConsoleSocket { path, rx }
    }

    /// The received pty master.
    #[track_caller]
    pub fn master(&self) -> OwnedFd {
        match self.rx.recv_timeout(CMD_TIMEOUT + Duration::from_secs(5)) {
            Ok(Ok(fd)) => fd,
            Ok(Err(e)) => panic!("console socket: {e}"),
            Err(e) => panic!("console socket: no fd received: {e}"),
        }
    }
}

fn poll_in(fd: i32, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    r > 0
}

fn recv_one_fd(listener: UnixListener, timeout: Duration) -> Result<OwnedFd, String> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::io::IoSliceMut;
    if !poll_in(listener.as_raw_fd(), timeout) {
        return Err("nobody connected to the console socket".into());
    }
    let (stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    if !poll_in(stream.as_raw_fd(), timeout) {
        return Err("no message on the console socket".into());
    }
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| format!("recvmsg: {e}"))?;
    let mut got: Option<OwnedFd> = None;
    for c in msg.cmsgs().map_err(|e| format!("cmsgs: {e}"))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                // SAFETY: the kernel just gave us this fd; we own it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    got.ok_or_else(|| "message carried no SCM_RIGHTS fd".into())
}

/// Read from `fd` (a pty master) until the accumulated text contains `needle`.
#[track_caller]
pub fn read_until(fd: &OwnedFd, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut acc = Vec::new();
    loop {
        if String::from_utf8_lossy(&acc).contains(needle) {
            return String::from_utf8_lossy(&acc).into_owned();
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !poll_in(fd.as_raw_fd(), left) {
            panic!(
                "timed out waiting for {needle:?} on the tty; got {:?}",
                String::from_utf8_lossy(&acc)
            );
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reading into a local buffer from an fd we own.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            // EIO: every slave end closed.
            panic!(
                "tty closed before {needle:?} appeared; got {:?}",
                String::from_utf8_lossy(&acc)
            );
        }
        acc.extend_from_slice(&buf[..n as usize]);
    }
}

pub fn write_fd(fd: &OwnedFd, data: &[u8]) {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writing from a live slice to an fd we own.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                data[off..].as_ptr().cast(),
                data.len() - off,
            )
        };
        assert!(
            n > 0,
            "write to tty failed: {}",
            std::io::Error::last_os_error()
        );
        off += n as usize;
    }
}
