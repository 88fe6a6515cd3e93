//! The five capability sets of `process.capabilities`, as bit masks applied in one capset(2)
//! plus prctl calls for the bounding and ambient sets.

use anyhow::{Context, Result};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use std::str::FromStr;

use crate::kernel::Kernel;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// Bit index of a capability; None when this build's table lacks it.
pub fn index(c: &oci_spec::runtime::Capability) -> Option<u8> {
    caps::Capability::from_str(&format!("CAP_{c}")).ok().map(|c| c.index())
}

/// Mask of a set; capabilities above the running kernel's `cap_last_cap` are left out with a
/// debug record (runc does the same: configs written for newer kernels still run).
pub fn mask(set: &Option<Capabilities>, last_cap: u8) -> u64 {
    let mut m = 0u64;
    for c in set.iter().flatten() {
        match index(c) {
            Some(i) if i <= last_cap => m |= 1 << i,
            _ => crate::debug!("capability CAP_{c} is not known to this kernel; ignored"),
        }
    }
    m
}

impl CapSets {
    pub fn from_spec(c: Option<&LinuxCapabilities>, last_cap: u8) -> CapSets {
        let Some(c) = c else { return CapSets::default() };
        CapSets {
            bounding: mask(c.bounding(), last_cap),
            effective: mask(c.effective(), last_cap),
            permitted: mask(c.permitted(), last_cap),
            inheritable: mask(c.inheritable(), last_cap),
            ambient: mask(c.ambient(), last_cap),
        }
    }
}

/// Highest capability number the running kernel knows: what /proc/sys/kernel/cap_last_cap
/// says, found by asking the bounding set about numbers (EINVAL past the last), a binary search
/// of six prctl calls that costs less than opening the sysctl.
pub fn last_cap() -> u8 {
    let known = |cap: u8| unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } >= 0;
    if !known(0) {
        // prctl refused outright (a seccomp filter around us): the sysctl, as before.
        return crate::sys::read_pseudo("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40);
    }
    // known(lo) and !known(hi)
    let (mut lo, mut hi) = (0u8, 64u8);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if known(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Drops every capability not in `keep` from the bounding set (needs CAP_SETPCAP, so this
/// runs while we are still fully privileged).
pub fn drop_bounding(k: &impl Kernel, keep: u64, last_cap: u8) -> Result<()> {
    for i in (0..=last_cap).filter(|i| keep & (1 << i) == 0) {
        k.prctl(libc::PR_CAPBSET_DROP, i as libc::c_ulong, 0).with_context(|| format!("prctl(PR_CAPBSET_DROP, {i})"))?;
    }
    Ok(())
}

/// Sets effective, permitted and inheritable, then raises the ambient ones.
pub fn apply(k: &impl Kernel, s: &CapSets, last_cap: u8) -> Result<()> {
    k.capset(s.effective, s.permitted, s.inheritable).context("process.capabilities: setting effective/permitted/inheritable")?;
    for i in (0..=last_cap).filter(|i| s.ambient & (1 << i) != 0) {
        if let Err(e) = k.prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, i as libc::c_ulong) {
            // The kernel refuses ambient caps missing from permitted or inheritable.
            crate::debug!("process.capabilities.ambient: cannot raise capability {i}: {e}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Capability;

    #[test]
    fn last_cap_is_the_sysctl() {
        let sysctl: u8 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap().trim().parse().unwrap();
        assert_eq!(last_cap(), sysctl);
    }

    #[test]
    fn masks_from_names() {
        let set: Capabilities = [Capability::Chown, Capability::Kill, Capability::NetBindService].into_iter().collect();
        assert_eq!(mask(&Some(set), 40), (1 << 0) | (1 << 5) | (1 << 10));
        assert_eq!(mask(&None, 40), 0);
    }

    #[test]
    fn caps_beyond_the_kernel_are_skipped() {
        let set: Capabilities = [Capability::CheckpointRestore, Capability::Chown].into_iter().collect();
        assert_eq!(mask(&Some(set.clone()), 39), 1); // CHECKPOINT_RESTORE is 40
        assert_eq!(mask(&Some(set), 40), 1 | (1 << 40));
    }
}
