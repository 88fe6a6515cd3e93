//! `kill`: signal the init, or with --all every process in the container's cgroup.

use anyhow::{bail, Context, Result};

use crate::cgroups::Manager;
use crate::cli::Global;
use crate::state::{Root, Status};

pub fn run(g: &Global, id: &str, signal: &str, all: bool) -> Result<i32> {
    let sig = super::parse_signal(signal)?;
    let c = Root::new(&g.root).open_unlocked(id)?;
    let s = c.state();
    // As runc 1.5: SIGKILL to a container without its own pid namespace goes to every process
    // of its cgroup (there is no pid-namespace teardown to take the others with the init).
    if all || (sig == libc::SIGKILL && !has_pid_namespace(&c)) {
        if let Some(cg) = &s.cgroup {
            cg.kill_all(sig).with_context(|| format!("signalling every process in cgroup {}", cg.path()))?;
            return Ok(0);
        }
        // Rootless without a cgroup of its own (the create skipped it): as runc, the init
        // only; the others die with it when the container has its own pid namespace.
        crate::warn!("kill --all: container {id:?} has no cgroup (rootless, not delegated): signalling its init only");
    }
    let init = (s.status != Status::Stopped).then(|| crate::state::open_init(s.pid, s.init_start_time)).flatten();
    let Some(init) = init else {
        if all {
            return Ok(0); // nothing left to signal, as before for a cgroup-less --all
        }
        bail!("cannot kill container {id:?}: it is not running")
    };
    use std::os::fd::AsRawFd;
    crate::sys::pidfd_send_signal(init.as_raw_fd(), sig).with_context(|| format!("pidfd_send_signal(init {}, {sig})", s.pid))?;
    Ok(0)
}

/// Whether the saved config lists a pid namespace (new or joined: runc's IsPrivate). Read as
/// plain JSON: only this field matters here. Unreadable: assume it has one (signal the init).
fn has_pid_namespace(c: &crate::state::Container) -> bool {
    let Ok(text) = std::fs::read(c.config_path()) else { return true };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else { return true };
    v.pointer("/linux/namespaces").and_then(|n| n.as_array()).is_some_and(|nss| nss.iter().any(|n| n["type"] == "pid"))
}
