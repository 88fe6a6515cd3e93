//! The property lists against what runc 1.5's systemd driver sends for the same config
//! (opencontainers/cgroups systemd/v2.go, worked through by hand for each case).

use super::*;
use crate::cgroups::systemd::path;

fn res(json: &str) -> LinuxResources {
    serde_json::from_str(json).unwrap()
}

fn names(v: &[Prop]) -> Vec<&str> {
    v.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn resources_in_runcs_order_and_units() {
    let r = res(r#"{"memory": {"limit": 268435456, "reservation": 134217728, "swap": 536870912},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,4", "mems": "0"},
        "pids": {"limit": 100}}"#);
    let (v, files) = resource_properties(&r).unwrap();
    assert_eq!(
        v,
        vec![
            p("MemoryMax", Value::U64(268435456)),
            p("MemoryLow", Value::U64(134217728)),
            p("MemorySwapMax", Value::U64(268435456)),
            p("CPUWeight", Value::U64(100)),
            p("CPUQuotaPeriodUSec", Value::U64(100000)),
            p("CPUQuotaPerSecUSec", Value::U64(500000)),
            p("TasksMax", Value::U64(100)),
            p("AllowedCPUs", Value::Bytes(vec![0b1_0011])),
            p("AllowedMemoryNodes", Value::Bytes(vec![1])),
        ]
    );
    assert_eq!(files, r);
}

#[test]
fn cpu_quota_rounds_up_to_a_percent_and_the_files_follow() {
    let (v, files) = resource_properties(&res(r#"{"cpu": {"quota": 33333, "period": 100000}}"#)).unwrap();
    assert_eq!(v[1], p("CPUQuotaPerSecUSec", Value::U64(340000)));
    assert_eq!(files.cpu().as_ref().unwrap().quota(), Some(34000));
    // Unlimited quota: infinity; no period, no CPUQuotaPeriodUSec.
    let (v, _) = resource_properties(&res(r#"{"cpu": {"quota": -1}}"#)).unwrap();
    assert_eq!(v, vec![p("CPUQuotaPerSecUSec", Value::U64(u64::MAX))]);
}

#[test]
fn unlimited_and_edge_values() {
    let (v, _) = resource_properties(&res(r#"{"memory": {"limit": -1}, "pids": {"limit": 0}}"#)).unwrap();
    // limit -1 with swap unset: both unlimited; pids 0 is 1 (systemd has no TasksMax=0).
    assert_eq!(v, vec![p("MemoryMax", Value::U64(u64::MAX)), p("MemorySwapMax", Value::U64(u64::MAX)), p("TasksMax", Value::U64(1))]);
    let (v, _) = resource_properties(&res(r#"{"pids": {"limit": -1}, "cpu": {"idle": 1, "shares": 512}}"#)).unwrap();
    assert_eq!(v, vec![p("CPUWeight", Value::U64(0)), p("TasksMax", Value::U64(u64::MAX))]);
    assert!(resource_properties(&res(r#"{}"#)).unwrap().0.is_empty());
    let e = resource_properties(&res(r#"{"memory": {"swap": 100}}"#)).unwrap_err().to_string();
    assert!(e.contains("linux.resources.memory.swap"), "{e}");
    let e = resource_properties(&res(r#"{"cpu": {"cpus": "3-1"}}"#)).unwrap_err().to_string();
    assert!(e.contains("linux.resources.cpu.cpus \"3-1\""), "{e}");
}

#[test]
fn unified_keys_systemd_knows() {
    let (v, _) = resource_properties(&res(
        r#"{"unified": {"memory.high": "1048576", "memory.max": "max", "pids.max": "7", "cpu.max": "max 50000",
            "cpu.weight": "50", "memory.oom.group": "1", "io.weight": "default 200"}}"#,
    ))
    .unwrap();
    assert_eq!(
        v,
        vec![
            p("CPUQuotaPeriodUSec", Value::U64(50000)),
            p("CPUQuotaPerSecUSec", Value::U64(u64::MAX)),
            p("CPUWeight", Value::U64(50)),
            p("MemoryHigh", Value::U64(1048576)),
            p("MemoryMax", Value::U64(u64::MAX)),
            p("TasksMax", Value::U64(7)),
        ]
    );
    let e = resource_properties(&res(r#"{"unified": {"pids.max": "lots"}}"#)).unwrap_err().to_string();
    assert!(e.contains("linux.resources.unified.pids.max \"lots\""), "{e}");
}

#[test]
fn unit_properties_for_a_scope_and_a_slice() {
    let u = path::parse(Some("machine.slice:bulkhead:c1"), "c1", false).unwrap();
    let ann = vec![p("CollectMode", Value::Str("inactive-or-failed".into()))];
    let v = unit_properties(&u, "c1", Some(42), &ann);
    assert_eq!(
        names(&v),
        ["Description", "Slice", "Delegate", "PIDs", "MemoryAccounting", "CPUAccounting", "IOAccounting", "TasksAccounting", "DefaultDependencies", "CollectMode"]
    );
    assert_eq!(v[1].1, Value::Str("machine.slice".into()));
    assert_eq!(v[3].1, Value::U32s(vec![42]));
    assert_eq!(v[8].1, Value::Bool(false));
    let s = path::parse(Some("system.slice:x:system-box.slice"), "c1", false).unwrap();
    let v = unit_properties(&s, "c1", None, &[]);
    assert_eq!(names(&v)[..2], ["Description", "Wants"]);
    assert_eq!(v[1].1, Value::Strs(vec!["system.slice".into()]));
    assert!(!names(&v).contains(&"Delegate") && !names(&v).contains(&"PIDs"));
}

#[test]
fn annotations_become_properties() {
    let a: HashMap<String, String> = [
        ("org.systemd.property.TimeoutStopSec", "uint64 5"),
        ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
        ("org.systemd.property.CPUQuotaPeriodUSec", "@t 20000"),
        ("org.systemd.property.IOAccounting", "false"),
        ("com.example.other", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let v = annotation_properties(&a).unwrap();
    assert_eq!(
        v,
        vec![
            p("CPUQuotaPeriodUSec", Value::U64(20000)),
            p("CollectMode", Value::Str("inactive-or-failed".into())),
            p("IOAccounting", Value::Bool(false)),
            p("TimeoutStopUSec", Value::U64(5_000_000)),
        ]
    );
    for (k, val, want) in [
        ("org.systemd.property.Ab", "1", "at least 3 ASCII letters"),
        ("org.systemd.property.Foo_Bar", "1", "at least 3 ASCII letters"),
        ("org.systemd.property.TimeoutStopSec", "'x'", "not a number"),
        ("org.systemd.property.Foo", "uint64 -1", "annotations.org.systemd.property.Foo"),
    ] {
        let a: HashMap<String, String> = [(k.to_string(), val.to_string())].into_iter().collect();
        let e = format!("{:#}", annotation_properties(&a).unwrap_err());
        assert!(e.contains(want) && e.contains(k), "{k}={val}: {e}");
    }
}

#[test]
fn gvariant_text() {
    assert_eq!(parse_gvariant("42").unwrap(), Value::I32(42));
    assert_eq!(parse_gvariant("uint32 7").unwrap(), Value::U32(7));
    assert_eq!(parse_gvariant("int64 -7").unwrap(), Value::I64(-7));
    assert_eq!(parse_gvariant("1.5").unwrap(), Value::F64(1.5));
    assert_eq!(parse_gvariant("\"a b\"").unwrap(), Value::Str("a b".into()));
    assert_eq!(parse_gvariant("['a.service', 'b.service']").unwrap(), Value::Strs(vec!["a.service".into(), "b.service".into()]));
    assert!(parse_gvariant("uint8 1").is_err());
    assert!(parse_gvariant("'unterminated").is_err());
}

#[test]
fn range_to_bits_as_runc() {
    assert_eq!(range_to_bits("0").unwrap(), vec![1]);
    assert_eq!(range_to_bits("1,3-5").unwrap(), vec![0b0011_1010]);
    assert_eq!(range_to_bits(" 8 , ").unwrap(), vec![0, 1]);
    assert!(range_to_bits("").is_err() && range_to_bits("5-2").is_err() && range_to_bits("x").is_err());
}
