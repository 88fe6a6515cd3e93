//! Resource limits on this host: memory below usage, the unified map, and fields the
//! host lacks or the config leaves unset.

use super::*;

#[test]
fn memory_limit_below_usage_reports_context() {
    let Some((mut g, cg)) = created() else { return };
    // a process holding ~20 MiB of anonymous memory
    let pid =
        g.spawn_gated("x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ready >&2; sleep 1000");
    cg.add_pid(pid).unwrap();
    {
        let c = g
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .unwrap();
        c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    // wait until the memory is charged
    let deadline = Instant::now() + Duration::from_secs(10);
    let usage_file = match cg.layout() {
        Layout::Unified => cg.v2_dir().unwrap().join("memory.current"),
        _ => cg.v1_dir("memory").unwrap().join("memory.usage_in_bytes"),
    };
    while read(&usage_file).parse::<u64>().unwrap() < 10_000_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("usage {}", read(&usage_file));
    let r = cg.apply_resources(&res(
        r#"{"memory":{"limit":4194304,"checkBeforeUpdate":true}}"#,
    ));
    let e = format!("{:#}", r.unwrap_err());
    assert!(
        e.contains("rejecting memory limit 4194304 below current usage"),
        "{e}"
    );
    if cg.layout() != Layout::Unified {
        // without the check the kernel refuses (no swap to reclaim to)
        let noswap = read("/proc/meminfo")
            .lines()
            .any(|l| l.starts_with("SwapTotal:") && l.ends_with(" 0 kB"));
        if noswap {
            let e = format!(
                "{:#}",
                cg.apply_resources(&res(r#"{"memory":{"limit":4194304}}"#))
                    .unwrap_err()
            );
            let want = format!(
                "linux.resources.memory.limit: writing 4194304 to {}: Device or resource busy",
                cg.v1_dir("memory")
                    .unwrap()
                    .join("memory.limit_in_bytes")
                    .display()
            );
            eprintln!("{e}");
            assert!(e.starts_with(&want), "{e}");
        }
    }
}

#[test]
fn unified_map_on_this_host() {
    if !root() {
        return;
    }
    let g = Guard::new();
    let cg = g.cg.clone();
    cg.create().unwrap();
    let r = res(r#"{"unified":{"memory.max":"1000000"}}"#);
    match cg.layout() {
        Layout::V1 => assert!(cg.apply_resources(&r).is_err()),
        Layout::Hybrid => {
            let e = format!("{:#}", cg.apply_resources(&r).unwrap_err());
            assert!(e.contains("controller \"memory\""), "{e}");
        }
        Layout::Unified => {
            cg.apply_resources(&r).unwrap();
            assert_eq!(read(cg.v2_dir().unwrap().join("memory.max")), "999424");
        }
    }
    assert!(
        cg.apply_resources(&res(r#"{"unified":{"../cgroup.procs":"1"}}"#))
            .is_err()
    );
}

#[test]
fn optional_and_unavailable_fields_on_this_host() {
    if !root() {
        return;
    }
    let g = Guard::new();
    let cg = g.cg.clone();
    cg.create().unwrap();
    // Fields the config did not set never fail, whatever the host lacks.
    assert!(cg.apply_resources(&res("{}")).unwrap().is_empty());
    assert!(
        cg.apply_resources(&res(
            r#"{"memory":{},"cpu":{},"blockIO":{},"hugepageLimits":[],"network":{}}"#
        ))
        .unwrap()
        .is_empty()
    );
    // cpuset
    let cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/cpuset.cpus.effective"));
    if let Ok(cpus) = cpus {
        let first = cpus.trim().split([',', '-']).next().unwrap().to_string();
        cg.apply_resources(&res(&format!(
            r#"{{"cpu":{{"cpus":"{first}","mems":"0"}}}}"#
        )))
        .unwrap();
        let d = cg.v1_dir("cpuset").or(cg.v2_dir()).unwrap();
        assert_eq!(read(d.join("cpuset.cpus")), first);
    }
    // kernel memory: applied where the files exist and work, else a warning; never an error
    let w = cg
        .apply_resources(&res(
            r#"{"memory":{"kernel":67108864,"kernelTCP":67108864,"swappiness":10}}"#,
        ))
        .unwrap();
    eprintln!("kernel memory warnings: {w:?}");
    // blkio weight: this host's blkio has neither blkio.weight nor blkio.bfq.weight → error
    let r = res(
        r#"{"blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":1,"minor":3,"rate":0}]}}"#,
    );
    match cg.apply_resources(&r) {
        Ok(w) => eprintln!("blkio warnings: {w:?}"),
        Err(e) => eprintln!("blkio error (no controller/device): {e:#}"),
    }
    if let Some(b) = cg
        .v1_dir("blkio")
        .filter(|b| !b.join("blkio.weight").exists() && !b.join("blkio.bfq.weight").exists())
    {
        let e = format!("{:#}", cg.apply_resources(&res(r#"{"blockIO":{"weight":500}}"#)).unwrap_err());
        assert!(e.contains("linux.resources.blockIO.weight") && e.contains("does not exist"), "{e} ({})", b.display());
    }
    // hugetlb: an error naming the field when the controller or page size is missing
    let r = cg.apply_resources(&res(r#"{"hugepageLimits":[{"pageSize":"3MB","limit":1}]}"#));
    let e = format!("{:#}", r.unwrap_err());
    assert!(e.contains("linux.resources.hugepageLimits"), "{e}");
    eprintln!("{}", serde_json::to_string(&cg.stats().unwrap()).unwrap());
}
