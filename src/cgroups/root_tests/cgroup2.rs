//! The pure-v2 code paths on a cgroup2 subtree of this host.

use super::*;

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
