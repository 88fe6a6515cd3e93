//! Bind sources opened by the runtime, for a container with a new user namespace (runc's
//! mountFds). Its root is an unprivileged uid on the host: a source under a 0700 host
//! directory (a Kubernetes user-namespaced pod's volumes) is out of its reach. So, before the
//! init starts its mounts, the runtime enters the init's mount namespace (a copy of the
//! host's, not yet changed), opens each bind source there with O_PATH as host root, and hands
//! the fds over; the init binds `/proc/self/fd/N`, which needs no search permission on the
//! path. Opened in the init's own mount namespace, the mounts are ones the init may bind
//! (an fd on a mount of another namespace would be refused), and the kernel still locks the
//! source's flags as for any bind made in the user namespace.

use anyhow::{Context, Result};
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// (mounts[] index, absolute source) of every plain bind mount (idmapped ones have their own
/// host-side preparation).
pub fn binds(spec: &Spec, bundle: &Path) -> Vec<(usize, PathBuf)> {
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let typ = m.typ().as_deref().unwrap_or("");
        if super::idmap::wants_idmap(m) || typ == "cgroup" || typ == "cgroup2" {
            continue;
        }
        let opts = super::options::parse(m.options().as_deref().unwrap_or(&[]));
        if let Some(src) = m.source().as_ref().filter(|_| opts.is_bind() || typ == "bind") {
            out.push((i, if src.is_absolute() { src.clone() } else { bundle.join(src) }));
        }
    }
    out
}

/// Opens `sources` (O_PATH) inside the mount namespace of `pid` and returns to our own. A
/// source that cannot be opened is left out: the init opens it itself and reports the error
/// with the mount's index.
pub fn open_in_mount_ns(pid: i32, sources: &[(usize, PathBuf)]) -> Result<Vec<(usize, OwnedFd)>> {
    use nix::sched::{setns, CloneFlags};
    let ours = std::fs::File::open("/proc/self/ns/mnt").context("opening /proc/self/ns/mnt")?;
    let cwd = std::fs::File::open(".").context("opening the current directory")?;
    let theirs = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).with_context(|| format!("opening /proc/{pid}/ns/mnt"))?;
    setns(&theirs, CloneFlags::CLONE_NEWNS).context("setns into the init's mount namespace")?;
    let fds = sources.iter().filter_map(|(i, p)| crate::sys::openat2(libc::AT_FDCWD, p, libc::O_PATH, 0, 0).ok().map(|fd| (*i, fd))).collect();
    // Coming back must not fail silently: everything after would act on the container's view.
    setns(&ours, CloneFlags::CLONE_NEWNS).context("setns back into the runtime's mount namespace")?;
    nix::unistd::fchdir(&cwd).context("returning to the current directory")?;
    Ok(fds)
}
