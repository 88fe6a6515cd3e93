//! The port holder of a bundle with published ports: one process (`bulkhead-bundle proxy
//! NAME`, started by create, killed by delete) that binds every published host port, so a
//! port already taken fails the create with a clear error and no one else takes it later,
//! and forwards what reaches its sockets to the container.
//!
//! The kernel's DNAT does the forwarding for IPv4 (127.0.0.1 included, with route_localnet)
//! and for IPv6 to a dual-stack container; what reaches the sockets here is what DNAT cannot
//! carry: `::1` (IPv6 has no route_localnet: the kernel drops ::1 on a non-loopback device),
//! and IPv6 for a container without an IPv6 address (forwarded to its IPv4 address, as
//! docker-proxy does).

use super::super::store::{load_meta, Meta};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a UDP flow without traffic keeps its upstream socket.
const UDP_IDLE: Duration = Duration::from_secs(120);

fn pid_file(store: &Path, name: &str) -> PathBuf {
    store.join("bundles").join(name).join("proxy.pid")
}

/// Starts the holder of `name`'s published ports; returns once every port is bound (or with
/// the error of the first that could not be).
pub fn start(store: &Path, name: &str) -> Result<()> {
    let exe = std::env::current_exe().context("finding bulkhead-bundle's own executable")?;
    let mut child = Command::new(exe)
        .arg("--store")
        .arg(store)
        .args(["proxy", name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir("/")
        .spawn()
        .context("starting the port holder")?;
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    if line.trim() == "ready" {
        return Ok(()); // it lives on, detached (its own session, stdio on /dev/null)
    }
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    let _ = child.wait();
    let err = err.trim().strip_prefix("bulkhead-bundle: ").unwrap_or(err.trim()).to_string();
    if err.is_empty() {
        bail!("the port holder exited without a word");
    }
    Err(anyhow!(err))
}

/// Kills the holder of `name`'s ports (if it runs) and waits until it is gone, so its ports
/// are free when delete returns.
pub fn stop(store: &Path, name: &str) -> Result<()> {
    let f = pid_file(store, name);
    let pid: i32 = match std::fs::read_to_string(&f) {
        Ok(s) => s.trim().parse().with_context(|| format!("parsing {}", f.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", f.display())),
    };
    if let Ok(fd) = crate::sys::pidfd_open(pid) {
        // The pid is ours only while its command line says so (pids are reused).
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if is_holder(&cmdline, store, name) {
            crate::sys::pidfd_send_signal(fd.as_raw_fd(), libc::SIGKILL)
                .with_context(|| format!("killing the port holder (pid {pid})"))?;
            let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            unsafe { libc::poll(&mut p, 1, 10_000) };
        }
    }
    match std::fs::remove_file(&f) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| format!("removing {}", f.display())),
        _ => Ok(()),
    }
}

fn is_holder(cmdline: &[u8], store: &Path, name: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let store = store.as_os_str().as_encoded_bytes();
    args.windows(2).any(|w| w[0] == b"--store" && w[1] == store) && args.windows(2).any(|w| w[0] == b"proxy" && w[1] == name.as_bytes())
}

/// The body of `bulkhead-bundle proxy NAME`.
pub fn serve(store: &Path, name: &str) -> Result<()> {
    // Whatever else create's caller let it inherit must not stay open for the holder's life
    // (a caller reading a pipe to EOF would wait for the bundle's delete).
    crate::sys::close_fds_except(3, &[]);
    std::fs::write(pid_file(store, name), format!("{}\n", std::process::id())).context("writing the port holder's pid file")?;
    let meta: Meta = load_meta(store, name)?.ok_or_else(|| anyhow!("no bundle named {name}"))?;
    let att = meta.attachment.ok_or_else(|| anyhow!("bundle {name} has no bridge attachment"))?;
    let mut listeners = Vec::new();
    for p in &att.ports {
        for v6 in [false, true] {
            if !p.covers(v6) {
                continue;
            }
            let any: IpAddr = if v6 { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() };
            let addr = SocketAddr::new(p.host_ip.unwrap_or(any), p.host);
            // IPv6 goes to the container's IPv6 address when it has one, else to its IPv4.
            let target = SocketAddr::new(if v6 { att.ip6.unwrap_or(att.ip) } else { att.ip }, p.container);
            match bind(addr, &p.proto) {
                Ok(l) => listeners.push((l, target)),
                // A host without IPv6: nothing to hold there.
                Err(e) if v6 && p.host_ip.is_none() && matches!(e.raw_os_error(), Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL)) => {}
                Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
                    bail!("publishing {p}: host port {}/{} on {} is already in use", p.host, p.proto, addr.ip())
                }
                Err(e) => bail!("publishing {p}: binding host port {}/{} on {}: {e}", p.host, p.proto, addr.ip()),
            }
        }
    }
    // Detach: own session, stdio on /dev/null, then tell create that every port is held.
    unsafe { libc::setsid() };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    for fd in 0..3 {
        unsafe { libc::dup2(null.as_raw_fd(), fd) };
    }
    let threads: Vec<_> = listeners
        .into_iter()
        .map(|(l, target)| {
            std::thread::spawn(move || match l {
                Listener::Tcp(l) => serve_tcp(l, target),
                Listener::Udp(u) => serve_udp(u, target),
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

enum Listener {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

/// A socket bound to `addr` (IPv6: v6-only, so the IPv4 socket of the same port is separate).
fn bind(addr: SocketAddr, proto: &str) -> std::io::Result<Listener> {
    let (domain, ty) = (
        if addr.is_ipv6() { libc::AF_INET6 } else { libc::AF_INET },
        if proto == "udp" { libc::SOCK_DGRAM } else { libc::SOCK_STREAM },
    );
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    let set = |level, opt| unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, opt, (&one as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as u32)
    };
    if addr.is_ipv6() {
        set(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY);
    }
    if proto != "udp" {
        set(libc::SOL_SOCKET, libc::SO_REUSEADDR); // TIME_WAIT leftovers only; a listener still conflicts
    }
    let (sa, len) = sockaddr(addr);
    if unsafe { libc::bind(fd.as_raw_fd(), (&sa as *const libc::sockaddr_storage).cast(), len) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if proto == "udp" {
        return Ok(Listener::Udp(UdpSocket::from(fd)));
    }
    if unsafe { libc::listen(fd.as_raw_fd(), 128) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Listener::Tcp(TcpListener::from(fd)))
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as u16,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
                sin_zero: [0; 8],
            };
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as u16,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: a.ip().octets() },
                sin6_scope_id: 0,
            };
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

fn serve_tcp(l: TcpListener, target: SocketAddr) {
    for c in l.incoming() {
        let Ok(client) = c else { continue };
        std::thread::spawn(move || {
            let Ok(up) = TcpStream::connect_timeout(&target, Duration::from_secs(10)) else { return };
            let (Ok(c2), Ok(u2)) = (client.try_clone(), up.try_clone()) else { return };
            let t = std::thread::spawn(move || pipe(c2, u2));
            pipe(up, client);
            let _ = t.join();
        });
    }
}

/// Copies `from` → `to` until EOF, then half-closes `to`.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn serve_udp(l: UdpSocket, target: SocketAddr) {
    let l = Arc::new(l);
    let flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok((n, client)) = l.recv_from(&mut buf) else { continue };
        let up = flows.lock().unwrap().get(&client).cloned();
        let up = match up {
            Some(u) => u,
            None => {
                let any: SocketAddr = if target.is_ipv6() { "[::]:0".parse().unwrap() } else { "0.0.0.0:0".parse().unwrap() };
                let Ok(u) = UdpSocket::bind(any) else { continue };
                if u.connect(target).is_err() || u.set_read_timeout(Some(UDP_IDLE)).is_err() {
                    continue;
                }
                let u = Arc::new(u);
                flows.lock().unwrap().insert(client, u.clone());
                let (l, u2, flows) = (l.clone(), u.clone(), flows.clone());
                std::thread::spawn(move || {
                    let mut b = vec![0u8; 65536];
                    while let Ok(n) = u2.recv(&mut b) {
                        let _ = l.send_to(&b[..n], client);
                    }
                    flows.lock().unwrap().remove(&client);
                });
                u
            }
        };
        let _ = up.send(&buf[..n]);
    }
}
