//! `linux.netDevices` (runtime-spec 1.3, runc 1.4): host interfaces moved into the container's
//! network namespace over rtnetlink, renamed on the way (one request, so the new name cannot
//! collide with a host one), with their permanent global addresses re-added and the link set
//! up there, as runc. Giving them back is the kernel's: when the namespace dies a physical
//! device returns to the initial namespace (a virtual one — dummy, veth — is destroyed with
//! it), as the spec's namespace lifecycle says and runc relies on.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::netlink::{self, Addr, Netlink};

/// runc's devValidName: what the kernel accepts as an interface name.
pub fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() < libc::IFNAMSIZ && n != "." && n != ".." && !n.chars().any(|c| c == '/' || c == ':' || c.is_whitespace())
}

/// The checks runc makes before anything is created.
pub fn validate(spec: &Spec) -> Result<()> {
    let Some(devs) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()).filter(|d| !d.is_empty()) else { return Ok(()) };
    let nss = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    if !nss.into_iter().flatten().any(|n| n.typ() == LinuxNamespaceType::Network) {
        bail!("linux.netDevices: moving network devices needs a network namespace in linux.namespaces");
    }
    for (name, d) in devs {
        if !valid_name(name) {
            bail!("linux.netDevices: {name:?} is not a valid interface name");
        }
        if let Some(n) = d.name().as_deref().filter(|n| !valid_name(n)) {
            bail!("linux.netDevices[{name:?}].name: {n:?} is not a valid interface name");
        }
    }
    Ok(())
}

/// In the runtime, once the init exists: every device into the init's network namespace.
pub fn move_all(spec: &Spec, pid: i32) -> Result<()> {
    let Some(devs) = spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()).filter(|d| !d.is_empty()) else { return Ok(()) };
    let ns = OwnedFd::from(std::fs::File::open(format!("/proc/{pid}/ns/net")).context("linux.netDevices: opening the container's network namespace")?);
    for (name, d) in devs {
        let new = d.name().as_deref().filter(|n| !n.is_empty()).unwrap_or(name);
        move_one(name, new, &ns).with_context(|| format!("linux.netDevices[{name:?}]"))?;
    }
    Ok(())
}

/// Only permanent addresses of global scope move (dynamic or link-local ones belong to the
/// host's context), as runc.
pub fn portable(a: &Addr) -> bool {
    const IFA_F_PERMANENT: u32 = 0x80;
    a.flags & IFA_F_PERMANENT != 0 && a.scope == libc::RT_SCOPE_UNIVERSE
}

fn move_one(host: &str, new: &str, ns: &OwnedFd) -> Result<()> {
    let index = netlink::index(host).with_context(|| format!("no interface {host:?} in the runtime's network namespace"))?;
    let mut nl = Netlink::open()?;
    nl.set_down(index).context("setting the link down")?;
    let addrs: Vec<Addr> = nl.addresses(index).context("listing its addresses")?.into_iter().filter(portable).collect();
    nl.move_to_netns(index, new, ns.as_raw_fd()).with_context(|| format!("moving it into the container's network namespace as {new:?}"))?;
    in_netns(ns, || {
        let index = netlink::index_of(new)?;
        let mut nl = Netlink::open()?;
        for a in &addrs {
            nl.add_address_raw(index, a).with_context(|| format!("re-adding address {:?}/{}", a.local, a.prefix))?;
        }
        nl.set_up(index).context("setting the link up")
    })
}

/// Runs `f` in the network namespace `ns` and comes back (the runtime is single-threaded).
fn in_netns(ns: &OwnedFd, f: impl FnOnce() -> Result<()>) -> Result<()> {
    let home = OwnedFd::from(std::fs::File::open("/proc/thread-self/ns/net").context("opening our network namespace")?);
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setns into the container's network namespace");
    }
    let r = f();
    if unsafe { libc::setns(home.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        // Staying in the container's namespace would put every later host action there.
        eprintln!("bulkhead: cannot return to the runtime's network namespace: {}", std::io::Error::last_os_error());
        unsafe { libc::_exit(1) };
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_portable_addresses() {
        assert!(valid_name("eth0") && valid_name("dummy-1"));
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "abcdefghijklmnop"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        let a = Addr { family: libc::AF_INET as u8, prefix: 24, flags: 0x80, scope: 0, index: 1, local: vec![10, 0, 0, 1] };
        assert!(portable(&a));
        assert!(!portable(&Addr { scope: libc::RT_SCOPE_LINK, ..a.clone() }));
        assert!(!portable(&Addr { flags: 0, ..a }));
    }
}
