//! Control groups (config-linux.md#control-groups: cgroupsPath, memory, cpu, cpuset, pids, block IO),
//! read back on the host after create.

use super::*;

fn host_cg_eq(b: &Bundle, ctrl: &str, file: &str, want: &str) -> Result<(), String> {
    let p = cgroup_file(&b.cgpath, ctrl, file);
    let got = read_trim(&p)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("{}: {got:?}, want {want:?}", p.display()))
    }
}

pub fn cases() -> Vec<Case> {
    vec![
        case!("cgroup-path", "config-linux.md#cgroups-path: \"If the value is specified, the runtime MUST consistently attach to the same place in the cgroups hierarchy given the same value of cgroupsPath.\"", |ctx| {
            inside_host(ctx, "cg-path", |_b| Ok(()), &|b, st| {
                let pid = st["pid"].as_i64().unwrap_or(0);
                let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|e| e.to_string())?;
                let want = &b.cgpath;
                let mut n = 0;
                for l in cg.lines() {
                    let f: Vec<&str> = l.splitn(3, ':').collect();
                    if f.len() == 3 && (f[1].contains("memory") || f[1].contains("pids") || f[1].is_empty() && !cg_v1()) {
                        n += 1;
                        if f[2] != want {
                            return Err(format!("/proc/{pid}/cgroup: {l:?}, want path {want}"));
                        }
                    }
                }
                if n == 0 { Err(format!("no memory/pids line in /proc/{pid}/cgroup")) } else { Ok(()) }
            })
        }),
        case!("cgroup-memory", "config-linux.md#memory: \"limit (int64, OPTIONAL) - sets limit of memory usage in bytes\"", |ctx| {
            inside_host(ctx, "cg-mem", |b| {
                b.config["linux"]["resources"]["memory"] = json!({"limit": 67108864, "reservation": 33554432});
                Ok(())
            }, &|b, _| {
                if cg_v1() {
                    host_cg_eq(b, "memory", "memory.limit_in_bytes", "67108864")?;
                    host_cg_eq(b, "memory", "memory.soft_limit_in_bytes", "33554432")
                } else {
                    host_cg_eq(b, "memory", "memory.max", "67108864")?;
                    host_cg_eq(b, "memory", "memory.low", "33554432")
                }
            })
        }),
        case!("cgroup-memory-swap", "config-linux.md#memory: \"swap (int64, OPTIONAL) - sets limit of memory+Swap usage\"", |ctx| {
            inside_host(ctx, "cg-swap", |b| {
                if cg_v1() && !std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
                    return Err("SKIP: host kernel has no swap accounting (memory.memsw.limit_in_bytes missing)".into());
                }
                b.config["linux"]["resources"]["memory"] = json!({"limit": 67108864, "swap": 134217728});
                Ok(())
            }, &|b, _| {
                if cg_v1() { host_cg_eq(b, "memory", "memory.memsw.limit_in_bytes", "134217728") } else { host_cg_eq(b, "memory", "memory.swap.max", "67108864") }
            })
        }),
        case!("cgroup-cpu", "config-linux.md#cpu: \"shares (uint64, OPTIONAL) - specifies a relative share of CPU time ... quota (int64, OPTIONAL) ... period (uint64, OPTIONAL)\"", |ctx| {
            inside_host(ctx, "cg-cpu", |b| {
                b.config["linux"]["resources"]["cpu"] = json!({"shares": 512, "quota": 50000, "period": 100000});
                Ok(())
            }, &|b, _| {
                if cg_v1() {
                    host_cg_eq(b, "cpu", "cpu.shares", "512")?;
                    host_cg_eq(b, "cpu", "cpu.cfs_quota_us", "50000")?;
                    host_cg_eq(b, "cpu", "cpu.cfs_period_us", "100000")
                } else {
                    host_cg_eq(b, "cpu", "cpu.max", "50000 100000")
                }
            })
        }),
        case!("cgroup-cpuset", "config-linux.md#cpu: \"cpus (string, OPTIONAL) - list of CPUs the container will run in. mems (string, OPTIONAL) - list of memory nodes the container will run in.\"", |ctx| {
            inside_host(ctx, "cg-cpuset", |b| {
                b.config["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"});
                b.checks.push(json!({"kind": "status", "field": "Cpus_allowed_list", "value": "0"}));
                Ok(())
            }, &|b, _| {
                let f = if cg_v1() { "cpuset.cpus" } else { "cpuset.cpus" };
                host_cg_eq(b, "cpuset", f, "0")?;
                host_cg_eq(b, "cpuset", "cpuset.mems", "0")
            })
        }),
        case!("cgroup-pids", "config-linux.md#pids: \"limit (int64, REQUIRED) - specifies the maximum number of tasks in the cgroup\"", |ctx| {
            inside_host(ctx, "cg-pids", |b| {
                b.config["linux"]["resources"]["pids"] = json!({"limit": 42});
                Ok(())
            }, &|b, _| host_cg_eq(b, "pids", "pids.max", "42"))
        }),
        case!("cgroup-blkio-weight", "config-linux.md#block-io: \"weight (uint16, OPTIONAL) - specifies per-cgroup weight.\"", |ctx| {
            inside_host(ctx, "cg-blkio", |b| {
                if cg_v1() && !std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists() && !std::path::Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists() {
                    return Err("SKIP: host has no blkio weight file (no CFQ/BFQ io scheduler)".into());
                }
                b.config["linux"]["resources"]["blockIO"] = json!({"weight": 300});
                Ok(())
            }, &|b, _| {
                if std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists() { host_cg_eq(b, "blkio", "blkio.weight", "300") } else { host_cg_eq(b, "blkio", "blkio.bfq.weight", "300") }
            })
        }),
    ]
}
