//! `run`: create + start. Detached it returns at once; in the foreground it stays as the
//! container's subreaper, forwards signals, relays the terminal when there is one, and exits
//! with the container's status (128+N for a signal), deleting the container unless --keep.

use anyhow::Result;
use std::os::fd::AsRawFd;

use crate::cli::{CreateArgs, Global};
use crate::process::foreground::{attach, block_signals};
use crate::state::Root;

pub fn run(g: &Global, id: &str, opts: &CreateArgs, detach: bool, keep: bool) -> Result<i32> {
    if detach {
        let console = opts.console_socket.as_deref().map(crate::console::connect).transpose()?;
        let mut c = super::create::create(g, id, opts, console)?;
        if let Err(e) = super::start::start_locked(&mut c) {
            drop(c);
            remove(g, id);
            return Err(e);
        }
        return Ok(0);
    }

    // Orphans of the container (and an init cloned by a joiner process) come back to us.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    // Block the signals we forward before the init exists, so none is lost; the init
    // restores an empty mask before exec.
    let sigfd = block_signals()?;

    crate::state::validate_id(id)?;
    let bundle = crate::spec::Bundle::load(&opts.bundle)?;
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let (ours, theirs) = if terminal && opts.console_socket.is_none() {
        let (a, b) = crate::console::relay_pair()?;
        (Some(a), Some(b))
    } else {
        (None, opts.console_socket.as_deref().map(crate::console::connect).transpose()?)
    };
    let mut c = super::create::create_from(g, id, opts, bundle, theirs)?;
    let pid = c.state().pid;
    let master = match ours.as_ref().map(|s| crate::console::recv_fd(s.as_raw_fd())).transpose() {
        Ok(m) => m,
        Err(e) => {
            drop(c);
            remove(g, id);
            return Err(e);
        }
    };
    // Started as created, still locked: no second read of the state just written.
    let started = super::start::start_locked(&mut c);
    drop(c);
    if let Err(e) = started {
        remove(g, id);
        return Err(e);
    }
    let code = attach(pid, &sigfd, master.as_ref());
    crate::trace::mark("wait");
    if !keep {
        remove(g, id);
    }
    code
}

fn remove(g: &Global, id: &str) {
    if let Ok(mut c) = Root::new(&g.root).open_locked(id)
        && let Err(e) = super::delete::delete(&mut c, true) {
            crate::warn!("removing container {id}: {e:#}");
        }
}
