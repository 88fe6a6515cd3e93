//! The container's filesystem view, built inside its new mount namespace.
//!
//! `prepare` runs before pivot_root (mount propagation, the rootfs bind, config mounts in order,
//! devices), `pivot` switches root, and `finish` applies what must target the container's own
//! view (masked and read-only paths, sysctls, read-only root, rootfsPropagation).

pub mod copyup;
pub mod devices;
pub mod idmap;
pub mod mounts;
pub mod options;
pub mod sources;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use mounts::MountContext;
use crate::inroot::{fd_path, InRoot};

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
pub fn prepare(cfg: &RootfsConfig) -> Result<()> {
    // An unbindable tree could not bind the rootfs onto itself: until pivot_root it is rslave,
    // and `finish` applies unbindable to the container's / afterwards.
    let prop = root_propagation(cfg.spec)
        .filter(|p| !p.contains(MsFlags::MS_UNBINDABLE))
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    if cfg.own_mount_ns {
        // First cut our copy of the mount tree from the host's, so nothing we mount leaks out.
        mount(None::<&str>, "/", None::<&str>, prop | MsFlags::MS_REC, None::<&str>).context("setting propagation of / in the container's mount namespace")?;
        if prop.contains(MsFlags::MS_SHARED) {
            make_parent_private(cfg.rootfs)?;
        }
        // pivot_root needs the rootfs to be a mount point.
        mount(Some(cfg.rootfs), cfg.rootfs, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
            .with_context(|| format!("bind-mounting rootfs {} onto itself", cfg.rootfs.display()))?;
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
            if idmap::wants_idmap(m) { mounts::mount_entry_idmapped(&root, m, &ctx, &fd) } else { mounts::mount_entry_opened(&root, m, &ctx, &fd) }
        } else {
            mounts::mount_entry(&root, m, &ctx)
        }
        .with_context(|| format!("mounts[{i}] ({})", m.destination().display()))?;
        if m.destination() == Path::new("/dev") && options::parse(m.options().as_deref().unwrap_or(&[])).is_bind() {
            dev_is_bind = true;
        }
    }
    // With the host's /dev bound in, the devices are already there (runc makes the same call).
    if !dev_is_bind {
        let linux_devs = cfg.spec.linux().as_ref().and_then(|l| l.devices().clone()).unwrap_or_default();
        for d in devices::defaults().iter().chain(linux_devs.iter().map(devices::from_spec).collect::<Vec<_>>().iter()) {
            devices::create(&root, d, cfg.in_userns).with_context(|| format!("device {}", d.path.display()))?;
        }
        devices::symlinks(&root)?;
    }
    Ok(())
}

/// pivot_root needs the parent mount of the new root not to be shared.
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    let mi = std::fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    let best = mi
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| parent.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .unwrap_or("/")
        .to_string();
    mount(None::<&str>, best.as_str(), None::<&str>, MsFlags::MS_PRIVATE, None::<&str>).with_context(|| format!("making {best} private for pivot_root"))
}

/// Makes the prepared rootfs the container's `/`. Without a mount namespace of its own the
/// container only chroots (as runc): pivot_root would change the caller's root.
pub fn pivot(rootfs: &Path, no_pivot: bool, own_mount_ns: bool) -> Result<()> {
    if !own_mount_ns {
        std::env::set_current_dir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
        nix::unistd::chroot(".").context("chroot . (no mount namespace)")?;
        std::env::set_current_dir("/").context("chdir /")?;
        return Ok(());
    }
    if no_pivot {
        // For ramdisk hosts where pivot_root is impossible: move the rootfs over / and chroot.
        std::env::set_current_dir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>).context("moving the rootfs to / (--no-pivot)")?;
        nix::unistd::chroot(".").context("chroot . (--no-pivot)")?;
        std::env::set_current_dir("/").context("chdir /")?;
        return Ok(());
    }
    let old_root = nix::fcntl::open("/", nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).context("opening /")?;
    std::env::set_current_dir(rootfs).with_context(|| format!("chdir {}", rootfs.display()))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
    // removes it without needing a directory for it inside the rootfs.
    crate::sys::pivot_root(Path::new("."), Path::new("."))?;
    nix::unistd::fchdir(&old_root).context("fchdir to the old root")?;
    mount(None::<&str>, ".", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>).context("making the old root a slave before unmounting it")?;
    umount2(".", MntFlags::MNT_DETACH).context("unmounting the old root")?;
    std::env::set_current_dir("/").context("chdir /")?;
    Ok(())
}

/// The container's /dev/null, opened without following symlinks and checked to be the real 1:3
/// device, so masking cannot be turned into a bind of something else (CVE-2025-31133). (The
/// host's /dev/null cannot be used: after pivot_root its mount is detached, and the kernel
/// refuses detached mounts as bind sources.)
fn open_devnull(root: &InRoot) -> Result<OwnedFd> {
    let fd = root.resolve(Path::new("/dev/null"), true).context("opening /dev/null in the container")?;
    let st = nix::sys::stat::fstat(&fd).context("fstat /dev/null")?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        bail!("/dev/null in the container is not the 1:3 character device; refusing to use it for maskedPaths");
    }
    Ok(fd)
}

/// After pivot_root: masked paths, sysctls, read-only paths, read-only root, rootfsPropagation.
/// Without a mount namespace only the sysctls apply (spec::validate refuses the rest).
pub fn finish(spec: &Spec, own_mount_ns: bool) -> Result<()> {
    let root = InRoot::open(Path::new("/"))?;
    if !own_mount_ns {
        return write_sysctls(spec, &root);
    }
    let linux = spec.linux().as_ref();
    // Masked and read-only paths are mounted through /proc/self/fd/N: verify once that it
    // leads to our own fds. Nothing below mounts over /proc/self, and nothing of the
    // container runs yet, so one check covers them all (it costs ~9 syscalls).
    let any = |v: Option<&Vec<String>>| v.is_some_and(|v| !v.is_empty());
    if any(linux.and_then(|l| l.masked_paths().as_ref())) || any(linux.and_then(|l| l.readonly_paths().as_ref())) {
        crate::security::procfs::check_fd_paths(&root)?;
    }
    // runc's order: sysctls while /proc/sys is still writable, then read-only, then masked.
    write_sysctls(spec, &root)?;
    for p in linux.and_then(|l| l.readonly_paths().as_ref()).into_iter().flatten() {
        readonly(&root, Path::new(p)).with_context(|| format!("linux.readonlyPaths: {p}"))?;
    }
    if let Some(masked) = linux.and_then(|l| l.masked_paths().as_ref()).filter(|m| !m.is_empty()) {
        let mut masker = Masker { root: &root, devnull: open_devnull(&root).context("linux.maskedPaths")?, shared_dir: None, bind_failed: false, seen: Vec::new() };
        for p in masked {
            masker.mask(Path::new(p)).with_context(|| format!("linux.maskedPaths: {p}"))?;
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate().filter(|(_, m)| mounts::ro_deferred(m)) {
        mounts::remount_deferred_ro(&root, m).with_context(|| format!("mounts[{i}] ({})", m.destination().display()))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        let keep = mounts_locked("/");
        mount(None::<&str>, "/", None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep, None::<&str>).context("root.readonly: remounting / read-only")?;
    }
    if let Some(p) = root_propagation(spec) {
        mount(None::<&str>, "/", None::<&str>, p, None::<&str>).context("linux.rootfsPropagation")?;
    }
    Ok(())
}

fn mounts_locked(path: &str) -> MsFlags {
    use nix::sys::statvfs::FsFlags;
    let Ok(st) = nix::sys::statvfs::statvfs(path) else { return MsFlags::empty() };
    let mut m = MsFlags::empty();
    for (fs, ms) in [(FsFlags::ST_NOSUID, MsFlags::MS_NOSUID), (FsFlags::ST_NODEV, MsFlags::MS_NODEV), (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC)] {
        if st.flags().contains(fs) {
            m |= ms;
        }
    }
    m
}

/// maskedPaths as runc 1.5: files get the container's /dev/null bound over them; directories
/// share one read-only tmpfs (the first one mounted, bound over the others: one tmpfs per
/// container instead of one per path); a path listed twice is masked once.
struct Masker<'a> {
    root: &'a InRoot,
    devnull: OwnedFd,
    /// The first masked directory, reopened on its tmpfs: the others are bound from it (until
    /// a bind fails: then each gets a tmpfs of its own, as runc falls back).
    shared_dir: Option<OwnedFd>,
    bind_failed: bool,
    /// Lexically clean paths masked so far.
    seen: Vec<PathBuf>,
}

impl Masker<'_> {
    fn mask(&mut self, p: &Path) -> Result<()> {
        let clean: PathBuf = p.components().collect();
        if self.seen.contains(&clean) {
            return Ok(());
        }
        let target = match self.root.resolve(p, true) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(e).context("resolving"),
        };
        self.seen.push(clean);
        let st = nix::sys::stat::fstat(&target).context("fstat")?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return mount(Some(&fd_path(&self.devnull)), &fd_path(&target), None::<&str>, MsFlags::MS_BIND, None::<&str>).context("binding /dev/null over it");
        }
        if let Some(shared) = &self.shared_dir {
            // A bind keeps the source mount's read-only flag.
            match mount(Some(&fd_path(shared)), &fd_path(&target), None::<&str>, MsFlags::MS_BIND, None::<&str>) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    crate::warn!("maskedPaths: binding the shared read-only tmpfs over {} failed ({e}); one tmpfs per directory from here on", p.display());
                    self.shared_dir = None;
                    self.bind_failed = true;
                }
            }
        }
        mount(Some("tmpfs"), &fd_path(&target), Some("tmpfs"), MsFlags::MS_RDONLY, None::<&str>).context("mounting a read-only tmpfs over it")?;
        if self.shared_dir.is_none() && !self.bind_failed {
            self.shared_dir = self.root.resolve(p, true).ok();
        }
        Ok(())
    }
}

fn readonly(root: &InRoot, p: &Path) -> Result<()> {
    let target = match root.resolve(p, true) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e).context("resolving"),
    };
    let path = fd_path(&target);
    mount(Some(&path), &path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>).context("bind-mounting onto itself")?;
    let mounted = root.resolve(p, true).context("reopening")?;
    let mpath = fd_path(&mounted);
    let keep = mounts_locked(&mpath.to_string_lossy());
    mount(None::<&str>, &mpath, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC | keep, None::<&str>).context("remounting read-only")
}

fn write_sysctls(spec: &Spec, root: &InRoot) -> Result<()> {
    for (k, v) in spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()).into_iter().flatten() {
        write_sysctl(root, k, v).with_context(|| format!("linux.sysctl {k}={v}"))?;
    }
    Ok(())
}

/// Writes a sysctl through a handle verified to be on the container's /proc mount itself, so
/// a mount planted over /proc/sys/... cannot redirect the write (CVE-2025-52881).
fn write_sysctl(root: &InRoot, key: &str, value: &str) -> Result<()> {
    if key.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
        bail!("invalid sysctl name");
    }
    let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    crate::security::procfs::write_verified(root, &path, value)
}
