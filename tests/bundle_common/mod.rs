//! Helpers for tests/bundle.rs: images built from the host's static busybox (OCI layout,
//! oci-archive, docker-archive), a guard that deletes bundles, containers and network
//! namespaces even on panic, and bounded waits.
#![allow(dead_code)]

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BUNDLE: &str = env!("CARGO_BIN_EXE_bulkhead-bundle");
pub const RUNTIME: &str = env!("CARGO_BIN_EXE_bulkhead");
pub const BUSYBOX: &str = "/usr/bin/busybox";

pub fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
pub fn sha(d: &[u8]) -> String {
    hex(&Sha256::digest(d))
}

/// Skips (returns true) when the environment cannot run these tests.
pub fn unsupported() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return true;
    }
    false
}

/// One tar entry of a test layer.
#[derive(Clone)]
pub enum E {
    Dir(&'static str, u32),
    File(String, Vec<u8>, u32),
    Owned(String, Vec<u8>, u32, u64, u64),
    Xattr(String, Vec<u8>, &'static str, &'static [u8]),
    Sym(String, String),
    Hard(String, String),
    Fifo(String),
    /// A character device (major, minor).
    Char(String, u32, u32),
    /// A raw path, written without any check (for traversal tests).
    Raw(String, Vec<u8>),
}

pub fn layer_tar(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Complete);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        match e {
            E::Dir(p, m) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*m);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, d, m) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*m);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, p, &d[..]).unwrap();
            }
            E::Owned(p, d, m, u, g) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*m);
                h.set_uid(*u);
                h.set_gid(*g);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, p, &d[..]).unwrap();
            }
            E::Xattr(p, d, k, v) => {
                b.append_pax_extensions([(format!("SCHILY.xattr.{k}").as_str(), *v)]).unwrap();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(d.len() as u64);
                b.append_data(&mut h, p, &d[..]).unwrap();
            }
            E::Sym(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::Hard(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o644);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::Fifo(p) => {
                h.set_entry_type(tar::EntryType::Fifo);
                h.set_mode(0o600);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::Char(p, ma, mi) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_mode(0o620);
                h.set_size(0);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::Raw(p, d) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(d.len() as u64);
                let name = h.as_old_mut();
                name.name[..p.len()].copy_from_slice(p.as_bytes());
                h.set_cksum();
                b.append(&h, &d[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

#[derive(Clone, Copy, PartialEq)]
pub enum Comp {
    None,
    Gzip,
    Zstd,
}

pub fn compress(data: &[u8], c: Comp) -> Vec<u8> {
    match c {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest),
    }
}

/// The base layer: busybox with applet links, passwd/group, and files later layers change.
pub fn busybox_layer() -> Vec<E> {
    let bb = std::fs::read(BUSYBOX).expect("static busybox at /usr/bin/busybox (apt-get install busybox-static)");
    let mut v = vec![E::Dir("bin", 0o755), E::File("bin/busybox".into(), bb, 0o755)];
    for a in [
        "sh", "ls", "cat", "echo", "sleep", "httpd", "ping", "wget", "test", "ip", "hostname", "id", "stat", "true",
        "sed", "grep", "nc", "ifconfig",
    ] {
        v.push(E::Sym(format!("bin/{a}"), "busybox".into()));
    }
    v.extend([
        E::Dir("etc", 0o755),
        E::File("etc/passwd".into(), b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/sh\n".to_vec(), 0o644),
        E::File("etc/group".into(), b"root:x:0:\nwww:x:33:\n".to_vec(), 0o644),
        E::File("deleteme".into(), b"gone\n".to_vec(), 0o644),
        E::Dir("opq", 0o755),
        E::File("opq/old".into(), b"old\n".to_vec(), 0o644),
        E::Dir("data", 0o755),
        E::File("data/a".into(), b"a\n".to_vec(), 0o644),
        E::Dir("tmp", 0o1777),
    ]);
    v
}

/// The second layer: a whiteout, an opaque dir, a web root, owners, a hardlink, an xattr.
pub fn change_layer() -> Vec<E> {
    vec![
        E::File(".wh.deleteme".into(), vec![], 0o644),
        E::Dir("opq", 0o755),
        E::File("opq/.wh..wh..opq".into(), vec![], 0o644),
        E::File("opq/new".into(), b"new\n".to_vec(), 0o644),
        E::Dir("www", 0o755),
        E::File("www/index.html".into(), b"hello from the bundle\n".to_vec(), 0o644),
        E::Owned("data/owned".into(), b"x".to_vec(), 0o4750, 1234, 5678),
        E::Hard("data/owned-link".into(), "data/owned".into()),
        E::Xattr("data/x".into(), b"x".to_vec(), "user.bulkhead", b"yes"),
        E::Sym("data/link".into(), "../opq/new".into()),
        E::Fifo("data/fifo".into()),
        E::Char("data/null".into(), 1, 3),
    ]
}

pub fn top_layer() -> Vec<E> {
    vec![E::Dir("data", 0o700), E::File("data/b".into(), b"b\n".to_vec(), 0o600)]
}

pub struct ImageSpec {
    pub layers: Vec<(Vec<u8>, Comp)>,
    pub config: Value,
    pub tag: &'static str,
}

pub fn default_image() -> ImageSpec {
    ImageSpec {
        layers: vec![
            (layer_tar(&busybox_layer()), Comp::None),
            (layer_tar(&change_layer()), Comp::Gzip),
            (layer_tar(&top_layer()), Comp::Zstd),
        ],
        config: json!({
            "Cmd": ["sh", "-c", "echo image-cmd"],
            "Env": ["PATH=/bin", "FROM_IMAGE=1"],
            "WorkingDir": "/www",
            "Labels": {"org.example.test": "yes"},
            "ExposedPorts": {"80/tcp": {}},
            "Volumes": {"/vol": {}}
        }),
        tag: "v1",
    }
}

fn media(c: Comp) -> &'static str {
    match c {
        Comp::None => "application/vnd.oci.image.layer.v1.tar",
        Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

fn put_blob(dir: &Path, data: &[u8]) -> String {
    let h = sha(data);
    std::fs::write(dir.join("blobs/sha256").join(&h), data).unwrap();
    format!("sha256:{h}")
}

fn image_config(spec: &ImageSpec) -> Value {
    let diff_ids: Vec<String> = spec.layers.iter().map(|(t, _)| format!("sha256:{}", sha(t))).collect();
    json!({"architecture": "amd64", "os": "linux", "config": spec.config,
           "rootfs": {"type": "layers", "diff_ids": diff_ids}})
}

/// Writes an OCI image layout; returns the layer blob digests.
pub fn write_oci(dir: &Path, spec: &ImageSpec) -> Vec<String> {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut layers = Vec::new();
    let mut digests = Vec::new();
    for (t, c) in &spec.layers {
        let blob = compress(t, *c);
        let d = put_blob(dir, &blob);
        layers.push(json!({"mediaType": media(*c), "digest": d, "size": blob.len()}));
        digests.push(d);
    }
    let cfg = serde_json::to_vec(&image_config(spec)).unwrap();
    let cd = put_blob(dir, &cfg);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cfg.len()},
        "layers": layers}))
    .unwrap();
    let md = put_blob(dir, &manifest);
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": spec.tag}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    digests
}

/// A tar of a directory's contents (for oci-archive).
pub fn tar_dir(dir: &Path, out: &Path) {
    let f = std::fs::File::create(out).unwrap();
    let mut b = tar::Builder::new(f);
    b.append_dir_all(".", dir).unwrap();
    b.finish().unwrap();
}

/// `docker save` format: manifest.json, <hex>.json config, <n>/layer.tar (uncompressed).
pub fn write_docker_archive(out: &Path, spec: &ImageSpec, repo_tag: &str) {
    let f = std::fs::File::create(out).unwrap();
    let mut b = tar::Builder::new(f);
    let add = |b: &mut tar::Builder<std::fs::File>, p: &str, d: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(d.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, p, d).unwrap();
    };
    let cfg = serde_json::to_vec(&image_config(spec)).unwrap();
    let cname = format!("{}.json", sha(&cfg));
    add(&mut b, &cname, &cfg);
    let mut paths = Vec::new();
    for (i, (t, _)) in spec.layers.iter().enumerate() {
        let p = format!("{i}/layer.tar");
        add(&mut b, &p, t);
        paths.push(p);
    }
    let m = json!([{"Config": cname, "RepoTags": [repo_tag], "Layers": paths}]);
    add(&mut b, "manifest.json", &serde_json::to_vec(&m).unwrap());
    b.finish().unwrap();
}

pub fn run(cmd: &mut Command) -> Output {
    
    cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn sh(script: &str) -> Output {
    run(Command::new("sh").arg("-c").arg(script))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique short tag for names (netns, container IDs).
pub fn uniq(prefix: &str) -> String {
    format!("{prefix}{}x{}", std::process::id() % 100000, COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// Per-test world: a store, a runtime root, and everything to clean up on drop.
pub struct World {
    pub dir: tempfile::TempDir,
    pub store: PathBuf,
    pub root: PathBuf,
    /// The "host" network namespace (under /run/netns) the tool runs in, if any.
    pub host_ns: Option<String>,
    pub netns: Vec<String>,
    pub bundles: Vec<PathBuf>,
    pub containers: Vec<String>,
    pub children: Vec<Child>,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::Builder::new().prefix("bkb-").tempdir_in("/tmp").unwrap();
        let store = dir.path().join("store");
        let root = dir.path().join("root");
        World { store, root, dir, host_ns: None, netns: vec![], bundles: vec![], containers: vec![], children: vec![] }
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A network namespace made by the test (removed on drop).
    pub fn add_netns(&mut self, prefix: &str) -> String {
        let n = uniq(prefix);
        ok(Command::new("ip").args(["netns", "add", &n]));
        self.netns.push(n.clone());
        ok(Command::new("ip").args(["-n", &n, "link", "set", "lo", "up"]));
        n
    }

    /// The tool, run in the test's "host" namespace when there is one.
    pub fn tool(&self) -> Command {
        let mut c = match &self.host_ns {
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/run/netns/{ns}")).arg("--").arg(BUNDLE);
                c
            }
            None => Command::new(BUNDLE),
        };
        c.arg("--store").arg(&self.store);
        c
    }

    /// `create` with args; records the bundle for cleanup; returns the output.
    pub fn create(&mut self, bundle: &Path, args: &[&str]) -> Output {
        self.bundles.push(bundle.to_path_buf());
        let mut c = self.tool();
        c.arg("create").args(args).arg(bundle);
        run(&mut c)
    }

    pub fn create_ok(&mut self, bundle: &Path, args: &[&str], cmd: &[&str]) {
        self.bundles.push(bundle.to_path_buf());
        let mut c = self.tool();
        c.arg("create").args(args).arg(bundle);
        if !cmd.is_empty() {
            c.arg("--").args(cmd);
        }
        ok(&mut c);
    }

    pub fn delete(&self, bundle: &Path) -> Output {
        let mut c = self.tool();
        c.arg("delete").arg(bundle);
        run(&mut c)
    }

    pub fn runtime(&self) -> Command {
        let mut c = Command::new(RUNTIME);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs a bundle to completion (bounded); returns (status ok, stdout, stderr).
    pub fn run_bundle(&mut self, bundle: &Path, timeout: Duration) -> (bool, String, String) {
        let id = uniq("c");
        self.containers.push(id.clone());
        let mut c = self.runtime();
        c.args(["run", "-b"]).arg(bundle).arg(&id).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = c.spawn().unwrap();
        let pid = child.id();
        let deadline = Instant::now() + timeout;
        let waiter = std::thread::spawn(move || child.wait_with_output());
        while !waiter.is_finished() {
            if Instant::now() > deadline {
                let _ = run(self.runtime().args(["kill", &id, "KILL"]));
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
                let _ = waiter.join();
                panic!("container {id} did not finish within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = waiter.join().unwrap().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// Starts a long-running container in the background; returns its ID.
    pub fn start_bundle(&mut self, bundle: &Path) -> String {
        let id = uniq("c");
        self.containers.push(id.clone());
        let mut c = self.runtime();
        c.args(["run", "-b"]).arg(bundle).arg(&id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        self.children.push(c.spawn().unwrap());
        id
    }

    /// A command in one of the test's namespaces.
    pub fn in_ns(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    }
}

/// Retries `f` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn mounts_under(p: &Path) -> Vec<String> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = p.to_string_lossy().into_owned();
    mi.lines().filter_map(|l| l.split(' ').nth(4)).filter(|m| m.starts_with(&p)).map(str::to_string).collect()
}

impl Drop for World {
    fn drop(&mut self) {
        for id in &self.containers {
            let _ = run(self.runtime().args(["kill", id, "KILL"]));
        }
        for c in &mut self.children {
            let _ = c.kill();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for id in &self.containers {
            let _ = run(self.runtime().args(["delete", "-f", id]));
        }
        for b in self.bundles.iter().rev() {
            let _ = self.delete(b);
        }
        // Anything still mounted under our dir (a test that failed half-way).
        for m in mounts_under(self.dir.path()).iter().rev() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        for n in &self.netns {
            let _ = run(Command::new("ip").args(["netns", "del", n]));
        }
    }
}

pub fn entries(p: &Path) -> Vec<String> {
    let mut v: Vec<String> = match std::fs::read_dir(p) {
        Ok(d) => d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

pub fn ip_of(w: &World, name: &str) -> String {
    let m: Value = serde_json::from_slice(&std::fs::read(w.store.join("bundles").join(name).join("meta.json")).unwrap()).unwrap();
    m["attachment"]["ip"].as_str().expect("bridged bundle has an address").to_string()
}

pub fn ns_out(w: &World, ns: &str, args: &[&str]) -> String {
    ok(&mut w.in_ns(ns, args))
}

/// The test's "host" namespace holds nothing of ours: only lo and `keep` links, no nft rules,
/// no address in `subnet_prefix`.
pub fn assert_host_clean(w: &World, host: &str, keep: &[&str], subnet_prefix: &str) {
    let links = ok(Command::new("ip").args(["-n", host, "-o", "link"]));
    let names: Vec<String> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap().to_string())
        .collect();
    let extra: Vec<_> = names.iter().filter(|n| n.as_str() != "lo" && !keep.contains(&n.as_str())).collect();
    assert!(extra.is_empty(), "interfaces left: {extra:?}");
    let rules = ns_out(w, host, &["nft", "list", "ruleset"]);
    assert!(rules.trim().is_empty(), "nft rules left:\n{rules}");
    let procs = ok(Command::new("ip").args(["netns", "pids", host]));
    assert!(procs.trim().is_empty() || procs.lines().all(|p| !is_port_holder(p)), "port holder left: {procs}");
    let addrs = ok(Command::new("ip").args(["-n", host, "addr"]));
    assert!(!addrs.contains(subnet_prefix), "addresses left:\n{addrs}");
    assert_eq!(entries(&w.store.join("netns")), Vec::<String>::new());
    assert_eq!(entries(&w.store.join("bundles")), Vec::<String>::new());
    assert!(!entries(&w.store.join("ipam")).iter().any(|e| e.ends_with(".json")), "IPAM entries left");
    assert!(mounts_under(w.dir.path()).is_empty(), "mounts left: {:?}", mounts_under(w.dir.path()));
}

/// Whether `pid` is a `bulkhead-bundle proxy` process.
pub fn is_port_holder(pid: &str) -> bool {
    let cmd = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap_or_default();
    cmd.split(|b| *b == 0).any(|a| a == b"proxy") && String::from_utf8_lossy(&cmd).contains("bulkhead-bundle")
}
