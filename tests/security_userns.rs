//! User namespaces as root (several ranges, mounts a user namespace may not make, idmapped
//! bind mounts) and rootless as a real unprivileged user made for the test: `spec --rootless`,
//! the state-root error, `kill --all` without a cgroup, newuidmap ranges.

mod sec_common;

use sec_common::*;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// User namespaces and rootless.
// ---------------------------------------------------------------------------------------------

/// As root: several ranges in both maps, written by the parent in one write each; setgroups
/// stays "allow", so additionalGids apply; ids inside map to the right host ids.
#[test]
fn userns_several_ranges_written_by_parent() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("userns");
    let mut cfg = ctx.config();
    cfg["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 700000, "size": 1000}, {"containerID": 1000, "hostID": 800000, "size": 10}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 700000, "size": 1000}, {"containerID": 1000, "hostID": 800000, "size": 10}]);
    cfg["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [5, 1003]});
    cfg["root"]["readonly"] = json!(false);
    let chown_caps = json!(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]);
    cfg["process"]["capabilities"] = json!({"bounding": chown_caps, "effective": chown_caps, "permitted": chown_caps});

    chmod(&ctx.rootfs.join("tmp"), 0o1777);
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -G; touch /tmp/a && chown 1005:1001 /tmp/a"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let words: Vec<&str> = o.stdout.split_whitespace().collect();
    assert_eq!(&words[..6], ["0", "700000", "1000", "1000", "800000", "10"], "{}", o.stdout);
    assert_eq!(&words[6..12], ["0", "700000", "1000", "1000", "800000", "10"], "{}", o.stdout);
    assert_eq!(words[12], "allow");
    assert_eq!(&words[13..], ["0", "5", "1003"], "{}", o.stdout);
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(ctx.rootfs.join("tmp/a")).unwrap();
    // 1005 is in the second range (800000 + 5), 1001 too (800000 + 1).
    assert_eq!((m.uid(), m.gid()), (800005, 800001), "ids map to host ids");
}

/// Prepares a bundle owned by `u` from a `bulkhead spec --rootless` run as that user, in a
/// directory the user can reach. Returns the binary path the user runs.
fn rootless_bundle(ctx: &Ctx, u: &TestUser) -> std::path::PathBuf {
    chmod(ctx.tmp.path(), 0o755);
    std::fs::remove_file(ctx.bundle.join("config.json")).unwrap();
    std::fs::create_dir_all(&ctx.root).unwrap();
    chown_r(&ctx.bundle, u.uid, u.gid);
    chown_r(&ctx.root, u.uid, u.gid);
    let o = u.run(Path::new(BIN), &["spec", "--rootless"], &ctx.bundle);
    assert!(o.ok(), "spec --rootless as {}: {o:?}", u.name);
    Path::new(BIN).to_path_buf()
}

/// `spec --rootless`, run by a real unprivileged user: the container's root is that user.
#[test]
fn rootless_spec_runs_as_unprivileged_user() {
    if skip() {
        return;
    }
    let Some(u) = TestUser::new() else {
        eprintln!("skipped: useradd failed");
        return;
    };
    let ctx = Ctx::new("rootless");
    let bin = rootless_bundle(&ctx, &u);
    let mut cfg = ctx.config();
    assert_eq!(cfg["linux"]["uidMappings"][0]["hostID"], json!(u.uid), "{cfg}");
    cfg["process"]["terminal"] = json!(false);
    cfg["root"]["readonly"] = json!(false);
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "id -u; cat /proc/self/uid_map; cat /proc/self/setgroups; touch /root/f"]);
    let o = u.run(&bin, &["--root", ctx.root.to_str().unwrap(), "run", "--bundle", ctx.bundle.to_str().unwrap(), &id], &ctx.bundle);
    assert!(o.ok(), "{o:?}");
    let w: Vec<&str> = o.stdout.split_whitespace().collect();
    assert_eq!(w, ["0", "0", &u.uid.to_string(), "1", "deny"], "{o:?}");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(ctx.rootfs.join("root/f")).unwrap().uid(), u.uid, "container root is the user");
    // No cgroup could be made: a warning, not an error.
    assert!(o.stderr.contains("rootless") || o.stderr.is_empty(), "{o:?}");
}

/// A rootless user with neither XDG_RUNTIME_DIR nor --root: the error names the state path
/// that is not writable and what to do about it, not a bare EACCES.
#[test]
fn rootless_state_root_error_says_what_to_do() {
    if skip() {
        return;
    }
    let Some(u) = TestUser::new() else {
        eprintln!("skipped: useradd failed");
        return;
    };
    let ctx = Ctx::new("rlroot");
    let bin = rootless_bundle(&ctx, &u);
    let id = ctx.new_id();
    let o = u.run(&bin, &["run", "--bundle", ctx.bundle.to_str().unwrap(), &id], &ctx.bundle);
    assert!(!o.ok(), "{o:?}");
    for want in ["/run/bulkhead", "not writable by uid", "set XDG_RUNTIME_DIR", "--root"] {
        assert!(o.stderr.contains(want), "{want:?} not in {:?}", o.stderr);
    }
}

/// Rootless without a delegated cgroup: `kill --all` still reaches the container through its
/// init (as runc), instead of succeeding without signalling anything.
#[test]
fn rootless_kill_all_without_cgroup_signals_the_init() {
    if skip() {
        return;
    }
    let Some(u) = TestUser::new() else {
        eprintln!("skipped: useradd failed");
        return;
    };
    let ctx = Ctx::new("rlkill");
    let bin = rootless_bundle(&ctx, &u);
    let mut cfg = ctx.config();
    cfg["process"]["terminal"] = json!(false);
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sleep", "1000"]);
    let (root, bundle) = (ctx.root.to_str().unwrap(), ctx.bundle.to_str().unwrap());
    let o = u.run(&bin, &["--root", root, "run", "-d", "--bundle", bundle, &id], &ctx.bundle);
    assert!(o.ok(), "{o:?}");
    let o = u.run(&bin, &["--root", root, "kill", "--all", &id, "KILL"], &ctx.bundle);
    assert!(o.ok(), "{o:?}");
    assert!(ctx.wait_stopped(&id, Duration::from_secs(10)), "kill --all KILL left the container running");
}

/// Several ranges as an unprivileged user go through newuidmap/newgidmap (/etc/subuid).
#[test]
fn rootless_several_ranges_via_newuidmap() {
    if skip() {
        return;
    }
    if !Path::new("/usr/bin/newuidmap").exists() {
        eprintln!("skipped: newuidmap missing (apt-get install uidmap)");
        return;
    }
    let Some(u) = TestUser::new() else {
        eprintln!("skipped: useradd failed");
        return;
    };
    let (Some((sub_u, nu)), Some((sub_g, ng))) = (u.subids("/etc/subuid"), u.subids("/etc/subgid")) else {
        eprintln!("skipped: useradd made no /etc/subuid entry for {}", u.name);
        return;
    };
    let ctx = Ctx::new("rlmaps");
    let bin = rootless_bundle(&ctx, &u);
    let mut cfg = ctx.config();
    cfg["process"]["terminal"] = json!(false);
    cfg["root"]["readonly"] = json!(false);
    let chown_caps = json!(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"]);
    cfg["process"]["capabilities"] = json!({"bounding": chown_caps, "effective": chown_caps, "permitted": chown_caps});
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": u.uid, "size": 1}, {"containerID": 1, "hostID": sub_u, "size": nu}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": u.gid, "size": 1}, {"containerID": 1, "hostID": sub_g, "size": ng}]);
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "cat /proc/self/uid_map | wc -l; touch /root/g && chown 1000:1000 /root/g"]);
    let o = u.run(&bin, &["--root", ctx.root.to_str().unwrap(), "run", "--bundle", ctx.bundle.to_str().unwrap(), &id], &ctx.bundle);
    assert!(o.ok(), "{o:?}");
    assert_eq!(o.stdout.trim(), "2");
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(ctx.rootfs.join("root/g")).unwrap();
    assert_eq!((m.uid(), m.gid()), (sub_u + 999, sub_g + 999));

    // Ranges not delegated to the user are refused by newuidmap, with the field named.
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": u.uid, "size": 1}, {"containerID": 1, "hostID": 1, "size": 10}]);
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = u.run(&bin, &["--root", ctx.root.to_str().unwrap(), "run", "--bundle", ctx.bundle.to_str().unwrap(), &id], &ctx.bundle);
    assert!(!o.ok() && o.stderr.contains("linux.uidMappings") && o.stderr.contains("newuidmap"), "{o:?}");
}

/// Mounts a user namespace may not make: a filesystem type that is not userns-mountable is
/// refused with the entry named; so is a bind whose options clear flags the kernel locked
/// from the host mount (runc 1.5's words; tests/parity.rs has the flags kept when not asked).
#[test]
fn userns_forbidden_mounts_are_refused_clearly() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("usernsmnt");
    std::fs::create_dir(ctx.rootfs.join("mnt")).unwrap();
    let mut cfg = ctx.config();
    cfg["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 700000, "size": 65536}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 700000, "size": 65536}]);
    let base = cfg.clone();
    cfg["mounts"].as_array_mut().unwrap().push(mount_entry("/mnt", "debugfs", "debugfs", &[]));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("mounts[") && o.stderr.contains("/mnt") && o.stderr.contains("debugfs"), "{o:?}");

    // A source mount with ro,nosuid,nodev,noexec (a tmpfs this test mounts on the host) bound
    // with "rw,suid,dev,exec": in a user namespace those flags are locked, and a mount that
    // silently kept them would not be the one asked for (runc 1.5 refuses it too).
    let src = HostMount::tmpfs(&ctx.path("locked"), nix::mount::MsFlags::MS_RDONLY | nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOEXEC);
    let mut cfg = base;
    cfg["mounts"].as_array_mut().unwrap().push(mount_entry("/mnt", "bind", src.0.to_str().unwrap(), &["rbind", "suid", "dev", "exec", "rw"]));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("cannot clear locked flags MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC"), "{o:?}");
    assert!(o.stderr.contains("mounts[") && o.stderr.contains("/mnt"), "the entry is named: {o:?}");
}

// ---------------------------------------------------------------------------------------------
// Idmapped mounts.
// ---------------------------------------------------------------------------------------------

/// mounts[].uidMappings/gidMappings: files owned by containerID on disk appear as hostID.
/// Without a user namespace the container sees the host ids; with one that maps 0 to the
/// same hostID, the container's root owns the files and what it creates lands as 0 on disk.
#[test]
fn idmapped_bind_mounts() {
    if skip() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let ctx = Ctx::new("idmap");
    let data = ctx.path("data");
    std::fs::create_dir(&data).unwrap();
    chmod(&data, 0o755);
    std::fs::write(data.join("f"), "x").unwrap();
    std::os::unix::fs::chown(data.join("f"), Some(0), Some(0)).unwrap();
    let idm = |dest: &str| {
        let mut m = mount_entry(dest, "bind", data.to_str().unwrap(), &["rbind", "rw"]);
        m["uidMappings"] = json!([{"containerID": 0, "hostID": 700000, "size": 65536}]);
        m["gidMappings"] = json!([{"containerID": 0, "hostID": 700000, "size": 65536}]);
        m
    };
    std::fs::create_dir(ctx.rootfs.join("mnt")).unwrap();
    let base = ctx.config();

    let mut cfg = base.clone();
    cfg["mounts"].as_array_mut().unwrap().push(idm("/mnt"));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["stat", "-c", "%u:%g", "/mnt/f"]);
    let o = ctx.run(&id);
    if o.stderr.contains("not support idmapped") || o.stderr.contains("older than 5.12") {
        eprintln!("skipped: {}", o.stderr);
        return;
    }
    assert!(o.ok(), "{o:?}");
    assert_eq!(o.stdout.trim(), "700000:700000");

    let mut cfg = base;
    cfg["root"]["readonly"] = json!(false);
    cfg["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
    cfg["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 700000, "size": 65536}]);
    cfg["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 700000, "size": 65536}]);
    cfg["mounts"].as_array_mut().unwrap().push(idm("/mnt"));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "stat -c %u:%g /mnt/f; touch /mnt/g"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    assert_eq!(o.stdout.trim(), "0:0");
    let m = std::fs::metadata(data.join("g")).unwrap();
    assert_eq!((m.uid(), m.gid()), (0, 0), "created through the idmapped mount as on-disk 0");
    assert_eq!(std::fs::metadata(data.join("f")).unwrap().uid(), 0, "the source is unchanged");

    // On anything but a bind mount: refused, naming the entry.
    let mut cfg = ctx.config();
    let mut m = idm("/mnt");
    m["type"] = json!("tmpfs");
    m["source"] = json!("tmpfs");
    m["options"] = json!([]);
    cfg["mounts"].as_array_mut().unwrap().push(m);
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("mounts[") && o.stderr.contains("bind"), "{o:?}");
}
