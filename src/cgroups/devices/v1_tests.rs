//! The v1 transition against a model of the kernel's devices controller ([`Kernel`]), which
//! records every write and, after each one, whether /dev/null can be opened read-write.

use std::io;
use std::path::PathBuf;

use super::*;
use crate::cgroups::resources::Files;

/// security/device_cgroup.c in miniature: a default and an exception list, matched as the
/// kernel's __devcgroup_check_permission does.
struct Kernel {
    allow_all: bool,
    /// (type, major, minor, access) with u32::MAX for "*".
    list: Vec<(char, u32, u32, String)>,
    writes: Vec<(String, String)>,
    /// After each write: may /dev/null (c 1:3) be opened for "rw"?
    null_ok: Vec<bool>,
}

impl Kernel {
    fn new(list: &str) -> Kernel {
        let mut k = Kernel { allow_all: true, list: Vec::new(), writes: Vec::new(), null_ok: Vec::new() };
        if list != "a *:* rwm" {
            k.allow_all = false;
            for l in list.lines() {
                k.update(true, l);
            }
        }
        k
    }

    fn permits(&self, typ: char, major: u32, minor: u32, acc: &str) -> bool {
        let covers = |e: &(char, u32, u32, String), whole: bool| {
            e.0 == typ && (e.1 == u32::MAX || e.1 == major) && (e.2 == u32::MAX || e.2 == minor) && acc.chars().all(|c| !whole || e.3.contains(c)) && acc.chars().any(|c| e.3.contains(c))
        };
        if self.allow_all { !self.list.iter().any(|e| covers(e, false)) } else { self.list.iter().any(|e| covers(e, true)) }
    }

    fn update(&mut self, allow: bool, line: &str) {
        if line.starts_with('a') {
            self.allow_all = allow;
            self.list.clear();
            return;
        }
        let f: Vec<&str> = line.split([' ', ':']).collect();
        let n = |s: &str| if s == "*" { u32::MAX } else { s.parse().unwrap() };
        let (typ, major, minor) = (f[0].chars().next().unwrap(), n(f[1]), n(f[2]));
        let at = self.list.iter().position(|e| (e.0, e.1, e.2) == (typ, major, minor));
        if allow != self.allow_all {
            match at {
                Some(i) => self.list[i].3 = access(bits(&self.list[i].3) | bits(f[3])),
                None => self.list.push((typ, major, minor, access(bits(f[3])))),
            }
        } else if let Some(i) = at {
            self.list[i].3 = access(bits(&self.list[i].3) & !bits(f[3]));
            if self.list[i].3.is_empty() {
                self.list.remove(i);
            }
        }
    }

    fn list_text(&self) -> String {
        if self.allow_all {
            return "a *:* rwm\n".into();
        }
        let n = |v: u32| if v == u32::MAX { "*".to_string() } else { v.to_string() };
        self.list.iter().map(|e| format!("{} {}:{} {}\n", e.0, n(e.1), n(e.2), e.3)).collect()
    }
}

impl Files for Kernel {
    fn has_controller(&self, c: &str) -> bool {
        c == "devices"
    }
    fn path(&self, _c: &str, file: &str) -> PathBuf {
        PathBuf::from("/cg/devices").join(file)
    }
    fn exists(&self, _c: &str, _file: &str) -> bool {
        true
    }
    fn read(&self, _c: &str, file: &str) -> io::Result<String> {
        assert_eq!(file, "devices.list");
        Ok(self.list_text())
    }
    fn write(&mut self, _c: &str, file: &str, value: &str) -> io::Result<()> {
        self.update(file == "devices.allow", value);
        self.writes.push((file.to_string(), value.to_string()));
        self.null_ok.push(self.permits('c', 1, 3, "rw"));
        Ok(())
    }
}

fn oci(json: &str) -> Vec<LinuxDeviceCgroup> {
    serde_json::from_str(json).unwrap()
}

/// A container's rules as create applies them: the config's, then runc's defaults.
fn with_defaults(json: &str) -> Vec<LinuxDeviceCgroup> {
    crate::cgroups::devices::with_defaults(oci(json))
}

fn apply_to(k: &mut Kernel, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let mut cx = Ctx::new(k);
    apply(&mut cx, rules)
}

fn writes(k: &Kernel) -> Vec<(&str, &str)> {
    k.writes.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[test]
fn a_new_cgroup_is_reset_to_deny_all_then_allowed_what_the_rules_allow() {
    // A new cgroup inherits its parent's allow-all.
    let mut k = Kernel::new("a *:* rwm");
    apply_to(&mut k, &oci(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
        {"allow":true,"type":"c","major":136,"access":"rwm"},{"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#))
    .unwrap();
    assert_eq!(writes(&k), [("devices.deny", "a"), ("devices.allow", "c 1:3 rm"), ("devices.allow", "c 136:* rwm")]);
    assert_eq!(k.list_text(), "c 1:3 rm\nc 136:* rwm\n");
}

/// Issue 15 item 8: between two default-deny rule sets that both allow /dev/null, no write
/// denies it, not even for a moment (the old writer began with "a" to devices.deny).
#[test]
fn an_update_never_denies_a_device_that_stays_allowed() {
    let before = with_defaults(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":200,"access":"rwm"},
        {"allow":true,"type":"c","major":10,"minor":229,"access":"rwm"}]"#);
    let after = with_defaults(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":10,"minor":200,"access":"r"},
        {"allow":true,"type":"b","major":8,"minor":0,"access":"r"}]"#);
    let mut k = Kernel::new("a *:* rwm");
    apply_to(&mut k, &before).unwrap();
    k.writes.clear();
    k.null_ok.clear();
    for (i, rules) in [&after, &before, &after].into_iter().enumerate() {
        apply_to(&mut k, rules).unwrap();
        assert!(k.null_ok.iter().all(|ok| *ok), "update {i} denied /dev/null on the way: {:?}", k.writes);
        assert!(!k.writes.iter().any(|(_, v)| v.starts_with('a')), "update {i} reset the cgroup: {:?}", k.writes);
    }
    // The last update's writes: /dev/net/tun keeps "r" only, /dev/fuse goes, /dev/sda comes.
    let last = writes(&k)[writes(&k).len() - 3..].to_vec();
    assert_eq!(last, [("devices.deny", "c 10:200 wm"), ("devices.deny", "c 10:229 rwm"), ("devices.allow", "b 8:0 r")]);
    assert_eq!(Emulator::from_list(&k.list_text()).unwrap(), Emulator::from_rules(&parse_rules(&after).unwrap()).unwrap());
}

#[test]
fn the_same_rules_again_write_nothing() {
    let rules = with_defaults(r#"[{"allow":false,"access":"rwm"}]"#);
    let mut k = Kernel::new("a *:* rwm");
    apply_to(&mut k, &rules).unwrap();
    let n = k.writes.len();
    apply_to(&mut k, &rules).unwrap();
    assert_eq!(k.writes.len(), n, "{:?}", k.writes);
}

#[test]
fn a_default_change_or_an_allow_all_cgroup_needs_the_reset() {
    // Allow-all now: its deny rules are unknown, so even allow-all again starts with "a".
    let mut k = Kernel::new("a *:* rwm");
    apply_to(&mut k, &oci(r#"[{"allow":true,"access":"rwm"},{"allow":false,"type":"b","major":8,"access":"w"}]"#)).unwrap();
    assert_eq!(writes(&k), [("devices.allow", "a"), ("devices.deny", "b 8:* w")]);
    // Default-deny to allow-all.
    let mut k = Kernel::new("c 1:3 rwm");
    apply_to(&mut k, &oci(r#"[{"allow":true,"access":"rwm"}]"#)).unwrap();
    assert_eq!(writes(&k), [("devices.allow", "a")]);
}

#[test]
fn a_hole_in_a_wildcard_rule_is_refused() {
    let e = Emulator::from_rules(&parse_rules(&oci(r#"[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","access":"rwm"},
        {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#)).unwrap())
    .unwrap_err()
    .to_string();
    assert!(e.contains("linux.resources.devices") && e.contains("c 1:3 w") && e.contains("c *:* rwm"), "{e}");
}

#[test]
fn devices_list_is_parsed_as_the_kernel_writes_it() {
    let e = Emulator::from_list("c 1:3 rwm\nc 136:* rw\nb *:* m\nc 1:3 m\n").unwrap();
    assert!(!e.default_allow);
    assert_eq!(e.exceptions.get(&(1, 3, 'c')), Some(&7));
    assert_eq!(e.exceptions.get(&(136, -1, 'c')), Some(&3));
    assert_eq!(e.exceptions.get(&(-1, -1, 'b')), Some(&4));
    assert!(Emulator::from_list("a *:* rwm\n").unwrap().default_allow);
    assert_eq!(Emulator::from_list("").unwrap(), Emulator::default());
    assert!(Emulator::from_list("x 1:3 rwm\n").is_err());
    assert!(Emulator::from_list("c 1:3 rwx\n").is_err());
}
