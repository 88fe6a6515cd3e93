//! Mounting one `mounts[]` entry inside the rootfs.

use anyhow::{bail, Context, Result};
use nix::mount::MsFlags;
use oci_spec::runtime::Mount;
use std::path::{Path, PathBuf};

use super::options::{self, MountOptions};
use crate::inroot::{fd_path, InRoot, Kind};
use crate::kernel::Kernel;

/// What a mount needs to know beyond the entry itself.
pub struct MountContext<'a> {
    pub bundle: &'a Path,
    pub in_userns: bool,
    pub cgroup_ns: bool,
    /// (name under the cgroup mount, host dir) for each hierarchy; from the cgroup manager.
    pub cgroup_sources: &'a [(String, PathBuf)],
    /// Pure cgroup v2 host: the cgroup mount is a cgroup2 filesystem.
    pub cgroup_unified: bool,
    /// `context="<linux.mountLabel>"` (SELinux hosts only; lsm::validate refuses it elsewhere).
    pub mount_label: Option<String>,
}

/// The flags a mount has (statvfs), as mount(2) flags. No atime mode shown is strictatime
/// (MS_STRICTATIME is not a mount flag the kernel reports), as runc's statfsToMountFlags.
/// The raw `f_flag` is read: nix's `FsFlags` has no ST_RELATIME on musl and drops the bit,
/// which made every relatime mount (the kernel's default) look strictatime in the static
/// binary, and a user namespace's bind remount re-applied the wrong atime mode (EPERM).
fn mount_flags_of(target: &Path) -> MsFlags {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(target.as_os_str().as_bytes()) else { return MsFlags::empty() };
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: a NUL-terminated path and a buffer of the struct's size.
    if unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return MsFlags::empty();
    }
    // SAFETY: statvfs filled it (and it started zeroed).
    flags_of_statvfs(unsafe { st.assume_init() }.f_flag)
}

const ST_RELATIME: libc::c_ulong = 0x1000;

fn flags_of_statvfs(f: libc::c_ulong) -> MsFlags {
    let mut m = MsFlags::empty();
    for (st, ms) in [
        (libc::ST_NOSUID, MsFlags::MS_NOSUID),
        (libc::ST_NODEV, MsFlags::MS_NODEV),
        (libc::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (libc::ST_RDONLY, MsFlags::MS_RDONLY),
        (libc::ST_NOATIME, MsFlags::MS_NOATIME),
        (libc::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f & st != 0 {
            m |= ms;
        }
    }
    if !m.intersects(MsFlags::MS_NOATIME | MsFlags::MS_RELATIME) {
        m |= MsFlags::MS_STRICTATIME;
    }
    m
}

/// The atime flags; in a user namespace the kernel locks them as one.
const ATIME: MsFlags = MsFlags::MS_NOATIME.union(MsFlags::MS_RELATIME).union(MsFlags::MS_STRICTATIME).union(MsFlags::MS_NODIRATIME);
/// The flags the kernel locks on a mount a user namespace inherits (MNT_LOCK_*).
const LOCKABLE: MsFlags = MsFlags::MS_RDONLY.union(MsFlags::MS_NODEV).union(MsFlags::MS_NOEXEC).union(MsFlags::MS_NOSUID).union(ATIME);

/// Flags that a bind remount must keep: in a user namespace the kernel refuses to clear
/// "locked" flags of the source mount.
pub(super) fn locked_flags(target: &Path) -> MsFlags {
    mount_flags_of(target) & LOCKABLE
}

fn flag_names(f: MsFlags) -> String {
    f.iter_names().map(|(n, _)| n).collect::<Vec<_>>().join("|")
}

/// Entries below /proc that may be mounted over (what lxcfs emulates), as runc allows.
const VALID_PROC_MOUNTS: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

fn on_procfs(fd: &impl std::os::fd::AsFd) -> bool {
    nix::sys::statfs::fstatfs(fd).map(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC).unwrap_or(false)
}

/// runc's checkProcMount, applied both to the destination as written and to where it really
/// resolved: nothing may be mounted inside /proc except the lxcfs files, and /proc itself
/// only takes a procfs. A destination that *resolves* into a procfs (a symlink swapped in by
/// a container sharing a volume, pointing at /proc/1/... or /proc/sys/...) is refused: a
/// mount there could redirect later /proc/self/fd/N paths or writes (CVE-2025-52881).
fn check_proc_dest(dest: &Path, target: &std::os::fd::OwnedFd, proc_source: bool) -> Result<()> {
    let clean: PathBuf = Path::new("/").join(dest.components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect::<PathBuf>());
    if clean == Path::new("/proc") {
        if proc_source {
            return Ok(());
        }
        bail!("{} cannot be mounted because it is not of type proc", dest.display());
    }
    let allowed = VALID_PROC_MOUNTS.iter().any(|v| clean == Path::new(v));
    if clean.starts_with("/proc") && !allowed {
        bail!("{} cannot be mounted because it is inside /proc", dest.display());
    }
    if on_procfs(target) && !allowed {
        bail!("{} resolves to a file inside procfs (a symlink on the way?); refusing to mount there", dest.display());
    }
    Ok(())
}

/// The remount of a bind that applies the options' flags. In a user namespace the kernel
/// refuses (EPERM) to clear a flag it locked from the source mount, or to change its atime
/// mode: as runc 1.5, the flags the options leave alone are then kept from the source and the
/// remount retried, while options that clear a locked flag, or ask for another atime mode,
/// are refused (a mount that silently differs from the request fails later, far from here).
fn remount_bind(k: &impl Kernel, path: &Path, opts: &MountOptions, in_userns: bool) -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | remount_flags(opts) | (opts.flags & MsFlags::MS_REC);
    let first = match k.mount(None, path, None, flags, None) {
        Err(nix::errno::Errno::EPERM) if in_userns => nix::errno::Errno::EPERM,
        r => return r.map_err(Into::into),
    };
    let locked = locked_flags(path);
    let cannot = o_cleared(opts) & locked;
    if !cannot.is_empty() {
        bail!("cannot clear locked flags {}: {first}", flag_names(cannot));
    }
    let asked = opts.flags & ATIME;
    if !asked.is_empty() && asked != locked & ATIME {
        bail!("cannot change locked atime flags {}: {first}", flag_names(locked & ATIME));
    }
    k.mount(None, path, None, flags | locked, None).with_context(|| format!("remount with locked flags {} re-applied", flag_names(locked)))
}

/// Flags the options explicitly clear ("rw", "suid", "dev", "exec", "atime"...).
fn o_cleared(o: &MountOptions) -> MsFlags {
    o.cleared
}

/// Flags that only mean something to the remount of a bind mount.
fn remount_flags(o: &MountOptions) -> MsFlags {
    o.flags.difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
}

/// A read-only tmpfs or /dev is mounted read-write and made read-only in rootfs::finish, as
/// runc does: the mounts below it (/dev/pts, /dev/shm...) and the device nodes need their
/// mountpoints created first.
pub fn ro_deferred(m: &Mount) -> bool {
    let dest: PathBuf = m.destination().components().filter(|c| matches!(c, std::path::Component::Normal(_))).collect();
    (m.typ().as_deref() == Some("tmpfs") || dest == Path::new("dev")) && options::parse(m.options().as_deref().unwrap_or(&[])).flags.contains(MsFlags::MS_RDONLY)
}

/// The read-only remount [`ro_deferred`] put off, with the entry's other flags (a bind
/// remount: the kernel allows it in a user namespace as long as no locked flag is cleared).
pub fn remount_deferred_ro(k: &impl Kernel, root: &InRoot, m: &Mount) -> Result<()> {
    let opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    let fd = root.resolve(m.destination(), false).context("resolving")?;
    let path = fd_path(&fd);
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | remount_flags(&opts) | locked_flags(&path);
    k.mount(None, &path, None, flags, None).context("remounting read-only")
}

/// The entry's options as the mount call gets them (without a deferred read-only flag).
fn entry_options(m: &Mount) -> MountOptions {
    let mut opts = options::parse(m.options().as_deref().unwrap_or(&[]));
    if ro_deferred(m) {
        opts.flags.remove(MsFlags::MS_RDONLY);
    }
    opts
}

pub fn mount_entry(k: &impl Kernel, root: &InRoot, m: &Mount, ctx: &MountContext) -> Result<()> {
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = entry_options(m);
    if opts.tmpcopyup && typ != "tmpfs" {
        bail!("tmpcopyup: only a tmpfs can be copied up (type is {typ:?})");
    }
    if typ == "cgroup" || typ == "cgroup2" {
        if opts.has_rec_attrs() {
            bail!("recursive mount options (rro, rnosuid...) are not supported on the cgroup mount");
        }
        return mount_cgroup(k, root, dest, &opts, ctx);
    }
    if opts.is_bind() || typ == "bind" {
        return bind(k, root, &entry_source(m, ctx)?, dest, &opts, ctx.in_userns);
    }
    // proc and sysfs targets may not be symlinks: a planted /proc -> / would otherwise put a
    // writable procfs over the rootfs's root.
    let strict = matches!(typ, "proc" | "sysfs");
    // runc's words for it, which scripts match.
    let target = match root.resolve_create(dest, Kind::Dir, strict) {
        Err(e) if strict => return Err(e.context(format!("filesystem {typ:?} must be mounted on ordinary directory"))),
        r => r?,
    };
    check_proc_dest(dest, &target, typ == "proc")?;
    let source = m.source().as_ref().map(|s| s.as_path()).unwrap_or(Path::new(typ)).to_path_buf();
    // As runc's FormatMountLabel: the SELinux context of every filesystem mount but proc/sysfs.
    let mut data = opts.data.clone();
    if let Some(ctx_label) = ctx.mount_label.as_deref().filter(|_| !matches!(typ, "proc" | "sysfs" | "mqueue")) {
        data = if data.is_empty() { ctx_label.to_string() } else { format!("{data},{ctx_label}") };
    }
    let data = (!data.is_empty()).then_some(data.as_str());
    // difference, not `& !`: bitflags' `!` drops bits nix does not name (MS_NOSYMFOLLOW).
    let mut flags = opts.flags.difference(MsFlags::MS_REMOUNT);
    // tmpcopyup: keep a handle on the covered directory; a read-only tmpfs is filled first.
    let lower = opts.tmpcopyup.then(|| super::copyup::open_lower(&target)).transpose()?;
    if lower.is_some() {
        flags.remove(MsFlags::MS_RDONLY);
    }
    match k.mount(Some(&source), &fd_path(&target), Some(typ), flags, data) {
        Ok(()) => {}
        // Without its own network namespace a user namespace may not mount sysfs (and likewise
        // mqueue without an IPC namespace): bind the host's instead, as runc does.
        Err(nix::errno::Errno::EPERM) if matches!(typ, "sysfs" | "mqueue") => {
            let host = if typ == "sysfs" { "/sys" } else { "/dev/mqueue" };
            let mut o = MountOptions { flags: opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC, ..Default::default() };
            o.propagation = opts.propagation.clone();
            (o.rec_set, o.rec_clr) = (opts.rec_set, opts.rec_clr);
            return bind(k, root, Path::new(host), dest, &o, ctx.in_userns);
        }
        Err(e) => bail!("mounting {typ} on {}: {e}", root.display(dest)),
    }
    if let Some(lower) = lower {
        copy_up(k, root, dest, &lower, &opts, data)?;
    }
    set_rec_attrs(root, dest, &opts)?;
    apply_propagation(k, root, dest, &opts)
}

/// tmpcopyup: fill the new tmpfs from the directory it covers, then make it read-only if
/// the options asked for that.
fn copy_up(k: &impl Kernel, root: &InRoot, dest: &Path, lower: &std::os::fd::OwnedFd, opts: &MountOptions, data: Option<&str>) -> Result<()> {
    let upper = root.resolve(dest, false).with_context(|| format!("reopening {}", root.display(dest)))?;
    let upper_dir = super::copyup::open_lower(&upper)?;
    super::copyup::copy_tree(lower, &upper_dir).with_context(|| format!("tmpcopyup on {}", root.display(dest)))?;
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        k.mount(None, &fd_path(&upper), None, opts.flags.difference(MsFlags::MS_BIND) | MsFlags::MS_REMOUNT, data)
            .with_context(|| format!("remounting {} read-only after tmpcopyup", root.display(dest)))?;
    }
    Ok(())
}

/// `rro`, `rnosuid`, `rnoatime`...: mount_setattr(AT_RECURSIVE) on the mount now at `dest`,
/// which reaches the submounts of an rbind too (a plain remount does not).
fn set_rec_attrs(root: &InRoot, dest: &Path, opts: &MountOptions) -> Result<()> {
    if !opts.has_rec_attrs() {
        return Ok(());
    }
    let fd = root.resolve(dest, false).with_context(|| format!("reopening {}", root.display(dest)))?;
    crate::sys::mount_setattr(std::os::fd::AsRawFd::as_raw_fd(&fd), true, opts.rec_set, opts.rec_clr, None).map_err(|e| {
        let why = if e.raw_os_error() == Some(libc::ENOSYS) { " (kernel older than 5.12)" } else { "" };
        anyhow::anyhow!("mount_setattr(AT_RECURSIVE, set={:#x}, clear={:#x}) on {}: {e}{why}", opts.rec_set, opts.rec_clr, root.display(dest))
    })
}

/// A bind mount, then (if asked) a remount that applies ro/nosuid/nodev/noexec/atime flags,
/// which the kernel ignores on the bind call itself.
pub fn bind(k: &impl Kernel, root: &InRoot, src: &Path, dest: &Path, opts: &MountOptions, in_userns: bool) -> Result<()> {
    let src_fd = open_source(src)?;
    bind_prepared(k, root, src, &src_fd, dest, opts, in_userns, None)
}

/// One O_PATH handle for every look at the source and for the mount itself: opening it for
/// real could block (a FIFO) or act (a device), and a second lookup by path could meet a
/// different file.
fn open_source(src: &Path) -> Result<std::os::fd::OwnedFd> {
    crate::sys::openat2(libc::AT_FDCWD, src, libc::O_PATH, 0, 0).with_context(|| format!("bind source {}", src.display()))
}

fn entry_source(m: &Mount, ctx: &MountContext) -> Result<PathBuf> {
    let src = m.source().as_ref().with_context(|| format!("bind mount {} has no source", m.destination().display()))?;
    Ok(if src.is_absolute() { src.clone() } else { ctx.bundle.join(src) })
}

/// A bind entry whose source the runtime opened (rootfs::sources): `src_fd` is used instead
/// of a lookup the container's root may not be allowed to make.
pub fn mount_entry_opened(k: &impl Kernel, root: &InRoot, m: &Mount, ctx: &MountContext, src_fd: &std::os::fd::OwnedFd) -> Result<()> {
    let opts = entry_options(m);
    bind_prepared(k, root, &entry_source(m, ctx)?, src_fd, m.destination(), &opts, ctx.in_userns, None)
}

/// An entry with uidMappings/gidMappings: the idmapped mount made by the runtime
/// (rootfs::idmap) is attached instead of a fresh bind; the rest is as for any bind. The
/// detached mount is also what is looked at (file or directory): the source's path may be
/// out of the init's reach.
pub fn mount_entry_idmapped(k: &impl Kernel, root: &InRoot, m: &Mount, ctx: &MountContext, fd: &std::os::fd::OwnedFd) -> Result<()> {
    let opts = entry_options(m);
    bind_prepared(k, root, &entry_source(m, ctx)?, fd, m.destination(), &opts, ctx.in_userns, Some(fd))
}

#[allow(clippy::too_many_arguments)]
fn bind_prepared(k: &impl Kernel, root: &InRoot, src: &Path, src_fd: &std::os::fd::OwnedFd, dest: &Path, opts: &MountOptions, in_userns: bool, idmapped: Option<&std::os::fd::OwnedFd>) -> Result<()> {
    let meta = nix::sys::stat::fstat(src_fd).with_context(|| format!("bind source {}", src.display()))?;
    let kind = if meta.st_mode & libc::S_IFMT == libc::S_IFDIR { Kind::Dir } else { Kind::File };
    let target = root.resolve_create(dest, kind, false)?;
    check_proc_dest(dest, &target, on_procfs(src_fd))?;
    let rec = opts.flags & MsFlags::MS_REC;
    match idmapped {
        Some(fd) => super::idmap::attach(fd, &target).with_context(|| format!("attaching the idmapped mount of {} on {}", src.display(), root.display(dest)))?,
        None => k.mount(Some(&fd_path(src_fd)), &fd_path(&target), None, MsFlags::MS_BIND | rec, None)
            .with_context(|| format!("bind-mounting {} on {}", src.display(), root.display(dest)))?,
    }
    // As runc 1.5 ("mount --bind -o ..."): any flag option, set or cleared, remounts with
    // exactly those flags; none keeps the source's.
    if !remount_flags(opts).is_empty() || !o_cleared(opts).is_empty() {
        // The old handle names the covered directory; look the path up again to reach the mount.
        let mounted = root.resolve(dest, false).with_context(|| format!("reopening {}", root.display(dest)))?;
        remount_bind(k, &fd_path(&mounted), opts, in_userns).with_context(|| format!("setting the requested flags on bind mount {}", root.display(dest)))?;
    }
    set_rec_attrs(root, dest, opts)?;
    apply_propagation(k, root, dest, opts)
}

fn apply_propagation(k: &impl Kernel, root: &InRoot, dest: &Path, opts: &MountOptions) -> Result<()> {
    for p in &opts.propagation {
        let fd = root.resolve(dest, false).with_context(|| format!("reopening {}", root.display(dest)))?;
        k.mount(None, &fd_path(&fd), None, *p, None)
            .with_context(|| format!("setting propagation {p:?} on {}", root.display(dest)))?;
    }
    Ok(())
}

/// The `cgroup` mount: on v2 a cgroup2 filesystem (inside a cgroup namespace it shows the
/// container's cgroup as its root), else the container's own cgroup dir bound there; on v1 a
/// tmpfs holding a bind of the container's dir in every hierarchy.
fn mount_cgroup(k: &impl Kernel, root: &InRoot, dest: &Path, opts: &MountOptions, ctx: &MountContext) -> Result<()> {
    let flags = opts.flags.difference(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if ctx.cgroup_unified {
        if ctx.cgroup_ns {
            let target = root.resolve_create(dest, Kind::Dir, false)?;
            check_proc_dest(dest, &target, false)?;
            k.mount(Some(Path::new("cgroup2")), &fd_path(&target), Some("cgroup2"), flags, None)
                .with_context(|| format!("mounting cgroup2 on {}", root.display(dest)))?;
            return Ok(());
        }
        let src = ctx.cgroup_sources.first().map(|s| s.1.clone()).context("no cgroup2 hierarchy found")?;
        let o = MountOptions { flags: flags | MsFlags::MS_BIND, ..Default::default() };
        return bind(k, root, &src, dest, &o, ctx.in_userns);
    }
    let target = root.resolve_create(dest, Kind::Dir, false)?;
    check_proc_dest(dest, &target, false)?;
    let ro = flags & MsFlags::MS_RDONLY;
    k.mount(Some(Path::new("tmpfs")), &fd_path(&target), Some("tmpfs"), flags.difference(MsFlags::MS_RDONLY), Some("mode=755"))
        .with_context(|| format!("mounting tmpfs for cgroups on {}", root.display(dest)))?;
    // Outside a user namespace the binds get their flags from one recursive mount_setattr at
    // the end instead of a remount each (a dozen hierarchies: a dozen mounts and lookups
    // fewer); in one, a flag the kernel locked needs remount_bind's retry, bind by bind.
    let each = if ctx.in_userns { flags } else { MsFlags::empty() };
    let tmpfs = root.resolve(dest, false).with_context(|| format!("reopening {}", root.display(dest)))?;
    for (name, src) in ctx.cgroup_sources {
        if !bind_hierarchy(k, &tmpfs, name, src, each, ctx.in_userns).with_context(|| format!("bind-mounting {} on {}", src.display(), root.display(&dest.join(name))))? {
            let o = MountOptions { flags: each | MsFlags::MS_BIND, ..Default::default() };
            bind(k, root, src, &dest.join(name), &o, ctx.in_userns)?;
        }
    }
    if !ro.is_empty() {
        k.mount(None, &fd_path(&tmpfs), None, flags | MsFlags::MS_REMOUNT, Some("mode=755"))
            .with_context(|| format!("remounting {} read-only", root.display(dest)))?;
    }
    if !ctx.in_userns && !ctx.cgroup_sources.is_empty() {
        set_bind_flags(k, root, dest, flags, ctx.cgroup_sources)?;
    }
    Ok(())
}

/// One hierarchy's cgroup dir bound on `name`, a new directory in the cgroup tmpfs mounted a
/// moment ago: mkdirat, an O_NOFOLLOW handle on what it made (a joined or shared mount
/// namespace lets others reach the tmpfs), and the mount onto that handle, instead of a
/// `mounts[]` bind's in-root lookups, procfs checks and source handle (~12 syscalls, ~25 us
/// per hierarchy). `flags` (in a user namespace only) are applied by a remount. Ok(false):
/// `name` is not one new entry (empty, nested, or met twice); the caller binds the slow way.
fn bind_hierarchy(k: &impl Kernel, tmpfs: &std::os::fd::OwnedFd, name: &str, src: &Path, flags: MsFlags, in_userns: bool) -> Result<bool> {
    use nix::fcntl::{openat, OFlag};
    if name.is_empty() || name.contains('/') {
        return Ok(false);
    }
    match nix::sys::stat::mkdirat(tmpfs, name, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        Err(nix::errno::Errno::EEXIST) => return Ok(false),
        r => r.context("mkdirat")?,
    }
    let dir = openat(tmpfs, name, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).context("opening the new directory")?;
    let at = fd_path(&dir);
    k.mount(Some(src), &at, None, MsFlags::MS_BIND, None)?;
    if !flags.is_empty() {
        // The first handle names the covered directory; a new one reaches the bind.
        let mounted = openat(tmpfs, name, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty()).context("reopening the bind")?;
        remount_bind(k, &fd_path(&mounted), &MountOptions { flags: flags | MsFlags::MS_BIND, ..Default::default() }, in_userns).context("setting the mount's flags")?;
    }
    Ok(true)
}

/// `flags` on every bind under the cgroup tmpfs `dest`, as a remount of each would leave them:
/// one mount_setattr(AT_RECURSIVE), or (kernel older than 5.12) the remounts.
fn set_bind_flags(k: &impl Kernel, root: &InRoot, dest: &Path, flags: MsFlags, sources: &[(String, PathBuf)]) -> Result<()> {
    let fd = root.resolve(dest, false).with_context(|| format!("reopening {}", root.display(dest)))?;
    let (set, clr) = remount_attrs(flags);
    match k.mount_setattr(std::os::fd::AsFd::as_fd(&fd), true, set, clr) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {}
        r => return r.with_context(|| format!("mount_setattr(AT_RECURSIVE, set={set:#x}, clear={clr:#x}) on {}", root.display(dest))),
    }
    let o = MountOptions { flags: flags | MsFlags::MS_BIND, ..Default::default() };
    for (name, _) in sources {
        let d = dest.join(name);
        let fd = root.resolve(&d, false).with_context(|| format!("reopening {}", root.display(&d)))?;
        remount_bind(k, &fd_path(&fd), &o, false).with_context(|| format!("setting the requested flags on bind mount {}", root.display(&d)))?;
    }
    Ok(())
}

/// The MOUNT_ATTR_* (set, clear) that leave a mount as MS_REMOUNT|MS_BIND with `flags` does:
/// a flag not given is cleared, and the atime mode is strictatime, noatime or else relatime.
fn remount_attrs(flags: MsFlags) -> (u64, u64) {
    use super::options::*;
    let bits = [
        (MsFlags::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (MsFlags::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (MsFlags::MS_NODEV, MOUNT_ATTR_NODEV),
        (MsFlags::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (MsFlags::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
    ];
    let (mut set, mut clr) = (0, MOUNT_ATTR__ATIME);
    for (f, a) in bits {
        if flags.contains(f) { set |= a } else { clr |= a }
    }
    set |= if flags.contains(MsFlags::MS_STRICTATIME) {
        MOUNT_ATTR_STRICTATIME
    } else if flags.contains(MsFlags::MS_NOATIME) {
        MOUNT_ATTR_NOATIME
    } else {
        MOUNT_ATTR_RELATIME
    };
    (set, clr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// runc's default cgroup mount flags, and the atime modes.
    #[test]
    fn remount_flags_as_mount_attributes() {
        use super::super::options::*;
        let (set, clr) = remount_attrs(MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME);
        assert_eq!(set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_RELATIME);
        assert_eq!(clr, MOUNT_ATTR__ATIME | MOUNT_ATTR_NODIRATIME);
        let (set, clr) = remount_attrs(MsFlags::MS_NOATIME | MsFlags::MS_NODIRATIME);
        assert_eq!(set, MOUNT_ATTR_NOATIME | MOUNT_ATTR_NODIRATIME);
        assert_eq!(clr, MOUNT_ATTR__ATIME | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
        assert_eq!(remount_attrs(MsFlags::MS_STRICTATIME | MsFlags::MS_NOATIME).0, MOUNT_ATTR_STRICTATIME);
    }

    #[test]
    fn statvfs_atime_modes_as_mount_flags() {
        let relatime = flags_of_statvfs(ST_RELATIME | libc::ST_NOSUID | libc::ST_NODEV | libc::ST_NOEXEC);
        assert_eq!(relatime & LOCKABLE, MsFlags::MS_RELATIME | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
        assert_eq!(flags_of_statvfs(libc::ST_NOATIME) & ATIME, MsFlags::MS_NOATIME);
        assert_eq!(flags_of_statvfs(libc::ST_RDONLY) & LOCKABLE, MsFlags::MS_RDONLY | MsFlags::MS_STRICTATIME);
    }
}
