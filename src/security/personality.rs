//! `linux.personality`: the execution domain (LINUX, LINUX32) and flags, set in the init just
//! before the exec (runc 1.2 semantics; runc 1.1.5 ignores the field). Unknown flags are an
//! error naming the field.

use anyhow::{bail, Result};
use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain, Spec};

const PER_LINUX: u64 = 0x0000;
const PER_LINUX32: u64 = 0x0008;

fn flag(name: &str) -> Option<u64> {
    Some(match name {
        "UNAME26" => 0x0020000,
        "ADDR_NO_RANDOMIZE" => 0x0040000,
        "FDPIC_FUNCPTRS" => 0x0080000,
        "MMAP_PAGE_ZERO" => 0x0100000,
        "ADDR_COMPAT_LAYOUT" => 0x0200000,
        "READ_IMPLIES_EXEC" => 0x0400000,
        "ADDR_LIMIT_32BIT" => 0x0800000,
        "SHORT_INODE" => 0x1000000,
        "WHOLE_SECONDS" => 0x2000000,
        "STICKY_TIMEOUTS" => 0x4000000,
        "ADDR_LIMIT_3GB" => 0x8000000,
        _ => return None,
    })
}

/// The personality(2) value the config asks for, or None.
pub fn value(spec: &Spec) -> Result<Option<u64>> {
    value_of(spec.linux().as_ref().and_then(|l| l.personality().as_ref()))
}

/// [`value`] of a linux.personality already at hand (exec's narrow parse).
pub fn value_of(p: Option<&LinuxPersonality>) -> Result<Option<u64>> {
    let Some(p) = p else { return Ok(None) };
    let mut v = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    for (i, f) in p.flags().iter().flatten().enumerate() {
        match flag(f) {
            Some(b) => v |= b,
            None => bail!("linux.personality.flags[{i}]: unknown flag {f:?}"),
        }
    }
    Ok(Some(v))
}

/// Sets a `value` computed earlier (exec: in the parent, so the child only makes the call; as
/// runc 1.5, exec'd processes get the container's personality too). Right before the exec.
pub fn set(v: Option<u64>) -> Result<()> {
    if let Some(v) = v
        && unsafe { libc::personality(v as libc::c_ulong) } < 0
    {
        return Err(std::io::Error::last_os_error()).map_err(|e| anyhow::anyhow!("linux.personality: personality({v:#x}): {e}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(p: serde_json::Value) -> Spec {
        crate::spec::parse(serde_json::json!({"ociVersion": "1.0.2", "linux": {"personality": p}}).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn domains_and_flags() {
        assert_eq!(value(&spec(serde_json::json!({"domain": "LINUX"}))).unwrap(), Some(0));
        assert_eq!(value(&spec(serde_json::json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}))).unwrap(), Some(0x0040008));
        let e = value(&spec(serde_json::json!({"domain": "LINUX", "flags": ["BOGUS"]}))).unwrap_err().to_string();
        assert!(e.contains("linux.personality.flags[0]"), "{e}");
    }
}
