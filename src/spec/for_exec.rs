//! What `exec` reads of a container's saved config.json: the process, the namespaces to join,
//! seccomp, the personality and the memory policy, and nothing else.
//!
//! Why not the whole `Spec`: its serde visitor is the deepest stack an `exec` ever has (the
//! top-level struct alone takes a ~17 KiB frame, ~62 KiB with its callers), and every new stack
//! page is a page fault (~2.3 µs in a VM). These few fields parse in a fraction of that stack
//! and code. The config was validated by `create`; should the narrow parse still fail, the
//! whole one runs, so the error (naming the field) and the mending (unknown capabilities
//! dropped with runc's warning) are the same as everywhere else. A saved config damaged since
//! `create` in a field exec does not read no longer stops an exec (runc does not read the
//! config again for one either).

use anyhow::{Context, Result};
use oci_spec::runtime::{LinuxMemoryPolicy, LinuxNamespace, LinuxNamespaceType, LinuxPersonality, Process, Spec};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The parts of a container's config that `exec` uses.
pub struct ExecSpec {
    /// ociVersion (what a seccomp agent is told).
    pub version: String,
    pub process: Option<Process>,
    /// linux.namespaces, their types only: `exec` joins the init's, whatever their paths were.
    pub namespaces: Vec<LinuxNamespaceType>,
    /// linux.seccomp as written: exec loads the filter `create` compiled and saved, and
    /// parses this only for a container without one.
    pub seccomp: Option<Box<RawValue>>,
    pub personality: Option<LinuxPersonality>,
    pub memory_policy: Option<LinuxMemoryPolicy>,
}

#[derive(Deserialize)]
struct View {
    #[serde(default, rename = "ociVersion")]
    version: String,
    #[serde(default)]
    process: Option<Process>,
    #[serde(default)]
    linux: Option<LinuxView>,
}

/// The same field names and types as oci_spec's `Linux`; the others are skipped.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LinuxView {
    #[serde(default)]
    namespaces: Option<Vec<LinuxNamespace>>,
    #[serde(default)]
    seccomp: Option<Box<RawValue>>,
    #[serde(default)]
    personality: Option<LinuxPersonality>,
    #[serde(default)]
    memory_policy: Option<LinuxMemoryPolicy>,
}

/// Parses config.json text for `exec`. Errors as [`super::parse`]'s.
pub fn parse_for_exec(text: &[u8]) -> Result<ExecSpec> {
    let text = super::scheduler_flag_spellings(text);
    match serde_json::from_slice::<View>(&text) {
        Ok(v) => Ok(from_view(v)),
        Err(_) => whole(&text),
    }
}

fn from_view(v: View) -> ExecSpec {
    let l = v.linux.unwrap_or_default();
    ExecSpec {
        version: v.version,
        process: v.process,
        namespaces: l.namespaces.into_iter().flatten().map(|n| n.typ()).collect(),
        seccomp: l.seccomp,
        personality: l.personality,
        memory_policy: l.memory_policy,
    }
}

/// The whole parse, off the hot path: its frames only on a config the narrow parse refused.
#[cold]
#[inline(never)]
fn whole(text: &[u8]) -> Result<ExecSpec> {
    from_spec(super::parse(text)?)
}

fn from_spec(mut s: Spec) -> Result<ExecSpec> {
    // Not `Linux::default()` for a config without `linux`: oci_spec's default lists five
    // namespaces, which the container does not have.
    let linux = s.linux_mut().take();
    let linux = linux.as_ref();
    // Written back as the narrow parse would have kept it; never dropped, or the process
    // would run without its filter.
    let seccomp = linux.and_then(|l| l.seccomp().as_ref()).map(serde_json::value::to_raw_value).transpose();
    Ok(ExecSpec {
        version: s.version().clone(),
        process: s.process_mut().take(),
        namespaces: linux.and_then(|l| l.namespaces().as_ref()).into_iter().flatten().map(|n| n.typ()).collect(),
        seccomp: seccomp.context("linux.seccomp")?,
        personality: linux.and_then(|l| l.personality().clone()),
        memory_policy: linux.and_then(|l| l.memory_policy().clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{
        "ociVersion": "1.2.0",
        "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
                    "capabilities": {"bounding": ["CAP_KILL"]}, "env": ["A=1"]},
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount", "path": ""}],
                  "personality": {"domain": "LINUX"},
                  "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]},
                  "memoryPolicy": {"mode": "MPOL_PREFERRED", "nodes": "0"},
                  "maskedPaths": ["/proc/kcore"]}
    }"#;

    /// The narrow parse reads what the whole one reads.
    #[test]
    fn same_as_the_whole_parse() {
        let narrow = parse_for_exec(CONFIG.as_bytes()).unwrap();
        let whole = from_spec(super::super::parse(CONFIG.as_bytes()).unwrap()).unwrap();
        assert_eq!(narrow.version, "1.2.0");
        assert_eq!(narrow.version, whole.version);
        assert_eq!(narrow.process, whole.process);
        assert_eq!(narrow.namespaces, vec![LinuxNamespaceType::Pid, LinuxNamespaceType::Mount]);
        assert_eq!(narrow.namespaces, whole.namespaces);
        assert_eq!(narrow.personality, whole.personality);
        let seccomp = |e: &ExecSpec| e.seccomp.as_deref().map(|r| serde_json::from_str::<oci_spec::runtime::LinuxSeccomp>(r.get()).unwrap());
        assert_eq!(seccomp(&narrow), seccomp(&whole));
        assert_eq!(narrow.memory_policy, whole.memory_policy);
        assert!(narrow.personality.is_some() && narrow.seccomp.is_some() && narrow.memory_policy.is_some());
    }

    /// A capability this build does not know: the narrow parse refuses it, and the whole
    /// parse's mending (drop it, warn) applies.
    #[test]
    fn unknown_capability_falls_back_to_the_whole_parse() {
        let text = CONFIG.replace(r#"["CAP_KILL"]"#, r#"["CAP_KILL", "CAP_FUTURE_THING"]"#);
        let narrow = parse_for_exec(text.as_bytes()).unwrap();
        let caps = narrow.process.unwrap().capabilities().clone().unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
    }

    /// A config without `linux` reads as no namespaces on both paths (the fallback forced by
    /// an unknown capability).
    #[test]
    fn no_linux_means_no_namespaces() {
        let text = r#"{"ociVersion": "1.2.0", "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "capabilities": {"bounding": ["CAP_KILL"]}}}"#;
        assert!(parse_for_exec(text.as_bytes()).unwrap().namespaces.is_empty());
        let mended = parse_for_exec(text.replace(r#"["CAP_KILL"]"#, r#"["CAP_KILL", "CAP_FUTURE_THING"]"#).as_bytes()).unwrap();
        assert!(mended.namespaces.is_empty() && mended.seccomp.is_none());
    }

    /// Errors still name the field.
    #[test]
    fn errors_name_the_field() {
        let text = CONFIG.replace(r#"{"type": "pid"}"#, r#"{"type": "nope"}"#);
        let e = format!("{:#}", parse_for_exec(text.as_bytes()).err().unwrap());
        assert!(e.contains("linux.namespaces[0]"), "{e}");
    }
}
