//! Netlink message building for nftables: the message buffer, and a rule's matches and
//! action as nf_tables expressions (what `nft` itself sends for the same rule text).

use super::super::network::addr::{octets, Subnet};
use std::net::IpAddr;

const NLA_F_NESTED: u16 = 0x8000;
const LIST_ELEM: u16 = 1;
const EXPR_NAME: u16 = 1;
const EXPR_DATA: u16 = 2;
const DATA_VALUE: u16 = 1;
const REG_1: u32 = 1;
const REG_2: u32 = 2;
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;
const META_OIFNAME: u32 = 7;
const META_L4PROTO: u32 = 16;
const CT_STATUS: u32 = 2;
/// IPS_DST_NAT: the connection's destination was rewritten (it matched a DNAT rule).
const IPS_DST_NAT: u32 = 0x20;
const RTN_LOCAL: u32 = 2;

/// The address family of a table: `ip` or `ip6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: IpAddr) -> Family {
        if ip.is_ipv6() { Family::V6 } else { Family::V4 }
    }
    pub fn nfproto(self) -> u8 {
        match self {
            Family::V4 => 2,
            Family::V6 => 10,
        }
    }
    /// (source offset, destination offset, address length) in the network header.
    fn addr_fields(self) -> (u32, u32, u32) {
        match self {
            Family::V4 => (12, 16, 4),
            Family::V6 => (8, 24, 16),
        }
    }
}

/// One condition of a rule.
#[derive(Debug, Clone)]
pub enum Match<'a> {
    /// `ip saddr SUBNET`
    Saddr(Subnet),
    /// `ip daddr IP` (or `!=`)
    Daddr(IpAddr, bool),
    /// `oifname NAME` (or `!=`)
    Oifname(&'a str, bool),
    /// `ct status dnat`
    CtDnat,
    /// `fib daddr type local`
    DaddrLocal,
    /// `meta l4proto tcp|udp`
    L4proto(&'a str),
    /// `th dport PORT`
    Dport(u16),
}

#[derive(Debug, Clone)]
pub enum Action {
    Masquerade,
    /// `dnat to IP:PORT`
    Dnat(IpAddr, u16),
}

/// What to add: a rule of one of our base chains.
#[derive(Debug, Clone)]
pub struct NewRule<'a> {
    pub chain: &'static str,
    pub matches: Vec<Match<'a>>,
    pub action: Action,
}

/// A netlink message under construction (nlmsghdr + nfgenmsg + attributes).
pub struct Buf {
    pub b: Vec<u8>,
    nests: Vec<usize>,
}

impl Buf {
    pub fn new() -> Buf {
        Buf { b: Vec::new(), nests: Vec::new() }
    }
    pub fn begin(&mut self, ty: u16, flags: u16, seq: u32, family: u8, res_id: u16) -> usize {
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
    pub fn end(&mut self, at: usize) {
        let len = (self.b.len() - at) as u32;
        self.b[at..at + 4].copy_from_slice(&len.to_ne_bytes());
    }
    pub fn attr(&mut self, ty: u16, data: &[u8]) {
        self.b.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.b.extend_from_slice(&ty.to_ne_bytes());
        self.b.extend_from_slice(data);
        while !self.b.len().is_multiple_of(4) {
            self.b.push(0);
        }
    }
    pub fn str(&mut self, ty: u16, s: &str) {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(ty, &d);
    }
    pub fn u32(&mut self, ty: u16, v: u32) {
        self.attr(ty, &v.to_be_bytes());
    }
    pub fn open(&mut self, ty: u16) {
        self.nests.push(self.b.len());
        self.b.extend_from_slice(&[0, 0]);
        self.b.extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    }
    pub fn close(&mut self) {
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
            b.u32(2, op); // NFTA_CMP_OP
            b.data(3, value); // NFTA_CMP_DATA
        });
    }
    /// base: 1 network, 2 transport header
    fn payload(&mut self, base: u32, offset: u32, len: u32) {
        self.expr("payload", |b| {
            b.u32(1, REG_1); // DREG
            b.u32(2, base);
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
    fn bitwise(&mut self, mask: &[u8]) {
        self.expr("bitwise", |b| {
            b.u32(1, REG_1); // SREG
            b.u32(2, REG_1); // DREG
            b.u32(3, mask.len() as u32); // LEN
            b.data(4, mask); // MASK
            b.data(5, &vec![0; mask.len()]); // XOR
        });
    }
    fn immediate(&mut self, reg: u32, value: &[u8]) {
        self.expr("immediate", |b| {
            b.u32(1, reg);
            b.data(2, value);
        });
    }

    /// The expressions of a rule (inside RULE_EXPRESSIONS).
    pub fn rule(&mut self, family: Family, r: &NewRule) {
        let (src, dst, alen) = family.addr_fields();
        for m in &r.matches {
            match m {
                Match::Saddr(s) => {
                    self.payload(1, src, alen);
                    self.bitwise(&s.mask());
                    self.cmp(CMP_EQ, &octets(s.net));
                }
                Match::Daddr(ip, eq) => {
                    self.payload(1, dst, alen);
                    self.cmp(if *eq { CMP_EQ } else { CMP_NEQ }, &octets(*ip));
                }
                Match::Oifname(name, eq) => {
                    self.meta(META_OIFNAME);
                    let mut n = [0u8; 16];
                    let l = name.len().min(15);
                    n[..l].copy_from_slice(&name.as_bytes()[..l]);
                    self.cmp(if *eq { CMP_EQ } else { CMP_NEQ }, &n);
                }
                Match::CtDnat => {
                    self.expr("ct", |b| {
                        b.u32(1, REG_1); // DREG
                        b.u32(2, CT_STATUS); // KEY
                    });
                    self.bitwise(&IPS_DST_NAT.to_ne_bytes());
                    self.cmp(CMP_NEQ, &[0; 4]);
                }
                Match::DaddrLocal => {
                    self.expr("fib", |b| {
                        b.u32(1, REG_1); // DREG
                        b.u32(2, 3); // RESULT: ADDRTYPE
                        b.u32(3, 2); // FLAGS: DADDR
                    });
                    self.cmp(CMP_EQ, &RTN_LOCAL.to_ne_bytes());
                }
                Match::L4proto(p) => {
                    self.meta(META_L4PROTO);
                    self.cmp(CMP_EQ, &[if *p == "udp" { 17 } else { 6 }]);
                }
                Match::Dport(p) => {
                    self.payload(2, 2, 2);
                    self.cmp(CMP_EQ, &p.to_be_bytes());
                }
            }
        }
        match r.action {
            Action::Masquerade => self.expr("masq", |_| {}),
            Action::Dnat(ip, port) => {
                self.immediate(REG_1, &octets(ip));
                self.immediate(REG_2, &port.to_be_bytes());
                self.expr("nat", |b| {
                    b.u32(1, 1); // TYPE: DNAT
                    b.u32(2, family.nfproto() as u32); // FAMILY
                    b.u32(3, REG_1); // REG_ADDR_MIN
                    b.u32(5, REG_2); // REG_PROTO_MIN
                });
            }
        }
    }
}
