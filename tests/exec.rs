//! `bulkhead exec` against the real binary, as root: what the exec'd process joins and gets
//! (namespaces, cgroups, user, caps, env, seccomp, fds, personality, oomScoreAdj). Each test
//! has its own container (ID, --root, cgroupsPath) removed by a Drop guard, and checks from
//! inside the exec'd process. Run: cargo test --test exec -- --test-threads=2

mod exec_common;

use exec_common::*;
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ns_links(script_pid: &str) -> String {
    format!("for n in mnt net ipc uts pid cgroup; do readlink /proc/{script_pid}/ns/$n; done")
}

#[test]
fn joins_every_namespace_of_the_init() {
    let ct = Ct::start("ns", |_| {});
    let mine = ct.sh(&[], &ns_links("self"));
    let init = ct.sh(&[], &ns_links("1"));
    assert_eq!(mine.lines().count(), 6, "{mine}");
    assert_eq!(mine, init, "exec'd process and init differ in namespaces");
    // ... and they are not simply the host's.
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert_ne!(mine.lines().next().unwrap(), host_mnt.to_str().unwrap());
    // The pid namespace is the container's: the init is pid 1 there, we are not.
    let pid = ct.sh(&[], "echo $$");
    assert_ne!(pid.trim(), "1");
    assert!(pid.trim().parse::<i32>().unwrap() < 1000, "pid {pid} looks like a host pid");
    // The root is the container's rootfs.
    std::fs::write(ct.rootfs().join("tmp/marker"), "inside").unwrap();
    assert_eq!(ct.sh(&[], "cat /tmp/marker"), "inside");
    ct.assert_only_init();
}

#[test]
fn joins_the_cgroup_in_every_hierarchy() {
    let ct = Ct::start("cg", |_| {});
    let pidfile = ct.bundle.path().join("exec.pid");
    let out = ct.cmd(&["exec", "-d", "--pid-file", pidfile.to_str().unwrap(), &ct.id, "sleep", "100"], true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let host_view = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let init_view = std::fs::read_to_string(format!("/proc/{}/cgroup", ct.init_pid())).unwrap();
    assert_eq!(host_view, init_view, "exec'd process is not in the init's cgroups");
    let lines: Vec<&str> = host_view.lines().collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.ends_with(&ct.cgroup), "hierarchy line {l:?} is not in {}", ct.cgroup);
    }
    assert!(ct.cgroup_pids().contains(&pid));
    unsafe { libc::kill(pid, libc::SIGKILL) };
    ct.assert_only_init();
}

/// `/proc/PID/cgroup` as hierarchy (the controllers field, "" for cgroup2) → path.
fn cgroup_map(pid: i32) -> std::collections::BTreeMap<String, String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    s.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctl.to_string(), path.to_string()))
        })
        .collect()
}

/// runc 1.5 (issue 19, item 3): on a v1/hybrid host an exec'd process is in the container's
/// cgroup in every hierarchy the init is in, whichever way it got there: the child writing "0"
/// to each v1 `tasks` file (the fast path) or the parent writing each `cgroup.procs` (the path
/// a frozen container takes with --ignore-paused). Checked hierarchy by hierarchy, so a
/// missed one is named.
#[test]
fn exec_joins_every_hierarchy_on_both_join_paths() {
    let ct = Ct::start("cg-all", |_| {});
    let init = cgroup_map(ct.init_pid());
    let v1 = init.keys().filter(|k| !k.is_empty()).count();
    if v1 == 0 {
        eprintln!("pure cgroup2 host: one hierarchy, covered by joins_the_cgroup_in_every_hierarchy");
    }
    let (freezer, frozen, thawed) = ct.freezer_file();
    for paused in [false, true] {
        if paused && text(&Command::new(&*BIN).arg("--version").output().unwrap().stdout).starts_with("runc") {
            continue; // runc's `exec -d` waits for the frozen process to exec; that path is bulkhead's
        }
        if paused {
            std::fs::write(&freezer, frozen).unwrap();
            wait_for(Duration::from_secs(5), "the cgroup to freeze", || std::fs::read_to_string(&freezer).ok().filter(|s| s.trim() == frozen || s.trim() == "1"));
        }
        let pidfile = ct.bundle.path().join(format!("exec-{paused}.pid"));
        let mut args = vec!["exec", "-d", "--pid-file", pidfile.to_str().unwrap()];
        if paused {
            args.push("--ignore-paused");
        }
        args.extend([ct.id.as_str(), "sleep", "100"]);
        let out = ct.cmd(&args, true);
        assert_eq!(out.status.code(), Some(0), "paused={paused}: {}", text(&out.stderr));
        let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
        let mine = cgroup_map(pid);
        if paused {
            std::fs::write(&freezer, thawed).unwrap();
        }
        unsafe { libc::kill(pid, libc::SIGKILL) };
        for (h, path) in &init {
            assert_eq!(mine.get(h), Some(path), "paused={paused}: hierarchy {h:?}: exec'd process at {:?}, init at {path:?}", mine.get(h));
            assert!(path.ends_with(&ct.cgroup), "hierarchy {h:?}: the init is at {path}, not in {}", ct.cgroup);
        }
        assert_eq!(mine.len(), init.len(), "paused={paused}: {mine:?} vs {init:?}");
    }
    ct.assert_only_init();
}

/// A cgroup namespace, whose root is the container's cgroup (runc's `spec` lists one only on
/// a pure cgroup2 host).
fn with_cgroupns(c: &mut serde_json::Value) {
    let nss = c["linux"]["namespaces"].as_array_mut().unwrap();
    if !nss.iter().any(|n| n["type"] == "cgroup") {
        nss.push(json!({"type": "cgroup"}));
    }
}

#[test]
fn sub_cgroup_and_escape_rejected() {
    let ct = Ct::start("subcg", with_cgroupns);
    ct.make_sub_cgroup("sub");
    let out = ct.exec(&["--cgroup", "sub"], &["cat", "/proc/self/cgroup"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // In the cgroup namespace the container's cgroup is /, so the sub-cgroup shows as /sub.
    for l in text(&out.stdout).lines() {
        assert!(l.ends_with(":/sub"), "{l:?} not in the sub-cgroup");
    }
    for bad in ["..", "../other", "sub/../../x"] {
        let out = ct.exec(&["--cgroup", bad], &["true"]);
        assert_eq!(out.status.code(), Some(255), "--cgroup {bad} accepted");
        assert!(text(&out.stderr).contains("not a sub cgroup path"), "{}", text(&out.stderr));
    }
    let out = ct.exec(&["--cgroup", "nosuch"], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("nosuch"), "{}", text(&out.stderr));
    ct.assert_only_init();
}

/// Issue 15 item 6: the v1 `controller[,controller]:path` form puts the process in the
/// sub-cgroup of those hierarchies only; `delete --force` removes sub-cgroups made inside the
/// container's cgroup (with a process in them) in every hierarchy.
#[test]
fn exec_cgroup_controller_form_and_delete_removes_sub_cgroups() {
    let ct = Ct::start("subcg-v1", with_cgroupns);
    ct.make_sub_cgroup("sub");
    let v1 = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v1 {
        let out = ct.exec(&["--cgroup", "memory,pids:sub"], &["cat", "/proc/self/cgroup"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        for l in stdout.lines() {
            let ctrls = l.split(':').nth(1).unwrap_or("");
            let want_sub = ctrls.split(',').any(|c| c == "memory" || c == "pids");
            assert_eq!(l.ends_with(":/sub"), want_sub, "{l:?} in {stdout}");
        }
    }
    // A process left in the sub-cgroups, then delete --force: nothing of either is left.
    let out = ct.cmd(&["exec", "-d", "--cgroup", "sub", &ct.id, "sleep", "1000"], true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let subs: Vec<_> = ct.cgroup_dirs().into_iter().map(|d| d.join("sub")).filter(|d| d.exists()).collect();
    assert!(!subs.is_empty());
    let out = ct.cmd(&["delete", "--force", &ct.id], false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let left: Vec<_> = ct.cgroup_dirs().into_iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "cgroups left after delete --force: {left:?}");
}

#[test]
fn user_and_additional_gids() {
    let ct = Ct::start("user", |_| {});
    let s = ct.sh(&["-u", "1000:1001", "-g", "7", "--additional-gids", "8"], "cat /proc/self/status");
    assert_eq!(status_field(&s, "Uid"), Some("1000\t1000\t1000\t1000"));
    assert_eq!(status_field(&s, "Gid"), Some("1001\t1001\t1001\t1001"));
    assert_eq!(status_field(&s, "Groups"), Some("7 8"));
    let s = ct.sh(&["--user", "42"], "id -u; id -g");
    assert_eq!(s, "42\n0\n");
    let out = ct.exec(&["-u", "1000:abc"], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("abc"), "{}", text(&out.stderr));
}

#[test]
fn capabilities_default_to_the_containers_and_cap_adds() {
    let ct = Ct::start("caps", |_| {});
    let init = ct.sh(&[], "cat /proc/1/status");
    let mine = ct.sh(&[], "cat /proc/self/status");
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_field(&mine, f), status_field(&init, f), "{f}");
    }
    let eff = capmask(status_field(&mine, "CapEff").unwrap());
    assert_ne!(eff, 0);
    assert_eq!(eff & (1 << 21), 0, "CAP_SYS_ADMIN should not be in the default set");
    let s = ct.sh(&["--cap", "CAP_SYS_ADMIN", "--cap", "CAP_NET_RAW"], "cat /proc/self/status");
    for f in ["CapEff", "CapPrm", "CapBnd"] {
        let m = capmask(status_field(&s, f).unwrap());
        assert_ne!(m & (1 << 21), 0, "{f} lacks CAP_SYS_ADMIN: {m:x}");
        assert_ne!(m & (1 << 13), 0, "{f} lacks CAP_NET_RAW: {m:x}");
    }
    // As runc 1.5's exec: --cap leaves the inheritable set alone (and so ambient, which the
    // kernel only takes from inheritable).
    for f in ["CapInh", "CapAmb"] {
        let m = capmask(status_field(&s, f).unwrap());
        assert_eq!(m & ((1 << 21) | (1 << 13)), 0, "{f} got the added caps: {m:x}");
    }
    // A capability unknown to the runtime is ignored with runc 1.5's warning, naming it.
    let out = ct.exec(&["--cap", "CAP_NOPE"], &["true"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("ignoring unknown or unavailable capabilities: [CAP_NOPE]"), "{}", text(&out.stderr));
}

#[test]
fn cwd_env_umask_rlimits() {
    let ct = Ct::start("env", |c| {
        c["process"]["env"] = json!(["PATH=/usr/bin:/bin", "KEEP=1", "OVER=old"]);
        c["process"]["user"]["umask"] = json!(0o027);
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 777, "hard": 1024}]);
        c["process"]["cwd"] = json!("/etc");
    });
    assert_eq!(ct.sh(&[], "pwd"), "/etc\n");
    assert_eq!(ct.sh(&["--cwd", "/tmp"], "pwd"), "/tmp\n");
    let env = ct.sh(&["-e", "FOO=bar", "--env", "OVER=new"], "env");
    let lines: Vec<&str> = env.lines().collect();
    for want in ["FOO=bar", "OVER=new", "KEEP=1", "PATH=/usr/bin:/bin", "HOME=/root"] {
        assert!(lines.contains(&want), "{want} missing from {env}");
    }
    assert!(!lines.contains(&"OVER=old"), "{env}");
    // PATH overridden: the lookup uses the new one.
    let out = ct.exec(&["-e", "PATH=/nowhere"], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(ct.sh(&[], "umask"), "0027\n");
    assert_eq!(ct.sh(&[], "ulimit -n; ulimit -Hn"), "777\n1024\n");
    let out = ct.exec(&["--cwd", "/nonexistent"], &["true"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(text(&out.stderr).contains("/nonexistent"), "{}", text(&out.stderr));
}

#[test]
fn seccomp_and_no_new_privs_apply() {
    let ct = Ct::start("sec", |c| {
        c["process"]["noNewPrivileges"] = json!(false);
        c["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]
        });
    });
    let s = ct.sh(&[], "cat /proc/self/status");
    assert_eq!(status_field(&s, "Seccomp"), Some("2"), "{s}");
    assert_eq!(status_field(&s, "NoNewPrivs"), Some("0"));
    let out = ct.exec(&[], &["mkdir", "/tmp/x"]);
    assert_ne!(out.status.code(), Some(0), "mkdir allowed despite the filter");
    assert!(text(&out.stderr).contains("Operation not permitted"), "{}", text(&out.stderr));
    assert!(!ct.rootfs().join("tmp/x").exists());
    // Writes in general work: it is the filter that refused.
    ct.sh(&[], "echo x > /tmp/y");
    assert!(ct.rootfs().join("tmp/y").exists());
    let s = ct.sh(&["--no-new-privs"], "cat /proc/self/status");
    assert_eq!(status_field(&s, "NoNewPrivs"), Some("1"));
    assert_eq!(status_field(&s, "Seccomp"), Some("2"));
    // Those execs loaded the filter create saved compiled; without it (a container from an
    // earlier bulkhead) or with a damaged one, exec compiles the config's and refuses alike.
    let saved = ct.root.path().join(&ct.id).join("seccomp.bpf");
    assert!(saved.is_file(), "create saved the compiled filter");
    for damage in [Some(&b"bulkhead seccomp filter 1\n\x01"[..]), None] {
        match damage {
            Some(bytes) => std::fs::write(&saved, bytes).unwrap(),
            None => std::fs::remove_file(&saved).unwrap(),
        }
        let out = ct.exec(&[], &["mkdir", "/tmp/z"]);
        assert!(text(&out.stderr).contains("Operation not permitted"), "{damage:?}: {}", text(&out.stderr));
        assert!(!ct.rootfs().join("tmp/z").exists());
    }
}

#[test]
fn runtime_fds_hidden_and_preserve_fds() {
    let ct = Ct::start("fds", |_| {});
    // Only stdio reaches the program: looked at from the host, on a detached process whose
    // fds we can list at leisure.
    let pidfile = ct.bundle.path().join("fds.pid");
    let out = ct.cmd(&["exec", "-d", "--pid-file", pidfile.to_str().unwrap(), &ct.id, "sleep", "100"], true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let mut fds: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    fds.sort_unstable();
    assert_eq!(fds, vec![0, 1, 2], "fds of the exec'd process");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // --preserve-fds 1 passes fd 3.
    let out_file = ct.bundle.path().join("fd3.out");
    let f = std::fs::File::create(&out_file).unwrap();
    let run = |preserve: bool| {
        use std::os::fd::AsRawFd;
        let raw = f.as_raw_fd();
        let mut c = Command::new(&*BIN);
        c.arg("--root").arg(ct.root.path()).arg("exec");
        if preserve {
            c.args(["--preserve-fds", "1"]);
        }
        c.args([&ct.id, "sh", "-c", "echo through-fd3 >&3"]).stdout(Stdio::null()).stderr(Stdio::piped());
        unsafe {
            c.pre_exec(move || {
                if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        run_bounded(c)
    };
    let out = run(false);
    assert_ne!(out.status.code(), Some(0), "fd 3 reached the container without --preserve-fds");
    let out = run(true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "through-fd3\n");
}

#[test]
fn exec_into_a_created_container() {
    // runc allows exec before start: the process joins the waiting init's namespaces.
    let ct = Ct::with("created", |_| {}, &["create"]);
    assert_eq!(ct.state()["status"], "created");
    // The waiting init is non-dumpable until it execs (CVE-2019-5736, as runc's), so its
    // /proc/1/ns links are unreadable from inside: compare with the host's view of it.
    let init = ct.init_pid();
    let host_view: String = ["mnt", "net", "ipc", "uts", "pid", "cgroup"]
        .iter()
        .map(|n| format!("{}\n", std::fs::read_link(format!("/proc/{init}/ns/{n}")).unwrap().display()))
        .collect();
    assert_eq!(ct.sh(&[], &ns_links("self")), host_view);
    assert_eq!(ct.state()["status"], "created", "exec started the container");
}

#[test]
fn exec_with_no_pivot_sees_the_container_root() {
    let ct = Ct::with("nopivot", |_| {}, &["run", "-d", "--no-pivot"]);
    std::fs::write(ct.rootfs().join("tmp/np-marker"), "np").unwrap();
    assert_eq!(ct.sh(&[], "cat /tmp/np-marker"), "np");
    // The root is the rootfs itself, not the mount namespace's (host) root.
    assert_eq!(ct.sh(&[], "stat -c %i /"), ct.sh(&[], "stat -c %i /proc/1/root/"));
    assert!(ct.sh(&[], "ls /").split_whitespace().any(|n| n == "bin"));
    ct.assert_only_init();
}

#[test]
fn exec_into_a_user_namespace() {
    let ct = Ct::start("userns", |c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    });
    assert_eq!(ct.sh(&[], "readlink /proc/self/ns/user"), ct.sh(&[], "readlink /proc/1/ns/user"));
    assert_eq!(ct.sh(&[], "id -u"), "0\n");
    let pidfile = ct.bundle.path().join("u.pid");
    let out = ct.cmd(&["exec", "-d", "--pid-file", pidfile.to_str().unwrap(), "-u", "5", &ct.id, "sleep", "100"], true);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_field(&st, "Uid"), Some("200005\t200005\t200005\t200005"), "host view of the uid");
    unsafe { libc::kill(pid, libc::SIGKILL) };
    ct.assert_only_init();
}

/// runc 1.5: the config's linux.personality applies to exec'd processes too (LINUX32 makes
/// uname(2) report a 32-bit machine).
#[test]
fn exec_gets_the_containers_personality() {
    let ct = Ct::start("persona", |c| {
        c["linux"]["personality"] = serde_json::json!({"domain": "LINUX32"});
    });
    let init = ct.sh(&[], "cat /proc/1/personality");
    let mine = ct.sh(&[], "cat /proc/self/personality");
    assert_eq!(init.trim(), "00000008", "{init}");
    assert_eq!(mine.trim(), "00000008", "{mine}");
}

/// The config's process.oomScoreAdj applies to exec'd processes too (runc's getProcess copies
/// the whole process), written before they join the container.
#[test]
fn exec_gets_the_configs_oom_score_adj() {
    let ct = Ct::start("oomadj", |c| c["process"]["oomScoreAdj"] = json!(321));
    let out = ct.exec(&[], &["cat", "/proc/self/oom_score_adj"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "321");
    ct.assert_only_init();
}
