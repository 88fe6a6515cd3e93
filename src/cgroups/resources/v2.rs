//! cgroup v2: `linux.resources` to the files of the container's unified-hierarchy cgroup,
//! in runc's (libcontainer/cgroups/fs2) order.

use anyhow::Result;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::{
    hugetlb,
    Ctx, blkio_any, blkio_weight_to_io_weight, check_memory_usage, cpu_burst, cpu_idle, cpuset, io_max_line,
    is_enoent, memory_swap_to_v2, num_to_str, pids, rdma, shares_to_weight, throttles,
};

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
    hugetlb(cx, r, "max", true)?;
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
    cpu_idle(cx, c)?;
    let retry_burst = cpu_burst(cx, c, "cpu.max.burst", quota)?;
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
