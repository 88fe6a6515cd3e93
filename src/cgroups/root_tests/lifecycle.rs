//! Lifecycle on this host: create, join, limits, freeze, kill, destroy, mount sources,
//! and the rollbacks when create or add_pid fails.

use super::*;

#[test]
fn lifecycle_create_join_limits_freeze_kill_destroy() {
    let Some((mut g, cg)) = created() else { return };
    for h in cg.hierarchies() {
        assert!(h.dir.is_dir(), "{} missing", h.dir.display());
    }
    // state.json round trip
    let cg: Cgroup = serde_json::from_str(&serde_json::to_string(&cg).unwrap()).unwrap();

    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    let own = read(format!("/proc/{pid}/cgroup"));
    for h in cg.hierarchies() {
        let procs = read(h.dir.join("cgroup.procs"));
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}",
            h.dir.display()
        );
        assert!(own.contains(&h.path), "{own}");
    }
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    let w = cg
        .apply_resources(&res(
            r#"{"memory":{"limit":67108864,"reservation":33554432},"pids":{"limit":42},
                "cpu":{"shares":512,"quota":20000,"period":100000}}"#,
        ))
        .unwrap();
    eprintln!("warnings: {w:?}");
    match cg.layout() {
        Layout::Unified => {
            let d = cg.v2_dir().unwrap();
            assert_eq!(read(d.join("memory.max")), "67108864");
            assert_eq!(read(d.join("pids.max")), "42");
            assert_eq!(read(d.join("cpu.max")), "20000 100000");
            assert_eq!(read(d.join("cpu.weight")), shares_to_weight_str(512));
        }
        _ => {
            assert_eq!(
                read(cg.v1_dir("memory").unwrap().join("memory.limit_in_bytes")),
                "67108864"
            );
            assert_eq!(
                read(
                    cg.v1_dir("memory")
                        .unwrap()
                        .join("memory.soft_limit_in_bytes")
                ),
                "33554432"
            );
            assert_eq!(read(cg.v1_dir("pids").unwrap().join("pids.max")), "42");
            let cpu = cg.v1_dir("cpu").unwrap();
            assert_eq!(read(cpu.join("cpu.shares")), "512");
            assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "20000");
            assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        }
    }
    // update: unlimited again
    cg.apply_resources(&res(
        r#"{"memory":{"limit":-1},"pids":{"limit":-1},"cpu":{"quota":-1}}"#,
    ))
    .unwrap();

    let st = cg.stats().unwrap();
    assert_eq!(st["pids"]["current"], 1, "{st}");
    assert!(st["memory"]["usage"].is_object());
    assert!(st["cpu"]["usage"].is_object());

    // freeze / thaw
    assert!(!cg.is_frozen().unwrap());
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    let s = wait_state(pid, |s| !s.contains("S (sleeping)"));
    assert!(!s.contains("S (sleeping)"), "frozen task state: {s}");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    let s = wait_state(pid, |s| s.contains("S (sleeping)"));
    assert!(s.contains("S (sleeping)"), "thawed task state: {s}");

    // kill_all
    cg.kill_all(libc::SIGKILL).unwrap();
    let st = g.wait_exit(pid);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    cg.destroy().unwrap();
    for h in cg.hierarchies() {
        assert!(!h.dir.exists(), "{} left behind", h.dir.display());
    }
    cg.destroy().unwrap(); // idempotent
}

fn shares_to_weight_str(s: u64) -> String {
    resources::shares_to_weight(s).to_string()
}

#[test]
fn kill_all_signal_and_recursive_pids() {
    let Some((mut g, cg)) = created() else { return };
    let a = g.spawn_sleep();
    let b = g.spawn_sleep();
    cg.add_pid(a).unwrap();
    // b goes into a child cgroup of the container in the pids' hierarchy
    let sub = cg.procs_dir().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("cgroup.procs"), b.to_string()).unwrap();
    let mut pids = vec![a, b];
    pids.sort();
    assert_eq!(cg.pids().unwrap(), pids);
    cg.kill_all(libc::SIGTERM).unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(g.wait_exit(a).signal(), Some(libc::SIGTERM));
    assert_eq!(g.wait_exit(b).signal(), Some(libc::SIGTERM));
    assert!(!cg.is_frozen().unwrap());
    // destroy removes the child cgroup too
    cg.destroy().unwrap();
    assert!(!sub.exists());
    assert!(!cg.exists());
}

#[test]
fn destroy_kills_stragglers() {
    let Some((mut g, cg)) = created() else { return };
    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    // reap in the background so the zombie disappears, as a runtime's parent would
    let mut child = g.children.pop().unwrap();
    let t = std::thread::spawn(move || child.wait().unwrap());
    cg.destroy().unwrap();
    assert!(!cg.exists());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(t.join().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn destroy_of_a_frozen_cgroup() {
    let Some((mut g, cg)) = created() else { return };
    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    let mut child = g.children.pop().unwrap();
    let t = std::thread::spawn(move || child.wait().unwrap());
    cg.freeze().unwrap();
    let start = Instant::now();
    cg.destroy().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "destroy took {:?}",
        start.elapsed()
    );
    assert!(!cg.exists());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(t.join().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn create_failure_leaves_nothing() {
    if !root() {
        return;
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let pc = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let layout = Layout::detect().unwrap();
    if layout == Layout::Unified {
        return; // the fake v1 hierarchy below only works next to v1 ones
    }
    let bogus = format!("/nonexistent-bulkhead-{}", std::process::id());
    let mi = format!("{mi}999 31 0:999 / {bogus} rw - cgroup cgroup rw,perf_event\n");
    let path = unique();
    let cg = Cgroup::resolve_from(&mi, &pc, Some(&path), "x").unwrap();
    assert!(cg.hierarchies().last().unwrap().dir.starts_with(&bogus));
    let e = format!("{:#}", cg.create().unwrap_err());
    assert!(e.contains(&bogus), "{e}");
    for h in cg.hierarchies() {
        assert!(!h.dir.exists(), "{} left behind", h.dir.display());
    }
}

#[test]
fn add_pid_failure_rolls_back() {
    if !root() {
        return;
    }
    if Layout::detect().unwrap() == Layout::Unified {
        return;
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let pc = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    // A fake "hierarchy" on a plain directory: create works, writing cgroup.procs fails.
    let tmp = std::env::temp_dir().join(format!("bulkhead-fake-cg-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mi = format!(
        "{mi}999 31 0:999 / {} rw - cgroup cgroup rw,perf_event\n",
        tmp.display()
    );
    let mut g = Guard::new();
    g.cg = Cgroup::resolve_from(&mi, &pc, Some(&unique()), "x").unwrap();
    g.extra_dirs.push(tmp.clone());
    let cg = g.cg.clone();
    cg.create().unwrap();
    let pid = g.spawn_sleep();
    let before = read(format!("/proc/{pid}/cgroup"));
    let e = format!("{:#}", cg.add_pid(pid).unwrap_err());
    assert!(e.contains(&format!("adding pid {pid}")), "{e}");
    assert_eq!(read(format!("/proc/{pid}/cgroup")), before);
    for h in cg.hierarchies() {
        assert!(!h.dir.exists(), "{} left behind", h.dir.display());
    }
}

#[test]
fn mount_sources_cover_every_hierarchy() {
    if !root() {
        return;
    }
    let g = Guard::new();
    let ms = g.cg.mount_sources();
    assert_eq!(ms.len(), g.cg.hierarchies().len());
    for (name, dir) in &ms {
        assert!(
            dir.ends_with(g.cg.path().trim_start_matches('/'))
                || dir.to_string_lossy().contains("bulkhead-unit"),
            "{name} {dir:?}"
        );
    }
    if g.cg.layout() == Layout::Hybrid {
        assert!(ms.iter().any(|(n, _)| n == "unified"));
        assert!(ms.iter().any(|(n, _)| n == "memory"));
    }
}
