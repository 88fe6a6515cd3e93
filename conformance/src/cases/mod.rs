//! The cases, one file per spec area (runtime-spec runtime.md, config.md, config-linux.md,
//! runtime-linux.md, features.md); each case states the rule it checks (file#section: "quote").
//! Here: the registry `all()` in run order, the expected deviations and the shared helpers.

use crate::harness::*;
use serde_json::{json, Value};
use std::fs;
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

fn read_trim(p: &std::path::Path) -> Result<String, String> {
    fs::read_to_string(p).map(|s| s.trim().to_string()).map_err(|e| format!("{}: {e}", p.display()))
}

fn cg_v1() -> bool {
    !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
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

/// The hook kinds, in lifecycle order (hooks.rs, features.rs).
const HOOKS: [&str; 6] = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

// ---------------------------------------------------------------- the list

mod cgroups;
mod features;
mod hooks;
mod lifecycle;
mod mounts;
mod namespaces;
mod process;
mod spec13;

/// Every case, in run order (the TAP numbers). A spec area whose cases are not
/// contiguous in that order contributes more than one group.
pub fn all() -> Vec<Case> {
    [
        namespaces::cases(),
        mounts::cases(),
        process::cases(),
        cgroups::cases(),
        lifecycle::operations(),
        process::personality(),
        hooks::timeout(),
        lifecycle::after_create(),
        hooks::cases(),
        lifecycle::cli(),
        features::cases(),
        spec13::cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}
