//! cgroup v1 device rules: `devices.allow` / `devices.deny` writes computed as the difference
//! between what the cgroup has now (its devices.list) and what the rules ask for, as runc's
//! emulator (opencontainers/cgroups devices_emulator.go). A running container whose rules
//! change keeps every device the new rules still allow: nothing is reset to deny-all unless
//! the default changes, or the cgroup allows everything now (then devices.list cannot say
//! which deny rules it has, and only a reset makes the result certain).
//!
//! The kernel keeps a default (allow or deny everything) and a list of exceptions, one per
//! (type, major, minor) with their access merged: "a" sets the default and empties the list;
//! a line that goes against the default adds access to the entry of exactly those numbers, one
//! that goes with it takes access away from that exact entry (a wildcard entry is left alone,
//! silently: such a rule is refused here, as runc does). devices.list shows the exceptions of
//! a default-deny cgroup, and "a *:* rwm" alone for a default-allow one.

use std::collections::BTreeMap;

use anyhow::{Result, anyhow, bail};
use oci_spec::runtime::LinuxDeviceCgroup;

use super::{Rule, parse_rules};
use crate::cgroups::resources::{Ctx, errtext};

const FIELD: &str = "linux.resources.devices";

/// (major, minor, type), -1 for a wildcard number: runc's order for the writes.
type Key = (i64, i64, char);

const ACCESS: [(char, u8); 3] = [('r', 1), ('w', 2), ('m', 4)];

fn bits(access: &str) -> u8 {
    ACCESS.iter().filter(|(c, _)| access.contains(*c)).map(|(_, b)| b).sum()
}

fn access(bits: u8) -> String {
    ACCESS.iter().filter(|(_, b)| bits & b != 0).map(|(c, _)| *c).collect()
}

fn key(r: &Rule) -> Key {
    let n = |v: Option<u32>| v.map_or(-1, i64::from);
    (n(r.major), n(r.minor), r.typ)
}

fn rule(k: Key, perms: u8, allow: bool) -> Rule {
    let n = |v: i64| u32::try_from(v).ok();
    Rule { allow, typ: k.2, major: n(k.0), minor: n(k.1), access: access(perms) }
}

/// A devices cgroup as the kernel holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Emulator {
    default_allow: bool,
    exceptions: BTreeMap<Key, u8>,
}

impl Emulator {
    /// What devices.list says (a default-allow cgroup's deny exceptions are not in it).
    pub fn from_list(list: &str) -> Result<Emulator> {
        let mut e = Emulator::default();
        for line in list.lines().filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split([' ', ':']).collect();
            let bad = || anyhow!("malformed devices.list line {line:?}");
            let [typ, major, minor, acc] = f.as_slice() else { return Err(bad()) };
            let num = |s: &str| -> Result<Option<u32>> { if s == "*" { Ok(None) } else { s.parse().map(Some).map_err(|_| bad()) } };
            let typ = match *typ {
                "a" => 'a',
                "b" => 'b',
                "c" => 'c',
                _ => return Err(bad()),
            };
            if bits(acc) == 0 || acc.chars().any(|c| !"rwm".contains(c)) {
                return Err(bad());
            }
            e.apply(&Rule { allow: true, typ, major: num(major)?, minor: num(minor)?, access: acc.to_string() })?;
        }
        Ok(e)
    }

    /// The state `rules` leave, applied in order to a default-deny cgroup.
    pub fn from_rules(rules: &[Rule]) -> Result<Emulator> {
        let mut e = Emulator::default();
        for r in rules {
            e.apply(r)?;
        }
        Ok(e)
    }

    fn apply(&mut self, r: &Rule) -> Result<()> {
        if r.typ == 'a' {
            // The kernel reads any line starting with "a" as "a": a new default, no exceptions.
            *self = Emulator { default_allow: r.allow, exceptions: BTreeMap::new() };
            return Ok(());
        }
        let (k, perms) = (key(r), bits(&r.access));
        if r.allow == self.default_allow {
            return self.take_away(r, k, perms);
        }
        *self.exceptions.entry(k).or_insert(0) |= perms;
        Ok(())
    }

    /// A rule that goes with the default removes access from the exception of exactly its
    /// numbers; one that would need a hole in a wildcard exception is refused (the kernel
    /// would ignore it and leave the device as it was).
    fn take_away(&mut self, r: &Rule, k: Key, perms: u8) -> Result<()> {
        for wide in [(-1, k.1, k.2), (k.0, -1, k.2), (-1, -1, k.2)] {
            let held = self.exceptions.get(&wide).copied().unwrap_or(0);
            if wide != k && held & perms != 0 {
                bail!(
                    "{FIELD}: the rule {:?} cannot be applied with cgroup v1: it would punch a hole in the wildcard rule {:?}",
                    r.v1_line(),
                    rule(wide, held, true).v1_line()
                );
            }
        }
        if let Some(held) = self.exceptions.get_mut(&k) {
            *held &= !perms;
            if *held == 0 {
                self.exceptions.remove(&k);
            }
        }
        Ok(())
    }

    /// The rules that take this cgroup to `target`, disrupting nothing that stays: a reset
    /// only when the default changes or this cgroup allows everything now (its deny
    /// exceptions are unknown); then the access to take away, then the access to add.
    pub fn transition(&self, target: &Emulator) -> Vec<Rule> {
        let mut out = Vec::new();
        let empty = BTreeMap::new();
        let mut old = &self.exceptions;
        if self.default_allow || self.default_allow != target.default_allow {
            out.push(Rule { allow: target.default_allow, typ: 'a', major: None, minor: None, access: "rwm".into() });
            old = &empty;
        }
        for (k, held) in old {
            let dropped = held & !target.exceptions.get(k).copied().unwrap_or(0);
            if dropped != 0 {
                out.push(rule(*k, dropped, target.default_allow));
            }
        }
        for (k, wanted) in &target.exceptions {
            let gained = wanted & !old.get(k).copied().unwrap_or(0);
            if gained != 0 {
                out.push(rule(*k, gained, !target.default_allow));
            }
        }
        out
    }
}

/// Write `rules` to the v1 devices controller as the transition from its devices.list, then
/// check that the kernel took them (as runc: an exact match for a default-deny result, the
/// default for a default-allow one).
pub(crate) fn apply(cx: &mut Ctx, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    cx.need(FIELD, "devices")?;
    let target = Emulator::from_rules(&parse_rules(rules)?)?;
    let current = read_list(cx)?;
    for r in current.transition(&target) {
        let file = if r.allow { "devices.allow" } else { "devices.deny" };
        let line = if r.typ == 'a' { "a".to_string() } else { r.v1_line() };
        cx.write(FIELD, "devices", file, &line)?;
    }
    let after = read_list(cx)?;
    let path = cx.f.path("devices", "devices.list");
    if after.default_allow != target.default_allow || (!target.default_allow && after != target) {
        bail!("{FIELD}: {} does not show the rules just written (a parent cgroup may deny some of them)", path.display());
    }
    Ok(())
}

fn read_list(cx: &Ctx) -> Result<Emulator> {
    let path = cx.f.path("devices", "devices.list");
    let text = cx.f.read("devices", "devices.list").map_err(|e| anyhow!("{FIELD}: reading {}: {}", path.display(), errtext(&e)))?;
    Emulator::from_list(&text).map_err(|e| anyhow!("{FIELD}: {}: {e}", path.display()))
}

#[cfg(test)]
#[path = "v1_tests.rs"]
mod tests;
