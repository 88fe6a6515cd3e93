//! `validate`: the rules the OCI runtime spec states as MUSTs (and runc's for namespaced
//! sysctls), checked before anything on the host is touched; each error names its field.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Component, Path};

use super::propagation_flag;

/// The checks the runtime spec makes mandatory, each error naming the field it is about.
pub fn validate(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref().context("process: missing (the container's process must be given)")?;
    match process.args() {
        Some(args) if !args.is_empty() => {}
        _ => bail!("process.args: must name at least the program to run"),
    }
    if !process.cwd().is_absolute() {
        bail!("process.cwd: {:?} must be an absolute path", process.cwd());
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') {
                bail!("process.env[{i}]: {e:?} is not of the form KEY=VALUE");
            }
        }
    }
    for phase in crate::hooks::Phase::ALL {
        for (i, h) in phase.of(spec.hooks().as_ref()).iter().enumerate() {
            if let Some(t) = h.timeout().filter(|t| *t <= 0) {
                bail!("hooks.{}[{i}].timeout: {t} is not allowed (it must be greater than zero)", phase.name());
            }
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        check_destination(m.destination()).with_context(|| format!("mounts[{i}].destination"))?;
    }
    let linux = spec.linux().as_ref();
    let namespaces = linux.and_then(|l| l.namespaces().as_ref());
    let mut seen = Vec::new();
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        if seen.contains(&ns.typ()) {
            bail!("linux.namespaces[{i}].type: {:?} is listed twice", ns.typ());
        }
        seen.push(ns.typ());
        if let Some(p) = ns.path()
            && !p.is_absolute() {
                bail!("linux.namespaces[{i}].path: {} must be absolute", p.display());
            }
    }
    let has = |t: LinuxNamespaceType| seen.contains(&t);
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        bail!("hostname: setting it needs a private UTS namespace (add {{\"type\": \"uts\"}} to linux.namespaces)");
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        bail!("domainname: setting it needs a private UTS namespace (add {{\"type\": \"uts\"}} to linux.namespaces)");
    }
    if let Some(linux) = linux {
        let user_ns = has(LinuxNamespaceType::User);
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if maps && !user_ns {
            bail!("linux.uidMappings: id mappings need a user namespace in linux.namespaces");
        }
        let joins_user = namespaces.into_iter().flatten().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_some());
        if user_ns && !joins_user && !maps {
            bail!("linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
        }
        if linux.time_offsets().as_ref().is_some_and(|o| !o.is_empty()) {
            let joins_time = namespaces.into_iter().flatten().any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_some());
            if !has(LinuxNamespaceType::Time) {
                bail!("linux.timeOffsets: offsets need a new time namespace (add {{\"type\": \"time\"}} to linux.namespaces)");
            }
            if joins_time {
                bail!("linux.timeOffsets: a joined time namespace (linux.namespaces path) keeps its own offsets; give either the path or the offsets");
            }
        }
        for key in linux.sysctl().iter().flat_map(|s| s.keys()) {
            check_sysctl(key, &has).with_context(|| format!("linux.sysctl[{key:?}]"))?;
        }
        for (i, d) in linux.devices().iter().flatten().enumerate() {
            check_destination(d.path()).with_context(|| format!("linux.devices[{i}].path"))?;
            if !d.path().starts_with("/dev") {
                bail!("linux.devices[{i}].path: {} is not under /dev", d.path().display());
            }
        }
        if !has(LinuxNamespaceType::Mount) {
            check_without_mount_ns(spec)?;
        }
        if let Some(p) = linux.rootfs_propagation()
            && !p.is_empty() && propagation_flag(p).is_none() {
                bail!("linux.rootfsPropagation: {p:?} is not one of shared, slave, private, unbindable (or r-prefixed)");
            }
    }
    Ok(())
}

/// A container without its own mount namespace is set up in the caller's (the spec allows it;
/// runc and crun run it): whatever would change that namespace's existing mounts is refused,
/// as runc refuses masked and read-only paths.
fn check_without_mount_ns(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let nonempty = |v: Option<&Vec<String>>| v.is_some_and(|v| !v.is_empty());
    if nonempty(linux.and_then(|l| l.masked_paths().as_ref())) {
        bail!("linux.maskedPaths: masking paths needs a mount namespace (add {{\"type\": \"mount\"}} to linux.namespaces)");
    }
    if nonempty(linux.and_then(|l| l.readonly_paths().as_ref())) {
        bail!("linux.readonlyPaths: read-only paths need a mount namespace (add {{\"type\": \"mount\"}} to linux.namespaces)");
    }
    if spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false) {
        bail!("root.readonly: a read-only root needs a mount namespace (add {{\"type\": \"mount\"}} to linux.namespaces)");
    }
    if linux.and_then(|l| l.rootfs_propagation().as_deref()).is_some_and(|p| !p.is_empty()) {
        bail!("linux.rootfsPropagation: needs a mount namespace (it would change the caller's mounts)");
    }
    Ok(())
}

/// Mount and device destinations must be absolute and may not climb out with `..`.
pub fn check_destination(p: &Path) -> Result<()> {
    if !p.is_absolute() {
        bail!("{} must be an absolute path inside the container", p.display());
    }
    if p.components().any(|c| c == Component::ParentDir) {
        bail!("{} must not contain '..'", p.display());
    }
    Ok(())
}

/// runc's rule: a sysctl may only be set when the container owns the namespace it belongs to.
fn check_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<()> {
    let ipc = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];
    if ipc.contains(&key) || key.starts_with("fs.mqueue.") {
        if !has(LinuxNamespaceType::Ipc) {
            bail!("needs a private IPC namespace");
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !has(LinuxNamespaceType::Network) {
            bail!("needs a private network namespace");
        }
        return Ok(());
    }
    // runc 1.4: the ucounts limits are per user namespace; without one they are the host's.
    if key.starts_with("user.") {
        if !has(LinuxNamespaceType::User) {
            bail!("needs a user namespace (the user.* limits are the host's otherwise)");
        }
        return Ok(());
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if !has(LinuxNamespaceType::Uts) {
            bail!("needs a private UTS namespace");
        }
        return Ok(());
    }
    bail!("is not namespaced: setting it would change the host")
}
