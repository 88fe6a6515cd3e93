//! The init layer's /etc/hosts, /etc/resolv.conf and /etc/hostname, as docker writes them
//! (libnetwork's etchosts and resolvconf) for each network mode:
//! - bridge: the default hosts entries plus `ADDRESS\tHOSTNAME` per container address; the
//!   host's resolv.conf without loopback nameservers (and without IPv6 ones for an IPv4-only
//!   container), Google's public resolvers when none is left;
//! - none: the default hosts entries only; resolv.conf as for an IPv4-only bridge;
//! - host: the host's /etc/hosts and /etc/resolv.conf as they are, the host's hostname;
//! - container:NAME: that bundle's three files (its hostname too).

use anyhow::{Context, Result};
use std::fs;
use std::net::IpAddr;
use std::path::Path;

const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
const FILES: [&str; 3] = ["hosts", "resolv.conf", "hostname"];

/// How the bundle's network is set up, for its /etc files.
pub enum Mode<'a> {
    /// Its own namespace with these addresses (none: no address).
    Own { addrs: &'a [IpAddr] },
    Host,
    /// Shares the namespace of the bundle whose init layer is at this path.
    Container(&'a Path),
}

/// Writes the three files into `init/etc`.
pub fn write(init: &Path, mode: &Mode, hostname: &str) -> Result<()> {
    let etc = init.join("etc");
    fs::create_dir_all(&etc).with_context(|| format!("creating {}", etc.display()))?;
    let put = |f: &str, data: String| fs::write(etc.join(f), data).with_context(|| format!("writing {}", etc.join(f).display()));
    match mode {
        Mode::Container(other) => {
            for f in FILES {
                let src = other.join("etc").join(f);
                let data = fs::read_to_string(&src).with_context(|| format!("reading {}", src.display()))?;
                put(f, data)?;
            }
            return Ok(());
        }
        Mode::Host => {
            put("hosts", fs::read_to_string("/etc/hosts").unwrap_or_else(|_| DEFAULT_HOSTS.to_string()))?;
            put("resolv.conf", fs::read_to_string("/etc/resolv.conf").unwrap_or_default())?;
        }
        Mode::Own { addrs } => {
            put("hosts", hosts(addrs, hostname))?;
            let ipv6 = addrs.iter().any(IpAddr::is_ipv6);
            put("resolv.conf", resolv(&fs::read_to_string("/etc/resolv.conf").unwrap_or_default(), ipv6))?;
        }
    }
    put("hostname", format!("{hostname}\n"))
}

/// The hostname a bundle on the host's network gets unless --hostname names one (docker's).
pub fn host_hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

/// The hostname of the bundle whose init layer is at `init`.
pub fn hostname_of(init: &Path) -> Result<String> {
    let p = init.join("etc/hostname");
    Ok(fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?.trim().to_string())
}

fn hosts(addrs: &[IpAddr], hostname: &str) -> String {
    let mut s = DEFAULT_HOSTS.to_string();
    for a in addrs {
        s += &format!("{a}\t{hostname}\n");
    }
    s
}

fn resolv(host: &str, ipv6: bool) -> String {
    let mut out = String::new();
    let mut servers = 0;
    for l in host.lines() {
        let mut w = l.split_whitespace();
        if w.next() == Some("nameserver") {
            let Some(Ok(ip)) = w.next().map(|a| a.split('%').next().unwrap_or(a).parse::<IpAddr>()) else { continue };
            // Loopback resolvers of the host are unreachable from another namespace.
            if ip.is_loopback() || (ip.is_ipv6() && !ipv6) {
                continue;
            }
            servers += 1;
        }
        out += l;
        out.push('\n');
    }
    if servers == 0 {
        out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
        if ipv6 {
            out += "nameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844\n";
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_shaped_files() {
        let a: Vec<IpAddr> = vec!["10.88.0.2".parse().unwrap(), "fd00::2".parse().unwrap()];
        let h = hosts(&a, "web");
        assert!(h.starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"));
        assert!(h.ends_with("ff02::2\tip6-allrouters\n10.88.0.2\tweb\nfd00::2\tweb\n"), "{h}");
        assert!(!hosts(&[], "web").contains("web"));
        let host = "# comment\nsearch example.org\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver 2001:db8::1\noptions edns0\n";
        assert_eq!(resolv(host, false), "# comment\nsearch example.org\nnameserver 192.0.2.1\noptions edns0\n");
        assert!(resolv(host, true).contains("nameserver 2001:db8::1\n"));
        let only_local = "nameserver 127.0.0.53\nsearch x\n";
        assert_eq!(resolv(only_local, false), "search x\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        assert!(resolv(only_local, true).ends_with("nameserver 2001:4860:4860::8844\n"));
    }
}
