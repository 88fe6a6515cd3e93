//! `create`: check every flag, then make the bundle step by step, recording each part in
//! meta.json before it is made so that a failure rolls back through `remove::teardown`.

use super::cli::CreateArgs;
use super::overlay::mount_overlay;
use super::remove::teardown;
use super::store::{absolute, init_dirs, load_meta, save_meta, valid_name, Marker, Meta, MARKER};
use super::{config, image, layer, network, progress};
use anyhow::{anyhow, bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

pub fn create(store: &Path, a: &CreateArgs) -> Result<()> {
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

