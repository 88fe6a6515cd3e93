//! Device access rules on this host: the v1 devices controller and the cgroup2 eBPF filter.

use super::*;

#[test]
fn v1_devices_restrict_access() {
    if !root() {
        return;
    }
    let mut g = Guard::new();
    let cg = g.cg.clone();
    if cg.v1_dir("devices").is_none() {
        return;
    }
    cg.create().unwrap();
    cg.apply_resources(&res(
        r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}]}"#,
    ))
    .unwrap();
    let list = read(cg.v1_dir("devices").unwrap().join("devices.list"));
    assert_eq!(list, "c 1:5 rwm");
    let pid = g.spawn_gated(
        "head -c1 /dev/zero >/dev/zero || exit 3; cat /dev/null 2>/dev/zero && exit 4; exit 0",
    );
    cg.add_pid(pid).unwrap();
    assert_eq!(g.release(pid), 0);
}

#[test]
fn ebpf_device_filter_on_cgroup2() {
    if !root() {
        return;
    }
    // Needs a cgroup2 directory: pure v2, or the hybrid "unified" one.
    let mut g = Guard::new();
    let cg = g.cg.clone();
    let Some(dir) = cg.v2_dir().map(Path::to_path_buf) else {
        return;
    };
    cg.create().unwrap();
    let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}]"#,
    )
    .unwrap();
    devices::apply_v2(&dir, &rules).unwrap();
    let script =
        "head -c1 /dev/zero >/dev/zero || exit 3; cat /dev/null 2>/dev/zero && exit 4; exit 0";
    let pid = g.spawn_gated(script);
    cg.add_pid(pid).unwrap();
    assert_eq!(
        g.release(pid),
        0,
        "/dev/null must be denied, /dev/zero allowed"
    );
    // Replacing the program: now everything is allowed (the old program must be detached).
    let all: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
        serde_json::from_str(r#"[{"allow":true,"access":"rwm"}]"#).unwrap();
    devices::apply_v2(&dir, &all).unwrap();
    assert_eq!(devices::attached_count(&dir), 1, "the old program is still attached");
    let pid = g.spawn_gated("cat /dev/null || exit 5; exit 0");
    cg.add_pid(pid).unwrap();
    assert_eq!(
        g.release(pid),
        0,
        "after replacing the filter /dev/null is allowed"
    );
}
