//! `create`: check every flag (nothing is touched before that), then make the bundle step by
//! step, recording each part in meta.json before it is made, so that a failure rolls back
//! through `remove::teardown`, and a create that dies half way (meta.json not `complete`) is
//! found and undone by `gc` (which waits for running creates: they hold gc.lock shared).

use super::cli::CreateArgs;
use super::etc;
use super::overlay::mount_overlay;
use super::remove::teardown;
use super::store::{absolute, init_dirs, load_meta, save_meta, valid_name, Marker, Meta, MARKER};
use super::{config, image, layer, network, progress};
use anyhow::{anyhow, bail, Context, Result};
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The flags, checked.
struct Plan {
    name: String,
    bundle: PathBuf,
    created_dir: bool,
    ports: Vec<network::Port>,
    subnets: (network::Subnet, Option<network::Subnet>),
    binds: Vec<(PathBuf, String, bool)>,
    memory: Option<i64>,
    img: image::Image,
}

pub fn create(store: &Path, a: &CreateArgs) -> Result<()> {
    let plan = check(a)?;
    init_dirs(store)?;
    let _gc = layer::lock(&store.join("gc.lock"), false)?;
    let mut meta = claim(store, a, &plan)?;
    let res = build(store, a, &plan, &mut meta);
    // Keep whatever was recorded, also on failure, for the rollback.
    let _ = save_meta(store, &meta);
    if let Err(e) = res {
        if let Err(e2) = teardown(store, &meta) {
            return Err(e.context(format!("and rolling back failed too: {e2:#}")));
        }
        return Err(e);
    }
    Ok(())
}

/// Everything that can be checked without touching anything.
fn check(a: &CreateArgs) -> Result<Plan> {
    let bundle = absolute(&a.bundle)?;
    let name = match &a.name {
        Some(n) => n.clone(),
        None => bundle
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| anyhow!("cannot name a bundle after {}: use --name", bundle.display()))?,
    };
    valid_name(&name)?;
    let mut ports = Vec::new();
    for p in &a.publish {
        for port in network::parse_publish(p)? {
            if let Some(q) = ports.iter().find(|q: &&network::Port| q.host == port.host && q.proto == port.proto) {
                bail!("-p {port} and -p {q} publish the same host port");
            }
            ports.push(port);
        }
    }
    let binds = a.volume.iter().map(|v| config::parse_bind(v)).collect::<Result<Vec<_>>>()?;
    let memory = a.memory.as_deref().map(config::parse_memory).transpose()?;
    let subnets = network::subnets(&a.subnet, a.ipv6, &a.bridge)?;
    match a.network.as_str() {
        "bridge" => {}
        "none" | "host" if !ports.is_empty() => bail!("-p needs --network bridge"),
        "none" | "host" => {}
        n if n.starts_with("container:") => {
            if !ports.is_empty() {
                bail!("-p needs --network bridge (publish on the container {})", &n[10..]);
            }
            if a.hostname.is_some() {
                bail!("--hostname conflicts with --network {n}: the bundle shares {}'s hostname", &n[10..]);
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
    Ok(Plan { name, bundle, created_dir, ports, subnets, binds, memory, img })
}

/// The bundle's name in the store (its directory) and its first meta.json, before anything
/// else is made.
fn claim(store: &Path, a: &CreateArgs, plan: &Plan) -> Result<Meta> {
    let name = &plan.name;
    let bdir = store.join("bundles").join(name);
    match fs::create_dir(&bdir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("a bundle named {name} exists"),
        Err(e) => return Err(e).with_context(|| format!("creating {}", bdir.display())),
    }
    let meta = Meta {
        name: name.clone(),
        bundle: plan.bundle.clone(),
        image: a.image.clone(),
        created_dir: plan.created_dir,
        complete: false,
        layers: vec![],
        network: a.network.clone(),
        bridge: (a.network == "bridge").then(|| a.bridge.clone()),
        netns: None,
        attachment: None,
    };
    if let Err(e) = save_meta(store, &meta) {
        let _ = layer::remove_all(&bdir);
        return Err(e);
    }
    Ok(meta)
}

/// The create steps, in order.
fn build(store: &Path, a: &CreateArgs, plan: &Plan, meta: &mut Meta) -> Result<()> {
    write_marker(store, meta)?;
    unpack(store, &plan.img, meta)?;
    let (netns, addrs) = network(store, a, plan, meta)?;
    let hostname = init_layer(store, a, meta, &addrs)?;
    let rootfs = mount_rootfs(store, meta)?;
    write_config(store, a, plan, meta, &rootfs, hostname, netns)?;
    meta.complete = true;
    save_meta(store, meta)
}

fn write_marker(store: &Path, meta: &Meta) -> Result<()> {
    fs::create_dir_all(&meta.bundle).with_context(|| format!("creating {}", meta.bundle.display()))?;
    let marker = Marker { name: meta.name.clone(), store: store.to_path_buf() };
    fs::write(meta.bundle.join(MARKER), serde_json::to_vec_pretty(&marker)?).context("writing the bundle marker")
}

fn unpack(store: &Path, img: &image::Image, meta: &mut Meta) -> Result<()> {
    let total: u64 = img.layers.iter().map(|l| l.blob.size()).sum();
    let progress = progress::Progress::new(total);
    meta.layers = unpack_layers(store, &img.layers, &progress)?;
    progress.finish();
    save_meta(store, meta)
}

/// The network namespace the bundle joins (None: the host's) and its addresses.
fn network(store: &Path, a: &CreateArgs, plan: &Plan, meta: &mut Meta) -> Result<(Option<PathBuf>, Vec<IpAddr>)> {
    let name = meta.name.clone();
    if meta.network == "host" {
        return Ok((None, vec![]));
    }
    if let Some(other) = meta.network.strip_prefix("container:") {
        let n = &meta.network;
        let om = load_meta(store, other)?.ok_or_else(|| anyhow!("--network {n}: no bundle named {other}"))?;
        let ns = om.netns.ok_or_else(|| anyhow!("--network {n}: {other} uses the host's network"))?;
        return Ok((Some(ns), vec![]));
    }
    let netns_path = store.join("netns").join(&name);
    meta.netns = Some(netns_path.clone());
    save_meta(store, meta)?;
    network::create_netns(&netns_path)?;
    let mut addrs = vec![];
    if meta.network == "bridge" {
        let att = network::attach(store, &name, &netns_path, &a.bridge, plan.subnets, &plan.ports);
        let att = att.with_context(|| format!("attaching to bridge {}", a.bridge))?;
        addrs.extend([Some(att.ip), att.ip6].into_iter().flatten());
        let publish = !att.ports.is_empty();
        meta.attachment = Some(att);
        save_meta(store, meta)?;
        if publish {
            network::proxy::start(store, &name)?;
        }
    }
    Ok((Some(netns_path), addrs))
}

/// /etc/hosts, /etc/resolv.conf, /etc/hostname in the init layer; returns the hostname.
fn init_layer(store: &Path, a: &CreateArgs, meta: &Meta, addrs: &[IpAddr]) -> Result<String> {
    let init = store.join("bundles").join(&meta.name).join("init");
    let other = meta.network.strip_prefix("container:").map(|o| store.join("bundles").join(o).join("init"));
    let (mode, hostname) = match (&other, meta.network.as_str()) {
        (Some(o), _) => (etc::Mode::Container(o), etc::hostname_of(o)?),
        (None, "host") => (etc::Mode::Host, a.hostname.clone().unwrap_or_else(etc::host_hostname)),
        _ => (etc::Mode::Own { addrs }, a.hostname.clone().unwrap_or_else(|| meta.name.chars().take(63).collect())),
    };
    etc::write(&init, &mode, &hostname)?;
    Ok(hostname)
}

fn mount_rootfs(store: &Path, meta: &Meta) -> Result<PathBuf> {
    let bdir = store.join("bundles").join(&meta.name);
    let (upper, work) = (bdir.join("upper"), bdir.join("work"));
    let rootfs = meta.bundle.join("rootfs");
    for d in [&upper, &work, &rootfs] {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    mount_overlay(store, &meta.name, &meta.layers, &upper, &work, &rootfs)?;
    Ok(rootfs)
}

/// config.json, with a directory per anonymous volume of the image.
fn write_config(
    store: &Path,
    a: &CreateArgs,
    plan: &Plan,
    meta: &Meta,
    rootfs: &Path,
    hostname: String,
    netns: Option<PathBuf>,
) -> Result<()> {
    let bdir = store.join("bundles").join(&meta.name);
    let mut volumes = Vec::new();
    for (i, v) in config::image_volumes(&plan.img.config).iter().enumerate() {
        if plan.binds.iter().any(|(_, d, _)| d == v) {
            continue;
        }
        let d = bdir.join("volumes").join(i.to_string());
        fs::create_dir_all(&d)?;
        volumes.push((d, v.clone()));
    }
    let opts = config::Options {
        cmd: a.cmd.clone(),
        env: a.env.clone(),
        binds: plan.binds.clone(),
        volumes,
        memory: plan.memory,
        cpus: a.cpus,
        hostname,
        netns,
    };
    let spec = config::build(&plan.img.config, rootfs, &opts)?;
    fs::write(meta.bundle.join("config.json"), serde_json::to_string_pretty(&spec)? + "\n").context("writing config.json")
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

