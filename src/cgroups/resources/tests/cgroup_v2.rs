//! cgroup v2 translations: memory, cpu, io, pids, hugetlb, rdma, network, and the unified map.

use super::*;

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
            ("pids.max", "1"),
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
