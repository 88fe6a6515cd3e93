//! Address allocation per bridge: `<store>/ipam/<bridge>.json` under `<bridge>.lock`. It records
//! the bridge's subnets (the first bundle on a bridge sets them), whether we created the bridge,
//! and which bundle holds each address (IPv4 and IPv6 alike).

use super::addr::Subnet;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ipam {
    /// The bridge's IPv4 subnet.
    pub subnet: Option<Subnet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Subnet>,
    /// Whether the bridge was created by us (then it goes with its last container).
    pub created_bridge: bool,
    pub allocations: BTreeMap<IpAddr, String>,
}

pub fn paths(store: &Path, bridge: &str) -> (PathBuf, PathBuf) {
    let d = store.join("ipam");
    (d.join(format!("{bridge}.json")), d.join(format!("{bridge}.lock")))
}

pub fn load(p: &Path) -> Result<Ipam> {
    match fs::read(p) {
        Ok(d) => serde_json::from_slice(&d).with_context(|| format!("parsing {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ipam::default()),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

pub fn save(p: &Path, ipam: &Ipam) -> Result<()> {
    let tmp = p.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_vec_pretty(ipam)?).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, p).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}

impl Ipam {
    /// Checks that the bridge uses these subnets (or sets them on first use).
    pub fn claim_subnets(&mut self, bridge: &str, v4: Subnet, v6: Option<Subnet>) -> Result<()> {
        let show = |a: Option<Subnet>, b: Option<Subnet>| {
            [a, b].iter().flatten().map(|s| s.to_string()).collect::<Vec<_>>().join(" and ")
        };
        if self.subnet.is_some() && (self.subnet != Some(v4) || self.subnet6 != v6) {
            bail!("bridge {bridge} uses the subnet {}, not {}", show(self.subnet, self.subnet6), show(Some(v4), v6));
        }
        self.subnet = Some(v4);
        self.subnet6 = v6;
        Ok(())
    }

    /// The first free address of `subnet`, now held by `name`.
    pub fn allocate(&mut self, subnet: Subnet, bridge: &str, name: &str) -> Result<IpAddr> {
        let ip = subnet
            .hosts()
            .find(|ip| !self.allocations.contains_key(ip))
            .ok_or_else(|| anyhow!("subnet {subnet} of bridge {bridge} is full"))?;
        self.allocations.insert(ip, name.to_string());
        Ok(ip)
    }
}

/// (bridge, bundle) for every address allocated in the store.
pub fn holders(store: &Path) -> Result<Vec<(String, String)>> {
    let mut v = Vec::new();
    let d = match fs::read_dir(store.join("ipam")) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(v),
        Err(e) => return Err(e).context("reading the IPAM directory"),
    };
    for e in d {
        let p = e?.path();
        if let (Some(bridge), Some("json")) = (p.file_stem().and_then(|s| s.to_str()), p.extension().and_then(|s| s.to_str())) {
            for name in load(&p)?.allocations.into_values() {
                if !v.contains(&(bridge.to_string(), name.clone())) {
                    v.push((bridge.to_string(), name));
                }
            }
        }
    }
    Ok(v)
}
