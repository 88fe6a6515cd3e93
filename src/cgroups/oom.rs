//! OOM notifications for `events`: v1 registers an eventfd on memory.oom_control through
//! cgroup.event_control; v2 watches memory.events with inotify and counts `oom_kill`.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};

use super::files::write_raw;
use super::{FsCgroup, Layout, Manager, resources::errtext};

/// A pollable fd that becomes readable when the container's cgroup sees an OOM kill.
pub struct OomNotifier {
    fd: OwnedFd,
    kind: Kind,
}

enum Kind {
    /// Keeps memory.oom_control open for as long as the registration lives.
    V1 { _ctl: File, dir: PathBuf },
    V2 { events: PathBuf, last: u64 },
}

/// `oom_kill` in a v2 memory.events text.
pub fn oom_kill_count(text: &str) -> u64 {
    super::stats::parse_kv(text).get("oom_kill").copied().unwrap_or(0)
}

impl OomNotifier {
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// After the fd polled readable: how many new OOM events (0 for a spurious wake-up or
    /// the cgroup going away, which also signals a v1 eventfd).
    pub fn read(&mut self) -> u64 {
        match &mut self.kind {
            Kind::V1 { dir, .. } => {
                let mut buf = [0u8; 8];
                // SAFETY: reading 8 bytes into a local buffer from our eventfd.
                let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n != 8 || !dir.join("memory.oom_control").exists() {
                    return 0;
                }
                u64::from_ne_bytes(buf)
            }
            Kind::V2 { events, last } => {
                let mut buf = [0u8; 4096];
                // Drain the inotify queue (non-blocking fd).
                // SAFETY: reading into a local buffer from our inotify fd.
                while unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
                let Ok(text) = std::fs::read_to_string(&*events) else { return 0 };
                let n = oom_kill_count(&text);
                let d = n.saturating_sub(*last);
                *last = n;
                d
            }
        }
    }
}

fn os_err(what: &str, p: &Path) -> anyhow::Error {
    anyhow!("{what} {}: {}", p.display(), errtext(&io::Error::last_os_error()))
}

impl FsCgroup {
    /// The OOM notifier of this cgroup's memory controller (None without one).
    pub(super) fn oom_notifier(&self) -> Result<Option<OomNotifier>> {
        if self.layout() == Layout::Unified {
            let Some(dir) = self.v2_dir() else { return Ok(None) };
            let events = dir.join("memory.events");
            if !events.exists() {
                return Ok(None);
            }
            // SAFETY: plain syscall; the fd is owned below.
            let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
            if fd < 0 {
                return Err(os_err("inotify_init1 for", &events));
            }
            // SAFETY: fd is a new descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let c = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())?;
            // SAFETY: valid fd and NUL-terminated path.
            if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) } < 0 {
                return Err(os_err("watching", &events));
            }
            let last = std::fs::read_to_string(&events).map(|t| oom_kill_count(&t)).unwrap_or(0);
            return Ok(Some(OomNotifier { fd, kind: Kind::V2 { events, last } }));
        }
        let Some(dir) = self.v1_dir("memory") else { return Ok(None) };
        let ctl_path = dir.join("memory.oom_control");
        let ctl = File::open(&ctl_path).map_err(|e| anyhow!("opening {}: {}", ctl_path.display(), errtext(&e)))?;
        // SAFETY: plain syscall; the fd is owned below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(os_err("eventfd for", &ctl_path));
        }
        // SAFETY: efd is a new descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(efd) };
        let reg = dir.join("cgroup.event_control");
        write_raw(&reg, &format!("{} {}", fd.as_raw_fd(), ctl.as_raw_fd()))
            .map_err(|e| anyhow!("registering for OOM events in {}: {}", reg.display(), errtext(&e)))?;
        Ok(Some(OomNotifier { fd, kind: Kind::V1 { _ctl: ctl, dir: dir.to_path_buf() } }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn oom_kill_from_memory_events() {
        assert_eq!(super::oom_kill_count("low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\n"), 1);
        assert_eq!(super::oom_kill_count("low 0\n"), 0);
    }
}
