//! End-to-end cgroup tests on this host (cgroup v1 or hybrid; pure v2 runs in the VM, see
//! vm/tests/10-cgroup-v2.sh): the real binary, real busybox bundles, real cgroups.
//! Every test has its own container ID, --root and absolute cgroupsPath, and a Drop guard.

mod cg_common;

use cg_common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

fn host_ok() -> bool {
    if !v1_host() {
        eprintln!("SKIP: not a cgroup v1/hybrid host (pure v2 is covered by vm/tests/10-cgroup-v2.sh)");
        return false;
    }
    true
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stats(c: &Ctr) -> Value {
    let out = c.ok(&["events", "--stats", &c.id]);
    assert_eq!(out.lines().count(), 1, "one line: {out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], c.id.as_str());
    v["data"].clone()
}

const WAIT_GO: &str = "while [ ! -e /go ]; do sleep 0.05; done";

#[test]
fn memory_limit_oom_kills_and_events_reports_it() {
    if !host_ok() {
        return;
    }
    let script = format!("{WAIT_GO}; dd if=/dev/zero of=/dev/null bs=64M count=1; echo $? > /dd.rc; sleep 1000");
    let c = Ctr::new("mem", &["sh", "-c", &script], |cfg| {
        cfg["linux"]["resources"]["memory"] = json!({"limit": 16 << 20, "swap": 16 << 20});
    });
    c.start();
    assert_eq!(c.read("memory", "memory.limit_in_bytes"), (16u64 << 20).to_string());
    let ev = Lines::spawn(c.cmd(&["events", "--interval", "1s", &c.id]));
    // the first stats line proves events is running before the allocation
    let first: Value = serde_json::from_str(&ev.next(10).expect("a stats event")).unwrap();
    assert_eq!(first["type"], "stats");
    assert_eq!(first["data"]["memory"]["usage"]["limit"], 16u64 << 20);
    std::fs::write(c.rootfs("go"), "").unwrap();
    let mut saw_oom = false;
    for _ in 0..30 {
        let Some(l) = ev.next(5) else { break };
        let v: Value = serde_json::from_str(&l).unwrap();
        if v["type"] == "oom" {
            assert_eq!(v["id"], c.id.as_str());
            saw_oom = true;
            break;
        }
    }
    assert!(saw_oom, "no oom event");
    wait_for(10, "dd's exit status", || c.rootfs("dd.rc").exists() && !std::fs::read_to_string(c.rootfs("dd.rc")).unwrap().is_empty());
    assert_eq!(std::fs::read_to_string(c.rootfs("dd.rc")).unwrap().trim(), "137", "dd should be SIGKILLed by the OOM killer");
    let oc = c.read("memory", "memory.oom_control");
    assert!(oc.lines().any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0"), "{oc}");
    // the container (sh) survives
    assert_eq!(c.status(), "running");
    // the peak usage in the stats reached the limit (failcnt stays 0 on this kernel)
    let m = &stats(&c)["memory"];
    assert_eq!(m["usage"]["max"], 16u64 << 20, "{m}");
    assert_eq!(m["usage"]["limit"], 16u64 << 20, "{m}");
}

#[test]
fn events_exits_when_the_container_stops() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("evexit", &["sleep", "1000"], |_| {});
    c.start();
    let mut ev = Lines::spawn(c.cmd(&["events", "--interval", "200ms", &c.id]));
    assert!(ev.next(10).is_some());
    c.ok(&["kill", &c.id, "KILL"]);
    let st = ev.wait_exit(10).expect("events still running 10s after the container died");
    assert!(st.success(), "{st}");
    // stopped container: events refuses
    wait_for(10, "stopped", || c.status() == "stopped");
    assert!(!c.bh(&["events", "--stats", &c.id]).status.success());
}

#[test]
fn pids_limit_makes_fork_fail() {
    if !host_ok() {
        return;
    }
    // busybox sh exits when fork fails: the forking loop runs in a child shell.
    let script = "exec 2>/err; sh -c 'i=0; while [ $i -lt 12 ]; do sleep 1000 & i=$((i+1)); done'; echo rc=$? > /out; sleep 1000";
    let c = Ctr::new("pids", &["sh", "-c", script], |cfg| {
        cfg["linux"]["resources"]["pids"] = json!({"limit": 5});
    });
    c.start();
    assert_eq!(c.read("pids", "pids.max"), "5");
    wait_for(15, "the fork loop", || std::fs::read_to_string(c.rootfs("out")).is_ok_and(|s| s.ends_with('\n')));
    let out = std::fs::read_to_string(c.rootfs("out")).unwrap();
    assert_ne!(out.trim(), "rc=0", "the fork loop succeeded past the limit");
    let err = std::fs::read_to_string(c.rootfs("err")).unwrap();
    assert!(err.contains("can't fork") && err.contains("Resource temporarily unavailable"), "stderr: {err}");
    let ev = c.read("pids", "pids.events");
    assert!(ev.starts_with("max ") && ev != "max 0", "{ev}");
    wait_for(5, "the last sleep", || c.read("pids", "pids.current") == procs_in(&c.cgpath).len().to_string());
    let current: usize = c.read("pids", "pids.current").parse().unwrap();
    assert!((4..=5).contains(&current), "pids.current {current}");
    let pids: Vec<i32> = serde_json::from_str(&c.ok(&["ps", "--format", "json", &c.id])).unwrap();
    assert_eq!(pids.len(), current, "{pids:?}");
    let s = stats(&c);
    assert_eq!(s["pids"]["current"], current);
    assert_eq!(s["pids"]["limit"], 5);
}

#[test]
fn cpu_quota_in_cfs_files_and_throttling_in_stats() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("cpu", &["sh", "-c", "while :; do :; done"], |cfg| {
        cfg["linux"]["resources"]["cpu"] = json!({"quota": 10000, "period": 50000, "shares": 256});
    });
    let pid = c.start();
    assert_eq!(c.read("cpu", "cpu.cfs_quota_us"), "10000");
    assert_eq!(c.read("cpu", "cpu.cfs_period_us"), "50000");
    assert_eq!(c.read("cpu", "cpu.shares"), "256");
    assert!(c.read("cpu", "cgroup.procs").lines().any(|l| l == pid.to_string()));
    // a busy loop at 20% of a cpu is throttled
    wait_for(15, "throttled periods", || stats(&c)["cpu"]["throttling"]["throttledPeriods"].as_u64().unwrap_or(0) > 2);
    let s = stats(&c);
    assert!(s["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    assert!(s["cpu"]["throttling"]["throttledTime"].as_u64().unwrap() > 0);
    assert!(s["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert!(s["pids"]["current"].as_u64().unwrap() >= 1);
    // usage stays near the quota: over 1 s, well under a full cpu
    let t0 = s["cpu"]["usage"]["total"].as_u64().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let t1 = stats(&c)["cpu"]["usage"]["total"].as_u64().unwrap();
    assert!(t1 - t0 < 500_000_000, "used {} ns of cpu in 1 s with a 20% quota", t1 - t0);
}

#[test]
fn device_rules_allow_and_deny() {
    if !host_ok() {
        return;
    }
    // runc's defaults allow mknod of any char device (c *:* m) and a few devices; /dev/mem
    // (1:1) is not among them, so opening a node made for it fails with EPERM.
    let script = "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; \
                  mknod /dev/mem1 c 1 1 && echo mknod-ok; head -c 1 /dev/mem1; echo mem-rc=$?; \
                  mknod /dev/blk1 b 7 0 && echo mknod-b-ok; head -c 1 /dev/blk1; echo blk-rc=$?";
    let c = Ctr::new("dev", &["sh", "-c", script], |cfg| {
        for set in ["bounding", "effective", "permitted"] {
            cfg["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_MKNOD"));
        }
    });
    let b = c.bundle.path().to_str().unwrap().to_string();
    let o = c.bh(&["run", "--bundle", &b, &c.id]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &stderr(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("4\n") && out.contains("null-ok"), "{out}");
    assert!(out.contains("mknod-ok") && out.contains("mknod-b-ok"), "{out}");
    assert!(out.contains("mem-rc=1") && out.contains("blk-rc=1"), "{out}");
    assert_eq!(out.matches("Operation not permitted").count(), 2, "{out}");
}

#[test]
fn device_whitelist_in_the_cgroup() {
    if !host_ok() {
        return;
    }
    // The device whitelist in the cgroup: deny-all first, then the allowed list.
    let c = Ctr::new("devlist", &["sleep", "1000"], |_| {});
    c.start();
    let list = c.read("devices", "devices.list");
    let lines: BTreeSet<&str> = list.lines().collect();
    for want in ["c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:9 rwm", "c 5:2 rwm", "c 136:* rwm"] {
        assert!(lines.contains(want), "{want} missing from {list}");
    }
    assert!(!lines.contains("a *:* rwm") && !lines.iter().any(|l| l.starts_with("c 1:1 ")), "{list}");
}

/// `update` with new device rules (issue 15 item 8): they replace the container's (runc's
/// defaults added), and a device both the old and the new rules allow is never denied on the
/// way: the container opens /dev/null in a loop while the rules change back and forth.
#[test]
fn update_device_rules_never_deny_what_stays_allowed() {
    if !host_ok() || !v1_host() {
        return;
    }
    // `true`, not `:`: a failed redirection of a special builtin ends the shell.
    let loop_ = "while :; do if ! true <>/dev/null; then echo denied >>/tmp/denied; fi; done";
    let c = Ctr::new("updev", &["sh", "-c", loop_], |_| {});
    c.start();
    let f = c.bundle.path().join("res.json");
    let tun = r#"{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rwm"}]}"#;
    let loop_dev = r#"{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"}]}"#;
    for i in 0..60 {
        std::fs::write(&f, if i % 2 == 0 { tun } else { loop_dev }).unwrap();
        c.ok(&["update", "--resources", f.to_str().unwrap(), &c.id]);
        let list = c.read("devices", "devices.list");
        let (has, lacks) = if i % 2 == 0 { ("c 10:200 rwm", "b 7:0 r") } else { ("b 7:0 r", "c 10:200 rwm") };
        assert!(list.lines().any(|l| l == has) && !list.lines().any(|l| l == lacks), "update {i}: {list}");
        assert!(list.lines().any(|l| l == "c 1:3 rwm"), "update {i} dropped runc's defaults: {list}");
    }
    assert!(!c.rootfs("tmp/denied").exists(), "/dev/null was denied during an update");
    // The saved config has the new rules: a later update of other fields keeps them.
    c.ok(&["update", "--pids-limit", "50", &c.id]);
    assert!(c.read("devices", "devices.list").lines().any(|l| l == "b 7:0 r"));
}

#[test]
fn pause_and_resume_freeze_every_process() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("freeze", &["sh", "-c", "sleep 1000 & sleep 1000 & wait"], |_| {});
    let init = c.start();
    wait_for(10, "three processes", || procs_in(&c.cgpath).len() == 3);
    let pids = procs_in(&c.cgpath);
    assert!(pids.contains(&init));
    c.ok(&["pause", &c.id]);
    assert_eq!(c.status(), "paused");
    assert_eq!(c.read("freezer", "freezer.state"), "FROZEN");
    for p in &pids {
        wait_for(5, "frozen task state", || proc_state(*p).starts_with('D'));
    }
    // wrong states
    let o = c.bh(&["pause", &c.id]);
    assert!(!o.status.success() && stderr(&o).contains("paused"), "{}", stderr(&o));
    let o = c.bh(&["delete", &c.id]);
    assert!(!o.status.success(), "delete of a paused container without --force");
    // a signal to all processes does not thaw a paused container
    c.ok(&["kill", "--all", &c.id, "SIGCONT"]);
    assert_eq!(c.read("freezer", "freezer.state"), "FROZEN");
    assert_eq!(c.status(), "paused");
    // list shows it paused too
    let list: Value = serde_json::from_str(&c.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["status"], "paused", "{list}");
    // state.json says paused
    let sj: Value = serde_json::from_slice(&std::fs::read(c.root.path().join(&c.id).join("state.json")).unwrap()).unwrap();
    assert_eq!(sj["status"], "paused");
    c.ok(&["resume", &c.id]);
    assert_eq!(c.status(), "running");
    assert_eq!(c.read("freezer", "freezer.state"), "THAWED");
    for p in &pids {
        wait_for(5, "thawed task state", || proc_state(*p).starts_with('S'));
    }
    let o = c.bh(&["resume", &c.id]);
    assert!(!o.status.success() && stderr(&o).contains("not paused"), "{}", stderr(&o));
}

#[test]
fn pause_of_created_returns_to_created_and_stopped_is_refused() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("pausecreated", &["true"], |_| {});
    let b = c.bundle.path().to_str().unwrap().to_string();
    c.ok(&["create", "--bundle", &b, &c.id]);
    // As runc: a created container can be paused, and resuming returns it to created.
    assert!(!c.bh(&["resume", &c.id]).status.success(), "resume of a container that is not paused");
    c.ok(&["pause", &c.id]);
    assert_eq!(c.status(), "paused");
    assert!(!c.bh(&["start", &c.id]).status.success(), "start of a paused container");
    c.ok(&["resume", &c.id]);
    assert_eq!(c.status(), "created");
    c.ok(&["start", &c.id]);
    wait_for(10, "stopped", || c.status() == "stopped");
    let o = c.bh(&["pause", &c.id]);
    assert!(!o.status.success() && stderr(&o).contains("stopped"), "{}", stderr(&o));
    assert!(!c.bh(&["pause", "no-such-container"]).status.success());
}

#[test]
fn delete_force_on_paused_container_removes_everything() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("delpaused", &["sh", "-c", "sleep 1000 & sleep 1000 & wait"], |_| {});
    c.start();
    wait_for(10, "three processes", || procs_in(&c.cgpath).len() == 3);
    let pids = procs_in(&c.cgpath);
    c.ok(&["pause", &c.id]);
    let t = std::time::Instant::now();
    c.ok(&["delete", "--force", &c.id]);
    assert!(t.elapsed() < Duration::from_secs(8), "delete --force took {:?}", t.elapsed());
    assert!(c.leftover_dirs().is_empty(), "{:?}", c.leftover_dirs());
    for p in pids {
        wait_for(5, "process gone", || !std::path::Path::new(&format!("/proc/{p}")).exists() || proc_state(p).starts_with('Z'));
    }
    assert!(!c.root.path().join(&c.id).exists());
}

#[test]
fn kill_all_reaches_every_process() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("killall", &["sh", "-c", "sleep 1000 & (sleep 1000 & wait) & wait"], |_| {});
    c.start();
    wait_for(10, "four processes", || procs_in(&c.cgpath).len() == 4);
    c.ok(&["kill", "--all", &c.id, "KILL"]);
    wait_for(10, "empty cgroup", || procs_in(&c.cgpath).is_empty() && c.read("pids", "cgroup.procs").is_empty());
    wait_for(10, "stopped", || c.status() == "stopped");
    c.ok(&["delete", &c.id]);
    assert!(c.leftover_dirs().is_empty(), "{:?}", c.leftover_dirs());
}

#[test]
fn delete_removes_the_cgroup_in_every_hierarchy() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("del", &["sleep", "1000"], |_| {});
    c.start();
    let dirs = c.leftover_dirs();
    for ctrl in ["memory", "cpu", "pids", "freezer", "devices", "systemd"] {
        assert!(dirs.contains(&c.dir(ctrl)), "{ctrl}: {dirs:?}");
    }
    c.ok(&["kill", &c.id, "KILL"]);
    wait_for(10, "stopped", || c.status() == "stopped");
    c.ok(&["delete", &c.id]);
    assert!(c.leftover_dirs().is_empty(), "{:?}", c.leftover_dirs());
}

#[test]
fn ps_lists_exactly_the_container_processes() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("ps", &["sh", "-c", "sleep 1001 & sleep 1002 & wait"], |_| {});
    let init = c.start();
    wait_for(10, "three processes", || procs_in(&c.cgpath).len() == 3);
    let truth = procs_in(&c.cgpath);
    let json_out = c.ok(&["ps", "--format", "json", &c.id]);
    let mut pids: Vec<i32> = serde_json::from_str(&json_out).unwrap();
    pids.sort();
    assert_eq!(pids, truth);
    assert!(pids.contains(&init));
    // flags after the ID work too
    let again: Vec<i32> = serde_json::from_str(&c.ok(&["ps", &c.id, "-f", "json"])).unwrap();
    assert_eq!(again.len(), 3);
    // table: the header and one row per pid
    let table = c.ok(&["ps", &c.id]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    let idx = header.split_whitespace().position(|f| f == "PID").expect("PID column");
    let rows: Vec<i32> = lines.map(|l| l.split_whitespace().nth(idx).unwrap().parse().unwrap()).collect();
    let mut sorted = rows.clone();
    sorted.sort();
    assert_eq!(sorted, truth, "{table}");
    // ps(1) arguments after --
    let t = c.ok(&["ps", &c.id, "--", "-o", "pid,args"]);
    assert!(t.lines().next().unwrap().contains("PID"), "{t}");
    assert_eq!(t.lines().count(), 4, "{t}");
    assert!(t.contains("sleep 1001") && t.contains("sleep 1002"), "{t}");
    assert!(!c.bh(&["ps", "nope"]).status.success());
}

#[test]
fn update_flags_change_their_files() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("update", &["sleep", "1000"], |cfg| {
        cfg["linux"]["resources"]["memory"] = json!({"limit": 100 << 20});
    });
    c.start();
    let memsw = c.dir("memory").join("memory.memsw.limit_in_bytes").exists();
    c.ok(&["update", "--memory", "64m", "--memory-reservation", "32m", &c.id]);
    assert_eq!(c.read("memory", "memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(c.read("memory", "memory.soft_limit_in_bytes"), (32u64 << 20).to_string());
    if memsw {
        c.ok(&["update", &c.id, "--memory-swap", "128m"]);
        assert_eq!(c.read("memory", "memory.memsw.limit_in_bytes"), (128u64 << 20).to_string());
        c.ok(&["update", &c.id, "--memory", "-1", "--memory-swap", "-1"]);
        assert!(c.read("memory", "memory.memsw.limit_in_bytes").len() > 15);
        assert!(c.read("memory", "memory.limit_in_bytes").len() > 15);
    }
    c.ok(&["update", &c.id, "--memory", "10485760"]);
    assert_eq!(c.read("memory", "memory.limit_in_bytes"), "10485760");
    // kernel memory: accepted (the kernel may ignore the value: deprecated in v1)
    c.ok(&["update", &c.id, "--kernel-memory", "50m", "--kernel-memory-tcp", "20m"]);
    let tcp = c.dir("memory").join("memory.kmem.tcp.limit_in_bytes");
    if tcp.exists() {
        assert_eq!(c.read("memory", "memory.kmem.tcp.limit_in_bytes"), (20u64 << 20).to_string());
    }
    c.ok(&["update", &c.id, "--cpu-period", "200000", "--cpu-quota", "50000", "--cpu-share", "300"]);
    assert_eq!(c.read("cpu", "cpu.cfs_period_us"), "200000");
    assert_eq!(c.read("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(c.read("cpu", "cpu.shares"), "300");
    c.ok(&["update", &c.id, "--cpu-shares", "400"]);
    assert_eq!(c.read("cpu", "cpu.shares"), "400");
    if c.dir("cpu").join("cpu.cfs_burst_us").exists() {
        c.ok(&["update", &c.id, "--cpu-burst", "20000"]);
        assert_eq!(c.read("cpu", "cpu.cfs_burst_us"), "20000");
    }
    if c.dir("cpu").join("cpu.idle").exists() {
        c.ok(&["update", &c.id, "--cpu-idle", "1"]);
        assert_eq!(c.read("cpu", "cpu.idle"), "1");
        c.ok(&["update", &c.id, "--cpu-idle", "0"]);
        assert_eq!(c.read("cpu", "cpu.idle"), "0");
    }
    if c.dir("cpu").join("cpu.rt_runtime_us").exists() {
        c.ok(&["update", &c.id, "--cpu-rt-period", "500000", "--cpu-rt-runtime", "1000"]);
        assert_eq!(c.read("cpu", "cpu.rt_period_us"), "500000");
        assert_eq!(c.read("cpu", "cpu.rt_runtime_us"), "1000");
    }
    c.ok(&["update", &c.id, "--cpuset-cpus", "0", "--cpuset-mems", "0"]);
    assert_eq!(c.read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(c.read("cpuset", "cpuset.mems"), "0");
    c.ok(&["update", "--pids-limit", "42", &c.id]);
    assert_eq!(c.read("pids", "pids.max"), "42");
    c.ok(&["update", "--pids-limit", "-1", &c.id]);
    assert_eq!(c.read("pids", "pids.max"), "max");
    let wfile = if c.dir("blkio").join("blkio.weight").exists() { "blkio.weight" } else { "blkio.bfq.weight" };
    if c.dir("blkio").join(wfile).exists() {
        c.ok(&["update", &c.id, "--blkio-weight", "300"]);
        assert!(c.read("blkio", wfile).split_whitespace().any(|w| w == "300"), "{}", c.read("blkio", wfile));
    }
    // Intel RDT: a clear error without resctrl
    let resctrl = std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(" - resctrl ");
    for flag in ["--l3-cache-schema", "--mem-bw-schema"] {
        let o = c.bh(&["update", &c.id, flag, "L3:0=f"]);
        assert!(!o.status.success());
        if !resctrl {
            assert!(stderr(&o).contains("resctrl"), "{}", stderr(&o));
        }
    }
    // bad values
    for bad in [["--memory", "12q"], ["--cpu-period", "-5"], ["--cpu-quota", "x"]] {
        let o = c.bh(&["update", &c.id, bad[0], bad[1]]);
        assert!(!o.status.success(), "{bad:?} accepted");
        assert!(stderr(&o).contains(bad[0].trim_start_matches('-')), "{}", stderr(&o));
    }
    // the saved config records the new values
    let cfg: Value = serde_json::from_slice(&std::fs::read(c.root.path().join(&c.id).join("config.json")).unwrap()).unwrap();
    let r = &cfg["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 10485760);
    assert_eq!(r["memory"]["reservation"], 32 << 20);
    assert_eq!(r["cpu"]["shares"], 400);
    assert_eq!(r["cpu"]["quota"], 50000);
    assert_eq!(r["pids"]["limit"], -1);
    assert_eq!(r["cpu"]["cpus"], "0");
    assert!(r["devices"].as_array().is_some_and(|d| !d.is_empty()), "device rules kept");
}

/// runc 1.5: `update --cpu-burst 0` resets the burst (0 is a value, not "unset").
#[test]
fn update_cpu_burst_zero_resets_it() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("burst0", &["sleep", "1000"], |cfg| {
        cfg["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000, "burst": 20000});
    });
    c.start();
    if !c.dir("cpu").join("cpu.cfs_burst_us").exists() {
        return;
    }
    assert_eq!(c.read("cpu", "cpu.cfs_burst_us"), "20000");
    c.ok(&["update", &c.id, "--cpu-burst", "0"]);
    assert_eq!(c.read("cpu", "cpu.cfs_burst_us"), "0");
}

#[test]
fn update_resources_from_file_and_stdin() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("updres", &["sleep", "1000"], |_| {});
    c.start();
    let f = c.bundle.path().join("res.json");
    std::fs::write(&f, r#"{"memory": {"limit": 50331648}, "cpu": {"quota": 30000, "period": 100000}, "pids": {"limit": 77}}"#).unwrap();
    c.ok(&["update", "--resources", f.to_str().unwrap(), &c.id]);
    assert_eq!(c.read("memory", "memory.limit_in_bytes"), "50331648");
    assert_eq!(c.read("cpu", "cpu.cfs_quota_us"), "30000");
    assert_eq!(c.read("pids", "pids.max"), "77");
    // -r -: stdin (docker); zero values mean unchanged, as in runc
    let mut cmd = c.cmd(&["update", "-r", "-", &c.id]);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut ch = cmd.spawn().unwrap();
    use std::io::Write;
    ch.stdin.take().unwrap().write_all(br#"{"memory": {"limit": 0}, "pids": {"limit": 88}, "blockIO": {"weight": 0}}"#).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let st = loop {
        if let Some(s) = ch.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "update -r - hangs");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(st.success());
    assert_eq!(c.read("pids", "pids.max"), "88");
    assert_eq!(c.read("memory", "memory.limit_in_bytes"), "50331648");
    // --resources=F form and a bad document
    std::fs::write(&f, r#"{"pids": {"limit": "many"}}"#).unwrap();
    let o = c.bh(&["update", &format!("--resources={}", f.display()), &c.id]);
    assert!(!o.status.success() && stderr(&o).contains("pids"), "{}", stderr(&o));
    // a stopped container cannot be updated
    c.ok(&["kill", &c.id, "KILL"]);
    wait_for(10, "stopped", || c.status() == "stopped");
    assert!(!c.bh(&["update", "--pids-limit", "5", &c.id]).status.success());
}

#[test]
fn memory_floor_512k_runs_true() {
    if !host_ok() {
        return;
    }
    let c = Ctr::new("floor", &["true"], |cfg| {
        cfg["linux"]["resources"]["memory"] = json!({"limit": 512 * 1024});
    });
    let b = c.bundle.path().to_str().unwrap().to_string();
    let o = c.bh(&["run", "--bundle", &b, &c.id]);
    assert!(o.status.success(), "{}: {}", o.status, stderr(&o));
    assert!(c.leftover_dirs().is_empty());
}
