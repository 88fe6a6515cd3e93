//! AppArmor and SELinux labels, and host features a config may ask for that this host lacks.
//!
//! runc 1.1.5 on a host without the LSM: `process.apparmorProfile` fails in the init
//! ("write /proc/self/attr/exec: invalid argument"), `process.selinuxLabel` fails validation
//! ("selinux label is specified in config, but selinux is disabled or not supported"),
//! `linux.mountLabel` fails the first tmpfs mount (context= is EINVAL), `linux.intelRdt`
//! fails ("... Intel RDT/CAT is not enabled"). bulkhead refuses the same configs, before
//! anything is created and with the field named: a profile that was asked for and silently
//! not applied would run the container less confined than its owner thinks.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::path::Path;

use crate::inroot::InRoot;

// statfs's f_type is i64 on glibc and u64 on musl: compare as u64, with a cast that is a
// no-op on musl (hence the allow, or clippy --fix on glibc removes it and breaks musl).
const SELINUX_MAGIC: u64 = 0xf97c_ff8c;
const RDTGROUP_SUPER_MAGIC: u64 = 0x0765_5821;

#[allow(clippy::unnecessary_cast)]
fn fs_type(path: &str) -> Option<u64> {
    nix::sys::statfs::statfs(path).ok().map(|s| s.filesystem_type().0 as u64)
}

/// AppArmor is enabled (runc's test: securityfs entry plus the module parameter).
pub fn apparmor_enabled() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.starts_with('Y')).unwrap_or(false)
}

/// SELinux is enabled: selinuxfs is mounted at /sys/fs/selinux.
pub fn selinux_enabled() -> bool {
    fs_type("/sys/fs/selinux") == Some(SELINUX_MAGIC)
}

fn resctrl_mounted() -> bool {
    fs_type("/sys/fs/resctrl") == Some(RDTGROUP_SUPER_MAGIC)
}

/// Checks, in the runtime before anything is created, that every label and host feature the
/// config asks for can be honoured here.
pub fn validate(spec: &Spec) -> Result<()> {
    let process = spec.process().as_ref();
    let linux = spec.linux().as_ref();
    if let Some(p) = process.and_then(|p| p.apparmor_profile().as_deref()).filter(|p| !p.is_empty())
        && !apparmor_enabled()
    {
        bail!("process.apparmorProfile {p:?}: AppArmor is not enabled on this host; refusing to run the container unconfined");
    }
    if let Some(l) = process.and_then(|p| p.selinux_label().as_deref()).filter(|l| !l.is_empty())
        && !selinux_enabled()
    {
        bail!("process.selinuxLabel {l:?}: SELinux is disabled or not supported on this host");
    }
    if let Some(l) = linux.and_then(|l| l.mount_label().as_deref()).filter(|l| !l.is_empty())
        && !selinux_enabled()
    {
        bail!("linux.mountLabel {l:?}: SELinux is disabled or not supported on this host");
    }
    if linux.and_then(|l| l.intel_rdt().as_ref()).is_some() {
        if !resctrl_mounted() {
            bail!("linux.intelRdt: Intel RDT is not available on this host (no resctrl filesystem at /sys/fs/resctrl)");
        }
        bail!("linux.intelRdt: not supported by bulkhead yet");
    }
    Ok(())
}

/// In the init, before the exec: the AppArmor profile and SELinux label the program gets
/// when it is exec'd. Written through verified /proc handles (CVE-2025-52881).
pub fn apply_exec_labels(k: &impl crate::kernel::Kernel, process: Option<&oci_spec::runtime::Process>) -> Result<()> {
    let wanted = |s: Option<&String>| s.is_some_and(|s| !s.is_empty());
    if !process.is_some_and(|p| wanted(p.apparmor_profile().as_ref()) || wanted(p.selinux_label().as_ref())) {
        return Ok(());
    }
    let root = InRoot::open(Path::new("/"))?;
    if let Some(p) = process.and_then(|p| p.apparmor_profile().as_deref()).filter(|p| !p.is_empty()) {
        // Newer kernels have the AppArmor-specific attr dir (stacking); older ones only exec.
        let specific = Path::new("/proc/thread-self/attr/apparmor/exec");
        let path = if root.resolve(specific, false).is_ok() { specific } else { Path::new("/proc/thread-self/attr/exec") };
        k.write_proc(&root, path, &format!("exec {p}")).with_context(|| format!("process.apparmorProfile {p:?}"))?;
    }
    if let Some(l) = process.and_then(|p| p.selinux_label().as_deref()).filter(|l| !l.is_empty()) {
        k.write_proc(&root, Path::new("/proc/thread-self/attr/exec"), l).with_context(|| format!("process.selinuxLabel {l:?}"))?;
    }
    Ok(())
}

/// `context="<mountLabel>"` for the data of a mount that takes one (tmpfs, mqueue, devpts...),
/// as runc's label.FormatMountLabel; None without a mount label.
pub fn mount_context(spec: &Spec) -> Option<String> {
    let l = spec.linux().as_ref()?.mount_label().as_deref()?.to_string();
    (!l.is_empty()).then(|| format!("context=\"{l}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Spec {
        crate::spec::parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn labels_need_their_lsm() {
        let s = spec(serde_json::json!({"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "apparmorProfile": "p"}}));
        assert_eq!(validate(&s).is_ok(), apparmor_enabled());
        let s = spec(serde_json::json!({"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": 0, "gid": 0}, "selinuxLabel": "l"}}));
        assert_eq!(validate(&s).is_ok(), selinux_enabled());
        let s = spec(serde_json::json!({"ociVersion": "1.0.2", "linux": {"intelRdt": {"closID": "x"}}}));
        let e = format!("{:#}", validate(&s).unwrap_err());
        assert!(e.starts_with("linux.intelRdt"), "{e}");
        assert!(validate(&spec(serde_json::json!({"ociVersion": "1.0.2"}))).is_ok());
    }
}
