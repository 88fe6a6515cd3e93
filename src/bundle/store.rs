//! Bundle records in the store (meta.json per bundle, the marker file in the bundle
//! directory), `list`, and the layer half of `gc`.

use super::{layer, network};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

/// The file in a bundle directory that names its bundle and store.
pub const MARKER: &str = "bulkhead-bundle.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    pub bundle: PathBuf,
    pub image: String,
    /// Whether we created the bundle directory (then delete removes it).
    pub created_dir: bool,
    /// Whether create finished (false while it runs, and forever if it died half way).
    #[serde(default = "yes")]
    pub complete: bool,
    pub layers: Vec<String>,
    /// bridge / none / host / container:NAME
    pub network: String,
    pub bridge: Option<String>,
    pub netns: Option<PathBuf>,
    pub attachment: Option<network::Attachment>,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
pub struct Marker {
    pub name: String,
    pub store: PathBuf,
}

pub fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

pub fn valid_name(n: &str) -> Result<()> {
    let ok = !n.is_empty()
        && n.len() <= 64
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && n.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        bail!("bundle name {n:?}: use 1-64 of [A-Za-z0-9_.-], starting with a letter or digit");
    }
    Ok(())
}

pub fn init_dirs(store: &Path) -> Result<()> {
    for d in ["layers", "l", "locks", "bundles", "netns", "ipam"] {
        fs::create_dir_all(store.join(d)).with_context(|| format!("creating {}", store.join(d).display()))?;
    }
    Ok(())
}

pub fn save_meta(store: &Path, m: &Meta) -> Result<()> {
    let p = store.join("bundles").join(&m.name).join("meta.json");
    let tmp = p.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(m)?)?;
    fs::rename(&tmp, &p)?;
    Ok(())
}

pub fn load_meta(store: &Path, name: &str) -> Result<Option<Meta>> {
    let p = store.join("bundles").join(name).join("meta.json");
    match fs::read(&p) {
        Ok(d) => Ok(Some(serde_json::from_slice(&d).with_context(|| format!("parsing {}", p.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

pub fn all_meta(store: &Path) -> Result<Vec<Meta>> {
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

pub fn list(store: &Path, quiet: bool) -> Result<()> {
    let metas = all_meta(store)?;
    if quiet {
        for m in metas {
            println!("{}", m.name);
        }
        return Ok(());
    }
    println!("{:<20} {:<10} {:<16} {:<20} {:<30} BUNDLE", "NAME", "NETWORK", "IP", "PORTS", "IMAGE");
    for m in metas {
        let dash = |s: String| if s.is_empty() { "-".to_string() } else { s };
        let (ip, ports) = match &m.attachment {
            Some(a) => (
                [Some(a.ip), a.ip6].iter().flatten().map(|i| i.to_string()).collect::<Vec<_>>().join(","),
                a.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(","),
            ),
            None => (String::new(), String::new()),
        };
        println!("{:<20} {:<10} {:<16} {:<20} {:<30} {}", m.name, m.network, dash(ip), dash(ports), m.image, m.bundle.display());
    }
    Ok(())
}

/// Removes layers no bundle uses, and unpacks that died half way.
pub fn gc_layers(store: &Path) -> Result<()> {
    if !store.join("layers").is_dir() {
        return Ok(());
    }
    let _gc = layer::lock(&store.join("gc.lock"), true)?;
    let used: std::collections::HashSet<String> = all_meta(store)?.into_iter().flat_map(|m| m.layers).collect();
    let mut removed = 0;
    for e in fs::read_dir(store.join("layers"))? {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(tmp) = n.strip_prefix(".tmp-") {
            // An unpack that died: its lock is free once no one holds it.
            let hex = tmp.split('-').next().unwrap_or("").to_string();
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
