//! Mount sources the runtime opens for the init, when the init reaches the entry (runc's mount
//! source requests, procMountPlease):
//!
//! - an idmapped bind (rootfs::idmap): always; mount_setattr(MOUNT_ATTR_IDMAP) needs
//!   CAP_SYS_ADMIN over the source filesystem, which a container's user namespace lacks;
//! - a plain bind, in a container with a user namespace, whose source the init cannot stat:
//!   its root is an unprivileged uid on the host, and a source under a 0700 host directory (a
//!   Kubernetes user-namespaced pod's volumes) is out of its reach.
//!
//! The init asks with the entry's index (sync MountRequest); the runtime enters the init's
//! mount namespace, opens the source there (O_PATH, or an idmapped open_tree copy) as host
//! root, returns to its own and sends the fd back. Asked only then, the lookup sees every
//! entry mounted before this one: a source inside the rootfs is found through a tmpfs or bind
//! mounted earlier over its path, as runc (mount order matters). Opened in the init's own
//! mount namespace, the mount is one the init may bind (an fd on a mount of another namespace
//! would be refused), and the kernel still locks the source's flags (and its submounts: a
//! non-recursive copy of a directory with mounts below it is refused) as for any bind made in
//! the user namespace.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Mount, Spec};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The entry's source as the host names it (relative to the bundle if not absolute).
fn source_path(m: &Mount, bundle: &Path) -> Result<PathBuf> {
    let src = m.source().as_ref().with_context(|| format!("bind mount {} has no source", m.destination().display()))?;
    Ok(if src.is_absolute() { src.clone() } else { bundle.join(src) })
}

fn is_bind(m: &Mount) -> bool {
    let typ = m.typ().as_deref().unwrap_or("");
    if typ == "cgroup" || typ == "cgroup2" {
        return false;
    }
    typ == "bind" || super::options::parse(m.options().as_deref().unwrap_or(&[])).is_bind()
}

/// Before anything is cloned: every idmapped entry is one the runtime can make (runc's
/// checkIDMapMounts), so a refusal names the entry without a half-made container.
pub fn check(spec: &Spec) -> Result<()> {
    for (i, m) in spec.mounts().iter().flatten().enumerate().filter(|(_, m)| super::idmap::wants_idmap(m)) {
        super::idmap::check(m).with_context(|| format!("mounts[{i}] ({}): idmapped mount", m.destination().display()))?;
    }
    Ok(())
}

/// In the init, on reaching mounts[`i`]: whether to ask the runtime for its source. `may_ask`:
/// the container has a user namespace and the runtime is root (a rootless runtime can open no
/// more than the init can, as runc).
pub fn init_must_ask(m: &Mount, bundle: &Path, may_ask: bool) -> bool {
    if super::idmap::wants_idmap(m) {
        return true;
    }
    may_ask && is_bind(m) && source_path(m, bundle).is_ok_and(|p| nix::sys::stat::stat(&p).is_err())
}

/// In the runtime, on the init's request: mounts[`index`]'s source, opened in the mount
/// namespace of the init `pid` as it stands now.
pub fn serve(pid: i32, spec: &Spec, bundle: &Path, index: usize) -> Result<OwnedFd> {
    let m = spec.mounts().as_ref().and_then(|v| v.get(index)).with_context(|| format!("the init asked for the source of mounts[{index}], which the config does not have"))?;
    let r = (|| {
        let src = source_path(m, bundle)?;
        if super::idmap::wants_idmap(m) {
            super::idmap::check(m)?;
            // Made before entering: the throw-away child needs nothing of the init's view.
            let userns = super::idmap::userns_for(m, spec)?;
            return in_mount_ns(pid, || super::idmap::tree(m, &src, &userns)).context("idmapped mount");
        }
        if !is_bind(m) {
            bail!("not a bind mount: the runtime opens only bind sources");
        }
        in_mount_ns(pid, || crate::sys::openat2(libc::AT_FDCWD, &src, libc::O_PATH | libc::O_CLOEXEC, 0, 0).with_context(|| format!("bind source {}", src.display())))
    })();
    r.with_context(|| format!("mounts[{index}] ({}): opening the source for the container", m.destination().display()))
}

/// Runs `f` inside the mount namespace of `pid` and returns to our own (and our cwd).
fn in_mount_ns<T>(pid: i32, f: impl FnOnce() -> Result<T>) -> Result<T> {
    use nix::sched::{setns, CloneFlags};
    let ours = std::fs::File::open("/proc/self/ns/mnt").context("opening /proc/self/ns/mnt")?;
    let cwd = std::fs::File::open(".").context("opening the current directory")?;
    let theirs = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).with_context(|| format!("opening /proc/{pid}/ns/mnt"))?;
    setns(&theirs, CloneFlags::CLONE_NEWNS).context("setns into the init's mount namespace")?;
    let r = f();
    // Coming back must not fail silently: everything after would act on the container's view.
    setns(&ours, CloneFlags::CLONE_NEWNS).context("setns back into the runtime's mount namespace")?;
    nix::unistd::fchdir(&cwd).context("returning to the current directory")?;
    r
}
