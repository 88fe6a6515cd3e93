//! `--no-pivot` in a user namespace: the host's procfs and sysfs must not let the container
//! mount a fresh proc or a writable sysfs.
//!
//! A user namespace may mount proc or sysfs only where its mount namespace already holds a
//! "fully visible" one (the kernel's mount_too_revealing): the filesystem's root mounted, no
//! *locked* mount (one inherited from a more privileged namespace) covering anything but an
//! empty directory, and no read-only flag it could not drop itself. After pivot_root the
//! host's mounts are detached, and only the container's own /proc and /sys count (its /sys is
//! read-only, so a read-write sysfs is refused). After --no-pivot's MS_MOVE + chroot the
//! host's mounts stay in the container's mount namespace, out of sight but counted, so a
//! container with CAP_SYS_ADMIN in its user namespace could mount a read-write sysfs.
//!
//! runc (msMoveRoot) unmounts them from inside the container's namespaces, or covers them with
//! a tmpfs where that fails. In a user namespace it always fails: the copies of the host's
//! mounts are locked (EINVAL), and runc's own tmpfs is not, so the kernel ignores it: runc
//! 1.1.5 still mounts both (checked on this host). The container's own /proc and /sys need
//! the host's to be mountable at all, so the host's can only go once those are mounted.
//!
//! So the joiner clones the init from a mount namespace of its own (owned by the runtime's
//! user namespace, a slave of the host's, shared with its copies): the init's mount namespace
//! follows it as a slave. Once the init is set up, the runtime unmounts the host's proc and
//! sysfs there, and the kernel propagates the unmount into the init's namespace, clearing the
//! locks as it goes (an unmount propagated from the namespace a mount came from may reveal
//! what is under it). That needs the init's / to stay a slave: linux.rootfsPropagation other
//! than slave/rslave is refused with --no-pivot in a user namespace.

use anyhow::{Context, Result, bail};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Whether the create needs this: --no-pivot, a new mount namespace, a user namespace for the
/// container (new or joined), and a runtime that is root of the host. A runtime without that
/// (rootless, or uid 0 of a user namespace) could not detach the host's mounts, nor give the
/// container more than its caller can get with `unshare -Urmpn` and a sysfs mount.
pub fn needed(no_pivot: bool, new_mount_ns: bool, userns: bool, host_root: bool) -> bool {
    no_pivot && new_mount_ns && userns && host_root
}

/// Refuses a linux.rootfsPropagation that cuts the init's mount namespace from the one the
/// unmounts come from.
pub fn check_propagation(spec: &Spec) -> Result<()> {
    let p = spec.linux().as_ref().and_then(|l| l.rootfs_propagation().clone());
    match p.as_deref() {
        None | Some("slave") | Some("rslave") => Ok(()),
        Some(other) => bail!(
            "linux.rootfsPropagation: {other:?} cannot be used with --no-pivot in a user namespace: the host's /proc and /sys are detached from the container's mount namespace through slave propagation (use rslave, or drop --no-pivot)"
        ),
    }
}

/// In the joiner, before it clones the init: a mount namespace of its own, a slave of the
/// host's (nothing flows back), shared (the init's copies follow it). Returns its handle for
/// the runtime.
pub fn enter_shared_ns() -> Result<OwnedFd> {
    unshare(CloneFlags::CLONE_NEWNS).context("--no-pivot: unshare(CLONE_NEWNS) before the clone")?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>).context("--no-pivot: making / a slave mount")?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SHARED | MsFlags::MS_REC, None::<&str>).context("--no-pivot: making / a shared mount")?;
    let fd = nix::fcntl::open("/proc/self/ns/mnt", nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).context("--no-pivot: opening /proc/self/ns/mnt")?;
    Ok(fd)
}

/// In the runtime, once the init has mounted its own /proc and /sys: unmount the host's full
/// proc and sysfs mounts outside `rootfs` in `ns` (from [`enter_shared_ns`]), which removes
/// them from the init's mount namespace too; then back to the runtime's own.
pub fn detach_host_pseudofs(ns: &OwnedFd, rootfs: &Path) -> Result<()> {
    let ours = std::fs::File::open("/proc/self/ns/mnt").context("opening /proc/self/ns/mnt")?;
    let cwd = std::fs::File::open(".").context("opening the current directory")?;
    setns(ns, CloneFlags::CLONE_NEWNS).context("--no-pivot: setns into the init's parent mount namespace")?;
    let result = (|| -> Result<()> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
        // Deepest first, so a mount is never gone with one above it before its turn.
        for mp in full_pseudofs_mounts(&mountinfo, rootfs).iter().rev() {
            umount2(mp, MntFlags::MNT_DETACH).map_err(|e| {
                let why = if e == nix::errno::Errno::EINVAL { " (locked: the runtime itself runs in a user namespace; drop --no-pivot)" } else { "" };
                anyhow::anyhow!("unmounting the host's {} from the container's mount namespace: {}{why}", mp.display(), e.desc())
            })?;
        }
        Ok(())
    })();
    // Coming back must not fail silently: everything after would act on the other view.
    setns(&ours, CloneFlags::CLONE_NEWNS).context("setns back into the runtime's mount namespace")?;
    nix::unistd::fchdir(&cwd).context("returning to the current directory")?;
    result.context("--no-pivot")
}

/// The mount points of full proc and sysfs mounts (the filesystem's root mounted) outside
/// `rootfs`, in mountinfo order. Paths are compared by components: /rootfs2 is not inside
/// /rootfs (runc compares strings).
pub fn full_pseudofs_mounts(mountinfo: &str, rootfs: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let pre: Vec<&str> = pre.split(' ').collect();
        let Some(fstype) = post.split(' ').next() else { continue };
        if pre.len() < 5 || pre[3] != "/" || !matches!(fstype, "proc" | "sysfs") {
            continue;
        }
        let mountpoint = PathBuf::from(crate::cgroups::layout::unescape(pre[4]));
        if !mountpoint.starts_with(rootfs) {
            out.push(mountpoint);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 22 0:23 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw
30 27 0:21 /self /run/not-full rw - proc proc rw
31 27 0:40 / /bundle/rootfs/proc rw - proc proc rw
32 27 0:41 / /bundle/rootfs2/proc rw - proc proc rw
33 27 0:42 / /bundle/rootfs rw - sysfs sysfs rw
34 27 0:43 / /with\\040space rw - sysfs sysfs rw
35 27 0:44 / /tmp rw - tmpfs tmpfs rw
";

    #[test]
    fn full_mounts_outside_the_rootfs_by_components() {
        let got = full_pseudofs_mounts(MOUNTINFO, Path::new("/bundle/rootfs"));
        let want: Vec<PathBuf> = ["/proc", "/sys", "/bundle/rootfs2/proc", "/with space"].iter().map(PathBuf::from).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn only_slave_propagation_goes_with_it() {
        let spec = |p: &str| -> Spec { serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2", "linux": {"rootfsPropagation": p}})).unwrap() };
        assert!(check_propagation(&spec("rslave")).is_ok());
        assert!(check_propagation(&spec("slave")).is_ok());
        let e = check_propagation(&spec("rprivate")).unwrap_err().to_string();
        assert!(e.contains("linux.rootfsPropagation") && e.contains("--no-pivot"), "{e}");
        assert!(check_propagation(&spec("shared")).is_err());
    }
}
