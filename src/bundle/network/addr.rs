//! Subnets (IPv4 and IPv6) and published ports, parsed from the command line.

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The IPv4 subnet of a bridge when `--subnet` names none.
pub const DEFAULT_SUBNET4: &str = "10.88.0.0/16";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub net: IpAddr,
    pub prefix: u8,
}

impl std::str::FromStr for Subnet {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let (a, p) = s.split_once('/').ok_or_else(|| anyhow!("subnet {s:?}: expected A.B.C.D/N or an IPv6 prefix X::/N"))?;
        let ip: IpAddr = a.parse().with_context(|| format!("subnet {s:?}"))?;
        let prefix: u8 = p.parse().with_context(|| format!("subnet {s:?}"))?;
        let net = match ip {
            IpAddr::V4(v4) => {
                if !(8..=30).contains(&prefix) {
                    bail!("subnet {s:?}: prefix must be 8..30");
                }
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & (u32::MAX << (32 - prefix))))
            }
            IpAddr::V6(v6) => {
                if !(16..=120).contains(&prefix) {
                    bail!("subnet {s:?}: an IPv6 prefix must be 16..120");
                }
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << (128 - prefix))))
            }
        };
        Ok(Subnet { net, prefix })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// `net + i` in the address family of `net`.
fn offset(net: IpAddr, i: u128) -> IpAddr {
    match net {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(i as u32))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(i))),
    }
}

impl Subnet {
    pub fn is_v6(&self) -> bool {
        self.net.is_ipv6()
    }
    pub fn gateway(&self) -> IpAddr {
        offset(self.net, 1)
    }
    /// Container addresses: from .2 up (IPv4 without the broadcast address; IPv6 bounded).
    pub fn hosts(&self) -> impl Iterator<Item = IpAddr> {
        let bits = if self.is_v6() { 128 } else { 32 } - self.prefix as u32;
        let size: u128 = if self.is_v6() { 1u128 << bits.min(24) } else { (1u128 << bits) - 1 };
        let net = self.net;
        (2..size).map(move |i| offset(net, i))
    }
    /// The mask of the prefix as network-order bytes (4 or 16).
    pub fn mask(&self) -> Vec<u8> {
        match self.net {
            IpAddr::V4(_) => (u32::MAX << (32 - self.prefix)).to_be_bytes().to_vec(),
            IpAddr::V6(_) => (u128::MAX << (128 - self.prefix)).to_be_bytes().to_vec(),
        }
    }
    /// A unique-local /64 for a bridge that asks for IPv6 without naming a prefix: fd00::/8
    /// with 40 bits derived from the bridge's name (RFC 4193's global ID, but stable, so every
    /// bundle on the bridge agrees on it).
    pub fn default_ula(bridge: &str) -> Subnet {
        let h = super::super::image::sha256_hex(format!("bulkhead-ula:{bridge}").as_bytes());
        let id = u64::from_str_radix(&h[..10], 16).unwrap_or(0);
        let net = (0xfdu128 << 120) | ((id as u128) << 80);
        Subnet { net: IpAddr::V6(Ipv6Addr::from(net)), prefix: 64 }
    }
}

pub fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// The bridge's subnets from the `--subnet` flags: at most one per family; IPv4 always (the
/// default when none is named); IPv6 when one is named or `--ipv6` asks for the default ULA.
pub fn subnets(flags: &[String], ipv6: bool, bridge: &str) -> Result<(Subnet, Option<Subnet>)> {
    let mut v4 = None;
    let mut v6 = None;
    for f in flags.iter().flat_map(|f| f.split(',')) {
        let s: Subnet = f.trim().parse()?;
        let slot = if s.is_v6() { &mut v6 } else { &mut v4 };
        if let Some(prev) = slot.replace(s) {
            bail!("--subnet {s} and {prev}: at most one subnet per address family");
        }
    }
    let v4 = match v4 {
        Some(s) => s,
        None => DEFAULT_SUBNET4.parse()?,
    };
    if v6.is_none() && ipv6 {
        v6 = Some(Subnet::default_ula(bridge));
    }
    Ok((v4, v6))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The one host address the port is published on (`-p IP:HOST:CTR`); None: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    pub host: u16,
    pub container: u16,
    pub proto: String,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(a)) => write!(f, "[{a}]:")?,
            Some(a) => write!(f, "{a}:")?,
            None => {}
        }
        write!(f, "{}:{}/{}", self.host, self.container, self.proto)
    }
}

impl Port {
    /// Whether the port is published on addresses of this family.
    pub fn covers(&self, v6: bool) -> bool {
        self.host_ip.is_none_or(|a| a.is_ipv6() == v6)
    }
}

/// `-p [IP:]HOST[-HOST]:CTR[-CTR][/tcp|udp]` (an IPv6 IP in brackets) → one Port per host port.
pub fn parse_publish(s: &str) -> Result<Vec<Port>> {
    let form = "expected [IP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|udp]";
    let (spec, proto) = match s.rsplit_once('/') {
        Some((p, pr)) => (p, pr.to_string()),
        None => (s, "tcp".to_string()),
    };
    if proto != "tcp" && proto != "udp" {
        bail!("port {s:?}: protocol must be tcp or udp");
    }
    let (ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (a, r) = r.split_once("]:").ok_or_else(|| anyhow!("port {s:?}: {form}"))?;
        (Some(a), r)
    } else {
        match spec.matches(':').count() {
            1 => (None, spec),
            2 => {
                let (a, r) = spec.split_once(':').unwrap();
                (Some(a), r)
            }
            _ => bail!("port {s:?}: {form}"),
        }
    };
    let host_ip = match ip {
        Some(a) => {
            let ip: IpAddr = a.parse().map_err(|_| anyhow!("port {s:?}: {a:?} is not an IP address"))?;
            (!ip.is_unspecified()).then_some(ip)
        }
        None => None,
    };
    let (h, c) = rest.split_once(':').ok_or_else(|| anyhow!("port {s:?}: {form}"))?;
    let range = |x: &str| -> Result<(u16, u16)> {
        let one = |v: &str| -> Result<u16> {
            let v: u16 = v.parse().map_err(|_| anyhow!("port {s:?}: {v:?} is not a port number"))?;
            if v == 0 {
                bail!("port {s:?}: 0 is not a port");
            }
            Ok(v)
        };
        match x.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (one(a)?, one(b)?);
                if b < a {
                    bail!("port {s:?}: the range {x} is empty");
                }
                Ok((a, b))
            }
            None => one(x).map(|v| (v, v)),
        }
    };
    let (h0, h1) = range(h)?;
    let (c0, c1) = range(c)?;
    if c1 - c0 != h1 - h0 {
        bail!("port {s:?}: the host and container ranges differ in length");
    }
    Ok((h0..=h1).map(|hp| Port { host_ip, host: hp, container: c0 + (hp - h0), proto: proto.clone() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_subnets_and_ports() {
        let s: Subnet = "10.88.3.7/16".parse().unwrap();
        assert_eq!(s.to_string(), "10.88.0.0/16");
        assert_eq!(s.gateway().to_string(), "10.88.0.1");
        assert_eq!(s.hosts().next().unwrap().to_string(), "10.88.0.2");
        let small: Subnet = "10.0.0.0/30".parse().unwrap();
        assert_eq!(small.hosts().count(), 1);
        let s6: Subnet = "fd00:1:2:3::99/64".parse().unwrap();
        assert_eq!(s6.to_string(), "fd00:1:2:3::/64");
        assert_eq!(s6.gateway().to_string(), "fd00:1:2:3::1");
        assert_eq!(s6.hosts().next().unwrap().to_string(), "fd00:1:2:3::2");
        assert_eq!(s6.mask().len(), 16);
        let u = Subnet::default_ula("bulkhead0");
        assert!(u.to_string().starts_with("fd") && u.prefix == 64, "{u}");
        assert_eq!(u, Subnet::default_ula("bulkhead0"));
        let (v4, v6) = subnets(&["fd00::/64".into()], false, "b").unwrap();
        assert_eq!((v4.to_string(), v6.unwrap().to_string()), ("10.88.0.0/16".into(), "fd00::/64".into()));
        assert!(subnets(&[], false, "b").unwrap().1.is_none());
        assert!(subnets(&[], true, "b").unwrap().1.is_some());
        assert!(subnets(&["10.0.0.0/8,10.1.0.0/16".into()], false, "b").is_err());
        let p = &parse_publish("8080:80").unwrap()[0];
        assert_eq!((p.host, p.container, p.proto.as_str(), p.host_ip), (8080, 80, "tcp", None));
        assert_eq!(parse_publish("53:5353/udp").unwrap()[0].proto, "udp");
        let p = &parse_publish("127.0.0.1:8080:80").unwrap()[0];
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(p.to_string(), "127.0.0.1:8080:80/tcp");
        let p = &parse_publish("[::1]:8080:80/udp").unwrap()[0];
        assert_eq!(p.to_string(), "[::1]:8080:80/udp");
        assert!(p.covers(true) && !p.covers(false));
        assert_eq!(parse_publish("0.0.0.0:1:2").unwrap()[0].host_ip, None);
        let r = parse_publish("8000-8002:9000-9002").unwrap();
        assert_eq!(r.iter().map(|p| (p.host, p.container)).collect::<Vec<_>>(), [(8000, 9000), (8001, 9001), (8002, 9002)]);
        assert!(parse_publish("8000-8001:80").is_err());
        assert!(parse_publish("8000-8002:80-81").is_err());
        assert!(parse_publish("80").is_err());
        assert!(parse_publish("1:2/sctp").is_err());
        assert!(parse_publish("x.y:1:2").is_err());
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
    }
}
