//! `delete` (by bundle directory or name), the teardown it shares with a failed create, and
//! the orphan half of `gc`.

use super::overlay::unmount_all;
use super::store::{absolute, all_meta, load_meta, Marker, Meta, MARKER};
use super::{layer, network};
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::Path;

pub fn delete_arg(store: &Path, arg: &Path) -> Result<()> {
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
pub fn teardown(store: &Path, meta: &Meta) -> Result<()> {
    let mut errs: Vec<String> = Vec::new();
    let rootfs = meta.bundle.join("rootfs");
    if let Err(e) = unmount_all(&rootfs) {
        errs.push(format!("{e:#}"));
    }
    if let Err(e) = network::proxy::stop(store, &meta.name) {
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


/// Undoes what creates that died half way left: bundles whose meta.json is not complete, a
/// bundle directory without meta.json, and network namespaces and addresses of bundles that
/// no longer exist. Holds gc.lock exclusively, so no create of this store is running.
pub fn gc_orphans(store: &Path) -> Result<()> {
    if !store.join("bundles").is_dir() {
        return Ok(());
    }
    let _gc = layer::lock(&store.join("gc.lock"), true)?;
    let mut errs = Vec::new();
    let mut note = |what: String, r: Result<()>| match r {
        Ok(()) => eprintln!("removed {what}"),
        Err(e) => errs.push(format!("{what}: {e:#}")),
    };
    for e in fs::read_dir(store.join("bundles"))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        match load_meta(store, &name) {
            Ok(Some(m)) if !m.complete => note(format!("the half-made bundle {name}"), teardown(store, &m)),
            Ok(None) => {
                let d = store.join("bundles").join(&name);
                note(format!("the empty bundle record {name}"), layer::remove_all(&d).map_err(Into::into));
            }
            _ => {}
        }
    }
    let exists = |name: &str| store.join("bundles").join(name).join("meta.json").exists();
    for e in fs::read_dir(store.join("netns"))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if !exists(&name) {
            note(format!("the network namespace of {name}"), network::remove_netns(&store.join("netns").join(&name)));
        }
    }
    for (bridge, name) in network::ipam::holders(store)? {
        if !exists(&name) {
            note(format!("the bridge attachment of {name}"), network::detach(store, &name, &bridge));
        }
    }
    if !errs.is_empty() {
        bail!("{}", errs.join("; "));
    }
    Ok(())
}
