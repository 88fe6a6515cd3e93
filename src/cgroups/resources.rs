//! Translation of `linux.resources` into cgroup v1 and v2 file writes, following runc
//! (libcontainer/cgroups fs + fs2, 1.1/1.2) and crun.
//!
//! The code is written against the [`Files`] trait so that every translation, including
//! the order-dependent dances (memory vs. swap, cfs period vs. quota, ...), is unit-tested
//! with an in-memory fake. The real implementation lives in `mod.rs`.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

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

    /// Write a file the kernel may lack: when it is missing, warn and return Ok(false).
    pub fn write_opt(&mut self, field: &str, c: &str, file: &str, value: &str) -> Result<bool> {
        if !self.f.exists(c, file) {
            let p = self.f.path(c, file);
            self.warn(format!(
                "{field}: {} does not exist on this kernel; {value} not applied",
                p.display()
            ));
            return Ok(false);
        }
        self.write(field, c, file, value)?;
        Ok(true)
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

/// pids.limit → pids.max: -1 and 0 mean unlimited.
pub fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".into()
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

// ---------------------------------------------------------------------------------------
// cgroup v1
// ---------------------------------------------------------------------------------------

/// Apply everything but `unified` to v1 controllers, in runc's subsystem order.
pub(crate) fn apply_v1(cx: &mut Ctx, r: &LinuxResources) -> Result<()> {
    cpuset(cx, r.cpu().as_ref())?;
    if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty()) {
        cx.need("linux.resources.devices", "devices")?;
        for (file, line) in super::devices::v1_writes(rules)? {
            cx.write("linux.resources.devices", "devices", file, &line)?;
        }
    }
    if let Some(m) = r.memory() {
        memory_v1(cx, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu_v1(cx, c)?;
    }
    pids(cx, r)?;
    if let Some(b) = r.block_io() {
        blkio_v1(cx, b)?;
    }
    if let Some(h) = r.hugepage_limits() {
        for l in h {
            let f = "linux.resources.hugepageLimits";
            cx.need(f, "hugetlb")?;
            let file = format!("hugetlb.{}.limit_in_bytes", l.page_size());
            if !cx.f.exists("hugetlb", &file) {
                bail!(
                    "{f}: hugepage size {:?} is not supported ({} does not exist)",
                    l.page_size(),
                    cx.f.path("hugetlb", &file).display()
                );
            }
            let v = l.limit().to_string();
            cx.write(f, "hugetlb", &file, &v)?;
            let rsvd = format!("hugetlb.{}.rsvd.limit_in_bytes", l.page_size());
            if cx.f.exists("hugetlb", &rsvd) {
                cx.write(f, "hugetlb", &rsvd, &v)?;
            }
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            cx.need("linux.resources.network.classID", "net_cls")?;
            cx.write(
                "linux.resources.network.classID",
                "net_cls",
                "net_cls.classid",
                &id.to_string(),
            )?;
        }
        for p in n.priorities().iter().flatten() {
            let f = "linux.resources.network.priorities";
            cx.need(f, "net_prio")?;
            cx.write(
                f,
                "net_prio",
                "net_prio.ifpriomap",
                &format!("{} {}", p.name(), p.priority()),
            )?;
        }
    }
    rdma(cx, r)?;
    Ok(())
}

fn set_memory_v1(cx: &mut Ctx, limit: i64) -> Result<()> {
    if limit == 0 {
        return Ok(());
    }
    let f = "linux.resources.memory.limit";
    let v = limit.to_string();
    match cx.f.write("memory", "memory.limit_in_bytes", &v) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            let usage = cx
                .read_u64(f, "memory", "memory.usage_in_bytes")
                .unwrap_or(0);
            let peak = cx
                .read_u64(f, "memory", "memory.max_usage_in_bytes")
                .unwrap_or(0);
            Err(anyhow!(
                "{}: unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})",
                cx.werr(f, "memory", "memory.limit_in_bytes", &v, &e)
            ))
        }
        Err(e) => Err(cx.werr(f, "memory", "memory.limit_in_bytes", &v, &e)),
    }
}

fn set_swap_v1(cx: &mut Ctx, swap: i64) -> Result<()> {
    if swap == 0 {
        return Ok(());
    }
    cx.write(
        "linux.resources.memory.swap",
        "memory",
        "memory.memsw.limit_in_bytes",
        &swap.to_string(),
    )
}

fn memory_v1(cx: &mut Ctx, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    let any = limit != 0
        || swap != 0
        || reservation != 0
        || m.kernel().is_some()
        || m.kernel_tcp().is_some()
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.use_hierarchy().is_some();
    if !any {
        return Ok(());
    }
    cx.need("linux.resources.memory", "memory")?;
    if let Some(s) = m.swappiness()
        && s > 100
    {
        bail!("linux.resources.memory.swappiness: invalid value {s} (valid range is 0-100)");
    }
    if limit > 0 && swap > 0 && swap < limit {
        bail!(
            "linux.resources.memory.swap: memory+swap limit ({swap}) should be >= memory limit ({limit})"
        );
    }
    check_memory_usage(cx, m, "memory.usage_in_bytes")?;

    let memsw = cx.f.exists("memory", "memory.memsw.limit_in_bytes");
    // Unlimited memory with swap unset means unlimited swap too.
    if limit == -1 && swap == 0 && memsw {
        swap = -1;
    }
    if swap != 0 && !memsw {
        cx.warn(format!(
            "linux.resources.memory.swap: swap accounting is not enabled on this kernel ({} missing); swap limit {swap} ignored",
            cx.f.path("memory", "memory.memsw.limit_in_bytes").display()
        ));
        swap = 0;
    }
    if limit != 0 && swap != 0 {
        let cur = cx.read_u64(
            "linux.resources.memory.limit",
            "memory",
            "memory.limit_in_bytes",
        )?;
        // The kernel wants memsw >= limit at every moment: raise memsw first when growing.
        if swap == -1 || cur < swap as u64 {
            set_swap_v1(cx, swap)?;
            set_memory_v1(cx, limit)?;
        } else {
            set_memory_v1(cx, limit)?;
            set_swap_v1(cx, swap)?;
        }
    } else {
        set_memory_v1(cx, limit)?;
        set_swap_v1(cx, swap)?;
    }

    for (val, file, field) in [
        (
            m.kernel(),
            "memory.kmem.limit_in_bytes",
            "linux.resources.memory.kernel",
        ),
        (
            m.kernel_tcp(),
            "memory.kmem.tcp.limit_in_bytes",
            "linux.resources.memory.kernelTCP",
        ),
    ] {
        let Some(v) = val else { continue };
        if !cx.f.exists("memory", file) {
            cx.warn(format!(
                "{field}: kernel memory limits are not supported by this kernel; {v} ignored"
            ));
            continue;
        }
        if let Err(e) = cx.f.write("memory", file, &v.to_string()) {
            cx.warn(format!(
                "{field}: ignored: {}",
                cx.werr(field, "memory", file, &v.to_string(), &e)
            ));
        }
    }
    if reservation != 0 {
        cx.write(
            "linux.resources.memory.reservation",
            "memory",
            "memory.soft_limit_in_bytes",
            &reservation.to_string(),
        )?;
    }
    if m.disable_oom_killer() == Some(true) {
        cx.write(
            "linux.resources.memory.disableOOMKiller",
            "memory",
            "memory.oom_control",
            "1",
        )?;
    }
    if let Some(s) = m.swappiness() {
        cx.write_opt(
            "linux.resources.memory.swappiness",
            "memory",
            "memory.swappiness",
            &s.to_string(),
        )?;
    }
    if let Some(h) = m.use_hierarchy() {
        let v = if h { "1" } else { "0" };
        if let Err(e) = cx.f.write("memory", "memory.use_hierarchy", v) {
            cx.warn(format!(
                "linux.resources.memory.useHierarchy: ignored: {}",
                cx.werr(
                    "linux.resources.memory.useHierarchy",
                    "memory",
                    "memory.use_hierarchy",
                    v,
                    &e
                )
            ));
        }
    }
    Ok(())
}

fn cpu_v1(cx: &mut Ctx, c: &LinuxCpu) -> Result<()> {
    let shares = c.shares().unwrap_or(0);
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    let rt_runtime = c.realtime_runtime().unwrap_or(0);
    let rt_period = c.realtime_period().unwrap_or(0);
    if shares == 0
        && quota == 0
        && period == 0
        && c.burst().is_none()
        && c.idle().is_none()
        && rt_runtime == 0
        && rt_period == 0
    {
        return Ok(());
    }
    cx.need("linux.resources.cpu", "cpu")?;
    if shares != 0 {
        let f = "linux.resources.cpu.shares";
        cx.write(f, "cpu", "cpu.shares", &shares.to_string())?;
        let got = cx.read_u64(f, "cpu", "cpu.shares")?;
        if shares > got {
            bail!("{f}: the maximum allowed cpu-shares is {got} (asked for {shares})");
        } else if shares < got {
            bail!("{f}: the minimum allowed cpu-shares is {got} (asked for {shares})");
        }
    }
    // Period, then burst, then quota; a period or burst the kernel rejects with EINVAL
    // (because of the old quota) is retried after the quota is written.
    let mut retry_period = None;
    if period != 0 {
        let v = period.to_string();
        match cx.f.write("cpu", "cpu.cfs_period_us", &v) {
            Ok(()) => {}
            Err(e) if is_einval(&e) && quota != 0 => retry_period = Some(v),
            Err(e) => {
                return Err(cx.werr(
                    "linux.resources.cpu.period",
                    "cpu",
                    "cpu.cfs_period_us",
                    &v,
                    &e,
                ));
            }
        }
    }
    let mut retry_burst = None;
    if let Some(b) = c.burst() {
        let v = b.to_string();
        if !cx.f.exists("cpu", "cpu.cfs_burst_us") {
            cx.warn(format!("linux.resources.cpu.burst: cpu.cfs_burst_us is not supported by this kernel; {b} ignored"));
        } else {
            match cx.f.write("cpu", "cpu.cfs_burst_us", &v) {
                Ok(()) => {}
                Err(e) if is_einval(&e) && quota != 0 => retry_burst = Some(v),
                Err(e) => {
                    return Err(cx.werr(
                        "linux.resources.cpu.burst",
                        "cpu",
                        "cpu.cfs_burst_us",
                        &v,
                        &e,
                    ));
                }
            }
        }
    }
    if quota != 0 {
        cx.write(
            "linux.resources.cpu.quota",
            "cpu",
            "cpu.cfs_quota_us",
            &quota.to_string(),
        )?;
        if let Some(v) = retry_period {
            cx.write("linux.resources.cpu.period", "cpu", "cpu.cfs_period_us", &v)?;
        }
        if let Some(v) = retry_burst {
            cx.write("linux.resources.cpu.burst", "cpu", "cpu.cfs_burst_us", &v)?;
        }
    }
    if let Some(i) = c.idle() {
        cx.write_opt(
            "linux.resources.cpu.idle",
            "cpu",
            "cpu.idle",
            &i.to_string(),
        )?;
    }
    // Realtime: same dance between rt_period_us and rt_runtime_us.
    if (rt_period != 0 || rt_runtime != 0) && !cx.f.exists("cpu", "cpu.rt_runtime_us") {
        cx.warn("linux.resources.cpu.realtimeRuntime/realtimePeriod: this kernel has no RT group scheduling (cpu.rt_runtime_us missing); ignored".into());
        return Ok(());
    }
    let mut retry_rt_period = None;
    if rt_period != 0 {
        let v = rt_period.to_string();
        match cx.f.write("cpu", "cpu.rt_period_us", &v) {
            Ok(()) => {}
            Err(e) if is_einval(&e) && rt_runtime != 0 => retry_rt_period = Some(v),
            Err(e) => {
                return Err(cx.werr(
                    "linux.resources.cpu.realtimePeriod",
                    "cpu",
                    "cpu.rt_period_us",
                    &v,
                    &e,
                ));
            }
        }
    }
    if rt_runtime != 0 {
        cx.write(
            "linux.resources.cpu.realtimeRuntime",
            "cpu",
            "cpu.rt_runtime_us",
            &rt_runtime.to_string(),
        )?;
        if let Some(v) = retry_rt_period {
            cx.write(
                "linux.resources.cpu.realtimePeriod",
                "cpu",
                "cpu.rt_period_us",
                &v,
            )?;
        }
    }
    Ok(())
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

fn blkio_v1(cx: &mut Ctx, b: &LinuxBlockIo) -> Result<()> {
    if !blkio_any(b) {
        return Ok(());
    }
    cx.need("linux.resources.blockIO", "blkio")?;
    // CFQ's blkio.weight, else BFQ's blkio.bfq.weight (runc's detectWeightFilenames).
    let (wfile, wdfile) = if cx.f.exists("blkio", "blkio.weight") {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        cx.write_opt(
            "linux.resources.blockIO.weight",
            "blkio",
            wfile,
            &w.to_string(),
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        cx.write_opt(
            "linux.resources.blockIO.leafWeight",
            "blkio",
            "blkio.leaf_weight",
            &w.to_string(),
        )?;
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            let line = format!("{}:{} {w}", wd.major(), wd.minor());
            cx.write_opt(
                "linux.resources.blockIO.weightDevice",
                "blkio",
                wdfile,
                &line,
            )?;
        }
        if let Some(w) = wd.leaf_weight().filter(|w| *w != 0) {
            let line = format!("{}:{} {w}", wd.major(), wd.minor());
            cx.write_opt(
                "linux.resources.blockIO.weightDevice",
                "blkio",
                "blkio.leaf_weight_device",
                &line,
            )?;
        }
    }
    for (field, file, _, list) in throttles(b) {
        for td in list.into_iter().flatten() {
            let line = format!("{}:{} {}", td.major(), td.minor(), td.rate());
            cx.write_opt(field, "blkio", file, &line)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// cgroup v2
// ---------------------------------------------------------------------------------------

/// Apply everything but `devices` (eBPF, see devices.rs) and `unified` to a v2 cgroup, in
/// runc's fs2 order.
pub(crate) fn apply_v2(cx: &mut Ctx, r: &LinuxResources) -> Result<()> {
    pids(cx, r)?;
    if let Some(m) = r.memory() {
        memory_v2(cx, m)?;
    }
    if let Some(b) = r.block_io() {
        io_v2(cx, b)?;
    }
    if let Some(c) = r.cpu() {
        cpu_v2(cx, c)?;
    }
    cpuset(cx, r.cpu().as_ref())?;
    if let Some(h) = r.hugepage_limits() {
        for l in h {
            let f = "linux.resources.hugepageLimits";
            cx.need(f, "hugetlb")?;
            let file = format!("hugetlb.{}.max", l.page_size());
            if !cx.f.exists("hugetlb", &file) {
                bail!(
                    "{f}: hugepage size {:?} is not supported ({} does not exist)",
                    l.page_size(),
                    cx.f.path("hugetlb", &file).display()
                );
            }
            let v = if l.limit() < 0 {
                "max".to_string()
            } else {
                l.limit().to_string()
            };
            cx.write(f, "hugetlb", &file, &v)?;
            let rsvd = format!("hugetlb.{}.rsvd.max", l.page_size());
            if cx.f.exists("hugetlb", &rsvd) {
                cx.write(f, "hugetlb", &rsvd, &v)?;
            }
        }
    }
    rdma(cx, r)?;
    if let Some(n) = r.network()
        && (n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()))
    {
        cx.warn(
            "linux.resources.network: net_cls/net_prio do not exist on cgroup v2; ignored".into(),
        );
    }
    Ok(())
}

fn memory_v2(cx: &mut Ctx, m: &LinuxMemory) -> Result<()> {
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    let reservation = m.reservation().unwrap_or(0);
    if let Some(v) = m.kernel() {
        cx.warn(format!("linux.resources.memory.kernel: kernel memory limits are not supported on cgroup v2; {v} ignored"));
    }
    if let Some(v) = m.kernel_tcp() {
        cx.warn(format!("linux.resources.memory.kernelTCP: kernel TCP memory limits are not supported on cgroup v2; {v} ignored"));
    }
    if let Some(v) = m.swappiness() {
        cx.warn(format!(
            "linux.resources.memory.swappiness: not supported on cgroup v2; {v} ignored"
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        cx.warn(
            "linux.resources.memory.disableOOMKiller: not supported on cgroup v2; ignored".into(),
        );
    }
    if limit == 0 && swap == 0 && reservation == 0 {
        return Ok(());
    }
    cx.need("linux.resources.memory", "memory")?;
    check_memory_usage(cx, m, "memory.current")?;
    let swap_v2 = memory_swap_to_v2(swap, limit)?;
    let mut swap_str = num_to_str(swap_v2);
    if swap_str.is_none() && swap_v2 == 0 && swap > 0 {
        // memory == memory+swap: no swap at all.
        swap_str = Some("0".into());
    }
    if let Some(s) = swap_str {
        let f = "linux.resources.memory.swap";
        match cx.f.write("memory", "memory.swap.max", &s) {
            Ok(()) => {}
            Err(e) if is_enoent(&e) => {
                if s != "max" && s != "0" {
                    cx.warn(format!(
                        "{f}: swap accounting is not enabled on this kernel ({} missing); swap limit ignored",
                        cx.f.path("memory", "memory.swap.max").display()
                    ));
                }
            }
            Err(e) => return Err(cx.werr(f, "memory", "memory.swap.max", &s, &e)),
        }
    }
    if let Some(v) = num_to_str(limit) {
        cx.write("linux.resources.memory.limit", "memory", "memory.max", &v)?;
    }
    if let Some(v) = num_to_str(reservation) {
        cx.write(
            "linux.resources.memory.reservation",
            "memory",
            "memory.low",
            &v,
        )?;
    }
    Ok(())
}

fn cpu_v2(cx: &mut Ctx, c: &LinuxCpu) -> Result<()> {
    let shares = c.shares().unwrap_or(0);
    let quota = c.quota().unwrap_or(0);
    let period = c.period().unwrap_or(0);
    if c.realtime_runtime().unwrap_or(0) != 0 || c.realtime_period().unwrap_or(0) != 0 {
        cx.warn("linux.resources.cpu.realtimeRuntime/realtimePeriod: not supported on cgroup v2; ignored".into());
    }
    if shares == 0 && quota == 0 && period == 0 && c.idle().is_none() && c.burst().is_none() {
        return Ok(());
    }
    cx.need("linux.resources.cpu", "cpu")?;
    if shares != 0 {
        let w = shares_to_weight(shares);
        cx.write(
            "linux.resources.cpu.shares",
            "cpu",
            "cpu.weight",
            &w.to_string(),
        )?;
    }
    if let Some(i) = c.idle() {
        cx.write_opt(
            "linux.resources.cpu.idle",
            "cpu",
            "cpu.idle",
            &i.to_string(),
        )?;
    }
    let mut retry_burst = None;
    if let Some(b) = c.burst() {
        let v = b.to_string();
        if !cx.f.exists("cpu", "cpu.max.burst") {
            cx.warn(format!("linux.resources.cpu.burst: cpu.max.burst is not supported by this kernel; {b} ignored"));
        } else {
            match cx.f.write("cpu", "cpu.max.burst", &v) {
                Ok(()) => {}
                Err(e) if is_einval(&e) && quota != 0 => retry_burst = Some(v),
                Err(e) => {
                    return Err(cx.werr(
                        "linux.resources.cpu.burst",
                        "cpu",
                        "cpu.max.burst",
                        &v,
                        &e,
                    ));
                }
            }
        }
    }
    if quota != 0 || period != 0 {
        let mut s = if quota > 0 {
            quota.to_string()
        } else {
            "max".to_string()
        };
        if period != 0 {
            s += &format!(" {period}");
        }
        cx.write("linux.resources.cpu.quota", "cpu", "cpu.max", &s)?;
        if let Some(v) = retry_burst {
            cx.write("linux.resources.cpu.burst", "cpu", "cpu.max.burst", &v)?;
        }
    }
    Ok(())
}

fn io_v2(cx: &mut Ctx, b: &LinuxBlockIo) -> Result<()> {
    if !blkio_any(b) {
        return Ok(());
    }
    cx.need("linux.resources.blockIO", "io")?;
    let bfq = cx.f.exists("io", "io.bfq.weight");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            cx.write(
                "linux.resources.blockIO.weight",
                "io",
                "io.bfq.weight",
                &w.to_string(),
            )?;
        } else {
            let v = blkio_weight_to_io_weight(w).to_string();
            cx.write_opt("linux.resources.blockIO.weight", "io", "io.weight", &v)?;
        }
    }
    if b.leaf_weight().is_some_and(|w| w != 0) {
        cx.warn("linux.resources.blockIO.leafWeight: not supported on cgroup v2; ignored".into());
    }
    for wd in b.weight_device().iter().flatten() {
        if let Some(w) = wd.weight().filter(|w| *w != 0) {
            if bfq {
                let line = format!("{}:{} {w}", wd.major(), wd.minor());
                cx.write(
                    "linux.resources.blockIO.weightDevice",
                    "io",
                    "io.bfq.weight",
                    &line,
                )?;
            } else {
                let line = format!(
                    "{}:{} {}",
                    wd.major(),
                    wd.minor(),
                    blkio_weight_to_io_weight(w)
                );
                cx.write_opt(
                    "linux.resources.blockIO.weightDevice",
                    "io",
                    "io.weight",
                    &line,
                )?;
            }
        }
        if wd.leaf_weight().is_some_and(|w| w != 0) {
            cx.warn("linux.resources.blockIO.weightDevice.leafWeight: not supported on cgroup v2; ignored".into());
        }
    }
    for (field, _, key, list) in throttles(b) {
        for td in list.into_iter().flatten() {
            cx.write(field, "io", "io.max", &io_max_line(td, key))?;
        }
    }
    Ok(())
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

// ---------------------------------------------------------------------------------------
// Tests with a fake file system
// ---------------------------------------------------------------------------------------

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oci_spec::runtime::LinuxResources;

    /// In-memory cgroup: files per (controller, name); every write is recorded; errors can
    /// be injected for a (file, value) pair.
    #[derive(Default)]
    pub struct Fake {
        pub controllers: Vec<&'static str>,
        pub files: HashMap<String, String>,
        pub writes: Vec<(String, String)>,
        pub fail: HashMap<(String, String), i32>,
    }

    impl Fake {
        pub fn new(controllers: &[&'static str], files: &[(&str, &str)]) -> Self {
            Fake {
                controllers: controllers.to_vec(),
                files: files
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                ..Default::default()
            }
        }
        pub fn fail_on(mut self, file: &str, value: &str, errno: i32) -> Self {
            self.fail.insert((file.into(), value.into()), errno);
            self
        }
        pub fn w(&self) -> Vec<(&str, &str)> {
            self.writes
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect()
        }
    }

    impl Files for Fake {
        fn has_controller(&self, c: &str) -> bool {
            self.controllers.contains(&c)
        }
        fn path(&self, c: &str, file: &str) -> PathBuf {
            PathBuf::from(format!("/cg/{c}/{file}"))
        }
        fn exists(&self, _c: &str, file: &str) -> bool {
            self.files.contains_key(file)
        }
        fn read(&self, _c: &str, file: &str) -> io::Result<String> {
            self.files
                .get(file)
                .cloned()
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
        }
        fn write(&mut self, _c: &str, file: &str, value: &str) -> io::Result<()> {
            if let Some(e) = self.fail.get(&(file.to_string(), value.to_string())) {
                return Err(io::Error::from_raw_os_error(*e));
            }
            if !self.files.contains_key(file) {
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            self.writes.push((file.to_string(), value.to_string()));
            self.files.insert(file.to_string(), value.to_string());
            Ok(())
        }
    }

    pub fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    const V1_MEM: &[(&str, &str)] = &[
        ("memory.limit_in_bytes", "9223372036854771712"),
        ("memory.memsw.limit_in_bytes", "9223372036854771712"),
        ("memory.soft_limit_in_bytes", "9223372036854771712"),
        ("memory.usage_in_bytes", "4096"),
        ("memory.max_usage_in_bytes", "8192"),
        ("memory.swappiness", "60"),
        ("memory.oom_control", "0"),
        ("memory.use_hierarchy", "1"),
    ];
    const V1_ALL: &[&str] = &[
        "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
    ];

    fn v1(fake: &mut Fake, json: &str) -> Result<Vec<String>> {
        let mut cx = Ctx::new(fake);
        apply_v1(&mut cx, &res(json))?;
        Ok(cx.warnings)
    }
    fn v2(fake: &mut Fake, json: &str) -> Result<Vec<String>> {
        let mut cx = Ctx::new(fake);
        apply_v2(&mut cx, &res(json))?;
        Ok(cx.warnings)
    }
    const V2_ALL: &[&str] = &["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma"];
    const V2_FILES: &[(&str, &str)] = &[
        ("memory.max", "max"),
        ("memory.low", "0"),
        ("memory.swap.max", "max"),
        ("memory.current", "1000"),
        ("cpu.weight", "100"),
        ("cpu.max", "max 100000"),
        ("cpu.max.burst", "0"),
        ("cpu.idle", "0"),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
        ("pids.max", "max"),
        ("io.weight", "default 100"),
        ("io.max", ""),
        ("hugetlb.2MB.max", "max"),
        ("hugetlb.2MB.rsvd.max", "max"),
        ("rdma.max", ""),
    ];

    #[test]
    fn shares_to_weight_matches_runc_table() {
        // The table of opencontainers/cgroups TestConvertCPUSharesToCgroupV2Value.
        for (s, w) in [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (1024, 100),
            (262143, 10000),
            (262144, 10000),
            (262145, 10000),
        ] {
            assert_eq!(shares_to_weight(s), w, "shares {s}");
        }
        assert!(shares_to_weight(512) < 100 && shares_to_weight(2048) > 100);
        // monotonic
        let mut last = 0;
        for s in (2..262144).step_by(97) {
            let w = shares_to_weight(s);
            assert!(w >= last && (1..=10000).contains(&w));
            last = w;
        }
    }

    #[test]
    fn blkio_weight_conversion() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
        assert_eq!(blkio_weight_to_io_weight(500), 1 + 490 * 9999 / 990);
        assert_eq!(blkio_weight_to_io_weight(5), 1);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(memory_swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(memory_swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(memory_swap_to_v2(0, 100).unwrap(), 0);
        assert_eq!(memory_swap_to_v2(300, 100).unwrap(), 200);
        assert_eq!(memory_swap_to_v2(100, 100).unwrap(), 0);
        assert!(memory_swap_to_v2(50, 100).is_err());
        assert!(memory_swap_to_v2(50, 0).is_err());
        assert!(memory_swap_to_v2(50, -1).is_err());
        assert_eq!(num_to_str(0), None);
        assert_eq!(num_to_str(-1).as_deref(), Some("max"));
        assert_eq!(num_to_str(5).as_deref(), Some("5"));
        assert_eq!(pids_max(-1), "max");
        assert_eq!(pids_max(0), "max");
        assert_eq!(pids_max(32), "32");
    }

    #[test]
    fn unified_keys_checked() {
        assert!(check_unified_key("memory.max").is_ok());
        assert!(check_unified_key("../x").is_err());
        assert!(check_unified_key("a/b").is_err());
        assert!(check_unified_key("..").is_err());
        assert!(check_unified_key("").is_err());
    }

    #[test]
    fn v1_memory_limit_and_swap_order() {
        // Growing: memsw first when current limit < new memsw.
        let mut f = Fake::new(V1_ALL, V1_MEM);
        f.files
            .insert("memory.limit_in_bytes".into(), "1000".into());
        v1(
            &mut f,
            r#"{"memory":{"limit":2048,"swap":4096,"reservation":1024}}"#,
        )
        .unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("memory.memsw.limit_in_bytes", "4096"),
                ("memory.limit_in_bytes", "2048"),
                ("memory.soft_limit_in_bytes", "1024"),
            ]
        );
        // Shrinking: limit first.
        let mut f = Fake::new(V1_ALL, V1_MEM);
        f.files
            .insert("memory.limit_in_bytes".into(), "100000".into());
        v1(&mut f, r#"{"memory":{"limit":2048,"swap":4096}}"#).unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("memory.limit_in_bytes", "2048"),
                ("memory.memsw.limit_in_bytes", "4096")
            ]
        );
        // -1 limit, swap unset → both unlimited, memsw first.
        let mut f = Fake::new(V1_ALL, V1_MEM);
        v1(&mut f, r#"{"memory":{"limit":-1}}"#).unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("memory.memsw.limit_in_bytes", "-1"),
                ("memory.limit_in_bytes", "-1")
            ]
        );
        // memsw below limit is rejected
        let mut f = Fake::new(V1_ALL, V1_MEM);
        assert!(v1(&mut f, r#"{"memory":{"limit":2048,"swap":1024}}"#).is_err());
    }

    #[test]
    fn v1_memory_misc_fields() {
        let mut f = Fake::new(V1_ALL, V1_MEM);
        let w = v1(&mut f, r#"{"memory":{"swappiness":10,"disableOOMKiller":true,"kernel":1048576,"kernelTCP":1048576}}"#).unwrap();
        assert_eq!(
            f.w(),
            vec![("memory.oom_control", "1"), ("memory.swappiness", "10")]
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("linux.resources.memory.kernel"));
        assert!(
            v1(
                &mut Fake::new(V1_ALL, V1_MEM),
                r#"{"memory":{"swappiness":101}}"#
            )
            .is_err()
        );
        // nothing set, nothing written, no controller needed
        let mut f = Fake::new(&[], &[]);
        assert!(v1(&mut f, r#"{"memory":{}}"#).unwrap().is_empty());
        assert!(f.writes.is_empty());
        // set but controller missing: error naming the field
        let e = v1(&mut Fake::new(&[], &[]), r#"{"memory":{"limit":1}}"#).unwrap_err();
        assert!(e.to_string().contains("linux.resources.memory"), "{e}");
    }

    #[test]
    fn v1_memory_no_swap_accounting_warns() {
        let files: Vec<_> = V1_MEM
            .iter()
            .copied()
            .filter(|(f, _)| !f.contains("memsw"))
            .collect();
        let mut f = Fake::new(V1_ALL, &files);
        let w = v1(&mut f, r#"{"memory":{"limit":2048,"swap":4096}}"#).unwrap();
        assert_eq!(f.w(), vec![("memory.limit_in_bytes", "2048")]);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("swap"));
    }

    #[test]
    fn v1_memory_ebusy_message() {
        let mut f = Fake::new(V1_ALL, V1_MEM).fail_on("memory.limit_in_bytes", "1024", libc::EBUSY);
        let e = v1(&mut f, r#"{"memory":{"limit":1024}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("linux.resources.memory.limit: writing 1024 to /cg/memory/memory.limit_in_bytes: Device or resource busy"), "{e}");
        assert!(e.contains("current usage: 4096, peak usage: 8192"), "{e}");
    }

    #[test]
    fn check_before_update() {
        let mut f = Fake::new(V1_ALL, V1_MEM);
        assert!(
            v1(
                &mut f,
                r#"{"memory":{"limit":4000,"checkBeforeUpdate":true}}"#
            )
            .is_err()
        );
        assert!(f.writes.is_empty());
        let mut f = Fake::new(V1_ALL, V1_MEM);
        v1(
            &mut f,
            r#"{"memory":{"limit":8000,"checkBeforeUpdate":true}}"#,
        )
        .unwrap();
        let mut f = Fake::new(V2_ALL, V2_FILES);
        assert!(
            v2(
                &mut f,
                r#"{"memory":{"limit":999,"checkBeforeUpdate":true}}"#
            )
            .is_err()
        );
        let mut f = Fake::new(V2_ALL, V2_FILES);
        v2(
            &mut f,
            r#"{"memory":{"limit":1001,"checkBeforeUpdate":true}}"#,
        )
        .unwrap();
    }

    const V1_CPU: &[(&str, &str)] = &[
        ("cpu.shares", "1024"),
        ("cpu.cfs_period_us", "100000"),
        ("cpu.cfs_quota_us", "-1"),
        ("cpu.cfs_burst_us", "0"),
        ("cpu.idle", "0"),
        ("cpu.rt_period_us", "1000000"),
        ("cpu.rt_runtime_us", "0"),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
    ];

    #[test]
    fn v1_cpu() {
        let mut f = Fake::new(V1_ALL, V1_CPU);
        v1(
            &mut f,
            r#"{"cpu":{"shares":512,"quota":50000,"period":200000,"burst":1000,"idle":1,"realtimeRuntime":950,"realtimePeriod":1000,"cpus":"0-1","mems":"0"}}"#,
        )
        .unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("cpuset.cpus", "0-1"),
                ("cpuset.mems", "0"),
                ("cpu.shares", "512"),
                ("cpu.cfs_period_us", "200000"),
                ("cpu.cfs_burst_us", "1000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.idle", "1"),
                ("cpu.rt_period_us", "1000"),
                ("cpu.rt_runtime_us", "950"),
            ]
        );
    }

    #[test]
    fn v1_cpu_period_einval_is_retried_after_quota() {
        let mut f = Fake::new(V1_ALL, V1_CPU).fail_on("cpu.cfs_period_us", "1000", libc::EINVAL);
        // The fake fails every time; make it fail only once by removing the rule after.
        let r = v1(&mut f, r#"{"cpu":{"quota":500,"period":1000}}"#);
        // Second write of the period fails again in the fake: the error names the period.
        let e = r.unwrap_err().to_string();
        assert!(
            e.starts_with("linux.resources.cpu.period: writing 1000"),
            "{e}"
        );
        assert_eq!(f.w(), vec![("cpu.cfs_quota_us", "500")]);
        // Without quota, EINVAL is reported at once.
        let mut f = Fake::new(V1_ALL, V1_CPU).fail_on("cpu.cfs_period_us", "1000", libc::EINVAL);
        assert!(v1(&mut f, r#"{"cpu":{"period":1000}}"#).is_err());
        assert!(f.writes.is_empty());
    }

    #[test]
    fn v1_cpu_shares_clamped() {
        let mut f = Fake::new(V1_ALL, V1_CPU);
        // emulate the kernel clamping by making the fake store a different value
        f.files.insert("cpu.shares".into(), "2".into());
        struct Clamp(Fake);
        impl Files for Clamp {
            fn has_controller(&self, c: &str) -> bool {
                self.0.has_controller(c)
            }
            fn path(&self, c: &str, f: &str) -> PathBuf {
                self.0.path(c, f)
            }
            fn exists(&self, c: &str, f: &str) -> bool {
                self.0.exists(c, f)
            }
            fn read(&self, c: &str, f: &str) -> io::Result<String> {
                self.0.read(c, f)
            }
            fn write(&mut self, _c: &str, f: &str, _v: &str) -> io::Result<()> {
                self.0.files.insert(f.into(), "262144".into());
                Ok(())
            }
        }
        let mut c = Clamp(f);
        let mut cx = Ctx::new(&mut c);
        let e = apply_v1(&mut cx, &res(r#"{"cpu":{"shares":999999}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("maximum allowed cpu-shares is 262144"), "{e}");
    }

    #[test]
    fn v1_missing_optional_cpu_files_warn() {
        let files: Vec<_> = V1_CPU
            .iter()
            .copied()
            .filter(|(f, _)| !f.contains("burst") && !f.contains("idle") && !f.contains("rt_"))
            .collect();
        let mut f = Fake::new(V1_ALL, &files);
        let w = v1(
            &mut f,
            r#"{"cpu":{"burst":10,"idle":1,"realtimeRuntime":5}}"#,
        )
        .unwrap();
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(f.writes.is_empty());
    }

    #[test]
    fn v1_pids_blkio_hugetlb_net_rdma() {
        let files = [
            ("pids.max", "max"),
            ("blkio.bfq.weight", "100"),
            ("blkio.bfq.weight_device", ""),
            ("blkio.throttle.read_bps_device", ""),
            ("blkio.throttle.write_bps_device", ""),
            ("blkio.throttle.read_iops_device", ""),
            ("blkio.throttle.write_iops_device", ""),
            ("hugetlb.2MB.limit_in_bytes", ""),
            ("net_cls.classid", ""),
            ("net_prio.ifpriomap", ""),
            ("rdma.max", ""),
        ];
        let mut ctl = V1_ALL.to_vec();
        ctl.extend(["hugetlb", "net_cls", "net_prio", "rdma"]);
        let mut f = Fake::new(&ctl, &files);
        let w = v1(
            &mut f,
            r#"{"pids":{"limit":10},
                "blockIO":{"weight":300,"leafWeight":200,"weightDevice":[{"major":8,"minor":0,"weight":500}],
                  "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}],
                  "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":2000}],
                  "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":30}],
                  "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":40}]},
                "hugepageLimits":[{"pageSize":"2MB","limit":2097152}],
                "network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5}]},
                "rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":1000},"mlx4_0":{"hcaHandles":2}}}"#,
        )
        .unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("pids.max", "10"),
                ("blkio.bfq.weight", "300"),
                ("blkio.bfq.weight_device", "8:0 500"),
                ("blkio.throttle.read_bps_device", "8:0 1000"),
                ("blkio.throttle.write_bps_device", "8:0 2000"),
                ("blkio.throttle.read_iops_device", "8:0 30"),
                ("blkio.throttle.write_iops_device", "8:0 40"),
                ("hugetlb.2MB.limit_in_bytes", "2097152"),
                ("net_cls.classid", "1048577"),
                ("net_prio.ifpriomap", "eth0 5"),
                ("rdma.max", "mlx4_0 hca_handle=2"),
                ("rdma.max", "mlx5_1 hca_handle=3 hca_object=1000"),
            ]
        );
        // leafWeight: no blkio.leaf_weight file → warning
        assert_eq!(w.len(), 1, "{w:?}");
        // unknown hugepage size is an error
        let mut f = Fake::new(&ctl, &files);
        let e = v1(
            &mut f,
            r#"{"hugepageLimits":[{"pageSize":"3MB","limit":1}]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("3MB"));
        // hugetlb not mounted (this host) → error only when asked for
        let mut f = Fake::new(V1_ALL, &files);
        assert!(
            v1(
                &mut f,
                r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1}]}"#
            )
            .is_err()
        );
        assert!(v1(&mut f, r#"{"hugepageLimits":[]}"#).is_ok());
        // pids 0 / -1 → max
        let mut f = Fake::new(&ctl, &files);
        v1(&mut f, r#"{"pids":{"limit":-1}}"#).unwrap();
        assert_eq!(f.w(), vec![("pids.max", "max")]);
    }

    #[test]
    fn v1_devices_written_in_order() {
        let mut f = Fake::new(V1_ALL, &[("devices.allow", ""), ("devices.deny", "")]);
        v1(
            &mut f,
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
                {"allow":true,"type":"c","major":136,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]}"#,
        )
        .unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("devices.deny", "a"),
                ("devices.allow", "c 1:3 rwm"),
                ("devices.allow", "c 136:* rwm"),
                ("devices.deny", "c 1:3 w"),
            ]
        );
    }

    #[test]
    fn v2_memory() {
        let mut f = Fake::new(V2_ALL, V2_FILES);
        v2(
            &mut f,
            r#"{"memory":{"limit":1048576,"swap":3145728,"reservation":524288}}"#,
        )
        .unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("memory.swap.max", "2097152"),
                ("memory.max", "1048576"),
                ("memory.low", "524288")
            ]
        );
        let mut f = Fake::new(V2_ALL, V2_FILES);
        v2(&mut f, r#"{"memory":{"limit":-1}}"#).unwrap();
        assert_eq!(
            f.w(),
            vec![("memory.swap.max", "max"), ("memory.max", "max")]
        );
        let mut f = Fake::new(V2_ALL, V2_FILES);
        v2(&mut f, r#"{"memory":{"limit":1000,"swap":1000}}"#).unwrap();
        assert_eq!(
            f.w(),
            vec![("memory.swap.max", "0"), ("memory.max", "1000")]
        );
        // no swap file: max/0 silently skipped, a real limit warns
        let files: Vec<_> = V2_FILES
            .iter()
            .copied()
            .filter(|(f, _)| *f != "memory.swap.max")
            .collect();
        let mut f = Fake::new(V2_ALL, &files);
        assert!(v2(&mut f, r#"{"memory":{"limit":-1}}"#).unwrap().is_empty());
        let w = v2(&mut f, r#"{"memory":{"limit":1000,"swap":3000}}"#).unwrap();
        assert_eq!(w.len(), 1);
        // ignored fields warn
        let mut f = Fake::new(V2_ALL, V2_FILES);
        let w = v2(
            &mut f,
            r#"{"memory":{"kernel":1,"kernelTCP":1,"swappiness":1,"disableOOMKiller":true}}"#,
        )
        .unwrap();
        assert_eq!(w.len(), 4);
        assert!(f.writes.is_empty());
        // controller missing
        assert!(
            v2(
                &mut Fake::new(&["cpu"], V2_FILES),
                r#"{"memory":{"limit":1000}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn v2_cpu() {
        let mut f = Fake::new(V2_ALL, V2_FILES);
        v2(&mut f, r#"{"cpu":{"shares":1024,"quota":50000,"period":100000,"burst":5000,"idle":0,"cpus":"1","mems":"0"}}"#).unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("cpu.weight", "100"),
                ("cpu.idle", "0"),
                ("cpu.max.burst", "5000"),
                ("cpu.max", "50000 100000"),
                ("cpuset.cpus", "1"),
                ("cpuset.mems", "0"),
            ]
        );
        let mut f = Fake::new(V2_ALL, V2_FILES);
        v2(&mut f, r#"{"cpu":{"quota":-1}}"#).unwrap();
        assert_eq!(f.w(), vec![("cpu.max", "max")]);
        let mut f = Fake::new(V2_ALL, V2_FILES);
        v2(&mut f, r#"{"cpu":{"period":50000}}"#).unwrap();
        assert_eq!(f.w(), vec![("cpu.max", "max 50000")]);
        // burst EINVAL retried after cpu.max
        let mut f = Fake::new(V2_ALL, V2_FILES).fail_on("cpu.max.burst", "9", libc::EINVAL);
        let e = v2(&mut f, r#"{"cpu":{"quota":10,"burst":9}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("linux.resources.cpu.burst"), "{e}");
        assert_eq!(f.w(), vec![("cpu.max", "10")]);
        // realtime → warning
        let mut f = Fake::new(V2_ALL, V2_FILES);
        let w = v2(
            &mut f,
            r#"{"cpu":{"realtimeRuntime":10,"realtimePeriod":100}}"#,
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(f.writes.is_empty());
    }

    #[test]
    fn v2_io_pids_hugetlb_rdma_network() {
        let mut f = Fake::new(V2_ALL, V2_FILES);
        let w = v2(
            &mut f,
            r#"{"pids":{"limit":0},
                "blockIO":{"weight":1000,"weightDevice":[{"major":8,"minor":16,"weight":10}],
                  "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1000}],
                  "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":0}]},
                "hugepageLimits":[{"pageSize":"2MB","limit":-1}],
                "rdma":{"mlx5_1":{"hcaObjects":7}},
                "network":{"classID":1}}"#,
        )
        .unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("pids.max", "max"),
                ("io.weight", "10000"),
                ("io.weight", "8:16 1"),
                ("io.max", "8:0 rbps=1000"),
                ("io.max", "8:0 wiops=max"),
                ("hugetlb.2MB.max", "max"),
                ("hugetlb.2MB.rsvd.max", "max"),
                ("rdma.max", "mlx5_1 hca_object=7"),
            ]
        );
        assert_eq!(w.len(), 1, "{w:?}"); // network
        // BFQ present: raw weights go there
        let mut files = V2_FILES.to_vec();
        files.push(("io.bfq.weight", "default 100"));
        let mut f = Fake::new(V2_ALL, &files);
        v2(
            &mut f,
            r#"{"blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":50}]}}"#,
        )
        .unwrap();
        assert_eq!(
            f.w(),
            vec![("io.bfq.weight", "300"), ("io.bfq.weight", "8:0 50")]
        );
    }

    #[test]
    fn unified_map() {
        let mut f = Fake::new(V2_ALL, V2_FILES);
        let map: HashMap<String, String> = [
            ("memory.max".to_string(), "2000".to_string()),
            (
                "io.max".to_string(),
                "8:0 rbps=1\n8:16 wbps=2\n".to_string(),
            ),
            ("cpu.weight".to_string(), "7".to_string()),
        ]
        .into();
        let mut cx = Ctx::new(&mut f);
        apply_unified(&mut cx, &map).unwrap();
        assert_eq!(
            f.w(),
            vec![
                ("cpu.weight", "7"),
                ("io.max", "8:0 rbps=1"),
                ("io.max", "8:16 wbps=2"),
                ("memory.max", "2000")
            ]
        );
        let mut f = Fake::new(&["cpu"], V2_FILES);
        let mut cx = Ctx::new(&mut f);
        let e = apply_unified(
            &mut cx,
            &[("memory.max".to_string(), "1".to_string())].into(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("controller \"memory\""), "{e}");
        let mut cx = Ctx::new(&mut f);
        assert!(
            apply_unified(
                &mut cx,
                &[("../cpu.weight".to_string(), "1".to_string())].into()
            )
            .is_err()
        );
        let mut cx = Ctx::new(&mut f);
        assert!(
            apply_unified(
                &mut cx,
                &[("cpu.nonexistent".to_string(), "1".to_string())].into()
            )
            .is_err()
        );
        assert!(f.writes.is_empty());
    }
}
