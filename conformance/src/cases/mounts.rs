//! The container's filesystem: mounts and root (config.md#mounts, #root), devices and /dev
//! symlinks (config-linux.md#devices, runtime-linux.md), masked and readonly paths, rootfs propagation.

use super::*;

/// Make the bundle directory a shared mount (bind onto itself), so that the
/// propagation of the container's root is observable whatever the host's "/" is.
fn shared_bundle(b: &Bundle) -> Result<(), String> {
    let d = std::ffi::CString::new(b.dir.display().to_string()).unwrap();
    unsafe {
        if libc::mount(d.as_ptr(), d.as_ptr(), std::ptr::null(), libc::MS_BIND | libc::MS_REC, std::ptr::null()) != 0 {
            return Err(format!("bind {}: {}", b.dir.display(), std::io::Error::last_os_error()));
        }
        if libc::mount(std::ptr::null(), d.as_ptr(), std::ptr::null(), libc::MS_SHARED, std::ptr::null()) != 0 {
            return Err(format!("make-shared {}: {}", b.dir.display(), std::io::Error::last_os_error()));
        }
    }
    Ok(())
}

pub fn cases() -> Vec<Case> {
    vec![
        // ------------------------------------------------ mounts
        case!("mounts-baseline", "config.md#mounts: \"The runtime MUST mount entries in the listed order.\" (type, options of each listed mount)", |ctx| {
            inside(ctx, "mounts-base", |b| {
                b.checks.extend([
                    json!({"kind": "mount", "target": "/proc", "fstype": "proc"}),
                    json!({"kind": "mount", "target": "/dev", "fstype": "tmpfs", "opts": ["nosuid", "mode=755"]}),
                    json!({"kind": "mount", "target": "/dev/pts", "fstype": "devpts", "opts": ["nosuid", "noexec", "mode=620", "ptmxmode=666", "gid=5"]}),
                    json!({"kind": "mount", "target": "/dev/shm", "fstype": "tmpfs", "opts": ["nosuid", "noexec", "nodev"]}),
                    json!({"kind": "mount", "target": "/dev/mqueue", "fstype": "mqueue", "opts": ["nosuid", "noexec", "nodev"]}),
                    json!({"kind": "mount", "target": "/sys", "fstype": "sysfs", "opts": ["nosuid", "noexec", "nodev", "ro"]}),
                ]);
                Ok(())
            })
        }),
        case!("mount-tmpfs-options", "config.md#mounts: \"options (array of strings, OPTIONAL) Mount options of the filesystem to be used.\"", |ctx| {
            inside(ctx, "mount-tmpfs", |b| {
                b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=750"]}));
                b.checks.push(json!({"kind": "mount", "target": "/mnt/t", "fstype": "tmpfs", "opts": ["nosuid", "nodev", "noexec", "size=1024k", "mode=750"]}));
                Ok(())
            })
        }),
        case!("mount-bind-ro", "config.md#mounts: \"source (string, OPTIONAL) A device name, but can also be a file or directory name for bind mounts\"; options ro", |ctx| {
            inside(ctx, "mount-bind", |b| {
                let src = b.dir.join("bindsrc");
                mkdir(&src)?;
                fs::write(src.join("marker"), "bind-marker").map_err(|e| e.to_string())?;
                b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/mnt/b", "type": "bind", "source": src.display().to_string(), "options": ["rbind", "ro"]}));
                b.checks.push(json!({"kind": "file", "path": "/mnt/b/marker", "value": "bind-marker"}));
                b.checks.push(json!({"kind": "ro", "path": "/mnt/b", "ro": true}));
                b.checks.push(json!({"kind": "writable", "path": "/mnt/b", "expect": false, "errno": libc::EROFS}));
                Ok(())
            })
        }),
        case!("mount-order", "config.md#mounts: \"The runtime MUST mount entries in the listed order.\"", |ctx| {
            inside(ctx, "mount-order", |b| {
                let m = b.config["mounts"].as_array_mut().unwrap();
                m.push(json!({"destination": "/mnt/o", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
                m.push(json!({"destination": "/mnt/o/inner", "type": "tmpfs", "source": "tmpfs", "options": ["size=3m"]}));
                m.push(json!({"destination": "/mnt/o2", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
                m.push(json!({"destination": "/mnt/o2", "type": "tmpfs", "source": "tmpfs", "options": ["size=2m"]}));
                b.checks.push(json!({"kind": "mount", "target": "/mnt/o/inner", "fstype": "tmpfs", "opts": ["size=3072k"]}));
                b.checks.push(json!({"kind": "mount", "target": "/mnt/o2", "fstype": "tmpfs", "opts": ["size=2048k"]}));
                Ok(())
            })
        }),
        case!("mount-cgroup", "config-linux.md#control-groups: \"cgroupsPath ... the runtime MUST consistently attach to the same place in the cgroups hierarchy\" (seen from inside through the cgroup mount)", |ctx| {
            inside(ctx, "mount-cgroup", |b| {
                b.config["linux"]["resources"]["memory"] = json!({"limit": 50331648});
                if cg_v1() {
                    b.checks.push(json!({"kind": "file", "path": "/sys/fs/cgroup/memory/memory.limit_in_bytes", "value": "50331648"}));
                    b.checks.push(json!({"kind": "ro", "path": "/sys/fs/cgroup/memory", "ro": true}));
                } else {
                    b.checks.push(json!({"kind": "file", "path": "/sys/fs/cgroup/memory.max", "value": "50331648"}));
                }
                Ok(())
            })
        }),
        // ------------------------------------------------ devices
        case!("devices-default", "config-linux.md#default-devices: \"In addition to any devices configured with this setting, the runtime MUST also supply:\" /dev/null, zero, full, random, urandom, tty, ptmx", |ctx| {
            inside(ctx, "dev-default", |b| {
                for (p, ma, mi) in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)] {
                    b.checks.push(json!({"kind": "device", "path": format!("/dev/{p}"), "type": "c", "major": ma, "minor": mi}));
                }
                b.checks.push(json!({"kind": "exists", "path": "/dev/ptmx"}));
                Ok(())
            })
        }),
        case!("dev-symlinks", "runtime-linux.md#dev-symbolic-links: \"runtimes MUST create the following symlinks if the source file exists after processing mounts\" (/dev/fd, stdin, stdout, stderr)", |ctx| {
            inside(ctx, "dev-links", |b| {
                for (l, t) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")] {
                    b.checks.push(json!({"kind": "symlink", "path": format!("/dev/{l}"), "target": t}));
                }
                Ok(())
            })
        }),
        case!("devices-create", "config-linux.md#devices: \"devices (array of objects, OPTIONAL) lists devices that MUST be available in the container.\" (type, major, minor, fileMode, uid, gid)", |ctx| {
            inside(ctx, "dev-create", |b| {
                b.config["linux"]["devices"] = json!([
                    {"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1000, "gid": 1001},
                    {"path": "/dev/conf-loop", "type": "b", "major": 7, "minor": 250, "fileMode": 0o660, "uid": 0, "gid": 0}
                ]);
                b.checks.push(json!({"kind": "device", "path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "mode": 0o640, "uid": 1000, "gid": 1001}));
                b.checks.push(json!({"kind": "device", "path": "/dev/conf-loop", "type": "b", "major": 7, "minor": 250, "mode": 0o660, "uid": 0, "gid": 0}));
                Ok(())
            })
        }),
        case!("devices-cgroup-deny", "config-linux.md#allowed-device-list: \"allow (boolean, REQUIRED) - whether the entry is allowed or denied.\" (baseline deny-all; a node listed only in linux.devices gets no allow rule: runc and crun both deny it)", |ctx| {
            inside(ctx, "dev-deny", |b| {
                b.config["linux"]["devices"] = json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]);
                b.checks.push(json!({"kind": "open", "path": "/dev/conf-fuse", "errno": libc::EPERM}));
                Ok(())
            })
        }),
        case!("devices-cgroup-allow", "config-linux.md#allowed-device-list: \"allow (boolean, REQUIRED) - whether the entry is allowed or denied.\"", |ctx| {
            inside(ctx, "dev-allow", |b| {
                b.config["linux"]["devices"] = json!([{"path": "/dev/conf-fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}]);
                b.config["linux"]["resources"]["devices"].as_array_mut().unwrap().push(json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}));
                b.checks.push(json!({"kind": "open", "path": "/dev/conf-fuse", "not_errno": libc::EPERM}));
                Ok(())
            })
        }),
        // ------------------------------------------------ masked / readonly / root
        case!("masked-paths", "config-linux.md#masked-paths: \"maskedPaths (array of strings, OPTIONAL) will mask over the provided paths inside the container so that they cannot be read.\"", |ctx| {
            inside(ctx, "masked", |b| {
                mkdir(&b.rootfs.join("conformance/secret-dir"))?;
                fs::write(b.rootfs.join("conformance/secret-dir/f"), "secret").ok();
                fs::write(b.rootfs.join("conformance/secret.txt"), "secret").ok();
                b.config["linux"]["maskedPaths"].as_array_mut().unwrap().extend([json!("/conformance/secret-dir"), json!("/conformance/secret.txt")]);
                for p in ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/conformance/secret-dir", "/conformance/secret.txt"] {
                    if p.starts_with("/conformance") || std::path::Path::new(p).exists() {
                        b.checks.push(json!({"kind": "masked", "path": p}));
                    }
                }
                Ok(())
            })
        }),
        case!("readonly-paths", "config-linux.md#readonly-paths: \"readonlyPaths (array of strings, OPTIONAL) will set the provided paths as readonly inside the container.\"", |ctx| {
            inside(ctx, "readonly", |b| {
                mkdir(&b.rootfs.join("conformance/rodir"))?;
                b.config["linux"]["readonlyPaths"].as_array_mut().unwrap().push(json!("/conformance/rodir"));
                b.checks.push(json!({"kind": "ro", "path": "/proc/sys", "ro": true}));
                b.checks.push(json!({"kind": "ro", "path": "/conformance/rodir", "ro": true}));
                b.checks.push(json!({"kind": "writable", "path": "/conformance/rodir", "expect": false, "errno": libc::EROFS}));
                b.checks.push(json!({"kind": "writable", "path": "/conformance", "expect": true}));
                Ok(())
            })
        }),
        case!("root-readonly", "config.md#root: \"readonly (bool, OPTIONAL) If true then the root filesystem MUST be read-only inside the container\"", |ctx| {
            inside(ctx, "root-ro", |b| {
                b.config["root"]["readonly"] = json!(true);
                b.checks.push(json!({"kind": "ro", "path": "/", "ro": true}));
                b.checks.push(json!({"kind": "writable", "path": "/", "expect": false, "errno": libc::EROFS}));
                Ok(())
            })
        }),
        case!("root-readwrite", "config.md#root: \"readonly (bool, OPTIONAL) ... defaults to false.\"", |ctx| {
            inside(ctx, "root-rw", |b| {
                b.checks.push(json!({"kind": "ro", "path": "/", "ro": false}));
                b.checks.push(json!({"kind": "writable", "path": "/", "expect": true}));
                Ok(())
            })
        }),
        case!("rootfs-propagation-private", "config-linux.md#rootfs-mount-propagation: \"private: the rootfs mount doesn't receive mount propagation events from the host\"", |ctx| {
            inside(ctx, "prop-private", |b| {
                shared_bundle(b)?;
                b.config["linux"]["rootfsPropagation"] = json!("private");
                b.checks.push(json!({"kind": "propagation", "target": "/", "mode": "private"}));
                Ok(())
            })
        }),
        case!("rootfs-propagation-slave", "config-linux.md#rootfs-mount-propagation: \"slave: the rootfs mount receives propagation events from the host ... but not the other way around.\" (bundle on a shared mount; / must show master:)", |ctx| {
            inside(ctx, "prop-slave", |b| {
                shared_bundle(b)?;
                b.config["linux"]["rootfsPropagation"] = json!("slave");
                b.checks.push(json!({"kind": "propagation", "target": "/", "mode": "slave"}));
                Ok(())
            })
        }),
        case!("rootfs-propagation-shared", "config-linux.md#rootfs-mount-propagation: \"shared: the rootfs mount belongs to a new peer group.\"", |ctx| {
            inside(ctx, "prop-shared", |b| {
                shared_bundle(b)?;
                b.config["linux"]["rootfsPropagation"] = json!("shared");
                b.checks.push(json!({"kind": "propagation", "target": "/", "mode": "shared"}));
                Ok(())
            })
        }),
        case!("rootfs-propagation-unbindable", "config-linux.md#rootfs-mount-propagation: \"unbindable: the rootfs mount is a private mount that cannot be bind-mounted.\"", |ctx| {
            inside(ctx, "prop-unbind", |b| {
                shared_bundle(b)?;
                b.config["linux"]["rootfsPropagation"] = json!("unbindable");
                b.checks.push(json!({"kind": "propagation", "target": "/", "mode": "unbindable"}));
                Ok(())
            })
        }),
    ]
}
