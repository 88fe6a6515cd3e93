//! Device access rules (`linux.resources.devices`): the validated [`Rule`] and runc's default
//! allowed devices here; `v1.rs` turns them into `devices.allow`/`devices.deny` writes as the
//! difference from what the cgroup has now (runc's emulator), `ebpf.rs` into the cgroup v2
//! device program, and `bpf.rs` loads it and swaps it for the attached one.
//!
//! Updating the rules of a running container never denies, even for a moment, a device that
//! stays allowed: v1 writes only the rules that change (a deny-all only when the default
//! changes, or the cgroup allows everything now, whose deny rules devices.list cannot show),
//! v2 attaches the new program before the old one goes (or replaces it in one step).

use anyhow::{Result, bail};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

mod bpf;
pub mod ebpf;
pub mod v1;

pub use bpf::apply_v2;
#[cfg(test)]
pub(crate) use bpf::attached_count;

/// A validated rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// 'a', 'b' or 'c'.
    pub typ: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Subset of "rwm", canonical order.
    pub access: String,
}

impl Rule {
    pub fn from_oci(d: &LinuxDeviceCgroup) -> Result<Rule> {
        let typ = match d.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => 'a',
            LinuxDeviceType::B => 'b',
            LinuxDeviceType::C | LinuxDeviceType::U => 'c',
            LinuxDeviceType::P => bail!(
                "linux.resources.devices: device type \"p\" (FIFO) cannot be used in a cgroup rule"
            ),
        };
        let num = |v: Option<i64>, what: &str| -> Result<Option<u32>> {
            match v {
                None => Ok(None),
                Some(n) if n < 0 => Ok(None), // -1 is the wildcard in some configs
                Some(n) if n > u32::MAX as i64 => {
                    bail!("linux.resources.devices: invalid {what} {n}")
                }
                Some(n) => Ok(Some(n as u32)),
            }
        };
        let acc = d.access().as_deref().unwrap_or("");
        let acc = if acc.is_empty() { "rwm" } else { acc };
        let mut access = String::new();
        for c in ['r', 'w', 'm'] {
            if acc.contains(c) {
                access.push(c);
            }
        }
        if let Some(bad) = acc.chars().find(|c| !"rwm".contains(*c)) {
            bail!(
                "linux.resources.devices: invalid access {acc:?} (character {bad:?}; use a subset of \"rwm\")"
            );
        }
        Ok(Rule {
            allow: d.allow(),
            typ,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            access,
        })
    }

    /// "a" wildcard for everything: type a, or no numbers and full access.
    pub fn is_all(&self) -> bool {
        self.typ == 'a' && self.major.is_none() && self.minor.is_none() && self.access == "rwm"
    }

    /// The v1 line: "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        let n = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_else(|| "*".into());
        format!(
            "{} {}:{} {}",
            self.typ,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

pub fn parse_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    rules.iter().map(Rule::from_oci).collect()
}

/// `rules` followed by [`default_allowed`]: what create and update apply.
pub fn with_defaults(mut rules: Vec<LinuxDeviceCgroup>) -> Vec<LinuxDeviceCgroup> {
    rules.extend(default_allowed());
    rules
}

/// The devices runc allows by default (specconv AllowedDevices) besides the config's own;
/// the runtime appends these (and its linux.devices) after linux.resources.devices.
pub fn default_allowed() -> Vec<LinuxDeviceCgroup> {
    let mk = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    };
    use LinuxDeviceType::C;
    vec![
        mk(C, None, None, "m"), // mknod any char device
        mk(LinuxDeviceType::B, None, None, "m"),
        mk(C, Some(1), Some(3), "rwm"), // /dev/null
        mk(C, Some(1), Some(8), "rwm"), // /dev/random
        mk(C, Some(1), Some(7), "rwm"), // /dev/full
        mk(C, Some(5), Some(0), "rwm"), // /dev/tty
        mk(C, Some(1), Some(5), "rwm"), // /dev/zero
        mk(C, Some(1), Some(9), "rwm"), // /dev/urandom
        mk(C, Some(136), None, "rwm"),  // /dev/pts/*
        mk(C, Some(5), Some(2), "rwm"), // /dev/ptmx
    ]
}

/// runc's canSkipEBPFError: whether a v2 device program that could not be loaded or attached
/// may be done without. In a user namespace (podman rootless runs the runtime there as its
/// uid 0) bpf(2) is refused, and the container can reach no device node it was not given:
/// nodes cannot be made there, the devices are bound from the host. Elsewhere only when
/// every rule allows all access ("rwm"), so that no deny is dropped.
pub fn can_do_without_program(in_userns: bool, rules: &[LinuxDeviceCgroup]) -> bool {
    let rwm = |a: &Option<String>| a.as_deref().is_some_and(|a| ['r', 'w', 'm'].iter().all(|c| a.contains(*c)));
    in_userns || rules.iter().all(|d| d.allow() && rwm(d.access()))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn device_program_can_be_skipped_in_a_user_namespace_or_with_nothing_denied() {
        // podman's rules: deny all, then allow a list (+ runc's defaults)
        let podman = with_defaults(rules(r#"[{"allow": false, "access": "rwm"}]"#));
        assert!(can_do_without_program(true, &podman));
        assert!(!can_do_without_program(false, &podman));
        assert!(can_do_without_program(false, &rules(r#"[{"allow": true, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "access": "mwr"}]"#)));
        // a partial allow is a restriction too
        assert!(!can_do_without_program(false, &rules(r#"[{"allow": true, "access": "rw"}]"#)));
    }

    #[test]
    fn rule_parsing_and_v1_lines() {
        let r = parse_rules(&rules(
            r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"mwr"},
                {"allow":true,"type":"b","major":-1,"minor":-1,"access":"m"},{"allow":true,"type":"u","major":4}]"#,
        ))
        .unwrap();
        assert!(r[0].is_all() && !r[0].allow);
        assert_eq!(r[1].v1_line(), "c 1:3 rwm");
        assert_eq!(r[2].v1_line(), "b *:* m");
        assert_eq!(r[3].v1_line(), "c 4:* rwm");
        assert!(parse_rules(&rules(r#"[{"allow":true,"access":"rx"}]"#)).is_err());
        assert!(parse_rules(&rules(r#"[{"allow":true,"type":"p"}]"#)).is_err());
    }
}
