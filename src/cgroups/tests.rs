//! Unit tests of the interface and the cgroupfs driver that need no root.

use super::files::V1Files;
use super::resources::Files;
use super::*;
use std::fs;

const COMOUNT: &str = "\
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 30 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";

#[test]
fn state_json_round_trip() {
    let cg = Cgroup::resolve_from(COMOUNT, "0::/\n", Some("/a/b"), "b").unwrap();
    let j = serde_json::to_value(&cg).unwrap();
    assert_eq!(j["layout"], "hybrid");
    assert_eq!(j["path"], "/a/b");
    let back: Cgroup = serde_json::from_value(j).unwrap();
    assert_eq!(back.hierarchies(), cg.hierarchies());
    assert_eq!(back.path(), "/a/b");
    assert_eq!(back.layout(), Layout::Hybrid);
}

/// Neither driver's fields: refused with the words of serde's untagged derive; a driver's
/// object read from a string and from a `Value` alike.
#[test]
fn state_json_of_no_driver_is_refused() {
    let e = serde_json::from_str::<Cgroup>(r#"{"unit": 5, "layout": "hybrid"}"#).unwrap_err().to_string();
    assert!(e.contains("did not match any variant of untagged enum Cgroup"), "{e}");
    let cg = Cgroup::resolve_from(COMOUNT, "0::/\n", Some("/a/b"), "b").unwrap();
    let text = serde_json::to_string(&cg).unwrap();
    let from_str: Cgroup = serde_json::from_str(&text).unwrap();
    let from_value: Cgroup = serde_json::from_value(serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(from_str.hierarchies(), cg.hierarchies());
    assert_eq!(from_value.hierarchies(), cg.hierarchies());
}

#[test]
fn mount_sources_and_symlinks() {
    let cg = Cgroup::resolve_from(COMOUNT, "0::/\n", Some("/a"), "a").unwrap();
    assert_eq!(
        cg.mount_sources(),
        vec![
            (
                "cpu,cpuacct".to_string(),
                PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a")
            ),
            (
                "memory".to_string(),
                PathBuf::from("/sys/fs/cgroup/memory/a")
            ),
            (
                "systemd".to_string(),
                PathBuf::from("/sys/fs/cgroup/systemd/a")
            ),
            (
                "unified".to_string(),
                PathBuf::from("/sys/fs/cgroup/unified/a")
            ),
        ]
    );
    assert_eq!(
        cg.mount_symlinks(),
        vec![
            ("cpu".to_string(), "cpu,cpuacct".to_string()),
            ("cpuacct".to_string(), "cpu,cpuacct".to_string())
        ]
    );
    assert_eq!(
        cg.v1_dir("cpuacct"),
        Some(Path::new("/sys/fs/cgroup/cpu,cpuacct/a"))
    );
    assert_eq!(cg.v2_dir(), Some(Path::new("/sys/fs/cgroup/unified/a")));
    let v2 = Cgroup::resolve_from(
        "1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        "0::/\n",
        None,
        "c",
    )
    .unwrap();
    assert_eq!(
        v2.mount_sources(),
        vec![(String::new(), PathBuf::from("/sys/fs/cgroup/c"))]
    );
    assert!(v2.mount_symlinks().is_empty());
}

#[test]
fn v1_files_route_controllers_to_their_hierarchy() {
    let cg = Cgroup::resolve_from(COMOUNT, "0::/\n", Some("/a"), "a").unwrap();
    let f = V1Files::new(cg.hierarchies());
    assert!(f.has_controller("cpuacct") && f.has_controller("memory"));
    assert!(!f.has_controller("pids") && !f.has_controller("systemd"));
    assert_eq!(
        f.path("cpu", "cpu.shares"),
        PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a/cpu.shares")
    );
    assert_eq!(
        f.path("pids", "pids.max"),
        PathBuf::from("<no pids hierarchy>/pids.max")
    );
}

#[test]
fn unified_map_rejected_on_pure_v1() {
    let mi = "35 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
    let cg =
        Cgroup::resolve_from(mi, "4:memory:/\n", Some("/nonexistent-bulkhead-x"), "a").unwrap();
    assert_eq!(cg.layout(), Layout::V1);
    let r: LinuxResources = serde_json::from_str(r#"{"unified":{"memory.max":"1"}}"#).unwrap();
    let e = cg.apply_resources(&r).unwrap_err().to_string();
    assert!(e.contains("cannot use unified on cgroup v1"), "{e}");
}
#[test]
fn v2_create_enables_missing_controllers_in_ancestors() {
    // A fake cgroup2 tree in a temporary directory (plain files stand in for cgroupfs).
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    fs::write(root.join("cgroup.subtree_control"), "memory\n").unwrap();
    let mi = format!("1 0 0:1 / {} rw - cgroup2 cgroup2 rw\n", root.display());
    let cg = Cgroup::resolve_from(&mi, "0::/\n", Some("/a/b"), "b").unwrap();
    assert_eq!(cg.layout(), Layout::Unified);
    cg.create().unwrap();
    assert!(root.join("a/b").is_dir());
    // only the missing ones are asked for; the leaf's own subtree_control is untouched
    assert_eq!(
        fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
        "+cpu +pids"
    );
    assert!(!root.join("a/b/cgroup.subtree_control").exists());
    cg.create().unwrap(); // idempotent
    cg.destroy().unwrap();
    assert!(!root.join("a/b").exists() && root.join("a").exists());
}
#[test]
fn v2_create_leaves_a_populated_parent_alone() {
    // A cgroup holding processes: enabling (threaded) controllers there would make its new
    // children "domain invalid" (EOPNOTSUPP when the init joins).
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
    fs::write(root.join("cgroup.subtree_control"), "cpu memory pids\n").unwrap();
    let leaf = root.join("caller");
    fs::create_dir(&leaf).unwrap();
    for (f, v) in [
        ("cgroup.type", "domain\n"),
        ("cgroup.procs", "4242\n"),
        ("cgroup.controllers", "cpu memory pids\n"),
        ("cgroup.subtree_control", ""),
    ] {
        fs::write(leaf.join(f), v).unwrap();
    }
    let mi = format!("1 0 0:1 / {} rw - cgroup2 cgroup2 rw\n", root.display());
    // (v2 puts the default cgroup next to the caller's, in its parent: that parent holds
    // processes here, as a caller's own leaf does with a relative path under it)
    let cg = Cgroup::resolve_from(&mi, "0::/caller/me\n", None, "c1").unwrap();
    cg.create().unwrap();
    assert!(leaf.join("c1").is_dir());
    assert_eq!(fs::read_to_string(leaf.join("cgroup.subtree_control")).unwrap(), "");
    cg.destroy().unwrap();
    // once the leaf is empty, its controllers are enabled as before
    fs::write(leaf.join("cgroup.procs"), "").unwrap();
    cg.create().unwrap();
    assert_eq!(
        fs::read_to_string(leaf.join("cgroup.subtree_control")).unwrap(),
        "+cpu +memory +pids"
    );
    cg.destroy().unwrap();
}
