//! `pause`: freeze every process of a running container (v1 freezer.state, v2 cgroup.freeze)
//! and record it as paused.

use anyhow::{bail, Context, Result};

use crate::cgroups::Manager;
use crate::cli::Global;
use crate::state::{Root, Status};

pub fn run(g: &Global, id: &str) -> Result<i32> {
    let mut c = Root::new(&g.root).open_locked(id)?;
    match c.state().status {
        // A created container can be paused too (as runc): its init waits, frozen.
        Status::Running | Status::Created => {}
        Status::Paused => bail!("cannot pause container {id:?}: it is already paused"),
        s => bail!("cannot pause container {id:?}: it is {s}"),
    }
    let Some(cg) = c.state().cgroup.clone() else {
        bail!("cannot pause container {id:?}: it has no cgroup");
    };
    cg.freeze().with_context(|| format!("pausing container {id:?}"))?;
    c.transition(Status::Paused)?;
    if let Err(e) = c.save() {
        // Do not leave a frozen container that the state says is running.
        let _ = cg.thaw();
        return Err(e);
    }
    Ok(0)
}
