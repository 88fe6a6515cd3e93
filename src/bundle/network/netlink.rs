//! The rtnetlink requests only the bridge network makes (bridge, veth, master, hairpin,
//! addresses, default route), on the crate's client (crate::netlink: messages, acks, links).

use std::io;
use std::net::IpAddr;
use std::os::fd::RawFd;

use crate::netlink::{
    Msg, IFA_ADDRESS, IFA_LOCAL, IFLA_ADDRESS, IFLA_IFNAME, IFLA_INFO_DATA, IFLA_INFO_KIND, IFLA_LINKINFO, IFLA_MASTER,
    IFLA_NET_NS_FD, NLM_F_CREATE, NLM_F_EXCL, RTM_DELLINK, RTM_NEWADDR, RTM_NEWLINK,
};
pub use crate::netlink::{index, index_of, Netlink};

const RTM_NEWROUTE: u16 = 24;
const VETH_INFO_PEER: u16 = 1;
const RTA_GATEWAY: u16 = 5;

impl Netlink {
    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        let li = m.nest_begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "bridge");
        m.nest_end(li);
        self.send(m)
    }

    /// A veth pair: `host` here, `peer` created directly in the namespace `peer_ns`.
    pub fn create_veth(&mut self, host: &str, peer: &str, peer_ns: RawFd, peer_mac: Option<[u8; 6]>) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0);
        m.attr_str(IFLA_IFNAME, host);
        let li = m.nest_begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "veth");
        let data = m.nest_begin(IFLA_INFO_DATA);
        let p = m.nest_begin(VETH_INFO_PEER);
        m.ifinfo(0, 0, 0);
        m.attr_str(IFLA_IFNAME, peer);
        m.attr(IFLA_NET_NS_FD, &(peer_ns as u32).to_ne_bytes());
        if let Some(mac) = peer_mac {
            m.attr(IFLA_ADDRESS, &mac);
        }
        m.nest_end(p);
        m.nest_end(data);
        m.nest_end(li);
        self.send(m)
    }

    pub fn set_master(&mut self, index: i32, master: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(index, 0, 0);
        m.attr(IFLA_MASTER, &(master as u32).to_ne_bytes());
        self.send(m)
    }

    /// Hairpin mode on a bridge port: frames may leave through the port they came in by. With
    /// br_netfilter, a container's packet DNATed back to itself is bridged that way.
    pub fn set_hairpin(&mut self, index: i32) -> io::Result<()> {
        const RTM_SETLINK: u16 = 19;
        const IFLA_PROTINFO: u16 = 12;
        const IFLA_BRPORT_MODE: u16 = 4;
        let mut m = Msg::new(RTM_SETLINK, 0);
        let mut b = [0u8; 16];
        b[0] = libc::AF_BRIDGE as u8;
        b[4..8].copy_from_slice(&index.to_ne_bytes());
        m.raw(&b);
        let p = m.nest_begin(IFLA_PROTINFO);
        m.attr(IFLA_BRPORT_MODE, &[1]);
        m.nest_end(p);
        self.send(m)
    }

    pub fn delete_link(&mut self, index: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_DELLINK, 0);
        m.ifinfo(index, 0, 0);
        self.send(m)
    }

    /// Adds `ip/prefix` to the interface; an IPv6 address without duplicate address detection
    /// (usable at once: the bridge's addresses are ours to hand out).
    pub fn add_address(&mut self, index: i32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        const IFA_F_NODAD: u8 = 0x02;
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        let mut b = [0u8; 8];
        b[0] = family(ip);
        b[1] = prefix;
        b[2] = if ip.is_ipv6() { IFA_F_NODAD } else { 0 };
        b[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        m.raw(&b);
        let o = super::addr::octets(ip);
        m.attr(IFA_LOCAL, &o);
        m.attr(IFA_ADDRESS, &o);
        self.send(m)
    }

    pub fn add_default_route(&mut self, gateway: IpAddr) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // struct rtmsg: family, dst_len, src_len, tos, table (main), protocol (boot), scope
        // (universe), type (unicast), flags
        let b = [family(gateway), 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0];
        m.raw(&b);
        m.attr(RTA_GATEWAY, &super::addr::octets(gateway));
        self.send(m)
    }
}

fn family(ip: IpAddr) -> u8 {
    if ip.is_ipv6() { libc::AF_INET6 as u8 } else { libc::AF_INET as u8 }
}

