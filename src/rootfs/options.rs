//! Translation of a mount's `options` list into mount(2) flags, propagation changes, recursive
//! mount attributes (mount_setattr), runc's extensions (tmpcopyup, idmap, ridmap) and the
//! filesystem data string — the same table runc 1.5 uses. Options the table does not know are
//! filesystem data (`size=64k`, `mode=755`...).

use nix::mount::MsFlags;

use crate::spec::propagation_flag;

#[derive(Debug, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call itself (and for the read-only/nosuid... remount of a bind).
    pub flags: MsFlags,
    /// MS_SHARED / MS_PRIVATE / ... (each with MS_REC when r-prefixed), applied after mounting.
    pub propagation: Vec<MsFlags>,
    /// Comma-joined data string for the filesystem.
    pub data: String,
    /// runc's `tmpcopyup` extension: a tmpfs starts with a copy of what it covers.
    pub tmpcopyup: bool,
    /// `rro`, `rnosuid`, `rnoatime`...: MOUNT_ATTR_* bits set / cleared on the whole mount
    /// tree with mount_setattr(AT_RECURSIVE) after the mount.
    pub rec_set: u64,
    pub rec_clr: u64,
    /// `idmap` / `ridmap`: an idmapped bind (with the mount's or the container's mappings);
    /// `ridmap` applies the mapping to every submount of an rbind too.
    pub idmap: Option<IdmapKind>,
    /// Flags an option explicitly cleared ("rw", "suid", "dev"...): in a user namespace the
    /// kernel may keep them locked, which is then reported.
    pub cleared: MsFlags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdmapKind {
    /// `idmap`: only the top mount is idmapped.
    Top,
    /// `ridmap`: every mount of the (r)bound tree.
    Recursive,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            tmpcopyup: false,
            cleared: MsFlags::empty(),
            rec_set: 0,
            rec_clr: 0,
            idmap: None,
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn has_rec_attrs(&self) -> bool {
        self.rec_set != 0 || self.rec_clr != 0
    }
}

/// mount_setattr(2)'s attribute bits (linux/mount.h; libc lacks them on musl).
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;
/// MS_NOSYMFOLLOW (Linux 5.10); nix's MsFlags lacks it.
pub const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);

/// (clear?, MOUNT_ATTR_*) for each recursive option, as runc's recAttrFlags.
fn rec_attr_option(name: &str) -> Option<(bool, u64)> {
    Some(match name {
        "rro" => (false, MOUNT_ATTR_RDONLY),
        "rrw" => (true, MOUNT_ATTR_RDONLY),
        "rnosuid" => (false, MOUNT_ATTR_NOSUID),
        "rsuid" => (true, MOUNT_ATTR_NOSUID),
        "rnodev" => (false, MOUNT_ATTR_NODEV),
        "rdev" => (true, MOUNT_ATTR_NODEV),
        "rnoexec" => (false, MOUNT_ATTR_NOEXEC),
        "rexec" => (true, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (false, MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (true, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (false, MOUNT_ATTR_RELATIME),
        "rnorelatime" => (true, MOUNT_ATTR_RELATIME),
        "rnoatime" => (false, MOUNT_ATTR_NOATIME),
        "ratime" => (true, MOUNT_ATTR_NOATIME),
        "rstrictatime" => (false, MOUNT_ATTR_STRICTATIME),
        "rnostrictatime" => (true, MOUNT_ATTR_STRICTATIME),
        "rnosymfollow" => (false, MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (true, MOUNT_ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Every option name this table knows (what `features` reports as mountOptions, as runc's
/// KnownMountOptions: idmap and ridmap are reported under mountExtensions instead).
pub fn known() -> Vec<&'static str> {
    const NAMES: &[&str] = &[
        "async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime", "loud", "mand",
        "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime",
        "nosuid", "nosymfollow", "rbind", "relatime", "remount", "ro", "rw", "silent", "strictatime", "suid", "symfollow",
        "sync", "private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable", "rro", "rrw",
        "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime", "rdiratime", "rrelatime", "rnorelatime",
        "rnoatime", "ratime", "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow", "tmpcopyup",
    ];
    let mut v = NAMES.to_vec();
    v.sort_unstable();
    v
}

/// (clear?, flag) for each flag option.
fn flag_option(name: &str) -> Option<(bool, MsFlags)> {
    Some(match name {
        "async" => (true, MsFlags::MS_SYNCHRONOUS),
        "atime" => (true, MsFlags::MS_NOATIME),
        "bind" => (false, MsFlags::MS_BIND),
        "defaults" => (false, MsFlags::empty()),
        "dev" => (true, MsFlags::MS_NODEV),
        "diratime" => (true, MsFlags::MS_NODIRATIME),
        "dirsync" => (false, MsFlags::MS_DIRSYNC),
        "exec" => (true, MsFlags::MS_NOEXEC),
        "iversion" => (false, MsFlags::MS_I_VERSION),
        "lazytime" => (false, MsFlags::MS_LAZYTIME),
        "loud" => (true, MsFlags::MS_SILENT),
        "mand" => (false, MsFlags::MS_MANDLOCK),
        "noatime" => (false, MsFlags::MS_NOATIME),
        "nodev" => (false, MsFlags::MS_NODEV),
        "nodiratime" => (false, MsFlags::MS_NODIRATIME),
        "noexec" => (false, MsFlags::MS_NOEXEC),
        "noiversion" => (true, MsFlags::MS_I_VERSION),
        "nolazytime" => (true, MsFlags::MS_LAZYTIME),
        "nomand" => (true, MsFlags::MS_MANDLOCK),
        "norelatime" => (true, MsFlags::MS_RELATIME),
        "nostrictatime" => (true, MsFlags::MS_STRICTATIME),
        "nosuid" => (false, MsFlags::MS_NOSUID),
        "rbind" => (false, MsFlags::MS_BIND | MsFlags::MS_REC),
        "relatime" => (false, MsFlags::MS_RELATIME),
        "remount" => (false, MsFlags::MS_REMOUNT),
        "ro" => (false, MsFlags::MS_RDONLY),
        "rw" => (true, MsFlags::MS_RDONLY),
        "silent" => (false, MsFlags::MS_SILENT),
        "strictatime" => (false, MsFlags::MS_STRICTATIME),
        "suid" => (true, MsFlags::MS_NOSUID),
        "sync" => (false, MsFlags::MS_SYNCHRONOUS),
        "nosymfollow" => (false, MS_NOSYMFOLLOW),
        "symfollow" => (true, MS_NOSYMFOLLOW),
        _ => return None,
    })
}

pub fn parse(options: &[String]) -> MountOptions {
    let mut out = MountOptions::default();
    let mut data = Vec::new();
    for o in options {
        if let Some((clear, f)) = flag_option(o) {
            if clear {
                out.flags.remove(f);
                out.cleared.insert(f);
            } else {
                out.flags.insert(f);
                out.cleared.remove(f);
            }
        } else if let Some(p) = propagation_flag(o) {
            out.propagation.push(p);
        } else if let Some((clear, a)) = rec_attr_option(o) {
            if clear {
                out.rec_clr |= a;
                out.rec_set &= !a;
            } else {
                out.rec_set |= a;
                out.rec_clr &= !a;
            }
            // mount_setattr(2): an atime mode in attr_set needs MOUNT_ATTR__ATIME in attr_clr.
            if a & MOUNT_ATTR__ATIME == a {
                out.rec_clr |= MOUNT_ATTR__ATIME;
            }
        } else if o == "tmpcopyup" {
            out.tmpcopyup = true;
        } else if o == "idmap" {
            out.idmap = Some(IdmapKind::Top);
        } else if o == "ridmap" {
            out.idmap = Some(IdmapKind::Recursive);
        } else {
            data.push(o.as_str());
        }
    }
    out.data = data.join(",");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[&str]) -> MountOptions {
        parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_data_and_propagation_split() {
        let o = p(&["nosuid", "strictatime", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
    }

    #[test]
    fn later_options_clear_earlier_ones() {
        let o = p(&["ro", "rw", "nodev", "dev", "noexec"]);
        assert_eq!(o.flags, MsFlags::MS_NOEXEC);
    }

    #[test]
    fn rbind_is_recursive_bind() {
        let o = p(&["rbind", "ro"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert!(!p(&["nosuid"]).is_bind());
    }

    #[test]
    fn recursive_attrs_set_and_clear() {
        let o = p(&["rro", "rnosuid", "rnoexec", "rnodev", "rnosymfollow"]);
        assert_eq!(o.rec_set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSYMFOLLOW);
        assert_eq!(o.rec_clr, 0);
        assert_eq!(o.data, "");
        let o = p(&["rro", "rrw"]);
        assert_eq!((o.rec_set, o.rec_clr), (0, MOUNT_ATTR_RDONLY));
        // atime modes always clear the whole atime field (mount_setattr(2)).
        let o = p(&["rnoatime"]);
        assert_eq!((o.rec_set, o.rec_clr), (MOUNT_ATTR_NOATIME, MOUNT_ATTR__ATIME));
        let o = p(&["rstrictatime"]);
        assert_eq!((o.rec_set, o.rec_clr), (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR__ATIME));
        let o = p(&["rrelatime"]);
        assert_eq!((o.rec_set, o.rec_clr), (0, MOUNT_ATTR__ATIME));
        let o = p(&["rnodiratime"]);
        assert_eq!((o.rec_set, o.rec_clr), (MOUNT_ATTR_NODIRATIME, 0));
        assert!(!p(&["ro"]).has_rec_attrs());
    }

    #[test]
    fn nosymfollow_and_extensions() {
        assert_eq!(p(&["nosymfollow"]).flags, MS_NOSYMFOLLOW);
        assert_eq!(p(&["nosymfollow", "symfollow"]).flags, MsFlags::empty());
        let o = p(&["tmpcopyup", "idmap", "mode=755"]);
        assert!(o.tmpcopyup);
        assert_eq!(o.idmap, Some(IdmapKind::Top));
        assert_eq!(o.data, "mode=755");
        assert_eq!(p(&["rbind", "ridmap"]).idmap, Some(IdmapKind::Recursive));
    }

    #[test]
    fn known_options_are_all_parsed() {
        // Every advertised name is a table entry (none would fall through to fs data).
        for name in known() {
            let o = p(&[name]);
            assert!(o.data.is_empty(), "{name} fell through to the data string");
        }
        assert!(known().contains(&"rro") && known().contains(&"tmpcopyup") && !known().contains(&"idmap"));
    }

    #[test]
    fn propagation_names() {
        assert_eq!(propagation_flag("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(propagation_flag("runbindable"), Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC));
        assert_eq!(propagation_flag("bogus"), None);
    }
}
