//! seccomp SCMP_ACT_NOTIFY with listenerPath / listenerMetadata: the notify fd and the
//! ContainerProcessState reach the agent (a minimal one here) for the init and for an exec'd
//! process; no listenerPath, or no agent there, is a clear error.

mod sec_common;

use sec_common::*;
use serde_json::json;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// seccomp SCMP_ACT_NOTIFY with listenerPath / listenerMetadata.
// ---------------------------------------------------------------------------------------------

/// A minimal seccomp agent: accepts one connection on `sock`, takes the ContainerProcessState
/// JSON and the notify fd, and answers every notification with ENAMETOOLONG. Returns the JSON
/// and the number of notifications handled. Bounded by `limit`. `accepted`, when given, hears
/// once the connection is taken, so that a second agent on the same socket cannot take it.
fn seccomp_agent(listener: std::os::unix::net::UnixListener, limit: Duration, accepted: Option<std::sync::mpsc::Sender<()>>) -> (serde_json::Value, u32) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let end = Instant::now() + limit;
    listener.set_nonblocking(true).unwrap();
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("agent: no connection from the runtime: {e}"),
        }
    };
    if let Some(tx) = accepted {
        let _ = tx.send(());
    }
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 2]);
    let msg = nix::sys::socket::recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC).unwrap();
    let mut notify_fd = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            notify_fd = fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
        }
    }
    let n = msg.bytes;
    let mut text = buf[..n].to_vec();
    {
        use std::io::Read;
        let mut rest = Vec::new();
        let _ = (&conn).read_to_end(&mut rest);
        text.extend(rest);
    }
    let state: serde_json::Value = serde_json::from_slice(&text).expect("agent: the process state is JSON");
    let fd = notify_fd.expect("agent: no fd attached");
    let mut handled = 0;
    while Instant::now() < end {
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        if pfd.revents & libc::POLLHUP != 0 {
            break; // every process of the filter is gone
        }
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
            continue;
        }
        let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        resp.id = req.id;
        resp.error = -libc::ENAMETOOLONG;
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
        handled += 1;
    }
    (state, handled)
}

#[test]
fn seccomp_notify_fd_and_state_reach_the_agent() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("notify");
    let sock = ctx.path("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || seccomp_agent(listener, Duration::from_secs(25), None));
    let mut cfg = ctx.config();
    cfg["root"]["readonly"] = json!(false);
    cfg["annotations"] = json!({"org.test": "yes"});
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "meta-123",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    });
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "mkdir /tmp/x; echo rc=$?"]);
    let o = ctx.run(&id);
    let (state, handled) = agent.join().expect("agent thread");
    assert!(o.ok(), "{o:?}");
    assert!(o.stdout.contains("rc=1") && o.stderr.contains("too long"), "the agent's answer reached the container: {o:?}");
    assert!(!ctx.rootfs.join("tmp/x").exists());
    assert!(handled >= 1, "{handled}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "meta-123");
    assert_eq!(state["ociVersion"], cfg["ociVersion"]);
    assert!(state["pid"].as_i64().unwrap() > 1);
    assert_eq!(state["state"]["id"], json!(id));
    assert_eq!(state["state"]["status"], "creating");
    assert_eq!(state["state"]["pid"], state["pid"]);
    assert_eq!(state["state"]["annotations"]["org.test"], "yes");
    assert_eq!(state["state"]["bundle"], json!(ctx.bundle));
}

/// Issue 15 item 7: `exec` into a container whose profile has SCMP_ACT_NOTIFY sends the new
/// process's notify fd to listenerPath too (before, exec refused it), with the container's
/// state (running) and the exec'd process's pid.
#[test]
fn seccomp_notify_fd_of_an_exec_reaches_the_agent() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("notify-exec");
    let sock = ctx.path("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let second = listener.try_clone().unwrap();
    let (init_accepted, init_connected) = std::sync::mpsc::channel();
    let init_agent = std::thread::spawn(move || seccomp_agent(listener, Duration::from_secs(25), Some(init_accepted)));
    let mut cfg = ctx.config();
    cfg["root"]["readonly"] = json!(false);
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    });
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sleep", "1000"]);
    let o = ctx.cmd(&["run", "-d", "--bundle", ctx.bundle.to_str().unwrap(), &id], None);
    assert!(o.ok(), "{o:?}");
    // The init's connection is queued by now; the exec's agent starts listening only once the
    // init's agent has taken it (on a busy host the exec's agent could take it first).
    init_connected.recv_timeout(Duration::from_secs(20)).expect("the init's agent got its connection");
    let exec_agent = std::thread::spawn(move || seccomp_agent(second, Duration::from_secs(20), None));
    let o = ctx.cmd(&["exec", &id, "sh", "-c", "mkdir /tmp/y; echo rc=$?"], None);
    let (state, handled) = exec_agent.join().expect("exec agent thread");
    assert!(o.ok() && o.stdout.contains("rc=1"), "the agent's answer reached the exec'd process: {o:?}");
    assert!(handled >= 1, "{handled}");
    assert_eq!(state["state"]["status"], "running", "{state}");
    assert_eq!(state["state"]["id"], json!(id));
    assert_ne!(state["pid"].as_i64(), Some(ctx.pid(&id) as i64), "pid is the exec'd process's: {state}");
    assert!(!ctx.rootfs.join("tmp/y").exists());
    ctx.cmd(&["delete", "--force", &id], None);
    let _ = init_agent.join();
}

/// SCMP_ACT_NOTIFY without listenerPath is refused before anything is created; an agent
/// that is not there fails the create with the path named.
#[test]
fn seccomp_notify_without_agent_is_a_clear_error() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("notify2");
    let mut cfg = ctx.config();
    cfg["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("listenerPath"), "{o:?}");
    cfg["linux"]["seccomp"]["listenerPath"] = json!(ctx.path("nobody.sock"));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("listenerPath") && o.stderr.contains("nobody.sock"), "{o:?}");
    assert!(ctx.state(&id).is_none());
}
