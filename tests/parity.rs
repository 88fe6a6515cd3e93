//! Behaviour runc users notice (issue 15, items 1-10; issue 19), each checked on the same case as
//! runc.
mod common;

use common::*;
use std::fs;
use std::path::PathBuf;

/// Make the test's cgroup directories up front (as a user or an orchestrator would).
fn precreate_cgroup(c: &Ctx) -> Vec<PathBuf> {
    let dirs = cgroup_dirs_for(&c.cgroup_path);
    for d in &dirs {
        fs::create_dir_all(d).unwrap();
    }
    dirs
}

/// Item 5: a pre-existing frozen cgroup (v1 freezer, then the hybrid/v2 cgroup.freeze) makes
/// create fail at once with an error naming it; before, the init was born frozen and create
/// waited forever. The user's cgroup is left as it was.
#[test]
fn create_in_a_frozen_cgroup_fails_at_once() {
    if is_runc() {
        return; // runc 1.1.5 hangs here too (the init is born frozen); newer runc refuses.
    }
    for v2 in [false, true] {
        let c = Ctx::new(if v2 { "frozen-v2" } else { "frozen-v1" });
        let dirs = precreate_cgroup(&c);
        let (file, value) = if v2 { ("cgroup.freeze", "1") } else { ("freezer.state", "FROZEN") };
        let Some(d) = dirs.iter().find(|d| d.join(file).exists()) else { continue };
        fs::write(d.join(file), value).unwrap();
        let o = c.try_create(&[]);
        assert!(!o.timed_out, "create hung on a frozen cgroup:\n{o}");
        o.assert_fail_msg();
        assert!(o.stderr.contains("frozen"), "error does not say frozen:\n{o}");
        assert!(d.exists(), "the pre-existing cgroup {} was removed", d.display());
        assert!(!c.root.join(&c.id).exists());
        let thaw = if v2 { "0" } else { "THAWED" };
        fs::write(d.join(file), thaw).unwrap();
    }
}

fn lchown_tree(p: &std::path::Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            lchown_tree(&e.unwrap().path(), uid, gid);
        }
    }
}

/// A container with its own user namespace: rootfs owned by the mapped root, the path to it
/// searchable (as for any userns container).
fn userns_ctx(name: &str) -> Ctx {
    use std::os::unix::fs::PermissionsExt;
    let mut c = Ctx::new(name);
    c.config["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "user"}));
    c.config["linux"]["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c.config["linux"]["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    lchown_tree(&c.rootfs, 100000, 100000);
    fs::set_permissions(&c.dir, fs::Permissions::from_mode(0o755)).unwrap();
    c
}

/// Item 2: a bind source under a 0700 host directory (a user-namespaced pod's volume): the
/// container's root cannot search that path, so the runtime opens the source for it, as runc.
#[test]
fn userns_bind_source_under_a_private_host_dir() {
    use std::os::unix::fs::PermissionsExt;
    let mut c = userns_ctx("userns-private-src");
    let secret = c.dir.join("secret");
    fs::create_dir_all(secret.join("vol")).unwrap();
    fs::write(secret.join("vol/f"), "reachable\n").unwrap();
    fs::write(secret.join("file"), "a file\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o700)).unwrap();
    for (src, dest) in [("vol", "/vol"), ("file", "/file")] {
        c.config["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": dest, "type": "bind", "source": secret.join(src), "options": ["rbind", "ro"]}));
    }
    let out = c.sh_ok("cat /vol/f /file; touch /vol/x 2>/dev/null && echo writable || echo read-only");
    assert_eq!(out, "reachable\na file\nread-only\n");
}

/// Issue 19, item 8: a bind source inside the rootfs is looked up once the entries before it
/// are mounted (runc 1.5.1: mount order matters). /data is first bound from a host dir; a
/// later bind of `<rootfs>/data/...` must get that dir's file, not the image's, whoever opens
/// the source: the init itself, the runtime for an init in a user namespace that cannot reach
/// it (a 0700 directory), the runtime as an idmapped mount (owned by the container's root).
#[test]
fn bind_source_inside_an_earlier_mount_sees_that_mount() {
    use std::os::unix::fs::PermissionsExt;
    if runc_older_than(1, 2) {
        return; // runc 1.1.5: no idmapped mounts, and its mount fds are opened before any mount
    }
    let mut wrong = Vec::new();
    for (userns, how) in [(false, "plain"), (true, "plain"), (true, "private"), (true, "idmap")] {
        let mut c = if userns { userns_ctx(&format!("order-{how}")) } else { Ctx::new("order-plain") };
        let earlier = c.dir.join("earlier");
        fs::create_dir_all(earlier.join("private")).unwrap();
        fs::create_dir_all(c.rootfs.join("data/private")).unwrap();
        for d in [&earlier, &c.rootfs.join("data")] {
            let text = if d == &earlier { "from-earlier-mount\n" } else { "from-image\n" };
            fs::write(d.join("marker"), text).unwrap();
            fs::write(d.join("private/marker"), text).unwrap();
        }
        fs::set_permissions(earlier.join("private"), fs::Permissions::from_mode(0o700)).unwrap();
        let src = c.rootfs.join(if how == "private" { "data/private/marker" } else { "data/marker" });
        let opts = if how == "idmap" { serde_json::json!(["bind", "idmap"]) } else { serde_json::json!(["bind"]) };
        let mounts = c.config["mounts"].as_array_mut().unwrap();
        mounts.push(serde_json::json!({"destination": "/data", "type": "bind", "source": earlier, "options": ["rbind"]}));
        mounts.push(serde_json::json!({"destination": "/mnt/marker", "type": "bind", "source": src, "options": opts}));
        let out = c.sh_ok("cat /mnt/marker; stat -c %u /mnt/marker");
        let owner = if how == "idmap" { "0" } else if userns { "65534" } else { "0" };
        if out != format!("from-earlier-mount\n{owner}\n") {
            wrong.push(format!("{how} bind, user namespace {userns}: {out:?}, want from-earlier-mount, owner {owner}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Issue 19, item 8: a bind's flag options are the mount's flags, as runc 1.5 ("mount --bind
/// -o ..."): "rw" alone makes a bind of a ro,nosuid,nodev,noexec host mount read-write and
/// clears the rest; no flag option keeps the source's. In a user namespace the kernel locks
/// the source's flags: those the options leave alone are kept (no EPERM), an atime mode other
/// than the source's is refused in runc's words. Expected: what runc 1.5.1 printed.
#[test]
fn bind_flag_options_as_runc_1_5() {
    if runc_older_than(1, 2) {
        return; // runc 1.1.5 leaves a bind's flags alone unless an option sets one
    }
    let keep = "ro,nosuid,nodev,noexec,noatime";
    let cases: [(bool, &[&str], Result<&str, &str>); 6] = [
        (false, &["rbind", "rw"], Ok("rw,noatime")),
        (false, &["rbind", "nodev"], Ok("rw,nodev,noatime")),
        (false, &["rbind"], Ok(keep)),
        (true, &["rbind", "ro"], Ok(keep)),
        (true, &["bind", "noatime", "nodev"], Ok(keep)),
        (true, &["bind", "relatime"], Err("cannot change locked atime flags MS_NOATIME")),
    ];
    let mut wrong = Vec::new();
    for (userns, opts, want) in cases {
        let mut c = if userns { userns_ctx("bind-flags-userns") } else { Ctx::new("bind-flags") };
        let src = c.dir.join("src");
        fs::create_dir_all(&src).unwrap();
        // Under the test's dir: Ctx's Drop detaches it.
        let o = exec(std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m,ro,nosuid,nodev,noexec,noatime", "tmpfs"]).arg(&src), CMD_TIMEOUT);
        o.assert_ok();
        c.config["mounts"].as_array_mut().unwrap().push(serde_json::json!({"destination": "/mnt", "type": "bind", "source": src, "options": opts}));
        let o = c.sh("grep ' /mnt ' /proc/self/mountinfo | cut -d' ' -f6");
        let got = if o.ok() { Ok(o.stdout.trim().to_string()) } else { Err(o.stderr.clone()) };
        let fine = match (&got, want) {
            (Ok(g), Ok(w)) => g == w,
            (Err(e), Err(w)) => e.contains(w),
            _ => false,
        };
        if !fine {
            wrong.push(format!("{opts:?}, user namespace {userns}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// containerd's /dev/shm of a user-namespaced pod: a bind of the sandbox's tmpfs (nosuid,
/// nodev,noexec, the kernel's default relatime) with `rw`. The remount as asked is refused in
/// the user namespace; the retry must keep the source's locked flags, relatime included (a
/// flag reader that lost ST_RELATIME re-applied strictatime and got EPERM again).
#[test]
fn bind_rw_of_a_relatime_source_in_a_user_namespace() {
    if runc_older_than(1, 2) {
        return; // runc 1.1.5 leaves a bind's flags alone unless an option sets one
    }
    let mut c = userns_ctx("bind-relatime");
    let src = c.dir.join("shm");
    fs::create_dir_all(&src).unwrap();
    let o = exec(std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m,nosuid,nodev,noexec,mode=1777", "shm"]).arg(&src), CMD_TIMEOUT);
    o.assert_ok();
    c.config["mounts"].as_array_mut().unwrap().push(serde_json::json!({"destination": "/mnt", "type": "bind", "source": src, "options": ["rbind", "rw"]}));
    let out = c.sh_ok("grep ' /mnt ' /proc/self/mountinfo | cut -d' ' -f6");
    assert_eq!(out.trim(), "rw,nosuid,nodev,noexec,relatime");
}

/// Item 3: `/dev` read-only with mounts below it (/dev/pts, /dev/shm, /dev/mqueue in the
/// default spec): the mountpoints and device nodes are made first, the read-only remount
/// comes last (as runc's finalizeRootfs); the same for any read-only tmpfs.
#[test]
fn readonly_dev_with_mounts_below_it() {
    let mut c = Ctx::new("ro-dev");
    let mounts = c.config["mounts"].as_array_mut().unwrap();
    let dev = mounts.iter_mut().find(|m| m["destination"] == "/dev").expect("spec mounts /dev");
    dev["options"].as_array_mut().unwrap().push(serde_json::json!("ro"));
    mounts.push(serde_json::json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "nosuid"]}));
    mounts.push(serde_json::json!({"destination": "/scratch/sub", "type": "tmpfs", "source": "tmpfs"}));
    let out = c.sh_ok(
        "echo x > /dev/null && echo null-ok; touch /dev/x 2>/dev/null || echo dev-ro; \
         touch /scratch/x 2>/dev/null || echo scratch-ro; touch /scratch/sub/x && echo sub-rw; \
         grep -c ' /dev/pts \\| /dev/shm \\| /dev/mqueue ' /proc/mounts",
    );
    assert_eq!(out, "null-ok\ndev-ro\nscratch-ro\nsub-rw\n3\n");
}

/// Item 9: signal 0 probes (as kill(2)): valid for `kill` and `kill --all`, sends nothing.
#[test]
fn kill_signal_zero_probes() {
    let c = Ctx::new("kill-zero");
    c.create();
    c.start();
    c.kill(Some("0")).assert_ok();
    c.cmd(&["kill", "--all", &c.id, "0"]).assert_ok();
    assert_eq!(c.status(), "running");
    c.kill(Some("KILL")).assert_ok();
    c.wait_status("stopped");
    c.kill(Some("0")).assert_fail_msg();
}

/// Item 9: `ps` of a stopped container lists nothing and exits 0 (runc prints the table's
/// header; JSON is an empty list where runc prints `null`).
#[test]
fn ps_of_a_stopped_container_is_empty() {
    let mut c = Ctx::new("ps-stopped");
    c.set_args(&["true"]);
    c.create();
    c.start();
    c.wait_status("stopped");
    let table = c.cmd(&["ps", &c.id]);
    table.assert_ok();
    assert!(table.stdout.lines().count() <= 1 && table.stdout.contains("PID"), "{table}");
    let json = c.cmd(&["ps", "--format", "json", &c.id]);
    json.assert_ok();
    if !is_runc() {
        assert_eq!(json.stdout.trim(), "[]");
    }
}

/// Item 9: `--debug` logs each step of create, so a person can follow where it stands.
#[test]
fn debug_logs_each_create_step() {
    let c = Ctx::new("debug-create");
    c.write_config();
    let o = exec(c.rt().arg("--debug").args(["create", "--bundle", c.bundle_str(), &c.id]), CMD_TIMEOUT);
    o.assert_ok();
    let debug_lines = o.stderr.lines().filter(|l| l.contains("level=debug")).count();
    if !is_runc() {
        for step in ["claimed", "cgroup", "init", "state saved"] {
            assert!(o.stderr.contains(step), "no debug line about {step:?}:\n{o}");
        }
    }
    assert!(debug_lines >= 4, "{o}");
}

/// The cgroup namespace is made once the init is in its cgroup, also when the runtime's
/// "joined" reached the init while it waited for a mount source (a bind under a 0700 host
/// dir in a user namespace): on a v1/hybrid host it was then skipped, and the container saw
/// its cgroup's host path instead of `/`.
#[test]
fn cgroup_namespace_after_a_requested_mount_source() {
    use std::os::unix::fs::PermissionsExt;
    let mut c = userns_ctx("cgns-after-source");
    let ns = c.config["linux"]["namespaces"].as_array_mut().unwrap();
    if !ns.iter().any(|n| n["type"] == "cgroup") {
        ns.push(serde_json::json!({"type": "cgroup"}));
    }
    let secret = c.dir.join("secret");
    fs::create_dir_all(secret.join("vol")).unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o700)).unwrap();
    c.config["mounts"].as_array_mut().unwrap().push(serde_json::json!({
        "destination": "/vol", "type": "bind", "source": secret.join("vol"), "options": ["rbind"]}));
    let out = c.sh_ok("cat /proc/self/cgroup");
    let outside: Vec<&str> = out.lines().filter(|l| !l.ends_with(":/")).collect();
    assert!(outside.is_empty(), "cgroups seen outside the namespace's root: {outside:?}\n{out}");
}
