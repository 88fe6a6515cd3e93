//! bulkhead-bundle's bridge network as a user expects it (issue 17): published ports on
//! 127.0.0.1 and ::1, on the host's other addresses and from a client machine, TCP and UDP,
//! IPv4 and IPv6; hairpin; one address; ranges; a port already taken; /etc files per network
//! mode; nothing left after delete, nor after a create killed half way (gc).
//!
//! Everything happens in namespaces the test makes: a "host" namespace the tool runs in, and a
//! "client" namespace routed to it (10.201.0.0/24, fd20:1::/64). TCP is the container's busybox
//! httpd; UDP an echo server (python3) in the container's network namespace; the clients are
//! python3 in the namespace they stand for.

mod bundle_common;

use bundle_common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// `proto host port` → the HTTP body (tcp) or the echo (udp), or `ERR …`.
const CLIENT: &str = r#"
import socket, sys
proto, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
try:
    if proto == 'tcp':
        s = socket.create_connection((host, port), timeout=3)
        s.settimeout(3)
        s.sendall(b'GET /index.html HTTP/1.0\r\n\r\n')
        data = b''
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        sys.stdout.write(data.decode(errors='replace').split('\r\n\r\n', 1)[-1])
    else:
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.settimeout(1)
        for _ in range(3):
            s.sendto(b'ping', (host, port))
            try:
                sys.stdout.write(s.recv(4096).decode())
                break
            except socket.timeout:
                pass
        else:
            sys.stdout.write('ERR timeout')
except Exception as e:
    sys.stdout.write('ERR %s' % e)
"#;

/// A UDP echo ("udp:" + datagram) on port argv[1], IPv4 and IPv6.
const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', int(sys.argv[1])))
while True:
    d, a = s.recvfrom(4096)
    s.sendto(b'udp:' + d, a)
"#;

/// Holds a TCP port (all IPv4 addresses) until killed.
const HOLD: &str = "import socket, sys, time\ns = socket.socket()\ns.bind(('0.0.0.0', int(sys.argv[1])))\ns.listen()\nprint('held', flush=True)\ntime.sleep(600)\n";

const BODY: &str = "hello from the bundle\n";

struct Net {
    host: String,
    client: String,
}

/// The "host" namespace (the tool runs there) and a "client" namespace routed to it.
fn topology(w: &mut World, tag: &str) -> Net {
    let host = w.add_netns(&format!("{tag}h"));
    let client = w.add_netns(&format!("{tag}c"));
    w.host_ns = Some(host.clone());
    let ip = |args: &[&str]| ok(Command::new("ip").args(args));
    ip(&["-n", &host, "link", "add", "up0", "type", "veth", "peer", "name", "down0", "netns", &client]);
    ip(&["-n", &host, "addr", "add", "10.201.0.1/24", "dev", "up0"]);
    ip(&["-n", &host, "addr", "add", "fd20:1::1/64", "dev", "up0", "nodad"]);
    ip(&["-n", &host, "link", "set", "up0", "up"]);
    ip(&["-n", &client, "addr", "add", "10.201.0.2/24", "dev", "down0"]);
    ip(&["-n", &client, "addr", "add", "fd20:1::2/64", "dev", "down0", "nodad"]);
    ip(&["-n", &client, "link", "set", "down0", "up"]);
    ip(&["-n", &client, "route", "add", "default", "via", "10.201.0.1"]);
    ip(&["-n", &client, "-6", "route", "add", "default", "via", "fd20:1::1"]);
    Net { host, client }
}

fn ns_path(ns: &str) -> PathBuf {
    Path::new("/run/netns").join(ns)
}

fn bundle_ns(w: &World, name: &str) -> PathBuf {
    w.store.join("netns").join(name)
}

/// What a client in the namespace at `ns` gets from `host`:`port`.
fn get(ns: &Path, proto: &str, host: &str, port: u16) -> String {
    let o = run(Command::new("nsenter").arg(format!("--net={}", ns.display())).args(["python3", "-c", CLIENT, proto, host]).arg(port.to_string()));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn expect(proto: &str) -> &'static str {
    if proto == "tcp" { BODY } else { "udp:ping" }
}

/// Asserts that `proto` to each of `hosts`:`port` from `ns` answers (or, with `answers`
/// false, does not).
fn check(ns: &Path, proto: &str, hosts: &[&str], port: u16, answers: bool, what: &str) {
    for h in hosts {
        let got = get(ns, proto, h, port);
        if answers {
            assert_eq!(got, expect(proto), "{what}: {proto} {h} port {port}");
        } else {
            assert!(got.starts_with("ERR"), "{what}: {proto} {h} port {port} answered {got:?}");
        }
    }
}

/// A long-running process in the namespace at `ns` (killed when the test ends).
fn spawn_in(w: &mut World, ns: &Path, args: &[&str]) {
    let c = Command::new("nsenter").arg(format!("--net={}", ns.display())).args(args).stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
    w.children.push(c);
}

/// Whether nothing in namespace `ns` holds `port` (TCP, IPv4 and IPv6 wildcard; TIME_WAIT
/// leftovers of finished connections aside).
fn port_free(ns: &str, port: u16) -> bool {
    let py = "import socket, sys\nfor f, a in ((socket.AF_INET, '0.0.0.0'), (socket.AF_INET6, '::')):\n    s = socket.socket(f)\n    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n    s.bind((a, int(sys.argv[1])))\n    s.listen()\n";
    run(Command::new("ip").args(["netns", "exec", ns, "python3", "-c", py, &port.to_string()])).status.success()
}

fn image(w: &World) -> String {
    let img = w.path("img");
    write_oci(&img, &default_image());
    img.to_string_lossy().into_owned()
}

#[test]
fn published_ports_answer_everywhere_ipv4_and_ipv6() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let net = topology(&mut w, "bnp");
    let img = image(&w);
    let base = ["--image", img.as_str(), "--bridge", "bknet1", "--subnet", "10.77.0.0/24", "--subnet", "fd77::/64"];
    let web = w.path("web");
    let publish = ["-p", "8080:80", "-p", "5353:5353/udp", "-p", "127.0.0.1:9090:80", "-p", "8100-8101:80-81"];
    w.create_ok(&web, &[&base[..], &publish].concat(), &["sh", "-c", "httpd -p 81 -h /www && exec httpd -f -p 80 -h /www"]);
    w.start_bundle(&web);
    let web_ns = bundle_ns(&w, "web");
    spawn_in(&mut w, &web_ns, &["python3", "-c", UDP_ECHO, "5353"]);
    let (host, client) = (ns_path(&net.host), ns_path(&net.client));

    // The container: both addresses, both default routes.
    let addrs = ok(Command::new("nsenter").arg(format!("--net={}", web_ns.display())).args(["ip", "-o", "addr", "show", "eth0"]));
    assert!(addrs.contains("10.77.0.2/24") && addrs.contains("fd77::2/64"), "{addrs}");
    let routes = ok(Command::new("nsenter").arg(format!("--net={}", web_ns.display())).args(["ip", "-6", "route"]));
    assert!(routes.contains("default via fd77::1"), "{routes}");
    let hosts = std::fs::read_to_string(web.join("rootfs/etc/hosts")).unwrap();
    assert!(hosts.ends_with("10.77.0.2\tweb\nfd77::2\tweb\n"), "{hosts}");

    // Row 1: the container's own addresses, port 80.
    let up = wait_for(Duration::from_secs(15), || (get(&host, "tcp", "10.77.0.2", 80) == BODY).then_some(()));
    assert!(up.is_some(), "httpd in the container never answered");
    let up = wait_for(Duration::from_secs(15), || (get(&host, "udp", "10.77.0.2", 5353) == "udp:ping").then_some(()));
    assert!(up.is_some(), "the UDP echo in the container's namespace never answered");
    check(&host, "tcp", &["10.77.0.2", "fd77::2"], 80, true, "the container's own address");
    // The published ports on every address of the host, from the host itself: the bridge's,
    // loopback, and its other addresses; TCP and UDP.
    let everywhere = ["10.77.0.1", "fd77::1", "127.0.0.1", "::1", "10.201.0.1", "fd20:1::1"];
    check(&host, "tcp", &everywhere, 8080, true, "from the host");
    check(&host, "udp", &everywhere, 5353, true, "from the host");
    // From the client machine.
    check(&client, "tcp", &["10.201.0.1", "fd20:1::1"], 8080, true, "from the client");
    check(&client, "udp", &["10.201.0.1", "fd20:1::1"], 5353, true, "from the client");
    // -p 127.0.0.1:9090:80 binds that address only.
    check(&host, "tcp", &["127.0.0.1"], 9090, true, "-p 127.0.0.1:9090:80");
    check(&host, "tcp", &["10.201.0.1", "::1"], 9090, false, "-p 127.0.0.1:9090:80 elsewhere");
    check(&client, "tcp", &["10.201.0.1"], 9090, false, "-p 127.0.0.1:9090:80 from the client");
    // A range.
    check(&host, "tcp", &["127.0.0.1", "::1"], 8100, true, "range");
    check(&client, "tcp", &["10.201.0.1", "fd20:1::1"], 8101, true, "range");
    // Unpublished: nothing.
    check(&client, "tcp", &["10.201.0.1"], 8082, false, "unpublished");

    // Hairpin: another container, and the container itself, through the published port on
    // the bridge address and the host's other addresses.
    let peer = w.path("peer");
    w.create_ok(&peer, &base, &["sleep", "600"]);
    let peer_ns = bundle_ns(&w, "peer");
    let hairpin = ["10.77.0.1", "fd77::1", "10.201.0.1", "fd20:1::1"];
    check(&peer_ns, "tcp", &hairpin, 8080, true, "hairpin from another container");
    check(&peer_ns, "udp", &hairpin, 5353, true, "hairpin from another container");
    check(&web_ns, "tcp", &hairpin, 8080, true, "hairpin to itself");

    // Outbound NAT (IPv4 masquerade, NAT66): the client has no route to the bridge subnets.
    spawn_in(&mut w, &client, &["python3", "-c", UDP_ECHO, "6000"]);
    let out = wait_for(Duration::from_secs(10), || (get(&peer_ns, "udp", "10.201.0.2", 6000) == "udp:ping").then_some(()));
    assert!(out.is_some(), "outbound IPv4 NAT");
    check(&peer_ns, "udp", &["fd20:1::2"], 6000, true, "outbound NAT66");

    // delete removes everything: rules, addresses, devices, the port holder.
    for id in w.containers.clone() {
        let _ = run(w.runtime().args(["kill", &id, "KILL"]));
    }
    for b in [&peer, &web] {
        let o = w.delete(b);
        assert!(o.status.success(), "delete: {}", String::from_utf8_lossy(&o.stderr));
    }
    check(&host, "tcp", &["127.0.0.1", "::1"], 8080, false, "after delete");
    assert!(port_free(&net.host, 8080), "port 8080 still held after delete");
    assert_host_clean(&w, &net.host, &["up0"], "10.77.");
    assert_host_clean(&w, &net.host, &["up0"], "fd77:");
}

#[test]
fn ipv6_only_through_the_port_holder_for_an_ipv4_container() {
    if unsupported() {
        return;
    }
    // An IPv4-only container still answers on ::1 and the host's IPv6 addresses (forwarded to
    // its IPv4 address, as docker-proxy does).
    let mut w = World::new();
    let net = topology(&mut w, "bn4");
    let img = image(&w);
    let web = w.path("web4");
    w.bundles.push(web.clone());
    // create's caller lets it inherit a pipe (fd 3 = its stderr): the port holder must not keep
    // it open, or the caller's read to EOF lasts until delete.
    let mut c = w.tool();
    c.args(["create", "--image", &img, "--bridge", "bknet4", "--subnet", "10.74.0.0/24", "-p", "8080:80"]).arg(&web);
    c.args(["--", "httpd", "-f", "-p", "80", "-h", "/www"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    unsafe { std::os::unix::process::CommandExt::pre_exec(&mut c, || if libc::dup2(2, 3) < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }) };
    let mut child = c.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    assert!(child.wait().unwrap().success(), "create failed");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        let _ = tx.send(s);
    });
    assert!(rx.recv_timeout(Duration::from_secs(10)).is_ok(), "an inherited pipe stays open after create exited");
    w.start_bundle(&web);
    let (host, client) = (ns_path(&net.host), ns_path(&net.client));
    let up = wait_for(Duration::from_secs(15), || (get(&host, "tcp", "127.0.0.1", 8080) == BODY).then_some(()));
    assert!(up.is_some(), "127.0.0.1:8080 never answered");
    check(&host, "tcp", &["::1", "fd20:1::1"], 8080, true, "IPv6 to an IPv4 container");
    check(&client, "tcp", &["fd20:1::1", "10.201.0.1"], 8080, true, "from the client");
    for id in w.containers.clone() {
        let _ = run(w.runtime().args(["kill", &id, "KILL"]));
    }
    assert!(w.delete(&web).status.success());
    assert_host_clean(&w, &net.host, &["up0"], "10.74.");
}

#[test]
fn a_taken_host_port_is_a_clear_error() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let net = topology(&mut w, "bnt");
    let img = image(&w);
    let mut holder = w.in_ns(&net.host, &["python3", "-c", HOLD, "7070"]).stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.take().unwrap()), &mut line).unwrap();
    w.children.push(holder);
    assert_eq!(line.trim(), "held");
    let base = ["--image", img.as_str(), "--bridge", "bknet2", "--subnet", "10.72.0.0/24"];
    let b = w.path("taken");
    let o = w.create(&b, &[&base[..], &["-p", "7070:80"]].concat());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "create on a taken port succeeded");
    assert!(err.contains("7070") && err.contains("in use"), "unclear error: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    assert!(!b.exists());
    assert_host_clean(&w, &net.host, &["up0"], "10.72.");

    // A port another bundle publishes is taken too; free again once that bundle is deleted.
    let first = w.path("first");
    w.create_ok(&first, &[&base[..], &["-p", "7171:80/udp"]].concat(), &["true"]);
    let second = w.path("second");
    let o = w.create(&second, &[&base[..], &["-p", "7171:80/udp"]].concat());
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("in use"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!second.exists());
    assert!(w.delete(&first).status.success());
    w.create_ok(&second, &[&base[..], &["-p", "7171:80/udp"]].concat(), &["true"]);
    assert!(w.delete(&second).status.success());
    assert_host_clean(&w, &net.host, &["up0"], "10.72.");
}

const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

fn etc(bundle: &Path, f: &str) -> String {
    std::fs::read_to_string(bundle.join("rootfs/etc").join(f)).unwrap()
}

/// The host's resolv.conf as docker gives it to a container with its own network.
fn assert_resolv_filtered(got: &str) {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    for l in got.lines().filter(|l| l.starts_with("nameserver")) {
        let ip = l.split_whitespace().nth(1).unwrap();
        assert!(!ip.starts_with("127.") && ip != "::1", "loopback resolver kept: {got}");
    }
    for l in host.lines().filter(|l| !l.starts_with("nameserver")) {
        assert!(got.contains(l), "{l:?} of the host's resolv.conf lost: {got}");
    }
    let usable = host.lines().any(|l| l.starts_with("nameserver") && !l.contains(" 127.") && !l.contains(" ::1"));
    if !usable {
        assert!(got.contains("nameserver 8.8.8.8\nnameserver 8.8.4.4\n"), "no fallback resolvers: {got}");
    }
}

#[test]
fn etc_files_for_every_network_mode() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let net = topology(&mut w, "bne");
    let img = image(&w);
    let br = w.path("files");
    w.create_ok(&br, &["--image", &img, "--bridge", "bknet3", "--subnet", "10.73.0.0/24", "--ipv6"], &[]);
    let hosts = etc(&br, "hosts");
    let ip6 = hosts.lines().last().unwrap().split('\t').next().unwrap().to_string();
    assert!(ip6.starts_with("fd") && ip6.ends_with("::2"), "default ULA address: {hosts}");
    assert_eq!(hosts, format!("{DEFAULT_HOSTS}10.73.0.2\tfiles\n{ip6}\tfiles\n"));
    assert_eq!(etc(&br, "hostname"), "files\n");
    assert_resolv_filtered(&etc(&br, "resolv.conf"));

    let none = w.path("none");
    w.create_ok(&none, &["--image", &img, "--network", "none", "--hostname", "nn"], &[]);
    assert_eq!(etc(&none, "hosts"), DEFAULT_HOSTS);
    assert_eq!(etc(&none, "hostname"), "nn\n");
    assert_resolv_filtered(&etc(&none, "resolv.conf"));

    let host = w.path("host");
    w.create_ok(&host, &["--image", &img, "--network", "host"], &[]);
    assert_eq!(etc(&host, "hosts"), std::fs::read_to_string("/etc/hosts").unwrap());
    assert_eq!(etc(&host, "resolv.conf"), std::fs::read_to_string("/etc/resolv.conf").unwrap());
    let hn = nix::unistd::gethostname().unwrap().into_string().unwrap();
    assert_eq!(etc(&host, "hostname"), format!("{hn}\n"));

    let side = w.path("side");
    w.create_ok(&side, &["--image", &img, "--network", "container:files"], &[]);
    for f in ["hosts", "resolv.conf", "hostname"] {
        assert_eq!(etc(&side, f), etc(&br, f), "{f} of container:files");
    }
    let o = w.create(&w.path("side2"), &["--image", &img, "--network", "container:files", "--hostname", "x"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("conflicts"), "{}", String::from_utf8_lossy(&o.stderr));

    for b in [&side, &host, &none, &br] {
        assert!(w.delete(b).status.success());
    }
    assert_host_clean(&w, &net.host, &["up0"], "10.73.");
    assert_host_clean(&w, &net.host, &["up0"], &ip6[..5]);
}

/// A create that blocks after its network, ports and rootfs are made (the image's
/// /etc/passwd is a FIFO: resolving its User opens it), then killed with SIGKILL.
fn killed_create(w: &mut World, img: &Path, name: &str) {
    let b = w.path(name);
    w.bundles.push(b.clone());
    let args = ["--bridge", "bknet5", "--subnet", "10.75.0.0/24", "--ipv6", "-p", "8085:80", "-p", "5355:53/udp"];
    let mut c = w.tool();
    c.args(["create", "--image", img.to_str().unwrap()]).args(args).arg(&b).stdin(Stdio::null()).stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let rootfs = b.join("rootfs");
    let made = wait_for(Duration::from_secs(30), || (!mounts_under(&rootfs).is_empty()).then_some(()));
    if made.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("create never reached the rootfs mount");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let meta = std::fs::read_to_string(w.store.join("bundles").join(name).join("meta.json")).unwrap();
    assert!(meta.contains("\"complete\": false"), "{meta}");
}

#[test]
fn a_killed_create_is_undone_by_gc_and_by_delete() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let net = topology(&mut w, "bnk");
    let mut spec = default_image();
    spec.layers.push((layer_tar(&[E::Dir("etc", 0o755), E::Fifo("etc/passwd".into())]), Comp::None));
    spec.config["User"] = serde_json::json!("www");
    let img = w.path("fifo-img");
    write_oci(&img, &spec);
    // A finished bundle on the same bridge, which gc must leave alone.
    let good_img = w.path("img");
    write_oci(&good_img, &default_image());
    let keep = w.path("keep");
    w.create_ok(&keep, &["--image", good_img.to_str().unwrap(), "--bridge", "bknet5", "--subnet", "10.75.0.0/24", "--ipv6", "-p", "8086:80"], &["true"]);

    killed_create(&mut w, &img, "dead1");
    let links = ok(Command::new("ip").args(["-n", &net.host, "-o", "link"]));
    assert!(links.matches("bk").count() >= 3, "the killed create made no veth: {links}");
    assert!(!port_free(&net.host, 8085), "the killed create's port holder is not running");
    let o = run(w.tool().arg("gc"));
    assert!(o.status.success(), "gc: {}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("dead1"), "gc did not report dead1");
    assert!(port_free(&net.host, 8085), "gc left the port holder");
    assert!(!w.path("dead1").exists());
    let list = ok(w.tool().args(["list", "-q"]));
    assert_eq!(list, "keep\n", "gc touched a finished bundle");
    assert!(!port_free(&net.host, 8086), "gc stopped a finished bundle's port holder");
    let rules = ns_out(&w, &net.host, &["nft", "list", "ruleset"]);
    assert!(rules.contains("dnat to 10.75.0.2:80"), "gc removed a finished bundle's rules: {rules}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(w.store.join("bundles/keep/meta.json")).unwrap()).unwrap();
    let ula = meta["attachment"]["subnet6"]["net"].as_str().unwrap().trim_end_matches(':').to_string();

    killed_create(&mut w, &img, "dead2");
    let o = w.delete(&w.path("dead2"));
    assert!(o.status.success(), "delete: {}", String::from_utf8_lossy(&o.stderr));
    assert!(port_free(&net.host, 8085));
    assert!(w.delete(&keep).status.success());
    assert_host_clean(&w, &net.host, &["up0"], "10.75.");
    assert_host_clean(&w, &net.host, &["up0"], &ula);
}
