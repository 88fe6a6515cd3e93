//! Commands and flags other than the lifecycle core: spec, features, list, --version,
//! --log/--log-format, flag spellings, and create's extra flags.
mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;

fn read_config(dir: &std::path::Path) -> Value {
    let p = dir.join("config.json");
    let t = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).unwrap_or_else(|e| panic!("config.json is not JSON: {e}"))
}

fn ns_types(cfg: &Value) -> Vec<String> {
    cfg["linux"]["namespaces"]
        .as_array()
        .unwrap_or_else(|| panic!("no linux.namespaces: {cfg}"))
        .iter()
        .map(|n| n["type"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn spec_writes_default_config() {
    let d = tempfile::tempdir().unwrap();
    // --bundle DIR
    rt_exec(&["spec", "--bundle", d.path().to_str().unwrap()]).assert_ok();
    let cfg = read_config(d.path());
    assert!(
        cfg["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.")),
        "{cfg}"
    );
    assert_eq!(cfg["root"]["path"], "rootfs", "{cfg}");
    assert!(
        cfg["process"]["args"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "process.args: {cfg}"
    );
    assert!(cfg["process"]["cwd"].is_string(), "process.cwd: {cfg}");
    let ns = ns_types(&cfg);
    for want in ["pid", "mount", "network", "ipc", "uts"] {
        assert!(
            ns.iter().any(|n| n == want),
            "namespace {want} missing: {ns:?}"
        );
    }
    assert!(
        !ns.iter().any(|n| n == "user"),
        "default spec must not use a user ns"
    );
    let mounts = cfg["mounts"].as_array().expect("mounts");
    assert!(
        mounts
            .iter()
            .any(|m| m["destination"] == "/proc" && m["type"] == "proc"),
        "no /proc mount: {cfg}"
    );
    // it refuses to overwrite an existing config.json
    let before = fs::read(d.path().join("config.json")).unwrap();
    rt_exec(&["spec", "--bundle", d.path().to_str().unwrap()]).assert_fail_msg();
    assert_eq!(fs::read(d.path().join("config.json")).unwrap(), before);

    // --bundle=DIR spelling
    let d2 = tempfile::tempdir().unwrap();
    rt_exec(&["spec", &format!("--bundle={}", d2.path().display())]).assert_ok();
    assert_eq!(read_config(d2.path()), cfg);

    // no --bundle: current directory
    let d3 = tempfile::tempdir().unwrap();
    let mut c = rt_raw();
    c.arg("spec").current_dir(d3.path());
    exec(&mut c, CMD_TIMEOUT).assert_ok();
    assert_eq!(read_config(d3.path()), cfg);
}

/// runc's state-root rule (shouldHonorXDGRuntimeDir): uid 0 of a non-initial user namespace
/// (how podman rootless runs the runtime) keeps its state in $XDG_RUNTIME_DIR/<runtime>,
/// made 0700 + sticky, unless USER=root; the real root never does; --root always wins.
#[test]
fn state_root_follows_xdg_runtime_dir_in_a_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let (xdg, other) = (d.path().join("xdg"), d.path().join("other"));
    fs::create_dir(&xdg).unwrap();
    // A --root given to `list` must exist (runc 1.5: a missing one is an error).
    fs::create_dir(&other).unwrap();
    let list = |userns: bool, user: &str, global: &[&str]| {
        let mut c = if userns {
            let mut c = std::process::Command::new("unshare");
            c.args(["--user", "--map-root-user"]).arg(runtime());
            c
        } else {
            rt_raw()
        };
        c.args(global).arg("list").env("XDG_RUNTIME_DIR", &xdg).env("USER", user);
        exec(&mut c, CMD_TIMEOUT)
    };
    let made = xdg.join(if is_runc() { "runc" } else { "bulkhead" });
    list(false, "root", &[]).assert_ok();
    assert!(!made.exists(), "the real root uses /run, not $XDG_RUNTIME_DIR");
    list(true, "root", &[]).assert_ok();
    assert!(!made.exists(), "USER=root in a user namespace uses /run");
    list(true, "someone", &["--root", other.to_str().unwrap()]).assert_ok();
    assert!(!made.exists(), "--root wins");
    list(true, "someone", &[]).assert_ok();
    let mode = fs::metadata(&made).unwrap_or_else(|e| panic!("uid 0 of a user namespace: no {}: {e}", made.display())).permissions().mode();
    assert_eq!(mode & 0o7777, 0o1700, "{mode:o}");
}

#[test]
fn spec_rootless_shape() {
    let d = tempfile::tempdir().unwrap();
    rt_exec(&["spec", "--rootless", "--bundle", d.path().to_str().unwrap()]).assert_ok();
    let cfg = read_config(d.path());
    let ns = ns_types(&cfg);
    assert!(
        ns.iter().any(|n| n == "user"),
        "rootless spec needs a user ns: {ns:?}"
    );
    assert!(
        !ns.iter().any(|n| n == "network"),
        "rootless spec cannot have a netns: {ns:?}"
    );
    let (uid, gid) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    for (key, host) in [("uidMappings", uid), ("gidMappings", gid)] {
        let m = cfg["linux"][key]
            .as_array()
            .unwrap_or_else(|| panic!("no linux.{key}: {cfg}"));
        assert_eq!(m.len(), 1, "{key}: {m:?}");
        assert_eq!(m[0]["containerID"], 0, "{key}");
        assert_eq!(m[0]["hostID"], host, "{key}");
        assert_eq!(m[0]["size"], 1, "{key}");
    }
}

#[test]
fn version_flag() {
    let o = rt_exec(&["--version"]);
    o.assert_ok();
    assert!(o.stdout.contains("version"), "{o}");
    assert!(
        o.stdout.contains("spec"),
        "--version names the spec version: {o}"
    );
}

/// runc 1.5's shapes: `--version` and `-v` print the same `NAME version X` line followed by
/// `key: value` lines (spec among them); `-h` has urfave/cli's sections.
#[test]
fn version_and_help_shaped_as_runc() {
    let long = rt_exec(&["--version"]);
    long.assert_ok();
    let short = rt_exec(&["-v"]);
    short.assert_ok();
    assert_eq!(long.stdout, short.stdout);
    let mut lines = long.stdout.lines();
    let first: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    assert!(first.len() == 3 && first[1] == "version", "{long}");
    assert!(lines.all(|l| l.split_once(": ").is_some_and(|(k, _)| !k.contains(' '))), "{long}");
    assert!(long.stdout.lines().any(|l| l.starts_with("spec: ")), "{long}");

    let help = rt_exec(&["-h"]);
    help.assert_ok();
    let heads: Vec<&str> = help.stdout.lines().filter(|l| l.ends_with(':') && !l.starts_with(' ')).collect();
    for h in ["NAME:", "USAGE:", "VERSION:", "COMMANDS:", "GLOBAL OPTIONS:"] {
        assert!(heads.contains(&h), "-h lacks {h} {heads:?}:\n{help}");
    }
    let sub = rt_exec(&["list", "-h"]);
    sub.assert_ok();
    assert!(sub.stdout.starts_with("NAME:\n") && sub.stdout.contains("\nUSAGE:\n") && sub.stdout.contains("\nOPTIONS:\n"), "{sub}");
    // runc's NAME line: `runc list - lists containers...` (bulkhead printed `bulkhead bulkhead-list`).
    let name_line = |o: &str| o.lines().nth(1).unwrap_or("").split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let words = name_line(&sub.stdout);
    assert!(words.len() > 3 && words[1] == "list" && words[2] == "-", "NAME line of list -h: {words:?}");
    // A command's own summary, not its flag struct's (exec's flags are a struct of their own).
    let exec = rt_exec(&["exec", "-h"]);
    exec.assert_ok();
    let words = name_line(&exec.stdout);
    assert!(words.len() > 3 && words[1] == "exec" && words.iter().any(|w| w == "process"), "NAME line of exec -h: {words:?}");
}

#[test]
fn features_is_json() {
    let o = rt_exec(&["features"]);
    o.assert_ok();
    let v: Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{o}"));
    for k in ["ociVersionMin", "ociVersionMax"] {
        assert!(
            v[k].as_str().is_some_and(|s| s.starts_with("1.")),
            "{k} missing or odd: {v}"
        );
    }
    let hooks: Vec<&str> = v["hooks"]
        .as_array()
        .map(|a| a.iter().filter_map(|h| h.as_str()).collect())
        .unwrap_or_default();
    for h in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        assert!(hooks.contains(&h), "features.hooks lacks {h}: {v}");
    }
}

#[test]
fn list_table_json_and_quiet() {
    let c = Ctx::new("list");
    c.create();
    let pid = c.pid().to_string();

    let o = c.cmd(&["list"]);
    o.assert_ok();
    let mut lines = o.stdout.lines();
    let header = lines.next().unwrap_or("");
    for col in ["ID", "PID", "STATUS", "BUNDLE"] {
        assert!(
            header.split_whitespace().any(|w| w == col),
            "header {header:?}: {o}"
        );
    }
    let row: Vec<&str> = lines
        .find(|l| l.split_whitespace().next() == Some(c.id.as_str()))
        .unwrap_or_else(|| panic!("no row for {}: {o}", c.id))
        .split_whitespace()
        .collect();
    assert_eq!(row[1], pid, "{o}");
    assert_eq!(row[2], "created", "{o}");
    assert_eq!(row[3], c.bundle_str(), "{o}");

    for args in [
        &["list", "--format", "json"][..],
        &["list", "--format=json"],
        &["list", "-f", "json"],
    ] {
        let o = c.cmd(args);
        o.assert_ok();
        let v: Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}\n{o}"));
        let arr = v.as_array().unwrap_or_else(|| panic!("not an array: {o}"));
        assert_eq!(arr.len(), 1, "{o}");
        assert_eq!(arr[0]["id"], c.id.as_str());
        assert_eq!(arr[0]["status"], "created");
        assert_eq!(arr[0]["pid"].to_string(), pid);
        assert_eq!(arr[0]["bundle"], c.bundle_str());
    }

    let o = c.cmd(&["list", "-q"]);
    o.assert_ok();
    assert_eq!(o.stdout, format!("{}\n", c.id), "{o}");

    // an empty root lists nothing
    c.delete(false).assert_ok();
    let o = c.cmd(&["list", "-q"]);
    o.assert_ok();
    assert_eq!(o.stdout.trim(), "", "{o}");
    let o = c.cmd(&["list", "--format", "json"]);
    o.assert_ok();
    let v: Value = serde_json::from_str(o.stdout.trim()).unwrap_or_else(|e| panic!("{e}\n{o}"));
    assert!(
        v.is_null() || v.as_array().is_some_and(|a| a.is_empty()),
        "{o}"
    );
}

/// runc 1.5's `list`: JSON fields in its order (containerState), the owner's name, the table
/// from its tabwriter (columns: widest cell + 3, at least 12), and a --root that does not
/// exist is an error (only the default root may be missing).
#[test]
fn list_json_order_owner_table_and_missing_root() {
    let mut c = Ctx::new("list-order");
    c.config["annotations"] = serde_json::json!({"a": "b"});
    c.create();
    let o = c.cmd(&["list", "--format", "json"]);
    o.assert_ok();
    let keys = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "annotations", "owner"];
    let at: Vec<usize> = keys
        .iter()
        .map(|k| o.stdout.find(&format!("\"{k}\":")).unwrap_or_else(|| panic!("no {k}: {o}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "fields not in runc's order: {o}");
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v[0]["owner"], "root", "{o}");

    let o = c.cmd(&["list"]);
    o.assert_ok();
    let header = o.stdout.lines().next().unwrap();
    let row = o.stdout.lines().find(|l| l.starts_with(&c.id)).unwrap();
    let id_w = c.id.len() + 3;
    assert_eq!(header.find("PID"), Some(id_w), "{o}");
    assert_eq!(row.find(&c.pid().to_string()), Some(id_w), "{o}");
    assert!(row.ends_with("   root"), "{o}");
    c.delete(true);

    let missing = c.dir.join("no-such-root");
    let o = exec(rt_raw().arg("--root").arg(&missing).arg("list"), CMD_TIMEOUT);
    o.assert_fail_msg();
    assert!(o.stderr.contains("no such file or directory"), "{o}");
    assert!(!missing.exists());
}

fn check_json_log(path: &std::path::Path) {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("log {}: {e}", path.display()));
    let mut errors = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line not JSON ({e}): {line:?}"));
        for k in ["level", "msg", "time"] {
            assert!(v[k].is_string(), "log line lacks string {k}: {line}");
        }
        if v["level"] == "error" {
            errors += 1;
        }
    }
    assert!(errors > 0, "no error line in the log:\n{text}");
}

#[test]
fn log_file_json_format() {
    let c = Ctx::new("log-json");
    let log = c.dir.join("a.log");
    let ls = log.to_str().unwrap();
    let root = c.root.to_str().unwrap();
    rt_exec(&[
        "--root",
        root,
        "--log",
        ls,
        "--log-format",
        "json",
        "start",
        "no-such-container",
    ])
    .assert_fail_msg();
    check_json_log(&log);

    let log2 = c.dir.join("b.log");
    rt_exec(&[
        &format!("--root={root}"),
        &format!("--log={}", log2.display()),
        "--log-format=json",
        "state",
        "no-such-container",
    ])
    .assert_fail_msg();
    check_json_log(&log2);
}

#[test]
fn create_bundle_flag_spellings() {
    for form in ["-b", "--bundle="] {
        let c = Ctx::new("bundle-flag");
        c.write_config();
        let mut cmd = c.rt();
        if form == "-b" {
            cmd.arg("create").arg("-b").arg(&c.bundle).arg(&c.id);
        } else {
            cmd.arg("create")
                .arg(format!("--bundle={}", c.bundle_str()))
                .arg(&c.id);
        }
        exec(&mut cmd, CMD_TIMEOUT).assert_ok();
        assert_eq!(c.status(), "created");
        // --root=R spelling reaches the same container
        let o = rt_exec(&[&format!("--root={}", c.root.display()), "state", &c.id]);
        assert_eq!(state_of(&o)["id"], c.id.as_str());
    }
}

#[test]
fn create_from_bundle_in_cwd() {
    let c = Ctx::new("bundle-cwd");
    c.write_config();
    let mut cmd = c.rt();
    cmd.arg("create").arg(&c.id).current_dir(&c.bundle);
    exec(&mut cmd, CMD_TIMEOUT).assert_ok();
    let st = c.state();
    assert_eq!(
        fs::canonicalize(st["bundle"].as_str().unwrap_or("")).ok(),
        fs::canonicalize(&c.bundle).ok(),
        "{st}"
    );
}

#[test]
fn preserve_fds_passes_extra_fds() {
    let mut c = Ctx::new("preserve-fds");
    c.set_args(&[
        "sh",
        "-c",
        "echo via-fd3 >&3 && echo fd3-ok; if [ -e /proc/self/fd/4 ]; then echo fd4-present; fi",
    ]);
    c.write_config();
    let run_with_fds = |extra: &[&str]| -> (Out, String) {
        let (r3, w3) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let (_r4, w4) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        let mut cmd = c.rt();
        cmd.arg("run")
            .args(extra)
            .arg("--bundle")
            .arg(&c.bundle)
            .arg(&c.id);
        let (a, b) = (w3.as_raw_fd(), w4.as_raw_fd());
        // SAFETY: only dup2 (async-signal-safe) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let o = exec(&mut cmd, CMD_TIMEOUT);
        drop::<OwnedFd>(w3);
        drop::<OwnedFd>(w4);
        let mut f = fs::File::from(r3);
        let mut s = String::new();
        use std::io::Read;
        let _ = f.read_to_string(&mut s);
        (o, s)
    };
    let (o, got) = run_with_fds(&["--preserve-fds", "1"]);
    o.assert_ok();
    assert!(o.stdout.contains("fd3-ok"), "{o}");
    assert_eq!(got.trim(), "via-fd3", "{o}");
    assert!(
        !o.stdout.contains("fd4-present"),
        "fd 4 was not asked for: {o}"
    );

    // without the flag, fd 3 is closed
    let (o, got) = run_with_fds(&[]);
    assert!(!o.stdout.contains("fd3-ok"), "{o}");
    assert_eq!(got, "");
}

#[test]
fn no_pivot_runs() {
    let mut c = Ctx::new("no-pivot");
    c.set_args(&["sh", "-c", "cat /out/../bin/../out/marker; ls /"]);
    fs::write(c.out.join("marker"), "marker-ok\n").unwrap();
    let o = c.run(&["--no-pivot"]);
    o.assert_ok();
    assert!(o.stdout.contains("marker-ok"), "{o}");
    // the container's / is the rootfs, not the host's
    assert!(o.stdout.lines().any(|l| l == "out"), "{o}");
    assert!(
        !o.stdout.lines().any(|l| l == "work" || l == "usr"),
        "host root visible: {o}"
    );
}

/// --no-pivot in a user namespace: the host's /proc and /sys stay in the container's mount
/// namespace (MS_MOVE + chroot only hides them) and must not let it mount what pivot_root
/// forbids: a read-write sysfs (its own /sys is read-only), or a proc while its own /proc is
/// read-only (the kernel lets a user namespace mount these only where one is fully visible;
/// see process/hostfs.rs).
#[test]
fn no_pivot_keeps_the_hosts_proc_and_sysfs_from_a_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let try_mounts = |extra: &[&str]| -> String {
        let mut c = Ctx::new("no-pivot-userns");
        // The user namespace's root (host uid 100000) must reach the rootfs to chroot into it.
        fs::set_permissions(&c.dir, fs::Permissions::from_mode(0o755)).unwrap();
        for d in ["mnt1", "mnt2", "out"] {
            fs::create_dir_all(c.rootfs.join(d)).unwrap();
        }
        let linux = &mut c.config["linux"];
        linux["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "user"}));
        for key in ["uidMappings", "gidMappings"] {
            linux[key] = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        }
        for set in ["bounding", "effective", "permitted"] {
            c.config["process"]["capabilities"][set].as_array_mut().unwrap().push("CAP_SYS_ADMIN".into());
        }
        for m in c.config["mounts"].as_array_mut().unwrap() {
            if m["destination"] == "/proc" {
                m["options"] = serde_json::json!(["ro", "nosuid", "noexec", "nodev"]);
            }
        }
        c.set_args(&["sh", "-c", "mount -t proc proc /mnt1 && echo PROC-MOUNTED; mount -t sysfs sysfs /mnt2 && echo SYSFS-MOUNTED; echo done"]);
        let o = c.run(extra);
        o.assert_ok();
        assert!(o.stdout.contains("done"), "{o}");
        o.stdout
    };
    let pivoted = try_mounts(&[]);
    assert!(!pivoted.contains("MOUNTED"), "the kernel's baseline (pivot_root) changed: {pivoted}");
    if is_runc() {
        // runc 1.1.5 covers the host's mounts with a tmpfs from inside the user namespace,
        // where the kernel ignores an unlocked cover: both mounts succeed with --no-pivot.
        return;
    }
    let moved = try_mounts(&["--no-pivot"]);
    assert!(!moved.contains("MOUNTED"), "--no-pivot let the container mount proc or sysfs: {moved}");
}

#[test]
fn session_keyring_new_unless_no_new_keyring() {
    let keyring_lines = |no_new: bool| -> (String, String) {
        let mut c = Ctx::new("keyring");
        // /proc/keys is masked by default; unmask it to look.
        if let Some(m) = c.config["linux"]["maskedPaths"].as_array_mut() {
            m.retain(|p| p != "/proc/keys");
        }
        c.set_args(&["cat", "/proc/keys"]);
        let o = c.run(if no_new { &["--no-new-keyring"] } else { &[] });
        o.assert_ok();
        (o.stdout, c.id.clone())
    };
    // The default gives the container a fresh session keyring named after it
    // (runc: "_ses.<id>"); --no-new-keyring keeps the caller's.
    let (keys, id) = keyring_lines(false);
    assert!(
        keys.lines()
            .any(|l| l.contains(" keyring ") && l.contains(&id)),
        "no session keyring for {id}:\n{keys}"
    );
    let (keys, id) = keyring_lines(true);
    assert!(
        !keys.contains(&id),
        "--no-new-keyring still made one:\n{keys}"
    );
}

#[test]
fn preserve_fds_gap_gets_no_runtime_fd() {
    // --preserve-fds 2 with only fd 3 open: fd 4 is the caller's to give, and it gave nothing.
    // No file of the runtime (log, lock, state dir) may take that number into the container.
    let mut c = Ctx::new("preserve-gap");
    c.set_args(&["sh", "-c", "readlink /proc/self/fd/4 || echo fd4-closed"]);
    c.write_config();
    let log = c.bundle.join("gap.log");
    let (_r3, w3) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut cmd = c.rt();
    cmd.arg("--log").arg(&log).args(["run", "--preserve-fds", "2", "--bundle"]).arg(&c.bundle).arg(&c.id);
    let a = w3.as_raw_fd();
    // SAFETY: only dup2/close (async-signal-safe) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(a, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(4);
            Ok(())
        });
    }
    let o = exec(&mut cmd, CMD_TIMEOUT);
    o.assert_ok();
    let out = o.stdout.trim();
    assert!(out == "/dev/null" || out == "fd4-closed", "fd 4 in the container is {out:?}: {o}");
}
