//! Translation of a mount's `options` list into mount(2) flags, propagation changes and the
//! filesystem data string — the same table runc and crun use. Options the table does not know
//! are filesystem data (`size=64k`, `mode=755`...).

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
    /// runc's `tmpcopyup` extension: accepted, not implemented (logged).
    pub tmpcopyup: bool,
    /// Flags an option explicitly cleared ("rw", "suid", "dev"...): in a user namespace the
    /// kernel may keep them locked, which is then reported.
    pub cleared: MsFlags,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions { flags: MsFlags::empty(), propagation: Vec::new(), data: String::new(), tmpcopyup: false, cleared: MsFlags::empty() }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
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
        } else if o == "tmpcopyup" {
            out.tmpcopyup = true;
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
    fn propagation_names() {
        assert_eq!(propagation_flag("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(propagation_flag("runbindable"), Some(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC));
        assert_eq!(propagation_flag("bogus"), None);
    }
}
