//! bulkhead-bundle end to end, as root: images built here from the host's static busybox.
//! Network tests act inside network namespaces the test creates (never the host's).

mod bundle_common;

use bundle_common::*;
use serde_json::Value;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

fn config(bundle: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap()
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 64];
    let r = unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

/// Nothing of a bundle is left: no mount, no state, no netns file, no bundle dir.
fn assert_gone(w: &World, bundle: &Path) {
    assert!(mounts_under(w.dir.path()).is_empty(), "mounts left: {:?}", mounts_under(w.dir.path()));
    assert!(!bundle.exists(), "{} left behind", bundle.display());
    assert_eq!(entries(&w.store.join("bundles")), Vec::<String>::new());
    assert_eq!(entries(&w.store.join("netns")), Vec::<String>::new());
}

#[test]
fn unpack_overlay_whiteouts_config_and_delete() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let img = w.path("img");
    let digests = write_oci(&img, &default_image());
    let b = w.path("b1");
    w.create_ok(&b, &["--image", &format!("{}:v1", img.display()), "--network", "none", "-e", "EXTRA=2", "--hostname", "hh"], &[]);
    let r = b.join("rootfs");
    assert!(mounts_under(&r).len() == 1, "rootfs is not a mount");
    // Whiteouts honoured through the overlay.
    assert!(!r.join("deleteme").exists(), "whited-out file visible");
    assert_eq!(entries(&r.join("opq")), vec!["new"], "opaque dir shows lower entries");
    assert_eq!(entries(&r.join("data")), vec!["a", "b", "fifo", "link", "null", "owned", "owned-link", "x"]);
    let dev = std::fs::metadata(r.join("data/null")).unwrap();
    assert!(dev.file_type().is_char_device() && dev.rdev() == libc::makedev(1, 3), "device not kept");
    assert_eq!(dev.mode() & 0o7777, 0o620);
    // Metadata kept.
    let m = std::fs::metadata(r.join("data/owned")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 5678, 0o4750));
    assert_eq!(std::fs::metadata(r.join("data/owned-link")).unwrap().ino(), m.ino(), "hardlink not kept");
    assert_eq!(std::fs::read_link(r.join("data/link")).unwrap().to_str(), Some("../opq/new"));
    assert_eq!(std::fs::read_to_string(r.join("data/link")).unwrap(), "new\n");
    assert_eq!(getxattr(&r.join("data/x"), "user.bulkhead").as_deref(), Some(&b"yes"[..]));
    assert!(std::fs::metadata(r.join("data/fifo")).unwrap().file_type().is_fifo());
    assert_eq!(std::fs::metadata(r.join("data")).unwrap().mode() & 0o7777, 0o700, "top layer's dir mode");
    assert_eq!(std::fs::metadata(r.join("data/a")).unwrap().mtime(), 1_700_000_000);
    // Init layer.
    assert_eq!(std::fs::read_to_string(r.join("etc/hostname")).unwrap(), "hh\n");
    assert!(std::fs::read_to_string(r.join("etc/hosts")).unwrap().contains("localhost"));
    assert!(r.join("etc/passwd").exists());
    // The layer store: overlay-form whiteouts in the layer directories.
    let l2 = w.store.join("layers").join(digests[1].strip_prefix("sha256:").unwrap());
    let wh = std::fs::symlink_metadata(l2.join("deleteme")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0, "whiteout not a 0/0 char device");
    assert_eq!(getxattr(&l2.join("opq"), "trusted.overlay.opaque").as_deref(), Some(&b"y"[..]));
    assert!(!l2.join(".wh.deleteme").exists() && !l2.join("opq/.wh..wh..opq").exists());
    assert_eq!(entries(&w.store.join("layers")).len(), 3);
    // config.json.
    let c = config(&b);
    assert_eq!(c["process"]["args"], serde_json::json!(["sh", "-c", "echo image-cmd"]));
    let env: Vec<String> = serde_json::from_value(c["process"]["env"].clone()).unwrap();
    assert!(env.contains(&"FROM_IMAGE=1".into()) && env.contains(&"EXTRA=2".into()) && env.contains(&"PATH=/bin".into()));
    assert_eq!(c["process"]["cwd"], "/www");
    assert_eq!(c["process"]["terminal"], false);
    assert_eq!(c["root"]["readonly"], false);
    assert_eq!(c["hostname"], "hh");
    assert_eq!(c["annotations"]["org.example.test"], "yes");
    assert_eq!(c["annotations"]["org.opencontainers.image.exposedPorts"], "80/tcp");
    assert!(c["mounts"].as_array().unwrap().iter().any(|m| m["destination"] == "/vol"), "image volume not mounted");
    let ns = c["linux"]["namespaces"].as_array().unwrap().iter().find(|n| n["type"] == "network").unwrap().clone();
    let nspath = ns["path"].as_str().expect("network namespace joined by path");
    assert!(Path::new(nspath).starts_with(&w.store));
    // list
    let out = ok(w.tool().arg("list"));
    assert!(out.contains("b1") && out.contains("none"), "{out}");
    // A name in use is refused and leaves the first bundle alone.
    let b2 = w.path("b2");
    let o = w.create(&b2, &["--image", &format!("{}:v1", img.display()), "--network", "none", "--name", "b1"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("exists"));
    assert!(r.join("etc/passwd").exists());
    // Writes go to the upper dir, not the layers.
    std::fs::write(r.join("data/a"), "changed").unwrap();
    assert_eq!(std::fs::read_to_string(w.store.join("layers").join(&digests[0][7..]).join("data/a")).unwrap(), "a\n");
    // delete undoes everything, and is idempotent.
    assert!(w.delete(&b).status.success());
    assert_gone(&w, &b);
    assert!(!Path::new(nspath).exists());
    let again = w.delete(&b);
    assert!(again.status.success(), "second delete: {}", String::from_utf8_lossy(&again.stderr));
    // Layers stay until gc.
    assert_eq!(entries(&w.store.join("layers")).len(), 3);
    ok(w.tool().arg("gc"));
    assert_eq!(entries(&w.store.join("layers")), Vec::<String>::new());
    assert_eq!(entries(&w.store.join("l")), Vec::<String>::new());
}

#[test]
fn runs_with_bulkhead() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let img = w.path("img");
    write_oci(&img, &default_image());
    let b = w.path("run1");
    let shared = w.path("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("in"), "from host\n").unwrap();
    let ro = w.path("ro");
    std::fs::create_dir(&ro).unwrap();
    let script = "cat /etc/hostname; test -e /deleteme && echo BAD-whiteout; ls /opq; cat /www/index.html; \
                  echo $FROM_IMAGE$EXTRA; pwd; echo w > /written; cat /written; cat /mnt/in; echo out > /mnt/out; \
                  echo x > /ro/x 2>/dev/null || echo ro-refused";
    let (v1, v2) = (format!("{}:/mnt", shared.display()), format!("{}:/ro:ro", ro.display()));
    w.create_ok(
        &b,
        &["--image", img.to_str().unwrap(), "--network", "none", "-e", "EXTRA=x", "-v", &v1, "-v", &v2, "--memory", "64m"],
        &["sh", "-c", script],
    );
    assert_eq!(config(&b)["linux"]["resources"]["memory"]["limit"], 64 << 20);
    let (ok_, out, err) = w.run_bundle(&b, Duration::from_secs(30));
    assert!(ok_, "run failed: {err}");
    assert_eq!(out, "run1\nnew\nhello from the bundle\n1x\n/www\nw\nfrom host\nro-refused\n", "stderr: {err}");
    assert_eq!(std::fs::read_to_string(shared.join("out")).unwrap(), "out\n");
    assert!(!ro.join("x").exists());
    // The write went to this bundle's upper dir.
    assert!(w.store.join("bundles/run1/upper/written").exists());
    // The image's own command.
    let b2 = w.path("run2");
    w.create_ok(&b2, &["--image", img.to_str().unwrap(), "--network", "host"], &[]);
    let c = config(&b2);
    assert!(!c["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == "network"));
    let (ok_, out, err) = w.run_bundle(&b2, Duration::from_secs(30));
    assert!(ok_, "run failed: {err}");
    assert_eq!(out, "image-cmd\n");
    for b in [&b, &b2] {
        assert!(w.delete(b).status.success());
    }
    assert!(mounts_under(w.dir.path()).is_empty());
}

#[test]
fn archives_and_shared_layers() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let spec = default_image();
    let img = w.path("img");
    write_oci(&img, &spec);
    let oci_tar = w.path("img.oci.tar");
    tar_dir(&img, &oci_tar);
    let docker_tar = w.path("img.docker.tar");
    write_docker_archive(&docker_tar, &spec, "example/busybox:v1");

    let a = w.path("a");
    w.create_ok(&a, &["--image", oci_tar.to_str().unwrap(), "--network", "none"], &[]);
    let layers_after_first = entries(&w.store.join("layers"));
    assert_eq!(layers_after_first.len(), 3);
    // A second bundle of the same image unpacks nothing new.
    let a2 = w.path("a2");
    w.create_ok(&a2, &["--image", &format!("{}:v1", oci_tar.display()), "--network", "none"], &[]);
    assert_eq!(entries(&w.store.join("layers")), layers_after_first);
    // docker-archive: layers keyed by their diff_ids (uncompressed), so a different set.
    let d = w.path("d");
    w.create_ok(&d, &["--image", &format!("{}:v1", docker_tar.display()), "--network", "none"], &[]);
    assert_eq!(entries(&w.store.join("layers")).len(), 5, "plain layer 0 is shared, 1 and 2 are new");
    for b in [&a, &d] {
        let r = b.join("rootfs");
        assert!(!r.join("deleteme").exists());
        assert_eq!(entries(&r.join("opq")), vec!["new"]);
        assert_eq!(std::fs::read_to_string(r.join("data/b")).unwrap(), "b\n");
    }
    // gc keeps what bundles use.
    assert!(w.delete(&d).status.success());
    ok(w.tool().arg("gc"));
    assert_eq!(entries(&w.store.join("layers")), layers_after_first);
    let tag = w.create(&w.path("x"), &["--image", &format!("{}:nope", docker_tar.display()), "--network", "none"]);
    assert!(String::from_utf8_lossy(&tag.stderr).contains("no image tagged"), "{}", String::from_utf8_lossy(&tag.stderr));
    for b in [&a, &a2] {
        assert!(w.delete(b).status.success());
    }
    ok(w.tool().arg("gc"));
    assert_eq!(entries(&w.store.join("layers")), Vec::<String>::new());
}

#[test]
fn concurrent_creates_share_the_unpack() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let img = w.path("img");
    write_oci(&img, &default_image());
    let bundles: Vec<_> = (0..4).map(|i| w.path(&format!("p{i}"))).collect();
    w.bundles.extend(bundles.iter().cloned());
    let children: Vec<_> = bundles
        .iter()
        .map(|b| {
            w.tool()
                .args(["create", "--image", img.to_str().unwrap(), "--network", "none"])
                .arg(b)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    assert_eq!(entries(&w.store.join("layers")).len(), 3, "{:?}", entries(&w.store.join("layers")));
    for b in &bundles {
        assert_eq!(entries(&b.join("rootfs/opq")), vec!["new"]);
    }
}

#[test]
fn many_layers_fit_one_overlay() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let mut layers = vec![(layer_tar(&busybox_layer()), Comp::Gzip)];
    // 299 layers: past one page even with short relative lowerdirs (the new mount API).
    for i in 0..299 {
        layers.push((layer_tar(&[E::Dir("many", 0o755), E::File(format!("many/f{i}"), format!("{i}").into_bytes(), 0o644)]), Comp::None));
    }
    // The absolute lowerdir paths alone would overflow a page.
    let per = w.store.join("layers").to_string_lossy().len() + 66;
    assert!(per * 100 > 4096);
    let img = w.path("img");
    write_oci(&img, &ImageSpec { layers, config: serde_json::json!({"Cmd": ["true"]}), tag: "latest" });
    let b = w.path("many");
    w.create_ok(&b, &["--image", img.to_str().unwrap(), "--network", "none"], &[]);
    assert_eq!(entries(&b.join("rootfs/many")).len(), 299);
    assert_eq!(std::fs::read_to_string(b.join("rootfs/many/f298")).unwrap(), "298");
    assert_eq!(std::fs::read_to_string(b.join("rootfs/many/f0")).unwrap(), "0");
    assert!(b.join("rootfs/bin/busybox").exists(), "bottom layer missing");
    assert!(w.delete(&b).status.success());
    assert_gone(&w, &b);
}

/// A create that must fail, with `expect` in its error and nothing left behind.
fn expect_failure(w: &mut World, image: &Path, expect: &str) {
    let b = w.path(&uniq("bad"));
    let o = w.create(&b, &["--image", image.to_str().unwrap(), "--network", "none"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "create from a bad image succeeded");
    assert!(err.contains(expect), "error {err:?} does not mention {expect:?}");
    assert_eq!(err.lines().count(), 1, "not one clear line: {err}");
    assert_gone(w, &b);
    let tmp: Vec<_> = entries(&w.store.join("layers")).into_iter().filter(|e| e.starts_with(".tmp")).collect();
    assert!(tmp.is_empty(), "temporary unpack dirs left: {tmp:?}");
}

#[test]
fn malformed_images_fail_cleanly() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    // A layer whose bytes do not match its digest (same size, one byte changed).
    let bad = w.path("baddigest");
    let digests = write_oci(&bad, &default_image());
    let blob = bad.join("blobs/sha256").join(&digests[1][7..]);
    let mut data = std::fs::read(&blob).unwrap();
    let n = data.len();
    data[n - 10] ^= 0xff; // inside the gzip trailer: still decompresses, digest differs
    std::fs::write(&blob, data).unwrap();
    expect_failure(&mut w, &bad, "does not match its digest");
    assert!(!w.store.join("layers").join(&digests[1][7..]).exists(), "unverified layer published");
    // A plain layer with a changed byte in a file's content: unpacks fine, digest differs.
    let bad0 = w.path("baddigest0");
    // (a layer the store does not hold yet: a stored one is not read again)
    let mut spec = default_image();
    let mut l0 = busybox_layer();
    l0.push(E::File("unique".into(), b"0".to_vec(), 0o644));
    spec.layers[0].0 = layer_tar(&l0);
    let digests = write_oci(&bad0, &spec);
    let blob = bad0.join("blobs/sha256").join(&digests[0][7..]);
    let mut data = std::fs::read(&blob).unwrap();
    data[100_000] ^= 0xff;
    std::fs::write(&blob, data).unwrap();
    expect_failure(&mut w, &bad0, "does not match its digest");
    assert!(!w.store.join("layers").join(&digests[0][7..]).exists(), "unverified layer published");

    // Path traversal with `..`.
    let trav = w.path("traversal");
    let mut spec = default_image();
    spec.layers.push((layer_tar(&[E::Raw("../../escaped".into(), b"x".to_vec())]), Comp::None));
    write_oci(&trav, &spec);
    expect_failure(&mut w, &trav, "escapes the layer directory");
    assert!(!w.dir.path().join("escaped").exists() && !w.store.join("escaped").exists());

    // Through a symlink that points outside.
    let sym = w.path("symlink");
    let mut spec = default_image();
    spec.layers.push((
        layer_tar(&[E::Sym("out".into(), w.dir.path().to_string_lossy().into_owned()), E::File("out/evil".into(), b"x".to_vec(), 0o644)]),
        Comp::None,
    ));
    write_oci(&sym, &spec);
    expect_failure(&mut w, &sym, "goes through the symlink");
    assert!(!w.dir.path().join("evil").exists());

    // A hardlink to outside the layer.
    let hl = w.path("hardlink");
    let mut spec = default_image();
    spec.layers.push((layer_tar(&[E::Hard("h".into(), "../../../etc/passwd".into())]), Comp::None));
    write_oci(&hl, &spec);
    expect_failure(&mut w, &hl, "escapes the layer directory");

    // A missing layer blob.
    let miss = w.path("missing");
    let digests = write_oci(&miss, &default_image());
    std::fs::remove_file(miss.join("blobs/sha256").join(&digests[2][7..])).unwrap();
    expect_failure(&mut w, &miss, "is missing");

    // A corrupt manifest (its digest no longer matches) and no source at all.
    let man = w.path("manifest");
    write_oci(&man, &default_image());
    let idx: Value = serde_json::from_slice(&std::fs::read(man.join("index.json")).unwrap()).unwrap();
    let md = idx["manifests"][0]["digest"].as_str().unwrap()[7..].to_string();
    let p = man.join("blobs/sha256").join(md);
    let mut m = std::fs::read(&p).unwrap();
    m.push(b' ');
    std::fs::write(&p, m).unwrap();
    expect_failure(&mut w, &man, "does not match its digest");
    let none = w.path("nonexistent");
    expect_failure(&mut w, &none, "no such directory or archive");
    // What earlier, good layers left is reusable, and nothing is half-unpacked.
    for e in entries(&w.store.join("layers")) {
        assert_eq!(e.len(), 64, "unexpected entry {e} in the layer store");
    }
}

use std::process::Command;

#[test]
fn bridge_ports_ping_nat_and_teardown() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let host = w.add_netns("bkh");
    let out = w.add_netns("bko");
    w.host_ns = Some(host.clone());
    // "Outside": reachable from the host namespace only, with no route to the bridge subnet.
    ok(Command::new("ip").args(["-n", &host, "link", "add", "up0", "type", "veth", "peer", "name", "down0", "netns", &out]));
    ok(Command::new("ip").args(["-n", &host, "addr", "add", "10.201.0.1/24", "dev", "up0"]));
    ok(Command::new("ip").args(["-n", &host, "link", "set", "up0", "up"]));
    ok(Command::new("ip").args(["-n", &out, "addr", "add", "10.201.0.2/24", "dev", "down0"]));
    ok(Command::new("ip").args(["-n", &out, "link", "set", "down0", "up"]));
    let www = w.path("outside-www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("index.html"), "outside\n").unwrap();
    let server = w
        .in_ns(&out, &[BUSYBOX, "httpd", "-f", "-p", "8081", "-h", www.to_str().unwrap()])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    w.children.push(server);

    let img = w.path("img");
    write_oci(&img, &default_image());
    let image = img.to_str().unwrap().to_string();
    let net = ["--image", &image, "--bridge", "bkbr0", "--subnet", "10.77.0.0/24"];
    let a = w.path("web");
    w.create_ok(&a, &[&net[..], &["-p", "8080:80"]].concat(), &["httpd", "-f", "-p", "80", "-h", "/www"]);
    let a_ip = ip_of(&w, "web");
    assert_eq!(a_ip, "10.77.0.2");
    assert!(std::fs::read_to_string(a.join("rootfs/etc/hosts")).unwrap().contains("10.77.0.2\tweb"));
    let list = ok(w.tool().arg("list"));
    assert!(list.contains("8080:80/tcp") && list.contains("10.77.0.2"), "{list}");
    w.start_bundle(&a);

    // Published port, from the host namespace (output DNAT) and from outside (prerouting).
    // (an HTTP GET with nc: this busybox's wget crashes on some hosts)
    let fetch = |ns: &str, url: &str| -> Option<String> {
        let (hostport, path) = url.strip_prefix("http://").unwrap().split_once('/').unwrap();
        let (h, p) = hostport.split_once(':').unwrap();
        let script = format!("printf 'GET /{path} HTTP/1.0\\r\\n\\r\\n' | {BUSYBOX} nc -w 3 {h} {p}");
        let o = run(Command::new("ip").args(["netns", "exec", ns, "sh", "-c", &script]));
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
        body.filter(|_| text.starts_with("HTTP/1.1 200"))
    };
    let got = wait_for(Duration::from_secs(15), || fetch(&host, "http://10.201.0.1:8080/index.html"));
    assert_eq!(got.as_deref(), Some("hello from the bundle\n"), "published port unreachable from the host");
    assert_eq!(fetch(&out, "http://10.201.0.1:8080/index.html").as_deref(), Some("hello from the bundle\n"));
    // The bridge address too is the host's.
    assert_eq!(fetch(&host, "http://10.77.0.1:8080/index.html").as_deref(), Some("hello from the bundle\n"));
    // Unpublished ports are not forwarded.
    assert!(fetch(&host, "http://10.201.0.1:8082/index.html").is_none());

    // A second container: pings the first, reaches outside through MASQUERADE.
    let route = ok(Command::new("ip").args(["-n", &out, "route"]));
    assert!(!route.contains("10.77."), "outside must not route to the bridge subnet: {route}");
    let b = w.path("client");
    let script = format!(
        "ping -c 1 -W 3 {a_ip} >/dev/null && echo ping-ok; \
         printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 10.201.0.2 8081; ip -4 -o addr show eth0"
    );
    w.create_ok(&b, &net, &["sh", "-c", &script]);
    let (ok_, stdout, stderr) = w.run_bundle(&b, Duration::from_secs(30));
    assert!(ok_, "client failed: {stderr}");
    assert!(stdout.contains("ping-ok"), "ping between containers failed: {stdout} {stderr}");
    assert!(stdout.contains("outside\n"), "outbound NAT failed: {stdout} {stderr}");
    assert!(stdout.contains("10.77.0.3/24"), "{stdout}");

    // Sharing the first container's network namespace.
    let c = w.path("sidecar");
    w.create_ok(
        &c,
        &["--image", &image, "--network", "container:web"],
        &["sh", "-c", "printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 80"],
    );
    let (ok_, stdout, stderr) = w.run_bundle(&c, Duration::from_secs(30));
    assert!(ok_ && stdout.ends_with("\r\n\r\nhello from the bundle\n"), "container: network: {stdout} {stderr}");

    // Rules exist while bundles do.
    let rules = ns_out(&w, &host, &["nft", "list", "table", "ip", "bulkhead"]);
    assert!(rules.contains("masquerade") && rules.contains("dnat to 10.77.0.2:80"), "{rules}");

    // Teardown: containers, then bundles; a second delete is a no-op.
    for id in w.containers.clone() {
        let _ = run(w.runtime().args(["kill", &id, "KILL"]));
    }
    for b in [&c, &b, &a] {
        let o = w.delete(b);
        assert!(o.status.success(), "delete: {}", String::from_utf8_lossy(&o.stderr));
        assert!(w.delete(b).status.success());
    }
    assert!(fetch(&host, "http://10.201.0.1:8080/index.html").is_none());
    assert_host_clean(&w, &host, &["up0"], "10.77.");
}

#[test]
fn failed_bridge_create_rolls_back() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let host = w.add_netns("bkr");
    w.host_ns = Some(host.clone());
    let mut spec = default_image();
    spec.config = serde_json::json!({"Env": ["PATH=/bin"]}); // no Cmd: fails after the network is up
    let img = w.path("img");
    write_oci(&img, &spec);
    let b = w.path("nocmd");
    let o = w.create(&b, &["--image", img.to_str().unwrap(), "-p", "8080:80", "--subnet", "10.78.0.0/24"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no command"), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!b.exists());
    assert_host_clean(&w, &host, &[], "10.78.");
    // Bad flags are refused before anything is made.
    let img_s = img.to_str().unwrap().to_string();
    for (args, expect) in [
        (vec!["--network", "none", "-p", "80:80"], "-p needs --network bridge"),
        (vec!["--network", "container:nosuch"], "no bundle named nosuch"),
        (vec!["--network", "bogus"], "expected bridge, none, host or container:NAME"),
        (vec!["-p", "80"], "expected [IP:]HOSTPORT"),
        (vec!["-p", "8000-8002:80-81"], "ranges differ in length"),
        (vec!["-p", "1.2.3:80:80"], "is not an IP address"),
        (vec!["-p", "80:80", "-p", "80:81"], "publish the same host port"),
        (vec!["--subnet", "fd00::/8"], "IPv6 prefix must be"),
        (vec!["--subnet", "10.0.0.0/40"], "prefix must be"),
        (vec!["-v", "relative:/x"], "volume"),
    ] {
        let mut a = vec!["--image", img_s.as_str()];
        a.extend(args);
        let o = w.create(&b, &a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(expect), "{a:?}: {err}");
        assert!(!b.exists());
        assert_host_clean(&w, &host, &[], "10.78.");
    }

    // Addresses are reused after delete; a second bridge subnet for the same bridge is refused.
    write_oci(&w.path("img2"), &default_image());
    let img2 = w.path("img2");
    let (x, y) = (w.path("x"), w.path("y"));
    w.create_ok(&x, &["--image", img2.to_str().unwrap(), "--subnet", "10.78.0.0/24"], &[]);
    w.create_ok(&y, &["--image", img2.to_str().unwrap(), "--subnet", "10.78.0.0/24"], &[]);
    assert_eq!((ip_of(&w, "x"), ip_of(&w, "y")), ("10.78.0.2".into(), "10.78.0.3".into()));
    let z = w.path("z");
    let o = w.create(&z, &["--image", img2.to_str().unwrap(), "--subnet", "10.79.0.0/24"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("uses the subnet 10.78.0.0/24"));
    assert!(w.delete(&x).status.success());
    let x2 = w.path("x2");
    w.create_ok(&x2, &["--image", img2.to_str().unwrap(), "--subnet", "10.78.0.0/24"], &[]);
    assert_eq!(ip_of(&w, "x2"), "10.78.0.2");
    for b in [&x2, &y] {
        assert!(w.delete(b).status.success());
    }
    assert_host_clean(&w, &host, &[], "10.78.");
}

#[test]
fn progress_bar_only_on_a_terminal() {
    if unsupported() {
        return;
    }
    let mut w = World::new();
    let img = w.path("img");
    write_oci(&img, &default_image());
    // Not a terminal: quiet.
    let quiet = w.path("quiet");
    let o = w.create(&quiet, &["--image", img.to_str().unwrap(), "--network", "none"]);
    assert!(o.status.success());
    assert!(o.stderr.is_empty() && o.stdout.is_empty(), "output without a terminal: {:?}", String::from_utf8_lossy(&o.stderr));
    ok(w.tool().arg("gc"));
    assert!(w.delete(&quiet).status.success());
    ok(w.tool().arg("gc"));
    // On a terminal (script(1) gives it a pty): a bar that ends full.
    let tty = w.path("tty");
    w.bundles.push(tty.clone());
    let cmd = format!(
        "{BUNDLE} --store {} create --image {} --network none {}",
        w.store.display(),
        img.display(),
        tty.display()
    );
    let out = ok(Command::new("script").args(["-qfec", &cmd, "/dev/null"]));
    assert!(out.contains("unpacking [") && out.contains(&format!("[{}]", "#".repeat(30))), "no progress bar: {out:?}");
    assert!(tty.join("config.json").exists());
}
