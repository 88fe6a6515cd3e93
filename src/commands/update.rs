//! `update`: change a container's cgroup resources, with runc's flags or a JSON
//! LinuxResources (`--resources FILE`, `-` for stdin), and record the new values in the
//! saved config.json so later reads see them (as runc records them in its state).
//!
//! As in runc, a zero (or empty) value means "unchanged"; `-1` means unlimited for memory,
//! swap and pids. Device rules in `--resources` replace the container's (runc ignores them
//! and applies the container's own again): runc's default devices are added as at create,
//! and the cgroup changes only where the rules do (see cgroups::devices), so a running
//! process keeps every device that stays allowed.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use std::io::Read;

use crate::cgroups::Manager;
use crate::cli::{Global, UpdateArgs};
use crate::state::{Root, Status};

pub fn run(g: &Global, id: &str, opts: &UpdateArgs) -> Result<i32> {
    let update = match &opts.resources {
        Some(src) => read_resources(src)?,
        None => from_flags(opts)?,
    };
    if opts.resources.is_none() {
        check_rdt(opts)?;
    }
    let c = Root::new(&g.root).open_locked(id)?;
    match c.state().status {
        Status::Running | Status::Paused | Status::Created => {}
        s => bail!("cannot update container {id:?}: it is {s}"),
    }
    let Some(cg) = c.state().cgroup.clone() else {
        bail!("cannot update container {id:?}: it has no cgroup");
    };
    let update = prune(update);
    let mut apply = update.clone();
    // A swap limit alone: the memory+swap arithmetic (cgroup v2 memory.swap.max, v1 ordering)
    // needs the memory limit, so take the container's current one from its saved config.
    if apply["memory"].get("swap").is_some_and(|s| s.as_i64() != Some(-1))
        && apply["memory"].get("limit").is_none()
        && let Some(l) = saved_memory_limit(&c.config_path())
    {
        apply["memory"]["limit"] = json!(l);
    }
    let mut res: oci_spec::runtime::LinuxResources =
        serde_json::from_value(apply).context("the resources to update")?;
    if let Some(rules) = res.devices().clone() {
        res.set_devices(Some(crate::cgroups::devices::with_defaults(rules)));
    }
    for w in cg.apply_resources(&res).with_context(|| format!("updating container {id:?}"))? {
        crate::warn!("update: {w}");
    }
    save_config(&c.config_path(), &update)?;
    Ok(0)
}

/// The resources JSON from a file or stdin ("-"), checked against LinuxResources.
fn read_resources(src: &str) -> Result<Value> {
    let mut text = String::new();
    if src == "-" {
        std::io::stdin().read_to_string(&mut text).context("reading the resources from stdin")?;
    } else {
        text = std::fs::read_to_string(src).with_context(|| format!("reading {src}"))?;
    }
    let v: Value = serde_json::from_str(&text).with_context(|| format!("parsing the resources in {src}"))?;
    if !v.is_object() {
        bail!("the resources in {src} are not a JSON object");
    }
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize::<_, oci_spec::runtime::LinuxResources>(de)
        .map_err(|e| anyhow!("the resources in {src}: {}: {}", e.path(), e.inner()))?;
    Ok(v)
}

/// runc's memory forms: `-1`, plain bytes, or a number with a binary unit (go-units'
/// RAMInBytes: `512k`, `10m`, `1.5g`, `2GiB`, `100 MB`).
pub fn parse_ram(flag: &str, s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let bad = || anyhow!("invalid value for --{flag}: {s:?} (use bytes, a size like 512k, 10m, 1g, or -1)");
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let mut u = unit.as_str();
    u = u.strip_suffix('b').unwrap_or(u);
    u = u.strip_suffix('i').unwrap_or(u);
    let mult: f64 = match u {
        "" if unit.is_empty() || unit == "b" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    let v = n * mult;
    if !v.is_finite() || v >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

fn uint(flag: &str, s: &str) -> Result<u64> {
    s.trim().parse().map_err(|_| anyhow!("invalid value for --{flag}: {s:?} (an unsigned integer)"))
}

fn int(flag: &str, s: &str) -> Result<i64> {
    s.trim().parse().map_err(|_| anyhow!("invalid value for --{flag}: {s:?} (an integer)"))
}

/// The LinuxResources JSON for the flags that were given.
pub fn from_flags(o: &UpdateArgs) -> Result<Value> {
    let mut mem = Map::new();
    for (flag, key, v) in [
        ("memory", "limit", &o.memory),
        ("memory-swap", "swap", &o.memory_swap),
        ("memory-reservation", "reservation", &o.memory_reservation),
        ("kernel-memory", "kernel", &o.kernel_memory),
        ("kernel-memory-tcp", "kernelTCP", &o.kernel_memory_tcp),
    ] {
        if let Some(s) = v.as_deref().filter(|s| !s.is_empty()) {
            mem.insert(key.into(), json!(parse_ram(flag, s)?));
        }
    }
    let mut cpu = Map::new();
    for (flag, key, v, signed) in [
        ("cpu-period", "period", &o.cpu_period, false),
        ("cpu-quota", "quota", &o.cpu_quota, true),
        ("cpu-burst", "burst", &o.cpu_burst, false),
        ("cpu-share", "shares", &o.cpu_share, false),
        ("cpu-idle", "idle", &o.cpu_idle, true),
        ("cpu-rt-period", "realtimePeriod", &o.cpu_rt_period, false),
        ("cpu-rt-runtime", "realtimeRuntime", &o.cpu_rt_runtime, true),
    ] {
        if let Some(s) = v.as_deref().filter(|s| !s.is_empty()) {
            let n = if signed { json!(int(flag, s)?) } else { json!(uint(flag, s)?) };
            cpu.insert(key.into(), n);
        }
    }
    if let Some(s) = &o.cpuset_cpus {
        cpu.insert("cpus".into(), json!(s));
    }
    if let Some(s) = &o.cpuset_mems {
        cpu.insert("mems".into(), json!(s));
    }
    let mut r = Map::new();
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(w) = o.blkio_weight {
        r.insert("blockIO".into(), json!({ "weight": w }));
    }
    if let Some(p) = o.pids_limit {
        r.insert("pids".into(), json!({ "limit": p }));
    }
    Ok(Value::Object(r))
}

/// Intel RDT needs resctrl; bulkhead does not manage resctrl groups yet.
fn check_rdt(o: &UpdateArgs) -> Result<()> {
    let l3 = o.l3_cache_schema.as_deref().filter(|s| !s.is_empty());
    let mb = o.mem_bw_schema.as_deref().filter(|s| !s.is_empty());
    if l3.is_none() && mb.is_none() {
        return Ok(());
    }
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().any(|l| l.split(" - ").nth(1).is_some_and(|t| t.starts_with("resctrl "))))
        .unwrap_or(false);
    let what = if l3.is_some() { "Intel RDT/CAT: l3 cache schema (--l3-cache-schema)" } else { "Intel RDT/MBA: memory bandwidth schema (--mem-bw-schema)" };
    if !mounted {
        bail!("{what} is not enabled: this host has no resctrl file system mounted (Intel RDT unsupported or not mounted at /sys/fs/resctrl)");
    }
    bail!("{what}: bulkhead does not support Intel RDT (linux.intelRdt) yet");
}

/// Drops what runc treats as "unchanged" (0 and "" values, except cpu.idle and cpu.burst
/// whose 0 is a setting: runc keeps them as pointers, so `--cpu-burst 0` resets the burst;
/// an empty list of device rules).
pub fn prune(v: Value) -> Value {
    fn walk(key: &str, v: Value) -> Option<Value> {
        match v {
            Value::Object(m) => {
                let m: Map<String, Value> = m
                    .into_iter()
                    .filter_map(|(k, v)| walk(&k, v).map(|v| (k, v)))
                    .collect();
                if m.is_empty() { None } else { Some(Value::Object(m)) }
            }
            Value::Number(n) if key != "idle" && key != "burst" && n.as_f64() == Some(0.0) => None,
            Value::String(s) if s.is_empty() => None,
            Value::Null => None,
            Value::Array(a) if key == "devices" && a.is_empty() => None,
            other => Some(other),
        }
    }
    walk("", v).unwrap_or_else(|| json!({}))
}

/// Merge `update` into `dst` (objects recursively, everything else replaced).
pub fn merge(dst: &mut Value, update: &Value) {
    match (dst, update) {
        (Value::Object(d), Value::Object(u)) => {
            for (k, v) in u {
                match d.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (d, u) => *d = u.clone(),
    }
}

/// linux.resources.memory.limit of the saved config, when set.
fn saved_memory_limit(path: &std::path::Path) -> Option<i64> {
    let cfg: Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    cfg["linux"]["resources"]["memory"]["limit"].as_i64().filter(|l| *l != 0)
}

/// Record the new resources in the state dir's config.json (atomically).
fn save_config(path: &std::path::Path, update: &Value) -> Result<()> {
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut cfg: Value = serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?;
    let linux = cfg.as_object_mut().ok_or_else(|| anyhow!("{} is not a JSON object", path.display()))?
        .entry("linux").or_insert_with(|| json!({}));
    let res = linux.as_object_mut().ok_or_else(|| anyhow!("{}: linux is not an object", path.display()))?
        .entry("resources").or_insert_with(|| json!({}));
    merge(res, update);
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&cfg)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_forms() {
        assert_eq!(parse_ram("memory", "1024").unwrap(), 1024);
        assert_eq!(parse_ram("memory", "-1").unwrap(), -1);
        assert_eq!(parse_ram("memory", "512k").unwrap(), 512 * 1024);
        assert_eq!(parse_ram("memory", "10m").unwrap(), 10 << 20);
        assert_eq!(parse_ram("memory", "10M").unwrap(), 10 << 20);
        assert_eq!(parse_ram("memory", "1g").unwrap(), 1 << 30);
        assert_eq!(parse_ram("memory", "2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_ram("memory", "100 MB").unwrap(), 100 << 20);
        assert_eq!(parse_ram("memory", "1.5k").unwrap(), 1536);
        assert_eq!(parse_ram("memory", "7b").unwrap(), 7);
        for bad in ["", "-2", "abc", "10x", "1..2m", "m", ".5m", "-5m"] {
            assert!(parse_ram("memory", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn flags_to_resources() {
        let o = UpdateArgs {
            memory: Some("10m".into()),
            memory_swap: Some("-1".into()),
            cpu_quota: Some("-1".into()),
            cpu_share: Some("512".into()),
            cpu_idle: Some("0".into()),
            cpuset_cpus: Some("0".into()),
            pids_limit: Some(20),
            blkio_weight: Some(300),
            ..Default::default()
        };
        let v = from_flags(&o).unwrap();
        assert_eq!(
            v,
            json!({"memory": {"limit": 10485760, "swap": -1},
                   "cpu": {"quota": -1, "shares": 512, "idle": 0, "cpus": "0"},
                   "pids": {"limit": 20}, "blockIO": {"weight": 300}})
        );
        let _: oci_spec::runtime::LinuxResources = serde_json::from_value(v).unwrap();
        assert!(from_flags(&UpdateArgs { cpu_period: Some("-5".into()), ..Default::default() }).is_err());
        assert_eq!(from_flags(&UpdateArgs::default()).unwrap(), json!({}));
    }

    #[test]
    fn prune_and_merge() {
        let u = prune(json!({"memory": {"limit": 0, "swap": 5}, "cpu": {"shares": 0, "idle": 0, "cpus": ""},
                             "pids": {"limit": 0}, "devices": [], "blockIO": {"weight": 0}}));
        assert_eq!(u, json!({"memory": {"swap": 5}, "cpu": {"idle": 0}}));
        let mut cfg = json!({"memory": {"limit": 10, "swap": 20}, "devices": [1]});
        merge(&mut cfg, &u);
        assert_eq!(cfg, json!({"memory": {"limit": 10, "swap": 5}, "devices": [1], "cpu": {"idle": 0}}));
        // New device rules replace the saved ones.
        let u = prune(json!({"devices": [{"allow": false}]}));
        merge(&mut cfg, &u);
        assert_eq!(cfg["devices"], json!([{"allow": false}]));
    }
}
