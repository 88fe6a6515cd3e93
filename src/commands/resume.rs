//! `resume`: thaw a paused container and record it as running again.

use anyhow::{bail, Context, Result};

use crate::cgroups::Manager;
use crate::cli::Global;
use crate::state::{Root, Status};

pub fn run(g: &Global, id: &str) -> Result<i32> {
    let mut c = Root::new(&g.root).open_locked(id)?;
    match c.state().status {
        Status::Paused => {}
        s => bail!("cannot resume container {id:?}: it is {s}, not paused"),
    }
    let Some(cg) = c.state().cgroup.clone() else {
        bail!("cannot resume container {id:?}: it has no cgroup");
    };
    cg.thaw().with_context(|| format!("resuming container {id:?}"))?;
    // Back to what it was: a container paused before `start` still has its exec.fifo.
    let next = if c.fifo_path().exists() { Status::Created } else { Status::Running };
    c.transition(next)?;
    c.save()?;
    Ok(0)
}
