//! seccomp user notification (SCMP_ACT_NOTIFY): handing the listener fd to the agent.
//!
//! As runc: the init installs the filter with SECCOMP_FILTER_FLAG_NEW_LISTENER and sends the
//! notify fd to the runtime over the sync channel (SCM_RIGHTS); the runtime connects to
//! `linux.seccomp.listenerPath` (a unix stream socket) and sends one message: runc's
//! ContainerProcessState JSON with the fd attached by SCM_RIGHTS:
//!
//! ```json
//! {"ociVersion": "...", "fds": ["seccompFd"], "pid": <init pid>, "metadata": "<listenerMetadata>",
//!  "state": {"ociVersion": "...", "id": "...", "status": "creating", "pid": <pid>,
//!            "bundle": "...", "annotations": {...}}}
//! ```
//!
//! The init waits for the runtime's SeccompDone before it goes on, so no syscall of the
//! container can block on a notification that nobody will ever read. Syscalls the init itself
//! makes after the filter is in (set identity, lookup, the Ready message, waiting for start,
//! execve) must not be SCMP_ACT_NOTIFY rules, or they are sent to the agent as well (runc
//! has the same constraint).

use anyhow::{Context, Result};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// runc's ContainerProcessState for the agent.
pub fn process_state(oci_version: &str, metadata: &str, pid: i32, state: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": oci_version,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata,
        "state": state,
    })
}

/// Connects to `listener` and sends `msg` with `fd` attached.
pub fn send_to_agent(listener: &Path, msg: &serde_json::Value, fd: &OwnedFd) -> Result<()> {
    let sock = std::os::unix::net::UnixStream::connect(listener)
        .with_context(|| format!("linux.seccomp.listenerPath: failed to connect with seccomp agent specified in the seccomp profile: connecting to {}", listener.display()))?;
    let text = msg.to_string();
    let fds = [fd.as_raw_fd()];
    let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(text.as_bytes())];
    let n = nix::sys::socket::sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, nix::sys::socket::MsgFlags::empty(), None)
        .with_context(|| format!("linux.seccomp.listenerPath: sending the notify fd to {}", listener.display()))?;
    if n < text.len() {
        // The fd went with the first part; the rest of the JSON follows as plain bytes.
        use std::io::Write;
        (&sock).write_all(&text.as_bytes()[n..]).context("linux.seccomp.listenerPath: writing the process state")?;
    }
    Ok(())
}
