//! Bridge networking for bundles, acting in the network namespace the tool runs in ("the
//! host"): a bridge (created on first use, removed with its last container), a persistent
//! network namespace per bundle (bind-mounted under `<store>/netns/NAME`; config.json joins it
//! by path), a veth pair into it, an address from a locked IPAM file, a default route, and NAT.
//!
//! Links, addresses and routes go through rtnetlink (netlink.rs); NAT rules through nftables
//! netlink (nft.rs: table `ip bulkhead`, every rule commented with its owner, so teardown
//! finds it by dumping the table). No external command is run.

use super::layer::lock;
use super::netlink::{self, Netlink};
use super::nft::{self, NewRule, Nft};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub net: Ipv4Addr,
    pub prefix: u8,
}

impl std::str::FromStr for Subnet {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let (a, p) = s.split_once('/').ok_or_else(|| anyhow!("subnet {s:?}: expected A.B.C.D/N"))?;
        let ip: Ipv4Addr = a.parse().with_context(|| format!("subnet {s:?}"))?;
        let prefix: u8 = p.parse().with_context(|| format!("subnet {s:?}"))?;
        if !(8..=30).contains(&prefix) {
            bail!("subnet {s:?}: prefix must be 8..30");
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Subnet { net: Ipv4Addr::from(u32::from(ip) & mask), prefix })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl Subnet {
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.net) + 1)
    }
    fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let base = u32::from(self.net);
        let size = 1u32 << (32 - self.prefix);
        (2..size - 1).map(move |i| Ipv4Addr::from(base + i))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Port {
    pub host: u16,
    pub container: u16,
    pub proto: String,
}

impl std::str::FromStr for Port {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Port> {
        let (ports, proto) = match s.split_once('/') {
            Some((p, pr)) => (p, pr.to_string()),
            None => (s, "tcp".to_string()),
        };
        if proto != "tcp" && proto != "udp" {
            bail!("port {s:?}: protocol must be tcp or udp");
        }
        let (h, c) = ports.split_once(':').ok_or_else(|| anyhow!("port {s:?}: expected HOSTPORT:CTRPORT[/tcp|udp]"))?;
        let parse = |x: &str| -> Result<u16> {
            let v: u16 = x.parse().with_context(|| format!("port {s:?}"))?;
            if v == 0 {
                bail!("port {s:?}: 0 is not a port");
            }
            Ok(v)
        };
        Ok(Port { host: parse(h)?, container: parse(c)?, proto })
    }
}

/// Runs `f` on a thread that has joined the network namespace at `path`.
pub fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("joining {}", path.display()))?;
            f()
        })
        .join()
        .map_err(|_| anyhow!("network namespace thread panicked"))?
    })
}

/// A new network namespace kept alive by a bind mount at `path`, with `lo` up.
pub fn create_netns(path: &Path) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d)?;
    }
    fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
            nix::mount::mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("bind-mounting the network namespace on {}", path.display()))?;
            let mut nl = Netlink::open()?;
            nl.set_up(netlink::index_of("lo")?).context("setting lo up")?;
            // Unprivileged ICMP echo sockets, as other engines allow, so ping works without
            // CAP_NET_RAW (a per-namespace sysctl: set here, not by the runtime).
            fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
                .context("setting net.ipv4.ping_group_range")?;
            Ok(())
        })
        .join()
        .map_err(|_| anyhow!("network namespace thread panicked"))?
    })
}

pub fn remove_netns(path: &Path) -> Result<()> {
    loop {
        match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => return Err(e).with_context(|| format!("unmounting {}", path.display())),
        }
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| format!("removing {}", path.display())),
        _ => Ok(()),
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Ipam {
    subnet: Option<Subnet>,
    /// Whether the bridge was created by us (then it goes with its last container).
    created_bridge: bool,
    allocations: BTreeMap<Ipv4Addr, String>,
}

fn ipam_paths(store: &Path, bridge: &str) -> (PathBuf, PathBuf) {
    let d = store.join("ipam");
    (d.join(format!("{bridge}.json")), d.join(format!("{bridge}.lock")))
}

fn load_ipam(p: &Path) -> Result<Ipam> {
    match fs::read(p) {
        Ok(d) => serde_json::from_slice(&d).with_context(|| format!("parsing {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ipam::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

fn save_ipam(p: &Path, ipam: &Ipam) -> Result<()> {
    let tmp = p.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(ipam)?)?;
    fs::rename(&tmp, p)?;
    Ok(())
}

/// What a bridged bundle got: recorded in its metadata, needed for teardown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    pub bridge: String,
    pub subnet: Subnet,
    pub ip: Ipv4Addr,
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

/// Attaches the namespace at `netns` to `bridge` (created with `subnet` on first use).
/// On error, whatever was done is left for `detach` (which tolerates partial state).
pub fn attach(store: &Path, name: &str, netns: &Path, bridge: &str, subnet: Subnet, ports: &[Port]) -> Result<Attachment> {
    let (ipam_file, lock_file) = ipam_paths(store, bridge);
    fs::create_dir_all(ipam_file.parent().unwrap())?;
    let _lock = lock(&lock_file, true)?;
    let mut ipam = load_ipam(&ipam_file)?;
    if let Some(s) = ipam.subnet
        && s != subnet {
            bail!("bridge {bridge} uses the subnet {s}, not {subnet}");
        }
    ipam.subnet = Some(subnet);
    let ip = subnet
        .hosts()
        .find(|ip| !ipam.allocations.contains_key(ip))
        .ok_or_else(|| anyhow!("subnet {subnet} of bridge {bridge} is full"))?;
    ipam.allocations.insert(ip, name.to_string());
    let veth = veth_name(store, name);
    let mut nl = Netlink::open()?;
    let br = match netlink::index(bridge) {
        Some(i) => i,
        None => {
            nl.create_bridge(bridge).with_context(|| format!("creating bridge {bridge}"))?;
            ipam.created_bridge = true;
            save_ipam(&ipam_file, &ipam)?;
            let i = netlink::index_of(bridge)?;
            nl.add_address(i, subnet.gateway(), subnet.prefix)
                .with_context(|| format!("adding {} to {bridge}", subnet.gateway()))?;
            nl.set_up(i)?;
            i
        }
    };
    save_ipam(&ipam_file, &ipam)?;
    fs::write("/proc/sys/net/ipv4/ip_forward", "1").context("enabling net.ipv4.ip_forward")?;
    let ns = fs::File::open(netns).with_context(|| format!("opening {}", netns.display()))?;
    nl.create_veth(&veth, "eth0", ns.as_raw_fd(), None).with_context(|| format!("creating veth {veth}"))?;
    let vi = netlink::index_of(&veth)?;
    nl.set_master(vi, br).with_context(|| format!("attaching {veth} to {bridge}"))?;
    nl.set_up(vi)?;
    in_netns(netns, || {
        let mut nl = Netlink::open()?;
        let e = netlink::index_of("eth0")?;
        nl.add_address(e, ip, subnet.prefix).with_context(|| format!("adding {ip} to eth0"))?;
        nl.set_up(e).context("setting eth0 up")?;
        nl.add_default_route(subnet.gateway()).context("adding the default route")?;
        Ok(())
    })?;
    // NAT: masquerade for the bridge once, DNAT per published port (prerouting for traffic
    // from elsewhere, output for the host's own).
    let mut nft = Nft::open()?;
    let existing = nft.rules().context("listing NAT rules")?;
    if !existing.iter().any(|r| r.comment == bridge_comment(bridge)) {
        let m = NewRule::Masquerade { subnet: subnet.net, prefix: subnet.prefix, bridge };
        nft::check(nft.add(&[m], &bridge_comment(bridge)), "adding the masquerade rule")?;
    }
    let mut dnat = Vec::new();
    for p in ports {
        for chain in ["prerouting", "output"] {
            dnat.push(NewRule::Dnat { chain, proto: &p.proto, host_port: p.host, ip, port: p.container });
        }
    }
    if !dnat.is_empty() {
        nft::check(nft.add(&dnat, &comment(&veth)), "adding DNAT rules")?;
    }
    Ok(Attachment { bridge: bridge.to_string(), subnet, ip, veth, ports: ports.to_vec() })
}

/// Undoes `attach` for `name` (every step tolerates its part being absent already).
pub fn detach(store: &Path, name: &str, bridge: &str) -> Result<()> {
    let veth = veth_name(store, name);
    let (ipam_file, lock_file) = ipam_paths(store, bridge);
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
    let mut ipam = load_ipam(&ipam_file)?;
    ipam.allocations.retain(|_, n| n != name);
    let last = ipam.allocations.is_empty();
    let nat = Nft::open().and_then(|mut nft| {
        let rs = nft.rules().context("listing NAT rules")?;
        let delete: Vec<(String, u64)> = rs
            .iter()
            .filter(|r| r.comment == comment(&veth) || (last && r.comment == bridge_comment(bridge)))
            .map(|r| (r.chain.clone(), r.handle))
            .collect();
        if !delete.is_empty() || (rs.is_empty() && last) {
            // The table goes with its last rule.
            nft.delete(&delete, rs.len() == delete.len()).context("removing NAT rules")?;
        }
        Ok(())
    });
    if let Err(e) = nat {
        errs.push(format!("{e:#}"));
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
        save_ipam(&ipam_file, &ipam)?;
    }
    if !errs.is_empty() {
        bail!("{}", errs.join("; "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_subnets_and_ports() {
        let s: Subnet = "10.88.3.7/16".parse().unwrap();
        assert_eq!(s.to_string(), "10.88.0.0/16");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 88, 0, 1));
        assert_eq!(s.hosts().next(), Some(Ipv4Addr::new(10, 88, 0, 2)));
        let small: Subnet = "10.0.0.0/30".parse().unwrap();
        assert_eq!(small.hosts().count(), 1);
        let p: Port = "8080:80".parse().unwrap();
        assert_eq!((p.host, p.container, p.proto.as_str()), (8080, 80, "tcp"));
        let p: Port = "53:5353/udp".parse().unwrap();
        assert_eq!(p.proto, "udp");
        assert!("80".parse::<Port>().is_err());
        assert!("1:2/sctp".parse::<Port>().is_err());
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
    }
}
