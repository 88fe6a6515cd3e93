//! A cgroup directory and its descendants: every pid in them, and removing them children
//! first.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};

use super::resources::errtext;

/// All pids in `dir` and its descendants.
pub(super) fn collect_procs(dir: &Path, out: &mut Vec<i32>) -> io::Result<()> {
    match crate::sys::read_pseudo(dir.join("cgroup.procs")) {
        Ok(s) => out.extend(s.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_procs(&e.path(), out)?;
        }
    }
    Ok(())
}

/// rmdir a cgroup directory and its child cgroups (children first); missing is fine;
/// EBUSY (tasks still exiting) is retried for a while.
pub(super) fn remove_cgroup_tree(dir: &Path) -> Result<()> {
    // Most cgroups have no children: one rmdir, without listing the dozens of control files.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(anyhow!("reading {}: {}", dir.display(), errtext(&e))),
    };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&e.path())?;
        }
    }
    let mut delay = Duration::from_millis(10);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            Err(e) => {
                return Err(anyhow!(
                    "removing cgroup {}: {}",
                    dir.display(),
                    errtext(&e)
                ));
            }
        }
    }
}
