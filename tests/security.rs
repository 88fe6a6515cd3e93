//! Escape regression tests: each one attacks from inside a real busybox container (or plants
//! the attack in its rootfs/config) and checks that the host is untouched. Root only; every
//! test has its own --root, container IDs and cgroup paths, and cleans up in Drop.
//!
//! Run: cargo test --test security -- --test-threads=2
//!
//! Where a test was shown to fail on a weakened build, its comment says how. Map:
//! CVE-2019-5736 `cve_2019_5736_*`; CVE-2024-21626 `cve_2024_21626_*`; CVE-2019-19921,
//! CVE-2021-30465, CVE-2023-27561 `mount_destination_symlink_stays_in_rootfs`,
//! `rootfs_proc_symlink_is_refused`, `racing_symlink_swap_in_shared_volume`; CVE-2025-31133
//! `cve_2025_31133_*`; CVE-2025-52565 `cve_2025_52565_*`; CVE-2025-52881 `cve_2025_52881_*`,
//! `timens_offsets_not_redirected_by_joined_mount_namespace`,
//! `fake_proc_self_fd_in_image_is_not_used_for_masking` (+ procfs unit test);
//! ids / --pid-file / state dirs; capabilities; user namespaces and rootless; seccomp notify;
//! LSM labels, personality, intelRdt; idmapped mounts.

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
// CVE-2019-19921, CVE-2021-30465, CVE-2023-27561: mount destinations through symlinks.
// ---------------------------------------------------------------------------------------------

#[test]
fn mount_destination_symlink_stays_in_rootfs() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("dstlink");
    let before = host_mounts();
    // A host directory the image's symlinks point at (absolute host path).
    let hostdir = ctx.path("host-dir");
    std::fs::create_dir(&hostdir).unwrap();
    std::fs::write(hostdir.join("keep"), "untouched").unwrap();
    std::os::unix::fs::symlink("/etc", ctx.rootfs.join("dst")).unwrap();
    std::os::unix::fs::symlink(&hostdir, ctx.rootfs.join("dst2")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", ctx.rootfs.join("up")).unwrap();
    let src = ctx.path("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("planted"), "from-bind").unwrap();
    let mut cfg = ctx.config();
    let base = cfg.clone();
    let m = cfg["mounts"].as_array_mut().unwrap();
    m.push(mount_entry("/dst", "tmpfs", "tmpfs", &["nosuid"]));
    m.push(mount_entry("/up/tmp/x", "bind", src.to_str().unwrap(), &["rbind"]));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "grep ' /etc ' /proc/self/mountinfo | grep -c tmpfs; cat /tmp/x/planted"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    assert_eq!(o.stdout, "1\nfrom-bind", "tmpfs must be on the container's /etc, the bind on its /tmp/x");
    assert_eq!(new_host_mounts(&before, &ctx), Vec::<String>::new(), "mounts leaked to the host");
    assert!(ctx.rootfs.join("tmp/x").is_dir(), "/up/tmp/x must resolve to the rootfs's /tmp/x");

    // A dangling symlink to an absolute host path: refused (bulkhead) or created inside the
    // rootfs (runc); never the host directory.
    let mut cfg = base;
    cfg["mounts"].as_array_mut().unwrap().push(mount_entry("/dst2", "bind", src.to_str().unwrap(), &["rbind"]));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["cat", "/dst2/planted"]);
    let o = ctx.run(&id);
    assert!(o.ok() || o.stderr.contains("dangling symlink"), "{o:?}");
    assert_eq!(new_host_mounts(&before, &ctx), Vec::<String>::new(), "mounts leaked to the host");
    assert!(!hostdir.join("planted").exists());
    assert_eq!(std::fs::read_dir(&hostdir).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(hostdir.join("keep")).unwrap(), "untouched");
}

#[test]
fn rootfs_proc_symlink_is_refused() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("proclink");
    let before = host_mounts();
    std::fs::remove_dir(ctx.rootfs.join("proc")).unwrap();
    std::os::unix::fs::symlink("/", ctx.rootfs.join("proc")).unwrap();
    let mut cfg = ctx.config();
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok(), "a symlinked /proc must be refused: {o:?}");
    assert!(o.stderr.contains("symlink"), "{o:?}");
    // The same for sysfs.
    std::fs::remove_file(ctx.rootfs.join("proc")).unwrap();
    std::fs::create_dir(ctx.rootfs.join("proc")).unwrap();
    std::fs::remove_dir(ctx.rootfs.join("sys")).unwrap();
    std::os::unix::fs::symlink("/proc", ctx.rootfs.join("sys")).unwrap();
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("symlink"), "{o:?}");
    assert_eq!(new_host_mounts(&before, &ctx), Vec::<String>::new());
}

/// Two containers share a volume. The swapper flips /vol/d between a directory and symlinks
/// (to a host path, to /proc/1, to /proc/sys/kernel); the victims mount at /vol/d/x and
/// /vol/d/fd and are created over and over. Nothing may be mounted or created outside the
/// victim's rootfs, nor inside its procfs. Without the procfs check in rootfs::mounts
/// (tried: `if false && on_procfs(..)`), a bind lands on the victim's /proc/1/fd and the
/// test fails.
#[test]
fn racing_symlink_swap_in_shared_volume() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("race");
    let before = host_mounts();
    let vol = ctx.path("vol");
    std::fs::create_dir(&vol).unwrap();
    let target = ctx.path("host-target");
    std::fs::create_dir(&target).unwrap();
    let mut cfg = ctx.config();
    cfg["mounts"].as_array_mut().unwrap().push(mount_entry("/vol", "bind", vol.to_str().unwrap(), &["rbind", "rw"]));
    let swapper = ctx.new_id();
    let t = target.display();
    ctx.set(
        &mut cfg,
        &swapper,
        &["sh", "-c", &format!("end=$(( $(date +%s) + 60 )); while [ $(date +%s) -lt $end ]; do mkdir /vol/d 2>/dev/null; rm -rf /vol/d; ln -s {t} /vol/d; rm -f /vol/d; ln -s /proc/1 /vol/d; rm -f /vol/d; ln -s /proc/sys/kernel /vol/d; rm -f /vol/d; done")],
    );
    assert!(ctx.create(&swapper).ok());
    assert!(ctx.cmd(&["start", &swapper], None).ok());
    // Two victims: a tmpfs at /vol/d/x (the host-path symlink must not get it), and a bind at
    // /vol/d/fd (with /vol/d -> /proc/1 it would cover the init's own /proc/1/fd, which the
    // runtime then uses for every later mount; refused because the target is on procfs).
    let mut victims = [cfg.clone(), cfg.clone()];
    victims[0]["mounts"].as_array_mut().unwrap().push(mount_entry("/vol/d/x", "tmpfs", "tmpfs", &[]));
    victims[1]["mounts"].as_array_mut().unwrap().push(mount_entry("/vol/d/fd", "bind", vol.to_str().unwrap(), &["bind"]));
    for v in &mut victims {
        // No masked/readonly paths: any mount point below /proc/ would be the attack's.
        v["linux"]["maskedPaths"] = json!([]);
        v["linux"]["readonlyPaths"] = json!([]);
    }
    let mut ran = 0;
    for i in 0..40 {
        let victim_cfg = &mut victims[i % 2];
        let id = ctx.new_id();
        ctx.set(victim_cfg, &id, &["sh", "-c", "grep -c ' /proc/' /proc/self/mountinfo; true"]);
        let o = ctx.run(&id);
        assert!(!o.timed_out);
        if o.ok() {
            ran += 1;
            assert_eq!(o.stdout.trim(), "0", "a mount landed inside the victim's /proc: {o:?}");
        } else {
            assert!(o.stderr.contains("mounts["), "{o:?}");
        }
        ctx.delete(&id);
    }
    ctx.delete(&swapper);
    eprintln!("victim created {ran}/40 times");
    assert_eq!(new_host_mounts(&before, &ctx), Vec::<String>::new(), "mounts leaked to the host");
    assert!(!target.join("x").exists(), "a mount point was created through the symlink on the host");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
}

// ---------------------------------------------------------------------------------------------
// CVE-2025-31133, CVE-2025-52565, CVE-2025-52881.
// ---------------------------------------------------------------------------------------------

/// The container's /dev is the image's (no tmpfs /dev mount) and a bind mount of a host dir
/// (shared, so the attacker controls it) where /dev/null is a symlink to a procfs file.
#[test]
fn cve_2025_31133_masked_paths_refuse_devnull_symlink() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("31133");
    let devdir = ctx.path("dev");
    std::fs::create_dir(&devdir).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", devdir.join("null")).unwrap();
    let mut cfg = ctx.config();
    let m = cfg["mounts"].as_array_mut().unwrap();
    m.retain(|m| m["destination"] != "/dev");
    m.push(mount_entry("/dev", "bind", devdir.to_str().unwrap(), &["rbind", "rw"]));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "cat /proc/kcore | head -c 10 | wc -c"]);
    let o = ctx.run(&id);
    assert!(!o.ok(), "masking through a symlinked /dev/null must fail: {o:?}");
    assert!(o.stderr.contains("maskedPaths") && o.stderr.contains("/dev/null"), "{o:?}");

    // A regular file in its place is refused too.
    std::fs::remove_file(devdir.join("null")).unwrap();
    std::fs::write(devdir.join("null"), "").unwrap();
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("maskedPaths"), "{o:?}");
}

/// terminal: true with the image's /dev/console a symlink. runc (1.2.8+) refuses it; so do we.
#[test]
fn cve_2025_52565_dev_console_symlink_refused() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("52565");
    let hostfile = ctx.path("decoy-console");
    std::fs::write(&hostfile, "decoy").unwrap();
    let devdir = ctx.path("dev");
    std::fs::create_dir(&devdir).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", devdir.join("console")).unwrap();
    std::os::unix::fs::symlink("pts/ptmx", devdir.join("ptmx")).unwrap();
    std::fs::create_dir(devdir.join("pts")).unwrap();
    nix::sys::stat::mknod(&devdir.join("null"), nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::from_bits_truncate(0o666), libc::makedev(1, 3)).unwrap();
    let sock_path = ctx.path("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut cfg = ctx.config();
    let m = cfg["mounts"].as_array_mut().unwrap();
    // devpts stays; /dev is the attacker-controlled directory.
    m.retain(|m| m["destination"] != "/dev");
    m.insert(1, mount_entry("/dev", "bind", devdir.to_str().unwrap(), &["rbind", "rw"]));
    cfg["process"]["terminal"] = json!(true);
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let before = host_mounts();
    let o = ctx.cmd(&["create", "--console-socket", sock_path.to_str().unwrap(), "--bundle", ctx.bundle.to_str().unwrap(), &id], None);
    assert!(!o.ok(), "a symlinked /dev/console must be refused: {o:?}");
    assert!(o.stderr.contains("/dev/console"), "{o:?}");
    assert_eq!(new_host_mounts(&before, &ctx), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(&hostfile).unwrap(), "decoy");
}

/// A config mount puts another procfs file (the container's own hostname) over the sysctl
/// file about to be written: the write must not be redirected (fstatfs alone says "procfs").
/// Before the fixes the container printed "pwned" as its hostname.
#[test]
fn cve_2025_52881_sysctl_write_not_redirected() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("52881");
    let mut cfg = ctx.config();
    cfg["hostname"] = json!("orig");
    cfg["linux"]["sysctl"] = json!({"kernel.domainname": "pwned"});
    cfg["mounts"].as_array_mut().unwrap().push(mount_entry("/proc/sys/kernel/domainname", "bind", "/proc/sys/kernel/hostname", &["bind"]));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["hostname"]);
    let o = ctx.run(&id);
    assert!(!o.stdout.contains("pwned"), "sysctl write redirected to another proc file: {o:?}");
    // Refused at the mount (runc's rule: nothing inside /proc but the lxcfs files).
    assert!(!o.ok() && o.stderr.contains("inside /proc"), "expected a refusal: {o:?}");

    // The sysctl write's own check (mount id of the opened file = that of /proc) is exercised
    // by procfs's unit test: the config can no longer put a mount over a sysctl.
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

// ---------------------------------------------------------------------------------------------
// Capabilities.
// ---------------------------------------------------------------------------------------------

fn status_caps(out: &str) -> std::collections::BTreeMap<String, u64> {
    out.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.starts_with("Cap").then(|| (k.to_string(), u64::from_str_radix(v.trim(), 16).unwrap()))
        })
        .collect()
}

/// runc 1.5: a capability the runtime does not know is ignored with a warning naming it (the
/// config may be written for a newer kernel); see also config_apply.rs.
#[test]
fn capabilities_unknown_name_is_ignored_with_a_warning_naming_it() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("capname");
    let mut cfg = ctx.config();
    cfg["process"]["capabilities"]["bounding"].as_array_mut().unwrap().push(json!("CAP_BOGUS"));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    assert!(o.stderr.contains("ignoring unknown or unavailable capabilities: [CAP_BOGUS]"), "{o:?}");
}

/// Every set as the config says after exec, read from the container's /proc/self/status:
/// the bounding set was dropped before exec, ambient needs permitted + inheritable and
/// survives the exec of a non-root program.
#[test]
fn capabilities_sets_after_exec() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("caps");
    let base = ctx.config();
    let mut cfg = base.clone();
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    cfg["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"],
    });
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["cat", "/proc/self/status"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let c = status_caps(&o.stdout);
    assert_eq!(c["CapBnd"], (1 << 0) | (1 << 5) | (1 << 10), "{c:x?}");
    assert_eq!(c["CapInh"], (1 << 0) | (1 << 10), "{c:x?}");
    assert_eq!(c["CapAmb"], 1 << 10, "{c:x?}");
    // A non-root exec without file caps keeps exactly the ambient set.
    assert_eq!(c["CapPrm"], 1 << 10, "{c:x?}");
    assert_eq!(c["CapEff"], 1 << 10, "{c:x?}");

    // Root: the sets are the config's, and nothing outside the bounding set comes back.
    let mut cfg = base;
    cfg["process"]["capabilities"] = json!({"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["cat", "/proc/self/status"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let c = status_caps(&o.stdout);
    assert_eq!((c["CapBnd"], c["CapEff"], c["CapPrm"], c["CapInh"], c["CapAmb"]), (1 << 5, 1 << 5, 1 << 5, 0, 0), "{c:x?}");
}

/// An ambient capability missing from inheritable cannot be raised: as runc, the container
/// still starts, without it.
#[test]
fn capabilities_ambient_needs_inheritable() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("amb");
    let mut cfg = ctx.config();
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    cfg["process"]["capabilities"] = json!({"bounding": ["CAP_KILL"], "permitted": ["CAP_KILL"], "effective": ["CAP_KILL"], "ambient": ["CAP_KILL"]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["cat", "/proc/self/status"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let c = status_caps(&o.stdout);
    assert_eq!((c["CapAmb"], c["CapEff"]), (0, 0), "{c:x?}");
}

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
// seccomp SCMP_ACT_NOTIFY with listenerPath / listenerMetadata.
// ---------------------------------------------------------------------------------------------

/// A minimal seccomp agent: accepts one connection on `sock`, takes the ContainerProcessState
/// JSON and the notify fd, and answers every notification with ENAMETOOLONG. Returns the JSON
/// and the number of notifications handled. Bounded by `limit`. `accepted`, when given, hears
/// once the connection is taken, so that a second agent on the same socket cannot take it.
fn seccomp_agent(listener: std::os::unix::net::UnixListener, limit: Duration, accepted: Option<std::sync::mpsc::Sender<()>>) -> (serde_json::Value, u32) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let end = Instant::now() + limit;
    listener.set_nonblocking(true).unwrap();
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("agent: no connection from the runtime: {e}"),
        }
    };
    if let Some(tx) = accepted {
        let _ = tx.send(());
    }
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 65536];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 2]);
    let msg = nix::sys::socket::recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC).unwrap();
    let mut notify_fd = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            notify_fd = fds.first().map(|fd| unsafe { OwnedFd::from_raw_fd(*fd) });
        }
    }
    let n = msg.bytes;
    let mut text = buf[..n].to_vec();
    {
        use std::io::Read;
        let mut rest = Vec::new();
        let _ = (&conn).read_to_end(&mut rest);
        text.extend(rest);
    }
    let state: serde_json::Value = serde_json::from_slice(&text).expect("agent: the process state is JSON");
    let fd = notify_fd.expect("agent: no fd attached");
    let mut handled = 0;
    while Instant::now() < end {
        let mut pfd = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        if pfd.revents & libc::POLLHUP != 0 {
            break; // every process of the filter is gone
        }
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) } != 0 {
            continue;
        }
        let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        resp.id = req.id;
        resp.error = -libc::ENAMETOOLONG;
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
        handled += 1;
    }
    (state, handled)
}

#[test]
fn seccomp_notify_fd_and_state_reach_the_agent() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("notify");
    let sock = ctx.path("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || seccomp_agent(listener, Duration::from_secs(25), None));
    let mut cfg = ctx.config();
    cfg["root"]["readonly"] = json!(false);
    cfg["annotations"] = json!({"org.test": "yes"});
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "meta-123",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    });
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "mkdir /tmp/x; echo rc=$?"]);
    let o = ctx.run(&id);
    let (state, handled) = agent.join().expect("agent thread");
    assert!(o.ok(), "{o:?}");
    assert!(o.stdout.contains("rc=1") && o.stderr.contains("too long"), "the agent's answer reached the container: {o:?}");
    assert!(!ctx.rootfs.join("tmp/x").exists());
    assert!(handled >= 1, "{handled}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["metadata"], "meta-123");
    assert_eq!(state["ociVersion"], cfg["ociVersion"]);
    assert!(state["pid"].as_i64().unwrap() > 1);
    assert_eq!(state["state"]["id"], json!(id));
    assert_eq!(state["state"]["status"], "creating");
    assert_eq!(state["state"]["pid"], state["pid"]);
    assert_eq!(state["state"]["annotations"]["org.test"], "yes");
    assert_eq!(state["state"]["bundle"], json!(ctx.bundle));
}

/// Issue 15 item 7: `exec` into a container whose profile has SCMP_ACT_NOTIFY sends the new
/// process's notify fd to listenerPath too (before, exec refused it), with the container's
/// state (running) and the exec'd process's pid.
#[test]
fn seccomp_notify_fd_of_an_exec_reaches_the_agent() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("notify-exec");
    let sock = ctx.path("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let second = listener.try_clone().unwrap();
    let (init_accepted, init_connected) = std::sync::mpsc::channel();
    let init_agent = std::thread::spawn(move || seccomp_agent(listener, Duration::from_secs(25), Some(init_accepted)));
    let mut cfg = ctx.config();
    cfg["root"]["readonly"] = json!(false);
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}],
    });
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sleep", "1000"]);
    let o = ctx.cmd(&["run", "-d", "--bundle", ctx.bundle.to_str().unwrap(), &id], None);
    assert!(o.ok(), "{o:?}");
    // The init's connection is queued by now; the exec's agent starts listening only once the
    // init's agent has taken it (on a busy host the exec's agent could take it first).
    init_connected.recv_timeout(Duration::from_secs(20)).expect("the init's agent got its connection");
    let exec_agent = std::thread::spawn(move || seccomp_agent(second, Duration::from_secs(20), None));
    let o = ctx.cmd(&["exec", &id, "sh", "-c", "mkdir /tmp/y; echo rc=$?"], None);
    let (state, handled) = exec_agent.join().expect("exec agent thread");
    assert!(o.ok() && o.stdout.contains("rc=1"), "the agent's answer reached the exec'd process: {o:?}");
    assert!(handled >= 1, "{handled}");
    assert_eq!(state["state"]["status"], "running", "{state}");
    assert_eq!(state["state"]["id"], json!(id));
    assert_ne!(state["pid"].as_i64(), Some(ctx.pid(&id) as i64), "pid is the exec'd process's: {state}");
    assert!(!ctx.rootfs.join("tmp/y").exists());
    ctx.cmd(&["delete", "--force", &id], None);
    let _ = init_agent.join();
}

/// SCMP_ACT_NOTIFY without listenerPath is refused before anything is created; an agent
/// that is not there fails the create with the path named.
#[test]
fn seccomp_notify_without_agent_is_a_clear_error() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("notify2");
    let mut cfg = ctx.config();
    cfg["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("listenerPath"), "{o:?}");
    cfg["linux"]["seccomp"]["listenerPath"] = json!(ctx.path("nobody.sock"));
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("listenerPath") && o.stderr.contains("nobody.sock"), "{o:?}");
    assert!(ctx.state(&id).is_none());
}

// ---------------------------------------------------------------------------------------------
// LSM labels, personality, intelRdt.
// ---------------------------------------------------------------------------------------------

fn host_has_apparmor() -> bool {
    Path::new("/sys/kernel/security/apparmor").exists()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").map(|s| s.starts_with('Y')).unwrap_or(false)
}

fn host_has_selinux() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// runc 1.1.5 on a host without AppArmor fails such a container ("write /proc/self/attr/exec:
/// invalid argument"); so does bulkhead, before creating anything and with the field named.
/// Likewise SELinux labels (runc: "selinux label is specified in config, but selinux is
/// disabled or not supported") and intelRdt without resctrl.
#[test]
fn lsm_labels_and_intel_rdt_refused_when_the_host_lacks_them() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("lsm");
    let base = ctx.config();
    let cases: Vec<(&str, Box<dyn Fn(&mut serde_json::Value)>, bool)> = vec![
        ("process.apparmorProfile", Box::new(|c| c["process"]["apparmorProfile"] = json!("docker-default")), host_has_apparmor()),
        ("process.selinuxLabel", Box::new(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0")), host_has_selinux()),
        ("linux.mountLabel", Box::new(|c| c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0")), host_has_selinux()),
        ("linux.intelRdt", Box::new(|c| c["linux"]["intelRdt"] = json!({"closID": "x", "l3CacheSchema": "L3:0=f"})), false),
    ];
    for (field, edit, host_has_it) in cases {
        if host_has_it {
            eprintln!("{field}: host supports it; refusal not tested");
            continue;
        }
        let mut cfg = base.clone();
        edit(&mut cfg);
        let id = ctx.new_id();
        ctx.set(&mut cfg, &id, &["true"]);
        let o = ctx.run(&id);
        assert!(!o.ok() && o.stderr.contains(field), "{field}: {o:?}");
        assert!(ctx.state(&id).is_none(), "{field}: state left behind");
    }
}

/// linux.personality: LINUX32 makes `uname -m` report a 32-bit machine; unknown flags are
/// an error naming the field.
#[test]
fn personality_domain_and_flags() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("pers");
    let mut cfg = ctx.config();
    cfg["linux"]["personality"] = json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "uname -m; cat /proc/self/personality"]);
    let o = ctx.run(&id);
    assert!(o.ok(), "{o:?}");
    let mut l = o.stdout.lines();
    let machine = l.next().unwrap_or_default();
    assert!(machine == "i686" || machine == "i386" || machine.starts_with("armv"), "{o:?}");
    assert_eq!(u64::from_str_radix(l.next().unwrap_or_default().trim(), 16).unwrap(), 0x0040008, "{o:?}");

    cfg["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["NOT_A_FLAG"]});
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["true"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("linux.personality.flags[0]"), "{o:?}");
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

/// Joining another container's mount namespace while asking for a new time namespace: the
/// offsets are written to /proc/self/timens_offsets, which must be the runtime's own procfs
/// file, not whatever the other container's tree shows at that path (CVE-2025-52881 class).
/// Container A has no procfs on /proc but a planted /proc/self -> /fake with a decoy file.
#[test]
fn timens_offsets_not_redirected_by_joined_mount_namespace() {
    if skip() {
        return;
    }
    if !Path::new("/proc/self/timens_offsets").exists() {
        eprintln!("skipped: no time namespaces");
        return;
    }
    let ctx = Ctx::new("timens");
    std::fs::create_dir_all(ctx.rootfs.join("fake")).unwrap();
    std::fs::write(ctx.rootfs.join("fake/timens_offsets"), "").unwrap();
    std::os::unix::fs::symlink("/fake", ctx.rootfs.join("proc/self")).unwrap();
    let mut cfg = ctx.config();
    cfg["mounts"].as_array_mut().unwrap().retain(|m| m["destination"] != "/proc");
    cfg["linux"]["maskedPaths"] = json!([]);
    cfg["linux"]["readonlyPaths"] = json!([]);
    cfg["root"]["readonly"] = json!(false);
    let a = ctx.new_id();
    ctx.set(&mut cfg, &a, &["sleep", "20"]);
    let o = ctx.create(&a);
    assert!(o.ok(), "{o:?}");
    let apid = ctx.pid(&a);
    let mut cfg_b = ctx.config();
    for ns in cfg_b["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "mount" {
            ns["path"] = json!(format!("/proc/{apid}/ns/mnt"));
        }
    }
    cfg_b["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    cfg_b["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 86400, "nanosecs": 0}});
    let b = ctx.new_id();
    ctx.set(&mut cfg_b, &b, &["true"]);
    let o = ctx.create(&b);
    let decoy = std::fs::read_to_string(ctx.rootfs.join("fake/timens_offsets")).unwrap();
    assert_eq!(decoy, "", "time offsets written through the other container's /proc/self: {o:?}");

    // The offsets still reach a container's own new time namespace.
    let ctx2 = Ctx::new("timens2");
    let mut cfg = ctx2.config();
    cfg["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
    cfg["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 86400, "nanosecs": 0}});
    let id = ctx2.new_id();
    ctx2.set(&mut cfg, &id, &["cat", "/proc/self/timens_offsets"]);
    let o = ctx2.run(&id);
    assert!(o.ok() && o.stdout.contains("monotonic") && o.stdout.contains("86400"), "{o:?}");
}

/// After pivot_root masks are mounted through /proc/self/fd/N. Without a procfs on /proc the
/// image decides what that path is: the runtime must notice instead of mounting wherever
/// the image's fake /proc/self/fd/N symlinks point.
#[test]
fn fake_proc_self_fd_in_image_is_not_used_for_masking() {
    if skip() {
        return;
    }
    let ctx = Ctx::new("fakefd");
    std::fs::create_dir_all(ctx.rootfs.join("fakeself/fd")).unwrap();
    std::fs::create_dir_all(ctx.rootfs.join("victim")).unwrap();
    std::fs::write(ctx.rootfs.join("victim/keep"), "visible").unwrap();
    for n in 0..64 {
        std::os::unix::fs::symlink("/victim", ctx.rootfs.join(format!("fakeself/fd/{n}"))).unwrap();
    }
    std::os::unix::fs::symlink("/fakeself", ctx.rootfs.join("proc/self")).unwrap();
    std::fs::create_dir(ctx.rootfs.join("proc/acpi")).unwrap(); // a masked path that exists
    let mut cfg = ctx.config();
    cfg["mounts"].as_array_mut().unwrap().retain(|m| m["destination"] != "/proc");
    cfg["root"]["readonly"] = json!(false);
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["cat", "/victim/keep"]);
    let o = ctx.run(&id);
    assert!(!o.ok() && o.stderr.contains("/proc/self/fd"), "expected a refusal: {o:?}");
}
