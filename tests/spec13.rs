//! runtime-spec 1.3 / runc 1.5 fields (issue 14): each is acted on, or refused with an error
//! naming it; `features` advertises exactly what is implemented and every advertised item
//! runs. Checks look from inside the container where they can, else at the init from the host.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};

fn features() -> Value {
    let o = rt_exec(&["features"]);
    o.assert_ok();
    serde_json::from_str(&o.stdout).expect("features is JSON")
}

/// A mount made by the test on the host (in its own temp dir), unmounted on drop.
struct HostMount(PathBuf);

impl HostMount {
    fn tmpfs(at: &Path) -> HostMount {
        fs::create_dir_all(at).unwrap();
        let o = exec(std::process::Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(at), CMD_TIMEOUT);
        o.assert_ok();
        HostMount(at.to_path_buf())
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let _ = exec(std::process::Command::new("umount").arg("-l").arg(&self.0), CMD_TIMEOUT);
    }
}

/// A source directory with a tmpfs mounted on its `sub` (a submount an rbind takes along).
fn source_with_submount(c: &Ctx) -> (PathBuf, HostMount) {
    let src = c.dir.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    let m = HostMount::tmpfs(&src.join("sub"));
    (src, m)
}

#[test]
fn features_tell_the_truth_and_each_advertised_item_runs() {
    let f = features();
    assert_eq!(f["ociVersionMax"], "1.3.0", "{f:#}");
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true, "{f:#}");
    assert_eq!(f["linux"]["seccomp"]["enabled"], true, "{f:#}");
    let opts: Vec<String> = serde_json::from_value(f["mountOptions"].clone()).unwrap();
    for o in ["rro", "rnosuid", "rnodev", "rnoexec", "rnoatime", "nosymfollow", "tmpcopyup"] {
        assert!(opts.iter().any(|x| x == o), "{o} not advertised: {opts:?}");
    }
    if is_runc() {
        return; // runc 1.1.5 advertises other sets; the rest exercises bulkhead's document
    }
    // Every mount option, each on a mount of its own: bind options on a bind, the others on a
    // tmpfs. One container runs with all of them.
    let mut c = Ctx::new("features-all");
    let src = c.dir.join("bindsrc");
    fs::create_dir_all(&src).unwrap();
    for (i, o) in opts.iter().enumerate() {
        let dest = format!("/mnt/opt{i}");
        let m = if o == "bind" || o == "rbind" {
            json!({"destination": dest, "type": "bind", "source": src, "options": [o]})
        } else {
            json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": [o]})
        };
        push(&mut c, "/mounts", m);
    }
    // Every hook phase, each leaving a mark.
    let marks = c.dir.join("marks");
    fs::create_dir_all(&marks).unwrap();
    let hooks: Vec<String> = serde_json::from_value(f["hooks"].clone()).unwrap();
    for h in &hooks {
        let hook = json!({"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}/{h}", marks.display())]});
        c.config["hooks"][h] = json!([hook]);
    }
    // Every namespace at once (an identity-mapped user namespace, a time namespace).
    let nss: Vec<String> = serde_json::from_value(f["linux"]["namespaces"].clone()).unwrap();
    c.config["linux"]["namespaces"] = Value::Array(nss.iter().map(|n| json!({"type": n})).collect());
    c.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    c.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
    c.config["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1}});
    // Every capability in the bounding set.
    c.config["process"]["capabilities"]["bounding"] = f["linux"]["capabilities"].clone();
    c.config["root"]["readonly"] = json!(false);
    // The startContainer hook runs in the container: its sh and touch are the rootfs's.
    let inner = c.rootfs.join("marks");
    fs::create_dir_all(&inner).unwrap();
    c.config["hooks"]["startContainer"] = json!([{"path": "/bin/sh", "args": ["sh", "-c", "touch /marks/startContainer"]}]);
    let out = c.sh("grep -c /mnt/opt /proc/self/mountinfo");
    out.assert_ok();
    assert_eq!(out.stdout.trim().parse::<usize>().unwrap(), opts.len(), "{out}");
    c.delete(true);
    for h in &hooks {
        let mark = if h == "startContainer" { inner.join(h) } else { marks.join(h) };
        assert!(mark.exists(), "hook {h} did not run");
    }
}

#[test]
fn rro_and_recursive_attrs_reach_submounts() {
    let mut c = Ctx::new("rro");
    let (src, _m) = source_with_submount(&c);
    push(&mut c, "/mounts", json!({"destination": "/mnt/ro", "type": "bind", "source": src, "options": ["rbind", "ro"]}));
    push(&mut c, "/mounts", json!({"destination": "/mnt/rro", "type": "bind", "source": src, "options": ["rbind", "rro", "rnoexec", "rnosuid"]}));
    let out = c.sh_ok(
        "touch /mnt/ro/sub/a && echo plain-ro-sub-writable; touch /mnt/rro/sub/b 2>/dev/null || echo rro-sub-refused; \
         cat /proc/self/mountinfo > /out/mi",
    );
    assert!(out.contains("plain-ro-sub-writable"), "ro without r stays top-only (as runc): {out}");
    assert!(out.contains("rro-sub-refused"), "rro did not reach the submount: {out}");
    let mi = fs::read_to_string(c.out.join("mi")).unwrap();
    let (per, _) = mount_opts(mountinfo_line(&mi, "/mnt/rro/sub").expect("submount"));
    for o in ["ro", "noexec", "nosuid"] {
        assert!(per.iter().any(|p| p == o), "{o} missing on the submount: {per:?}");
    }
}

#[test]
fn recursive_attrs_on_a_tmpfs_and_nosymfollow() {
    let mut c = Ctx::new("nosymfollow");
    push(&mut c, "/mounts", json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosymfollow", "rnoatime", "rnodev"]}));
    let out = c.sh_ok(
        "echo x > /mnt/t/f; ln -s f /mnt/t/l; cat /mnt/t/l 2>/dev/null || echo symlink-refused; cat /proc/self/mountinfo > /out/mi",
    );
    let mi = fs::read_to_string(c.out.join("mi")).unwrap();
    let line = mountinfo_line(&mi, "/mnt/t").unwrap();
    assert!(out.contains("symlink-refused"), "{out} {line}");
    let (per, _) = mount_opts(line);
    for o in ["nosymfollow", "noatime", "nodev"] {
        assert!(per.iter().any(|p| p == o), "{o} missing: {per:?}");
    }
}

/// Issue 19, item 8: the recursive atime options reach the submounts of an rbind; expected
/// per-mount options are what runc 1.5.1 showed on this case.
#[test]
fn recursive_atime_flags_reach_submounts() {
    if runc_older_than(1, 2) {
        return; // runc 1.1.5 has no recursive mount attributes
    }
    let mut c = Ctx::new("ratime");
    let (src, _m) = source_with_submount(&c);
    let want = [("rnoatime", "rw,noatime"), ("rrelatime", "rw,relatime"), ("rstrictatime", "rw"), ("rnodiratime", "rw,nodiratime,relatime")];
    for (opt, _) in want {
        push(&mut c, "/mounts", json!({"destination": format!("/mnt/{opt}"), "type": "bind", "source": src, "options": ["rbind", opt]}));
    }
    c.sh_ok("cat /proc/self/mountinfo > /out/mi");
    let mi = fs::read_to_string(c.out.join("mi")).unwrap();
    for (opt, per) in want {
        for at in [format!("/mnt/{opt}"), format!("/mnt/{opt}/sub")] {
            let line = mountinfo_line(&mi, &at).unwrap_or_else(|| panic!("{at} not mounted: {mi}"));
            assert_eq!(line.split(' ').nth(5), Some(per), "{at}: {line}");
        }
    }
}

#[test]
fn tmpcopyup_fills_the_tmpfs_from_the_image() {
    let mut c = Ctx::new("tmpcopyup");
    fs::create_dir_all(c.rootfs.join("data/sub")).unwrap();
    fs::write(c.rootfs.join("data/sub/file"), "from-image\n").unwrap();
    std::os::unix::fs::symlink("sub/file", c.rootfs.join("data/link")).unwrap();
    push(&mut c, "/mounts", json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}));
    let out = c.sh_ok("cat /data/sub/file; readlink /data/link; echo changed > /data/sub/file; grep ' /data ' /proc/self/mountinfo");
    assert!(out.contains("from-image") && out.contains("sub/file"), "{out}");
    assert!(out.contains("tmpfs"), "{out}");
    assert_eq!(fs::read_to_string(c.rootfs.join("data/sub/file")).unwrap(), "from-image\n", "the image was written");
}

/// Issue 19, item 8: the owners seen through idmapped mounts are runc 1.5.1's, for `idmap`,
/// `ridmap` and mappings alone, on `bind` and `rbind` of a directory with a submount, with the
/// mount's own mappings and with those implied by the container's user namespace. Expected
/// lines are what runc 1.5.1 printed on this case. `idmap` maps only the top mount of an
/// rbind, `ridmap` every submount; a non-recursive idmapped copy of a directory with a mount
/// below it is refused in a user namespace (the kernel locks that submount; runc: open_tree
/// EINVAL).
#[test]
fn idmap_ids_as_runc_1_5_1() {
    use std::os::unix::fs::chown;
    if runc_older_than(1, 2) {
        return; // runc 1.1.5 has no idmapped mounts
    }
    // Every combination on one container: (container userns, mount mappings, binds).
    let cases: [(bool, &[&str]); 2] = [(false, &["bind", "rbind"]), (true, &["rbind"])];
    let want = [
        "/idmap-bind/f 5000:5000\n/idmap-bind/sub 4000:4000\n/idmap-rbind/f 5000:5000\n/idmap-rbind/sub 0:0\n/idmap-rbind/sub/g 2000:2000\n\
         /ridmap-bind/f 5000:5000\n/ridmap-bind/sub 4000:4000\n/ridmap-rbind/f 5000:5000\n/ridmap-rbind/sub 4000:4000\n/ridmap-rbind/sub/g 6000:6000\n\
         /maps-bind/f 5000:5000\n/maps-bind/sub 4000:4000\n/maps-rbind/f 5000:5000\n/maps-rbind/sub 0:0\n/maps-rbind/sub/g 2000:2000\n",
        "/idmap-rbind/f 1000:1000\n/idmap-rbind/sub 65534:65534\n/idmap-rbind/sub/g 65534:65534\n\
         /ridmap-rbind/f 1000:1000\n/ridmap-rbind/sub 0:0\n/ridmap-rbind/sub/g 2000:2000\n\
         /maps-rbind/f 65534:65534\n/maps-rbind/sub 65534:65534\n/maps-rbind/sub/g 65534:65534\n",
    ];
    for ((userns, binds), want) in cases.iter().zip(want) {
        let mut c = if *userns { userns_ctx("idmap-implied", 300000) } else { Ctx::new("idmap-own") };
        let (src, _m) = source_with_submount(&c);
        fs::write(src.join("f"), "x").unwrap();
        fs::write(src.join("sub/g"), "x").unwrap();
        chown(src.join("f"), Some(1000), Some(1000)).unwrap();
        chown(src.join("sub/g"), Some(2000), Some(2000)).unwrap();
        let mut paths = Vec::new();
        for opt in ["idmap", "ridmap", "maps"] {
            for bind in binds.iter() {
                let dest = format!("/{opt}-{bind}");
                let mut m = json!({"destination": dest, "type": "bind", "source": src, "options": [bind]});
                if opt != "maps" {
                    m["options"].as_array_mut().unwrap().push(json!(opt));
                }
                // In the user namespace only `maps` has mappings of its own (to ids it does
                // not map: overflow ids); the others take the container's.
                if !userns || opt == "maps" {
                    let maps = json!([{"containerID": 0, "hostID": 4000, "size": 3000}]);
                    (m["uidMappings"], m["gidMappings"]) = (maps.clone(), maps);
                }
                push(&mut c, "/mounts", m);
                paths.extend([format!("{dest}/f"), format!("{dest}/sub")]);
                if *bind == "rbind" {
                    paths.push(format!("{dest}/sub/g"));
                }
            }
        }
        let out = c.sh_ok(&format!("stat -c '%n %u:%g' {}", paths.join(" ")));
        assert_eq!(out, want, "user namespace: {userns}");
    }
    // The non-recursive copy in a user namespace: refused, naming the entry.
    let mut c = userns_ctx("idmap-locked", 300000);
    let (src, _m) = source_with_submount(&c);
    push(&mut c, "/mounts", json!({"destination": "/vol", "type": "bind", "source": src, "options": ["bind", "idmap"]}));
    let o = c.sh("true");
    assert!(!o.ok() && o.stderr.contains("open_tree"), "{o}");
    if !is_runc() {
        assert!(o.stderr.contains("mounts[") && o.stderr.contains("rbind"), "the entry and the way out are named: {o}");
    }
}

#[test]
fn idmap_option_without_mappings_uses_the_containers() {
    if runc_older_than(1, 2) {
        return;
    }
    let mut c = userns_ctx("idmap-userns", 300000);
    let src = c.dir.join("vol");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "x").unwrap(); // owned by host root
    push(&mut c, "/mounts", json!({"destination": "/vol", "type": "bind", "source": src, "options": ["bind", "idmap"]}));
    let out = c.sh_ok("stat -c '%u' /vol/f");
    assert_eq!(out.trim(), "0", "host root's file must be the container root's through the idmap: {out}");
}

/// Issue 19, item 8: `idmap`/`ridmap` without mappings in a container that joins another's
/// user namespace by path take that namespace's mappings (runc 1.5.1 printed the same lines).
#[test]
fn idmap_without_mappings_takes_a_joined_user_namespace() {
    use std::os::unix::fs::chown;
    if runc_older_than(1, 2) {
        return;
    }
    let owner = userns_ctx("idmap-owner", 300000);
    owner.create();
    let mut c = userns_ctx("idmap-joiner", 300000);
    for n in c.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "user" {
            n["path"] = json!(format!("/proc/{}/ns/user", owner.pid()));
        }
    }
    c.config["linux"].as_object_mut().unwrap().retain(|k, _| k != "uidMappings" && k != "gidMappings");
    let (src, _m) = source_with_submount(&c);
    fs::write(src.join("f"), "x").unwrap();
    fs::write(src.join("sub/g"), "x").unwrap();
    chown(src.join("f"), Some(1000), Some(1000)).unwrap();
    chown(src.join("sub/g"), Some(2000), Some(2000)).unwrap();
    for opt in ["idmap", "ridmap"] {
        push(&mut c, "/mounts", json!({"destination": format!("/{opt}"), "type": "bind", "source": src, "options": ["rbind", opt]}));
    }
    let out = c.sh_ok("stat -c '%n %u:%g' /idmap/f /idmap/sub /idmap/sub/g /ridmap/f /ridmap/sub /ridmap/sub/g");
    assert_eq!(out, "/idmap/f 1000:1000\n/idmap/sub 65534:65534\n/idmap/sub/g 65534:65534\n/ridmap/f 1000:1000\n/ridmap/sub 0:0\n/ridmap/sub/g 2000:2000\n");
}

/// A container in a new user namespace mapping root to `host` (the rootfs chowned to it).
fn userns_ctx(name: &str, host: u32) -> Ctx {
    use std::os::unix::fs::PermissionsExt;
    let mut c = Ctx::new(name);
    push(&mut c, "/linux/namespaces", json!({"type": "user"}));
    let maps = json!([{"containerID": 0, "hostID": host, "size": 65536}]);
    c.config["linux"]["uidMappings"] = maps.clone();
    c.config["linux"]["gidMappings"] = maps;
    let _ = exec(std::process::Command::new("chown").arg("-hR").arg(format!("{host}:{host}")).arg(&c.rootfs), CMD_TIMEOUT);
    fs::set_permissions(&c.dir, fs::Permissions::from_mode(0o755)).unwrap();
    c
}

fn stat_field(pid: i32, n: usize) -> String {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(n - 3).unwrap().to_string()
}

#[test]
fn scheduler_io_priority_and_memory_policy_of_the_init() {
    if is_runc() {
        return; // runc 1.1.5 ignores these 1.2/1.3 fields
    }
    let mut c = Ctx::new("sched");
    c.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    c.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    c.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    c.create().assert_ok();
    let pid = c.pid();
    assert_eq!(stat_field(pid, 41), "3", "policy SCHED_BATCH");
    assert_eq!(stat_field(pid, 19), "7", "nice");
    let ioprio = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid) };
    assert_eq!(ioprio, 3 << 13, "IOPRIO_CLASS_IDLE");
    let numa = fs::read_to_string(format!("/proc/{pid}/numa_maps")).unwrap();
    assert!(numa.lines().any(|l| l.contains(" bind:0")), "{numa}");
}

#[test]
fn exec_gets_scheduler_and_final_cpu_affinity() {
    if is_runc() || std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) < 2 {
        return;
    }
    let c = Ctx::new("exec-affinity");
    c.create().assert_ok();
    c.start().assert_ok();
    let mut p = c.config["process"].clone();
    p["args"] = json!(["sh", "-c", "grep Cpus_allowed_list /proc/self/status; cut -d' ' -f41 /proc/self/stat"]);
    p["scheduler"] = json!({"policy": "SCHED_IDLE"});
    p["execCPUAffinity"] = json!({"initial": "0", "final": "1"});
    let pf = c.dir.join("process.json");
    fs::write(&pf, p.to_string()).unwrap();
    let o = c.cmd(&["exec", "--process", pf.to_str().unwrap(), &c.id]);
    o.assert_ok();
    assert!(o.stdout.contains("Cpus_allowed_list:\t1\n"), "{o}");
    assert_eq!(o.stdout.lines().last(), Some("5"), "SCHED_IDLE: {o}");
}

#[test]
fn bad_tuning_values_are_refused_naming_the_field() {
    let mut c = Ctx::new("bad-sched");
    c.config["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "priority": 5});
    c.write_config();
    let o = c.try_create(&[]);
    if is_runc() {
        return; // runc 1.1.5 ignores process.scheduler
    }
    o.assert_fail();
    assert!(o.stderr.contains("process.scheduler.priority"), "{o}");
    c.assert_nothing_left(&c.id.clone());
}

#[test]
fn pids_limit_zero_is_a_limit() {
    if is_runc() {
        return; // runc 1.1.5 (runtime-spec 1.0) treats 0 as unlimited; runc 1.4+ writes 1
    }
    let mut c = Ctx::new("pids0");
    c.config["linux"]["resources"]["pids"] = json!({"limit": 0});
    c.create().assert_ok();
    let max = cgroup_dirs_for(&c.cgroup_path).into_iter().map(|d| d.join("pids.max")).find(|p| p.exists()).expect("pids controller");
    assert_eq!(fs::read_to_string(max).unwrap().trim(), "1");
}

#[test]
fn time_offsets_without_a_time_namespace_are_refused() {
    let mut c = Ctx::new("timeoffsets");
    c.config["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 5}});
    c.write_config();
    let o = c.try_create(&[]);
    if is_runc() {
        return; // runc 1.1.5 ignores timeOffsets; runc 1.2+ refuses them like this
    }
    o.assert_fail();
    assert!(o.stderr.contains("linux.timeOffsets"), "{o}");
    c.assert_nothing_left(&c.id.clone());
}

#[test]
fn failed_poststart_hook_stops_the_container_and_fails_start() {
    let mut c = Ctx::new("poststart-fail");
    c.config["hooks"] = json!({"poststart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]});
    c.create().assert_ok();
    let pid = c.pid();
    let o = c.try_start();
    if is_runc() {
        return; // runc 1.1.5 only warns
    }
    o.assert_fail();
    assert!(o.stderr.contains("poststart"), "{o}");
    assert!(!pid_alive(pid), "the init survived a failed poststart hook");
    assert_eq!(c.status(), "stopped");
}

#[test]
fn user_sysctls_in_a_user_namespace() {
    if is_runc() {
        return; // runc 1.1.5 refuses user.* sysctls; runc 1.4 allows them with a userns
    }
    let mut c = userns_ctx("user-sysctl", 310000);
    c.config["linux"]["sysctl"] = json!({"user.max_user_namespaces": "7"});
    let out = c.sh_ok("cat /proc/sys/user/max_user_namespaces");
    assert_eq!(out.trim(), "7");
    assert_ne!(fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap().trim(), "7", "the host's limit changed");
}

#[test]
fn config_without_a_mount_namespace_runs() {
    if is_runc() {
        return; // runc 1.1.5 needs a /proc in the rootfs here (it closes fds via /proc/self/fd)
    }
    let mut c = Ctx::new("no-mountns");
    c.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}]);
    // Nothing that would mount in the caller's namespace (it would stay there, as with runc).
    c.config["mounts"] = json!([]);
    c.config["linux"]["maskedPaths"] = json!([]);
    c.config["linux"]["readonlyPaths"] = json!([]);
    c.config["root"]["readonly"] = json!(false);
    let out = c.sh_ok("ls /bin/busybox && echo $$ && readlink /proc/1/ns/mnt 2>/dev/null; echo done");
    assert!(out.contains("/bin/busybox") && out.contains("done"), "{out}");
    c.create().assert_ok();
    let o = c.cmd(&["exec", &c.id, "ls", "/bin/busybox"]);
    o.assert_ok();
}

/// A named network namespace made by the test (`ip netns add`), deleted on drop.
struct TestNetns(String);

impl TestNetns {
    fn new(tag: &str) -> TestNetns {
        let name = format!("s14-{tag}-{}", std::process::id());
        exec(std::process::Command::new("ip").args(["netns", "add", &name]), CMD_TIMEOUT).assert_ok();
        TestNetns(name)
    }

    /// `sh -c script` in the namespace only (`ip netns exec` would also remount /sys, hiding
    /// the cgroup mounts the runtime needs).
    fn sh(&self, script: &str) -> Out {
        exec(std::process::Command::new("nsenter").arg(format!("--net=/run/netns/{}", self.0)).args(["sh", "-c", script]), CMD_TIMEOUT)
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = exec(std::process::Command::new("ip").args(["netns", "del", &self.0]), CMD_TIMEOUT);
    }
}

#[test]
fn net_devices_move_renamed_with_their_addresses() {
    if is_runc() {
        return; // runc 1.1.5 ignores linux.netDevices (runc 1.4 moves them)
    }
    let ns = TestNetns::new("netdev");
    ns.sh("ip link add s14a type veth peer name s14b && ip addr add 10.77.0.1/24 dev s14a && ip link set s14a up").assert_ok();
    let mut c = Ctx::new("netdev");
    c.config["linux"]["netDevices"] = json!({"s14a": {"name": "eth9"}});
    c.set_args(&["sh", "-c", "ip -o addr show eth9; cat /sys/class/net/eth9/operstate"]);
    c.write_config();
    let run = format!("{} --root {} run --bundle {} {}", runtime().display(), c.root.display(), c.bundle.display(), c.id);
    let o = ns.sh(&run);
    o.assert_ok();
    assert!(o.stdout.contains("10.77.0.1/24"), "address not carried over: {o}");
    // The veth dies with the container's namespace, taking its peer (a physical device would
    // come back). The kernel tears a dead namespace down in a work queue, after `run` has
    // returned, so the peer may linger for a moment under load.
    let gone = |o: &Out| !o.stdout.contains("s14a") && !o.stdout.contains("s14b") && !o.stdout.contains("eth9");
    let mut left = ns.sh("ip -o link show");
    if !gone(&left) {
        poll_until(std::time::Duration::from_secs(20), || {
            left = ns.sh("ip -o link show");
            gone(&left)
        });
    }
    assert!(gone(&left), "{left}");
}

#[test]
fn net_devices_without_a_network_namespace_are_refused() {
    let mut c = Ctx::new("netdev-nonet");
    c.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"}]);
    c.config["linux"]["netDevices"] = json!({"lo": {}});
    c.write_config();
    let o = c.try_create(&[]);
    if is_runc() {
        return;
    }
    o.assert_fail();
    assert!(o.stderr.contains("linux.netDevices"), "{o}");
    c.assert_nothing_left(&c.id.clone());
}
