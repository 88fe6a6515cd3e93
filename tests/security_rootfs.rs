//! Escapes through the rootfs and mounts the image or config controls (as security.rs: the
//! attack planted, the host checked): mount destinations through symlinks (CVE-2019-19921,
//! CVE-2021-30465, CVE-2023-27561), /dev/null and /dev/console symlinks (CVE-2025-31133,
//! CVE-2025-52565), procfs writes redirected (CVE-2025-52881: sysctl, timens_offsets, masks).

mod sec_common;

use sec_common::*;
use serde_json::json;
use std::path::Path;

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
