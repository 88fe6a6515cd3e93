//! config.json → the properties of the container's transient unit, as runc's systemd driver
//! sends them (opencontainers/cgroups systemd/v2.go `Apply` and `genV2ResourcesProperties`,
//! runc's specconv `initSystemdProps`). Pure functions: unit-tested against runc's lists.
//!
//! systemd ≥ 252 is assumed (CPUQuotaPeriodUSec 242, AllowedCPUs 244, cpu.idle 252), where
//! runc asks the manager's version first: one round trip less on every create.

use std::collections::HashMap;

use anyhow::{Result, bail};
use oci_spec::runtime::LinuxResources;

use super::dbus::{Prop, Value};
use super::path::UnitName;
use crate::cgroups::resources::{memory_swap_to_v2, shares_to_weight};

fn p(name: &str, v: Value) -> Prop {
    (name.to_string(), v)
}

/// What StartTransientUnit gets besides the resources: runc's Apply list, then the
/// `org.systemd.property.*` annotations. `pid`: the init (None for a slice).
pub fn unit_properties(u: &UnitName, container: &str, pid: Option<u32>, annotations: &[Prop]) -> Vec<Prop> {
    let mut v = vec![p("Description", Value::Str(format!("bulkhead container {container}")))];
    if u.is_slice() {
        v.push(p("Wants", Value::Strs(vec![u.slice.clone()])));
    } else {
        v.push(p("Slice", Value::Str(u.slice.clone())));
        v.push(p("Delegate", Value::Bool(true)));
    }
    if let Some(pid) = pid {
        v.push(p("PIDs", Value::U32s(vec![pid])));
    }
    for a in ["MemoryAccounting", "CPUAccounting", "IOAccounting", "TasksAccounting"] {
        v.push(p(a, Value::Bool(true)));
    }
    v.push(p("DefaultDependencies", Value::Bool(false)));
    v.extend(annotations.iter().cloned());
    v
}

/// The resources systemd owns as unit properties, and `r` as the cgroup files must get it
/// (the CPU quota rounded up as systemd rounds it, so both agree).
pub fn resource_properties(r: &LinuxResources) -> Result<(Vec<Prop>, LinuxResources)> {
    let mut r = r.clone();
    let mut v = Vec::new();
    if let Some(m) = r.memory() {
        let limit = m.limit().unwrap_or(0);
        if limit != 0 {
            v.push(p("MemoryMax", Value::U64(limit as u64)));
        }
        if let Some(res) = m.reservation().filter(|x| *x != 0) {
            v.push(p("MemoryLow", Value::U64(res as u64)));
        }
        let swap = memory_swap_to_v2(m.swap().unwrap_or(0), limit)?;
        if swap != 0 {
            v.push(p("MemorySwapMax", Value::U64(swap as u64)));
        }
    }
    if let Some(c) = r.cpu().clone() {
        let idle = c.idle() == Some(1);
        if idle {
            v.push(p("CPUWeight", Value::U64(0)));
        }
        let weight = shares_to_weight(c.shares().unwrap_or(0));
        if weight != 0 && !idle {
            v.push(p("CPUWeight", Value::U64(weight)));
        }
        let mut quota = c.quota().unwrap_or(0);
        add_cpu_quota(&mut v, &mut quota, c.period().unwrap_or(0));
        if quota != c.quota().unwrap_or(0) {
            let mut c = c.clone();
            c.set_quota(Some(quota));
            r.set_cpu(Some(c));
        }
    }
    if let Some(pids) = r.pids() {
        let l = pids.limit();
        v.push(p("TasksMax", Value::U64(if l < 0 { u64::MAX } else { l.max(1) as u64 })));
    }
    if let Some(c) = r.cpu() {
        for (spec, prop, field) in [(c.cpus(), "AllowedCPUs", "cpus"), (c.mems(), "AllowedMemoryNodes", "mems")] {
            if let Some(s) = spec.as_deref().filter(|s| !s.is_empty()) {
                let bits = range_to_bits(s).map_err(|e| anyhow::anyhow!("linux.resources.cpu.{field} {s:?}: {e}"))?;
                v.push(p(prop, Value::Bytes(bits)));
            }
        }
    }
    if let Some(u) = r.unified() {
        v.extend(unified_properties(u)?);
    }
    Ok((v, r))
}

/// runc's addCPUQuota: CPUQuotaPeriodUSec when a period is set; CPUQuotaPerSecUSec rounded up
/// to whole percents (systemd keeps a percentage), `quota` adjusted to match.
fn add_cpu_quota(v: &mut Vec<Prop>, quota: &mut i64, period: u64) {
    if period != 0 {
        v.push(p("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if *quota == 0 && period == 0 {
        return;
    }
    let mut per_sec = u64::MAX;
    if *quota > 0 {
        let period = if period == 0 { 100_000 } else { period };
        per_sec = (*quota as u64 * 1_000_000) / period;
        if !per_sec.is_multiple_of(10_000) {
            per_sec = (per_sec / 10_000 + 1) * 10_000;
            *quota = (per_sec * period / 1_000_000) as i64;
        }
    }
    v.push(p("CPUQuotaPerSecUSec", Value::U64(per_sec)));
}

/// runc's unifiedResToSystemdProps: the `unified` keys systemd has properties for; the rest
/// goes to the files only. Keys in sorted order (runc iterates a Go map: any order).
fn unified_properties(u: &HashMap<String, String>) -> Result<Vec<Prop>> {
    let mut v = Vec::new();
    let mut keys: Vec<&String> = u.keys().collect();
    keys.sort();
    let idle = u.get("cpu.idle").is_some_and(|s| s.trim() == "1");
    for k in keys {
        let val = u[k].trim();
        let bad = |e: &dyn std::fmt::Display| anyhow::anyhow!("linux.resources.unified.{k} {val:?}: {e}");
        let num_or_max = || -> Result<u64> { if val == "max" { Ok(u64::MAX) } else { val.parse().map_err(|e| bad(&e)) } };
        match k.as_str() {
            "cpu.idle" if idle => v.push(p("CPUWeight", Value::U64(0))),
            "cpu.max" => {
                let f: Vec<&str> = val.split_whitespace().collect();
                if f.is_empty() || f.len() > 2 {
                    return Err(bad(&"want \"quota [period]\""));
                }
                let mut quota = if f[0] == "max" { 0 } else { f[0].parse().map_err(|e| bad(&e))? };
                let period = match f.get(1) {
                    Some(s) => s.parse().map_err(|e| bad(&e))?,
                    None => 100_000,
                };
                add_cpu_quota(&mut v, &mut quota, period);
            }
            "cpu.weight" if !idle => v.push(p("CPUWeight", Value::U64(val.parse().map_err(|e| bad(&e))?))),
            "cpuset.cpus" => v.push(p("AllowedCPUs", Value::Bytes(range_to_bits(val).map_err(|e| bad(&e))?))),
            "cpuset.mems" => v.push(p("AllowedMemoryNodes", Value::Bytes(range_to_bits(val).map_err(|e| bad(&e))?))),
            "memory.high" | "memory.low" | "memory.min" | "memory.max" | "memory.swap.max" => {
                let name = match k.as_str() {
                    "memory.high" => "MemoryHigh",
                    "memory.low" => "MemoryLow",
                    "memory.min" => "MemoryMin",
                    "memory.max" => "MemoryMax",
                    _ => "MemorySwapMax",
                };
                v.push(p(name, Value::U64(num_or_max()?)));
            }
            "pids.max" => v.push(p("TasksMax", Value::U64(num_or_max()?.max(1)))),
            _ => {}
        }
    }
    Ok(v)
}

/// runc's RangeToBits: "0-2,5" → the little-endian bitmask systemd takes for AllowedCPUs.
pub fn range_to_bits(s: &str) -> Result<Vec<u8>> {
    let mut bits: Vec<u8> = Vec::new();
    for r in s.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let (a, b): (u32, u32) = (a.trim().parse()?, b.trim().parse()?);
        if a > b || b >= 1 << 16 {
            bail!("invalid range {r:?}");
        }
        for i in a..=b {
            let byte = (i / 8) as usize;
            if bits.len() <= byte {
                bits.resize(byte + 1, 0);
            }
            bits[byte] |= 1 << (i % 8);
        }
    }
    if bits.is_empty() {
        bail!("empty value");
    }
    Ok(bits)
}

/// The `org.systemd.property.<Name>` annotations (runc's initSystemdProps): the value in
/// GVariant text form; a `…Sec` name with a number becomes `…USec` in microseconds.
pub fn annotation_properties(annotations: &HashMap<String, String>) -> Result<Vec<Prop>> {
    let mut keys: Vec<&String> = annotations.keys().filter(|k| k.starts_with("org.systemd.property.")).collect();
    keys.sort();
    let mut v = Vec::new();
    for k in keys {
        let raw = &annotations[k];
        let mut name = k["org.systemd.property.".len()..].to_string();
        if name.len() < 3 || !name.bytes().all(|c| c.is_ascii_alphabetic()) {
            bail!("annotations.{k}: the property name must be at least 3 ASCII letters");
        }
        let mut value = parse_gvariant(raw).map_err(|e| anyhow::anyhow!("annotations.{k} {raw:?}: {e}"))?;
        if let Some(stem) = name.strip_suffix("Sec").filter(|s| s.ends_with(|c: char| c.is_ascii_lowercase())) {
            value = Value::U64(match value {
                Value::U32(n) => n as u64 * 1_000_000,
                Value::I32(n) => n as u64 * 1_000_000,
                Value::U64(n) => n * 1_000_000,
                Value::I64(n) => n as u64 * 1_000_000,
                Value::F64(n) => (n * 1e6) as u64,
                _ => bail!("annotations.{k} {raw:?}: not a number"),
            });
            name = format!("{stem}USec");
        }
        v.push((name, value));
    }
    Ok(v)
}

/// The GVariant text forms annotations use: `uint64 5`, `@t 5`, `int32 5`, `5` (int32),
/// `5.0` (double), `true`, `'str'`, `"str"`, `['a', 'b']`.
pub fn parse_gvariant(s: &str) -> Result<Value> {
    let s = s.trim();
    let (ty, rest) = match s.split_once(char::is_whitespace) {
        Some((t, r)) if t.starts_with('@') || t.chars().all(|c| c.is_ascii_alphanumeric()) && !t.starts_with(|c: char| c.is_ascii_digit()) => (t, r.trim()),
        _ => ("", s),
    };
    let num = |r: &str| -> Result<i128> { Ok(r.parse::<i128>()?) };
    Ok(match ty {
        "uint64" | "@t" => Value::U64(num(rest)?.try_into()?),
        "uint32" | "@u" => Value::U32(num(rest)?.try_into()?),
        "int64" | "@x" => Value::I64(num(rest)?.try_into()?),
        "int32" | "@i" => Value::I32(num(rest)?.try_into()?),
        "double" | "@d" => Value::F64(rest.parse()?),
        "boolean" | "@b" | "" => match rest {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            r if r.starts_with('[') && r.ends_with(']') => {
                let inner = r[1..r.len() - 1].trim();
                let items = if inner.is_empty() { Vec::new() } else { inner.split(',').map(unquote).collect::<Result<_>>()? };
                Value::Strs(items)
            }
            r if r.starts_with(['\'', '"']) => Value::Str(unquote(r)?),
            r if r.contains(['.', 'e']) => Value::F64(r.parse()?),
            r => Value::I32(num(r)?.try_into()?),
        },
        t => bail!("GVariant type {t:?} not supported"),
    })
}

fn unquote(s: &str) -> Result<String> {
    let s = s.trim();
    let q = s.chars().next().filter(|c| *c == '\'' || *c == '"');
    match q {
        Some(q) if s.len() >= 2 && s.ends_with(q) => Ok(s[1..s.len() - 1].to_string()),
        _ => bail!("{s:?} is not a quoted string"),
    }
}

#[cfg(test)]
#[path = "properties_tests.rs"]
mod tests;
