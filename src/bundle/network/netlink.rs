//! A small synchronous rtnetlink client: just the link, address and route requests the
//! bridge network needs. A socket acts in the network namespace of the thread that opened it.

use anyhow::{bail, Context, Result};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const RTA_GATEWAY: u16 = 5;
const NLA_F_NESTED: u16 = 0x8000;

pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        Msg { buf }
    }
    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        self.align();
    }
    /// struct ifinfomsg
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) {
        let mut b = [0u8; 16];
        b[4..8].copy_from_slice(&index.to_ne_bytes());
        b[8..12].copy_from_slice(&flags.to_ne_bytes());
        b[12..16].copy_from_slice(&change.to_ne_bytes());
        self.raw(&b);
    }
    fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.raw(data);
    }
    fn attr_str(&mut self, ty: u16, s: &str) {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d);
    }
    fn nest_begin(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }
    fn nest_end(&mut self, at: usize) {
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }
}

impl Netlink {
    pub fn open() -> Result<Netlink> {
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("opening a netlink socket");
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as u16;
        let r = unsafe {
            libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_nl).cast(), std::mem::size_of::<libc::sockaddr_nl>() as u32)
        };
        if r != 0 {
            return Err(io::Error::last_os_error()).context("binding a netlink socket");
        }
        Ok(Netlink { fd, seq: 1 })
    }

    fn send(&mut self, mut m: Msg) -> io::Result<()> {
        self.seq += 1;
        let len = m.buf.len() as u32;
        m.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        m.buf[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        let n = unsafe { libc::send(self.fd.as_raw_fd(), m.buf.as_ptr().cast(), m.buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; 65536];
        loop {
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let mut off = 0usize;
            let n = n as usize;
            while off + 16 <= n {
                let mlen = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
                if mlen < 16 {
                    break;
                }
                if ty == NLMSG_ERROR && seq == self.seq && off + 20 <= n {
                    let code = i32::from_ne_bytes(buf[off + 16..off + 20].try_into().unwrap());
                    return if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-code)) };
                }
                off += (mlen + 3) & !3;
            }
        }
    }

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

    pub fn set_up(&mut self, index: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        let up = libc::IFF_UP as u32;
        m.ifinfo(index, up, up);
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

/// The index of an interface in the calling thread's network namespace.
pub fn index(name: &str) -> Option<i32> {
    let c = std::ffi::CString::new(name).ok()?;
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i as i32)
}

pub fn index_of(name: &str) -> Result<i32> {
    match index(name) {
        Some(i) => Ok(i),
        None => bail!("no interface {name}"),
    }
}
