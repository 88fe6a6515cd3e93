//! `bulkhead-bundle`: turns an OCI image (layout dir, oci-archive, docker-archive) into a
//! runnable bundle: layers unpacked once into a content-addressed store, an overlayfs rootfs
//! (layers + a per-bundle init layer with /etc/hosts, /etc/resolv.conf, /etc/hostname), a
//! config.json from the image config, and optionally a bridge network.
//!
//! Store layout (`--store`, default /var/lib/bulkhead):
//! ```text
//! layers/<hex>/          one unpacked layer (hex of the digest it was verified against)
//! l/<12 hex>             short link to a layer (overlay lowerdir, relative to the store)
//! locks/<hex>.lock       per-layer unpack lock;  gc.lock: shared by create, exclusive by gc
//! bundles/<name>/        meta.json, init/, upper/, work/, volumes/
//! netns/<name>           the bundle's network namespace (bind mount)
//! ipam/<bridge>.json     address allocations (+ .lock)
//! ```
//! Everything a bundle owns is derived from its name and recorded in meta.json before it is
//! made, so `delete` (also the rollback of a failed create) undoes whatever exists.

pub mod config;
pub mod image;
pub mod layer;
pub mod netlink;
pub mod network;
pub mod nft;
pub mod progress;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

const MARKER: &str = "bulkhead-bundle.json";

#[derive(Parser, Debug)]
#[command(name = "bulkhead-bundle", about = "Make runnable OCI bundles from OCI images")]
pub struct Cli {
    /// Store for layers and bundle state
    #[arg(long, global = true, default_value = "/var/lib/bulkhead")]
    pub store: PathBuf,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CreateArgs {
    /// Image: an OCI layout DIR[:TAG], an oci-archive or a docker-archive tar[:TAG]
    #[arg(long)]
    pub image: String,
    /// Bundle name (default: the bundle directory's name)
    #[arg(long)]
    pub name: Option<String>,
    /// bridge, none, host or container:NAME
    #[arg(long, default_value = "bridge")]
    pub network: String,
    /// Bridge to attach to (created on first use)
    #[arg(long, default_value = "bulkhead0")]
    pub bridge: String,
    /// The bridge's subnet
    #[arg(long, default_value = "10.88.0.0/16")]
    pub subnet: String,
    /// Publish a port: HOSTPORT:CTRPORT[/tcp|udp]
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Environment K=V
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Bind mount HOSTDIR:CTRDIR[:ro]
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Memory limit (bytes, or k/m/g)
    #[arg(long)]
    pub memory: Option<String>,
    /// CPU limit in CPUs (e.g. 0.5)
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Hostname (default: the bundle name)
    #[arg(long)]
    pub hostname: Option<String>,
    /// Bundle directory to create
    pub bundle: PathBuf,
    /// Command and arguments (replace the image's Cmd)
    #[arg(last = true)]
    pub cmd: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Create a bundle from an image
    Create(Box<CreateArgs>),
    /// Delete a bundle (by directory or name): mounts, network, state
    Delete {
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
    },
    /// List bundles
    List {
        /// Print only names
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove layers no bundle uses
    Gc,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    pub bundle: PathBuf,
    pub image: String,
    /// Whether we created the bundle directory (then delete removes it).
    pub created_dir: bool,
    pub layers: Vec<String>,
    /// bridge / none / host / container:NAME
    pub network: String,
    pub bridge: Option<String>,
    pub netns: Option<PathBuf>,
    pub attachment: Option<network::Attachment>,
}

#[derive(Serialize, Deserialize)]
struct Marker {
    name: String,
    store: PathBuf,
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("bulkhead-bundle: {e:#}");
            1
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let store = absolute(&cli.store)?;
    match cli.cmd {
        Cmd::Create(a) => create(&store, &a),
        Cmd::Delete { bundles } => {
            let mut errs = Vec::new();
            for b in bundles {
                if let Err(e) = delete_arg(&store, &b) {
                    errs.push(format!("{}: {e:#}", b.display()));
                }
            }
            if errs.is_empty() { Ok(()) } else { bail!("{}", errs.join("; ")) }
        }
        Cmd::List { quiet } => list(&store, quiet),
        Cmd::Gc => gc(&store),
    }
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

fn valid_name(n: &str) -> Result<()> {
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && n.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        bail!("bundle name {n:?}: use 1-64 of [A-Za-z0-9_.-], starting with a letter or digit");
    }
    Ok(())
}

fn init_dirs(store: &Path) -> Result<()> {
    for d in ["layers", "l", "locks", "bundles", "netns", "ipam"] {
        fs::create_dir_all(store.join(d)).with_context(|| format!("creating {}", store.join(d).display()))?;
    }
    Ok(())
}

fn save_meta(store: &Path, m: &Meta) -> Result<()> {
    let p = store.join("bundles").join(&m.name).join("meta.json");
    let tmp = p.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(m)?)?;
    fs::rename(&tmp, &p)?;
    Ok(())
}

fn load_meta(store: &Path, name: &str) -> Result<Option<Meta>> {
    let p = store.join("bundles").join(name).join("meta.json");
    match fs::read(&p) {
        Ok(d) => Ok(Some(serde_json::from_slice(&d).with_context(|| format!("parsing {}", p.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

fn create(store: &Path, a: &CreateArgs) -> Result<()> {
    let bundle = absolute(&a.bundle)?;
    let name = match &a.name {
        Some(n) => n.clone(),
        None => bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow!("cannot name a bundle after {}: use --name", bundle.display()))?,
    };
    valid_name(&name)?;
    // Everything that can be checked without touching anything.
    let ports: Vec<network::Port> = a.publish.iter().map(|p| p.parse()).collect::<Result<_>>()?;
    let binds = a.volume.iter().map(|v| config::parse_bind(v)).collect::<Result<Vec<_>>>()?;
    let memory = a.memory.as_deref().map(config::parse_memory).transpose()?;
    let subnet: network::Subnet = a.subnet.parse()?;
    let network = a.network.clone();
    match network.as_str() {
        "bridge" => {}
        "none" | "host" => {
            if !ports.is_empty() {
                bail!("-p needs --network bridge");
            }
        }
        n if n.starts_with("container:") => {
            if !ports.is_empty() {
                bail!("-p needs --network bridge (publish on the container {})", &n[10..]);
            }
        }
        n => bail!("--network {n:?}: expected bridge, none, host or container:NAME"),
    }
    if !a.bridge.is_empty() && (a.bridge.len() > 15 || a.bridge.contains('/')) {
        bail!("bridge name {:?} is not a valid interface name", a.bridge);
    }
    let created_dir = match fs::read_dir(&bundle) {
        Ok(mut d) => {
            if d.next().is_some() {
                bail!("bundle directory {} exists and is not empty", bundle.display());
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(e).with_context(|| format!("bundle directory {}", bundle.display())),
    };
    let img = image::open(&a.image)?;

    init_dirs(store)?;
    let _gc = layer::lock(&store.join("gc.lock"), false)?;
    let bdir = store.join("bundles").join(&name);
    match fs::create_dir(&bdir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("a bundle named {name} exists"),
        Err(e) => return Err(e).with_context(|| format!("creating {}", bdir.display())),
    }
    let mut meta = Meta {
        name: name.clone(),
        bundle: bundle.clone(),
        image: a.image.clone(),
        created_dir,
        layers: vec![],
        network: network.clone(),
        bridge: (network == "bridge").then(|| a.bridge.clone()),
        netns: None,
        attachment: None,
    };
    let res = save_meta(store, &meta).and_then(|()| {
        let r = build(store, a, &img, &mut meta, ports, binds, memory, subnet);
        // Keep whatever was recorded, also on failure, for the rollback.
        let _ = save_meta(store, &meta);
        r
    });
    if let Err(e) = res {
        if let Err(e2) = teardown(store, &meta) {
            return Err(e.context(format!("and rolling back failed too: {e2:#}")));
        }
        return Err(e);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn build(
    store: &Path,
    a: &CreateArgs,
    img: &image::Image,
    meta: &mut Meta,
    ports: Vec<network::Port>,
    binds: Vec<(PathBuf, String, bool)>,
    memory: Option<i64>,
    subnet: network::Subnet,
) -> Result<()> {
    let name = meta.name.clone();
    let bdir = store.join("bundles").join(&name);
    fs::create_dir_all(&meta.bundle).with_context(|| format!("creating {}", meta.bundle.display()))?;
    fs::write(
        meta.bundle.join(MARKER),
        serde_json::to_vec_pretty(&Marker { name: name.clone(), store: store.to_path_buf() })?,
    )?;

    // Layers.
    let total: u64 = img.layers.iter().map(|l| l.blob.size()).sum();
    let progress = progress::Progress::new(total);
    meta.layers = unpack_layers(store, &img.layers, &progress)?;
    progress.finish();
    save_meta(store, meta)?;

    // Network namespace first: /etc/hosts needs the address.
    let hostname = a.hostname.clone().unwrap_or_else(|| name.chars().take(63).collect());
    let netns_path = store.join("netns").join(&name);
    let mut ip = None;
    let netns: Option<PathBuf> = match meta.network.as_str() {
        "host" => None,
        n if n.starts_with("container:") => {
            let other = &n[10..];
            let om = load_meta(store, other)?.ok_or_else(|| anyhow!("--network {n}: no bundle named {other}"))?;
            Some(om.netns.ok_or_else(|| anyhow!("--network {n}: {other} uses the host's network"))?)
        }
        _ => {
            meta.netns = Some(netns_path.clone());
            save_meta(store, meta)?;
            network::create_netns(&netns_path)?;
            if meta.network == "bridge" {
                let att = network::attach(store, &name, &netns_path, &a.bridge, subnet, &ports);
                let att = att.with_context(|| format!("attaching to bridge {}", a.bridge))?;
                ip = Some(att.ip);
                meta.attachment = Some(att);
                save_meta(store, meta)?;
            }
            Some(netns_path.clone())
        }
    };

    // Init layer.
    let init = bdir.join("init");
    fs::create_dir_all(init.join("etc"))?;
    let mut hosts = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if let Some(ip) = ip {
        hosts += &format!("{ip}\t{hostname}\n");
    } else {
        hosts += &format!("127.0.1.1\t{hostname}\n");
    }
    fs::write(init.join("etc/hosts"), hosts)?;
    fs::write(init.join("etc/hostname"), format!("{hostname}\n"))?;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = if meta.network == "host" {
        host_resolv
    } else {
        // Loopback resolvers of the host are unreachable from another namespace.
        host_resolv
            .lines()
            .filter(|l| !(l.trim_start().starts_with("nameserver") && (l.contains(" 127.") || l.contains(" ::1"))))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    fs::write(init.join("etc/resolv.conf"), resolv)?;

    // Overlay rootfs.
    let upper = bdir.join("upper");
    let work = bdir.join("work");
    fs::create_dir_all(&upper)?;
    fs::create_dir_all(&work)?;
    let rootfs = meta.bundle.join("rootfs");
    fs::create_dir_all(&rootfs)?;
    mount_overlay(store, &name, &meta.layers, &upper, &work, &rootfs)?;

    // Anonymous volumes of the image.
    let mut volumes = Vec::new();
    for (i, v) in config::image_volumes(&img.config).iter().enumerate() {
        if binds.iter().any(|(_, d, _)| d == v) {
            continue;
        }
        let d = bdir.join("volumes").join(i.to_string());
        fs::create_dir_all(&d)?;
        volumes.push((d, v.clone()));
    }
    let opts = config::Options {
        cmd: a.cmd.clone(),
        env: a.env.clone(),
        binds,
        volumes,
        memory,
        cpus: a.cpus,
        hostname,
        netns,
    };
    let spec = config::build(&img.config, &rootfs, &opts)?;
    fs::write(meta.bundle.join("config.json"), serde_json::to_string_pretty(&spec)? + "\n")?;
    Ok(())
}

/// Makes sure every layer is in the store, a few at a time; returns their keys in order.
fn unpack_layers(store: &Path, layers: &[image::Layer], progress: &progress::Progress) -> Result<Vec<String>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4).min(layers.len().max(1));
    let next = AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<Result<String>>>> =
        std::sync::Mutex::new((0..layers.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= layers.len() {
                    break;
                }
                let r = layer::ensure(store, &layers[i], progress);
                let failed = r.is_err();
                results.lock().unwrap()[i] = Some(r);
                if failed {
                    next.store(layers.len(), Ordering::SeqCst); // start no more
                    break;
                }
            });
        }
    });
    let mut keys = Vec::new();
    for r in results.into_inner().unwrap().into_iter().flatten() {
        keys.push(r?);
    }
    if keys.len() != layers.len() {
        bail!("unpacking stopped early");
    }
    Ok(keys)
}

/// overlayfs on `target`: every directory as a short path relative to the store (from a
/// chdir there), so about 260 layers fit in the mount data page; more go through fsconfig
/// `lowerdir+` (overlayfs stacks at most 500).
fn mount_overlay(store: &Path, name: &str, layers: &[String], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let mut lower = vec![format!("bundles/{name}/init")];
    lower.extend(layers.iter().rev().map(|h| format!("l/{}", layer::short_id(h))));
    // upper and work relative too: the store's path may hold ',' or ':'.
    let rel = |p: &Path| p.strip_prefix(store).map(Path::to_path_buf).unwrap_or_else(|_| p.to_path_buf());
    let data = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), rel(upper).display(), rel(work).display());
    let cwd = std::env::current_dir().ok();
    std::env::set_current_dir(store)?;
    let r = if data.len() < 4000 {
        nix::mount::mount(Some("overlay"), target, Some("overlay"), nix::mount::MsFlags::empty(), Some(data.as_str()))
            .map_err(anyhow::Error::from)
    } else {
        // Past one page: the new mount API, one `lowerdir+` at a time (Linux 6.8+).
        let mut opts = vec![("upperdir", rel(upper)), ("workdir", rel(work))];
        opts.extend(lower.iter().map(|l| ("lowerdir+", PathBuf::from(l))));
        fsmount_overlay(&opts, target)
    };
    if let Some(c) = cwd {
        let _ = std::env::set_current_dir(c);
    }
    r.with_context(|| format!("mounting overlay on {} ({} layers)", target.display(), layers.len()))
}

fn fsmount_overlay(opts: &[(&str, PathBuf)], target: &Path) -> Result<()> {
    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    let sys = |r: libc::c_long, what: &str| -> Result<OwnedFd> {
        if r < 0 {
            Err(std::io::Error::last_os_error()).with_context(|| what.to_string())
        } else {
            Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
        }
    };
    let fs = CString::new("overlay")?;
    let fsfd = sys(unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), 1 /* FSOPEN_CLOEXEC */) }, "fsopen(overlay)")?;
    use std::os::fd::AsRawFd;
    for (k, v) in opts {
        let key = CString::new(*k)?;
        let val = CString::new(v.as_os_str().as_bytes())?;
        let r = unsafe {
            libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), 1 /* FSCONFIG_SET_STRING */, key.as_ptr(), val.as_ptr(), 0)
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error()).with_context(|| format!("overlay option {k}={}", v.display()));
        }
    }
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, fsfd.as_raw_fd(), 6 /* FSCONFIG_CMD_CREATE */, 0usize, 0usize, 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context("creating the overlay");
    }
    let mfd = sys(unsafe { libc::syscall(libc::SYS_fsmount, fsfd.as_raw_fd(), 1 /* FSMOUNT_CLOEXEC */, 0) }, "fsmount")?;
    let empty = CString::new("")?;
    let t = CString::new(target.as_os_str().as_bytes())?;
    let r = unsafe {
        libc::syscall(libc::SYS_move_mount, mfd.as_raw_fd(), empty.as_ptr(), libc::AT_FDCWD, t.as_ptr(), 4 /* MOVE_MOUNT_F_EMPTY_PATH */)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("move_mount to {}", target.display()));
    }
    Ok(())
}

fn unmount_all(p: &Path) -> Result<()> {
    loop {
        match nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("unmounting {}", p.display())),
        }
    }
}

fn delete_arg(store: &Path, arg: &Path) -> Result<()> {
    let dir = absolute(arg)?;
    if let Ok(d) = fs::read(dir.join(MARKER)) {
        let m: Marker = serde_json::from_slice(&d).context("parsing the bundle marker")?;
        return match load_meta(&m.store, &m.name)? {
            Some(meta) => teardown(&m.store, &meta),
            None => {
                // State already gone: just the leftovers in the directory.
                unmount_all(&dir.join("rootfs"))?;
                clean_bundle_dir(&dir, false)
            }
        };
    }
    // By name, or the directory's name.
    let s = arg.to_string_lossy();
    if !s.contains('/')
        && let Some(meta) = load_meta(store, &s)? {
            return teardown(store, &meta);
        }
    if dir.exists() {
        // A bundle of this store whose marker is gone?
        for meta in all_meta(store)? {
            if meta.bundle == dir {
                return teardown(store, &meta);
            }
        }
        bail!("{} is not a bundle made by bulkhead-bundle", dir.display());
    }
    Ok(()) // already deleted
}

fn clean_bundle_dir(dir: &Path, remove_dir: bool) -> Result<()> {
    for f in [MARKER, "config.json"] {
        let _ = fs::remove_file(dir.join(f));
    }
    let _ = fs::remove_dir(dir.join("rootfs"));
    if remove_dir {
        let _ = fs::remove_dir(dir);
    }
    Ok(())
}

/// Undoes everything a bundle may own; each part tolerates being absent already.
fn teardown(store: &Path, meta: &Meta) -> Result<()> {
    let mut errs: Vec<String> = Vec::new();
    let rootfs = meta.bundle.join("rootfs");
    if let Err(e) = unmount_all(&rootfs) {
        errs.push(format!("{e:#}"));
    }
    if let Some(br) = &meta.bridge
        && let Err(e) = network::detach(store, &meta.name, br) {
            errs.push(format!("network: {e:#}"));
        }
    if let Some(ns) = &meta.netns
        && let Err(e) = network::remove_netns(ns) {
            errs.push(format!("{e:#}"));
        }
    if !errs.is_empty() {
        // Keep the state so that delete can be run again.
        bail!("{}", errs.join("; "));
    }
    let _ = clean_bundle_dir(&meta.bundle, meta.created_dir);
    let bdir = store.join("bundles").join(&meta.name);
    layer::remove_all(&bdir).with_context(|| format!("removing {}", bdir.display()))?;
    Ok(())
}

fn all_meta(store: &Path) -> Result<Vec<Meta>> {
    let mut v = Vec::new();
    let d = match fs::read_dir(store.join("bundles")) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(e.into()),
    };
    for e in d {
        let name = e?.file_name().to_string_lossy().into_owned();
        if let Some(m) = load_meta(store, &name)? {
            v.push(m);
        }
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

fn list(store: &Path, quiet: bool) -> Result<()> {
    let metas = all_meta(store)?;
    if quiet {
        for m in metas {
            println!("{}", m.name);
        }
        return Ok(());
    }
    println!("{:<20} {:<10} {:<16} {:<20} {:<30} BUNDLE", "NAME", "NETWORK", "IP", "PORTS", "IMAGE");
    for m in metas {
        let ip = m.attachment.as_ref().map(|a| a.ip.to_string()).unwrap_or_else(|| "-".into());
        let ports = m
            .attachment
            .as_ref()
            .map(|a| a.ports.iter().map(|p| format!("{}:{}/{}", p.host, p.container, p.proto)).collect::<Vec<_>>().join(","))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "-".into());
        println!("{:<20} {:<10} {:<16} {:<20} {:<30} {}", m.name, m.network, ip, ports, m.image, m.bundle.display());
    }
    Ok(())
}

fn gc(store: &Path) -> Result<()> {
    if !store.join("layers").is_dir() {
        return Ok(());
    }
    let _gc = layer::lock(&store.join("gc.lock"), true)?;
    let used: std::collections::HashSet<String> = all_meta(store)?.into_iter().flat_map(|m| m.layers).collect();
    let mut removed = 0;
    for e in fs::read_dir(store.join("layers"))? {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(".tmp-") {
            // An unpack that died: its lock is free once no one holds it.
            let hex = n[5..].split('-').next().unwrap_or("").to_string();
            let l = layer::lock(&store.join("locks").join(format!("{hex}.lock")), true)?;
            layer::remove_all(&e.path())?;
            drop(l);
            continue;
        }
        if used.contains(&n) || n.len() != 64 {
            continue;
        }
        let _l = layer::lock(&store.join("locks").join(format!("{n}.lock")), true)?;
        let _ = fs::remove_file(store.join("l").join(layer::short_id(&n)));
        layer::remove_all(&e.path()).with_context(|| format!("removing layer {n}"))?;
        let _ = fs::remove_file(store.join("locks").join(format!("{n}.lock")));
        removed += 1;
    }
    if removed > 0 {
        eprintln!("removed {removed} unused layer(s)");
    }
    Ok(())
}
