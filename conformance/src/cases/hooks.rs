//! Hooks (config.md#posix-platform-hooks: order, args, env, timeout, state on stdin) and what a
//! failing hook does to the lifecycle (runtime.md#lifecycle).

use super::*;
use std::os::unix::fs::PermissionsExt;

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

/// Runs after `process::personality` (registry order).
pub fn timeout() -> Vec<Case> {
    vec![
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
    ]
}

/// Runs after `lifecycle::after_create` (registry order).
pub fn cases() -> Vec<Case> {
    vec![
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
    ]
}
