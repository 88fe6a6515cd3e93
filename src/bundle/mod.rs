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
//! bundles/<name>/        meta.json, proxy.pid, init/, upper/, work/, volumes/
//! netns/<name>           the bundle's network namespace (bind mount)
//! ipam/<bridge>.json     address allocations (+ .lock)
//! ```
//! Everything a bundle owns is derived from its name and recorded in meta.json before it is
//! made, so `delete` (also the rollback of a failed create) undoes whatever exists.
//!
//! Files: `cli.rs` (flags), `create.rs` (the create conductor), `store.rs` (bundle records,
//! list, layer gc), `overlay.rs` (the rootfs mount), `remove.rs` (delete, teardown),
//! `image.rs`/`layer.rs` (sources, unpack), `config.rs` (config.json), `network.rs`,
//! `etc.rs` (/etc/hosts, resolv.conf, hostname), `network/` and `nft/` (the bridge network).

pub mod cli;
pub mod config;
mod create;
mod etc;
pub mod image;
pub mod layer;
pub mod network;
pub mod nft;
mod overlay;
pub mod progress;
mod remove;
pub mod store;

use anyhow::{bail, Result};
use clap::Parser;
use cli::{Cli, Cmd};

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
    let store = store::absolute(&cli.store)?;
    match cli.cmd {
        Cmd::Create(a) => create::create(&store, &a),
        Cmd::Delete { bundles } => {
            let mut errs = Vec::new();
            for b in bundles {
                if let Err(e) = remove::delete_arg(&store, &b) {
                    errs.push(format!("{}: {e:#}", b.display()));
                }
            }
            if errs.is_empty() { Ok(()) } else { bail!("{}", errs.join("; ")) }
        }
        Cmd::List { quiet } => store::list(&store, quiet),
        Cmd::Gc => {
            remove::gc_orphans(&store)?;
            store::gc_layers(&store)
        }
        Cmd::Proxy { name } => network::proxy::serve(&store, &name),
    }
}

