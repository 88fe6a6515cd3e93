//! Mounting one `mounts[]` entry inside the rootfs.

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use oci_spec::runtime::Mount;
use std::path::{Path, PathBuf};

use super::options::{self, MountOptions};
use super::paths::{fd_path, InRoot, Kind};

/// What a mount needs to know beyond the entry itself.
pub struct MountContext<'a> {
    pub bundle: &'a Path,
    pub in_userns: bool,
    pub cgroup_ns: bool,
    /// (name under the cgroup mount, host dir) for each hierarchy; from the cgroup manager.
    pub cgroup_sources: &'a [(String, PathBuf)],
    /// Pure cgroup v2 host: the cgroup mount is a cgroup2 filesystem.
    pub cgroup_unified: bool,
}

/// Flags that a bind remount must keep: in a user namespace the kernel refuses to clear
/// "locked" flags of the source mount.
fn locked_flags(target: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(target) else { return MsFlags::empty() };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut m = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::from_bits_retain(0x1000 /* ST_RELATIME; nix lacks it on musl */), MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            m |= ms;
        }
    }
    m
}

/// Flags that only mean something to the remount of a bind mount.
fn remount_flags(o: &MountOptions) -> MsFlags {
    o.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
}

pub fn mount_entry(root: &InRoot, m: &Mount, ctx: &MountContext) -> Result<()> {
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    if opts.tmpcopyup {
        crate::debug!("mount {}: tmpcopyup is not supported, ignored", dest.display());
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(root, dest, &opts, ctx);
    }
    if opts.is_bind() || typ == "bind" {
        let src = m.source().as_ref().with_context(|| format!("bind mount {} has no source", dest.display()))?;
        let src = if src.is_absolute() { src.clone() } else { ctx.bundle.join(src) };
        return bind(root, &src, dest, &opts, ctx.in_userns);
    }
    // proc and sysfs targets may not be symlinks: a planted /proc -> / would otherwise put a
    // writable procfs over the rootfs's root.
    let strict = matches!(typ, "proc" | "sysfs");
    let target = root.resolve_create(dest, Kind::Dir, strict)?;
    let source = m.source().as_ref().map(|s| s.as_path()).unwrap_or(Path::new(typ)).to_path_buf();
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    let flags = opts.flags & !MsFlags::MS_REMOUNT;
    match mount(Some(&source), &fd_path(&target), Some(typ), flags, data) {
        Ok(()) => {}
        // Without its own network namespace a user namespace may not mount sysfs (and likewise
        // mqueue without an IPC namespace): bind the host's instead, as runc does.
        Err(nix::errno::Errno::EPERM) if matches!(typ, "sysfs" | "mqueue") => {
            let host = if typ == "sysfs" { "/sys" } else { "/dev/mqueue" };
            let mut o = MountOptions { flags: opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC, ..Default::default() };
            o.propagation = opts.propagation.clone();
            return bind(root, Path::new(host), dest, &o, ctx.in_userns);
        }
        Err(e) => bail!("mounting {typ} on {}: {e}", root.display(dest)),
    }
    apply_propagation(root, dest, &opts)
}

/// A bind mount, then (if asked) a remount that applies ro/nosuid/nodev/noexec/atime flags,
/// which the kernel ignores on the bind call itself.
pub fn bind(root: &InRoot, src: &Path, dest: &Path, opts: &MountOptions, in_userns: bool) -> Result<()> {
    let meta = std::fs::metadata(src).with_context(|| format!("bind source {}", src.display()))?;
    let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
    let target = root.resolve_create(dest, kind, false)?;
    let rec = opts.flags & MsFlags::MS_REC;
    mount(Some(src), &fd_path(&target), None::<&str>, MsFlags::MS_BIND | rec, None::<&str>)
        .with_context(|| format!("bind-mounting {} on {}", src.display(), root.display(dest)))?;
    let extra = remount_flags(opts);
    if !extra.is_empty() {
        // The old handle names the covered directory; look the path up again to reach the mount.
        let mounted = root.resolve(dest, false).with_context(|| format!("reopening {}", root.display(dest)))?;
        let path = fd_path(&mounted);
        let keep = if in_userns { locked_flags(&path) } else { MsFlags::empty() };
        mount(None::<&str>, &path, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra | keep | rec, None::<&str>)
            .with_context(|| format!("remounting {} with {:?}", root.display(dest), extra))?;
    }
    apply_propagation(root, dest, opts)
}

fn apply_propagation(root: &InRoot, dest: &Path, opts: &MountOptions) -> Result<()> {
    for p in &opts.propagation {
        let fd = root.resolve(dest, false).with_context(|| format!("reopening {}", root.display(dest)))?;
        mount(None::<&str>, &fd_path(&fd), None::<&str>, *p, None::<&str>)
            .with_context(|| format!("setting propagation {p:?} on {}", root.display(dest)))?;
    }
    Ok(())
}

/// The `cgroup` mount: on v2 a cgroup2 filesystem (inside a cgroup namespace it shows the
/// container's cgroup as its root), else the container's own cgroup dir bound there; on v1 a
/// tmpfs holding a bind of the container's dir in every hierarchy.
fn mount_cgroup(root: &InRoot, dest: &Path, opts: &MountOptions, ctx: &MountContext) -> Result<()> {
    let flags = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if ctx.cgroup_unified {
        if ctx.cgroup_ns {
            let target = root.resolve_create(dest, Kind::Dir, false)?;
            mount(Some("cgroup2"), &fd_path(&target), Some("cgroup2"), flags, None::<&str>)
                .with_context(|| format!("mounting cgroup2 on {}", root.display(dest)))?;
            return Ok(());
        }
        let src = ctx.cgroup_sources.first().map(|s| s.1.clone()).context("no cgroup2 hierarchy found")?;
        let o = MountOptions { flags: flags | MsFlags::MS_BIND, ..Default::default() };
        return bind(root, &src, dest, &o, ctx.in_userns);
    }
    let target = root.resolve_create(dest, Kind::Dir, false)?;
    let ro = flags & MsFlags::MS_RDONLY;
    mount(Some("tmpfs"), &fd_path(&target), Some("tmpfs"), flags & !MsFlags::MS_RDONLY, Some("mode=755"))
        .with_context(|| format!("mounting tmpfs for cgroups on {}", root.display(dest)))?;
    for (name, src) in ctx.cgroup_sources {
        let o = MountOptions { flags: flags | MsFlags::MS_BIND, ..Default::default() };
        bind(root, src, &dest.join(name), &o, ctx.in_userns)?;
    }
    if !ro.is_empty() {
        let fd = root.resolve(dest, false)?;
        mount(None::<&str>, &fd_path(&fd), None::<&str>, flags | MsFlags::MS_REMOUNT, Some("mode=755"))
            .with_context(|| format!("remounting {} read-only", root.display(dest)))?;
    }
    Ok(())
}
