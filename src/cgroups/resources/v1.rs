//! cgroup v1: `linux.resources` to the files of the per-controller hierarchies, in runc's
//! (libcontainer/cgroups/fs) subsystem order.

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::{
    hugetlb,
    Ctx, blkio_any, check_memory_usage, cpu_burst, cpu_idle, cpuset, is_einval, pids, rdma, throttles,
};

/// Apply everything but `unified` to v1 controllers, in runc's subsystem order.
pub(crate) fn apply_v1(cx: &mut Ctx, r: &LinuxResources) -> Result<()> {
    cpuset(cx, r.cpu().as_ref())?;
    if let Some(rules) = r.devices().as_ref().filter(|d| !d.is_empty()) {
        crate::cgroups::devices::v1::apply(cx, rules)?;
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
    hugetlb(cx, r, "limit_in_bytes", false)?;
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
    let retry_burst = cpu_burst(cx, c, "cpu.cfs_burst_us", quota)?;
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
    cpu_idle(cx, c)?;
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
