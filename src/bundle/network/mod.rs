//! Bridge networking for bundles, acting in the network namespace the tool runs in ("the
//! host"): a bridge (created on first use, removed with its last container), a persistent
//! network namespace per bundle (netns.rs), a veth pair into it, addresses from a locked IPAM
//! file (ipam.rs: IPv4, and IPv6 when the bridge has an IPv6 subnet), default routes, NAT, and
//! published ports.
//!
//! Published ports: DNAT in prerouting (other hosts, containers: hairpin) and output (the
//! host's own addresses, 127.0.0.1 with route_localnet on the bridge, as docker without its
//! userland proxy and podman's netavark do); connections that DNAT turned back into the bridge
//! from the bridge's own subnet, and 127.0.0.0/8 sources, are masqueraded so replies come back
//! through the host. `::1` cannot be DNATed (the kernel drops it on a non-loopback device), so
//! a small per-bundle process (proxy.rs) holds every published port and forwards `::1`.
//!
//! Links, addresses and routes go through rtnetlink (netlink.rs); NAT rules through nftables
//! netlink (../nft: tables `ip bulkhead` and `ip6 bulkhead`, every rule commented with its
//! owner, so teardown finds it by dumping the tables). No external command is run.

pub mod addr;
pub mod ipam;
pub mod netlink;
pub mod netns;
pub mod proxy;

pub use addr::{parse_publish, subnets, Port, Subnet};
pub use netns::{create_netns, in_netns, remove_netns};

use super::layer::lock;
use super::nft::{self, Action, Family, Match, NewRule, Nft};
use anyhow::{bail, Context, Result};
use netlink::Netlink;
use serde::{Deserialize, Serialize};
use std::fs;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

/// What a bridged bundle got: recorded in its metadata, needed for teardown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub bridge: String,
    pub subnet: Subnet,
    pub ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Subnet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<IpAddr>,
    pub veth: String,
    pub ports: Vec<Port>,
}

pub fn veth_name(store: &Path, name: &str) -> String {
    let h = super::image::sha256_hex(format!("{}\0{name}", store.display()).as_bytes());
    format!("bk{}", &h[..10])
}

fn comment(veth: &str) -> String {
    format!("bulkhead:{veth}")
}

fn bridge_comment(bridge: &str) -> String {
    format!("bulkhead-bridge:{bridge}")
}

fn sysctl(path: &str, value: &str) -> Result<()> {
    fs::write(path, value).with_context(|| format!("writing {value} to {path}"))
}

/// Attaches the namespace at `netns` to `bridge` (created with the subnets on first use).
/// On error, whatever was done is left for `detach` (which tolerates partial state).
pub fn attach(store: &Path, name: &str, netns: &Path, bridge: &str, subnets: (Subnet, Option<Subnet>), ports: &[Port]) -> Result<Attachment> {
    let (subnet, subnet6) = subnets;
    let (ipam_file, lock_file) = ipam::paths(store, bridge);
    fs::create_dir_all(ipam_file.parent().unwrap())?;
    let _lock = lock(&lock_file, true)?;
    let mut ipam = ipam::load(&ipam_file)?;
    ipam.claim_subnets(bridge, subnet, subnet6)?;
    let ip = ipam.allocate(subnet, bridge, name)?;
    let ip6 = subnet6.map(|s| ipam.allocate(s, bridge, name)).transpose()?;
    ipam::save(&ipam_file, &ipam)?;
    let veth = veth_name(store, name);
    let att = Attachment { bridge: bridge.to_string(), subnet, ip, subnet6, ip6, veth: veth.clone(), ports: ports.to_vec() };
    let br = ensure_bridge(&ipam_file, &mut ipam, &att)?;
    let mut nl = Netlink::open()?;
    let ns = fs::File::open(netns).with_context(|| format!("opening {}", netns.display()))?;
    nl.create_veth(&veth, "eth0", ns.as_raw_fd(), None).with_context(|| format!("creating veth {veth}"))?;
    let vi = netlink::index_of(&veth)?;
    nl.set_master(vi, br).with_context(|| format!("attaching {veth} to {bridge}"))?;
    nl.set_hairpin(vi).with_context(|| format!("setting hairpin mode on {veth}"))?;
    nl.set_up(vi)?;
    in_netns(netns, || configure_eth0(&att))?;
    add_nat_rules(&att)?;
    Ok(att)
}

/// The bridge with its gateway addresses, up; the host's forwarding sysctls. Returns its index.
fn ensure_bridge(ipam_file: &Path, ipam: &mut ipam::Ipam, att: &Attachment) -> Result<i32> {
    let bridge = &att.bridge;
    let mut nl = Netlink::open()?;
    let br = match netlink::index(bridge) {
        Some(i) => i,
        None => {
            nl.create_bridge(bridge).with_context(|| format!("creating bridge {bridge}"))?;
            ipam.created_bridge = true;
            ipam::save(ipam_file, ipam)?;
            let i = netlink::index_of(bridge)?;
            for s in [Some(att.subnet), att.subnet6].into_iter().flatten() {
                nl.add_address(i, s.gateway(), s.prefix).with_context(|| format!("adding {} to {bridge}", s.gateway()))?;
            }
            nl.set_up(i)?;
            i
        }
    };
    sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    // 127.0.0.1 DNATed to a container leaves through the bridge (then masqueraded).
    sysctl(&format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"), "1")?;
    if att.subnet6.is_some() {
        sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
    }
    Ok(br)
}

/// Inside the bundle's namespace: eth0's addresses, up, default routes via the bridge.
fn configure_eth0(att: &Attachment) -> Result<()> {
    let mut nl = Netlink::open()?;
    let e = netlink::index_of("eth0")?;
    let pairs = [(Some(att.ip), att.subnet), (att.ip6, att.subnet6.unwrap_or(att.subnet))];
    for (ip, s) in pairs.iter().filter_map(|(ip, s)| ip.map(|ip| (ip, s))) {
        nl.add_address(e, ip, s.prefix).with_context(|| format!("adding {ip} to eth0"))?;
    }
    nl.set_up(e).context("setting eth0 up")?;
    for s in [Some(att.subnet), att.subnet6].into_iter().flatten() {
        nl.add_default_route(s.gateway()).with_context(|| format!("adding the default route via {}", s.gateway()))?;
    }
    Ok(())
}

/// The bridge's rules (once per bridge and family) and this bundle's DNAT rules.
fn add_nat_rules(att: &Attachment) -> Result<()> {
    let mut nft = Nft::open()?;
    let br = att.bridge.as_str();
    let families = [(Family::V4, Some(att.subnet), Some(att.ip)), (Family::V6, att.subnet6, att.ip6)];
    for (family, subnet, ip) in families {
        let (Some(subnet), Some(ip)) = (subnet, ip) else { continue };
        let existing = nft.rules(family).context("listing NAT rules")?;
        if !existing.iter().any(|r| r.comment == bridge_comment(br)) {
            let rules = bridge_rules(family, subnet, br);
            nft::check(nft.add(family, &rules, &bridge_comment(br)), "adding the bridge's masquerade rules")?;
        }
        let dnat = dnat_rules(family, ip, &att.ports);
        if !dnat.is_empty() {
            nft::check(nft.add(family, &dnat, &comment(&att.veth)), "adding DNAT rules")?;
        }
    }
    Ok(())
}

/// Outbound NAT, and the masquerade that makes replies of DNATed connections come back
/// through the host: hairpin (a container to a published port) and 127.0.0.0/8.
fn bridge_rules(family: Family, subnet: Subnet, br: &str) -> Vec<NewRule<'_>> {
    let post = |matches| NewRule { chain: "postrouting", matches, action: Action::Masquerade };
    let mut v = vec![
        post(vec![Match::Saddr(subnet), Match::Oifname(br, false)]),
        post(vec![Match::Saddr(subnet), Match::Oifname(br, true), Match::CtDnat]),
    ];
    if family == Family::V4 {
        v.push(post(vec![Match::Saddr("127.0.0.0/8".parse().unwrap()), Match::Oifname(br, true)]));
    }
    v
}

/// prerouting (from elsewhere) and output (the host's own) DNAT for each port published on
/// addresses of `family`.
fn dnat_rules(family: Family, ip: IpAddr, ports: &[Port]) -> Vec<NewRule<'_>> {
    let v6 = family == Family::V6;
    let mut v = Vec::new();
    for p in ports.iter().filter(|p| p.covers(v6)) {
        let mut m = match p.host_ip {
            Some(a) if a == IpAddr::V6(Ipv6Addr::LOCALHOST) => continue, // the proxy's alone
            Some(a) => vec![Match::Daddr(a, true)],
            None if v6 => vec![Match::DaddrLocal, Match::Daddr(Ipv6Addr::LOCALHOST.into(), false)],
            None => vec![Match::DaddrLocal],
        };
        m.extend([Match::L4proto(&p.proto), Match::Dport(p.host)]);
        for chain in ["prerouting", "output"] {
            v.push(NewRule { chain, matches: m.clone(), action: Action::Dnat(ip, p.container) });
        }
    }
    v
}

/// Undoes `attach` for `name` (every step tolerates its part being absent already).
pub fn detach(store: &Path, name: &str, bridge: &str) -> Result<()> {
    let veth = veth_name(store, name);
    let (ipam_file, lock_file) = ipam::paths(store, bridge);
    if !lock_file.exists() {
        return Ok(());
    }
    let _lock = lock(&lock_file, true)?;
    let mut errs = Vec::new();
    if let Some(i) = netlink::index(&veth) {
        let mut nl = Netlink::open()?;
        if let Err(e) = nl.delete_link(i)
            && e.raw_os_error() != Some(libc::ENODEV) {
                errs.push(format!("deleting {veth}: {e}"));
            }
    }
    let mut ipam = ipam::load(&ipam_file)?;
    ipam.allocations.retain(|_, n| n != name);
    let last = ipam.allocations.is_empty();
    for family in [Family::V4, Family::V6] {
        if let Err(e) = remove_rules(family, &comment(&veth), last.then(|| bridge_comment(bridge))) {
            errs.push(format!("{e:#}"));
        }
    }
    if last && ipam.created_bridge
        && let Some(i) = netlink::index(bridge) {
            let mut nl = Netlink::open()?;
            if let Err(e) = nl.delete_link(i) {
                errs.push(format!("deleting bridge {bridge}: {e}"));
            }
        }
    if last {
        let _ = fs::remove_file(&ipam_file);
    } else {
        ipam::save(&ipam_file, &ipam)?;
    }
    if !errs.is_empty() {
        bail!("{}", errs.join("; "));
    }
    Ok(())
}

/// Removes the rules commented `owner` (and `bridge_owner`'s); the table goes with its last rule.
fn remove_rules(family: Family, owner: &str, bridge_owner: Option<String>) -> Result<()> {
    let mut nft = Nft::open()?;
    let rs = nft.rules(family).context("listing NAT rules")?;
    let delete: Vec<(String, u64)> = rs
        .iter()
        .filter(|r| r.comment == owner || Some(&r.comment) == bridge_owner.as_ref())
        .map(|r| (r.chain.clone(), r.handle))
        .collect();
    if !delete.is_empty() || (rs.is_empty() && bridge_owner.is_some()) {
        nft.delete(family, &delete, rs.len() == delete.len()).context("removing NAT rules")?;
    }
    Ok(())
}
