//! Rootless: every "am I really root" decision, made as runc makes it, from facts read once.
//!
//! Three different questions hide behind "rootless", and runc keeps them apart:
//! - rootless EUID (`euid != 0`): id maps need newuidmap/newgidmap, the init's /proc files
//!   must stay openable until the maps are written (process::namespaces, process::spawn);
//! - rootless cgroups (runc's `shouldUseRootlessCgroupManager`): a cgroup that cannot be made
//!   is skipped with a warning instead of failing the create. True for a non-zero euid, and
//!   for euid 0 inside a non-initial user namespace (podman rootless runs the runtime there,
//!   as uid 0 of its own namespace), unless the global `--rootless true|false` says;
//! - running in a user namespace (runc's `userns.RunningInUserNS()`): devices cannot be
//!   mknod'ed, mount flags are locked and setgroups may be denied, even for a container
//!   without a user namespace of its own.
//!
//! The state root follows runc's `shouldHonorXDGRuntimeDir`: `$XDG_RUNTIME_DIR/bulkhead` for a
//! non-zero euid, and for euid 0 in a user namespace unless `USER=root`; else /run/bulkhead.
//! `--root` always wins. The decisions are pure functions of [`Facts`], so the unit tests can
//! fake every combination.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What the decisions depend on, read once per process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub euid: u32,
    /// Not in the initial user namespace (/proc/self/uid_map is not the identity map).
    pub in_userns: bool,
    /// `$XDG_RUNTIME_DIR`, when set and not empty.
    pub xdg_runtime_dir: Option<PathBuf>,
    /// `$USER`, when set.
    pub user: Option<OsString>,
}

impl Facts {
    fn probe() -> Facts {
        Facts {
            euid: nix::unistd::geteuid().as_raw(),
            in_userns: crate::sys::read_pseudo("/proc/self/uid_map").map(|m| uid_map_is_userns(&m)).unwrap_or(false),
            xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()).map(PathBuf::from),
            user: std::env::var_os("USER"),
        }
    }
}

/// The facts of this process (read on first use; the runtime never changes its euid or user
/// namespace before asking).
pub fn facts() -> &'static Facts {
    static FACTS: OnceLock<Facts> = OnceLock::new();
    FACTS.get_or_init(Facts::probe)
}

/// runc's `userns.RunningInUserNS()`: the initial user namespace maps all 2^32 ids onto
/// themselves ("0 0 4294967295"); anything else is a child namespace.
pub fn uid_map_is_userns(uid_map: &str) -> bool {
    let fields: Vec<&str> = uid_map.split_whitespace().collect();
    fields != ["0", "0", "4294967295"]
}

/// runc's `shouldHonorXDGRuntimeDir`.
pub fn honors_xdg_runtime_dir(f: &Facts) -> bool {
    if f.euid != 0 {
        return true;
    }
    if !f.in_userns {
        // The real root keeps /run/<runtime> even with XDG_RUNTIME_DIR=/run/user/0.
        return false;
    }
    // uid 0 of a user namespace: an unprivileged user mapped as root (podman rootless)
    // unless it says it is root.
    f.user.as_deref() != Some(std::ffi::OsStr::new("root"))
}

/// The default state root when `--root` is not given, and whether it came from
/// `$XDG_RUNTIME_DIR` (then it is made 0700 + sticky, as runc does, so that XDG cleaners
/// leave it alone).
pub fn default_state_root(f: &Facts) -> (PathBuf, bool) {
    match &f.xdg_runtime_dir {
        Some(dir) if honors_xdg_runtime_dir(f) => (dir.join("bulkhead"), true),
        _ => (PathBuf::from("/run/bulkhead"), false),
    }
}

/// [`default_state_root`] for this process; without `$XDG_RUNTIME_DIR` (containerd, docker,
/// root's scripts) the answer needs no /proc read.
pub fn default_state_root_here() -> (PathBuf, bool) {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none_or(|d| d.is_empty()) {
        return (PathBuf::from("/run/bulkhead"), false);
    }
    default_state_root(facts())
}

/// runc's `app.Before`: a state root taken from `$XDG_RUNTIME_DIR` (not given with `--root`)
/// is created 0700 and marked sticky, so that XDG runtime-dir cleaners leave it alone.
pub fn prepare_xdg_root(root: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let (default, from_xdg) = default_state_root_here();
    if !from_xdg || root != default {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(root).map_err(|e| with_hint(e, root, format!("creating state root {}", root.display())))?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700)).map_err(|e| with_hint(e, root, format!("chmod 01700 {}", root.display())))
}

/// `e`, from the operation `what` on `path`, as an error that also says what a rootless user
/// can do about it (see [`path_hint`]).
pub fn with_hint(e: std::io::Error, path: &Path, what: String) -> anyhow::Error {
    match path_hint(path, &e, facts()) {
        Some(h) => anyhow::Error::new(e).context(format!("{what} ({h})")),
        None => anyhow::Error::new(e).context(what),
    }
}

/// runc's RootlessEUID: the runtime is not uid 0 (in whatever namespace it runs).
pub fn rootless_euid(f: &Facts) -> bool {
    f.euid != 0
}

/// runc's `shouldUseRootlessCgroupManager` for the cgroupfs driver (`--systemd-cgroup` is
/// refused before any cgroup is touched). `flag` is the global `--rootless` (None: auto).
pub fn rootless_cgroups(f: &Facts, flag: Option<bool>) -> bool {
    match flag {
        Some(b) => b,
        None => f.euid != 0 || f.in_userns,
    }
}

/// The container lives in a user namespace: its own, or the one the runtime already runs in.
/// Then devices are bind-mounted from the host instead of mknod'ed (runc: `useBindMount`),
/// locked mount flags are kept, and setgroups(2) is skipped where /proc/self/setgroups says
/// "deny" (runc: `allowSupGroups`).
pub fn in_userns(f: &Facts, container_userns: bool) -> bool {
    container_userns || f.in_userns
}

/// runc's `parseBoolOrAuto` for the global `--rootless`.
pub fn parse_bool_or_auto(s: Option<&str>) -> anyhow::Result<Option<bool>> {
    match s.map(str::trim) {
        None | Some("") | Some("auto") => Ok(None),
        Some("true" | "1" | "t" | "T" | "TRUE" | "True") => Ok(Some(true)),
        Some("false" | "0" | "f" | "F" | "FALSE" | "False") => Ok(Some(false)),
        Some(o) => anyhow::bail!("--rootless: invalid value {o:?} (want true, false or auto)"),
    }
}

static ROOTLESS_FLAG: OnceLock<Option<bool>> = OnceLock::new();

/// Records the global `--rootless` (cli::main, before any command runs).
pub fn set_flag(flag: Option<bool>) {
    let _ = ROOTLESS_FLAG.set(flag);
}

/// This process's rootless-cgroups decision.
pub fn is_rootless_cgroups() -> bool {
    rootless_cgroups(facts(), ROOTLESS_FLAG.get().copied().flatten())
}

/// This process's rootless-EUID decision.
pub fn is_rootless_euid() -> bool {
    rootless_euid(facts())
}

/// What a rootless user can do about a path the runtime could not create or write: the
/// error itself stays (it names the path); this adds the way out.
pub fn path_hint(path: &Path, e: &std::io::Error, f: &Facts) -> Option<String> {
    if !matches!(e.raw_os_error(), Some(libc::EACCES | libc::EPERM | libc::EROFS)) || !(f.euid != 0 || f.in_userns) {
        return None;
    }
    let who = if f.euid != 0 { format!("uid {}", f.euid) } else { "uid 0 of a user namespace (not root of the host)".to_string() };
    Some(match &f.xdg_runtime_dir {
        None => format!("{} is not writable by {who}: set XDG_RUNTIME_DIR to a directory you own, or pass --root DIR", path.display()),
        Some(x) if !honors_xdg_runtime_dir(f) => format!(
            "{} is not writable by {who}: XDG_RUNTIME_DIR ({}) is ignored because USER=root; unset USER or pass --root DIR",
            path.display(),
            x.display()
        ),
        Some(x) => format!("{} is not writable by {who}: check the owner and mode of XDG_RUNTIME_DIR ({}), or pass --root DIR", path.display(), x.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(euid: u32, in_userns: bool, xdg: Option<&str>, user: Option<&str>) -> Facts {
        Facts { euid, in_userns, xdg_runtime_dir: xdg.map(PathBuf::from), user: user.map(OsString::from) }
    }

    #[test]
    fn uid_map_of_the_initial_namespace_is_not_a_userns() {
        assert!(!uid_map_is_userns("         0          0 4294967295\n"));
        assert!(uid_map_is_userns("         0       1000          1\n"));
        // podman rootless: the user, then its subordinate range
        assert!(uid_map_is_userns("         0       1001          1\n         1     100000      65536\n"));
        assert!(uid_map_is_userns(""));
    }

    #[test]
    fn state_root_as_runc() {
        let x = Some("/run/user/1001");
        let xdg = PathBuf::from("/run/user/1001/bulkhead");
        let run = PathBuf::from("/run/bulkhead");
        // plain non-root uid: XDG
        assert_eq!(default_state_root(&facts(1001, false, x, Some("u"))), (xdg.clone(), true));
        // real root: /run even with XDG_RUNTIME_DIR=/run/user/0
        assert_eq!(default_state_root(&facts(0, false, Some("/run/user/0"), Some("root"))), (run.clone(), false));
        // uid 0 in podman's user namespace: XDG
        assert_eq!(default_state_root(&facts(0, true, x, Some("u"))), (xdg.clone(), true));
        assert_eq!(default_state_root(&facts(0, true, x, None)), (xdg, true));
        // uid 0 in a user namespace that says it is root (a rootful container host): /run
        assert_eq!(default_state_root(&facts(0, true, x, Some("root"))), (run.clone(), false));
        // no XDG_RUNTIME_DIR: /run whoever asks
        assert_eq!(default_state_root(&facts(1001, false, None, Some("u"))), (run.clone(), false));
        assert_eq!(default_state_root(&facts(0, true, None, Some("u"))), (run, false));
    }

    #[test]
    fn rootless_cgroups_as_runc() {
        assert!(!rootless_cgroups(&facts(0, false, None, None), None));
        assert!(rootless_cgroups(&facts(1001, false, None, None), None));
        assert!(rootless_cgroups(&facts(0, true, None, Some("root")), None));
        // --rootless wins over detection
        assert!(!rootless_cgroups(&facts(0, true, None, None), Some(false)));
        assert!(rootless_cgroups(&facts(0, false, None, None), Some(true)));
    }

    #[test]
    fn euid_and_userns_decisions() {
        assert!(!rootless_euid(&facts(0, true, None, None)), "uid 0 of a userns writes id maps itself, as runc");
        assert!(rootless_euid(&facts(1001, false, None, None)));
        assert!(in_userns(&facts(0, true, None, None), false), "podman rootless without a container userns: bind devices");
        assert!(in_userns(&facts(0, false, None, None), true));
        assert!(!in_userns(&facts(0, false, None, None), false));
    }

    #[test]
    fn rootless_flag_parses_as_runc() {
        assert_eq!(parse_bool_or_auto(None).unwrap(), None);
        assert_eq!(parse_bool_or_auto(Some("auto")).unwrap(), None);
        assert_eq!(parse_bool_or_auto(Some("true")).unwrap(), Some(true));
        assert_eq!(parse_bool_or_auto(Some("false")).unwrap(), Some(false));
        assert!(parse_bool_or_auto(Some("maybe")).is_err());
    }

    #[test]
    fn permission_errors_get_a_hint_only_when_rootless() {
        let eacces = std::io::Error::from_raw_os_error(libc::EACCES);
        let p = Path::new("/run/bulkhead");
        assert_eq!(path_hint(p, &eacces, &facts(0, false, None, None)), None, "real root: the error is enough");
        let h = path_hint(p, &eacces, &facts(0, true, None, Some("u"))).unwrap();
        assert!(h.contains("/run/bulkhead") && h.contains("XDG_RUNTIME_DIR") && h.contains("--root"), "{h}");
        let h = path_hint(p, &eacces, &facts(0, true, Some("/run/user/1001"), Some("root"))).unwrap();
        assert!(h.contains("USER=root"), "{h}");
        let h = path_hint(Path::new("/x/bulkhead"), &eacces, &facts(1001, false, Some("/x"), None)).unwrap();
        assert!(h.contains("uid 1001") && h.contains("(/x)"), "{h}");
        assert_eq!(path_hint(p, &std::io::Error::from_raw_os_error(libc::ENOSPC), &facts(1001, false, None, None)), None);
    }
}
