//! Bad input: non-zero exit, a message on stderr, and nothing left behind
//! (no dir under --root, no cgroup dir, no process).
mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::symlink;

#[track_caller]
fn fails_cleanly(c: &Ctx, o: &Out) {
    o.assert_fail_msg();
    c.assert_nothing_left(&c.id);
}

#[test]
fn invalid_json_config() {
    let c = Ctx::new("bad-json");
    c.write_config();
    fs::write(
        c.bundle.join("config.json"),
        "{\"ociVersion\": \"1.0.2\", \"process\": {",
    )
    .unwrap();
    let o = exec(&mut c.create_cmd(&[]), CMD_TIMEOUT);
    fails_cleanly(&c, &o);
}

#[test]
fn missing_config_json() {
    let c = Ctx::new("no-config");
    let o = exec(&mut c.create_cmd(&[]), CMD_TIMEOUT);
    fails_cleanly(&c, &o);
}

#[test]
fn missing_process() {
    let mut c = Ctx::new("no-process");
    c.config.as_object_mut().unwrap().remove("process");
    let o = c.try_create(&[]);
    fails_cleanly(&c, &o);
}

#[test]
fn missing_bundle() {
    let c = Ctx::new("no-bundle");
    let o = c.cmd(&["create", "--bundle", "/nonexistent/bulkhead-bundle", &c.id]);
    fails_cleanly(&c, &o);
}

#[test]
fn missing_rootfs() {
    let mut c = Ctx::new("no-rootfs");
    c.config["root"]["path"] = json!("no-such-rootfs");
    let o = c.try_create(&[]);
    fails_cleanly(&c, &o);
}

#[test]
fn unknown_namespace_type() {
    let mut c = Ctx::new("bad-ns");
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "bogus"}));
    let o = c.try_create(&[]);
    fails_cleanly(&c, &o);
}

#[test]
fn missing_executable() {
    let mut c = Ctx::new("no-exe");
    c.set_args(&["/no/such/binary"]);
    let o = c.run(&[]);
    fails_cleanly(&c, &o);
}

/// runc (1.1 and 1.5) only warns ("will be removed in a future release") and mounts it
/// relative to "/"; bulkhead follows (see config_apply.rs). It must land inside the container.
#[test]
fn relative_mount_destination() {
    let mut c = Ctx::new("rel-mount");
    c.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "rel/dir", "type": "tmpfs", "source": "tmpfs"}));
    let o = c.sh("grep -c ' /rel/dir ' /proc/self/mountinfo");
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "1", "{o}");
    assert!(o.stderr.contains("mount destination rel/dir is not absolute"), "{o}");
    assert!(!c.bundle.join("rel").exists() && !c.dir.join("rel").exists());
}

#[test]
fn mount_destinations_cannot_escape_rootfs() {
    let mut c = Ctx::new("mount-escape");
    // "/../escaped1" naively joined to the rootfs is <bundle>/escaped1.
    // "/link1" -> "../escaped2/sub" would be <bundle>/escaped2/sub.
    // "/link2/x" with link2 -> "<bundle>/escaped3" (absolute host path).
    symlink("../escaped2/sub", c.rootfs.join("link1")).unwrap();
    symlink(c.bundle.join("escaped3"), c.rootfs.join("link2")).unwrap();
    for dest in ["/../escaped1", "/link1", "/link2/x"] {
        c.config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
    }
    let o = c.sh("grep ' - tmpfs ' /proc/self/mountinfo | grep -c escaped");
    for host in ["escaped1", "escaped2", "escaped3"] {
        assert!(
            !c.bundle.join(host).exists() && !c.dir.join(host).exists(),
            "runtime created {host} outside the rootfs:\n{o}"
        );
    }
    if o.ok() {
        // resolved inside the rootfs (as runc does): all three mounts visible in the container
        assert_eq!(o.stdout.trim(), "3", "{o}");
    } else {
        fails_cleanly(&c, &o);
    }
}

#[test]
fn commands_on_unknown_container_fail() {
    let c = Ctx::new("unknown");
    for args in [
        &["start", "nope"][..],
        &["state", "nope"],
        &["kill", "nope", "KILL"],
        &["delete", "nope"],
    ] {
        c.cmd(args).assert_fail_msg();
    }
}

#[test]
fn create_with_existing_id_fails_and_keeps_first() {
    let c = Ctx::new("dup-id");
    c.create();
    let pid = c.pid();
    c.try_create(&[]).assert_fail_msg();
    assert_eq!(c.status(), "created");
    assert_eq!(c.pid(), pid);
    assert!(pid_alive(pid));
    c.start();
    assert_eq!(c.status(), "running");
}

#[test]
fn invalid_signal_is_rejected() {
    let c = Ctx::new("bad-signal");
    c.create();
    c.start();
    for sig in ["SIGNOPE", "NOPE", "-1", "99999"] {
        c.kill(Some(sig)).assert_fail_msg();
    }
    assert_eq!(c.status(), "running");
}

#[test]
fn unknown_command_and_flag() {
    rt_exec(&["no-such-command"]).assert_fail_msg();
    let c = Ctx::new("bad-flag");
    c.write_config();
    let o = c.cmd(&[
        "create",
        "--no-such-flag",
        "--bundle",
        c.bundle_str(),
        &c.id,
    ]);
    fails_cleanly(&c, &o);
}

/// runc 1.5's words where scripts and clients match them (docker and podman map the exec ones
/// to exit codes 126/127): each case fails create with runc's phrase and leaves nothing.
#[test]
fn error_texts_as_runc() {
    type Setup = fn(&mut Ctx);
    let cases: [(&str, Setup, &str); 6] = [
        ("missing-prog", |c| c.set_args(&["/nonexistent"]), "exec: \"/nonexistent\": stat /nonexistent: no such file or directory"),
        ("not-in-path", |c| c.set_args(&["no-such-program"]), "exec: \"no-such-program\": executable file not found in $PATH"),
        (
            "not-executable",
            |c| {
                fs::write(c.rootfs.join("etc/not-exec"), "x\n").unwrap();
                c.set_args(&["/etc/not-exec"]);
            },
            "exec: \"/etc/not-exec\": permission denied",
        ),
        ("mempolicy", |c| c.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BOGUS"}), "invalid memory policy mode \"MPOL_BOGUS\""),
        (
            "proc-symlink",
            |c| {
                fs::create_dir_all(c.rootfs.join("elsewhere")).unwrap();
                let _ = fs::remove_dir(c.rootfs.join("proc"));
                symlink("/elsewhere", c.rootfs.join("proc")).unwrap();
            },
            "filesystem \"proc\" must be mounted on ordinary directory",
        ),
        (
            "seccomp-agent",
            |c| {
                c.config["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "listenerPath": "/nonexistent/agent.sock",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
                });
            },
            "failed to connect with seccomp agent specified in the seccomp profile",
        ),
    ];
    for (name, setup, want) in cases {
        let mut c = Ctx::new(&format!("words-{name}"));
        setup(&mut c);
        let o = c.try_create(&[]);
        fails_cleanly(&c, &o);
        // (runc's logrus text escapes the quotes)
        assert!(o.stderr.replace("\\\"", "\"").contains(want), "{name}: want {want:?}:\n{o}");
    }
}

/// The error contract: the callee names the exact field, the caller adds nothing that names
/// it again ("linux.resources: linux.resources.memory.swap: ..." before).
#[test]
fn resource_errors_name_their_field_once() {
    if is_runc() {
        return; // runc's words differ
    }
    let mut c = Ctx::new("field-once");
    c.config["linux"]["resources"] = json!({"memory": {"swap": 1048576}});
    let o = c.try_create(&[]);
    fails_cleanly(&c, &o);
    let line = o.stderr.lines().find(|l| l.contains("linux.resources.memory.swap")).unwrap_or_else(|| panic!("field not named:\n{o}"));
    assert_eq!(line.matches("linux.resources").count(), 1, "field named twice: {line}");
}

/// `--systemd-cgroup` where systemd is not the init (this build host): a clear error saying
/// so, nothing left; a cgroupsPath not in `slice:prefix:name` form is named first.
#[test]
fn systemd_cgroup_without_systemd() {
    if std::path::Path::new("/run/systemd/system").exists() {
        eprintln!("skipped: systemd runs here (the node VM's systemd flow covers this host)");
        return;
    }
    let mut c = Ctx::new("sd-none");
    c.config["linux"]["cgroupsPath"] = json!("system.slice:bulkhead-test:sd-none");
    c.write_config();
    let o = exec(c.rt().arg("--systemd-cgroup").args(["run", "--bundle", c.bundle_str(), &c.id]), CMD_TIMEOUT);
    fails_cleanly(&c, &o);
    assert!(o.stderr.contains("systemd is not running on this host"), "{o}");

    c.config["linux"]["cgroupsPath"] = json!("/not/slice/form");
    c.write_config();
    let o = exec(c.rt().arg("--systemd-cgroup").args(["create", "--bundle", c.bundle_str(), &c.id]), CMD_TIMEOUT);
    fails_cleanly(&c, &o);
    assert!(o.stderr.contains("linux.cgroupsPath: \"/not/slice/form\": expected \"slice:prefix:name\""), "{o}");
}
