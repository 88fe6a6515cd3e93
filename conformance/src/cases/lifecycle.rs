//! The lifecycle from outside (runtime.md: state, create, start, kill, delete and their errors),
//! and runc-compatible CLI behaviour (--pid-file, exit codes, signal forms).

use super::*;

fn pid_alive(pid: i64) -> bool {
    pid > 0 && unsafe { libc::kill(pid as i32, 0) } == 0 && {
        // a zombie counts as dead
        fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z')).unwrap_or(false)
    }
}

fn expect_status(b: &Bundle, want: &str) -> Result<Value, String> {
    let st = b.state()?;
    if st["status"] != want {
        return Err(format!("status {}, want {want:?} (state {st})", st["status"]));
    }
    Ok(st)
}

pub fn operations() -> Vec<Case> {
    vec![
        case!("state-created", "runtime.md#create: \"Upon successful completion of this operation the status property of this container MUST be created.\"; runtime.md#state (ociVersion, id, status, pid, bundle, annotations)", |ctx| {
            lifecycle(ctx, "state-created", |b| {
                b.config["annotations"] = json!({"org.conformance.key": "value"});
                sleeper(b, "exec sleep 30");
                created(b)?;
                let st = expect_status(b, "created")?;
                let mut errs = vec![];
                if !st["ociVersion"].is_string() { errs.push("ociVersion missing".to_string()); }
                if st["id"] != b.id.as_str() { errs.push(format!("id {}, want {}", st["id"], b.id)); }
                let pid = st["pid"].as_i64().unwrap_or(0);
                if !pid_alive(pid) { errs.push(format!("pid {} is not a live process", st["pid"])); }
                let bundle = st.get("bundle").or(st.get("bundlePath")).and_then(|v| v.as_str()).unwrap_or("");
                if bundle != b.dir.display().to_string() { errs.push(format!("bundle {bundle:?}, want {:?}", b.dir.display())); }
                if st["annotations"]["org.conformance.key"] != "value" { errs.push(format!("annotations {}, want the config's", st["annotations"])); }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            })
        }),
        case!("create-does-not-run-process", "runtime.md#create: \"this operation MUST create a new container ... however, the user-specified program MUST NOT be run at this time.\"", |ctx| {
            lifecycle(ctx, "no-run", |b| {
                sleeper(b, "echo ran; exec sleep 30");
                created(b)?;
                std::thread::sleep(Duration::from_millis(200));
                if b.ctr_out().contains("ran") { return Err("program output seen before start".into()); }
                let o = b.rt(&["start", &b.id]);
                if !o.ok() { return Err(format!("start: {}", o.describe())); }
                wait_for("program output after start", Duration::from_secs(5), || b.ctr_out().contains("ran"))
            })
        }),
        case!("state-running", "runtime.md#start: \"Upon successful completion of this operation the status property of this container MUST be running.\"", |ctx| {
            lifecycle(ctx, "state-running", |b| {
                sleeper(b, "exec sleep 30");
                created(b)?;
                let pid0 = b.state()?["pid"].as_i64();
                let o = b.rt(&["start", &b.id]);
                if !o.ok() { return Err(format!("start: {}", o.describe())); }
                let st = expect_status(b, "running")?;
                if st["pid"].as_i64() != pid0 { return Err(format!("pid changed from {pid0:?} to {}", st["pid"])); }
                Ok(())
            })
        }),
        case!("state-stopped-exit", "runtime.md#kill: \"When the process in the container is stopped, irrespective of it being as a result of a kill operation or any other reason, the status property of this container MUST be stopped.\"", |ctx| {
            lifecycle(ctx, "stopped-exit", |b| {
                sleeper(b, "exit 0");
                started(b)?;
                b.wait_stopped()?;
                let o = b.rt(&["delete", &b.id]);
                if !o.ok() { return Err(format!("delete of stopped container: {}", o.describe())); }
                Ok(())
            })
        }),
        case!("state-stopped-kill", "runtime.md#kill: \"This operation MUST send the specified signal to the container process.\" then status MUST be stopped", |ctx| {
            lifecycle(ctx, "stopped-kill", |b| {
                sleeper(b, "exec sleep 30");
                started(b)?;
                let o = b.rt(&["kill", &b.id, "KILL"]);
                if !o.ok() { return Err(format!("kill: {}", o.describe())); }
                b.wait_stopped()
            })
        }),
        case!("start-twice", "runtime.md#start: \"Attempting to `start` a container that is not `created` MUST have no effect on the container and MUST generate an error.\"", |ctx| {
            lifecycle(ctx, "start-twice", |b| {
                sleeper(b, "echo ran; exec sleep 30");
                started(b)?;
                let pid = b.state()?["pid"].as_i64();
                wait_for("output", Duration::from_secs(5), || b.ctr_out().contains("ran"))?;
                let o = b.rt(&["start", &b.id]);
                if o.ok() { return Err("second start succeeded".into()); }
                let st = expect_status(b, "running")?;
                if st["pid"].as_i64() != pid { return Err("pid changed".into()); }
                std::thread::sleep(Duration::from_millis(100));
                if b.ctr_out().matches("ran").count() != 1 { return Err("program ran twice".into()); }
                Ok(())
            })
        }),
        case!("start-stopped", "runtime.md#start: \"Attempting to `start` a container that is not `created` MUST have no effect on the container and MUST generate an error.\"", |ctx| {
            lifecycle(ctx, "start-stopped", |b| {
                sleeper(b, "echo ran");
                started(b)?;
                b.wait_stopped()?;
                let o = b.rt(&["start", &b.id]);
                if o.ok() { return Err("start of a stopped container succeeded".into()); }
                expect_status(b, "stopped")?;
                Ok(())
            })
        }),
        case!("kill-stopped", "runtime.md#kill: \"Attempting to send a signal to a container that is neither `created` nor `running` MUST have no effect on the container and MUST generate an error.\"", |ctx| {
            lifecycle(ctx, "kill-stopped", |b| {
                sleeper(b, "exit 0");
                started(b)?;
                b.wait_stopped()?;
                let o = b.rt(&["kill", &b.id, "KILL"]);
                if o.ok() { return Err("kill of a stopped container succeeded".into()); }
                expect_status(b, "stopped")?;
                Ok(())
            })
        }),
        case!("kill-created", "runtime.md#kill: \"This operation MUST send the specified signal to the container process.\" (a created container can be signalled)", |ctx| {
            lifecycle(ctx, "kill-created", |b| {
                sleeper(b, "echo ran; exec sleep 30");
                created(b)?;
                let o = b.rt(&["kill", &b.id, "KILL"]);
                if !o.ok() { return Err(format!("kill of a created container: {}", o.describe())); }
                b.wait_stopped()?;
                if b.ctr_out().contains("ran") { return Err("program ran".into()); }
                Ok(())
            })
        }),
        case!("delete-running", "runtime.md#delete: \"Attempting to `delete` a container that is not `stopped` MUST have no effect on the container and MUST generate an error.\"", |ctx| {
            lifecycle(ctx, "delete-running", |b| {
                sleeper(b, "exec sleep 30");
                started(b)?;
                let pid = b.state()?["pid"].as_i64().unwrap_or(0);
                let o = b.rt(&["delete", &b.id]);
                if o.ok() { return Err("delete of a running container succeeded".into()); }
                expect_status(b, "running")?;
                if !pid_alive(pid) { return Err("container process died".into()); }
                if !cgroup_file(&b.cgpath, "pids", "cgroup.procs").exists() { return Err("container cgroup removed".into()); }
                Ok(())
            })
        }),
        case!("delete-created", "runtime.md#delete: \"Attempting to `delete` a container that is not `stopped` MUST have no effect on the container and MUST generate an error.\" (created)", |ctx| {
            lifecycle(ctx, "delete-created", |b| {
                sleeper(b, "exec sleep 30");
                created(b)?;
                let o = b.rt(&["delete", &b.id]);
                if o.ok() { return Err("delete of a created container succeeded".into()); }
                expect_status(b, "created")?;
                Ok(())
            })
        }),
        case!("delete-stopped", "runtime.md#delete: \"Deleting a container MUST delete the resources that were created during the create step.\"", |ctx| {
            lifecycle(ctx, "delete-stopped", |b| {
                sleeper(b, "exit 0");
                started(b)?;
                b.wait_stopped()?;
                let o = b.rt(&["delete", &b.id]);
                if !o.ok() { return Err(format!("delete: {}", o.describe())); }
                if b.state().is_ok() { return Err("state still succeeds after delete".into()); }
                for d in cgroup_dirs(&b.cgpath) {
                    if d.exists() { return Err(format!("cgroup {} left behind", d.display())); }
                }
                Ok(())
            })
        }),
        case!("nonexistent-container", "runtime.md#query-state: \"Attempting to query a container that does not exist MUST generate an error.\" (also start, kill, delete)", |ctx| {
            lifecycle(ctx, "nonexistent", |b| {
                let id = "conf-does-not-exist";
                let mut errs = vec![];
                for op in [vec!["state", id], vec!["start", id], vec!["kill", id, "KILL"], vec!["delete", id]] {
                    if b.rt(&op).ok() { errs.push(format!("{} succeeded", op[0])); }
                }
                if errs.is_empty() { Ok(()) } else { Err(errs.join("; ")) }
            })
        }),
        case!("create-duplicate-id", "runtime.md#create: \"If the ID provided is not unique across all containers within the scope of the runtime ... the implementation MUST generate an error and a new container MUST NOT be created.\"", |ctx| {
            lifecycle(ctx, "dup-id", |b| {
                sleeper(b, "exec sleep 30");
                created(b)?;
                let pid = b.state()?["pid"].as_i64();
                let o = b.create();
                if o.ok() { return Err("second create with the same id succeeded".into()); }
                let st = expect_status(b, "created")?;
                if st["pid"].as_i64() != pid { return Err("original container changed".into()); }
                Ok(())
            })
        }),
        case!("create-missing-bundle", "runtime.md#lifecycle: \"If the runtime is unable to create the environment specified in the config.json, it MUST generate an error.\" (no config.json)", |ctx| {
            lifecycle(ctx, "no-bundle", |b| {
                let _ = fs::remove_file(b.dir.join("config.json"));
                let o = b.create();
                if o.ok() { return Err("create without config.json succeeded".into()); }
                if b.state().is_ok() { return Err("a container exists after failed create".into()); }
                Ok(())
            })
        }),
        case!("create-invalid-id", "runtime.md#create: \"If the ID provided is not unique ... or is not valid in any other way, the implementation MUST generate an error and a new container MUST NOT be created.\" (id \"../conf-escape\")", |ctx| {
            lifecycle(ctx, "bad-id", |b| {
                sleeper(b, "exec sleep 30");
                b.write()?;
                let bad = "../conf-escape";
                b.extra_ids.push(bad.to_string());
                let o = b.create_id(bad, &[]);
                if o.ok() {
                    return Err("create with id \"../conf-escape\" succeeded".into());
                }
                if ctx.run_dir.join("conf-escape").exists() {
                    return Err("runtime wrote state outside its --root".into());
                }
                Ok(())
            })
        }),
    ]
}

/// Runs after `hooks::timeout` (registry order).
pub fn after_create() -> Vec<Case> {
    vec![
        case!("pid-file", "runtime CLI (runc-compatible): create --pid-file writes the container process pid; runtime.md#state: \"pid (int, REQUIRED when status is created or running on Linux)\"", |ctx| {
            lifecycle(ctx, "pid-file", |b| {
                sleeper(b, "exec sleep 30");
                b.write()?;
                let pf = b.dir.join("ctr.pid");
                let o = b.create_id(&b.id, &["--pid-file", &pf.display().to_string()]);
                if !o.ok() { return Err(format!("create: {}", o.describe())); }
                let got = read_trim(&pf)?;
                let st = b.state()?;
                if got != st["pid"].to_string() { return Err(format!("pid file {got:?}, state pid {}", st["pid"])); }
                Ok(())
            })
        }),
        case!("config-change-after-create", "runtime.md#create: \"Any changes made to the config.json file after this operation will not have an effect on the container.\"", |ctx| {
            lifecycle(ctx, "cfg-change", |b| {
                sleeper(b, "echo original; exec sleep 30");
                created(b)?;
                sleeper(b, "echo modified; exec sleep 30");
                b.write()?;
                let o = b.rt(&["start", &b.id]);
                if !o.ok() { return Err(format!("start: {}", o.describe())); }
                wait_for("output", Duration::from_secs(5), || !b.ctr_out().is_empty())?;
                if !b.ctr_out().contains("original") { return Err(format!("output {:?}, want the original args", b.ctr_out())); }
                Ok(())
            })
        }),
    ]
}

/// Runs after `hooks::cases` (registry order).
pub fn cli() -> Vec<Case> {
    vec![
        case!("exit-codes", "runtime CLI (runc-compatible): operations exit 0 on success and non-zero on error; `run` exits with the container process's exit status", |ctx| {
            lifecycle(ctx, "exit-codes", |b| {
                sleeper(b, "exit 7");
                b.write()?;
                let mut c = std::process::Command::new(&ctx.runtime);
                c.arg("--root").arg(&ctx.root).args(["run", "--bundle"]).arg(&b.dir).arg(&b.id).current_dir(&b.dir);
                let o = run_cmd(&mut c, &b.dir, b.timeout());
                if o.code != Some(7) { return Err(format!("run: {}, want exit 7", o.describe())); }
                let _ = b.rt(&["delete", "--force", &b.id]);
                Ok(())
            })
        }),
        case!("kill-signal-forms", "runtime.md#kill: \"This operation MUST send the specified signal to the container process.\" (CLI forms: name, SIG-name, number; default SIGTERM)", |ctx| {
            lifecycle(ctx, "kill-forms", |b| {
                sleeper(b, "trap 'echo got-USR1' USR1; trap 'echo got-TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done");
                started(b)?;
                wait_for("ready", Duration::from_secs(5), || b.ctr_out().contains("ready"))?;
                for (i, form) in ["USR1", "SIGUSR1", "10"].iter().enumerate() {
                    let o = b.rt(&["kill", &b.id, form]);
                    if !o.ok() { return Err(format!("kill {form}: {}", o.describe())); }
                    wait_for(&format!("signal from `kill {form}`"), Duration::from_secs(3), || b.ctr_out().matches("got-USR1").count() == i + 1)?;
                }
                let o = b.rt(&["kill", &b.id]);
                if !o.ok() { return Err(format!("kill (default signal): {}", o.describe())); }
                wait_for("SIGTERM from `kill <id>`", Duration::from_secs(3), || b.ctr_out().contains("got-TERM"))?;
                b.wait_stopped()
            })
        }),
    ]
}
