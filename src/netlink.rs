//! A small synchronous rtnetlink client: messages, the request/ack and dump loop, links and
//! addresses (the runtime's linux.netDevices, netdev.rs). bulkhead-bundle's bridge network
//! adds its requests in bundle/network/netlink.rs. A socket acts in the network namespace of
//! the thread that opened it.

use anyhow::{bail, Context, Result};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const RTM_GETADDR: u16 = 22;
pub(crate) const NLM_F_DUMP: u16 = 0x300;
pub(crate) const IFA_FLAGS: u16 = 8;
pub(crate) const RTM_NEWLINK: u16 = 16;
pub(crate) const RTM_DELLINK: u16 = 17;
pub(crate) const RTM_NEWADDR: u16 = 20;
pub(crate) const NLM_F_REQUEST: u16 = 1;
pub(crate) const NLM_F_ACK: u16 = 4;
pub(crate) const NLM_F_EXCL: u16 = 0x200;
pub(crate) const NLM_F_CREATE: u16 = 0x400;
pub(crate) const IFLA_ADDRESS: u16 = 1;
pub(crate) const IFLA_IFNAME: u16 = 3;
pub(crate) const IFLA_MASTER: u16 = 10;
pub(crate) const IFLA_LINKINFO: u16 = 18;
pub(crate) const IFLA_NET_NS_FD: u16 = 28;
pub(crate) const IFLA_INFO_KIND: u16 = 1;
pub(crate) const IFLA_INFO_DATA: u16 = 2;
pub(crate) const IFA_ADDRESS: u16 = 1;
pub(crate) const IFA_LOCAL: u16 = 2;
pub(crate) const NLA_F_NESTED: u16 = 0x8000;

pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

pub(crate) struct Msg {
    buf: Vec<u8>,
}

impl Msg {
    pub(crate) fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; 16];
        buf[4..6].copy_from_slice(&ty.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        Msg { buf }
    }
    pub(crate) fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
        self.align();
    }
    /// struct ifinfomsg
    pub(crate) fn ifinfo(&mut self, index: i32, flags: u32, change: u32) {
        let mut b = [0u8; 16];
        b[4..8].copy_from_slice(&index.to_ne_bytes());
        b[8..12].copy_from_slice(&flags.to_ne_bytes());
        b[12..16].copy_from_slice(&change.to_ne_bytes());
        self.raw(&b);
    }
    pub(crate) fn attr(&mut self, ty: u16, data: &[u8]) {
        let len = (4 + data.len()) as u16;
        self.buf.extend_from_slice(&len.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.raw(data);
    }
    pub(crate) fn attr_str(&mut self, ty: u16, s: &str) {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d);
    }
    pub(crate) fn nest_begin(&mut self, ty: u16) -> usize {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.buf.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        at
    }
    pub(crate) fn nest_end(&mut self, at: usize) {
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

    /// Sends `m` and hands each reply (type, sequence number, payload after the header) to
    /// `on` until it returns a result.
    fn transact(&mut self, mut m: Msg, on: impl FnMut(u16, u32, &[u8]) -> Option<io::Result<()>>) -> io::Result<()> {
        self.seq += 1;
        let len = m.buf.len() as u32;
        m.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        m.buf[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        let n = unsafe { libc::send(self.fd.as_raw_fd(), m.buf.as_ptr().cast(), m.buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        recv_messages(self.fd.as_raw_fd(), on)
    }

    /// A request answered by an ack (NLMSG_ERROR with 0 or -errno).
    pub(crate) fn send(&mut self, m: Msg) -> io::Result<()> {
        let want = self.seq + 1;
        self.transact(m, |ty, seq, body| (ty == NLMSG_ERROR && seq == want && body.len() >= 4).then(|| error_code(body)))
    }

    pub fn set_up(&mut self, index: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        let up = libc::IFF_UP as u32;
        m.ifinfo(index, up, up);
        self.send(m)
    }
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

/// One address of an interface, as RTM_GETADDR reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub family: u8,
    pub prefix: u8,
    pub flags: u32,
    pub scope: u8,
    pub index: u32,
    pub local: Vec<u8>,
}

impl Netlink {
    pub fn set_down(&mut self, index: i32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(index, 0, libc::IFF_UP as u32);
        self.send(m)
    }

    /// Moves the link into the network namespace `ns` under `name` in one request (a rename
    /// there cannot collide with a name here).
    pub fn move_to_netns(&mut self, index: i32, name: &str, ns: RawFd) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(index, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        m.attr(IFLA_NET_NS_FD, &(ns as u32).to_ne_bytes());
        self.send(m)
    }

    /// Adds an address given as raw bytes (IPv4 or IPv6).
    pub fn add_address_raw(&mut self, index: i32, a: &Addr) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        let mut b = [0u8; 8];
        b[0] = a.family;
        b[1] = a.prefix;
        b[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        m.raw(&b);
        m.attr(IFA_LOCAL, &a.local);
        m.attr(IFA_ADDRESS, &a.local);
        self.send(m)
    }

    /// Every address of the interface `index` (an RTM_GETADDR dump, filtered here).
    pub fn addresses(&mut self, index: i32) -> io::Result<Vec<Addr>> {
        let mut m = Msg::new(RTM_GETADDR, NLM_F_DUMP);
        m.raw(&[0u8; 8]); // struct ifaddrmsg: any family
        let mut out = Vec::new();
        self.transact(m, |ty, _, body| match ty {
            NLMSG_DONE => Some(Ok(())),
            NLMSG_ERROR if body.len() >= 4 => error_code(body).err().map(Err),
            RTM_NEWADDR => {
                out.extend(parse_addr(body).filter(|a| a.index == index as u32));
                None
            }
            _ => None,
        })?;
        Ok(out)
    }
}

fn error_code(body: &[u8]) -> io::Result<()> {
    let code = i32::from_ne_bytes(body[0..4].try_into().unwrap());
    if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-code)) }
}

/// struct ifaddrmsg + attributes → Addr (IFA_LOCAL, else IFA_ADDRESS; IFA_FLAGS over the
/// 8-bit ifa_flags).
fn parse_addr(b: &[u8]) -> Option<Addr> {
    if b.len() < 8 {
        return None;
    }
    let mut a = Addr { family: b[0], prefix: b[1], flags: b[2] as u32, scope: b[3], index: u32::from_ne_bytes(b[4..8].try_into().ok()?), local: Vec::new() };
    let mut address = Vec::new();
    let mut off = 8;
    while off + 4 <= b.len() {
        let len = u16::from_ne_bytes(b[off..off + 2].try_into().ok()?) as usize;
        let ty = u16::from_ne_bytes(b[off + 2..off + 4].try_into().ok()?);
        if len < 4 || off + len > b.len() {
            break;
        }
        let data = &b[off + 4..off + len];
        match ty {
            IFA_LOCAL => a.local = data.to_vec(),
            IFA_ADDRESS => address = data.to_vec(),
            IFA_FLAGS if data.len() == 4 => a.flags = u32::from_ne_bytes(data.try_into().ok()?),
            _ => {}
        }
        off += (len + 3) & !3;
    }
    if a.local.is_empty() {
        a.local = address;
    }
    Some(a)
}

/// Reads netlink datagrams from `fd`, handing each message (type, sequence number, payload
/// after the 16-byte header) to `on` until it returns a result. EINTR is retried. Shared by
/// the rtnetlink client above and bulkhead-bundle's nftables client.
pub(crate) fn recv_messages(fd: RawFd, mut on: impl FnMut(u16, u32, &[u8]) -> Option<io::Result<()>>) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        let mut off = 0usize;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            if len < 16 || off + len > n {
                break;
            }
            let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
            if let Some(r) = on(ty, seq, &buf[off + 16..off + len]) {
                return r;
            }
            off += (len + 3) & !3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_ifaddrmsg() {
        let mut b = vec![libc::AF_INET as u8, 24, 0x80, 0, 7, 0, 0, 0];
        for (ty, data) in [(IFA_ADDRESS, vec![10u8, 0, 0, 1]), (IFA_LOCAL, vec![10, 0, 0, 2]), (IFA_FLAGS, 0x80u32.to_ne_bytes().to_vec())] {
            b.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
            b.extend_from_slice(&ty.to_ne_bytes());
            b.extend_from_slice(&data);
        }
        let a = parse_addr(&b).unwrap();
        assert_eq!((a.family, a.prefix, a.index, a.flags, a.local), (libc::AF_INET as u8, 24, 7, 0x80, vec![10, 0, 0, 2]));
    }
}

