//! `finish`: what must target the container's own view, after the root switch: sysctls,
//! read-only paths, masked paths, deferred read-only mounts, the read-only root,
//! rootfsPropagation, in runc's order (pinned by the tests below through kernel::Recorder).

use anyhow::{bail, Context, Result};
use nix::mount::MsFlags;
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::mounts;
use crate::inroot::{fd_path, InRoot};
use crate::kernel::Kernel;

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
pub fn finish(k: &impl Kernel, spec: &Spec, own_mount_ns: bool) -> Result<()> {
    let root = InRoot::open(Path::new("/"))?;
    if !own_mount_ns {
        return write_sysctls(k, spec, &root);
    }
    let linux = spec.linux().as_ref();
    // Masked and read-only paths are mounted through /proc/self/fd/N: verify once that it
    // leads to our own fds. Nothing below mounts over /proc/self, and nothing of the
    // container runs yet, so one check covers them all (it costs ~9 syscalls).
    let any = |v: Option<&Vec<String>>| v.is_some_and(|v| !v.is_empty());
    if any(linux.and_then(|l| l.masked_paths().as_ref())) || any(linux.and_then(|l| l.readonly_paths().as_ref())) {
        crate::procfs::check_fd_paths(&root)?;
    }
    // runc's order: sysctls while /proc/sys is still writable, then read-only, then masked.
    write_sysctls(k, spec, &root)?;
    for p in linux.and_then(|l| l.readonly_paths().as_ref()).into_iter().flatten() {
        readonly(k, &root, Path::new(p)).with_context(|| format!("linux.readonlyPaths: {p}"))?;
    }
    if let Some(masked) = linux.and_then(|l| l.masked_paths().as_ref()).filter(|m| !m.is_empty()) {
        let mut masker = Masker { k, root: &root, devnull: open_devnull(&root).context("linux.maskedPaths")?, shared_dir: None, bind_failed: false, seen: Vec::new() };
        for p in masked {
            masker.mask(Path::new(p)).with_context(|| format!("linux.maskedPaths: {p}"))?;
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate().filter(|(_, m)| mounts::ro_deferred(m)) {
        mounts::remount_deferred_ro(k, &root, m).with_context(|| format!("mounts[{i}] ({})", m.destination().display()))?;
    }
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        let keep = locked_by_statfs(Path::new("/"));
        k.mount(None, Path::new("/"), None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep, None).context("root.readonly: remounting / read-only")?;
    }
    if let Some(p) = super::root_propagation(spec) {
        k.mount(None, Path::new("/"), None, p, None).context("linux.rootfsPropagation")?;
    }
    Ok(())
}

/// The flags a read-only bind remount must keep (as runc's readonlyPath: nosuid, nodev and
/// noexec of the mount; in a user namespace the kernel refuses to clear them).
fn locked_by_statfs(path: &Path) -> MsFlags {
    mounts::locked_flags(path) & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC)
}

/// maskedPaths as runc 1.5: files get the container's /dev/null bound over them; directories
/// share one read-only tmpfs (the first one mounted, bound over the others: one tmpfs per
/// container instead of one per path); a path listed twice is masked once.
struct Masker<'a, K: Kernel> {
    k: &'a K,
    root: &'a InRoot,
    devnull: OwnedFd,
    /// The first masked directory, reopened on its tmpfs: the others are bound from it (until
    /// a bind fails: then each gets a tmpfs of its own, as runc falls back).
    shared_dir: Option<OwnedFd>,
    bind_failed: bool,
    /// Lexically clean paths masked so far.
    seen: Vec<PathBuf>,
}

impl<K: Kernel> Masker<'_, K> {
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
            return self.k.mount(Some(&fd_path(&self.devnull)), &fd_path(&target), None, MsFlags::MS_BIND, None).context("binding /dev/null over it");
        }
        if let Some(shared) = &self.shared_dir {
            // A bind keeps the source mount's read-only flag.
            match self.k.mount(Some(&fd_path(shared)), &fd_path(&target), None, MsFlags::MS_BIND, None) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    crate::warn!("maskedPaths: binding the shared read-only tmpfs over {} failed ({e}); one tmpfs per directory from here on", p.display());
                    self.shared_dir = None;
                    self.bind_failed = true;
                }
            }
        }
        self.k.mount(Some(Path::new("tmpfs")), &fd_path(&target), Some("tmpfs"), MsFlags::MS_RDONLY, None).context("mounting a read-only tmpfs over it")?;
        if self.shared_dir.is_none() && !self.bind_failed {
            self.shared_dir = self.root.resolve(p, true).ok();
        }
        Ok(())
    }
}

fn readonly(k: &impl Kernel, root: &InRoot, p: &Path) -> Result<()> {
    let target = match root.resolve(p, true) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e).context("resolving"),
    };
    let path = fd_path(&target);
    k.mount(Some(&path), &path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None).context("bind-mounting onto itself")?;
    let mounted = root.resolve(p, true).context("reopening")?;
    let mpath = fd_path(&mounted);
    let keep = locked_by_statfs(&mpath);
    k.mount(None, &mpath, None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC | keep, None).context("remounting read-only")
}

fn write_sysctls(k: &impl Kernel, spec: &Spec, root: &InRoot) -> Result<()> {
    for (key, v) in spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()).into_iter().flatten() {
        write_sysctl(k, root, key, v).with_context(|| format!("linux.sysctl {key}={v}"))?;
    }
    Ok(())
}

/// Writes a sysctl through a handle verified to be on the container's /proc mount itself, so
/// a mount planted over /proc/sys/... cannot redirect the write (CVE-2025-52881).
fn write_sysctl(k: &impl Kernel, root: &InRoot, key: &str, value: &str) -> Result<()> {
    if key.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
        bail!("invalid sysctl name");
    }
    let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    k.write_proc(root, &path, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Call, Recorder};

    /// `bulkhead spec`'s maskedPaths and readonlyPaths, a sysctl and a read-only root, finished
    /// on the test's own `/` (the Recorder mounts nothing; whatever of those paths this host
    /// lacks is skipped, as in a container).
    fn representative() -> Spec {
        let mut v = crate::spec::default_spec(false, 0, 0, false);
        v["root"]["readonly"] = true.into();
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        serde_json::from_value(v).unwrap()
    }

    /// The step of `finish` a recorded call belongs to.
    fn step(spec: &Spec, c: &Call) -> u8 {
        let linux = spec.linux().as_ref().unwrap();
        let listed = |l: &Option<Vec<String>>, t: &str| l.iter().flatten().any(|p| p == t);
        match c {
            Call::WriteProc { .. } => 0,
            Call::Mount { target, .. } if listed(linux.readonly_paths(), target) => 1,
            Call::Mount { target, .. } if listed(linux.masked_paths(), target) => 2,
            Call::Mount { target, flags, .. } if target == "/" && flags.contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY) => 3,
            other => panic!("unexpected call {other:?}"),
        }
    }

    /// runc's order: sysctls while /proc/sys is still writable, then readonlyPaths, then
    /// maskedPaths, then the read-only root.
    #[test]
    fn sysctl_then_readonly_then_masked_then_readonly_root() {
        let spec = representative();
        let k = Recorder::default();
        finish(&k, &spec, true).unwrap();
        let steps: Vec<u8> = k.calls().iter().map(|c| step(&spec, c)).collect();
        assert!(steps.is_sorted(), "steps {steps:?} out of order: {:#?}", k.calls());
        for s in [0, 1, 2, 3] {
            assert!(steps.contains(&s), "step {s} missing: {:#?}", k.calls());
        }
        assert_eq!(k.calls()[0], Call::WriteProc { path: "/proc/sys/net/ipv4/ip_forward".into(), value: "1".into() });
        // A read-only path is bound onto itself, then remounted read-only.
        let ro: Vec<_> = k.calls().into_iter().filter(|c| step(&spec, c) == 1).take(2).collect();
        assert!(matches!(&ro[0], Call::Mount { source: Some(s), target, flags, .. } if s == target && *flags == MsFlags::MS_BIND | MsFlags::MS_REC), "{ro:?}");
        assert!(matches!(&ro[1], Call::Mount { source: None, flags, .. } if flags.contains(MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)), "{ro:?}");
    }

    /// A masked file gets the container's /dev/null bound over it.
    #[test]
    fn masked_file_is_covered_by_dev_null() {
        let spec = representative();
        let k = Recorder::default();
        finish(&k, &spec, true).unwrap();
        let kcore = Call::Mount { source: Some("/dev/null".into()), target: "/proc/kcore".into(), fstype: None, flags: MsFlags::MS_BIND };
        if Path::new("/proc/kcore").exists() {
            assert!(k.calls().contains(&kcore), "{:#?}", k.calls());
        }
    }

    /// Without a mount namespace of its own, only the sysctls apply (validate refuses the rest).
    #[test]
    fn without_a_mount_namespace_only_sysctls() {
        let k = Recorder::default();
        finish(&k, &representative(), false).unwrap();
        assert_eq!(k.calls(), vec![Call::WriteProc { path: "/proc/sys/net/ipv4/ip_forward".into(), value: "1".into() }]);
    }
}
