//! Namespaces (config-linux.md#namespaces, #user-namespace-mappings) and the names
//! set in the UTS namespace (config.md#hostname, #domainname).

use super::*;

fn set_ns(b: &mut Bundle, list: Value) {
    b.config["linux"]["namespaces"] = list;
}

pub fn cases() -> Vec<Case> {
    vec![
        case!("ns-new", "config-linux.md#namespaces: \"If `path` is not specified, the runtime MUST create a new container namespace of type `type`.\"", |ctx| {
            inside(ctx, "ns-new", |b| {
                for ns in ["pid", "net", "ipc", "uts", "mnt"] {
                    b.checks.push(json!({"kind": "ns", "ns": ns, "op": "ne", "ino": ctx.host_ns[ns]}));
                }
                b.checks.push(json!({"kind": "getpid", "value": 1}));
                Ok(())
            })
        }),
        case!("ns-inherit", "config-linux.md#namespaces: \"If a namespace type is not specified in the `namespaces` array, the container MUST inherit the runtime namespace of that type.\"", |ctx| {
            inside(ctx, "ns-inherit", |b| {
                set_ns(b, json!([{"type": "pid"}, {"type": "uts"}, {"type": "mount"}]));
                // sysfs needs a private netns
                b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "sysfs" && m["type"] != "cgroup");
                b.checks.push(json!({"kind": "ns", "ns": "net", "op": "eq", "ino": ctx.host_ns["net"]}));
                b.checks.push(json!({"kind": "ns", "ns": "ipc", "op": "eq", "ino": ctx.host_ns["ipc"]}));
                Ok(())
            })
        }),
        case!("ns-join-path", "config-linux.md#namespaces: \"The runtime MUST place the container process in the namespace associated with that `path`.\"", |ctx| {
            inside(ctx, "ns-join", |b| {
                let child = std::process::Command::new("unshare").args(["--net", "--ipc", "sleep", "60"])
                    .stdin(std::process::Stdio::null()).spawn().map_err(|e| format!("unshare: {e}"))?;
                let pid = child.id();
                b.helpers.push(child);
                std::thread::sleep(Duration::from_millis(50));
                let mut inos = vec![];
                for ns in ["net", "ipc"] {
                    let p = format!("/proc/{pid}/ns/{ns}");
                    let ino = std::os::unix::fs::MetadataExt::ino(&fs::metadata(&p).map_err(|e| format!("{p}: {e}"))?);
                    if ino == ctx.host_ns[ns] {
                        return Err(format!("helper namespace {p} not created"));
                    }
                    inos.push((ns, p, ino));
                }
                set_ns(b, json!([{"type": "pid"}, {"type": "network", "path": inos[0].1}, {"type": "ipc", "path": inos[1].1}, {"type": "uts"}, {"type": "mount"}]));
                for (ns, _, ino) in inos {
                    b.checks.push(json!({"kind": "ns", "ns": ns, "op": "eq", "ino": ino}));
                }
                Ok(())
            })
        }),
        case!("ns-cgroup", "config-linux.md#namespaces: \"cgroup the container will have an isolated view of the cgroup hierarchy.\"", |ctx| {
            inside(ctx, "ns-cgroup", |b| {
                if !ctx.host_ns.contains_key("cgroup") {
                    return Err("SKIP: kernel has no cgroup namespaces".into());
                }
                b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "cgroup"}));
                b.checks.push(json!({"kind": "ns", "ns": "cgroup", "op": "ne", "ino": ctx.host_ns["cgroup"]}));
                Ok(())
            })
        }),
        case!("ns-user-mappings", "config-linux.md#user-namespace-mappings: \"uidMappings (array of objects, OPTIONAL) describes the user namespace uid mappings from the host to the container.\"", |ctx| {
            inside(ctx, "ns-user", |b| {
                b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
                b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                b.config["mounts"].as_array_mut().unwrap().retain(|m| m["type"] != "cgroup");
                b.checks.push(json!({"kind": "ns", "ns": "user", "op": "ne", "ino": ctx.host_ns["user"]}));
                b.checks.push(json!({"kind": "file", "path": "/proc/self/uid_map", "value": "0     100000      65536"}));
                b.checks.push(json!({"kind": "file", "path": "/proc/self/gid_map", "value": "0     100000      65536"}));
                b.checks.push(json!({"kind": "ids", "uid": 0, "gid": 0}));
                Ok(())
            })
        }),
        case!("hostname", "config.md#hostname: \"hostname (string, OPTIONAL) specifies the container's hostname as seen by processes running inside the container.\"", |ctx| {
            inside(ctx, "hostname", |b| {
                b.config["hostname"] = json!("conf-host-x");
                b.checks.push(json!({"kind": "uname", "field": "hostname", "value": "conf-host-x"}));
                Ok(())
            })
        }),
        case!("domainname", "config.md#domainname: \"domainname (string, OPTIONAL) specifies the container's domainname as seen by processes running inside the container.\"", |ctx| {
            inside(ctx, "domainname", |b| {
                b.config["domainname"] = json!("conf.example");
                b.checks.push(json!({"kind": "uname", "field": "domainname", "value": "conf.example"}));
                Ok(())
            })
        }),

        case!("ns-time", "config-linux.md#namespaces: \"time the container will be able to have its own clocks.\"; \"If `path` is not specified, the runtime MUST create a new container namespace of type `type`.\"", |ctx| {
            inside(ctx, "ns-time", |b| {
                if !ctx.host_ns.contains_key("time") {
                    return Err("SKIP: kernel has no time namespaces".into());
                }
                b.config["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "time"}));
                b.checks.push(json!({"kind": "ns", "ns": "time", "op": "ne", "ino": ctx.host_ns["time"]}));
                Ok(())
            })
        }),
        case!("ns-path-wrong-type", "config-linux.md#namespaces: \"The runtime MUST generate an error if `path` is not associated with a namespace of type `type`.\"", |ctx| {
            lifecycle(ctx, "ns-wrongtype", |b| {
                let child = std::process::Command::new("unshare").args(["--ipc", "sleep", "60"])
                    .stdin(std::process::Stdio::null()).spawn().map_err(|e| format!("unshare: {e}"))?;
                let pid = child.id();
                b.helpers.push(child);
                std::thread::sleep(Duration::from_millis(50));
                set_ns(b, json!([{"type": "pid"}, {"type": "network", "path": format!("/proc/{pid}/ns/ipc")}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]));
                sleeper(b, "echo ran; exec sleep 30");
                b.write()?;
                let o = b.create();
                if o.ok() {
                    return Err("create succeeded with an ipc namespace path given for the network namespace".into());
                }
                if b.state().is_ok() {
                    return Err("create failed but a container exists".into());
                }
                Ok(())
            })
        }),
    ]
}
