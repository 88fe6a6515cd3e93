//! nftables over netlink (NETLINK_NETFILTER, nf_tables subsystem): just what the bridge
//! network needs. One table `ip bulkhead` with three NAT base chains; rules carry their owner
//! as an nft comment (rule userdata), so teardown finds them by dumping the table. Rules made
//! here list normally with `nft list ruleset`.

use anyhow::{bail, Context, Result};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_NETFILTER: i32 = 12;
const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_DELRULE: u16 = 8;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NFPROTO_IPV4: u8 = 2;
const NLA_F_NESTED: u16 = 0x8000;

// attributes
const TABLE_NAME: u16 = 1;
const CHAIN_TABLE: u16 = 1;
const CHAIN_NAME: u16 = 3;
const CHAIN_HOOK: u16 = 4;
const CHAIN_POLICY: u16 = 5;
const CHAIN_TYPE: u16 = 7;
const HOOK_NUM: u16 = 1;
const HOOK_PRIORITY: u16 = 2;
const RULE_TABLE: u16 = 1;
const RULE_CHAIN: u16 = 2;
const RULE_HANDLE: u16 = 3;
const RULE_EXPRESSIONS: u16 = 4;
const RULE_USERDATA: u16 = 7;
const LIST_ELEM: u16 = 1;
const EXPR_NAME: u16 = 1;
const EXPR_DATA: u16 = 2;
const DATA_VALUE: u16 = 1;
const REG_1: u32 = 1;
const REG_2: u32 = 2;

pub const TABLE: &str = "bulkhead";

/// A netlink message under construction (nlmsghdr + nfgenmsg + attributes).
struct Buf {
    b: Vec<u8>,
    nests: Vec<usize>,
}

impl Buf {
    fn begin(&mut self, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> usize {
        let at = self.b.len();
        self.b.extend_from_slice(&[0; 4]);
        self.b.extend_from_slice(&ty.to_ne_bytes());
        self.b.extend_from_slice(&flags.to_ne_bytes());
        self.b.extend_from_slice(&seq.to_ne_bytes());
        self.b.extend_from_slice(&[0; 4]);
        self.b.extend_from_slice(&[family, 0]);
        self.b.extend_from_slice(&res_id.to_be_bytes());
        at
    }
    fn end(&mut self, at: usize) {
        let len = (self.b.len() - at) as u32;
        self.b[at..at + 4].copy_from_slice(&len.to_ne_bytes());
    }
    fn attr(&mut self, ty: u16, data: &[u8]) {
        self.b.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.b.extend_from_slice(&ty.to_ne_bytes());
        self.b.extend_from_slice(data);
        while !self.b.len().is_multiple_of(4) {
            self.b.push(0);
        }
    }
    fn str(&mut self, ty: u16, s: &str) {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d);
    }
    fn u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }
    fn open(&mut self, ty: u16) {
        self.nests.push(self.b.len());
        self.b.extend_from_slice(&[0, 0]);
        self.b.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    }
    fn close(&mut self) {
        let at = self.nests.pop().unwrap();
        let len = (self.b.len() - at) as u16;
        self.b[at..at + 2].copy_from_slice(&len.to_ne_bytes());
    }
    fn data(&mut self, ty: u16, value: &[u8]) {
        self.open(ty);
        self.attr(DATA_VALUE, value);
        self.close();
    }
    /// One expression: name + its attributes written by `f`.
    fn expr(&mut self, name: &str, f: impl FnOnce(&mut Buf)) {
        self.open(LIST_ELEM);
        self.str(EXPR_NAME, name);
        self.open(EXPR_DATA);
        f(self);
        self.close();
        self.close();
    }
    fn cmp(&mut self, op: u32, value: &[u8]) {
        self.expr("cmp", |b| {
            b.u32(1, REG_1); // NFTA_CMP_SREG
            b.u32(2, op); // NFTA_CMP_OP: 0 eq, 1 neq
            b.data(3, value); // NFTA_CMP_DATA
        });
    }
    fn payload(&mut self, base: u32, offset: u32, len: u32) {
        self.expr("payload", |b| {
            b.u32(1, REG_1); // DREG
            b.u32(2, base); // 1 network, 2 transport header
            b.u32(3, offset);
            b.u32(4, len);
        });
    }
    fn meta(&mut self, key: u32) {
        self.expr("meta", |b| {
            b.u32(1, REG_1); // DREG
            b.u32(2, key); // KEY
        });
    }
    fn immediate(&mut self, reg: u32, value: &[u8]) {
        self.expr("immediate", |b| {
            b.u32(1, reg);
            b.data(2, value);
        });
    }
}

/// A rule of our table as dumped from the kernel.
#[derive(Debug)]
pub struct Rule {
    pub chain: String,
    pub handle: u64,
    pub comment: String,
}

/// What to add: the masquerade rule of a bridge, or a DNAT rule of a published port.
pub enum NewRule<'a> {
    Masquerade { subnet: Ipv4Addr, prefix: u8, bridge: &'a str },
    Dnat { chain: &'a str, proto: &'a str, host_port: u16, ip: Ipv4Addr, port: u16 },
}

pub struct Nft {
    fd: OwnedFd,
    seq: u32,
}

impl Nft {
    pub fn open() -> Result<Nft> {
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, NETLINK_NETFILTER) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("opening a netfilter netlink socket");
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval { tv_sec: 10, tv_usec: 0 };
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        Ok(Nft { fd, seq: std::process::id().wrapping_mul(1000) })
    }

    fn next(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&self, b: &[u8]) -> io::Result<()> {
        let n = unsafe { libc::send(self.fd.as_raw_fd(), b.as_ptr().cast(), b.len(), 0) };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
    }

    /// Receives messages, calling `f(type, seq, payload)` for each, until `f` says stop.
    fn recv(&self, mut f: impl FnMut(u16, u32, &[u8]) -> Option<io::Result<()>>) -> io::Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let n = n as usize;
            let mut off = 0;
            while off + 16 <= n {
                let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
                if len < 16 || off + len > n {
                    break;
                }
                let ty = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
                let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
                if let Some(r) = f(ty, seq, &buf[off + 16..off + len]) {
                    return r;
                }
                off += (len + 3) & !3;
            }
        }
    }

    /// Sends the messages written by `f` as one transaction; every message is acknowledged.
    fn batch(&mut self, f: impl FnOnce(&mut Buf, &mut dyn FnMut() -> u32)) -> io::Result<()> {
        let mut b = Buf { b: Vec::new(), nests: Vec::new() };
        let s = self.next();
        let at = b.begin(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, s, 0, NFNL_SUBSYS_NFTABLES);
        b.end(at);
        let mut seqs = Vec::new();
        let mut seq = self.seq;
        {
            let mut next = || {
                seq = seq.wrapping_add(1);
                seqs.push(seq);
                seq
            };
            f(&mut b, &mut next);
        }
        self.seq = seq;
        let s = self.next();
        let at = b.begin(NFNL_MSG_BATCH_END, NLM_F_REQUEST, s, 0, NFNL_SUBSYS_NFTABLES);
        b.end(at);
        if seqs.is_empty() {
            return Ok(());
        }
        self.send(&b.b)?;
        let mut pending: std::collections::HashSet<u32> = seqs.into_iter().collect();
        self.recv(|ty, seq, payload| {
            if ty == NLMSG_ERROR && payload.len() >= 4 {
                let code = i32::from_ne_bytes(payload[..4].try_into().unwrap());
                if code != 0 {
                    return Some(Err(io::Error::from_raw_os_error(-code)));
                }
                pending.remove(&seq);
                if pending.is_empty() {
                    return Some(Ok(()));
                }
            }
            None
        })
    }

    /// Our table and its three NAT base chains (no-ops if they exist), plus `rules`.
    pub fn add(&mut self, rules: &[NewRule], comment: &str) -> io::Result<()> {
        self.batch(|b, next| {
            let at = b.begin(msg(NFT_MSG_NEWTABLE), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, next(), NFPROTO_IPV4, 0);
            b.str(TABLE_NAME, TABLE);
            b.end(at);
            // (name, hook, priority): dstnat -100, output -100, srcnat 100
            for (name, hook, prio) in [("prerouting", 0u32, -100i32), ("output", 3, -100), ("postrouting", 4, 100)] {
                let at = b.begin(msg(NFT_MSG_NEWCHAIN), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, next(), NFPROTO_IPV4, 0);
                b.str(CHAIN_TABLE, TABLE);
                b.str(CHAIN_NAME, name);
                b.open(CHAIN_HOOK);
                b.u32(HOOK_NUM, hook);
                b.u32(HOOK_PRIORITY, prio as u32);
                b.close();
                b.u32(CHAIN_POLICY, 1); // NF_ACCEPT
                b.str(CHAIN_TYPE, "nat");
                b.end(at);
            }
            for r in rules {
                let chain = match r {
                    NewRule::Masquerade { .. } => "postrouting",
                    NewRule::Dnat { chain, .. } => chain,
                };
                let at = b.begin(
                    msg(NFT_MSG_NEWRULE),
                    NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND,
                    next(),
                    NFPROTO_IPV4,
                    0,
                );
                b.str(RULE_TABLE, TABLE);
                b.str(RULE_CHAIN, chain);
                b.open(RULE_EXPRESSIONS);
                match r {
                    NewRule::Masquerade { subnet, prefix, bridge } => {
                        // ip saddr SUBNET
                        b.payload(1, 12, 4);
                        let mask = (u32::MAX << (32 - *prefix as u32)).to_be_bytes();
                        b.expr("bitwise", |b| {
                            b.u32(1, REG_1); // SREG
                            b.u32(2, REG_1); // DREG
                            b.u32(3, 4); // LEN
                            b.data(4, &mask); // MASK
                            b.data(5, &[0; 4]); // XOR
                        });
                        b.cmp(0, &subnet.octets());
                        // oifname != BRIDGE
                        b.meta(7);
                        let mut name = [0u8; 16];
                        name[..bridge.len().min(15)].copy_from_slice(&bridge.as_bytes()[..bridge.len().min(15)]);
                        b.cmp(1, &name);
                        b.expr("masq", |_| {});
                    }
                    NewRule::Dnat { proto, host_port, ip, port, .. } => {
                        // fib daddr type local
                        b.expr("fib", |b| {
                            b.u32(1, REG_1); // DREG
                            b.u32(2, 3); // RESULT: ADDRTYPE
                            b.u32(3, 2); // FLAGS: DADDR
                        });
                        b.cmp(0, &2u32.to_ne_bytes()); // RTN_LOCAL
                        // meta l4proto PROTO; th dport HOSTPORT
                        b.meta(16);
                        b.cmp(0, &[if *proto == "udp" { 17 } else { 6 }]);
                        b.payload(2, 2, 2);
                        b.cmp(0, &host_port.to_be_bytes());
                        // dnat to IP:PORT
                        b.immediate(REG_1, &ip.octets());
                        b.immediate(REG_2, &port.to_be_bytes());
                        b.expr("nat", |b| {
                            b.u32(1, 1); // TYPE: DNAT
                            b.u32(2, NFPROTO_IPV4 as u32); // FAMILY
                            b.u32(3, REG_1); // REG_ADDR_MIN
                            b.u32(5, REG_2); // REG_PROTO_MIN
                        });
                    }
                }
                b.close();
                // nft's comment: userdata TLV (type 0), NUL-terminated
                let mut ud = vec![0u8, (comment.len() + 1) as u8];
                ud.extend_from_slice(comment.as_bytes());
                ud.push(0);
                b.attr(RULE_USERDATA, &ud);
                b.end(at);
            }
        })
    }

    /// The rules of our table (empty if it does not exist).
    pub fn rules(&mut self) -> io::Result<Vec<Rule>> {
        let mut b = Buf { b: Vec::new(), nests: Vec::new() };
        let seq = self.next();
        let at = b.begin(msg(NFT_MSG_GETRULE), NLM_F_REQUEST | NLM_F_DUMP, seq, NFPROTO_IPV4, 0);
        b.str(RULE_TABLE, TABLE);
        b.end(at);
        self.send(&b.b)?;
        let mut out = Vec::new();
        let r = self.recv(|ty, s, payload| {
            if s != seq {
                return None;
            }
            match ty {
                NLMSG_DONE => Some(Ok(())),
                NLMSG_ERROR => {
                    let code = i32::from_ne_bytes(payload.get(..4)?.try_into().ok()?);
                    Some(if code == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-code)) })
                }
                _ => {
                    if let Some(rule) = parse_rule(payload.get(4..).unwrap_or(&[])) {
                        out.push(rule);
                    }
                    None
                }
            }
        });
        match r {
            Ok(()) => Ok(out),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Deletes rules by (chain, handle); with `drop_table`, the whole table instead.
    pub fn delete(&mut self, rules: &[(String, u64)], drop_table: bool) -> io::Result<()> {
        let r = self.batch(|b, next| {
            if drop_table {
                let at = b.begin(msg(NFT_MSG_DELTABLE), NLM_F_REQUEST | NLM_F_ACK, next(), NFPROTO_IPV4, 0);
                b.str(TABLE_NAME, TABLE);
                b.end(at);
                return;
            }
            for (chain, handle) in rules {
                let at = b.begin(msg(NFT_MSG_DELRULE), NLM_F_REQUEST | NLM_F_ACK, next(), NFPROTO_IPV4, 0);
                b.str(RULE_TABLE, TABLE);
                b.str(RULE_CHAIN, chain);
                b.attr(RULE_HANDLE, &handle.to_be_bytes());
                b.end(at);
            }
        });
        match r {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }
}

fn msg(ty: u16) -> u16 {
    (NFNL_SUBSYS_NFTABLES << 8) | ty
}

fn parse_rule(mut a: &[u8]) -> Option<Rule> {
    let mut rule = Rule { chain: String::new(), handle: 0, comment: String::new() };
    while a.len() >= 4 {
        let len = u16::from_ne_bytes([a[0], a[1]]) as usize;
        let ty = u16::from_ne_bytes([a[2], a[3]]) & 0x3fff;
        if len < 4 || len > a.len() {
            break;
        }
        let v = &a[4..len];
        match ty {
            RULE_CHAIN => rule.chain = String::from_utf8_lossy(v).trim_end_matches('\0').to_string(),
            RULE_HANDLE if v.len() == 8 => rule.handle = u64::from_be_bytes(v.try_into().ok()?),
            RULE_USERDATA => {
                let mut u = v;
                while u.len() >= 2 {
                    let (t, l) = (u[0], u[1] as usize);
                    if u.len() < 2 + l {
                        break;
                    }
                    if t == 0 {
                        rule.comment = String::from_utf8_lossy(&u[2..2 + l]).trim_end_matches('\0').to_string();
                    }
                    u = &u[2 + l..];
                }
            }
            _ => {}
        }
        a = &a[((len + 3) & !3).min(a.len())..];
    }
    Some(rule)
}

pub fn check(r: io::Result<()>, what: &str) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) || e.raw_os_error() == Some(libc::ENOENT) => {
            bail!("{what}: {e} (is the nf_tables/nft_nat/nft_fib kernel support loaded?)")
        }
        Err(e) => Err(e).context(what.to_string()),
    }
}
