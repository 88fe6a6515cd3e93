//! `kill`: signal the init, or with --all every process in the container's cgroup.

use anyhow::{bail, Context, Result};

use crate::cli::Global;
use crate::state::{Root, Status};

pub fn run(g: &Global, id: &str, signal: &str, all: bool) -> Result<i32> {
    let sig = super::parse_signal(signal)?;
    let c = Root::new(&g.root).open_unlocked(id)?;
    let s = c.state();
    if all {
        if let Some(cg) = &s.cgroup {
            cg.kill_all(sig).with_context(|| format!("signalling every process in cgroup {}", cg.path()))?;
        }
        return Ok(0);
    }
    if s.status == Status::Stopped {
        bail!("cannot kill container {id:?}: it is not running");
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(s.pid), nix::sys::signal::Signal::try_from(sig).ok())
        .with_context(|| format!("kill({}, {sig})", s.pid))?;
    Ok(0)
}
