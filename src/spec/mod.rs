//! Loading and validating a bundle's `config.json`.
//!
//! Parsing goes through `serde_path_to_error`, so a type error names the field
//! (`linux.namespaces[2].type: unknown variant ...`), and `validate` checks the rules the OCI
//! runtime spec states as MUSTs before anything on the host is touched: a config that fails here
//! leaves nothing behind.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use nix::mount::MsFlags;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

mod for_exec;
mod validate;
pub use for_exec::{parse_for_exec, ExecSpec};
pub use validate::{check_destination, validate};

/// The runtime spec version we implement (reported in state and features).
pub const OCI_VERSION: &str = "1.3.0";

/// A loaded bundle: the parsed config plus the absolute paths it refers to.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// config.json exactly as read and validated (what create saves in the state dir).
    pub config_bytes: Vec<u8>,
}

impl Bundle {
    /// Loads `<dir>/config.json` (dir relative to the caller's cwd) and validates it.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = std::path::absolute(dir).with_context(|| format!("bundle path {}", dir.display()))?;
        let config = dir.join("config.json");
        let text = read_regular(&config)?;
        let spec = parse(&text).with_context(|| format!("parsing {}", config.display()))?;
        let root = spec
            .root()
            .as_ref()
            .context("config.json: root: missing (the container's root filesystem must be given)")?;
        let rootfs = dir.join(root.path());
        let mut spec = spec;
        relative_mount_destinations_from_root(&mut spec);
        validate(&spec).context("config.json")?;
        let meta = std::fs::metadata(&rootfs).with_context(|| format!("config.json: root.path: {}", rootfs.display()))?;
        if !meta.is_dir() {
            bail!("config.json: root.path: {} is not a directory", rootfs.display());
        }
        Ok(Bundle { dir, rootfs, spec, config_bytes: text })
    }
}

/// `rootfsPropagation` and the propagation mount options.
pub fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// The default config.json (`bulkhead spec`, and the base of `bulkhead-bundle`'s configs): what
/// runc 1.5's Example and ToRootless write: no ambient capabilities, a cgroup namespace only
/// when `cgroupns` (runc: /sys/fs/cgroup is cgroup2). The hostname is the one difference.
pub fn default_spec(rootless: bool, uid: u32, gid: u32, cgroupns: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut v = json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "bulkhead",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                            "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    if cgroupns {
        v["linux"]["namespaces"].as_array_mut().expect("array").push(json!({"type": "cgroup"}));
    }
    if rootless {
        // runc's rootless shape: map only the caller, no network namespace (sysfs then comes
        // from a bind of the host's), no devpts gid option, no resources.
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        let nss = v["linux"]["namespaces"].as_array_mut().expect("array");
        nss.retain(|n| n["type"] != "network");
        nss.push(json!({"type": "user"}));
        v["linux"].as_object_mut().unwrap().remove("resources");
        v["mounts"][2]["options"] = json!(["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]);
        v["mounts"][5] = json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
    }
    v
}

/// Reads config.json, which must be a regular file: a FIFO would block the read forever (runc
/// hangs there), a directory or a device is no config either. Opened without blocking and
/// checked on the open handle, so what is read is what was checked.
fn read_regular(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let t = f.metadata().with_context(|| format!("reading {}", path.display()))?.file_type();
    if !t.is_file() {
        let what = if t.is_dir() { "a directory" } else if t.is_fifo() { "a FIFO" } else if t.is_socket() { "a socket" } else { "a device" };
        bail!("{}: is {what}, not a regular file", path.display());
    }
    let mut text = Vec::new();
    f.read_to_end(&mut text).with_context(|| format!("reading {}", path.display()))?;
    Ok(text)
}

/// As runc 1.5 (specconv): a relative mount destination is taken from the container's `/`,
/// with runc's warning (it plans to refuse them); `..` is still refused by `validate`.
fn relative_mount_destinations_from_root(spec: &mut Spec) {
    for m in spec.mounts_mut().iter_mut().flatten() {
        if m.destination().is_relative() {
            crate::warn!("mount destination {} is not absolute. Support for non-absolute mount destinations will be removed in a future release.", m.destination().display());
            let abs = Path::new("/").join(m.destination());
            m.set_destination(abs);
        }
    }
}

/// oci-spec 0.10 spells two `process.scheduler.flags` values differently from runtime-spec
/// 1.3 (it derives them from its enum names): the spec's spellings are mapped to its own so a
/// valid config parses. Costs one scan of the text; copies only when a spelling is present.
pub fn scheduler_flag_spellings(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const MAP: [(&[u8], &[u8]); 2] = [
        (b"\"SCHED_FLAG_RESET_ON_FORK\"", b"\"SCHED_RESET_ON_FORK\""),
        (b"\"SCHED_FLAG_DL_OVERRUN\"", b"\"SCHED_FLAG_D_L_OVERRUN\""),
    ];
    let find = |hay: &[u8], n: &[u8]| hay.windows(n.len()).position(|w| w == n);
    if !text.windows(12).any(|w| w == b"\"SCHED_FLAG_") {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_vec();
    for (from, to) in MAP {
        while let Some(i) = find(&out, from) {
            out.splice(i..i + from.len(), to.iter().copied());
        }
    }
    std::borrow::Cow::Owned(out)
}

/// runtime-spec 1.3: `pids.limit` is optional and 0 is a limit (runc 1.4). oci-spec reads
/// an absent limit as 0 too, so when it says 0 the text decides: a `pids` object without
/// `limit` is dropped (it changes nothing, as in runc).
fn drop_pids_without_limit(text: &[u8], spec: &mut Spec) {
    let zero = spec.linux().as_ref().and_then(|l| l.resources().as_ref()).and_then(|r| r.pids().as_ref()).is_some_and(|p| p.limit() == 0);
    if !zero {
        return;
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        linux: Option<ProbeLinux>,
    }
    #[derive(serde::Deserialize)]
    struct ProbeLinux {
        resources: Option<ProbeResources>,
    }
    #[derive(serde::Deserialize)]
    struct ProbeResources {
        pids: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let has_limit = serde_json::from_slice::<Probe>(text)
        .ok()
        .and_then(|p| p.linux?.resources?.pids)
        .is_some_and(|p| p.get("limit").is_some_and(|l| !l.is_null()));
    if !has_limit
        && let Some(r) = spec.linux_mut().as_mut().and_then(|l| l.resources_mut().as_mut())
    {
        r.set_pids(None);
    }
}

/// Parses config.json text; errors name the offending field path. Capabilities this build does
/// not know are ignored with runc 1.5's warning (`drop_unknown_caps`); only a config that
/// names one pays for the second parse.
pub fn parse(text: &[u8]) -> Result<Spec> {
    let text = scheduler_flag_spellings(text);
    let mut spec = parse_fields(&text)?;
    empty_namespace_paths_are_none(&mut spec);
    drop_pids_without_limit(&text, &mut spec);
    Ok(spec)
}

/// As runc (and the spec's Go types, where "" is the zero value): a namespace with
/// `"path": ""` is a new namespace, not one to join.
fn empty_namespace_paths_are_none(spec: &mut Spec) {
    let Some(nss) = spec.linux_mut().as_mut().and_then(|l| l.namespaces_mut().as_mut()) else { return };
    for ns in nss.iter_mut().filter(|ns| ns.path().as_ref().is_some_and(|p| p.as_os_str().is_empty())) {
        ns.set_path(None);
    }
}

fn parse_fields(text: &[u8]) -> Result<Spec> {
    // The plain parse first: tracking each field's path costs a third of the parse, and only
    // an error needs it (the parse below then says which field).
    match serde_json::from_slice::<Spec>(text) {
        Ok(spec) => Ok(spec),
        Err(_) => parse_fields_slowly(text),
    }
}

/// The parse that names the field at fault, and mends what runc accepts. Apart from
/// parse_fields, whose frame it would otherwise swell to ~23 KiB: every runtime process
/// walks through that frame, and each new stack page is a page fault (~2 µs).
#[cold]
#[inline(never)]
fn parse_fields_slowly(text: &[u8]) -> Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(text);
    match serde_path_to_error::deserialize::<_, Spec>(de) {
        Ok(spec) => Ok(spec),
        Err(e) if e.path().to_string().starts_with("process.capabilities.") => {
            let mut v: serde_json::Value = serde_json::from_slice(text)?;
            let unknown = v.get_mut("process").map(drop_unknown_caps).unwrap_or_default();
            if unknown.is_empty() {
                return Err(field_error(e));
            }
            warn_ignored_caps(&unknown);
            serde_path_to_error::deserialize::<_, Spec>(v).map_err(field_error)
        }
        Err(e) if e.path().to_string() == "linux.memoryPolicy.mode" => {
            // runc's words for it; serde's list of variants would follow them.
            let v: serde_json::Value = serde_json::from_slice(text).unwrap_or_default();
            let mode = v.pointer("/linux/memoryPolicy/mode").map(|m| m.to_string()).unwrap_or_default();
            Err(anyhow::anyhow!("linux.memoryPolicy.mode: invalid memory policy mode {mode}"))
        }
        Err(e) => Err(field_error(e)),
    }
}

/// The five sets of a process's `capabilities`, as JSON keys.
const SET_KEYS: [&str; 5] = ["bounding", "effective", "inheritable", "permitted", "ambient"];

/// Removes from a process's `capabilities` (a JSON `process` object) every name this build's
/// table does not know, and returns them sorted and deduplicated. runc 1.5 ignores those with
/// a warning (configs written for newer kernels and tools still run) instead of refusing.
pub fn drop_unknown_caps(process: &mut serde_json::Value) -> Vec<String> {
    let mut unknown = std::collections::BTreeSet::new();
    for key in SET_KEYS {
        if let Some(set) = process.pointer_mut(&format!("/capabilities/{key}")).and_then(|s| s.as_array_mut()) {
            set.retain(|name| {
                // Anything but a string is a type error the typed parse reports.
                let known = !name.is_string() || serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
                if !known {
                    unknown.insert(name.as_str().unwrap_or_default().to_string());
                }
                known
            });
        }
    }
    unknown.into_iter().collect()
}

/// runc's warning for capabilities it ignores, word for word (a Go slice prints as `[A B]`).
pub fn warn_ignored_caps(names: &[String]) {
    if !names.is_empty() {
        crate::warn!("ignoring unknown or unavailable capabilities: [{}]", names.join(" "));
    }
}

fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> anyhow::Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." || path.is_empty() {
        return anyhow::anyhow!("{inner}");
    }
    anyhow::anyhow!("{path}: {inner}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_rootless_specs_are_valid() {
        for (rootless, cgroupns) in [(false, false), (true, false), (false, true), (true, true)] {
            let v = default_spec(rootless, 1000, 1000, cgroupns);
            let spec = crate::spec::parse(v.to_string().as_bytes()).unwrap();
            crate::spec::validate(&spec).unwrap();
        }
        let r = default_spec(true, 1000, 1001, false);
        assert_eq!(r["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(r["linux"]["gidMappings"][0]["hostID"], 1001);
    }

    /// runc 1.5's specconv.Example and ToRootless.
    #[test]
    fn default_namespaces_and_caps_as_runc() {
        let types = |v: &Value| v["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(types(&default_spec(false, 0, 0, false)), ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(types(&default_spec(false, 0, 0, true)), ["pid", "network", "ipc", "uts", "mount", "cgroup"]);
        assert_eq!(types(&default_spec(true, 1, 1, true)), ["pid", "ipc", "uts", "mount", "cgroup", "user"]);
        assert_eq!(types(&default_spec(true, 1, 1, false)), ["pid", "ipc", "uts", "mount", "user"]);
        let v = default_spec(false, 0, 0, false);
        assert!(v["process"]["capabilities"].get("ambient").is_none());
        assert_eq!(v["ociVersion"], "1.3.0");
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
        })
    }

    fn check(v: &serde_json::Value) -> Result<()> {
        validate(&parse(v.to_string().as_bytes())?)
    }

    #[test]
    fn baseline_is_valid() {
        check(&base()).unwrap();
    }

    #[test]
    fn unknown_namespace_names_the_field() {
        let mut v = base();
        v["linux"]["namespaces"][1]["type"] = "bogus".into();
        let e = format!("{:#}", check(&v).unwrap_err());
        assert!(e.contains("linux.namespaces[1].type"), "{e}");
    }

    #[test]
    fn missing_process_is_an_error() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("process");
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("process: missing"));
    }

    #[test]
    fn relative_and_escaping_destinations_rejected() {
        for dest in ["tmp", "/a/../../etc"] {
            let mut v = base();
            v["mounts"] = serde_json::json!([{"destination": dest, "type": "tmpfs", "source": "tmpfs"}]);
            let e = format!("{:#}", check(&v).unwrap_err());
            assert!(e.contains("mounts[0].destination"), "{e}");
        }
    }

    #[test]
    fn hostname_needs_uts() {
        let mut v = base();
        v["hostname"] = "x".into();
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("UTS"));
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "uts"}));
        check(&v).unwrap();
    }

    #[test]
    fn sysctl_namespacing() {
        let mut v = base();
        v["linux"]["sysctl"] = serde_json::json!({"net.ipv4.ip_forward": "1"});
        assert!(check(&v).is_err());
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "network"}));
        check(&v).unwrap();
        v["linux"]["sysctl"] = serde_json::json!({"vm.swappiness": "1"});
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("not namespaced"));
    }

    #[test]
    fn user_sysctls_need_a_user_namespace() {
        let mut v = base();
        v["linux"]["sysctl"] = serde_json::json!({"user.max_user_namespaces": "10"});
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("user namespace"));
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "user"}));
        v["linux"]["uidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        v["linux"]["gidMappings"] = serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        check(&v).unwrap();
    }

    #[test]
    fn time_offsets_need_a_new_time_namespace() {
        let mut v = base();
        v["linux"]["timeOffsets"] = serde_json::json!({"monotonic": {"secs": 10}});
        let e = format!("{:#}", check(&v).unwrap_err());
        assert!(e.starts_with("linux.timeOffsets"), "{e}");
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "time", "path": "/proc/1/ns/time"}));
        assert!(check(&v).is_err());
        v["linux"]["namespaces"][2] = serde_json::json!({"type": "time"});
        check(&v).unwrap();
    }

    #[test]
    fn without_mount_namespace_what_would_touch_the_callers_mounts_is_refused() {
        let mut v = base();
        v["linux"]["namespaces"] = serde_json::json!([{"type": "pid"}]);
        check(&v).unwrap();
        v["linux"]["maskedPaths"] = serde_json::json!(["/proc/kcore"]);
        assert!(format!("{:#}", check(&v).unwrap_err()).starts_with("linux.maskedPaths"));
        v["linux"]["maskedPaths"] = serde_json::json!([]);
        v["root"]["readonly"] = true.into();
        assert!(format!("{:#}", check(&v).unwrap_err()).starts_with("root.readonly"));
    }

    #[test]
    fn duplicate_namespace_rejected() {
        let mut v = base();
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "pid"}));
        assert!(check(&v).is_err());
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let mut v = base();
        v["linux"]["namespaces"].as_array_mut().unwrap().push(serde_json::json!({"type": "user"}));
        assert!(format!("{:#}", check(&v).unwrap_err()).contains("uidMappings"));
    }

    #[test]
    fn empty_namespace_path_means_a_new_namespace() {
        let mut v = base();
        v["linux"]["namespaces"][0]["path"] = "".into();
        let spec = parse(v.to_string().as_bytes()).unwrap();
        validate(&spec).unwrap();
        assert!(spec.linux().as_ref().unwrap().namespaces().as_ref().unwrap()[0].path().is_none());
    }

    #[test]
    fn unknown_capabilities_are_ignored() {
        let mut v = base();
        v["process"]["capabilities"] = serde_json::json!({"bounding": ["CAP_KILL", "CAP_FROM_THE_FUTURE"]});
        let spec = parse(v.to_string().as_bytes()).unwrap();
        let caps = spec.process().as_ref().unwrap().capabilities().clone().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        v["process"]["capabilities"] = serde_json::json!({"bounding": [7]});
        assert!(format!("{:#}", parse(v.to_string().as_bytes()).unwrap_err()).contains("process.capabilities.bounding"));
    }

    #[test]
    fn unknown_names_are_dropped_and_reported_once() {
        let mut p = serde_json::json!({"capabilities": {
            "bounding": ["CAP_CHOWN", "CAP_FUTURE", "CAP_AAA"], "effective": ["CAP_FUTURE"], "ambient": []}});
        assert_eq!(drop_unknown_caps(&mut p), vec!["CAP_AAA".to_string(), "CAP_FUTURE".to_string()]);
        assert_eq!(p["capabilities"]["bounding"], serde_json::json!(["CAP_CHOWN"]));
        assert_eq!(p["capabilities"]["effective"], serde_json::json!([]));
        assert!(drop_unknown_caps(&mut serde_json::json!({"args": ["sh"]})).is_empty());
    }

    #[test]
    fn pids_zero_is_a_limit_absent_is_nothing() {
        let mut v = base();
        v["linux"]["resources"] = serde_json::json!({"pids": {"limit": 0}});
        let s = parse(v.to_string().as_bytes()).unwrap();
        assert_eq!(s.linux().as_ref().unwrap().resources().as_ref().unwrap().pids().unwrap().limit(), 0);
        v["linux"]["resources"] = serde_json::json!({"pids": {}});
        let s = parse(v.to_string().as_bytes()).unwrap();
        assert!(s.linux().as_ref().unwrap().resources().as_ref().unwrap().pids().is_none());
    }

    #[test]
    fn scheduler_flags_in_the_spec_spelling_parse() {
        let mut v = base();
        v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_KEEP_POLICY"]});
        let s = parse(v.to_string().as_bytes()).unwrap();
        assert_eq!(s.process().as_ref().unwrap().scheduler().as_ref().unwrap().flags().as_ref().unwrap().len(), 3);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(parse(b"{ not json").is_err());
    }
}
