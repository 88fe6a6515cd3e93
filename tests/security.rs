//! Escape regression tests: each one attacks from inside a real busybox container (or plants
//! the attack in its rootfs/config) and checks that the host is untouched. Root only; every
//! test has its own --root, container IDs and cgroup paths, and cleans up in Drop.
//!
//! Run: cargo test --test security -- --test-threads=2
//!
//! Where a test was shown to fail on a weakened build, its comment says how. Here, the
//! runtime's own handles: CVE-2019-5736 `cve_2019_5736_*`; CVE-2024-21626 `cve_2024_21626_*`;
//! ids / --pid-file / state dirs. Elsewhere: security_rootfs.rs (CVE-2019-19921,
//! CVE-2021-30465, CVE-2023-27561, CVE-2025-31133, CVE-2025-52565, CVE-2025-52881),
//! security_userns.rs (user namespaces, rootless, idmapped mounts), security_confine.rs
//! (capabilities, LSM labels, personality, intelRdt), security_seccomp.rs (seccomp notify).

mod sec_common;

use sec_common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// CVE-2019-5736: overwriting the runtime binary through /proc/<pid>/exe.
// ---------------------------------------------------------------------------------------------

/// Container A (the attacker) owns a pid namespace; container B joins it, so B's init — a fork
/// of the runtime binary until it execs — is visible to A while it waits for `start`. A looks
/// for it by comm, opens /proc/<pid>/exe, and after B's exec tries to write through the fd
/// (the classic exploit: the open fd reopened for writing via /proc/self/fd/3). B is created
/// with a *copy* of bulkhead (the decoy), so a successful attack damages only the decoy.
///
/// Without PR_SET_DUMPABLE 0 before the clone (tried by removing the prctl in
/// process::spawn), A reports "opened" and the decoy's content changes: the test fails.
#[test]
fn cve_2019_5736_runtime_exe_not_writable_from_container() {
    if skip() {
        return;
    }
    let mut ctx = Ctx::new("5736");
    let shared = ctx.path("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    let decoy = ctx.path("bulkhead-decoy");
    std::fs::copy(BIN, &decoy).unwrap();
    let before = sha(&decoy);

    // A: scan for a process whose comm is the decoy's name, attack it, report in /shared.
    let script = r#"
end=$(( $(date +%s) + 25 ))
while [ $(date +%s) -lt $end ]; do
  for d in /proc/[0-9]*; do
    c=$(cat $d/comm 2>/dev/null)
    case "$c" in bulkhead-decoy*)
      echo "$d" > /shared/seen
      # Retry while it is still the runtime: early on its full capabilities protect it, after
      # the capability drop only non-dumpability does.
      while [ "$(cat $d/comm 2>/dev/null)" = "$c" ]; do
        { l=$(readlink /proc/self/fd/3)
          # Between the comm check and the open the init may have exec'd: that exe is busybox.
          case "$l" in *bulkhead-decoy*) ;; *) continue ;; esac
          echo "$l" > /shared/opened
          i=0
          while [ $i -lt 200 ]; do
            if (echo PWNED >> /proc/self/fd/3) 2>/dev/null; then echo wrote > /shared/wrote; break; fi
            sleep 0.05; i=$((i+1))
          done
        } 3< $d/exe 2>/dev/null
        [ -e /shared/opened ] && break
      done
      [ -e /shared/opened ] || echo denied > /shared/denied
      echo done > /shared/done
      # Stay: pid 1 of the namespace exiting would kill B's init.
      sleep 30; exit 0 ;;
    esac
  done
done
echo timeout > /shared/done
"#;
    let mut cfg = ctx.config();
    cfg["mounts"].as_array_mut().unwrap().push(mount_entry("/shared", "bind", shared.to_str().unwrap(), &["rbind", "rw"]));
    let a = ctx.new_id();
    ctx.set(&mut cfg, &a, &["sh", "-c", script]);
    assert!(ctx.create(&a).ok());
    assert!(ctx.cmd(&["start", &a], None).ok());
    let apid = ctx.pid(&a);
    assert!(apid > 0);

    // B joins A's pid namespace and is started by the decoy binary.
    let mut cfg_b = cfg.clone();
    for ns in cfg_b["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{apid}/ns/pid"));
        }
    }
    cfg_b["mounts"].as_array_mut().unwrap().pop();
    let b = ctx.new_id();
    ctx.set(&mut cfg_b, &b, &["sleep", "3"]);
    ctx.bin = decoy.clone();
    let o = ctx.create(&b);
    assert!(o.ok(), "{o:?}");
    // Give A time to find B's init (it is visible, only its exe must not be reachable).
    let end = Instant::now() + Duration::from_secs(10);
    while !shared.join("seen").exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(ctx.cmd(&["start", &b], None).ok());
    let end = Instant::now() + Duration::from_secs(20);
    while !shared.join("done").exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    ctx.bin = BIN.into();
    let read = |n: &str| std::fs::read_to_string(shared.join(n)).unwrap_or_default();
    assert!(shared.join("seen").exists(), "the attacker never saw B's init: the test proves nothing (done={})", read("done"));
    assert!(!shared.join("opened").exists(), "container opened the runtime's /proc/<pid>/exe: {} (wrote={})", read("opened"), read("wrote"));
    assert!(!shared.join("wrote").exists(), "container wrote to the runtime binary");
    assert!(sha(&decoy) == before, "the runtime binary (decoy copy) was modified");
}

/// The container's own view: /proc/self/exe is the container's program, and no process of
/// the container can open the exe of the init while it is still the runtime (covered above);
/// here the simpler case of the init's own exe after exec.
#[test]
fn cve_2019_5736_proc_self_exe_is_the_container_program() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("selfexe");
    let mut cfg = ctx.config();
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "readlink /proc/1/exe; readlink /proc/self/exe"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    assert!(!o.stdout.contains("bulkhead"), "{}", o.stdout);
}

// ---------------------------------------------------------------------------------------------
// CVE-2024-21626: leaked fds and process.cwd = /proc/self/fd/N.
// ---------------------------------------------------------------------------------------------

/// Runs `cmd` through the bulkhead binary with a host directory fd leaked (no CLOEXEC) as fds
/// 3..=9, like a careless caller (or a runtime that leaks its own handles).
fn run_with_leaked_fds(ctx: &Ctx, args: &[&str], leak: &Path) -> Out {
    use std::os::unix::process::CommandExt;
    let dir = std::fs::File::open(leak).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&dir);
    let mut c = std::process::Command::new(&ctx.bin);
    c.arg("--root").arg(&ctx.root).args(args);
    unsafe {
        c.pre_exec(move || {
            for n in 3..=9 {
                if n != raw && libc::dup2(raw, n) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::fcntl(raw, libc::F_SETFD, 0);
            Ok(())
        });
    }
    let o = run_bounded(c, Duration::from_secs(30));
    drop(dir);
    o
}

#[test]
fn cve_2024_21626_cwd_proc_self_fd_cannot_reach_host() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("21626");
    // A marker on the host, next to (outside) the rootfs: reaching it means escaping.
    let marker = ctx.path("host-marker");
    std::fs::write(&marker, "HOST-MARKER-21626").unwrap();
    let ups = "../".repeat(40);
    let rel = format!("{ups}{}", marker.strip_prefix("/").unwrap().display());
    for n in 3..=9 {
        let mut cfg = ctx.config();
        cfg["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let id = ctx.new_id();
        ctx.set(&mut cfg, &id, &["sh", "-c", &format!("pwd; cat {rel} 2>/dev/null; cat /proc/self/cwd/{rel} 2>/dev/null; true")]);
        let o = run_with_leaked_fds(&ctx, &["run", "--bundle", ctx.bundle.to_str().unwrap(), &id], ctx.tmp.path());
        assert!(!o.timed_out);
        assert!(!o.stdout.contains("HOST-MARKER"), "cwd /proc/self/fd/{n} reached the host: {o:?}");
        // Refused (what runc does) or confined; either way it said why when refused.
        if !o.ok() {
            assert!(o.stderr.contains("process.cwd"), "fd {n}: {o:?}");
        }
    }
}

#[test]
fn cve_2024_21626_no_runtime_fds_in_container() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("fds");
    // `ls -l /proc/self/fd` run directly (a shell pipeline would show its own pipe fds): the
    // only fd beyond stdio and the preserved ones is ls's handle on the directory it lists.
    let fds = |out: &str| -> Vec<(u32, String)> {
        out.lines()
            .filter_map(|l| {
                let (left, target) = l.split_once(" -> ")?;
                Some((left.split_whitespace().last()?.parse().ok()?, target.to_string()))
            })
            .filter(|(_, t)| !(t.starts_with("/proc/") && t.ends_with("/fd")))
            .collect()
    };
    let mut cfg = ctx.config();
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["ls", "-l", "/proc/self/fd"]);
    let o = run_with_leaked_fds(&ctx, &["run", "--bundle", ctx.bundle.to_str().unwrap(), &id], ctx.tmp.path());
    assert!(o.ok(), "{o:?}");
    let got = fds(&o.stdout);
    assert_eq!(got.iter().map(|f| f.0).collect::<Vec<_>>(), vec![0, 1, 2], "fds visible in the container: {got:?}");

    // With --preserve-fds 2 exactly 3 and 4 (the caller's) are passed on as well.
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["ls", "-l", "/proc/self/fd"]);
    let o = run_with_leaked_fds(&ctx, &["run", "--preserve-fds", "2", "--bundle", ctx.bundle.to_str().unwrap(), &id], ctx.tmp.path());
    assert!(o.ok(), "{o:?}");
    let got = fds(&o.stdout);
    assert_eq!(got.iter().map(|f| f.0).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4], "{got:?}");
}

// ---------------------------------------------------------------------------------------------
// IDs, --pid-file, state dirs.
// ---------------------------------------------------------------------------------------------

#[test]
fn container_ids_cannot_escape_root() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("ids");
    let mut cfg = ctx.config();
    ctx.set(&mut cfg, "x", &["true"]);
    for id in ["../../etc/x", "..", ".", "a/b", "/abs", ""] {
        let o = ctx.cmd(&["create", "--bundle", ctx.bundle.to_str().unwrap(), id], None);
        assert!(!o.ok(), "id {id:?} accepted");
        assert!(o.stderr.contains("invalid container ID") || o.stderr.contains("nul byte") || o.stderr.contains("error"), "{id:?}: {o:?}");
        for cmd in ["state", "delete", "start", "kill"] {
            let o = ctx.cmd(&[cmd, id], None);
            assert!(!o.ok(), "{cmd} {id:?}");
        }
    }
    assert!(!Path::new("/etc/x").exists() || std::fs::metadata("/etc/x").unwrap().modified().unwrap().elapsed().unwrap() > Duration::from_secs(600));
}

#[test]
fn pid_file_does_not_follow_planted_symlinks() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("pidfile");
    let decoy = ctx.path("decoy");
    std::fs::write(&decoy, "decoy").unwrap();
    let dir = ctx.path("pids");
    std::fs::create_dir(&dir).unwrap();
    // Planted: the pid file itself is a symlink to the decoy. (Before the fix the temp file
    // was written with a plain open that followed a planted `.pid.tmp` symlink.)
    std::os::unix::fs::symlink(&decoy, dir.join("pid")).unwrap();
    let mut cfg = ctx.config();
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sleep", "10"]);
    let pidfile = dir.join("pid");
    let o = ctx.cmd(&["create", "--pid-file", pidfile.to_str().unwrap(), "--bundle", ctx.bundle.to_str().unwrap(), &id], None);
    assert!(o.ok(), "{o:?}");
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "decoy", "pid written through a symlink");
    let meta = std::fs::symlink_metadata(&pidfile).unwrap();
    assert!(meta.is_file(), "the pid file replaces the symlink");
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), ctx.pid(&id).to_string());

    // Planted: runc's fixed temp name `.<name>.tmp`. Ours carries the runtime's pid (so a
    // temp file left by a killed runtime cannot block later writes) and is created O_EXCL |
    // O_NOFOLLOW: the planted link is never followed, the decoy stays untouched.
    std::os::unix::fs::symlink(&decoy, dir.join(".pid2.tmp")).unwrap();
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sleep", "10"]);
    let o = ctx.cmd(&["create", "--pid-file", dir.join("pid2").to_str().unwrap(), "--bundle", ctx.bundle.to_str().unwrap(), &id], None);
    assert!(o.ok(), "{o:?}");
    assert_eq!(std::fs::read_to_string(&decoy).unwrap(), "decoy", "pid written through the temp symlink");
    assert!(std::fs::symlink_metadata(dir.join("pid2")).unwrap().is_file());
}

#[test]
fn state_dirs_are_private() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("perm");
    let mut cfg = ctx.config();
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sleep", "10"]);
    assert!(ctx.create(&id).ok());
    for p in [ctx.root.clone(), ctx.root.join(&id)] {
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{} is mode {mode:o}", p.display());
    }
    for entry in std::fs::read_dir(ctx.root.join(&id)).unwrap() {
        let e = entry.unwrap();
        let mode = e.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o002, 0, "{} is world-writable", e.path().display());
    }
}
