//! Tests against the real cgroup file system. They need root; without it they print a note
//! and pass. Every test uses its own cgroup path `/bulkhead-unit-<pid>-<n>` and a Drop
//! guard that kills its children and destroys the cgroup even when the test panics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::resources::tests::res;
use super::*;

static N: AtomicUsize = AtomicUsize::new(0);

fn unique() -> String {
    format!(
        "/bulkhead-unit-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn root() -> bool {
    let ok = nix::unistd::geteuid().is_root()
        && Path::new("/proc/self/mountinfo").exists()
        && Layout::detect().is_ok();
    if !ok {
        eprintln!("skipping: needs root and a cgroup file system");
    }
    ok
}

/// Kills its children and destroys its cgroups on drop.
struct Guard {
    cg: Cgroup,
    children: Vec<Child>,
    extra_dirs: Vec<PathBuf>,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            cg: Cgroup::resolve(Some(&unique()), "unit", super::Driver::Cgroupfs).unwrap(),
            children: vec![],
            extra_dirs: vec![],
        }
    }
    fn spawn_sleep(&mut self) -> i32 {
        let c = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }
    /// A shell that waits for a line on stdin before running `script`.
    fn spawn_gated(&mut self, script: &str) -> i32 {
        let c = Command::new("sh")
            .arg("-c")
            .arg(format!("read x; {script}"))
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = c.id() as i32;
        self.children.push(c);
        pid
    }
    fn release(&mut self, pid: i32) -> i32 {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .unwrap();
        c.stdin.take().unwrap().write_all(b"go\n").unwrap();
        c.wait().unwrap().code().unwrap_or(-1)
    }
    fn wait_exit(&mut self, pid: i32) -> std::process::ExitStatus {
        let c = self
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "pid {pid} did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.cg.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.cg.destroy();
        for d in self.extra_dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// The common setup: a created cgroup of its own, and its guard (None without root).
fn created() -> Option<(Guard, Cgroup)> {
    if !root() {
        return None;
    }
    let g = Guard::new();
    let cg = g.cg.clone();
    cg.create().unwrap();
    Some((g, cg))
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", p.as_ref().display()))
        .trim()
        .to_string()
}

fn proc_state(pid: i32) -> String {
    read(format!("/proc/{pid}/status"))
        .lines()
        .find(|l| l.starts_with("State:"))
        .unwrap()
        .to_string()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let s = read(format!("/proc/{pid}/stat"));
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn wait_state(pid: i32, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let s = proc_state(pid);
        if pred(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn lifecycle_create_join_limits_freeze_kill_destroy() {
    let Some((mut g, cg)) = created() else { return };
    for h in cg.hierarchies() {
        assert!(h.dir.is_dir(), "{} missing", h.dir.display());
    }
    // state.json round trip
    let cg: Cgroup = serde_json::from_str(&serde_json::to_string(&cg).unwrap()).unwrap();

    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    let own = read(format!("/proc/{pid}/cgroup"));
    for h in cg.hierarchies() {
        let procs = read(h.dir.join("cgroup.procs"));
        assert!(
            procs.lines().any(|l| l == pid.to_string()),
            "{pid} not in {}",
            h.dir.display()
        );
        assert!(own.contains(&h.path), "{own}");
    }
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    let w = cg
        .apply_resources(&res(
            r#"{"memory":{"limit":67108864,"reservation":33554432},"pids":{"limit":42},
                "cpu":{"shares":512,"quota":20000,"period":100000}}"#,
        ))
        .unwrap();
    eprintln!("warnings: {w:?}");
    match cg.layout() {
        Layout::Unified => {
            let d = cg.v2_dir().unwrap();
            assert_eq!(read(d.join("memory.max")), "67108864");
            assert_eq!(read(d.join("pids.max")), "42");
            assert_eq!(read(d.join("cpu.max")), "20000 100000");
            assert_eq!(read(d.join("cpu.weight")), shares_to_weight_str(512));
        }
        _ => {
            assert_eq!(
                read(cg.v1_dir("memory").unwrap().join("memory.limit_in_bytes")),
                "67108864"
            );
            assert_eq!(
                read(
                    cg.v1_dir("memory")
                        .unwrap()
                        .join("memory.soft_limit_in_bytes")
                ),
                "33554432"
            );
            assert_eq!(read(cg.v1_dir("pids").unwrap().join("pids.max")), "42");
            let cpu = cg.v1_dir("cpu").unwrap();
            assert_eq!(read(cpu.join("cpu.shares")), "512");
            assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "20000");
            assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        }
    }
    // update: unlimited again
    cg.apply_resources(&res(
        r#"{"memory":{"limit":-1},"pids":{"limit":-1},"cpu":{"quota":-1}}"#,
    ))
    .unwrap();

    let st = cg.stats().unwrap();
    assert_eq!(st["pids"]["current"], 1, "{st}");
    assert!(st["memory"]["usage"].is_object());
    assert!(st["cpu"]["usage"].is_object());

    // freeze / thaw
    assert!(!cg.is_frozen().unwrap());
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    let s = wait_state(pid, |s| !s.contains("S (sleeping)"));
    assert!(!s.contains("S (sleeping)"), "frozen task state: {s}");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    let s = wait_state(pid, |s| s.contains("S (sleeping)"));
    assert!(s.contains("S (sleeping)"), "thawed task state: {s}");

    // kill_all
    cg.kill_all(libc::SIGKILL).unwrap();
    let st = g.wait_exit(pid);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGKILL));
    cg.destroy().unwrap();
    for h in cg.hierarchies() {
        assert!(!h.dir.exists(), "{} left behind", h.dir.display());
    }
    cg.destroy().unwrap(); // idempotent
}

fn shares_to_weight_str(s: u64) -> String {
    resources::shares_to_weight(s).to_string()
}

#[test]
fn kill_all_signal_and_recursive_pids() {
    let Some((mut g, cg)) = created() else { return };
    let a = g.spawn_sleep();
    let b = g.spawn_sleep();
    cg.add_pid(a).unwrap();
    // b goes into a child cgroup of the container in the pids' hierarchy
    let sub = cg.procs_dir().join("sub");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("cgroup.procs"), b.to_string()).unwrap();
    let mut pids = vec![a, b];
    pids.sort();
    assert_eq!(cg.pids().unwrap(), pids);
    cg.kill_all(libc::SIGTERM).unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(g.wait_exit(a).signal(), Some(libc::SIGTERM));
    assert_eq!(g.wait_exit(b).signal(), Some(libc::SIGTERM));
    assert!(!cg.is_frozen().unwrap());
    // destroy removes the child cgroup too
    cg.destroy().unwrap();
    assert!(!sub.exists());
    assert!(!cg.exists());
}

#[test]
fn destroy_kills_stragglers() {
    let Some((mut g, cg)) = created() else { return };
    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    // reap in the background so the zombie disappears, as a runtime's parent would
    let mut child = g.children.pop().unwrap();
    let t = std::thread::spawn(move || child.wait().unwrap());
    cg.destroy().unwrap();
    assert!(!cg.exists());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(t.join().unwrap().signal(), Some(libc::SIGKILL));
}

#[test]
fn memory_limit_below_usage_reports_context() {
    let Some((mut g, cg)) = created() else { return };
    // a process holding ~20 MiB of anonymous memory
    let pid =
        g.spawn_gated("x=$(head -c 20000000 /dev/zero | tr '\\0' a); echo ready >&2; sleep 1000");
    cg.add_pid(pid).unwrap();
    {
        let c = g
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == pid)
            .unwrap();
        c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    // wait until the memory is charged
    let deadline = Instant::now() + Duration::from_secs(10);
    let usage_file = match cg.layout() {
        Layout::Unified => cg.v2_dir().unwrap().join("memory.current"),
        _ => cg.v1_dir("memory").unwrap().join("memory.usage_in_bytes"),
    };
    while read(&usage_file).parse::<u64>().unwrap() < 10_000_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("usage {}", read(&usage_file));
    let r = cg.apply_resources(&res(
        r#"{"memory":{"limit":4194304,"checkBeforeUpdate":true}}"#,
    ));
    let e = format!("{:#}", r.unwrap_err());
    assert!(
        e.contains("rejecting memory limit 4194304 below current usage"),
        "{e}"
    );
    if cg.layout() != Layout::Unified {
        // without the check the kernel refuses (no swap to reclaim to)
        let noswap = read("/proc/meminfo")
            .lines()
            .any(|l| l.starts_with("SwapTotal:") && l.ends_with(" 0 kB"));
        if noswap {
            let e = format!(
                "{:#}",
                cg.apply_resources(&res(r#"{"memory":{"limit":4194304}}"#))
                    .unwrap_err()
            );
            let want = format!(
                "linux.resources.memory.limit: writing 4194304 to {}: Device or resource busy",
                cg.v1_dir("memory")
                    .unwrap()
                    .join("memory.limit_in_bytes")
                    .display()
            );
            eprintln!("{e}");
            assert!(e.starts_with(&want), "{e}");
        }
    }
}

#[test]
fn create_failure_leaves_nothing() {
    if !root() {
        return;
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let pc = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let layout = Layout::detect().unwrap();
    if layout == Layout::Unified {
        return; // the fake v1 hierarchy below only works next to v1 ones
    }
    let bogus = format!("/nonexistent-bulkhead-{}", std::process::id());
    let mi = format!("{mi}999 31 0:999 / {bogus} rw - cgroup cgroup rw,perf_event\n");
    let path = unique();
    let cg = Cgroup::resolve_from(&mi, &pc, Some(&path), "x").unwrap();
    assert!(cg.hierarchies().last().unwrap().dir.starts_with(&bogus));
    let e = format!("{:#}", cg.create().unwrap_err());
    assert!(e.contains(&bogus), "{e}");
    for h in cg.hierarchies() {
        assert!(!h.dir.exists(), "{} left behind", h.dir.display());
    }
}

#[test]
fn add_pid_failure_rolls_back() {
    if !root() {
        return;
    }
    if Layout::detect().unwrap() == Layout::Unified {
        return;
    }
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let pc = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    // A fake "hierarchy" on a plain directory: create works, writing cgroup.procs fails.
    let tmp = std::env::temp_dir().join(format!("bulkhead-fake-cg-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mi = format!(
        "{mi}999 31 0:999 / {} rw - cgroup cgroup rw,perf_event\n",
        tmp.display()
    );
    let mut g = Guard::new();
    g.cg = Cgroup::resolve_from(&mi, &pc, Some(&unique()), "x").unwrap();
    g.extra_dirs.push(tmp.clone());
    let cg = g.cg.clone();
    cg.create().unwrap();
    let pid = g.spawn_sleep();
    let before = read(format!("/proc/{pid}/cgroup"));
    let e = format!("{:#}", cg.add_pid(pid).unwrap_err());
    assert!(e.contains(&format!("adding pid {pid}")), "{e}");
    assert_eq!(read(format!("/proc/{pid}/cgroup")), before);
    for h in cg.hierarchies() {
        assert!(!h.dir.exists(), "{} left behind", h.dir.display());
    }
}

#[test]
fn unified_map_on_this_host() {
    if !root() {
        return;
    }
    let g = Guard::new();
    let cg = g.cg.clone();
    cg.create().unwrap();
    let r = res(r#"{"unified":{"memory.max":"1000000"}}"#);
    match cg.layout() {
        Layout::V1 => assert!(cg.apply_resources(&r).is_err()),
        Layout::Hybrid => {
            let e = format!("{:#}", cg.apply_resources(&r).unwrap_err());
            assert!(e.contains("controller \"memory\""), "{e}");
        }
        Layout::Unified => {
            cg.apply_resources(&r).unwrap();
            assert_eq!(read(cg.v2_dir().unwrap().join("memory.max")), "999424");
        }
    }
    assert!(
        cg.apply_resources(&res(r#"{"unified":{"../cgroup.procs":"1"}}"#))
            .is_err()
    );
}

#[test]
fn v1_devices_restrict_access() {
    if !root() {
        return;
    }
    let mut g = Guard::new();
    let cg = g.cg.clone();
    if cg.v1_dir("devices").is_none() {
        return;
    }
    cg.create().unwrap();
    cg.apply_resources(&res(
        r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}]}"#,
    ))
    .unwrap();
    let list = read(cg.v1_dir("devices").unwrap().join("devices.list"));
    assert_eq!(list, "c 1:5 rwm");
    let pid = g.spawn_gated(
        "head -c1 /dev/zero >/dev/zero || exit 3; cat /dev/null 2>/dev/zero && exit 4; exit 0",
    );
    cg.add_pid(pid).unwrap();
    assert_eq!(g.release(pid), 0);
}

#[test]
fn ebpf_device_filter_on_cgroup2() {
    if !root() {
        return;
    }
    // Needs a cgroup2 directory: pure v2, or the hybrid "unified" one.
    let mut g = Guard::new();
    let cg = g.cg.clone();
    let Some(dir) = cg.v2_dir().map(Path::to_path_buf) else {
        return;
    };
    cg.create().unwrap();
    let rules: Vec<oci_spec::runtime::LinuxDeviceCgroup> = serde_json::from_str(
        r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}]"#,
    )
    .unwrap();
    devices::apply_v2(&dir, &rules).unwrap();
    let script =
        "head -c1 /dev/zero >/dev/zero || exit 3; cat /dev/null 2>/dev/zero && exit 4; exit 0";
    let pid = g.spawn_gated(script);
    cg.add_pid(pid).unwrap();
    assert_eq!(
        g.release(pid),
        0,
        "/dev/null must be denied, /dev/zero allowed"
    );
    // Replacing the program: now everything is allowed (the old program must be detached).
    let all: Vec<oci_spec::runtime::LinuxDeviceCgroup> =
        serde_json::from_str(r#"[{"allow":true,"access":"rwm"}]"#).unwrap();
    devices::apply_v2(&dir, &all).unwrap();
    assert_eq!(devices::attached_count(&dir), 1, "the old program is still attached");
    let pid = g.spawn_gated("cat /dev/null || exit 5; exit 0");
    cg.add_pid(pid).unwrap();
    assert_eq!(
        g.release(pid),
        0,
        "after replacing the filter /dev/null is allowed"
    );
}

#[test]
fn mount_sources_cover_every_hierarchy() {
    if !root() {
        return;
    }
    let g = Guard::new();
    let ms = g.cg.mount_sources();
    assert_eq!(ms.len(), g.cg.hierarchies().len());
    for (name, dir) in &ms {
        assert!(
            dir.ends_with(g.cg.path().trim_start_matches('/'))
                || dir.to_string_lossy().contains("bulkhead-unit"),
            "{name} {dir:?}"
        );
    }
    if g.cg.layout() == Layout::Hybrid {
        assert!(ms.iter().any(|(n, _)| n == "unified"));
        assert!(ms.iter().any(|(n, _)| n == "memory"));
    }
}

#[test]
fn optional_and_unavailable_fields_on_this_host() {
    if !root() {
        return;
    }
    let g = Guard::new();
    let cg = g.cg.clone();
    cg.create().unwrap();
    // Fields the config did not set never fail, whatever the host lacks.
    assert!(cg.apply_resources(&res("{}")).unwrap().is_empty());
    assert!(
        cg.apply_resources(&res(
            r#"{"memory":{},"cpu":{},"blockIO":{},"hugepageLimits":[],"network":{}}"#
        ))
        .unwrap()
        .is_empty()
    );
    // cpuset
    let cpus = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.cpus")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/cpuset.cpus.effective"));
    if let Ok(cpus) = cpus {
        let first = cpus.trim().split([',', '-']).next().unwrap().to_string();
        cg.apply_resources(&res(&format!(
            r#"{{"cpu":{{"cpus":"{first}","mems":"0"}}}}"#
        )))
        .unwrap();
        let d = cg.v1_dir("cpuset").or(cg.v2_dir()).unwrap();
        assert_eq!(read(d.join("cpuset.cpus")), first);
    }
    // kernel memory: applied where the files exist and work, else a warning; never an error
    let w = cg
        .apply_resources(&res(
            r#"{"memory":{"kernel":67108864,"kernelTCP":67108864,"swappiness":10}}"#,
        ))
        .unwrap();
    eprintln!("kernel memory warnings: {w:?}");
    // blkio weight: this host's blkio has neither blkio.weight nor blkio.bfq.weight → error
    let r = res(
        r#"{"blockIO":{"weight":500,"throttleReadBpsDevice":[{"major":1,"minor":3,"rate":0}]}}"#,
    );
    match cg.apply_resources(&r) {
        Ok(w) => eprintln!("blkio warnings: {w:?}"),
        Err(e) => eprintln!("blkio error (no controller/device): {e:#}"),
    }
    if let Some(b) = cg
        .v1_dir("blkio")
        .filter(|b| !b.join("blkio.weight").exists() && !b.join("blkio.bfq.weight").exists())
    {
        let e = format!("{:#}", cg.apply_resources(&res(r#"{"blockIO":{"weight":500}}"#)).unwrap_err());
        assert!(e.contains("linux.resources.blockIO.weight") && e.contains("does not exist"), "{e} ({})", b.display());
    }
    // hugetlb: an error naming the field when the controller or page size is missing
    let r = cg.apply_resources(&res(r#"{"hugepageLimits":[{"pageSize":"3MB","limit":1}]}"#));
    let e = format!("{:#}", r.unwrap_err());
    assert!(e.contains("linux.resources.hugepageLimits"), "{e}");
    eprintln!("{}", serde_json::to_string(&cg.stats().unwrap()).unwrap());
}

/// The pure-v2 code paths (cgroup.freeze, cgroup.kill, recursive pids, eBPF devices, v2
/// stats, controller checks) on a cgroup2 hierarchy of this host: a Layout::Unified cgroup
/// built from a mountinfo line that shows only our own test cgroup of the cgroup2 mount,
/// as a bind mount inside a container would (so no cgroup we did not create is touched).
#[test]
fn v2_paths_on_a_cgroup2_subtree() {
    if !root() {
        return;
    }
    let outer = Guard::new();
    if outer.cg.layout() == Layout::V1 {
        return;
    }
    outer.cg.create().unwrap();
    let odir = outer.cg.v2_dir().unwrap().to_path_buf();
    let opath = outer
        .cg
        .hierarchies()
        .iter()
        .find(|h| h.v2)
        .unwrap()
        .path
        .clone();
    let mi = format!(
        "1 0 0:99 {opath} {} rw - cgroup2 cgroup2 rw\n",
        odir.display()
    );
    let mut g = Guard::new();
    g.cg = Cgroup::resolve_from(&mi, &format!("0::{opath}\n"), Some("/inner"), "x").unwrap();
    let cg = g.cg.clone();
    assert_eq!(cg.layout(), Layout::Unified);
    assert_eq!(cg.hierarchies().len(), 1);
    assert_eq!(cg.path(), format!("{opath}/inner"));
    assert_eq!(
        cg.mount_sources(),
        vec![(String::new(), odir.join("inner"))]
    );
    cg.create().unwrap();
    let dir = cg.v2_dir().unwrap().to_path_buf();
    assert_eq!(dir, odir.join("inner"));

    let a = g.spawn_sleep();
    cg.add_pid(a).unwrap();
    assert!(read(format!("/proc/{a}/cgroup")).contains(&format!("0::{opath}/inner")));
    // a nested cgroup (allowed: no controllers enabled, so no internal-process rule)
    let b = g.spawn_sleep();
    std::fs::create_dir(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/cgroup.procs"), b.to_string()).unwrap();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(cg.pids().unwrap(), both);

    // resources: no controller is enabled in this subtree → an error naming the field;
    // devices work through eBPF.
    let e = format!(
        "{:#}",
        cg.apply_resources(&res(r#"{"memory":{"limit":1000000}}"#))
            .unwrap_err()
    );
    assert!(
        e.contains("linux.resources.memory") && e.contains("not available"),
        "{e}"
    );
    let w = cg
        .apply_resources(&res(r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}]}"#))
        .unwrap();
    assert!(w.is_empty());
    let c = g.spawn_gated(
        "head -c1 /dev/zero >/dev/zero || exit 3; cat /dev/null 2>/dev/zero && exit 4; exit 0",
    );
    cg.add_pid(c).unwrap();
    assert_eq!(g.release(c), 0);

    // freeze via cgroup.freeze, including the nested cgroup. v2 frozen tasks still show
    // "S (sleeping)", so check that a busy loop stops using CPU.
    let busy = g.spawn_gated("while :; do :; done");
    cg.add_pid(busy).unwrap();
    {
        let c = g
            .children
            .iter_mut()
            .find(|c| c.id() as i32 == busy)
            .unwrap();
        c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    // the nested cgroup reports frozen too (its cgroup.events may lag a little)
    let t = Instant::now();
    while !read(dir.join("sub/cgroup.events")).contains("frozen 1")
        && t.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("nested frozen after {:?}", t.elapsed());
    assert!(read(dir.join("sub/cgroup.events")).contains("frozen 1"));
    let t0 = cpu_ticks(busy);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cpu_ticks(busy), t0, "frozen busy loop kept running");
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    std::thread::sleep(Duration::from_millis(300));
    assert!(cpu_ticks(busy) > t0, "thawed busy loop does not run");

    let st = cg.stats().unwrap();
    assert!(st["cpu"]["usage"].is_object(), "{st}");

    // SIGTERM: freeze, signal, thaw; SIGKILL: cgroup.kill
    use std::os::unix::process::ExitStatusExt;
    let d = g.spawn_sleep();
    cg.add_pid(d).unwrap();
    cg.kill_all(libc::SIGTERM).unwrap();
    for p in [a, b, d, busy] {
        assert_eq!(g.wait_exit(p).signal(), Some(libc::SIGTERM));
    }
    let e = g.spawn_sleep();
    cg.add_pid(e).unwrap();
    cg.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(g.wait_exit(e).signal(), Some(libc::SIGKILL));
    cg.destroy().unwrap();
    assert!(!dir.exists() && odir.exists());
    drop(g);
    drop(outer);
    assert!(!odir.exists());
}

#[test]
fn destroy_of_a_frozen_cgroup() {
    let Some((mut g, cg)) = created() else { return };
    let pid = g.spawn_sleep();
    cg.add_pid(pid).unwrap();
    let mut child = g.children.pop().unwrap();
    let t = std::thread::spawn(move || child.wait().unwrap());
    cg.freeze().unwrap();
    let start = Instant::now();
    cg.destroy().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "destroy took {:?}",
        start.elapsed()
    );
    assert!(!cg.exists());
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(t.join().unwrap().signal(), Some(libc::SIGKILL));
}
