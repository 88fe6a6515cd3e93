//! Translation of `linux.resources` into cgroup v1 and v2 file writes, following runc
//! (libcontainer/cgroups fs + fs2, 1.1/1.2) and crun.
//!
//! The code is written against the [`Files`] trait so that every translation, including
//! the order-dependent dances (memory vs. swap, cfs period vs. quota, ...), is unit-tested
//! with an in-memory fake. The real implementation lives in `cgroups/mod.rs`.
//!
//! Layout: this file holds the shared context (`Ctx`), the pure conversions and the
//! pieces common to both versions; `v1.rs` and `v2.rs` hold the per-version translations,
//! and `tests.rs` the unit tests against the in-memory fake.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

mod v1;
mod v2;

pub(crate) use v1::apply_v1;
pub(crate) use v2::apply_v2;

/// Access to the files of one container cgroup, keyed by controller.
pub(crate) trait Files {
    /// v1: a hierarchy with this controller is mounted; v2: listed in the cgroup's
    /// cgroup.controllers.
    fn has_controller(&self, controller: &str) -> bool;
    /// The path of `file` for messages.
    fn path(&self, controller: &str, file: &str) -> PathBuf;
    fn exists(&self, controller: &str, file: &str) -> bool;
    fn read(&self, controller: &str, file: &str) -> io::Result<String>;
    /// One write(2) of `value`.
    fn write(&mut self, controller: &str, file: &str, value: &str) -> io::Result<()>;
}

/// Text of an I/O error without Rust's " (os error N)" suffix.
pub(crate) fn errtext(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// Writing context: the files plus the warnings collected so far.
pub(crate) struct Ctx<'a> {
    pub f: &'a mut dyn Files,
    pub warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(f: &'a mut dyn Files) -> Self {
        Ctx {
            f,
            warnings: Vec::new(),
        }
    }

    pub fn warn(&mut self, s: String) {
        self.warnings.push(s);
    }

    /// The field needs `controller`: error when it is not available.
    pub fn need(&self, field: &str, controller: &str) -> Result<()> {
        if self.f.has_controller(controller) {
            Ok(())
        } else {
            bail!("{field}: the {controller} cgroup controller is not available for this container")
        }
    }

    pub fn werr(
        &self,
        field: &str,
        c: &str,
        file: &str,
        value: &str,
        e: &io::Error,
    ) -> anyhow::Error {
        anyhow!(
            "{field}: writing {value} to {}: {}",
            self.f.path(c, file).display(),
            errtext(e)
        )
    }

    /// Write, failing with full context.
    pub fn write(&mut self, field: &str, c: &str, file: &str, value: &str) -> Result<()> {
        self.f
            .write(c, file, value)
            .map_err(|e| self.werr(field, c, file, value, &e))
    }

    /// Write a file the kernel may lack (blkio.weight without CFQ/BFQ, cpu.idle before 5.15):
    /// a limit the config sets is never dropped silently, so a missing file is an error that
    /// names the field and the file, before anything is written to it.
    pub fn write_opt(&mut self, field: &str, c: &str, file: &str, value: &str) -> Result<()> {
        if !self.f.exists(c, file) {
            bail!("{field}: {} does not exist on this host, so {value} cannot be applied", self.f.path(c, file).display());
        }
        self.write(field, c, file, value)
    }

    pub fn read_u64(&self, field: &str, c: &str, file: &str) -> Result<u64> {
        let p = self.f.path(c, file);
        let s = self
            .f
            .read(c, file)
            .map_err(|e| anyhow!("{field}: reading {}: {}", p.display(), errtext(&e)))?;
        let s = s.trim();
        if s == "max" {
            return Ok(u64::MAX);
        }
        s.parse::<u64>()
            .map_err(|_| anyhow!("{field}: {} holds {s:?}, not a number", p.display()))
    }
}

fn is_einval(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINVAL)
}
fn is_enoent(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOENT) || e.kind() == io::ErrorKind::NotFound
}

// ---------------------------------------------------------------------------------------
// Pure conversions
// ---------------------------------------------------------------------------------------

/// cpu.shares (v1, 2..262144) → cpu.weight (v2, 1..10000).
///
/// The quadratic formula of runc >= 1.3.2 (opencontainers/runc#4785, now in
/// opencontainers/cgroups `ConvertCPUSharesToCgroupV2Value`) and crun >= 1.23
/// (`convert_shares_to_weight`): with l = log2(shares),
/// weight = ceil(10^((l² + 125·l)/612 − 7/34)); it maps 2→1, 1024→100 (both defaults) and
/// 262144→10000. (The older linear one was 1 + (shares−2)·9999/262142, which sent the v1
/// default 1024 to 39.) 0 means unset.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262144 {
        return 10000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

/// blkio.weight (10..1000) → io.weight (1..10000), runc's ConvertBlkIOToIOWeightValue.
pub fn blkio_weight_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    let w = w.max(10) as u64;
    1 + (w - 10) * 9999 / 990
}

/// OCI memory.swap (memory+swap) → v2 memory.swap.max (swap only); runc's
/// ConvertMemorySwapToCgroupV2Value. 0 = unset, -1 = max.
pub fn memory_swap_to_v2(swap: i64, limit: i64) -> Result<i64> {
    if limit == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if limit == 0 || limit == -1 {
        bail!("linux.resources.memory.swap: unable to set swap limit without memory limit");
    }
    if limit < 0 {
        bail!("linux.resources.memory.limit: invalid memory value {limit}");
    }
    if swap < limit {
        bail!(
            "linux.resources.memory.swap: memory+swap limit ({swap}) should be >= memory limit ({limit})"
        );
    }
    Ok(swap - limit)
}

/// runc's numToStr for v2: 0 → unset, -1 → "max".
pub fn num_to_str(v: i64) -> Option<String> {
    match v {
        0 => None,
        -1 => Some("max".into()),
        v => Some(v.to_string()),
    }
}

/// pids.limit → pids.max as runc 1.4+: negative is unlimited; 0 is a limit (runtime-spec
/// 1.3), written as "1" like runc (systemd cannot express 0; either stops every fork).
pub fn pids_max(limit: i64) -> String {
    match limit {
        l if l > 0 => l.to_string(),
        0 => "1".into(),
        _ => "max".into(),
    }
}

/// One rdma.max line, or None when neither limit is set.
pub fn rdma_line(dev: &str, handles: Option<u32>, objects: Option<u32>) -> Option<String> {
    if handles.is_none() && objects.is_none() {
        return None;
    }
    let mut s = dev.to_string();
    if let Some(h) = handles {
        s += &format!(" hca_handle={h}");
    }
    if let Some(o) = objects {
        s += &format!(" hca_object={o}");
    }
    Some(s)
}

/// v2 io.max line for one throttle entry; 0 removes the limit ("max"), as the kernel
/// rejects 0 there while v1 treats it as "no limit".
pub fn io_max_line(td: &LinuxThrottleDevice, key: &str) -> String {
    let rate = if td.rate() == 0 {
        "max".to_string()
    } else {
        td.rate().to_string()
    };
    format!("{}:{} {key}={rate}", td.major(), td.minor())
}

/// Validate a key of linux.resources.unified.
pub fn check_unified_key(k: &str) -> Result<()> {
    if k.is_empty()
        || k.contains('/')
        || k == "."
        || k == ".."
        || k.contains("..")
        || k.contains('\0')
    {
        bail!("linux.resources.unified: key {k:?} must be a plain file name (no '/' or '..')");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Common to v1 and v2
// ---------------------------------------------------------------------------------------

fn cpuset(cx: &mut Ctx, cpu: Option<&LinuxCpu>) -> Result<()> {
    let Some(cpu) = cpu else { return Ok(()) };
    if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
        cx.need("linux.resources.cpu.cpus", "cpuset")?;
        cx.write("linux.resources.cpu.cpus", "cpuset", "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
        cx.need("linux.resources.cpu.mems", "cpuset")?;
        cx.write("linux.resources.cpu.mems", "cpuset", "cpuset.mems", mems)?;
    }
    Ok(())
}

fn pids(cx: &mut Ctx, r: &LinuxResources) -> Result<()> {
    let Some(p) = r.pids() else { return Ok(()) };
    let f = "linux.resources.pids.limit";
    cx.need(f, "pids")?;
    cx.write(f, "pids", "pids.max", &pids_max(p.limit()))
}

/// hugepageLimits: `hugetlb.<size>.<suffix>` (v1 `limit_in_bytes`, v2 `max`, where -1 is
/// spelled "max"), and the reservation file `hugetlb.<size>.rsvd.<suffix>` where the kernel
/// has it. A page size the kernel lacks is an error naming it.
fn hugetlb(cx: &mut Ctx, r: &LinuxResources, suffix: &str, v2: bool) -> Result<()> {
    let f = "linux.resources.hugepageLimits";
    for l in r.hugepage_limits().iter().flatten() {
        cx.need(f, "hugetlb")?;
        let file = format!("hugetlb.{}.{suffix}", l.page_size());
        if !cx.f.exists("hugetlb", &file) {
            bail!("{f}: hugepage size {:?} is not supported ({} does not exist)", l.page_size(), cx.f.path("hugetlb", &file).display());
        }
        let v = if v2 && l.limit() < 0 { "max".to_string() } else { l.limit().to_string() };
        cx.write(f, "hugetlb", &file, &v)?;
        let rsvd = format!("hugetlb.{}.rsvd.{suffix}", l.page_size());
        if cx.f.exists("hugetlb", &rsvd) {
            cx.write(f, "hugetlb", &rsvd, &v)?;
        }
    }
    Ok(())
}

fn rdma(cx: &mut Ctx, r: &LinuxResources) -> Result<()> {
    let Some(map) = r.rdma() else { return Ok(()) };
    let mut devs: Vec<_> = map.iter().collect();
    devs.sort_by(|a, b| a.0.cmp(b.0));
    for (dev, l) in devs {
        if let Some(line) = rdma_line(dev, l.hca_handles(), l.hca_objects()) {
            cx.need("linux.resources.rdma", "rdma")?;
            cx.write("linux.resources.rdma", "rdma", "rdma.max", &line)?;
        }
    }
    Ok(())
}

fn check_memory_usage(cx: &mut Ctx, m: &LinuxMemory, usage_file: &str) -> Result<()> {
    if m.check_before_update() != Some(true) {
        return Ok(());
    }
    let limit = m.limit().unwrap_or(0);
    if limit <= 0 {
        return Ok(());
    }
    let usage = cx.read_u64(
        "linux.resources.memory.checkBeforeUpdate",
        "memory",
        usage_file,
    )?;
    if usage >= limit as u64 {
        bail!(
            "linux.resources.memory.limit: rejecting memory limit {limit} below current usage {usage} (checkBeforeUpdate)"
        );
    }
    Ok(())
}

/// cpu.burst, v1 `cpu.cfs_burst_us` or v2 `cpu.max.burst` (`file`): an error when the kernel
/// lacks the file (see [`Ctx::write_opt`]); when the kernel rejects the value with EINVAL and a quota is being set
/// (the old quota may be what it objects to), return the value to write again after the
/// quota.
/// linux.resources.cpu.idle: the same file on v1 and v2 (cpu.idle, Linux 5.15); a kernel
/// without it is an error naming the field, never a silent drop.
fn cpu_idle(cx: &mut Ctx, c: &LinuxCpu) -> Result<()> {
    match c.idle() {
        Some(i) => cx.write_opt("linux.resources.cpu.idle", "cpu", "cpu.idle", &i.to_string()),
        None => Ok(()),
    }
}

fn cpu_burst(cx: &mut Ctx, c: &LinuxCpu, file: &str, quota: i64) -> Result<Option<String>> {
    let Some(b) = c.burst() else { return Ok(None) };
    let v = b.to_string();
    if !cx.f.exists("cpu", file) {
        bail!("linux.resources.cpu.burst: {} does not exist on this host, so {b} cannot be applied", cx.f.path("cpu", file).display());
    }
    match cx.f.write("cpu", file, &v) {
        Ok(()) => Ok(None),
        Err(e) if is_einval(&e) && quota != 0 => Ok(Some(v)),
        Err(e) => Err(cx.werr("linux.resources.cpu.burst", "cpu", file, &v, &e)),
    }
}

fn throttles(
    b: &LinuxBlockIo,
) -> [(
    &'static str,
    &'static str,
    &'static str,
    Option<&Vec<LinuxThrottleDevice>>,
); 4] {
    [
        (
            "linux.resources.blockIO.throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
            b.throttle_read_bps_device().as_ref(),
        ),
        (
            "linux.resources.blockIO.throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
            b.throttle_write_bps_device().as_ref(),
        ),
        (
            "linux.resources.blockIO.throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
            b.throttle_read_iops_device().as_ref(),
        ),
        (
            "linux.resources.blockIO.throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
            b.throttle_write_iops_device().as_ref(),
        ),
    ]
}

fn blkio_any(b: &LinuxBlockIo) -> bool {
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || throttles(b)
            .iter()
            .any(|t| t.3.is_some_and(|v| !v.is_empty()))
}

/// Write `linux.resources.unified` (a v2 cgroup) in key order, multi-line values line by
/// line, as runc's setUnified.
pub(crate) fn apply_unified(cx: &mut Ctx, map: &HashMap<String, String>) -> Result<()> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    for k in &keys {
        check_unified_key(k)?;
    }
    for k in keys {
        let v = &map[k];
        let field = format!("linux.resources.unified[{k:?}]");
        let ctrl = k.split_once('.').map(|(c, _)| c).unwrap_or("");
        if ctrl.is_empty() {
            bail!("{field}: key must be in the form CONTROLLER.PARAMETER");
        }
        if ctrl != "cgroup" && !cx.f.has_controller(ctrl) {
            bail!("{field}: can't be set: controller {ctrl:?} is not available for this cgroup");
        }
        if !cx.f.exists(ctrl, k) {
            bail!("{field}: {} does not exist", cx.f.path(ctrl, k).display());
        }
        let lines: Vec<&str> = v.split('\n').filter(|l| !l.is_empty()).collect();
        if lines.is_empty() {
            cx.write(&field, ctrl, k, v)?;
        }
        for l in lines {
            cx.write(&field, ctrl, k, l)?;
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
