//! cgroup v1 translations: memory (incl. checkBeforeUpdate), cpu, pids, blkio, hugetlb,
//! net_cls/net_prio and rdma.

use super::*;

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

/// Issue 15 item 13: a limit whose control file this kernel lacks is an error naming the
/// field (never a dropped limit); realtime without CONFIG_RT_GROUP_SCHED still warns.
#[test]
fn v1_missing_optional_cpu_files_fail_naming_the_field() {
    let files: Vec<_> = V1_CPU
        .iter()
        .copied()
        .filter(|(f, _)| !f.contains("burst") && !f.contains("idle") && !f.contains("rt_"))
        .collect();
    for (field, json) in [("cpu.burst", r#"{"cpu":{"burst":10}}"#), ("cpu.idle", r#"{"cpu":{"idle":1}}"#)] {
        let mut f = Fake::new(V1_ALL, &files);
        let e = format!("{:#}", v1(&mut f, json).unwrap_err());
        assert!(e.contains(&format!("linux.resources.{field}")) && e.contains("does not exist"), "{e}");
        assert!(f.writes.is_empty());
    }
    let mut f = Fake::new(V1_ALL, &files);
    let w = v1(&mut f, r#"{"cpu":{"realtimeRuntime":5}}"#).unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
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
            "blockIO":{"weight":300,"weightDevice":[{"major":8,"minor":0,"weight":500}],
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
    assert!(w.is_empty(), "{w:?}");
    // leafWeight: no blkio.leaf_weight file → an error naming the field
    let mut f = Fake::new(&ctl, &files);
    let e = format!("{:#}", v1(&mut f, r#"{"blockIO":{"leafWeight":200}}"#).unwrap_err());
    assert!(e.contains("linux.resources.blockIO.leafWeight") && e.contains("blkio.leaf_weight"), "{e}");
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
