//! The command line of bulkhead-bundle.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    /// The bridge's subnets: an IPv4 one (default 10.88.0.0/16) and an IPv6 prefix for
    /// dual-stack (repeat the flag or separate with commas)
    #[arg(long)]
    pub subnet: Vec<String>,
    /// Dual-stack with a unique-local IPv6 /64 derived from the bridge name, unless --subnet
    /// names an IPv6 prefix
    #[arg(long)]
    pub ipv6: bool,
    /// Publish a port: [IP:]HOSTPORT[-END]:CTRPORT[-END][/tcp|udp] (an IPv6 IP in brackets)
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
    /// Remove layers no bundle uses, and what a create that died half way left
    Gc,
    /// (internal) hold and forward the published ports of bundle NAME
    #[command(hide = true)]
    Proxy { name: String },
}

