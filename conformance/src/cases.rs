//! The cases. Each states the spec rule it checks (file#section: "quote").
//! Spec text: opencontainers/runtime-spec (runtime.md, config.md,
//! config-linux.md, runtime-linux.md, features.md).

use crate::harness::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// Expected failures per runtime: (runtime name, case, reason). Printed as
/// `not ok ... # <runtime> deviates: <reason>` and not counted as failures,
/// only for the runtime named.
const DEVIATIONS: &[(&str, &str, &str)] = &[
    ("runc", "domainname", "runc 1.1.5 ignores `domainname` (uname shows \"(none)\")"),
    ("runc", "rootfs-propagation-slave", "runc 1.1.5 applies rootfsPropagation to / before pivot_root and makes the rootfs's parent mount private, so the container's / ends up private"),
    ("runc", "rootfs-propagation-shared", "runc 1.1.5 applies rootfsPropagation to / before pivot_root and makes the rootfs's parent mount private, so the container's / ends up private"),
    ("runc", "rootfs-propagation-unbindable", "runc 1.1.5 applies rootfsPropagation to / before pivot_root; the container's / ends up private (on a private parent the rootfs bind even fails with EINVAL)"),
    ("runc", "ns-time", "runc 1.1.5 does not know the time namespace (create fails: namespace {\"time\" \"\"} does not exist)"),
    ("runc", "personality", "runc 1.1.5 ignores linux.personality"),
    ("runc", "delete-created", "runc deletes a created (never started) container without --force"),
    ("runc", "hooks-order-and-state", "runc 1.1.5 runs poststart hooks during `create`, before startContainer and before the program runs"),
    ("runc", "hook-fail-startContainer", "runc runs startContainer hooks in runc init after `start` returned; a failing hook kills the container but start exits 0"),
    ("runc", "hook-fail-poststart", "runc 1.1.5 runs poststart hooks during `create`; a failing one fails create and kills the container"),
    ("runc", "time-offsets-need-time-ns", "runc 1.1.5 knows no time namespace and ignores timeOffsets (runc 1.2+ refuses them without one)"),
    ("runc", "cgroup-pids-zero", "runc 1.1.5 (runtime-spec 1.0) writes pids.max \"max\" for limit 0; runc 1.4+ writes 1"),
    ("runc", "no-mount-namespace", "runc 1.1.5 closes its fds through /proc/self/fd after the chroot: without a /proc in the rootfs create fails (\"open /proc/self/fd: no such file or directory\")"),
    ("runc", "hook-fail-poststop", "runc stops at the first failing poststop hook: the remaining poststop hooks are skipped"),
    ("crun", "rootfs-propagation-slave", "crun 1.8.1 leaves the container's / with no master peer group, even when the bundle is on a shared mount"),
    ("crun", "ns-time", "crun 1.8.1 fails create with a time namespace (\"write to sync socket: Connection reset by peer\")"),
    ("crun", "delete-created", "crun deletes a created (never started) container without --force"),
    ("crun", "hooks-order-and-state", "crun 1.8.1 passes bundle \"/\" in the state given to startContainer hooks"),
    ("crun", "hook-fail-prestart", "crun 1.8.1 does not run poststop hooks when a create-time hook fails"),
    ("crun", "hook-fail-createRuntime", "crun 1.8.1 does not run poststop hooks when a create-time hook fails"),
    ("crun", "hook-fail-createContainer", "crun 1.8.1 does not run poststop hooks when a create-time hook fails"),
    ("crun", "hook-fail-startContainer", "crun 1.8.1 runs startContainer hooks in the container after `start` returned; start exits 0 when one fails"),
    ("crun", "features", "crun 1.8.1 has no `features` command"),
    ("bulkhead", "delete-created", "deletes a created (never started) container without --force, as runc and crun do: containerd deletes created containers and relies on it"),
];

pub fn deviation(runtime: &str, case: &str) -> Option<&'static str> {
    DEVIATIONS.iter().find(|(r, c, _)| *r == runtime && *c == case).map(|(_, _, why)| *why)
}

macro_rules! case {
    ($name:expr, $spec:expr, $f:expr) => {
        Case { name: $name, spec: $spec, f: $f }
    };
}

fn caps_mask(names: &[&str]) -> u64 {
    let table = [
        ("CHOWN", 0), ("DAC_OVERRIDE", 1), ("DAC_READ_SEARCH", 2), ("FOWNER", 3), ("FSETID", 4), ("KILL", 5), ("SETGID", 6),
        ("SETUID", 7), ("SETPCAP", 8), ("NET_BIND_SERVICE", 10), ("NET_RAW", 13), ("SYS_CHROOT", 18), ("SYS_ADMIN", 21),
        ("MKNOD", 27), ("AUDIT_WRITE", 29), ("SETFCAP", 31),
    ];
    names.iter().map(|n| 1u64 << table.iter().find(|(t, _)| t == n).map(|(_, b)| *b).expect("cap")).fold(0, |a, b| a | b)
}

/// Build a bundle, let `setup` modify config/checks, run it and collect checker results.
fn inside(ctx: &Ctx, tag: &str, setup: impl FnOnce(&mut Bundle) -> Result<(), String>) -> Outcome {
    inside_host(ctx, tag, setup, &|_, _| Ok(()))
}

fn inside_host(
    ctx: &Ctx,
    tag: &str,
    setup: impl FnOnce(&mut Bundle) -> Result<(), String>,
    host: &dyn Fn(&Bundle, &Value) -> Result<(), String>,
) -> Outcome {
    let mut b = match Bundle::new(ctx, tag) {
        Ok(b) => b,
        Err(e) => return Outcome::Fail(format!("bundle: {e}")),
    };
    if let Err(e) = setup(&mut b) {
        if let Some(s) = e.strip_prefix("SKIP:") {
            return Outcome::Skip(s.trim().to_string());
        }
        return Outcome::Fail(e);
    }
    res(b.run_checks_with(host))
}

fn set_ns(b: &mut Bundle, list: Value) {
    b.config["linux"]["namespaces"] = list;
}

fn read_trim(p: &std::path::Path) -> Result<String, String> {
    fs::read_to_string(p).map(|s| s.trim().to_string()).map_err(|e| format!("{}: {e}", p.display()))
}

fn host_cg_eq(b: &Bundle, ctrl: &str, file: &str, want: &str) -> Result<(), String> {
    let p = cgroup_file(&b.cgpath, ctrl, file);
    let got = read_trim(&p)?;
    if got == want {
        Ok(())
    } else {
        Err(format!("{}: {got:?}, want {want:?}", p.display()))
    }
}

fn cg_v1() -> bool {
    !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Make the bundle directory a shared mount (bind onto itself), so that the
/// propagation of the container's root is observable whatever the host's "/" is.
fn shared_bundle(b: &Bundle) -> Result<(), String> {
    let d = std::ffi::CString::new(b.dir.display().to_string()).unwrap();
    unsafe {
        if libc::mount(d.as_ptr(), d.as_ptr(), std::ptr::null(), libc::MS_BIND | libc::MS_REC, std::ptr::null()) != 0 {
            return Err(format!("bind {}: {}", b.dir.display(), std::io::Error::last_os_error()));
        }
        if libc::mount(std::ptr::null(), d.as_ptr(), std::ptr::null(), libc::MS_SHARED, std::ptr::null()) != 0 {
            return Err(format!("make-shared {}: {}", b.dir.display(), std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- lifecycle helpers

fn sleeper(b: &mut Bundle, cmd: &str) {
    b.config["process"]["args"] = json!(["/bin/sh", "-c", cmd]);
}

fn created(b: &Bundle) -> Result<(), String> {
    b.write()?;
    let o = b.create();
    if !o.ok() {
        return Err(format!("create failed: {}", o.describe()));
    }
    Ok(())
}

fn started(b: &Bundle) -> Result<(), String> {
    created(b)?;
    let o = b.rt(&["start", &b.id]);
    if !o.ok() {
        return Err(format!("start failed: {}", o.describe()));
    }
    Ok(())
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Result<(), String> {
    let d = Instant::now() + timeout;
    while Instant::now() < d {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("timed out waiting for {what}"))
}

fn pid_alive(pid: i64) -> bool {
    pid > 0 && unsafe { libc::kill(pid as i32, 0) } == 0 && {
        // a zombie counts as dead
        fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z')).unwrap_or(false)
    }
}

fn expect_status(b: &Bundle, want: &str) -> Result<Value, String> {
    let st = b.state()?;
    if st["status"] != want {
        return Err(format!("status {}, want {want:?} (state {st})", st["status"]));
    }
    Ok(st)
}

fn lifecycle(ctx: &Ctx, tag: &str, f: impl FnOnce(&mut Bundle) -> Result<(), String>) -> Outcome {
    let mut b = match Bundle::new(ctx, tag) {
        Ok(b) => b,
        Err(e) => return Outcome::Fail(format!("bundle: {e}")),
    };
    match f(&mut b) {
        Ok(()) => Outcome::Pass,
        Err(e) => match e.strip_prefix("SKIP:") {
            Some(s) => Outcome::Skip(s.trim().into()),
            None => Outcome::Fail(e),
        },
    }
}

// ---------------------------------------------------------------- hooks

const HOOKS: [&str; 6] = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

/// Host directory `<bundle>/hooks` (bind-mounted at /conformance-hooks for
/// startContainer, whose path resolves in the container). Each hook appends
/// `<label> <args...>` to `order` and stores its stdin in `<label>.json`.
fn setup_hooks(b: &mut Bundle, spec: &[(&str, &str, i32)]) -> Result<std::path::PathBuf, String> {
    let hd = b.dir.join("hooks");
    mkdir(&hd)?;
    fs::set_permissions(&hd, fs::Permissions::from_mode(0o777)).ok();
    let script = format!(
        "#!/bin/sh\nD={}\n[ -d \"$D\" ] || D=/conformance-hooks\nL=\"$1\"; C=\"$2\"; shift 2\necho \"$L $* env=$CONF_HOOK_ENV\" >> \"$D/order\"\ncat > \"$D/$L.json\"\n[ \"$C\" = 99 ] && exec sleep 30\nexit $C\n",
        hd.display()
    );
    let host_script = hd.join("hook.sh");
    fs::write(&host_script, &script).map_err(|e| e.to_string())?;
    fs::set_permissions(&host_script, fs::Permissions::from_mode(0o755)).ok();
    fs::write(b.rootfs.join("conformance/hook.sh"), &script).map_err(|e| e.to_string())?;
    fs::set_permissions(b.rootfs.join("conformance/hook.sh"), fs::Permissions::from_mode(0o755)).ok();
    let mut hooks = serde_json::Map::new();
    for (kind, label, code) in spec {
        let path = if *kind == "startContainer" { "/conformance/hook.sh".to_string() } else { host_script.display().to_string() };
        let mut h = json!({"path": path, "args": ["hook.sh", label, code.to_string(), "a1", "a 2"],
                       "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", format!("CONF_HOOK_ENV=e-{label}")]});
        if *code == 99 {
            h["timeout"] = json!(1);
        }
        hooks.entry(kind.to_string()).or_insert_with(|| json!([])).as_array_mut().unwrap().push(h);
    }
    b.config["hooks"] = Value::Object(hooks);
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/conformance-hooks", "type": "bind", "source": hd.display().to_string(), "options": ["rbind", "rw"]}));
    Ok(hd)
}

fn hook_order(hd: &std::path::Path) -> Vec<String> {
    fs::read_to_string(hd.join("order")).unwrap_or_default().lines().map(|l| l.split(' ').next().unwrap_or("").to_string()).collect()
}

/// Hook-failure case: `fail` is the failing hook kind. Two hooks of that kind
/// (the first fails) plus a poststop recorder.
fn hook_fail(ctx: &Ctx, kind: &'static str) -> Outcome {
    lifecycle(ctx, &format!("hookfail-{kind}"), |b| {
        sleeper(b, "echo ran; exec sleep 30");
        let mut spec = vec![(kind, "failing", 1), (kind, "second", 0)];
        if kind != "poststop" {
            spec.push(("poststop", "poststop", 0));
        }
        let hd = setup_hooks(b, &spec)?;
        b.write()?;
        let c = b.create();
        let order = || hook_order(&hd);
        match kind {
            "prestart" | "createRuntime" | "createContainer" | "startContainer" => {
                let mut errs = vec![];
                let failed_at_create = kind != "startContainer";
                if failed_at_create {
                    if c.ok() {
                        errs.push("create succeeded although a hook failed".to_string());
                    }
                } else {
                    if !c.ok() {
                        return Err(format!("create failed: {}", c.describe()));
                    }
                    let s = b.rt(&["start", &b.id]);
                    if s.ok() {
                        errs.push("start succeeded although a startContainer hook failed".into());
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
                if b.ctr_out().contains("ran") {
                    errs.push("user-specified program ran".into());
                }
                if order().iter().any(|l| l == "second") {
                    errs.push("the hook after the failing one still ran".into());
                }
                // "stop the container, and continue the lifecycle at step 12": the
                // container is destroyed (a delete may be needed) and poststop hooks run.
                match b.state() {
                    Ok(st) if st["status"] == "stopped" => {
                        let _ = b.rt(&["delete", &b.id]);
                    }
                    Ok(st) => errs.push(format!("container left in status {}", st["status"])),
                    Err(_) => {}
                }
                if !order().iter().any(|l| l == "poststop") {
                    errs.push(format!("poststop hooks did not run (hooks run: {:?})", order()));
                }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            }
            "poststart" => {
                if !c.ok() {
                    return Err(format!("create failed: {}", c.describe()));
                }
                let s = b.rt(&["start", &b.id]);
                let mut errs = vec![];
                if s.ok() {
                    errs.push("start succeeded although a poststart hook failed".into());
                }
                // "stop the container, and continue the lifecycle at step 12".
                match b.state() {
                    Ok(st) if st["status"] == "stopped" => {
                        let _ = b.rt(&["delete", &b.id]);
                    }
                    Ok(st) => errs.push(format!("container status {} after poststart failure, want stopped", st["status"])),
                    Err(_) => {}
                }
                if !order().iter().any(|l| l == "poststop") {
                    errs.push(format!("poststop hooks did not run (hooks run: {:?})", order()));
                }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            }
            _ => {
                // poststop
                if !c.ok() {
                    return Err(format!("create failed: {}", c.describe()));
                }
                let s = b.rt(&["start", &b.id]);
                if !s.ok() {
                    return Err(format!("start failed: {}", s.describe()));
                }
                let _ = b.rt(&["kill", &b.id, "KILL"]);
                b.wait_stopped()?;
                let d = b.rt(&["delete", &b.id]);
                let mut errs = vec![];
                if !d.ok() {
                    errs.push(format!("delete failed because of a poststop hook: {}", d.describe()));
                }
                if !order().iter().any(|l| l == "second") {
                    errs.push(format!("remaining poststop hook did not run (hooks run: {:?})", order()));
                }
                if b.state().is_ok() {
                    errs.push("container still exists after delete".into());
                }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            }
        }
    })
}

// ---------------------------------------------------------------- the list

mod spec13;

pub fn all() -> Vec<Case> {
    let mut all = vec![
        // ------------------------------------------------ namespaces
        case!("ns-new", "config-linux.md#namespaces: \"If `path` is not specified, the runtime MUST create a new container namespace of type `type`.\"", |ctx| {
            inside(ctx, "ns-new", |b| {
                for ns in ["pid", "net", "ipc", "uts", "mnt"] {
                    b.checks.push(json!({"kind": "ns", "ns": ns, "op": "ne", "ino": ctx.host_ns[ns]}));
                }
                b.checks.push(json!({"kind": "getpid", "value": 1}));
                Ok(())
            })
        }),
        case!("ns-inherit", "config-linux.md#namespaces: \"If a namespace type is not specified in the `namespaces` array, the container MUST inherit the runtime namespace of that type.\"", |ctx| {
            inside(ctx, "ns-inherit", |b| {
                set_ns(b, json!([{"type": "pid"}, {"type": "uts"}, {"type": "mount"}]));
                // sysfs needs a private netns
                b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
                b.checks.push(json!({"kind": "ns", "ns": "net", "op": "eq", "ino": ctx.host_ns["net"]}));
                b.checks.push(json!({"kind": "ns", "ns": "ipc", "op": "eq", "ino": ctx.host_ns["ipc"]}));
                Ok(())
            })
        }),
        case!("ns-join-path", "config-linux.md#namespaces: \"The runtime MUST place the container process in the namespace associated with that `path`.\"", |ctx| {
            inside(ctx, "ns-join", |b| {
                let child = std::process::Command::new("unshare").args(["--net", "--ipc", "sleep", "60"])
                    .stdin(std::process::Stdio::null()).spawn().map_err(|e| format!("unshare: {e}"))?;
                let pid = child.id();
                b.helpers.push(child);
                std::thread::sleep(Duration::from_millis(50));
                let mut inos = vec![];
                for ns in ["net", "ipc"] {
                    let p = format!("/proc/{pid}/ns/{ns}");
                    let ino = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&p).map_err(|e| format!("{p}: {e}"))?);
                    if ino == ctx.host_ns[ns] {
                        return Err(format!("helper namespace {p} not created"));
                    }
                    inos.push((ns, p, ino));
                }
                set_ns(b, json!([{"type": "pid"}, {"type": "network", "path": inos[0].1}, {"type": "ipc", "path": inos[1].1}, {"type": "uts"}, {"type": "mount"}]));
                for (ns, _, ino) in inos {
                    b.checks.push(json!({"kind": "ns", "ns": ns, "op": "eq", "ino": ino}));
                }
                Ok(())
            })
        }),
        case!("ns-cgroup", "config-linux.md#namespaces: \"cgroup the container will have an isolated view of the cgroup hierarchy.\"", |ctx| {
            inside(ctx, "ns-cgroup", |b| {
                if !ctx.host_ns.contains_key("cgroup") {
                    return Err("SKIP: kernel has no cgroup namespaces".into());
                }
                b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "cgroup"}));
                b.checks.push(json!({"kind": "ns", "ns": "cgroup", "op": "ne", "ino": ctx.host_ns["cgroup"]}));
                Ok(())
            })
        }),
        case!("ns-user-mappings", "config-linux.md#user-namespace-mappings: \"uidMappings (array of objects, OPTIONAL) describes the user namespace uid mappings from the host to the container.\"", |ctx| {
            inside(ctx, "ns-user", |b| {
                b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
                b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "cgroup");
                b.checks.push(json!({"kind": "ns", "ns": "user", "op": "ne", "ino": ctx.host_ns["user"]}));
                b.checks.push(json!({"kind": "file", "path": "/proc/self/uid_map", "value": "0     100000      65536"}));
                b.checks.push(json!({"kind": "file", "path": "/proc/self/gid_map", "value": "0     100000      65536"}));
                b.checks.push(json!({"kind": "ids", "uid": 0, "gid": 0}));
                Ok(())
            })
        }),
        case!("hostname", "config.md#hostname: \"hostname (string, OPTIONAL) specifies the container's hostname as seen by processes running inside the container.\"", |ctx| {
            inside(ctx, "hostname", |b| {
                b.config["hostname"] = json!("conf-host-x");
                b.checks.push(json!({"kind": "uname", "field": "hostname", "value": "conf-host-x"}));
                Ok(())
            })
        }),
        case!("domainname", "config.md#domainname: \"domainname (string, OPTIONAL) specifies the container's domainname as seen by processes running inside the container.\"", |ctx| {
            inside(ctx, "domainname", |b| {
                b.config["domainname"] = json!("conf.example");
                b.checks.push(json!({"kind": "uname", "field": "domainname", "value": "conf.example"}));
                Ok(())
            })
        }),

        case!("ns-time", "config-linux.md#namespaces: \"time the container will be able to have its own clocks.\"; \"If `path` is not specified, the runtime MUST create a new container namespace of type `type`.\"", |ctx| {
            inside(ctx, "ns-time", |b| {
                if !ctx.host_ns.contains_key("time") {
                    return Err("SKIP: kernel has no time namespaces".into());
                }
                b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
                b.checks.push(json!({"kind": "ns", "ns": "time", "op": "ne", "ino": ctx.host_ns["time"]}));
                Ok(())
            })
        }),
        case!("ns-path-wrong-type", "config-linux.md#namespaces: \"The runtime MUST generate an error if `path` is not associated with a namespace of type `type`.\"", |ctx| {
            lifecycle(ctx, "ns-wrongtype", |b| {
                let child = std::process::Command::new("unshare").args(["--ipc", "sleep", "60"])
                    .stdin(std::process::Stdio::null()).spawn().map_err(|e| format!("unshare: {e}"))?;
                let pid = child.id();
                b.helpers.push(child);
                std::thread::sleep(Duration::from_millis(50));
                set_ns(b, json!([{"type": "pid"}, {"type": "network", "path": format!("/proc/{pid}/ns/ipc")}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]));
                sleeper(b, "echo ran; exec sleep 30");
                b.write()?;
                let o = b.create();
                if o.ok() {
                    return Err("create succeeded with an ipc namespace path given for the network namespace".into());
                }
                if b.state().is_ok() {
                    return Err("create failed but a container exists".into());
                }
                Ok(())
            })
        }),
        // ------------------------------------------------ mounts
        case!("mounts-baseline", "config.md#mounts: \"The runtime MUST mount entries in the listed order.\" (type, options of each listed mount)", |ctx| {
            inside(ctx, "mounts-base", |b| {
                b.checks.extend([
                    json!({"kind": "mount", "target": "/proc", "fstype": "proc"}),
                    json!({"kind": "mount", "target": "/dev", "fstype": "tmpfs", "opts": ["nosuid", "mode=755"]}),
                    json!({"kind": "mount", "target": "/dev/pts", "fstype": "devpts", "opts": ["nosuid", "noexec", "mode=620", "ptmxmode=666", "gid=5"]}),
                    json!({"kind": "mount", "target": "/dev/shm", "fstype": "tmpfs", "opts": ["nosuid", "noexec", "nodev"]}),
                    json!({"kind": "mount", "target": "/dev/mqueue", "fstype": "mqueue", "opts": ["nosuid", "noexec", "nodev"]}),
                    json!({"kind": "mount", "target": "/sys", "fstype": "sysfs", "opts": ["nosuid", "noexec", "nodev", "ro"]}),
                ]);
                Ok(())
            })
        }),
        case!("mount-tmpfs-options", "config.md#mounts: \"options (array of strings, OPTIONAL) Mount options of the filesystem to be used.\"", |ctx| {
            inside(ctx, "mount-tmpfs", |b| {
                b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=750"]}));
                b.checks.push(json!({"kind": "mount", "target": "/mnt/t", "fstype": "tmpfs", "opts": ["nosuid", "nodev", "noexec", "size=1024k", "mode=750"]}));
                Ok(())
            })
        }),
        case!("mount-bind-ro", "config.md#mounts: \"source (string, OPTIONAL) A device name, but can also be a file or directory name for bind mounts\"; options ro", |ctx| {
            inside(ctx, "mount-bind", |b| {
                let src = b.dir.join("bindsrc");
                mkdir(&src)?;
                fs::write(src.join("marker"), "bind-marker").map_err(|e| e.to_string())?;
                b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/b", "type": "bind", "source": src.display().to_string(), "options": ["rbind", "ro"]}));
                b.checks.push(json!({"kind": "file", "path": "/mnt/b/marker", "value": "bind-marker"}));
                b.checks.push(json!({"kind": "ro", "path": "/mnt/b", "ro": true}));
                b.checks.push(json!({"kind": "writable", "path": "/mnt/b", "expect": false, "errno": libc::EROFS}));
                Ok(())
            })
        }),
        case!("mount-order", "config.md#mounts: \"The runtime MUST mount entries in the listed order.\"", |ctx| {
            inside(ctx, "mount-order", |b| {
                let m = b.config["mounts"].as_array_mut().unwrap();
                m.push(json!({"destination": "/mnt/o", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
                m.push(json!({"destination": "/mnt/o/inner", "type": "tmpfs", "source": "tmpfs", "options": ["size=3m"]}));
                m.push(json!({"destination": "/mnt/o2", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
                m.push(json!({"destination": "/mnt/o2", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]}));
                b.checks.push(json!({"kind": "mount", "target": "/mnt/o/inner", "fstype": "tmpfs", "opts": ["size=3072k"]}));
                b.checks.push(json!({"kind": "mount", "target": "/mnt/o2", "fstype": "tmpfs", "opts": ["size=2048k"]}));
                Ok(())
            })
        }),
        case!("mount-cgroup", "config-linux.md#control-groups: \"cgroupsPath ... the runtime MUST consistently attach to the same place in the cgroups hierarchy\" (seen from inside through the cgroup mount)", |ctx| {
            inside(ctx, "mount-cgroup", |b| {
                b.config["linux"]["resources"]["memory"] = json!({"limit": 50331648});
                if cg_v1() {
                    b.checks.push(json!({"kind": "file", "path": "/sys/fs/cgroup/memory/memory.limit_in_bytes", "value": "50331648"}));
                    b.checks.push(json!({"kind": "ro", "path": "/sys/fs/cgroup/memory", "ro": true}));
                } else {
                    b.checks.push(json!({"kind": "file", "path": "/sys/fs/cgroup/memory.max", "value": "50331648"}));
                }
                Ok(())
            })
        }),
        // ------------------------------------------------ devices
        case!("devices-default", "config-linux.md#default-devices: \"In addition to any devices configured with this setting, the runtime MUST also supply:\" /dev/null, zero, full, random, urandom, tty, ptmx", |ctx| {
            inside(ctx, "dev-default", |b| {
                for (p, ma, mi) in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)] {
                    b.checks.push(json!({"kind": "device", "path": format!("/dev/{p}"), "type": "c", "major": ma, "minor": mi}));
                }
                b.checks.push(json!({"kind": "exists", "path": "/dev/ptmx"}));
                Ok(())
            })
        }),
        case!("dev-symlinks", "runtime-linux.md#dev-symbolic-links: \"runtimes MUST create the following symlinks if the source file exists after processing mounts\" (/dev/fd, stdin, stdout, stderr)", |ctx| {
            inside(ctx, "dev-links", |b| {
                for (l, t) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")] {
                    b.checks.push(json!({"kind": "symlink", "path": format!("/dev/{l}"), "target": t}));
                }
                Ok(())
            })
        }),
        case!("devices-create", "config-linux.md#devices: \"devices (array of objects, OPTIONAL) lists devices that MUST be available in the container.\" (type, major, minor, fileMode, uid, gid)", |ctx| {
            inside(ctx, "dev-create", |b| {
                b.config["linux"]["devices"] = json!([
                    {"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1000, "gid": 1001},
                    {"path": "/dev/conf-loop", "type": "b", "major": 7, "minor": 250, "fileMode": 0o660, "uid": 0, "gid": 0}
                ]);
                b.checks.push(json!({"kind": "device", "path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "mode": 0o640, "uid": 1000, "gid": 1001}));
                b.checks.push(json!({"kind": "device", "path": "/dev/conf-loop", "type": "b", "major": 7, "minor": 250, "mode": 0o660, "uid": 0, "gid": 0}));
                Ok(())
            })
        }),
        case!("devices-cgroup-deny", "config-linux.md#allowed-device-list: \"allow (boolean, REQUIRED) - whether the entry is allowed or denied.\" (baseline deny-all; a node listed only in linux.devices gets no allow rule: runc and crun both deny it)", |ctx| {
            inside(ctx, "dev-deny", |b| {
                b.config["linux"]["devices"] = json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]);
                b.checks.push(json!({"kind": "open", "path": "/dev/conf-fuse", "errno": libc::EPERM}));
                Ok(())
            })
        }),
        case!("devices-cgroup-allow", "config-linux.md#allowed-device-list: \"allow (boolean, REQUIRED) - whether the entry is allowed or denied.\"", |ctx| {
            inside(ctx, "dev-allow", |b| {
                b.config["linux"]["devices"] = json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]);
                b.config["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}));
                b.checks.push(json!({"kind": "open", "path": "/dev/conf-fuse", "not_errno": libc::EPERM}));
                Ok(())
            })
        }),
        // ------------------------------------------------ masked / readonly / root
        case!("masked-paths", "config-linux.md#masked-paths: \"maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside the container so that they cannot be read.\"", |ctx| {
            inside(ctx, "masked", |b| {
                mkdir(&b.rootfs.join("conformance/secret-dir"))?;
                fs::write(b.rootfs.join("conformance/secret-dir/f"), "secret").ok();
                fs::write(b.rootfs.join("conformance/secret.txt"), "secret").ok();
                b.config["linux"]["maskedPaths"].as_array_mut().unwrap().extend([json!("/conformance/secret-dir"), json!("/conformance/secret.txt")]);
                for p in ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/conformance/secret-dir", "/conformance/secret.txt"] {
                    if p.starts_with("/conformance") || std::path::Path::new(p).exists() {
                        b.checks.push(json!({"kind": "masked", "path": p}));
                    }
                }
                Ok(())
            })
        }),
        case!("readonly-paths", "config-linux.md#readonly-paths: \"readonlyPaths (array of strings, OPTIONAL) will set the provided paths as readonly inside the container.\"", |ctx| {
            inside(ctx, "readonly", |b| {
                mkdir(&b.rootfs.join("conformance/rodir"))?;
                b.config["linux"]["readonlyPaths"].as_array_mut().unwrap().push(json!("/conformance/rodir"));
                b.checks.push(json!({"kind": "ro", "path": "/proc/sys", "ro": true}));
                b.checks.push(json!({"kind": "ro", "path": "/conformance/rodir", "ro": true}));
                b.checks.push(json!({"kind": "writable", "path": "/conformance/rodir", "expect": false, "errno": libc::EROFS}));
                b.checks.push(json!({"kind": "writable", "path": "/conformance", "expect": true}));
                Ok(())
            })
        }),
        case!("root-readonly", "config.md#root: \"readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container\"", |ctx| {
            inside(ctx, "root-ro", |b| {
                b.config["root"]["readonly"] = json!(true);
                b.checks.push(json!({"kind": "ro", "path": "/", "ro": true}));
                b.checks.push(json!({"kind": "writable", "path": "/", "expect": false, "errno": libc::EROFS}));
                Ok(())
            })
        }),
        case!("root-readwrite", "config.md#root: \"readonly (bool, OPTIONAL) ... defaults to false.\"", |ctx| {
            inside(ctx, "root-rw", |b| {
                b.checks.push(json!({"kind": "ro", "path": "/", "ro": false}));
                b.checks.push(json!({"kind": "writable", "path": "/", "expect": true}));
                Ok(())
            })
        }),
        case!("rootfs-propagation-private", "config-linux.md#rootfs-mount-propagation: \"private: the rootfs mount doesn't receive mount propagation events from the host\"", |ctx| {
            inside(ctx, "prop-private", |b| {
                shared_bundle(b)?;
                b.config["linux"]["rootfsPropagation"] = json!("private");
                b.checks.push(json!({"kind": "propagation", "target": "/", "mode": "private"}));
                Ok(())
            })
        }),
        case!("rootfs-propagation-slave", "config-linux.md#rootfs-mount-propagation: \"slave: the rootfs mount receives propagation events from the host ... but not the other way around.\" (bundle on a shared mount; / must show master:)", |ctx| {
            inside(ctx, "prop-slave", |b| {
                shared_bundle(b)?;
                b.config["linux"]["rootfsPropagation"] = json!("slave");
                b.checks.push(json!({"kind": "propagation", "target": "/", "mode": "slave"}));
                Ok(())
            })
        }),
        case!("rootfs-propagation-shared", "config-linux.md#rootfs-mount-propagation: \"shared: the rootfs mount belongs to a new peer group.\"", |ctx| {
            inside(ctx, "prop-shared", |b| {
                shared_bundle(b)?;
                b.config["linux"]["rootfsPropagation"] = json!("shared");
                b.checks.push(json!({"kind": "propagation", "target": "/", "mode": "shared"}));
                Ok(())
            })
        }),
        case!("rootfs-propagation-unbindable", "config-linux.md#rootfs-mount-propagation: \"unbindable: the rootfs mount is a private mount that cannot be bind-mounted.\"", |ctx| {
            inside(ctx, "prop-unbind", |b| {
                shared_bundle(b)?;
                b.config["linux"]["rootfsPropagation"] = json!("unbindable");
                b.checks.push(json!({"kind": "propagation", "target": "/", "mode": "unbindable"}));
                Ok(())
            })
        }),
        // ------------------------------------------------ process
        case!("sysctl", "config-linux.md#sysctl: \"sysctl (object, OPTIONAL) allows kernel parameters to be modified at runtime for the container.\"", |ctx| {
            inside(ctx, "sysctl", |b| {
                b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "12345"});
                b.checks.push(json!({"kind": "file", "path": "/proc/sys/net/ipv4/ip_forward", "value": "1"}));
                b.checks.push(json!({"kind": "file", "path": "/proc/sys/kernel/msgmax", "value": "12345"}));
                Ok(())
            })
        }),
        case!("rlimits", "config.md#posix-process: \"rlimits ... soft (uint64, REQUIRED) the value of the limit enforced for the corresponding resource. hard (uint64, REQUIRED) the ceiling for the soft limit\"", |ctx| {
            inside(ctx, "rlimits", |b| {
                b.config["process"]["rlimits"] = json!([
                    {"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512},
                    {"type": "RLIMIT_CORE", "soft": 1024, "hard": 2048},
                    {"type": "RLIMIT_NICE", "soft": 0, "hard": 0}
                ]);
                b.checks.push(json!({"kind": "rlimit", "resource": libc::RLIMIT_NOFILE, "soft": 256, "hard": 512}));
                b.checks.push(json!({"kind": "rlimit", "resource": libc::RLIMIT_CORE, "soft": 1024, "hard": 2048}));
                b.checks.push(json!({"kind": "rlimit", "resource": libc::RLIMIT_NICE, "soft": 0, "hard": 0}));
                Ok(())
            })
        }),
        case!("rlimits-invalid-type", "config.md#posix-process: \"The runtime MUST generate an error for any values which cannot be mapped to a relevant kernel interface.\"", |ctx| {
            lifecycle(ctx, "rlimit-bad", |b| {
                b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_CONFORMANCE_BOGUS", "soft": 1, "hard": 1}]);
                b.write()?;
                let o = b.create();
                if o.ok() {
                    let _ = b.rt(&["start", &b.id]);
                    return Err("create succeeded with an unknown rlimit type".into());
                }
                if b.state().is_ok() {
                    return Err("create failed but a container exists (\"a new container MUST NOT be created\")".into());
                }
                Ok(())
            })
        }),
        case!("caps-root", "config.md#linux-process: \"capabilities (object, OPTIONAL) is an object containing arrays that specifies the sets of capabilities for the process.\" (uid 0 with noNewPrivileges: after execve P=E=(bounding|inheritable|ambient)&permitted)", |ctx| {
            inside(ctx, "caps-root", |b| {
                let bnd = ["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID", "SETGID"];
                let inh = ["KILL", "SETGID"];
                let amb = ["KILL"];
                b.config["process"]["capabilities"] = json!({"bounding": cap_list(&bnd), "permitted": cap_list(&["KILL", "CHOWN", "SETGID"]),
                    "effective": cap_list(&["KILL", "CHOWN"]), "inheritable": cap_list(&inh), "ambient": cap_list(&amb)});
                // noNewPrivileges (baseline true): execve cannot gain beyond the old permitted set
                let all = (caps_mask(&bnd) | caps_mask(&inh) | caps_mask(&amb)) & caps_mask(&["KILL", "CHOWN", "SETGID"]);
                b.checks.extend([
                    json!({"kind": "status", "field": "CapBnd", "hex": caps_mask(&bnd)}),
                    json!({"kind": "status", "field": "CapInh", "hex": caps_mask(&inh)}),
                    json!({"kind": "status", "field": "CapAmb", "hex": caps_mask(&amb)}),
                    json!({"kind": "status", "field": "CapPrm", "hex": all}),
                    json!({"kind": "status", "field": "CapEff", "hex": all}),
                ]);
                Ok(())
            })
        }),
        case!("caps-nonroot", "config.md#linux-process: \"capabilities ... effective, bounding, inheritable, permitted, ambient\" (uid 1000: after execve P=E=ambient)", |ctx| {
            inside(ctx, "caps-user", |b| {
                let bnd = ["CHOWN", "KILL", "NET_BIND_SERVICE", "SETUID"];
                let inh = ["KILL", "NET_BIND_SERVICE"];
                let amb = ["NET_BIND_SERVICE"];
                b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
                b.config["process"]["capabilities"] = json!({"bounding": cap_list(&bnd), "permitted": cap_list(&["KILL", "NET_BIND_SERVICE", "CHOWN"]),
                    "effective": cap_list(&["KILL", "CHOWN"]), "inheritable": cap_list(&inh), "ambient": cap_list(&amb)});
                b.checks.extend([
                    json!({"kind": "status", "field": "CapBnd", "hex": caps_mask(&bnd)}),
                    json!({"kind": "status", "field": "CapInh", "hex": caps_mask(&inh)}),
                    json!({"kind": "status", "field": "CapAmb", "hex": caps_mask(&amb)}),
                    json!({"kind": "status", "field": "CapPrm", "hex": caps_mask(&amb)}),
                    json!({"kind": "status", "field": "CapEff", "hex": caps_mask(&amb)}),
                ]);
                Ok(())
            })
        }),
        case!("user-ids", "config.md#posix-platform-user: \"uid (int, REQUIRED) specifies the user ID in the container namespace. gid ... additionalGids (array of ints, OPTIONAL) specifies additional group IDs in the container namespace to be added to the process.\"", |ctx| {
            inside(ctx, "user-ids", |b| {
                b.config["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 3000]});
                b.checks.push(json!({"kind": "ids", "uid": 1000, "gid": 1001, "groups": [2000, 3000]}));
                Ok(())
            })
        }),
        case!("umask", "config.md#posix-platform-user: \"umask (int, OPTIONAL) specifies the umask of the user.\"", |ctx| {
            inside(ctx, "umask", |b| {
                b.config["process"]["user"]["umask"] = json!(0o027);
                b.checks.push(json!({"kind": "status", "field": "Umask", "value": "0027"}));
                Ok(())
            })
        }),
        case!("cwd", "config.md#process: \"cwd (string, REQUIRED) is the working directory that will be set for the executable.\"", |ctx| {
            inside(ctx, "cwd", |b| {
                b.config["process"]["cwd"] = json!("/conformance/wd");
                b.checks.push(json!({"kind": "cwd", "value": "/conformance/wd"}));
                Ok(())
            })
        }),
        case!("env", "config.md#process: \"env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.\"", |ctx| {
            inside(ctx, "env", |b| {
                b.config["process"]["env"] = json!(["PATH=/bin", "CONF_A=bar", "CONF_B=x=y", "CONF_EMPTY="]);
                b.checks.push(json!({"kind": "env", "name": "CONF_A", "value": "bar"}));
                b.checks.push(json!({"kind": "env", "name": "CONF_B", "value": "x=y"}));
                b.checks.push(json!({"kind": "env", "name": "CONF_EMPTY", "value": ""}));
                b.checks.push(json!({"kind": "env", "name": "PATH", "value": "/bin"}));
                Ok(())
            })
        }),
        case!("args", "config.md#process: \"args (array of strings, OPTIONAL) with similar semantics to IEEE Std 1003.1-2008 execvp's argv.\"", |ctx| {
            inside(ctx, "args", |b| {
                let argv = json!(["/conformance/checker", "/conformance/checks.json", "with space", "", "--flag=1"]);
                b.config["process"]["args"] = argv.clone();
                b.checks.push(json!({"kind": "argv", "value": argv}));
                Ok(())
            })
        }),
        case!("args-path-lookup", "config.md#process: \"args ... with similar semantics to IEEE Std 1003.1-2008 execvp's argv\" (execvp searches PATH for a name without slash)", |ctx| {
            inside(ctx, "args-path", |b| {
                b.config["process"]["args"] = json!(["checker", "/conformance/checks.json"]);
                b.config["process"]["env"] = json!(["PATH=/nonexistent:/conformance:/bin"]);
                b.checks.push(json!({"kind": "env", "name": "PATH", "value": "/nonexistent:/conformance:/bin"}));
                Ok(())
            })
        }),
        case!("oom-score-adj", "config.md#linux-process: \"oomScoreAdj (int, OPTIONAL) adjusts the oom-killer score in [pid]/oom_score_adj for the process's [pid] in a proc pseudo-filesystem.\"", |ctx| {
            inside(ctx, "oom", |b| {
                b.config["process"]["oomScoreAdj"] = json!(500);
                b.checks.push(json!({"kind": "file", "path": "/proc/self/oom_score_adj", "value": "500"}));
                Ok(())
            })
        }),
        case!("no-new-privileges-true", "config.md#linux-process: \"noNewPrivileges (bool, OPTIONAL) setting noNewPrivileges to true prevents the process from gaining additional privileges.\"", |ctx| {
            inside(ctx, "nnp-true", |b| {
                b.checks.push(json!({"kind": "status", "field": "NoNewPrivs", "value": "1"}));
                Ok(())
            })
        }),
        case!("no-new-privileges-false", "config.md#linux-process: \"noNewPrivileges (bool, OPTIONAL)\" (false: the flag is not set)", |ctx| {
            inside(ctx, "nnp-false", |b| {
                b.config["process"]["noNewPrivileges"] = json!(false);
                b.checks.push(json!({"kind": "status", "field": "NoNewPrivs", "value": "0"}));
                Ok(())
            })
        }),
        case!("seccomp-errno-ret", "config-linux.md#seccomp: \"errnoRet (uint, OPTIONAL) - the errno return code to use.\"", |ctx| {
            inside(ctx, "seccomp-errno", |b| {
                b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42}]});
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getppid, "errno": 42}));
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getpid}));
                b.checks.push(json!({"kind": "status", "field": "Seccomp", "value": "2"}));
                Ok(())
            })
        }),
        case!("seccomp-errno-default", "config-linux.md#seccomp: \"errnoRet (uint, OPTIONAL) ... If not specified its default value is `EPERM`.\"", |ctx| {
            inside(ctx, "seccomp-eperm", |b| {
                b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]});
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getppid, "errno": libc::EPERM}));
                Ok(())
            })
        }),
        case!("seccomp-default-action", "config-linux.md#seccomp: \"defaultAction (string, REQUIRED) - the default action for seccomp.\"; \"defaultErrnoRet (uint, OPTIONAL) - the errno return code to use.\"", |ctx| {
            inside(ctx, "seccomp-default", |b| {
                // default: ERRNO(38); allow list: everything the checker and the runtime's last exec steps need
                let allow = ["read", "write", "open", "openat", "close", "fstat", "newfstatat", "stat", "lstat", "statx", "mmap", "munmap", "mprotect", "brk",
                    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "ioctl", "readv", "writev", "access", "execve", "execveat", "exit", "exit_group", "arch_prctl",
                    "set_tid_address", "getdents64", "readlink", "readlinkat", "getcwd", "uname", "getpid", "getuid", "getgid", "geteuid", "getegid",
                    "getgroups", "getrlimit", "prlimit64", "statfs", "fstatfs", "lseek", "fcntl", "futex", "sigaltstack", "poll", "ppoll", "set_robust_list", "rseq",
                    "capget", "capset", "prctl", "setuid", "setgid", "setgroups", "setresuid", "setresgid", "chdir", "fchdir", "getrandom", "madvise", "nanosleep",
                    "clock_nanosleep", "epoll_pwait", "epoll_wait", "epoll_ctl", "select", "pselect6", "sched_yield", "gettid", "tgkill", "kill", "umask",
                    "dup", "dup2", "dup3", "pipe", "pipe2", "sendmsg", "sendto", "recvmsg", "recvfrom", "socket", "connect", "shutdown", "wait4", "clone", "clone3", "fork", "vfork", "close_range", "faccessat", "faccessat2", "openat2"];
                b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38, "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": allow.to_vec(), "action": "SCMP_ACT_ALLOW"}]});
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getppid, "errno": 38}));
                b.checks.push(json!({"kind": "syscall", "nr": libc::SYS_getpid}));
                Ok(())
            })
        }),
        case!("apparmor", "config.md#linux-process: \"apparmorProfile (string, OPTIONAL) specifies the name of the AppArmor profile for the process.\"", |ctx| {
            inside(ctx, "apparmor", |b| {
                if fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.trim() != "Y").unwrap_or(true) {
                    return Err("SKIP: AppArmor LSM absent on this host (/sys/module/apparmor/parameters/enabled missing or not Y)".into());
                }
                b.config["process"]["apparmorProfile"] = json!("unconfined");
                b.checks.push(json!({"kind": "file", "path": "/proc/self/attr/current", "contains": "unconfined"}));
                Ok(())
            })
        }),
        case!("selinux", "config.md#linux-process: \"selinuxLabel (string, OPTIONAL) specifies the SELinux label for the process.\"", |ctx| {
            inside(ctx, "selinux", |_b| {
                if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
                    return Err("SKIP: SELinux LSM absent on this host (/sys/fs/selinux missing)".into());
                }
                Err("SELinux host: label check not implemented".into())
            })
        }),
        // ------------------------------------------------ cgroups (read back on the host after create)
        case!("cgroup-path", "config-linux.md#cgroups-path: \"If the value is specified, the runtime MUST consistently attach to the same place in the cgroups hierarchy given the same value of cgroupsPath.\"", |ctx| {
            inside_host(ctx, "cg-path", |_b| Ok(()), &|b, st| {
                let pid = st["pid"].as_i64().unwrap_or(0);
                let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|e| e.to_string())?;
                let want = &b.cgpath;
                let mut n = 0;
                for l in cg.lines() {
                    let f: Vec<&str> = l.splitn(3, ':').collect();
                    if f.len() == 3 && (f[1].contains("memory") || f[1].contains("pids") || f[1].is_empty() && !cg_v1()) {
                        n += 1;
                        if f[2] != want {
                            return Err(format!("/proc/{pid}/cgroup: {l:?}, want path {want}"));
                        }
                    }
                }
                if n == 0 { Err(format!("no memory/pids line in /proc/{pid}/cgroup")) } else { Ok(()) }
            })
        }),
        case!("cgroup-memory", "config-linux.md#memory: \"limit (int64, OPTIONAL) - sets limit of memory usage in bytes\"", |ctx| {
            inside_host(ctx, "cg-mem", |b| {
                b.config["linux"]["resources"]["memory"] = json!({"limit": 67108864, "reservation": 33554432});
                Ok(())
            }, &|b, _| {
                if cg_v1() {
                    host_cg_eq(b, "memory", "memory.limit_in_bytes", "67108864")?;
                    host_cg_eq(b, "memory", "memory.soft_limit_in_bytes", "33554432")
                } else {
                    host_cg_eq(b, "memory", "memory.max", "67108864")?;
                    host_cg_eq(b, "memory", "memory.low", "33554432")
                }
            })
        }),
        case!("cgroup-memory-swap", "config-linux.md#memory: \"swap (int64, OPTIONAL) - sets limit of memory+Swap usage\"", |ctx| {
            inside_host(ctx, "cg-swap", |b| {
                if cg_v1() && !std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
                    return Err("SKIP: host kernel has no swap accounting (memory.memsw.limit_in_bytes missing)".into());
                }
                b.config["linux"]["resources"]["memory"] = json!({"limit": 67108864, "swap": 134217728});
                Ok(())
            }, &|b, _| {
                if cg_v1() { host_cg_eq(b, "memory", "memory.memsw.limit_in_bytes", "134217728") } else { host_cg_eq(b, "memory", "memory.swap.max", "67108864") }
            })
        }),
        case!("cgroup-cpu", "config-linux.md#cpu: \"shares (uint64, OPTIONAL) - specifies a relative share of CPU time ... quota (int64, OPTIONAL) ... period (uint64, OPTIONAL)\"", |ctx| {
            inside_host(ctx, "cg-cpu", |b| {
                b.config["linux"]["resources"]["cpu"] = json!({"shares": 512, "quota": 50000, "period": 100000});
                Ok(())
            }, &|b, _| {
                if cg_v1() {
                    host_cg_eq(b, "cpu", "cpu.shares", "512")?;
                    host_cg_eq(b, "cpu", "cpu.cfs_quota_us", "50000")?;
                    host_cg_eq(b, "cpu", "cpu.cfs_period_us", "100000")
                } else {
                    host_cg_eq(b, "cpu", "cpu.max", "50000 100000")
                }
            })
        }),
        case!("cgroup-cpuset", "config-linux.md#cpu: \"cpus (string, OPTIONAL) - list of CPUs the container will run in. mems (string, OPTIONAL) - list of memory nodes the container will run in.\"", |ctx| {
            inside_host(ctx, "cg-cpuset", |b| {
                b.config["linux"]["resources"]["cpu"] = json!({"cpus": "0", "mems": "0"});
                b.checks.push(json!({"kind": "status", "field": "Cpus_allowed_list", "value": "0"}));
                Ok(())
            }, &|b, _| {
                let f = if cg_v1() { "cpuset.cpus" } else { "cpuset.cpus" };
                host_cg_eq(b, "cpuset", f, "0")?;
                host_cg_eq(b, "cpuset", "cpuset.mems", "0")
            })
        }),
        case!("cgroup-pids", "config-linux.md#pids: \"limit (int64, REQUIRED) - specifies the maximum number of tasks in the cgroup\"", |ctx| {
            inside_host(ctx, "cg-pids", |b| {
                b.config["linux"]["resources"]["pids"] = json!({"limit": 42});
                Ok(())
            }, &|b, _| host_cg_eq(b, "pids", "pids.max", "42"))
        }),
        case!("cgroup-blkio-weight", "config-linux.md#block-io: \"weight (uint16, OPTIONAL) - specifies per-cgroup weight.\"", |ctx| {
            inside_host(ctx, "cg-blkio", |b| {
                if cg_v1() && !std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists() && !std::path::Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists() {
                    return Err("SKIP: host has no blkio weight file (no CFQ/BFQ io scheduler)".into());
                }
                b.config["linux"]["resources"]["blockIO"] = json!({"weight": 300});
                Ok(())
            }, &|b, _| {
                if std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists() { host_cg_eq(b, "blkio", "blkio.weight", "300") } else { host_cg_eq(b, "blkio", "blkio.bfq.weight", "300") }
            })
        }),
        // ------------------------------------------------ lifecycle, from outside
        case!("state-created", "runtime.md#create: \"Upon successful completion of this operation the status property of this container MUST be created.\"; runtime.md#state (ociVersion, id, status, pid, bundle, annotations)", |ctx| {
            lifecycle(ctx, "state-created", |b| {
                b.config["annotations"] = json!({"org.conformance.key": "value"});
                sleeper(b, "exec sleep 30");
                created(b)?;
                let st = expect_status(b, "created")?;
                let mut errs = vec![];
                if !st["ociVersion"].is_string() { errs.push("ociVersion missing".to_string()); }
                if st["id"] != b.id.as_str() { errs.push(format!("id {}, want {}", st["id"], b.id)); }
                let pid = st["pid"].as_i64().unwrap_or(0);
                if !pid_alive(pid) { errs.push(format!("pid {} is not a live process", st["pid"])); }
                let bundle = st.get("bundle").or(st.get("bundlePath")).and_then(|v| v.as_str()).unwrap_or("");
                if bundle != b.dir.display().to_string() { errs.push(format!("bundle {bundle:?}, want {:?}", b.dir.display())); }
                if st["annotations"]["org.conformance.key"] != "value" { errs.push(format!("annotations {}, want the config's", st["annotations"])); }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            })
        }),
        case!("create-does-not-run-process", "runtime.md#create: \"this operation MUST create a new container ... however, the user-specified program MUST NOT be run at this time.\"", |ctx| {
            lifecycle(ctx, "no-run", |b| {
                sleeper(b, "echo ran; exec sleep 30");
                created(b)?;
                std::thread::sleep(Duration::from_millis(200));
                if b.ctr_out().contains("ran") { return Err("program output seen before start".into()); }
                let o = b.rt(&["start", &b.id]);
                if !o.ok() { return Err(format!("start: {}", o.describe())); }
                wait_for("program output after start", Duration::from_secs(5), || b.ctr_out().contains("ran"))
            })
        }),
        case!("state-running", "runtime.md#start: \"Upon successful completion of this operation the status property of this container MUST be running.\"", |ctx| {
            lifecycle(ctx, "state-running", |b| {
                sleeper(b, "exec sleep 30");
                created(b)?;
                let pid0 = b.state()?["pid"].as_i64();
                let o = b.rt(&["start", &b.id]);
                if !o.ok() { return Err(format!("start: {}", o.describe())); }
                let st = expect_status(b, "running")?;
                if st["pid"].as_i64() != pid0 { return Err(format!("pid changed from {pid0:?} to {}", st["pid"])); }
                Ok(())
            })
        }),
        case!("state-stopped-exit", "runtime.md#kill: \"When the process in the container is stopped, irrespective of it being as a result of a kill operation or any other reason, the status property of this container MUST be stopped.\"", |ctx| {
            lifecycle(ctx, "stopped-exit", |b| {
                sleeper(b, "exit 0");
                started(b)?;
                b.wait_stopped()?;
                let o = b.rt(&["delete", &b.id]);
                if !o.ok() { return Err(format!("delete of stopped container: {}", o.describe())); }
                Ok(())
            })
        }),
        case!("state-stopped-kill", "runtime.md#kill: \"This operation MUST send the specified signal to the container process.\" then status MUST be stopped", |ctx| {
            lifecycle(ctx, "stopped-kill", |b| {
                sleeper(b, "exec sleep 30");
                started(b)?;
                let o = b.rt(&["kill", &b.id, "KILL"]);
                if !o.ok() { return Err(format!("kill: {}", o.describe())); }
                b.wait_stopped()
            })
        }),
        case!("start-twice", "runtime.md#start: \"Attempting to `start` a container that is not `created` MUST have no effect on the container and MUST generate an error.\"", |ctx| {
            lifecycle(ctx, "start-twice", |b| {
                sleeper(b, "echo ran; exec sleep 30");
                started(b)?;
                let pid = b.state()?["pid"].as_i64();
                wait_for("output", Duration::from_secs(5), || b.ctr_out().contains("ran"))?;
                let o = b.rt(&["start", &b.id]);
                if o.ok() { return Err("second start succeeded".into()); }
                let st = expect_status(b, "running")?;
                if st["pid"].as_i64() != pid { return Err("pid changed".into()); }
                std::thread::sleep(Duration::from_millis(100));
                if b.ctr_out().matches("ran").count() != 1 { return Err("program ran twice".into()); }
                Ok(())
            })
        }),
        case!("start-stopped", "runtime.md#start: \"Attempting to `start` a container that is not `created` MUST have no effect on the container and MUST generate an error.\"", |ctx| {
            lifecycle(ctx, "start-stopped", |b| {
                sleeper(b, "echo ran");
                started(b)?;
                b.wait_stopped()?;
                let o = b.rt(&["start", &b.id]);
                if o.ok() { return Err("start of a stopped container succeeded".into()); }
                expect_status(b, "stopped")?;
                Ok(())
            })
        }),
        case!("kill-stopped", "runtime.md#kill: \"Attempting to send a signal to a container that is neither `created` nor `running` MUST have no effect on the container and MUST generate an error.\"", |ctx| {
            lifecycle(ctx, "kill-stopped", |b| {
                sleeper(b, "exit 0");
                started(b)?;
                b.wait_stopped()?;
                let o = b.rt(&["kill", &b.id, "KILL"]);
                if o.ok() { return Err("kill of a stopped container succeeded".into()); }
                expect_status(b, "stopped")?;
                Ok(())
            })
        }),
        case!("kill-created", "runtime.md#kill: \"This operation MUST send the specified signal to the container process.\" (a created container can be signalled)", |ctx| {
            lifecycle(ctx, "kill-created", |b| {
                sleeper(b, "echo ran; exec sleep 30");
                created(b)?;
                let o = b.rt(&["kill", &b.id, "KILL"]);
                if !o.ok() { return Err(format!("kill of a created container: {}", o.describe())); }
                b.wait_stopped()?;
                if b.ctr_out().contains("ran") { return Err("program ran".into()); }
                Ok(())
            })
        }),
        case!("delete-running", "runtime.md#delete: \"Attempting to `delete` a container that is not `stopped` MUST have no effect on the container and MUST generate an error.\"", |ctx| {
            lifecycle(ctx, "delete-running", |b| {
                sleeper(b, "exec sleep 30");
                started(b)?;
                let pid = b.state()?["pid"].as_i64().unwrap_or(0);
                let o = b.rt(&["delete", &b.id]);
                if o.ok() { return Err("delete of a running container succeeded".into()); }
                expect_status(b, "running")?;
                if !pid_alive(pid) { return Err("container process died".into()); }
                if !cgroup_file(&b.cgpath, "pids", "cgroup.procs").exists() { return Err("container cgroup removed".into()); }
                Ok(())
            })
        }),
        case!("delete-created", "runtime.md#delete: \"Attempting to `delete` a container that is not `stopped` MUST have no effect on the container and MUST generate an error.\" (created)", |ctx| {
            lifecycle(ctx, "delete-created", |b| {
                sleeper(b, "exec sleep 30");
                created(b)?;
                let o = b.rt(&["delete", &b.id]);
                if o.ok() { return Err("delete of a created container succeeded".into()); }
                expect_status(b, "created")?;
                Ok(())
            })
        }),
        case!("delete-stopped", "runtime.md#delete: \"Deleting a container MUST delete the resources that were created during the create step.\"", |ctx| {
            lifecycle(ctx, "delete-stopped", |b| {
                sleeper(b, "exit 0");
                started(b)?;
                b.wait_stopped()?;
                let o = b.rt(&["delete", &b.id]);
                if !o.ok() { return Err(format!("delete: {}", o.describe())); }
                if b.state().is_ok() { return Err("state still succeeds after delete".into()); }
                for d in cgroup_dirs(&b.cgpath) {
                    if d.exists() { return Err(format!("cgroup {} left behind", d.display())); }
                }
                Ok(())
            })
        }),
        case!("nonexistent-container", "runtime.md#query-state: \"Attempting to query a container that does not exist MUST generate an error.\" (also start, kill, delete)", |ctx| {
            lifecycle(ctx, "nonexistent", |b| {
                let id = "conf-does-not-exist";
                let mut errs = vec![];
                for op in [vec!["state", id], vec!["start", id], vec!["kill", id, "KILL"], vec!["delete", id]] {
                    if b.rt(&op).ok() { errs.push(format!("{} succeeded", op[0])); }
                }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            })
        }),
        case!("create-duplicate-id", "runtime.md#create: \"If the ID provided is not unique across all containers within the scope of the runtime ... the implementation MUST generate an error and a new container MUST NOT be created.\"", |ctx| {
            lifecycle(ctx, "dup-id", |b| {
                sleeper(b, "exec sleep 30");
                created(b)?;
                let pid = b.state()?["pid"].as_i64();
                let o = b.create();
                if o.ok() { return Err("second create with the same id succeeded".into()); }
                let st = expect_status(b, "created")?;
                if st["pid"].as_i64() != pid { return Err("original container changed".into()); }
                Ok(())
            })
        }),
        case!("create-missing-bundle", "runtime.md#lifecycle: \"If the runtime is unable to create the environment specified in the config.json, it MUST generate an error.\" (no config.json)", |ctx| {
            lifecycle(ctx, "no-bundle", |b| {
                let _ = fs::remove_file(b.dir.join("config.json"));
                let o = b.create();
                if o.ok() { return Err("create without config.json succeeded".into()); }
                if b.state().is_ok() { return Err("a container exists after failed create".into()); }
                Ok(())
            })
        }),
        case!("create-invalid-id", "runtime.md#create: \"If the ID provided is not unique ... or is not valid in any other way, the implementation MUST generate an error and a new container MUST NOT be created.\" (id \"../conf-escape\")", |ctx| {
            lifecycle(ctx, "bad-id", |b| {
                sleeper(b, "exec sleep 30");
                b.write()?;
                let bad = "../conf-escape";
                b.extra_ids.push(bad.to_string());
                let o = b.create_id(bad, &[]);
                if o.ok() {
                    return Err("create with id \"../conf-escape\" succeeded".into());
                }
                if ctx.run_dir.join("conf-escape").exists() {
                    return Err("runtime wrote state outside its --root".into());
                }
                Ok(())
            })
        }),
        case!("personality", "config-linux.md#personality: \"`LINUX32` will set the `uname` system call to show a 32 bit CPU type, such as `i686`.\"", |ctx| {
            inside(ctx, "personality", |b| {
                b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
                b.checks.push(json!({"kind": "uname", "field": "machine", "value": "i686"}));
                Ok(())
            })
        }),
        case!("hook-timeout", "config.md#posix-platform-hooks: \"timeout (int, OPTIONAL) is the number of seconds before aborting the hook.\" (a createRuntime hook hanging past timeout 1 fails create)", |ctx| {
            lifecycle(ctx, "hook-timeout", |b| {
                sleeper(b, "echo ran; exec sleep 30");
                let hd = setup_hooks(b, &[("createRuntime", "slow", 99), ("createRuntime", "second", 0)])?;
                b.write()?;
                let t0 = Instant::now();
                let o = b.create();
                let dt = t0.elapsed();
                if o.timed_out {
                    return Err("create did not return within 10 s: the hook was not aborted".into());
                }
                if o.ok() {
                    return Err(format!("create succeeded although the hook exceeded its timeout (took {dt:?})"));
                }
                if dt > Duration::from_secs(8) {
                    return Err(format!("create took {dt:?} with a 1 s hook timeout"));
                }
                if hook_order(&hd).iter().any(|l| l == "second") {
                    return Err("the hook after the timed-out one ran".into());
                }
                Ok(())
            })
        }),
        case!("pid-file", "runtime CLI (runc-compatible): create --pid-file writes the container process pid; runtime.md#state: \"pid (int, REQUIRED when status is created or running on Linux)\"", |ctx| {
            lifecycle(ctx, "pid-file", |b| {
                sleeper(b, "exec sleep 30");
                b.write()?;
                let pf = b.dir.join("ctr.pid");
                let o = b.create_id(&b.id, &["--pid-file", &pf.display().to_string()]);
                if !o.ok() { return Err(format!("create: {}", o.describe())); }
                let got = read_trim(&pf)?;
                let st = b.state()?;
                if got != st["pid"].to_string() { return Err(format!("pid file {got:?}, state pid {}", st["pid"])); }
                Ok(())
            })
        }),
        case!("config-change-after-create", "runtime.md#create: \"Any changes made to the config.json file after this operation will not have an effect on the container.\"", |ctx| {
            lifecycle(ctx, "cfg-change", |b| {
                sleeper(b, "echo original; exec sleep 30");
                created(b)?;
                sleeper(b, "echo modified; exec sleep 30");
                b.write()?;
                let o = b.rt(&["start", &b.id]);
                if !o.ok() { return Err(format!("start: {}", o.describe())); }
                wait_for("output", Duration::from_secs(5), || !b.ctr_out().is_empty())?;
                if !b.ctr_out().contains("original") { return Err(format!("output {:?}, want the original args", b.ctr_out())); }
                Ok(())
            })
        }),
        case!("hooks-order-and-state", "config.md#posix-platform-hooks: \"Hooks MUST be called in the listed order.\" \"The state of the container MUST be passed to hooks over stdin\"; runtime.md#lifecycle steps: prestart, createRuntime, createContainer, startContainer, (program), poststart, poststop", |ctx| {
            lifecycle(ctx, "hooks", |b| {
                sleeper(b, "exec sleep 30");
                let mut spec = vec![];
                for k in HOOKS { spec.push((k, k, 0)); }
                spec.insert(2, ("createRuntime", "createRuntime2", 0));
                let hd = setup_hooks(b, &spec)?;
                let mut errs = vec![];
                started(b)?;
                wait_for("poststart", Duration::from_secs(5), || hook_order(&hd).iter().any(|l| l == "poststart"))?;
                let _ = b.rt(&["kill", &b.id, "KILL"]);
                b.wait_stopped()?;
                if hook_order(&hd).iter().any(|l| l == "poststop") { errs.push("poststop ran before delete".to_string()); }
                let o = b.rt(&["delete", &b.id]);
                if !o.ok() { return Err(format!("delete: {}", o.describe())); }
                let order = hook_order(&hd);
                let want = ["prestart", "createRuntime", "createRuntime2", "createContainer", "startContainer", "poststart", "poststop"];
                if order != want { errs.push(format!("hook order {order:?}, want {want:?}")); }
                for (_, label, _) in &spec {
                    let t = fs::read_to_string(hd.join(format!("{label}.json"))).unwrap_or_default();
                    match serde_json::from_str::<Value>(&t) {
                        Err(e) => errs.push(format!("{label}: stdin is not state JSON ({e}): {t:?}")),
                        Ok(st) => {
                            if st["id"] != b.id.as_str() { errs.push(format!("{label}: state id {}", st["id"])); }
                            let bundle = st.get("bundle").or(st.get("bundlePath")).and_then(|v| v.as_str()).unwrap_or("");
                            if bundle != b.dir.display().to_string() { errs.push(format!("{label}: state bundle {bundle:?}")); }
                            let s = st["status"].as_str().unwrap_or("");
                            if s.is_empty() { errs.push(format!("{label}: no status in state")); }
                        }
                    }
                }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            })
        }),
        case!("hooks-args-env", "config.md#posix-platform-hooks: \"args (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008 execv's argv. env (array of strings, OPTIONAL) with the same semantics as IEEE Std 1003.1-2008's environ.\"", |ctx| {
            lifecycle(ctx, "hooks-args", |b| {
                sleeper(b, "exit 0");
                let hd = setup_hooks(b, &[("createRuntime", "cr", 0), ("poststart", "ps", 0)])?;
                started(b)?;
                b.wait_stopped()?;
                let t = fs::read_to_string(hd.join("order")).unwrap_or_default();
                for want in ["cr a1 a 2 env=e-cr", "ps a1 a 2 env=e-ps"] {
                    if !t.lines().any(|l| l == want) { return Err(format!("hook log {t:?} lacks {want:?}")); }
                }
                Ok(())
            })
        }),
        case!("hook-fail-prestart", "runtime.md#lifecycle: \"If any prestart hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.\"", |ctx| hook_fail(ctx, "prestart")),
        case!("hook-fail-createRuntime", "runtime.md#lifecycle: \"If any createRuntime hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.\"", |ctx| hook_fail(ctx, "createRuntime")),
        case!("hook-fail-createContainer", "runtime.md#lifecycle: \"If any createContainer hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.\"", |ctx| hook_fail(ctx, "createContainer")),
        case!("hook-fail-startContainer", "runtime.md#lifecycle: \"If any startContainer hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.\"", |ctx| hook_fail(ctx, "startContainer")),
        case!("hook-fail-poststart", "runtime.md#lifecycle (1.3): \"If any poststart hook fails, the runtime MUST generate an error, stop the container, and continue the lifecycle at step 12.\"", |ctx| hook_fail(ctx, "poststart")),
        case!("hook-fail-poststop", "runtime.md#lifecycle: \"If any poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle continue as if the hook had succeeded.\"", |ctx| hook_fail(ctx, "poststop")),
        case!("exit-codes", "runtime CLI (runc-compatible): operations exit 0 on success and non-zero on error; `run` exits with the container process's exit status", |ctx| {
            lifecycle(ctx, "exit-codes", |b| {
                sleeper(b, "exit 7");
                b.write()?;
                let mut c = std::process::Command::new(&ctx.runtime);
                c.arg("--root").arg(&ctx.root).args(["run", "--bundle"]).arg(&b.dir).arg(&b.id).current_dir(&b.dir);
                let o = run_cmd(&mut c, &b.dir, b.timeout());
                if o.code != Some(7) { return Err(format!("run: {}, want exit 7", o.describe())); }
                let _ = b.rt(&["delete", "--force", &b.id]);
                Ok(())
            })
        }),
        case!("kill-signal-forms", "runtime.md#kill: \"This operation MUST send the specified signal to the container process.\" (CLI forms: name, SIG-name, number; default SIGTERM)", |ctx| {
            lifecycle(ctx, "kill-forms", |b| {
                sleeper(b, "trap 'echo got-USR1' USR1; trap 'echo got-TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done");
                started(b)?;
                wait_for("ready", Duration::from_secs(5), || b.ctr_out().contains("ready"))?;
                for (i, form) in ["USR1", "SIGUSR1", "10"].iter().enumerate() {
                    let o = b.rt(&["kill", &b.id, form]);
                    if !o.ok() { return Err(format!("kill {form}: {}", o.describe())); }
                    wait_for(&format!("signal from `kill {form}`"), Duration::from_secs(3), || b.ctr_out().matches("got-USR1").count() == i + 1)?;
                }
                let o = b.rt(&["kill", &b.id]);
                if !o.ok() { return Err(format!("kill (default signal): {}", o.describe())); }
                wait_for("SIGTERM from `kill <id>`", Duration::from_secs(3), || b.ctr_out().contains("got-TERM"))?;
                b.wait_stopped()
            })
        }),
        case!("features", "features.md: \"ociVersionMin (string, REQUIRED) ... ociVersionMax (string, REQUIRED)\"; hooks, mountOptions, linux.namespaces/capabilities as arrays of strings", |ctx| {
            lifecycle(ctx, "features", |b| {
                let o = b.rt(&["features"]);
                if !o.ok() { return Err(format!("features: {}", o.describe())); }
                let v: Value = serde_json::from_str(&o.stdout).map_err(|e| format!("features output is not JSON: {e}"))?;
                let mut errs = vec![];
                for k in ["ociVersionMin", "ociVersionMax"] {
                    if !v[k].is_string() { errs.push(format!("{k} missing")); }
                }
                let strs = |x: &Value| x.as_array().map(|a| a.iter().all(|s| s.is_string())).unwrap_or(false);
                for k in ["hooks", "mountOptions"] {
                    if !v[k].is_null() && !strs(&v[k]) { errs.push(format!("{k} is not an array of strings")); }
                }
                if let Some(h) = v["hooks"].as_array() {
                    for k in HOOKS { if !h.iter().any(|x| x == k) { errs.push(format!("hooks lacks {k}")); } }
                }
                for k in ["namespaces", "capabilities"] {
                    if !v["linux"][k].is_null() && !strs(&v["linux"][k]) { errs.push(format!("linux.{k} is not an array of strings")); }
                }
                if let Some(n) = v["linux"]["namespaces"].as_array() {
                    for k in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
                        if !n.iter().any(|x| x == k) { errs.push(format!("linux.namespaces lacks {k}")); }
                    }
                }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            })
        }),
    ];
    all.extend(spec13::cases());
    all
}
