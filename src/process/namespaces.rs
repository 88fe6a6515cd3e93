//! Which namespaces the container gets: new ones (clone flags), joined ones (setns on a path),
//! and the two that must be made later by the init itself (cgroup: after it joined its
//! cgroup; time: by unshare before the clone, since clone(2) cannot take CLONE_NEWTIME).

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::kernel::Kernel;

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

#[derive(Debug)]
pub struct Plan {
    /// New namespaces created by the clone of the init.
    pub clone_flags: CloneFlags,
    /// Namespaces to join, in the order to join them (user first).
    pub joins: Vec<(LinuxNamespaceType, PathBuf)>,
    pub new_user: bool,
    pub new_cgroup: bool,
    pub new_time: bool,
    pub user: bool,
    pub mount: bool,
    /// The container lives in a user namespace: its own, or the one the runtime runs in
    /// (podman rootless, `unshare -r`). Devices are then bound, not mknod'ed, locked mount
    /// flags kept, and setgroups asked first. Decided by the parent
    /// (security::rootless::in_userns).
    pub in_userns: bool,
}

impl Plan {
    pub fn from_spec(spec: &Spec) -> Plan {
        let mut p = Plan { clone_flags: CloneFlags::empty(), joins: Vec::new(), new_user: false, new_cgroup: false, new_time: false, user: false, mount: false, in_userns: false };
        let nss = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
        for ns in &nss {
            let t = ns.typ();
            if t == LinuxNamespaceType::User {
                p.user = true;
            }
            if t == LinuxNamespaceType::Mount {
                p.mount = true;
            }
            match ns.path() {
                Some(path) => p.joins.push((t, path.clone())),
                None => match t {
                    LinuxNamespaceType::Cgroup => p.new_cgroup = true,
                    LinuxNamespaceType::Time => p.new_time = true,
                    LinuxNamespaceType::User => {
                        p.new_user = true;
                        p.clone_flags |= flag(t);
                    }
                    _ => p.clone_flags |= flag(t),
                },
            }
        }
        // Joining a user namespace first gives the rights to join or create the others in it;
        // the mount namespace last, since joining it changes how later paths resolve.
        p.joins.sort_by_key(|(t, _)| match t {
            LinuxNamespaceType::User => 0,
            LinuxNamespaceType::Mount => 2,
            _ => 1,
        });
        p
    }

    /// Joining or a time namespace needs an intermediate process that changes its own
    /// namespaces before cloning the init, so the runtime itself stays in the host's.
    pub fn needs_joiner(&self) -> bool {
        !self.joins.is_empty() || self.new_time
    }

    /// Opens every path to join. Done in the parent, before anything is forked, so a bad path
    /// is reported plainly.
    pub fn open_joins(&self) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
        self.joins
            .iter()
            .map(|(t, p)| {
                let fd = nix::fcntl::open(p, nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty())
                    .with_context(|| format!("linux.namespaces[{t}].path: opening {}", p.display()))?;
                Ok((*t, fd))
            })
            .collect()
    }
}

/// setns into each opened namespace, in the plan's order (user first, mount last).
pub fn join(k: &impl Kernel, fds: &[(LinuxNamespaceType, OwnedFd)]) -> Result<()> {
    for (t, fd) in fds {
        k.setns(fd.as_fd(), flag(*t)).with_context(|| format!("linux.namespaces[{t}]: setns"))?;
    }
    Ok(())
}

/// A handle on this process's own /proc/<pid> directory, opened while still in the host's
/// mount namespace: after joining another mount namespace "/proc/self" would be resolved in
/// *that* tree, which its container controls.
pub fn open_proc_self() -> Result<OwnedFd> {
    crate::sys::openat2(libc::AT_FDCWD, std::path::Path::new("/proc/self"), libc::O_PATH | libc::O_DIRECTORY, 0, 0).context("opening /proc/self")
}

/// `linux.timeOffsets` for a new time namespace, written before any process enters it,
/// through `proc_self` (from [`open_proc_self`]) so a joined mount namespace cannot redirect
/// the write (CVE-2025-52881 class).
pub fn unshare_time(k: &impl Kernel, spec: &Spec, proc_self: &OwnedFd) -> Result<()> {
    k.unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)).context("unshare(CLONE_NEWTIME)")?;
    let offsets = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()).unwrap_or_default();
    let mut text = String::new();
    for (clock, off) in &offsets {
        text.push_str(&format!("{clock} {} {}\n", off.secs().unwrap_or(0), off.nanosecs().unwrap_or(0)));
    }
    if !text.is_empty() {
        use std::os::fd::AsRawFd;
        let what = || format!("linux.timeOffsets: writing {text:?} to /proc/self/timens_offsets");
        let fd = crate::sys::openat2(proc_self.as_raw_fd(), std::path::Path::new("timens_offsets"), libc::O_WRONLY, 0, 0x04 | 0x08).with_context(what)?;
        if nix::sys::statfs::fstatfs(&fd).with_context(what)?.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
            anyhow::bail!("{}: not on procfs", what());
        }
        let n = unsafe { libc::write(fd.as_raw_fd(), text.as_ptr().cast(), text.len()) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).with_context(what);
        }
    }
    Ok(())
}

/// Writes uid_map and gid_map of a new user namespace, all ranges at once (the kernel takes
/// one write per map). As root the parent writes them itself. Unprivileged (rootless), the
/// kernel only lets a process map its own uid/gid, and the gid map only after setgroups is
/// denied; anything more (several ranges, other ids) goes through the setuid helpers
/// newuidmap/newgidmap, which check /etc/subuid and /etc/subgid.
pub fn write_id_maps(k: &impl Kernel, pid: i32, spec: &Spec) -> Result<()> {
    let rootless = crate::security::rootless::is_rootless_euid().then(|| (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw()));
    write_id_maps_as(k, pid, spec, rootless)
}

/// [`write_id_maps`] for a runtime that is root (`rootless` None) or runs as (euid, egid).
fn write_id_maps_as(k: &impl Kernel, pid: i32, spec: &Spec, rootless: Option<(u32, u32)>) -> Result<()> {
    let linux = spec.linux().as_ref();
    let uids = linux.and_then(|l| l.uid_mappings().clone()).unwrap_or_default();
    let gids = linux.and_then(|l| l.gid_mappings().clone()).unwrap_or_default();
    let Some((euid, egid)) = rootless else { return write_maps_directly(k, pid, &uids, &gids) };
    let own = |maps: &[oci_spec::runtime::LinuxIdMapping], id: u32| maps.len() == 1 && maps[0].host_id() == id && maps[0].size() == 1;
    if own(&uids, euid) && own(&gids, egid) {
        // The kernel takes an unprivileged gid_map only once setgroups is denied.
        let path = PathBuf::from(format!("/proc/{pid}/setgroups"));
        k.write_file(&path, "deny").with_context(|| format!("rootless: writing deny to {}", path.display()))?;
        return write_maps_directly(k, pid, &uids, &gids);
    }
    helper("newuidmap", "linux.uidMappings", pid, &uids)?;
    helper("newgidmap", "linux.gidMappings", pid, &gids)
}

fn map_text(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

fn write_maps_directly(k: &impl Kernel, pid: i32, uids: &[oci_spec::runtime::LinuxIdMapping], gids: &[oci_spec::runtime::LinuxIdMapping]) -> Result<()> {
    let (uid, gid) = (map_text(uids), map_text(gids));
    write_map(k, pid, "uid_map", &uid).context("linux.uidMappings")?;
    write_map(k, pid, "gid_map", &gid).context("linux.gidMappings")
}

/// One map write. Inside a user namespace (podman rootless) every host id of the map must be
/// mapped in the runtime's own namespace too: the error then shows that map.
fn write_map(k: &impl Kernel, pid: i32, file: &str, text: &str) -> Result<()> {
    let path = format!("/proc/{pid}/{file}");
    k.write_file(Path::new(&path), text).map_err(|e| {
        let what = format!("writing {text:?} to {path}");
        match std::fs::read_to_string(format!("/proc/self/{file}")) {
            Ok(own) if e.raw_os_error() == Some(libc::EPERM) && crate::security::rootless::uid_map_is_userns(&own) => {
                let own = own.split_whitespace().collect::<Vec<_>>().join(" ");
                anyhow::Error::new(e).context(format!("{what} (the runtime runs in a user namespace whose {file} is \"{own}\": map only host ids inside it)"))
            }
            _ => anyhow::Error::new(e).context(what),
        }
    })
}

fn helper(prog: &str, field: &str, pid: i32, maps: &[oci_spec::runtime::LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(prog);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id().to_string(), m.host_id().to_string(), m.size().to_string()]);
    }
    let out = cmd.output().with_context(|| format!("{field}: running {prog} (rootless mappings beyond your own id need it: install the uidmap package)"))?;
    if !out.status.success() {
        let (user, file) = (nix::unistd::User::from_uid(nix::unistd::geteuid()).ok().flatten().map(|u| u.name), if prog == "newuidmap" { "/etc/subuid" } else { "/etc/subgid" });
        anyhow::bail!(
            "{field}: {prog} {pid} {}: {} ({file} must give {} a range holding these host ids)",
            map_text(maps).trim_end().replace('\n', ", "),
            String::from_utf8_lossy(&out.stderr).trim(),
            user.unwrap_or_else(|| format!("uid {}", nix::unistd::geteuid()))
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ns: serde_json::Value) -> Spec {
        crate::spec::parse(serde_json::json!({"ociVersion": "1.0.2", "linux": {"namespaces": ns}}).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn new_and_joined_are_split() {
        let p = Plan::from_spec(&spec(serde_json::json!([
            {"type": "pid"}, {"type": "network", "path": "/run/netns/x"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "user", "path": "/proc/1/ns/user"}
        ])));
        assert!(p.clone_flags.contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS));
        assert!(!p.clone_flags.contains(CloneFlags::CLONE_NEWNET));
        assert!(!p.clone_flags.contains(CloneFlags::CLONE_NEWCGROUP), "cgroup ns is made by the init later");
        assert!(p.new_cgroup && p.user && !p.new_user && p.needs_joiner());
        assert_eq!(p.joins[0].0, LinuxNamespaceType::User, "user namespace joined first");
    }

    /// setns in the plan's order: the user namespace first (it gives the rights to join the
    /// others), the mount namespace last (it changes how later paths resolve).
    #[test]
    fn joins_user_first_and_mount_last() {
        use crate::kernel::{Call, Recorder};
        let p = Plan::from_spec(&spec(serde_json::json!([
            {"type": "mount", "path": "/proc/self/ns/mnt"}, {"type": "network", "path": "/proc/self/ns/net"}, {"type": "user", "path": "/proc/self/ns/user"}
        ])));
        let k = Recorder::default();
        join(&k, &p.open_joins().unwrap()).unwrap();
        let order: Vec<CloneFlags> = k.calls().iter().map(|c| match c { Call::Setns { nstype, .. } => *nstype, other => panic!("{other:?}") }).collect();
        assert_eq!(order, vec![CloneFlags::CLONE_NEWUSER, CloneFlags::CLONE_NEWNET, CloneFlags::CLONE_NEWNS]);
        assert!(matches!(&k.calls()[0], Call::Setns { ns, .. } if ns.starts_with("user:[")), "{:?}", k.calls());
    }

    /// Root writes both maps; a rootless runtime mapping only its own ids denies setgroups
    /// first, or the kernel refuses its gid_map.
    #[test]
    fn id_maps_and_setgroups_deny_order() {
        use crate::kernel::{Call, Recorder};
        let file = |f: &str, t: &str| Call::WriteFile { path: format!("/proc/42/{f}"), text: t.into() };
        let mut v = serde_json::json!({"ociVersion": "1.0.2", "linux": {"namespaces": [{"type": "user"}]}});
        v["linux"]["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        v["linux"]["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 1001, "size": 1}]);
        let s = crate::spec::parse(v.to_string().as_bytes()).unwrap();
        let k = Recorder::default();
        write_id_maps_as(&k, 42, &s, None).unwrap();
        assert_eq!(k.calls(), vec![file("uid_map", "0 1000 1\n"), file("gid_map", "0 1001 1\n")]);
        let k = Recorder::default();
        write_id_maps_as(&k, 42, &s, Some((1000, 1001))).unwrap();
        assert_eq!(k.calls(), vec![file("setgroups", "deny"), file("uid_map", "0 1000 1\n"), file("gid_map", "0 1001 1\n")]);
    }

    #[test]
    fn plain_config_needs_no_joiner() {
        let p = Plan::from_spec(&spec(serde_json::json!([{"type": "pid"}, {"type": "mount"}, {"type": "user"}])));
        assert!(!p.needs_joiner());
        assert!(p.new_user && p.clone_flags.contains(CloneFlags::CLONE_NEWUSER));
    }
}
