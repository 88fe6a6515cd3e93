//! The runtime as podman rootless runs it, without podman: an ordinary user's process that is
//! uid 0 of a user namespace of its own (`unshare --user --map-root-user`), with
//! XDG_RUNTIME_DIR set and no --root, runs a container that has no user namespace of its own.
//! runc's rules then apply (security/rootless.rs): state under $XDG_RUNTIME_DIR/bulkhead, the
//! cgroup it may not create skipped, devices bound from the host since mknod is refused.
mod sec_common;

use sec_common::*;
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn uid0_of_a_user_namespace_runs_a_container_as_podman_rootless_does() {
    if skip() {
        return;
    }
    let Some(u) = TestUser::new() else {
        eprintln!("skipped: useradd failed");
        return;
    };
    let ctx = Ctx::new("rlns");
    chmod(ctx.tmp.path(), 0o755);
    let xdg = ctx.path("xdg");
    std::fs::create_dir(&xdg).unwrap();
    chown_r(&xdg, u.uid, u.gid);
    let mut cfg = ctx.config();
    // Only uid/gid 0 are mapped (podman maps a subuid range): no gid=5 for devpts, as in
    // `spec --rootless`.
    for m in cfg["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev/pts" {
            m["options"].as_array_mut().unwrap().retain(|o| !o.as_str().unwrap_or("").starts_with("gid="));
        }
    }
    let id = ctx.new_id();
    ctx.set(&mut cfg, &id, &["sh", "-c", "id -u; test -c /dev/null && echo null-is-a-device; echo x > /dev/null && echo null-writable"]);
    let id2 = ctx.new_id();
    let bundle2 = ctx.path("bundle2");
    std::fs::create_dir(&bundle2).unwrap();
    cfg["root"]["path"] = json!(ctx.rootfs);
    cfg["process"]["args"] = json!(["sleep", "1000"]);
    std::fs::write(bundle2.join("config.json"), serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();

    // One user namespace for every command, as podman's pause process keeps one: run in the
    // foreground, then a detached container, exec into it, kill it, delete it.
    let script = format!(
        "set -e; B={bin}; trap '$B delete --force {id2} 2>/dev/null' EXIT; $B run --bundle {bundle} {id}; \
         $B run -d --bundle {bundle2} {id2} >/dev/null 2>&1; $B exec {id2} sh -c 'echo exec-ok'; \
         $B kill --all {id2} KILL; $B delete --force {id2}; ls $XDG_RUNTIME_DIR/bulkhead | wc -l",
        bin = BIN,
        bundle = ctx.bundle.display(),
        bundle2 = bundle2.display()
    );
    let mut c = Command::new("unshare");
    c.args(["--user", "--map-root-user", "sh", "-c", &script]);
    c.current_dir(&ctx.bundle).uid(u.uid).gid(u.gid).env_clear();
    c.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin").env("HOME", "/").env("XDG_RUNTIME_DIR", &xdg);
    let o = run_bounded(c, Duration::from_secs(30));

    assert!(o.ok(), "{o:?}");
    let w: Vec<&str> = o.stdout.split_whitespace().collect();
    assert_eq!(w, ["0", "null-is-a-device", "null-writable", "exec-ok", "0"], "{o:?}");
    // The cgroup the user may not create is skipped with a warning, not an error.
    assert!(o.stderr.contains("rootless"), "{o:?}");
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory/bulkhead-{id}")).exists());
    use std::os::unix::fs::PermissionsExt;
    let root = xdg.join("bulkhead");
    let mode = std::fs::metadata(&root).unwrap_or_else(|e| panic!("no state root {}: {e}", root.display())).permissions().mode();
    assert_eq!(mode & 0o7777, 0o1700, "{mode:o}");
}
