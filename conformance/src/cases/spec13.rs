//! runtime-spec 1.3 fields (issue 14): mount options and extensions, pids 0, timeOffsets,
//! poststart failure, a container without a mount namespace. Each quotes the spec sentence.

use super::*;

/// A host tmpfs on `<bundle>/<name>/sub` (cleaned up with the bundle's mounts).
fn source_with_submount(b: &Bundle, name: &str) -> Result<std::path::PathBuf, String> {
    let src = b.dir.join(name);
    mkdir(&src.join("sub"))?;
    let sub = std::ffi::CString::new(src.join("sub").display().to_string()).unwrap();
    if unsafe { libc::mount(c"tmpfs".as_ptr(), sub.as_ptr(), c"tmpfs".as_ptr(), 0, c"size=1m".as_ptr().cast()) } != 0 {
        return Err(format!("mount tmpfs on {}: {}", src.join("sub").display(), std::io::Error::last_os_error()));
    }
    Ok(src)
}

pub fn cases() -> Vec<Case> {
    vec![
        case!("mount-tmpcopyup", "config.md#mounts: \"tmpcopyup | MAY | copy up the contents to a tmpfs\"", |ctx| {
            inside(ctx, "tmpcopyup", |b| {
                mkdir(&b.rootfs.join("conf-copyup"))?;
                fs::write(b.rootfs.join("conf-copyup/file"), "from-image").map_err(|e| e.to_string())?;
                b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/conf-copyup", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "size=1m"]}));
                b.checks.push(json!({"kind": "mount", "target": "/conf-copyup", "fstype": "tmpfs"}));
                b.checks.push(json!({"kind": "file", "path": "/conf-copyup/file", "value": "from-image"}));
                Ok(())
            })
        }),
        case!("mount-rro", "config.md#mounts: \"rro | SHOULD | Recursive ro\" (a submount of an rbind is read-only too)", |ctx| {
            inside(ctx, "rro", |b| {
                let src = source_with_submount(b, "rrosrc")?;
                b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/r", "type": "bind", "source": src.display().to_string(), "options": ["rbind", "rro"]}));
                b.checks.push(json!({"kind": "writable", "path": "/mnt/r/sub", "expect": false, "errno": libc::EROFS}));
                b.checks.push(json!({"kind": "writable", "path": "/mnt/r", "expect": false, "errno": libc::EROFS}));
                Ok(())
            })
        }),
        case!("mount-recursive-attrs", "config.md#mounts: \"rnosuid | SHOULD | Recursive nosuid\", \"rnodev\", \"rnoexec\" (on every mount of an rbind)", |ctx| {
            inside(ctx, "rattrs", |b| {
                let src = source_with_submount(b, "rattrsrc")?;
                b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/r", "type": "bind", "source": src.display().to_string(), "options": ["rbind", "rnosuid", "rnodev", "rnoexec"]}));
                b.checks.push(json!({"kind": "mount", "target": "/mnt/r/sub", "opts": ["nosuid", "nodev", "noexec"]}));
                Ok(())
            })
        }),
        case!("mount-nosymfollow", "config.md#mounts: \"nosymfollow | SHOULD | Do not follow symlinks\"", |ctx| {
            inside(ctx, "nosymfollow", |b| {
                b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/n", "type": "tmpfs", "source": "tmpfs", "options": ["nosymfollow", "size=1m"]}));
                b.checks.push(json!({"kind": "mount", "target": "/mnt/n", "opts": ["nosymfollow"]}));
                Ok(())
            })
        }),
        case!("cgroup-pids-zero", "config-linux.md#pids: \"limit (int64, OPTIONAL) - specifies the maximum number of tasks in the cgroup\" (0 is a limit: no task may be forked)", |ctx| {
            inside_host(ctx, "cg-pids0", |b| {
                b.config["linux"]["resources"]["pids"] = json!({"limit": 0});
                Ok(())
            }, &|b, _| {
                let got = read_trim(&cgroup_file(&b.cgpath, "pids", "pids.max"))?;
                if got == "0" || got == "1" { Ok(()) } else { Err(format!("pids.max {got:?}, want a limit (0 or 1)")) }
            })
        }),
        case!("time-offsets-need-time-ns", "config-linux.md#offset-for-time-namespace: \"timeOffsets (object, OPTIONAL) sets the offset for Time Namespace\" (without a new time namespace there is nothing to set them on: an error)", |ctx| {
            lifecycle(ctx, "timeoffsets", |b| {
                b.config["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 5}});
                b.write()?;
                let o = b.create();
                if o.ok() {
                    return Err("create succeeded with timeOffsets but no time namespace".into());
                }
                if b.state().is_ok() {
                    return Err("a container exists after the failed create".into());
                }
                Ok(())
            })
        }),
        case!("no-mount-namespace", "config-linux.md#namespaces: \"If a namespace type is not specified in the `namespaces` array, the container MUST inherit the runtime namespace of that type.\" (mount: the container runs in the runtime's mount namespace)", |ctx| {
            lifecycle(ctx, "no-mountns", |b| {
                b.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}]);
                b.config["mounts"] = json!([]);
                b.config["linux"]["maskedPaths"] = json!([]);
                b.config["linux"]["readonlyPaths"] = json!([]);
                sleeper(b, "echo ran-without-mountns");
                started(b)?;
                wait_for("the program's output", Duration::from_secs(5), || b.ctr_out().contains("ran-without-mountns"))?;
                b.wait_stopped()
            })
        }),
    ]
}
