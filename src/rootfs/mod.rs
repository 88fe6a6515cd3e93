//! The container's filesystem view, built inside its new mount namespace.
//!
//! `prepare` runs before pivot_root (mount propagation, the rootfs bind, config mounts in order,
//! devices), `pivot` switches root, and `finish` applies what must target the container's own
//! view (masked and read-only paths, sysctls, read-only root, rootfsPropagation).

pub mod copyup;
pub mod devices;
mod finish;
pub mod idmap;
pub mod mounts;
pub mod options;
pub mod sources;

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags};
use oci_spec::runtime::Spec;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub use finish::finish;
use mounts::MountContext;
use crate::kernel::Kernel;
use crate::inroot::InRoot;

pub struct RootfsConfig<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub in_userns: bool,
    pub cgroup_ns: bool,
    pub cgroup_sources: &'a [(String, PathBuf)],
    pub cgroup_unified: bool,
    /// Asks the runtime for the source of mounts[i], opened in our mount namespace as it
    /// stands when we reach the entry (rootfs::sources).
    pub request_source: &'a dyn Fn(usize) -> Result<OwnedFd>,
    /// The runtime may open plain bind sources we cannot reach: we have a user namespace and
    /// the runtime is root.
    pub ask_for_binds: bool,
    /// False for a config without a mount namespace: the mounts go into the caller's
    /// namespace (and stay there, as with runc), so its propagation is left alone and the
    /// rootfs is entered with chroot.
    pub own_mount_ns: bool,
}

fn root_propagation(spec: &Spec) -> Option<MsFlags> {
    let p = spec.linux().as_ref()?.rootfs_propagation().as_deref()?;
    crate::spec::propagation_flag(p)
}

/// Everything before pivot_root.
pub fn prepare(k: &impl Kernel, cfg: &RootfsConfig) -> Result<()> {
    if cfg.own_mount_ns {
        isolate_and_bind_rootfs(k, cfg.spec, cfg.rootfs)?;
    }

    let root = InRoot::open(cfg.rootfs)?;
    let ctx = MountContext {
        bundle: cfg.bundle,
        in_userns: cfg.in_userns,
        cgroup_ns: cfg.cgroup_ns,
        cgroup_sources: cfg.cgroup_sources,
        cgroup_unified: cfg.cgroup_unified,
        mount_label: crate::security::lsm::mount_context(cfg.spec),
    };
    let mut dev_is_bind = false;
    for (i, m) in cfg.spec.mounts().iter().flatten().enumerate() {
        if sources::init_must_ask(m, cfg.bundle, cfg.ask_for_binds) {
            let fd = (cfg.request_source)(i)?;
            if idmap::wants_idmap(m) { mounts::mount_entry_idmapped(k, &root, m, &ctx, &fd) } else { mounts::mount_entry_opened(k, &root, m, &ctx, &fd) }
        } else {
            mounts::mount_entry(k, &root, m, &ctx)
        }
        .with_context(|| format!("mounts[{i}] ({})", m.destination().display()))?;
        if m.destination() == Path::new("/dev") && options::parse(m.options().as_deref().unwrap_or(&[])).is_bind() {
            dev_is_bind = true;
        }
    }
    // With the host's /dev bound in, the devices are already there (runc makes the same call).
    if !dev_is_bind {
        let linux_devs = cfg.spec.linux().as_ref().and_then(|l| l.devices().clone()).unwrap_or_default();
        let devs: Vec<_> = devices::defaults().into_iter().chain(linux_devs.iter().map(devices::from_spec)).collect();
        devices::create_all(k, &root, &devs, cfg.in_userns)?;
        devices::symlinks(&root)?;
    }
    Ok(())
}

/// First cut our copy of the mount tree from the host's (rslave, or rootfsPropagation), so
/// nothing we mount leaks out; then bind the rootfs onto itself: pivot_root needs a mount point.
fn isolate_and_bind_rootfs(k: &impl Kernel, spec: &Spec, rootfs: &Path) -> Result<()> {
    // An unbindable tree could not bind the rootfs onto itself: until pivot_root it is rslave,
    // and `finish` applies unbindable to the container's / afterwards.
    let prop = root_propagation(spec).filter(|p| !p.contains(MsFlags::MS_UNBINDABLE)).unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    k.mount(None, Path::new("/"), None, prop | MsFlags::MS_REC, None).context("setting propagation of / in the container's mount namespace")?;
    if prop.contains(MsFlags::MS_SHARED) {
        make_parent_private(k, rootfs)?;
    }
    k.mount(Some(rootfs), rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None).with_context(|| format!("bind-mounting rootfs {} onto itself", rootfs.display()))
}

/// pivot_root needs the parent mount of the new root not to be shared.
fn make_parent_private(k: &impl Kernel, rootfs: &Path) -> Result<()> {
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    let mi = crate::sys::read_pseudo("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let best = mi
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| parent.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .unwrap_or("/")
        .to_string();
    k.mount(None, Path::new(&best), None, MsFlags::MS_PRIVATE, None).with_context(|| format!("making {best} private for pivot_root"))
}

/// Makes the prepared rootfs the container's `/`. Without a mount namespace of its own the
/// container only chroots (as runc): pivot_root would change the caller's root.
pub fn pivot(k: &impl Kernel, rootfs: &Path, no_pivot: bool, own_mount_ns: bool) -> Result<()> {
    let dot = Path::new(".");
    if !own_mount_ns || no_pivot {
        k.chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
        if own_mount_ns {
            // --no-pivot, for ramdisk hosts where pivot_root is impossible: move the rootfs
            // over / and chroot.
            k.mount(Some(dot), Path::new("/"), None, MsFlags::MS_MOVE, None).context("moving the rootfs to / (--no-pivot)")?;
        }
        k.chroot(dot).context(if own_mount_ns { "chroot . (--no-pivot)" } else { "chroot . (no mount namespace)" })?;
        return k.chdir(Path::new("/")).context("chdir /");
    }
    let old_root = nix::fcntl::open("/", nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).context("opening /")?;
    k.chdir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
    // removes it without needing a directory for it inside the rootfs.
    k.pivot_root(dot, dot)?;
    k.fchdir(old_root.as_fd()).context("fchdir to the old root")?;
    k.mount(None, dot, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None).context("making the old root a slave before unmounting it")?;
    k.umount2(dot, MntFlags::MNT_DETACH).context("unmounting the old root")?;
    k.chdir(Path::new("/")).context("chdir /")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Call, Recorder};
    use crate::inroot::InRoot;

    fn mount(source: Option<&str>, target: &str, flags: MsFlags) -> Call {
        Call::Mount { source: source.map(str::to_string), target: target.into(), fstype: None, flags }
    }

    fn spec_with_propagation(p: Option<&str>) -> Spec {
        let mut v = crate::spec::default_spec(false, 0, 0, false);
        if let Some(p) = p {
            v["linux"]["rootfsPropagation"] = p.into();
        }
        serde_json::from_value(v).unwrap()
    }

    /// Before anything is mounted, / leaves the host's peer groups (rslave by default, else
    /// rootfsPropagation, never unbindable: the rootfs bind would fail), then the rootfs is
    /// bound onto itself; a shared / first makes the rootfs's parent mount private, as
    /// pivot_root requires.
    #[test]
    fn root_propagation_is_cut_before_the_rootfs_bind() {
        let rootfs = "/b/rootfs";
        let bind = mount(Some(rootfs), rootfs, MsFlags::MS_BIND | MsFlags::MS_REC);
        for (prop, first) in [
            (None, MsFlags::MS_SLAVE | MsFlags::MS_REC),
            (Some("unbindable"), MsFlags::MS_SLAVE | MsFlags::MS_REC),
            (Some("rprivate"), MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        ] {
            let k = Recorder::default();
            isolate_and_bind_rootfs(&k, &spec_with_propagation(prop), Path::new(rootfs)).unwrap();
            assert_eq!(k.calls(), vec![mount(None, "/", first), bind.clone()], "{prop:?}");
        }
        let k = Recorder::default();
        isolate_and_bind_rootfs(&k, &spec_with_propagation(Some("rshared")), Path::new(rootfs)).unwrap();
        let calls = k.calls();
        assert_eq!(calls.len(), 3, "{calls:#?}");
        assert_eq!(calls[0], mount(None, "/", MsFlags::MS_SHARED | MsFlags::MS_REC));
        assert!(matches!(&calls[1], Call::Mount { source: None, flags, .. } if *flags == MsFlags::MS_PRIVATE), "{calls:#?}");
        assert_eq!(calls[2], bind);
    }

    /// The mounts[] of `bulkhead spec` (a v1/hybrid host: the cgroup mount is a tmpfs with a
    /// bind per hierarchy, made read-only last) in a scratch rootfs: entries in config order,
    /// each filesystem on its own destination, /dev before what lives under it.
    /// Outside a user namespace one recursive mount_setattr sets the binds' flags; in one, each
    /// bind is remounted (a flag the kernel locked needs remount_bind's retry).
    #[test]
    fn default_config_mount_sequence() {
        for in_userns in [false, true] {
            default_config_mount_sequence_in(in_userns);
        }
    }

    fn default_config_mount_sequence_in(in_userns: bool) {
        let rootfs = tempfile::tempdir().unwrap();
        let hierarchy = tempfile::tempdir().unwrap();
        let sources = vec![("memory".to_string(), hierarchy.path().to_path_buf())];
        let ctx = MountContext { bundle: rootfs.path(), in_userns, cgroup_ns: false, cgroup_sources: &sources, cgroup_unified: false, mount_label: None };
        let root = InRoot::open(rootfs.path()).unwrap();
        let k = Recorder::default();
        for m in spec_with_propagation(None).mounts().iter().flatten() {
            mounts::mount_entry(&k, &root, m, &ctx).unwrap();
        }
        let inside = |t: &str| t.strip_prefix(rootfs.path().to_str().unwrap()).unwrap_or(t).to_string();
        let got: Vec<String> = k.calls().iter().map(|c| match c {
            Call::Mount { fstype: Some(t), target, .. } => format!("{t} on {}", inside(target)),
            Call::Mount { source: Some(_), target, flags, .. } if !flags.contains(MsFlags::MS_REMOUNT) => format!("bind on {}", inside(target)),
            Call::Mount { target, flags, .. } if flags.contains(MsFlags::MS_REMOUNT) => format!("remount{} {}", if flags.contains(MsFlags::MS_RDONLY) { " ro" } else { "" }, inside(target)),
            Call::Setattr { path, recursive: true, set, .. } => format!("setattr -r{} {}", if set & options::MOUNT_ATTR_RDONLY != 0 { " ro" } else { "" }, inside(path)),
            other => panic!("unexpected {other:?}"),
        }).collect();
        let mut want = vec![
            "proc on /proc",
            "tmpfs on /dev",
            "devpts on /dev/pts",
            "tmpfs on /dev/shm",
            "mqueue on /dev/mqueue",
            "sysfs on /sys",
            "tmpfs on /sys/fs/cgroup",
            "bind on /sys/fs/cgroup/memory",
            "remount ro /sys/fs/cgroup",
            "setattr -r ro /sys/fs/cgroup",
        ];
        if in_userns {
            want.insert(8, "remount ro /sys/fs/cgroup/memory");
            want.pop();
        }
        assert_eq!(got, want, "in_userns {in_userns}");
    }

    /// A hierarchy whose name is not one new entry of the cgroup tmpfs (mounted at a nested
    /// path, or a second one of the same name) is bound the in-root way, not refused.
    #[test]
    fn cgroup_mount_binds_nested_and_repeated_names() {
        let rootfs = tempfile::tempdir().unwrap();
        let hierarchy = tempfile::tempdir().unwrap();
        let h = hierarchy.path().to_path_buf();
        let sources = vec![("memory".to_string(), h.clone()), ("name/nested".to_string(), h.clone()), ("memory".to_string(), h)];
        let ctx = MountContext { bundle: rootfs.path(), in_userns: false, cgroup_ns: false, cgroup_sources: &sources, cgroup_unified: false, mount_label: None };
        let root = InRoot::open(rootfs.path()).unwrap();
        let k = Recorder::default();
        let spec = spec_with_propagation(None);
        let cgroup = spec.mounts().iter().flatten().find(|m| m.typ().as_deref() == Some("cgroup")).unwrap();
        mounts::mount_entry(&k, &root, cgroup, &ctx).unwrap();
        let inside = |t: &str| t.strip_prefix(rootfs.path().to_str().unwrap()).unwrap_or(t).to_string();
        let binds: Vec<String> = k.calls().iter().filter_map(|c| match c {
            Call::Mount { source: Some(_), target, flags, fstype: None } if !flags.contains(MsFlags::MS_REMOUNT) => Some(inside(target)),
            _ => None,
        }).collect();
        assert_eq!(binds, ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/name/nested", "/sys/fs/cgroup/memory"]);
    }

    /// The whole of `prepare` for `bulkhead spec`'s config: the device nodes are made on the
    /// container's /dev tmpfs, so after it is mounted (else they would land under it, hidden),
    /// each chowned as the config says; in a user namespace the host's nodes are bound instead.
    #[test]
    fn prepare_makes_devices_on_the_dev_mount() {
        for in_userns in [false, true] {
            let rootfs = tempfile::tempdir().unwrap();
            let spec = spec_with_propagation(None);
            let cfg = RootfsConfig {
                spec: &spec,
                rootfs: rootfs.path(),
                bundle: rootfs.path(),
                in_userns,
                cgroup_ns: false,
                cgroup_sources: &[],
                cgroup_unified: false,
                request_source: &|i| panic!("mounts[{i}] needs no source from the runtime"),
                ask_for_binds: false,
                own_mount_ns: true,
            };
            let k = Recorder::default();
            prepare(&k, &cfg).unwrap();
            let dev = format!("{}/dev", rootfs.path().display());
            let dev_mount = k.position("the /dev tmpfs", |c| matches!(c, Call::Mount { fstype: Some(t), target, .. } if t == "tmpfs" && *target == dev));
            let nodes: Vec<(usize, String)> = k.calls().into_iter().enumerate().filter_map(|(i, c)| match c {
                Call::Mknod { path, .. } => Some((i, path)),
                Call::Mount { source: Some(s), target, flags, .. } if s.starts_with("/dev/") && flags == MsFlags::MS_BIND => Some((i, target)),
                _ => None,
            }).collect();
            let names: Vec<String> = nodes.iter().map(|(_, p)| p.strip_prefix(&dev).unwrap_or(p).to_string()).collect();
            assert_eq!(names, ["/null", "/zero", "/full", "/random", "/urandom", "/tty"], "in_userns {in_userns}: {:#?}", k.calls());
            assert!(nodes.iter().all(|(i, _)| *i > dev_mount), "in_userns {in_userns}: a device before the /dev mount: {:#?}", k.calls());
            let chowns = k.calls().iter().filter(|c| matches!(c, Call::Chown { uid: 0, gid: 0, .. })).count();
            assert_eq!(chowns, if in_userns { 0 } else { 6 });
        }
    }

    /// pivot_root(".", ".") inside the rootfs, then the old root (stacked on top, reached by
    /// fchdir) is made a slave and detached, so nothing of the host stays reachable.
    #[test]
    fn pivot_root_then_detach_the_old_root() {
        let k = Recorder::default();
        pivot(&k, Path::new("/b/rootfs"), false, true).unwrap();
        assert_eq!(k.calls(), vec![
            Call::Chdir("/b/rootfs".into()),
            Call::PivotRoot { new_root: ".".into(), put_old: ".".into() },
            Call::Chdir("/".into()),
            mount(None, ".", MsFlags::MS_SLAVE | MsFlags::MS_REC),
            Call::Umount { target: ".".into(), flags: MntFlags::MNT_DETACH },
            Call::Chdir("/".into()),
        ]);
    }

    /// --no-pivot: the rootfs is moved over / (MS_MOVE), then chroot.
    #[test]
    fn no_pivot_moves_the_rootfs_then_chroots() {
        let k = Recorder::default();
        pivot(&k, Path::new("/b/rootfs"), true, true).unwrap();
        assert_eq!(k.calls(), vec![
            Call::Chdir("/b/rootfs".into()),
            mount(Some("."), "/", MsFlags::MS_MOVE),
            Call::Chroot(".".into()),
            Call::Chdir("/".into()),
        ]);
    }

    /// Without a mount namespace: chroot only (pivot_root or MS_MOVE would change the caller's
    /// namespace), whatever --no-pivot says.
    #[test]
    fn no_mount_namespace_only_chroots() {
        for no_pivot in [false, true] {
            let k = Recorder::default();
            pivot(&k, Path::new("/b/rootfs"), no_pivot, false).unwrap();
            assert_eq!(k.calls(), vec![Call::Chdir("/b/rootfs".into()), Call::Chroot(".".into()), Call::Chdir("/".into())]);
        }
    }
}
