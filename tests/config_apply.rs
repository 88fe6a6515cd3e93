//! config.json is applied: each check looks from inside the container where it can.
mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::fs;

#[test]
fn hostname_and_domainname() {
    let mut c = Ctx::new("hostname");
    c.config["hostname"] = json!("bh-test-host");
    c.config["domainname"] = json!("bh.example");
    let out = c.sh_ok("hostname; cat /proc/sys/kernel/domainname");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "bh-test-host", "{out}");
    if !is_runc() {
        // runc 1.1.5 ignores "domainname" (support arrived in runc 1.2); the spec has it.
        assert_eq!(lines[1], "bh.example", "{out}");
    }
}

#[test]
fn bind_mounts_rw_ro_and_file() {
    let mut c = Ctx::new("bind-mounts");
    let rw = c.dir.join("rwsrc");
    let ro = c.dir.join("rosrc");
    fs::create_dir_all(&rw).unwrap();
    fs::create_dir_all(&ro).unwrap();
    fs::write(ro.join("rofile"), "ro-content\n").unwrap();
    let file = c.dir.join("single-file");
    fs::write(&file, "file-content\n").unwrap();
    push(
        &mut c,
        "/mounts",
        json!({"destination": "/mnt/rw", "type": "bind", "source": rw, "options": ["rbind", "rw"]}),
    );
    push(
        &mut c,
        "/mounts",
        json!({"destination": "/mnt/ro", "type": "bind", "source": ro, "options": ["rbind", "ro"]}),
    );
    push(
        &mut c,
        "/mounts",
        json!({"destination": "/etc/single", "type": "bind", "source": file, "options": ["bind", "ro"]}),
    );
    assert!(
        !c.rootfs.join("mnt").exists(),
        "destinations must be created by the runtime"
    );
    let out = c.sh_ok(
        "cat /mnt/ro/rofile; echo from-container > /mnt/rw/new && echo rw-ok; \
         touch /mnt/ro/x 2>&1 || echo ro-refused; cat /etc/single; [ -f /etc/single ] && echo is-file",
    );
    assert!(out.contains("ro-content"), "{out}");
    assert!(out.contains("rw-ok"), "{out}");
    assert!(
        out.contains("ro-refused") && out.contains("Read-only file system"),
        "{out}"
    );
    assert!(
        out.contains("file-content") && out.contains("is-file"),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(rw.join("new")).unwrap(),
        "from-container\n"
    );
    assert!(!ro.join("x").exists());
}

#[test]
fn tmpfs_mount_options() {
    let mut c = Ctx::new("tmpfs-opts");
    push(
        &mut c,
        "/mounts",
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=1777"]}),
    );
    let out = c.sh_ok(
        "cat /proc/self/mountinfo > /out/mountinfo; stat -c 'mode %a' /mnt/t; \
         dd if=/dev/zero of=/mnt/t/big bs=1k count=2048 2>/dev/null; echo dd=$?; \
         printf '#!/bin/sh\\necho script-executed\\n' > /mnt/t/s; chmod +x /mnt/t/s; \
         /mnt/t/s 2>/dev/null; echo exec=$?",
    );
    let mi = fs::read_to_string(c.out.join("mountinfo")).unwrap();
    let line = mountinfo_line(&mi, "/mnt/t").unwrap_or_else(|| panic!("no /mnt/t mount:\n{mi}"));
    assert!(line.contains(" - tmpfs "), "{line}");
    let (per, sup) = mount_opts(line);
    for o in ["nosuid", "nodev", "noexec"] {
        assert!(per.iter().any(|p| p == o), "{o} missing: {line}");
    }
    assert!(
        sup.iter().any(|s| s == "size=1024k"),
        "size missing: {line}"
    );
    assert!(out.contains("mode 1777"), "{out}");
    assert!(!out.contains("dd=0"), "2 MiB fit in a 1 MiB tmpfs: {out}");
    assert!(
        !out.contains("script-executed") && !out.contains("exec=0"),
        "noexec ignored: {out}"
    );
}

#[test]
fn root_readonly_flag() {
    let mut c = Ctx::new("root-ro");
    c.config["root"]["readonly"] = json!(true);
    let out = c.sh_ok("touch /newfile 2>&1 || echo refused; touch /out/ok && echo out-ok");
    assert!(
        out.contains("refused") && out.contains("Read-only file system"),
        "{out}"
    );
    assert!(out.contains("out-ok"), "other mounts stay writable: {out}");
    assert!(!c.rootfs.join("newfile").exists());

    c.config["root"]["readonly"] = json!(false);
    let out = c.sh_ok("touch /newfile && echo wrote");
    assert!(out.contains("wrote"), "{out}");
    assert!(c.rootfs.join("newfile").exists());
}

#[test]
fn default_devices() {
    let mut c = Ctx::new("default-devs");
    let out = c.sh_ok(
        "for d in null zero full random urandom tty; do stat -c '%n %F %t:%T %a' /dev/$d; done; \
         echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | od -An -tx1; \
         echo x 2>/dev/null > /dev/full || echo full-refused; head -c 8 /dev/urandom | wc -c",
    );
    for (dev, mm) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        let want = format!("/dev/{dev} character special file {mm} 666");
        assert!(out.lines().any(|l| l == want), "want {want:?} in:\n{out}");
    }
    assert!(out.contains("null-ok"), "{out}");
    assert!(out.contains("00 00 00 00"), "{out}");
    assert!(out.contains("full-refused"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "8"), "{out}");
}

#[test]
fn custom_devices_from_config() {
    let mut c = Ctx::new("linux-devices");
    c.config["linux"]["devices"] = json!([
        {"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1234, "gid": 5678},
        {"path": "/dev/sub/myblk", "type": "b", "major": 7, "minor": 0, "fileMode": 0o600}
    ]);
    let out = c.sh_ok("stat -c '%n %F %t:%T %a %u:%g' /dev/mydev /dev/sub/myblk");
    assert!(
        out.contains("/dev/mydev character special file 1:3 640 1234:5678"),
        "{out}"
    );
    assert!(
        out.contains("/dev/sub/myblk block special file 7:0 600 0:0"),
        "{out}"
    );
}

#[test]
fn device_cgroup_rules() {
    // /dev/loop-control (c 10:237) is not in the default allow list.
    // (`true`, not `:`: a failed redirection on a special builtin exits the shell)
    let script = "if true < /dev/lc 2>/dev/null; then echo opened; else echo denied; fi";
    let mut c = Ctx::new("dev-cgroup-deny");
    c.config["linux"]["devices"] =
        json!([{"path": "/dev/lc", "type": "c", "major": 10, "minor": 237, "fileMode": 0o666}]);
    let out = c.sh_ok(script);
    assert!(
        out.contains("denied"),
        "default rules let the device open: {out}"
    );

    let mut c = Ctx::new("dev-cgroup-allow");
    c.config["linux"]["devices"] =
        json!([{"path": "/dev/lc", "type": "c", "major": 10, "minor": 237, "fileMode": 0o666}]);
    push(
        &mut c,
        "/linux/resources/devices",
        json!({"allow": true, "type": "c", "major": 10, "minor": 237, "access": "rw"}),
    );
    let out = c.sh_ok(script);
    assert!(out.contains("opened"), "allow rule not applied: {out}");
}

#[test]
fn dev_symlinks_and_pts() {
    let mut c = Ctx::new("dev-links");
    let out = c.sh_ok(
        "for l in fd stdin stdout stderr ptmx; do echo \"$l $(readlink /dev/$l)\"; done; \
         grep -E ' /dev/(pts|shm) ' /proc/self/mountinfo; echo via-dev-stdout >> /dev/stdout",
    );
    for want in [
        "fd /proc/self/fd",
        "stdin /proc/self/fd/0",
        "stdout /proc/self/fd/1",
        "stderr /proc/self/fd/2",
    ] {
        assert!(out.lines().any(|l| l == want), "want {want:?}:\n{out}");
    }
    assert!(
        out.lines()
            .any(|l| l == "ptmx pts/ptmx" || l == "ptmx /dev/pts/ptmx"),
        "/dev/ptmx link:\n{out}"
    );
    assert!(
        out.contains(" /dev/pts ") && out.contains(" - devpts "),
        "{out}"
    );
    assert!(out.contains("via-dev-stdout"), "{out}");
}

#[test]
fn masked_paths() {
    let mut c = Ctx::new("masked");
    fs::write(c.rootfs.join("etc/secret"), "s3cret\n").unwrap();
    fs::create_dir_all(c.rootfs.join("secretdir")).unwrap();
    fs::write(c.rootfs.join("secretdir/file"), "hidden\n").unwrap();
    push(&mut c, "/linux/maskedPaths", json!("/etc/secret"));
    push(&mut c, "/linux/maskedPaths", json!("/secretdir"));
    let out = c.sh_ok(
        "echo \"[$(cat /etc/secret)]\"; echo \"n=$(ls -A /secretdir | wc -l)\"; cat /etc/passwd",
    );
    assert!(out.contains("[]"), "masked file readable: {out}");
    assert!(out.contains("n=0"), "masked dir not empty: {out}");
    assert!(!out.contains("s3cret") && !out.contains("hidden"), "{out}");
    assert!(
        out.contains("root:x:0:0"),
        "unmasked files must stay: {out}"
    );
}

/// runc 1.5: a path listed twice is masked once, and masked directories share one read-only
/// tmpfs (one superblock for all: less memory per container).
#[test]
fn masked_paths_deduplicated_and_dirs_share_one_tmpfs() {
    let mut c = Ctx::new("masked-shared");
    for d in ["secret-a", "secret-b", "secret-c"] {
        fs::create_dir_all(c.rootfs.join(d)).unwrap();
    }
    fs::write(c.rootfs.join("etc/secret"), "s3cret\n").unwrap();
    c.config["linux"]["maskedPaths"] = json!(["/secret-a", "/secret-b", "/secret-a/", "/etc/secret", "/etc/secret", "/secret-c"]);
    let out = c.sh_ok("cat /proc/self/mountinfo; touch /secret-b/x 2>/dev/null && echo WRITABLE; true");
    assert!(!out.contains("WRITABLE"), "{out}");
    let at = |target: &str| out.lines().filter(|l| l.split_whitespace().nth(4) == Some(target)).collect::<Vec<_>>();
    for t in ["/secret-a", "/secret-b", "/secret-c", "/etc/secret"] {
        assert_eq!(at(t).len(), 1, "{t} masked {} times:\n{out}", at(t).len());
    }
    let dev = |t: &str| at(t)[0].split_whitespace().nth(2).unwrap().to_string();
    assert_eq!(dev("/secret-a"), dev("/secret-b"), "{out}");
    assert_eq!(dev("/secret-a"), dev("/secret-c"), "{out}");
    for t in ["/secret-a", "/secret-b", "/secret-c"] {
        let (per, _) = mount_opts(at(t)[0]);
        assert!(per.iter().any(|o| o == "ro"), "{t} not read-only: {out}");
    }
}

/// runc 1.5: a mount destination reached through a dangling symlink gets the symlink's target
/// created inside the rootfs, and the mount lands there.
#[test]
fn mount_through_a_dangling_symlink_creates_its_target_inside() {
    let mut c = Ctx::new("mount-dangling");
    std::os::unix::fs::symlink("/target/inside", c.rootfs.join("dangling")).unwrap();
    push(&mut c, "/mounts", json!({"destination": "/dangling", "type": "tmpfs", "source": "tmpfs"}));
    let o = c.sh("grep ' /target/inside ' /proc/self/mountinfo");
    o.assert_ok();
    assert!(o.stdout.contains(" - tmpfs "), "{o}");
    assert!(c.rootfs.join("target/inside").is_dir());
}

#[test]
fn readonly_paths() {
    let mut c = Ctx::new("ro-paths");
    c.config["root"]["readonly"] = json!(false);
    fs::create_dir_all(c.rootfs.join("rodir")).unwrap();
    push(&mut c, "/linux/readonlyPaths", json!("/rodir"));
    let out = c.sh_ok(
        "touch /rodir/x 2>&1 || echo rodir-refused; touch /rwfile && echo rw-ok; \
         echo 1 2>&1 > /proc/sys/kernel/shm_rmid_forced || echo procsys-refused",
    );
    assert!(
        out.contains("rodir-refused") && out.contains("Read-only file system"),
        "{out}"
    );
    assert!(out.contains("rw-ok"), "{out}");
    // /proc/sys is in the default readonlyPaths
    assert!(out.contains("procsys-refused"), "{out}");
    assert!(!c.rootfs.join("rodir/x").exists());
}

#[test]
fn sysctls_in_new_namespaces() {
    let mut c = Ctx::new("sysctl");
    c.config["linux"]["sysctl"] = json!({
        "net.ipv4.ip_forward": "1",
        "net.ipv4.ip_local_port_range": "40000 45000",
        "kernel.shm_rmid_forced": "1"
    });
    let out = c.sh_ok(
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ip_local_port_range /proc/sys/kernel/shm_rmid_forced",
    );
    let v: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        v,
        vec![vec!["1"], vec!["40000", "45000"], vec!["1"]],
        "{out}"
    );
}

#[test]
fn process_args_env_cwd() {
    let mut c = Ctx::new("args-env");
    c.config["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY="]);
    c.config["process"]["cwd"] = json!("/tmp");
    c.set_args(&[
        "sh",
        "-c",
        "printf '%s|' \"$0\" \"$1\" \"$FOO\"; echo; pwd; env",
        "zero",
        "one two",
    ]);
    let o = c.run(&[]);
    o.assert_ok();
    let out = o.stdout;
    assert_eq!(out.lines().next(), Some("zero|one two|bar baz|"), "{out}");
    assert_eq!(out.lines().nth(1), Some("/tmp"), "{out}");
    assert!(out.lines().any(|l| l == "EMPTY="), "{out}");
    assert!(out.lines().any(|l| l == "PATH=/bin"), "{out}");

    // args[0] without a slash is looked up in the container's PATH
    c.set_args(&["echo", "via-path"]);
    let o = c.run(&[]);
    o.assert_ok();
    assert_eq!(o.stdout, "via-path\n");
}

#[test]
fn user_and_groups() {
    let mut c = Ctx::new("user");
    c.config["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 2000]});
    let out = c.sh_ok("grep -E '^(Uid|Gid|Groups):' /proc/self/status; id -u; id -g");
    let st = out.as_str();
    let ids = |k: &str| -> Vec<String> {
        status_field(st, k)
            .unwrap_or_else(|| panic!("no {k}: {st}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(ids("Uid"), ["1000"; 4], "{out}");
    assert_eq!(ids("Gid"), ["1001"; 4], "{out}");
    let groups: BTreeSet<String> = ids("Groups").into_iter().collect();
    assert!(groups.contains("10") && groups.contains("2000"), "{out}");
    assert!(groups.len() <= 3, "unexpected extra groups: {out}");
}

#[test]
fn umask_applied() {
    let mut c = Ctx::new("umask");
    c.config["process"]["user"]["umask"] = json!(0o027);
    let out = c.sh_ok("umask; touch /out/f; stat -c %a /out/f");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["0027", "640"], "{out}");
}

fn limit_row(limits: &str, name: &str) -> Vec<String> {
    let line = limits
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in:\n{limits}"));
    line[name.len()..]
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn rlimits_applied() {
    let mut c = Ctx::new("rlimits");
    c.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456},
        {"type": "RLIMIT_MSGQUEUE", "soft": 1000, "hard": 2000}
    ]);
    let out = c.sh_ok("cat /proc/self/limits; echo nofile=$(ulimit -n)");
    assert_eq!(
        limit_row(&out, "Max open files")[..2],
        ["123", "456"],
        "{out}"
    );
    assert_eq!(
        limit_row(&out, "Max msgqueue size")[..2],
        ["1000", "2000"],
        "{out}"
    );
    assert!(out.contains("nofile=123"), "{out}");
}

fn caps_of(out: &str, key: &str) -> u64 {
    let v = status_field(out, key).unwrap_or_else(|| panic!("no {key}:\n{out}"));
    u64::from_str_radix(v, 16).unwrap()
}

#[test]
fn capabilities_non_root_exact() {
    let mut c = Ctx::new("caps-user");
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_SETUID",
        "CAP_NET_BIND_SERVICE",
    ];
    let set = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    c.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    c.config["process"]["capabilities"] = json!({
        "bounding": bnd, "effective": set, "permitted": set, "inheritable": set, "ambient": set
    });
    let out = c.sh_ok("grep ^Cap /proc/self/status");
    assert_eq!(caps_of(&out, "CapBnd"), cap_mask(&bnd), "{out}");
    // a non-root process keeps exactly its ambient set across exec
    for k in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
        assert_eq!(caps_of(&out, k), cap_mask(&set), "{k}:\n{out}");
    }
}

#[test]
fn capabilities_root_bounding() {
    let mut c = Ctx::new("caps-root");
    let bnd = ["CAP_CHOWN", "CAP_KILL"];
    c.config["process"]["capabilities"] = json!({
        "bounding": bnd, "effective": bnd, "permitted": bnd, "inheritable": [], "ambient": []
    });
    let out = c.sh_ok("grep ^Cap /proc/self/status");
    assert_eq!(caps_of(&out, "CapBnd"), cap_mask(&bnd), "{out}");
    assert_eq!(caps_of(&out, "CapEff"), cap_mask(&bnd), "{out}");
    assert_eq!(caps_of(&out, "CapPrm"), cap_mask(&bnd), "{out}");
    assert_eq!(caps_of(&out, "CapInh"), 0, "{out}");
    assert_eq!(caps_of(&out, "CapAmb"), 0, "{out}");
}

/// runc 1.5 ignores capabilities it does not know (configs written for newer kernels) with one
/// warning naming each; the known ones still apply.
#[test]
fn unknown_capabilities_are_ignored_with_a_warning() {
    let mut c = Ctx::new("caps-unknown");
    let bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_FROM_THE_FUTURE"];
    c.config["process"]["capabilities"] = json!({
        "bounding": bnd, "effective": ["CAP_KILL", "CAP_ZZZ_NEW"], "permitted": bnd, "inheritable": [], "ambient": []
    });
    let o = c.sh("grep ^Cap /proc/self/status");
    o.assert_ok();
    assert_eq!(caps_of(&o.stdout, "CapBnd"), cap_mask(&["CAP_CHOWN", "CAP_KILL"]), "{o}");
    assert!(o.stderr.contains("ignoring unknown or unavailable capabilities: [CAP_FROM_THE_FUTURE CAP_ZZZ_NEW]"), "{o}");
}

#[test]
fn no_new_privileges_flag() {
    let mut c = Ctx::new("nnp");
    c.config["process"]["noNewPrivileges"] = json!(true);
    let out = c.sh_ok("grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), Some("1"), "{out}");
    c.config["process"]["noNewPrivileges"] = json!(false);
    let out = c.sh_ok("grep NoNewPrivs /proc/self/status");
    assert_eq!(status_field(&out, "NoNewPrivs"), Some("0"), "{out}");
}

#[test]
fn oom_score_adj_applied() {
    let mut c = Ctx::new("oom");
    c.config["process"]["oomScoreAdj"] = json!(500);
    let out = c.sh_ok("cat /proc/self/oom_score_adj");
    assert_eq!(out.trim(), "500");
}

#[test]
fn cgroups_path_in_every_hierarchy() {
    let c = Ctx::new("cgroup-path");
    c.create();
    let pid = c.pid();
    let theirs = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mine = fs::read_to_string("/proc/self/cgroup").unwrap();
    let split = |l: &str| -> (String, String) {
        let mut it = l.splitn(3, ':');
        let _id = it.next();
        (
            it.next().unwrap_or("").to_string(),
            it.next().unwrap_or("").to_string(),
        )
    };
    let theirs: Vec<(String, String)> = theirs.lines().map(split).collect();
    // every hierarchy this process is in: v1 controllers, named ones, and "" = unified
    for (ctrl, _) in mine.lines().map(split) {
        let got = theirs
            .iter()
            .find(|(c2, _)| *c2 == ctrl)
            .unwrap_or_else(|| panic!("container not in hierarchy {ctrl:?}: {theirs:?}"));
        assert_eq!(got.1, c.cgroup_path, "hierarchy {ctrl:?}: {theirs:?}");
    }
    let dirs = c.existing_cgroup_dirs();
    assert_eq!(dirs.len(), cgroup_mounts().len(), "dirs: {dirs:?}");
}

fn cgroup_file(c: &Ctx, names: &[&str]) -> Option<String> {
    cgroup_dirs_for(&c.cgroup_path)
        .into_iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.exists())
        .map(|p| fs::read_to_string(p).unwrap().trim().to_string())
}

#[test]
fn cgroup_resources_applied() {
    let c = {
        let mut c = Ctx::new("cgroup-res");
        c.config["linux"]["resources"]["memory"] = json!({"limit": 67108864});
        c.config["linux"]["resources"]["pids"] = json!({"limit": 42});
        c.config["linux"]["resources"]["cpu"] = json!({"shares": 512});
        c
    };
    c.create();
    // v1 file names first (this machine is hybrid), v2 names as fallback
    let mem = cgroup_file(&c, &["memory.limit_in_bytes", "memory.max"]);
    assert_eq!(mem.as_deref(), Some("67108864"));
    assert_eq!(cgroup_file(&c, &["pids.max"]).as_deref(), Some("42"));
    if cgroup_mounts()
        .iter()
        .any(|m| m.join("cpu.shares").exists())
    {
        assert_eq!(cgroup_file(&c, &["cpu.shares"]).as_deref(), Some("512"));
    }
}
