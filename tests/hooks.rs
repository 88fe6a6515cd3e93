//! OCI hooks: all six kinds, their order, the state on stdin, env, failures, timeouts.
mod common;

use common::*;
use serde_json::{Value, json};
use std::fs;
use std::path::Path;

const HOST_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A hook that saves its stdin to DIR/NAME.json, its $HOOKVAR to DIR/NAME.env and
/// appends NAME to DIR/order. `dir` must resolve where the hook runs.
fn recording_hook(name: &str, dir: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!(
            "cat > {dir}/{name}.json; echo \"$HOOKVAR\" > {dir}/{name}.env; echo {name} >> {dir}/order"
        )],
        "env": [HOST_PATH, format!("HOOKVAR={name}-env")]
    })
}

fn order(c: &Ctx) -> Vec<String> {
    fs::read_to_string(c.out.join("order"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

fn pos(v: &[String], name: &str) -> usize {
    v.iter()
        .position(|x| x == name)
        .unwrap_or_else(|| panic!("{name} did not run; order: {v:?}"))
}

fn hook_state(c: &Ctx, name: &str) -> Value {
    let p = c.out.join(format!("{name}.json"));
    let t = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t)
        .unwrap_or_else(|e| panic!("{name} got no state JSON on stdin ({e}): {t:?}"))
}

#[test]
fn all_six_hooks_run_in_order_with_state() {
    let mut c = Ctx::new("hooks-all");
    let host_out = c.out.to_str().unwrap().to_string();
    let mut hooks = serde_json::Map::new();
    // prestart, createRuntime and poststart/poststop run in the runtime namespace;
    // createContainer runs in the container's mount ns before pivot_root, where host
    // paths still resolve; startContainer's path resolves inside the container.
    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        hooks.insert(name.into(), json!([recording_hook(name, &host_out)]));
    }
    hooks.insert(
        "startContainer".into(),
        json!([recording_hook("startContainer", "/out")]),
    );
    c.config["hooks"] = Value::Object(hooks);
    c.config["annotations"] = json!({"hook.test": "1"});
    c.set_args(&[
        "sh",
        "-c",
        "echo main >> /out/order; while [ ! -e /out/go ]; do sleep 0.05; done",
    ]);

    c.create();
    let pid = c.pid();
    let o = order(&c);
    for name in ["prestart", "createRuntime", "createContainer"] {
        pos(&o, name);
    }
    assert!(
        pos(&o, "createRuntime") < pos(&o, "createContainer"),
        "{o:?}"
    );
    assert!(pos(&o, "prestart") < pos(&o, "createContainer"), "{o:?}");
    assert!(
        !o.iter().any(|x| x == "startContainer" || x == "main"),
        "ran before start: {o:?}"
    );
    if !is_runc() {
        // runc 1.1.5 runs poststart hooks during `create` (fixed in runc 1.2); the spec
        // says after the user process has started.
        assert!(
            !o.iter().any(|x| x == "poststart"),
            "poststart ran at create: {o:?}"
        );
    }

    c.start();
    wait_file_contains(&c.out.join("order"), "main");
    let o = order(&c);
    assert!(
        pos(&o, "createContainer") < pos(&o, "startContainer"),
        "{o:?}"
    );
    assert!(pos(&o, "startContainer") < pos(&o, "main"), "{o:?}");
    if !is_runc() {
        // see above: on runc poststart already ran during create
        assert!(pos(&o, "startContainer") < pos(&o, "poststart"), "{o:?}");
    }
    assert!(!o.iter().any(|x| x == "poststop"), "{o:?}");

    fs::write(c.out.join("go"), "").unwrap();
    c.wait_status("stopped");
    c.delete(false).assert_ok();
    let o = order(&c);
    assert_eq!(o.last().map(String::as_str), Some("poststop"), "{o:?}");
    assert_eq!(o.len(), 7, "each hook exactly once: {o:?}");

    let bundle = fs::canonicalize(&c.bundle).unwrap();
    for name in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        let st = hook_state(&c, name);
        assert_eq!(st["id"], c.id.as_str(), "{name}: {st}");
        assert!(st["ociVersion"].is_string(), "{name}: {st}");
        assert!(st["status"].is_string(), "{name}: {st}");
        assert_eq!(st["annotations"], c.config["annotations"], "{name}: {st}");
        assert_eq!(
            fs::canonicalize(st["bundle"].as_str().unwrap_or(""))
                .ok()
                .as_ref(),
            Some(&bundle),
            "{name}: {st}"
        );
        let env = fs::read_to_string(c.out.join(format!("{name}.env"))).unwrap();
        assert_eq!(
            env.trim(),
            format!("{name}-env"),
            "{name} did not get its env"
        );
    }
    // One state document for every phase: the same fields (pid aside: 0 or omitted once
    // stopped), whether the runtime or the init runs the hook.
    let keys = |name: &str| -> Vec<String> {
        let st = hook_state(&c, name);
        let mut k: Vec<String> = st.as_object().unwrap().keys().filter(|k| *k != "pid").cloned().collect();
        k.sort();
        k
    };
    for name in ["createRuntime", "createContainer", "startContainer", "poststart", "poststop"] {
        assert_eq!(keys(name), keys("prestart"), "{name}'s state document differs from prestart's");
    }
    // the container is still being created while these run
    for name in ["prestart", "createRuntime", "createContainer"] {
        assert_eq!(hook_state(&c, name)["status"], "creating", "{name}");
    }
    // hooks in the runtime namespace see the container's host pid
    for name in ["prestart", "createRuntime"] {
        assert_eq!(hook_state(&c, name)["pid"], pid, "{name}");
    }
    assert_eq!(hook_state(&c, "poststop")["status"], "stopped");
}

fn assert_create_fails_cleanly(c: &Ctx) {
    let o = c.try_create(&[]);
    o.assert_fail_msg();
    c.assert_nothing_left(&c.id);
}

#[test]
fn failing_create_hooks_fail_create_and_leave_nothing() {
    for kind in ["createRuntime", "prestart", "createContainer"] {
        let mut c = Ctx::new("hook-fails");
        c.config["hooks"] = json!({ kind: [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}] });
        c.set_args(&["sh", "-c", "echo ran > /out/ran"]);
        assert_create_fails_cleanly(&c);
        assert!(!c.out.join("ran").exists(), "{kind}: user process ran");
    }
}

/// runc's wording for a failed hook, which scripts match: "error running <phase> hook #<i>".
#[test]
fn failed_hook_error_names_phase_and_index_as_runc() {
    let mut c = Ctx::new("hook-words");
    c.config["hooks"] = json!({ "createRuntime": [
        {"path": "/bin/true"},
        {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}
    ]});
    let o = c.try_create(&[]);
    o.assert_fail_msg();
    assert!(o.stderr.contains("error running createRuntime hook #1"), "{o}");
}

/// As runc (standard_init_linux.go SetDefaultEnv): a startContainer hook without `env` of its
/// own runs with the container process's environment; one with `env` keeps its own.
#[test]
fn start_container_hooks_get_the_process_env_by_default() {
    let mut c = Ctx::new("hook-start-env");
    c.config["process"]["env"] = json!(["PATH=/usr/bin:/bin", "FROM_PROCESS=yes"]);
    c.config["hooks"] = json!({ "startContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", "echo \"inherited=$FROM_PROCESS\" > /out/default"]},
        {"path": "/bin/sh", "args": ["sh", "-c", "echo \"own=$FROM_PROCESS:$MINE\" > /out/own"], "env": ["MINE=1"]}
    ]});
    c.set_args(&["true"]);
    c.run(&[]).assert_ok();
    assert_eq!(fs::read_to_string(c.out.join("default")).unwrap(), "inherited=yes\n");
    assert_eq!(fs::read_to_string(c.out.join("own")).unwrap(), "own=:1\n");
}

#[test]
fn hook_timeout_is_enforced() {
    let mut c = Ctx::new("hook-timeout");
    // The hook names our ID in its argv, so a hook left running after the timeout
    // shows up in the leftover-process check.
    let name = format!("hook-sleep-{}", c.id);
    c.config["hooks"] = json!({
        "createRuntime": [{"path": "/bin/bash", "args": ["bash", "-c", format!("exec -a {name} sleep 15")], "timeout": 1}]
    });
    // A runtime that ignores "timeout" waits for the sleep and then succeeds.
    assert_create_fails_cleanly(&c);
}

#[test]
fn hook_args_are_passed_verbatim() {
    let mut c = Ctx::new("hook-args");
    let out = c.out.to_str().unwrap().to_string();
    c.config["hooks"] = json!({
        "createRuntime": [{
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("printf '%s|' \"$0\" \"$1\" \"$2\" > {out}/args"), "zero", "one two", ""]
        }]
    });
    c.create();
    assert_eq!(
        fs::read_to_string(Path::new(&out).join("args")).unwrap(),
        "zero|one two||"
    );
}

/// Issue 15 item 10: createContainer hooks run as runc runs them: in the rootfs (so a hook
/// writing a relative path writes into the container's root) and, without an `env` of their
/// own, with process.env; with one, with exactly that.
#[test]
fn create_container_hook_cwd_and_env() {
    let mut c = Ctx::new("hook-cc-cwd");
    c.config["process"]["env"] = json!(["PATH=/usr/bin:/bin", "FROM_PROCESS=yes"]);
    let script = "pwd > from-hook-$0; env | sort >> from-hook-$0";
    c.config["hooks"] = json!({"createContainer": [
        {"path": "/bin/sh", "args": ["sh", "-c", script, "noenv"]},
        {"path": "/bin/sh", "args": ["sh", "-c", script, "env"], "env": ["ONLY=this"]},
    ]});
    c.create();
    let noenv = fs::read_to_string(c.rootfs.join("from-hook-noenv")).expect("hook wrote into the rootfs");
    let rootfs = fs::canonicalize(&c.rootfs).unwrap();
    assert_eq!(noenv.lines().next(), Some(rootfs.to_str().unwrap()), "{noenv}");
    assert!(noenv.contains("FROM_PROCESS=yes"), "{noenv}");
    let env = fs::read_to_string(c.rootfs.join("from-hook-env")).unwrap();
    assert!(env.contains("ONLY=this") && !env.contains("FROM_PROCESS"), "{env}");
}
