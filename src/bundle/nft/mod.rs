//! nftables over netlink (NETLINK_NETFILTER, nf_tables subsystem): just what the bridge
//! network needs. One table `bulkhead` per family (`ip`, `ip6`) with three NAT base chains;
//! rules carry their owner as an nft comment (rule userdata), so teardown finds them by
//! dumping the table. Rules made here list normally with `nft list ruleset`. The expressions
//! of a rule are built in expr.rs.

mod expr;

pub use expr::{Action, Family, Match, NewRule};
use expr::Buf;

use anyhow::{bail, Context, Result};
use std::io;
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

pub const TABLE: &str = "bulkhead";

/// A rule of our table as dumped from the kernel.
#[derive(Debug)]
pub struct Rule {
    pub family: Family,
    pub chain: String,
    pub handle: u64,
    pub comment: String,
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
    fn recv(&self, f: impl FnMut(u16, u32, &[u8]) -> Option<io::Result<()>>) -> io::Result<()> {
        crate::netlink::recv_messages(self.fd.as_raw_fd(), f)
    }

    /// Sends the messages written by `f` as one transaction; every message is acknowledged.
    fn batch(&mut self, f: impl FnOnce(&mut Buf, &mut dyn FnMut() -> u32)) -> io::Result<()> {
        let mut b = Buf::new();
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

    /// Our table of `family` and its three NAT base chains (no-ops if they exist), plus `rules`.
    pub fn add(&mut self, family: Family, rules: &[NewRule], comment: &str) -> io::Result<()> {
        let fam = family.nfproto();
        self.batch(|b, next| {
            let at = b.begin(msg(NFT_MSG_NEWTABLE), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, next(), fam, 0);
            b.str(TABLE_NAME, TABLE);
            b.end(at);
            // (name, hook, priority): dstnat -100, output -100, srcnat 100
            for (name, hook, prio) in [("prerouting", 0u32, -100i32), ("output", 3, -100), ("postrouting", 4, 100)] {
                let at = b.begin(msg(NFT_MSG_NEWCHAIN), NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE, next(), fam, 0);
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
                let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND;
                let at = b.begin(msg(NFT_MSG_NEWRULE), flags, next(), fam, 0);
                b.str(RULE_TABLE, TABLE);
                b.str(RULE_CHAIN, r.chain);
                b.open(RULE_EXPRESSIONS);
                b.rule(family, r);
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
    pub fn rules(&mut self, family: Family) -> io::Result<Vec<Rule>> {
        let mut b = Buf::new();
        let seq = self.next();
        let at = b.begin(msg(NFT_MSG_GETRULE), NLM_F_REQUEST | NLM_F_DUMP, seq, family.nfproto(), 0);
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
                    if let Some(rule) = parse_rule(family, payload.get(4..).unwrap_or(&[])) {
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
    pub fn delete(&mut self, family: Family, rules: &[(String, u64)], drop_table: bool) -> io::Result<()> {
        let fam = family.nfproto();
        let r = self.batch(|b, next| {
            if drop_table {
                let at = b.begin(msg(NFT_MSG_DELTABLE), NLM_F_REQUEST | NLM_F_ACK, next(), fam, 0);
                b.str(TABLE_NAME, TABLE);
                b.end(at);
                return;
            }
            for (chain, handle) in rules {
                let at = b.begin(msg(NFT_MSG_DELRULE), NLM_F_REQUEST | NLM_F_ACK, next(), fam, 0);
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

fn parse_rule(family: Family, mut a: &[u8]) -> Option<Rule> {
    let mut rule = Rule { family, chain: String::new(), handle: 0, comment: String::new() };
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
