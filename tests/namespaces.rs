//! linux.namespaces is applied: new namespaces are new, omitted ones the runtime's, paths
//! joined (user first), user namespaces mapped, time offsets written. Each check looks from
//! inside the container where it can.
mod common;

use common::*;
use serde_json::json;
use std::fs;

/// Lines "name link" for the given namespaces, from inside.
const NS_SCRIPT: &str =
    "for n in pid net ipc uts mnt user cgroup; do echo \"$n $(readlink /proc/self/ns/$n)\"; done";

fn parse_ns(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn namespaces_listed_are_new_others_inherited() {
    let mut c = Ctx::new("ns-default");
    // The default spec of each runtime differs (runc 1.1.5 has no cgroup namespace, newer
    // runtimes do): decide from the config itself.
    let listed: Vec<String> = c.config["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap().replace("network", "net").replace("mount", "mnt"))
        .collect();
    let inside = parse_ns(&c.sh_ok(NS_SCRIPT));
    for ns in ["pid", "net", "ipc", "uts", "mnt"] {
        assert_ne!(
            inside[ns],
            ns_link("self", ns),
            "{ns} namespace not new: {inside:?}"
        );
    }
    for ns in ["user", "cgroup"] {
        if listed.iter().any(|l| l == ns) {
            assert_ne!(inside[ns], ns_link("self", ns), "{ns} namespace not new: {inside:?}");
            continue;
        }
        // not in the config: must be the runtime's own
        assert_eq!(
            inside[ns],
            ns_link("self", ns),
            "{ns} namespace not inherited: {inside:?}"
        );
    }
}

/// A new network namespace is the container's alone (only `lo` in it), while the runtime's
/// hooks stay in the runtime's: bulkhead makes the namespace ahead on a thread and stands in
/// it only for the init's clone (process::netns); a second container gets another one.
/// The first stays created (its init holding the namespace) while the second runs: a freed
/// namespace's inode number is reused, so two that never lived at once may show the same.
#[test]
fn new_network_namespace_is_fresh_and_hooks_stay_outside() {
    let mut c = Ctx::new("ns-net-fresh");
    let out = c.out.to_str().unwrap().to_string();
    let hook = |name: &str| json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("readlink /proc/self/ns/net > {out}/{name}")], "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}]);
    c.config["hooks"] = json!({"createRuntime": hook("createRuntime"), "prestart": hook("prestart")});
    c.create();
    let pid = c.pid().to_string();
    let net = ns_link(&pid, "net");
    assert_ne!(net, ns_link("self", "net"), "not a new network namespace");
    let dev = fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap();
    let devices: Vec<&str> = dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect();
    assert_eq!(devices, ["lo"], "devices in the new network namespace: {dev}");
    for name in ["createRuntime", "prestart"] {
        let seen = fs::read_to_string(c.out.join(name)).unwrap_or_else(|e| panic!("{name} hook did not run: {e}"));
        assert_eq!(seen.trim(), ns_link("self", "net"), "{name} hook ran outside the runtime's network namespace");
    }
    let second = Ctx::new("ns-net-fresh-second").sh_ok("readlink /proc/self/ns/net");
    assert_eq!(ns_link(&pid, "net"), net, "the first container's init is gone");
    assert_ne!(second.trim(), net, "two containers in one network namespace");
    assert_ne!(second.trim(), ns_link("self", "net"));
}

#[test]
fn omitted_namespaces_are_shared_with_host() {
    let mut c = Ctx::new("ns-omitted");
    c.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}]);
    c.config.as_object_mut().unwrap().remove("hostname");
    let inside = parse_ns(&c.sh_ok(NS_SCRIPT));
    for ns in ["net", "ipc", "uts"] {
        assert_eq!(
            inside[ns],
            ns_link("self", ns),
            "{ns} should be the host's: {inside:?}"
        );
    }
    assert_ne!(inside["pid"], ns_link("self", "pid"));
}

#[test]
fn join_namespace_by_path() {
    let mut c = Ctx::new("ns-join");
    let holder = c.spawn_ns_holder("net", "net");
    let target = ns_link(&holder.to_string(), "net");
    assert_ne!(target, ns_link("self", "net"));
    for ns in c.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(format!("/proc/{holder}/ns/net"));
        }
    }
    let inside = parse_ns(&c.sh_ok(NS_SCRIPT));
    assert_eq!(inside["net"], target, "did not join the given netns");
}

/// A new user namespace with container root at host `uid`:`gid` (65536 ids each); as for any
/// userns container, the rootfs belongs to the mapped root and the path to it is searchable.
fn new_userns(c: &mut Ctx, uid: u32, gid: u32) {
    use std::os::unix::fs::PermissionsExt;
    push(c, "/linux/namespaces", json!({"type": "user"}));
    c.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 65536}]);
    c.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 65536}]);
    lchown_tree(&c.rootfs, uid, gid);
    fs::set_permissions(&c.dir, fs::Permissions::from_mode(0o755)).unwrap();
}

/// As runc (Go's zero value): `"path": ""` is no path, i.e. a new namespace.
#[test]
fn empty_namespace_path_means_new() {
    let mut c = Ctx::new("ns-empty-path");
    for ns in c.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!("");
        }
    }
    let inside = parse_ns(&c.sh_ok(NS_SCRIPT));
    assert_ne!(inside["net"], ns_link("self", "net"), "{inside:?}");
}

/// A second container joins the first one's user namespace (and its network namespace, owned
/// by that user namespace) by path, as runc does for pods sharing a userns: the user namespace
/// is joined first, then the others; the init still lands in its own cgroup.
#[test]
fn join_another_containers_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let mut a = Ctx::new("userns-owner");
    new_userns(&mut a, 300000, 300000);
    a.create();
    let owner = a.pid();

    let mut b = Ctx::new("userns-joiner");
    lchown_tree(&b.rootfs, 300000, 300000);
    fs::set_permissions(&b.dir, fs::Permissions::from_mode(0o755)).unwrap();
    push(&mut b, "/linux/namespaces", json!({"type": "user", "path": format!("/proc/{owner}/ns/user")}));
    // No cgroup namespace: /proc/self/cgroup then shows where the init landed.
    b.config["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "cgroup");
    for ns in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(format!("/proc/{owner}/ns/net"));
        }
    }
    let o = b.sh("readlink /proc/self/ns/user; readlink /proc/self/ns/net; cat /proc/self/uid_map; cat /proc/self/cgroup");
    o.assert_ok();
    assert!(o.stdout.contains(&ns_link(&owner.to_string(), "user")), "{o}");
    assert!(o.stdout.contains(&ns_link(&owner.to_string(), "net")), "{o}");
    assert!(o.stdout.contains("300000"), "{o}");
    assert!(o.stdout.lines().any(|l| l.contains(":pids:") && l.ends_with(&b.cgroup_path)) || o.stdout.contains(&format!("0::{}", b.cgroup_path)), "{o}");
    a.delete(true);
}

fn lchown_tree(p: &std::path::Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            lchown_tree(&e.unwrap().path(), uid, gid);
        }
    }
}

#[test]
fn user_namespace_with_mappings() {
    let mut c = Ctx::new("userns");
    new_userns(&mut c, 100000, 200000);
    let out = c.sh_ok(
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c 'bin %u:%g' /bin/busybox; \
         stat -c 'out %u:%g' /out; readlink /proc/self/ns/user",
    );
    let rows: Vec<Vec<&str>> = out
        .lines()
        .take(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["0", "100000", "65536"], "{out}");
    assert_eq!(rows[1], ["0", "200000", "65536"], "{out}");
    assert_eq!(out.lines().nth(2), Some("0"), "{out}");
    // host 100000:200000 is root inside; host root is unmapped and shows as the overflow id
    assert!(out.contains("bin 0:0"), "{out}");
    assert!(out.contains("out 65534:65534"), "{out}");
    assert!(
        !out.contains(&ns_link("self", "user")),
        "user ns not new: {out}"
    );
}

#[test]
fn time_namespace_with_offsets() {
    // runc 1.1.5 has no time namespace support; the spec (1.1) does.
    if is_runc() {
        return;
    }
    let mut c = Ctx::new("timens");
    c.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    c.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 864000, "nanosecs": 0}});
    let host_uptime: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split(' ').next().unwrap().parse().unwrap();
    let out = c.sh_ok("readlink /proc/self/ns/time; cut -d' ' -f1 /proc/uptime");
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], ns_link("self", "time"), "time namespace not new: {out}");
    let inside: f64 = lines[1].parse().unwrap();
    // Ten days ahead of the host, give or take the seconds the test took.
    assert!(inside - host_uptime > 864000.0 - 60.0 && inside - host_uptime < 864000.0 + 60.0, "{out} vs host {host_uptime}");
}
