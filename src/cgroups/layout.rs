//! Pure parsing of `/proc/self/mountinfo` and `/proc/self/cgroup`, layout detection and
//! cgroupsPath resolution. Nothing here touches the file system, so all of it is unit-tested
//! from text.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

/// Which cgroup layout the host uses.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only cgroup v1 hierarchies.
    V1,
    /// cgroup v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified) that
    /// carries no (or few) controllers; processes also join it.
    Hybrid,
    /// Pure cgroup v2 (cgroup2 mounted at /sys/fs/cgroup, or no v1 controller mounted).
    Unified,
}

/// One cgroup mount found in mountinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupMount {
    pub v2: bool,
    /// v1: the controllers of the hierarchy, from the super options ("cpu", "cpuacct",
    /// "name=systemd"), sorted. v2: empty.
    pub controllers: Vec<String>,
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The mount's root inside the hierarchy (field 4 of mountinfo), "/" unless bind-mounted.
    pub root: String,
}

/// v1 controllers (and named hierarchies) whose hierarchy a container joins.
/// Named hierarchies other than name=systemd are left alone, as runc does.
pub fn joinable_v1(controllers: &[String]) -> bool {
    if controllers.is_empty() {
        return false;
    }
    controllers
        .iter()
        .all(|c| !c.starts_with("name=") || c == "name=systemd")
}

/// Undo the octal escapes (`\040` for space, ...) of mountinfo fields.
pub fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse mountinfo text, keeping only cgroup and cgroup2 mounts, in order. When the same
/// hierarchy is mounted more than once, the first mount wins.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut out: Vec<CgroupMount> = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let post: Vec<&str> = post.split_whitespace().collect();
        if pre.len() < 5 || post.is_empty() {
            continue;
        }
        let fstype = post[0];
        let superopts = post.get(2).copied().unwrap_or("");
        let m = match fstype {
            "cgroup2" => CgroupMount {
                v2: true,
                controllers: vec![],
                mountpoint: PathBuf::from(unescape(pre[4])),
                root: unescape(pre[3]),
            },
            "cgroup" => {
                let mut controllers: Vec<String> = superopts
                    .split(',')
                    .filter(|o| {
                        !o.is_empty()
                            && !matches!(
                                *o,
                                "rw" | "ro"
                                    | "noprefix"
                                    | "clone_children"
                                    | "xattr"
                                    | "none"
                                    | "cpuset_v2_mode"
                                    | "favordynmods"
                            )
                            && !o.starts_with("release_agent=")
                    })
                    .map(str::to_string)
                    .collect();
                controllers.sort();
                CgroupMount {
                    v2: false,
                    controllers,
                    mountpoint: PathBuf::from(unescape(pre[4])),
                    root: unescape(pre[3]),
                }
            }
            _ => continue,
        };
        if out
            .iter()
            .any(|o| o.v2 == m.v2 && o.controllers == m.controllers)
        {
            continue;
        }
        out.push(m);
    }
    out
}

/// Decide the layout from the cgroup mounts.
pub fn detect_layout(mounts: &[CgroupMount]) -> Result<Layout> {
    let v2 = mounts.iter().find(|m| m.v2);
    let has_v1 = mounts
        .iter()
        .any(|m| !m.v2 && m.controllers.iter().any(|c| !c.starts_with("name=")));
    match (v2, has_v1) {
        (Some(m), _) if m.mountpoint == Path::new("/sys/fs/cgroup") => Ok(Layout::Unified),
        (Some(_), false) => Ok(Layout::Unified),
        (Some(_), true) => Ok(Layout::Hybrid),
        (None, true) => Ok(Layout::V1),
        (None, false) => bail!(
            "no cgroup hierarchy is mounted (looked for cgroup and cgroup2 in /proc/self/mountinfo)"
        ),
    }
}

/// One line of /proc/<pid>/cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcCgroup {
    /// Sorted controller list ("cpu", "cpuacct", "name=systemd"); empty for the v2 line.
    pub controllers: Vec<String>,
    pub path: String,
}

pub fn parse_proc_cgroup(text: &str) -> Vec<ProcCgroup> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_id), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let mut controllers: Vec<String> = ctrls
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        controllers.sort();
        out.push(ProcCgroup {
            controllers,
            path: path.to_string(),
        });
    }
    out
}

/// runc's CleanPath: lexically clean; `..` can never climb above the start, and a relative
/// path stays relative.
pub fn clean_path(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let j = parts.join("/");
    if abs { format!("/{j}") } else { j }
}

/// Join cgroup paths ("/a" + "b/c" = "/a/b/c").
pub fn join_cg(base: &str, rel: &str) -> String {
    clean_path(&format!("{}/{}", base.trim_end_matches('/'), rel))
}

/// The parent of a cgroup path ("/a/b" → "/a"; the root stays "/").
fn parent_cg(p: &str) -> String {
    let c = clean_path(p);
    match c.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => c[..i].to_string(),
    }
}

/// The host directory of cgroup path `cg_path` (relative to the hierarchy root) in a
/// hierarchy mounted at `mountpoint` whose mount root is `root`.
pub fn dir_for(mountpoint: &Path, root: &str, cg_path: &str) -> Result<PathBuf> {
    let root = clean_path(root);
    let cg = clean_path(cg_path);
    let rel = if root == "/" {
        cg.trim_start_matches('/').to_string()
    } else if cg == root {
        String::new()
    } else if let Some(r) = cg.strip_prefix(&format!("{root}/")) {
        r.to_string()
    } else {
        bail!(
            "cgroup {cg} is outside the part ({root}) of the hierarchy mounted at {}",
            mountpoint.display()
        )
    };
    let mut d = mountpoint.to_path_buf();
    if !rel.is_empty() {
        d.push(rel);
    }
    // Defence in depth: never leave the mount.
    if d.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!("cgroup directory {} is not clean", d.display());
    }
    Ok(d)
}

/// One hierarchy the container lives in: everything needed to find its directory again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub v2: bool,
    /// v1 controllers of this hierarchy (sorted); empty for v2.
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    /// The mount's root inside the hierarchy ("/" unless bind-mounted).
    pub root: String,
    /// The container's cgroup path relative to the hierarchy root.
    pub path: String,
    /// The container's cgroup directory on the host.
    pub dir: PathBuf,
}

impl Hierarchy {
    /// The name of this hierarchy under /sys/fs/cgroup ("memory", "cpu,cpuacct", "systemd",
    /// "unified"); "" for a cgroup2 mount at /sys/fs/cgroup itself.
    pub fn mount_name(&self) -> String {
        if let Ok(r) = self.mountpoint.strip_prefix("/sys/fs/cgroup") {
            return r.to_string_lossy().into_owned();
        }
        self.mountpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// Resolution result: layout, display path and the hierarchies to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub layout: Layout,
    pub path: String,
    pub hierarchies: Vec<Hierarchy>,
}

/// Resolve a cgroupsPath the way runc's fs/fs2 drivers do:
/// absolute → under each hierarchy's mountpoint; relative → under the caller's own cgroup in
/// that hierarchy (from /proc/self/cgroup), except on a pure v2 host, where it goes under the
/// parent of the caller's cgroup (runc's fs2 defaultDirPath: the caller's own cgroup, a
/// session scope or podman's, holds processes, so no controller could be enabled for a child
/// of it; its parent, a slice, holds none); None → relative "<id>".
pub fn resolve_from(
    mountinfo: &str,
    proc_self_cgroup: &str,
    cgroups_path: Option<&str>,
    id: &str,
) -> Result<Resolved> {
    let mounts = parse_mountinfo(mountinfo);
    let layout = detect_layout(&mounts)?;
    let own = parse_proc_cgroup(proc_self_cgroup);

    let requested = match cgroups_path {
        Some(p) if !p.trim().is_empty() => p.to_string(),
        _ => {
            if id.is_empty() || id.contains('/') {
                bail!("invalid container id {id:?} for a default cgroup path");
            }
            id.to_string()
        }
    };
    let absolute = requested.starts_with('/');
    let cleaned = clean_path(&requested);
    if cleaned.is_empty() || cleaned == "/" {
        bail!(
            "cgroupsPath {requested:?} resolves to the root (or the caller's own) cgroup; refusing"
        );
    }

    let selected: Vec<&CgroupMount> = mounts
        .iter()
        .filter(|m| match layout {
            Layout::Unified => m.v2,
            Layout::Hybrid => m.v2 || joinable_v1(&m.controllers),
            Layout::V1 => !m.v2 && joinable_v1(&m.controllers),
        })
        .collect();

    let mut hierarchies = Vec::new();
    for m in selected {
        let path = if absolute {
            // runc joins an absolute path to the mountpoint: relative to what this mount shows.
            join_cg(&m.root, &cleaned)
        } else {
            let mine = own
                .iter()
                .find(|o| if m.v2 { o.controllers.is_empty() } else { o.controllers == m.controllers })
                .ok_or_else(|| {
                    anyhow!(
                        "cannot find the caller's own cgroup for the hierarchy at {} in /proc/self/cgroup",
                        m.mountpoint.display()
                    )
                })?;
            // (Not above the part of the hierarchy this mount shows: a runtime in a container
            // whose cgroup2 mount is its own cgroup stays under it.)
            let parent = parent_cg(&mine.path);
            let shown = m.root == "/" || parent == m.root || parent.starts_with(&format!("{}/", m.root));
            let base = if layout == Layout::Unified && shown { parent } else { mine.path.clone() };
            join_cg(&base, &cleaned)
        };
        let dir = dir_for(&m.mountpoint, &m.root, &path)
            .with_context(|| format!("resolving cgroupsPath {requested:?}"))?;
        if dir == m.mountpoint {
            bail!(
                "cgroupsPath {requested:?} resolves to the root of {}; refusing",
                m.mountpoint.display()
            );
        }
        hierarchies.push(Hierarchy {
            v2: m.v2,
            controllers: m.controllers.clone(),
            mountpoint: m.mountpoint.clone(),
            root: m.root.clone(),
            path,
            dir,
        });
    }
    if hierarchies.is_empty() {
        bail!("no usable cgroup hierarchy found");
    }
    // The display path: the v2 one if any, else the first v1 one.
    let path = hierarchies
        .iter()
        .find(|h| h.v2)
        .unwrap_or(&hierarchies[0])
        .path
        .clone();
    Ok(Resolved {
        layout,
        path,
        hierarchies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const HYBRID_MOUNTINFO: &str = "\
23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    pub const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/abc
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";
    const V2_MOUNTINFO: &str = "\
25 1 0:23 / /sys rw - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const V2_CGROUP: &str = "0::/user.slice/user-0.slice/session-1.scope\n";
    const V1_COMOUNT: &str = "\
30 25 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/systemd rw shared:5 - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:7 - cgroup cgroup rw,cpu,cpuacct
35 30 0:31 / /sys/fs/cgroup/memory rw shared:8 - cgroup cgroup rw,memory
36 30 0:32 / /sys/fs/cgroup/net_cls,net_prio rw shared:9 - cgroup cgroup rw,net_cls,net_prio
37 30 0:33 / /sys/fs/cgroup/foo rw - cgroup cgroup rw,name=foo
";
    const V1_COMOUNT_CGROUP: &str = "\
12:name=foo:/
5:net_cls,net_prio:/
4:memory:/user.slice
3:cpu,cpuacct:/user.slice
1:name=systemd:/user.slice/session-2.scope
";

    #[test]
    fn parses_hybrid_mounts() {
        let m = parse_mountinfo(HYBRID_MOUNTINFO);
        assert_eq!(m.len(), 10);
        assert_eq!(m[0].controllers, vec!["cpu"]);
        assert_eq!(m[1].controllers, vec!["cpuacct"]);
        assert_eq!(m[8].controllers, vec!["name=systemd"]);
        assert!(m[9].v2);
        assert_eq!(m[9].mountpoint, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(detect_layout(&m).unwrap(), Layout::Hybrid);
    }

    #[test]
    fn parses_comounted_and_options() {
        let m = parse_mountinfo(V1_COMOUNT);
        assert_eq!(m[0].controllers, vec!["name=systemd"]);
        assert_eq!(m[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(m[3].controllers, vec!["net_cls", "net_prio"]);
        assert_eq!(detect_layout(&m).unwrap(), Layout::V1);
        assert!(!joinable_v1(&m[4].controllers));
        assert!(joinable_v1(&m[0].controllers));
    }

    #[test]
    fn detects_unified() {
        let m = parse_mountinfo(V2_MOUNTINFO);
        assert_eq!(detect_layout(&m).unwrap(), Layout::Unified);
        // cgroup2 elsewhere but no v1 controllers: still unified
        let m = parse_mountinfo("1 0 0:1 / /cg rw - cgroup2 cgroup2 rw\n");
        assert_eq!(detect_layout(&m).unwrap(), Layout::Unified);
        assert!(detect_layout(&parse_mountinfo("1 0 0:1 / / rw - ext4 /dev/x rw\n")).is_err());
    }

    #[test]
    fn unescapes_mountpoints() {
        let m = parse_mountinfo("1 0 0:1 / /a\\040b rw - cgroup2 cgroup2 rw\n");
        assert_eq!(m[0].mountpoint, Path::new("/a b"));
    }

    #[test]
    fn parses_proc_cgroup() {
        let p = parse_proc_cgroup(HYBRID_CGROUP);
        assert_eq!(p.len(), 10);
        assert_eq!(p[5].controllers, vec!["memory"]);
        assert_eq!(p[5].path, "/process_api/abc");
        assert!(p[9].controllers.is_empty());
        let p = parse_proc_cgroup("3:cpuacct,cpu:/a:b\n");
        assert_eq!(p[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(p[0].path, "/a:b");
    }

    #[test]
    fn cleans_paths() {
        assert_eq!(clean_path("/../../a/./b//c/.."), "/a/b");
        assert_eq!(clean_path("../../x/y"), "x/y");
        assert_eq!(clean_path("a/../.."), "");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(join_cg("/", "x"), "/x");
        assert_eq!(join_cg("/a/b/", "../c"), "/a/c");
    }

    #[test]
    fn resolves_absolute_hybrid() {
        let r = resolve_from(HYBRID_MOUNTINFO, HYBRID_CGROUP, Some("/bulkhead/c1"), "c1").unwrap();
        assert_eq!(r.layout, Layout::Hybrid);
        assert_eq!(r.path, "/bulkhead/c1");
        assert_eq!(r.hierarchies.len(), 10);
        let mem = r.hierarchies.iter().find(|h| h.has("memory")).unwrap();
        assert_eq!(mem.dir, Path::new("/sys/fs/cgroup/memory/bulkhead/c1"));
        let sd = r
            .hierarchies
            .iter()
            .find(|h| h.has("name=systemd"))
            .unwrap();
        assert_eq!(sd.mount_name(), "systemd");
        let u = r.hierarchies.iter().find(|h| h.v2).unwrap();
        assert_eq!(u.dir, Path::new("/sys/fs/cgroup/unified/bulkhead/c1"));
        assert_eq!(u.mount_name(), "unified");
    }

    #[test]
    fn resolves_relative_under_own_cgroup() {
        let r = resolve_from(HYBRID_MOUNTINFO, HYBRID_CGROUP, Some("x/y"), "c1").unwrap();
        let mem = r.hierarchies.iter().find(|h| h.has("memory")).unwrap();
        assert_eq!(mem.path, "/process_api/abc/x/y");
        assert_eq!(
            mem.dir,
            Path::new("/sys/fs/cgroup/memory/process_api/abc/x/y")
        );
        let cpu = r.hierarchies.iter().find(|h| h.has("cpu")).unwrap();
        assert_eq!(cpu.dir, Path::new("/sys/fs/cgroup/cpu/x/y"));
        // None → "<id>"
        let r = resolve_from(HYBRID_MOUNTINFO, HYBRID_CGROUP, None, "c1").unwrap();
        assert_eq!(r.path, "/c1");
        let mem = r.hierarchies.iter().find(|h| h.has("memory")).unwrap();
        assert_eq!(
            mem.dir,
            Path::new("/sys/fs/cgroup/memory/process_api/abc/c1")
        );
        // ".." cannot escape the caller's cgroup
        let r = resolve_from(HYBRID_MOUNTINFO, HYBRID_CGROUP, Some("../../z"), "c1").unwrap();
        let mem = r.hierarchies.iter().find(|h| h.has("memory")).unwrap();
        assert_eq!(mem.path, "/process_api/abc/z");
    }

    #[test]
    fn resolves_unified() {
        let r = resolve_from(V2_MOUNTINFO, V2_CGROUP, Some("/machine/c1"), "c1").unwrap();
        assert_eq!(r.layout, Layout::Unified);
        assert_eq!(r.hierarchies.len(), 1);
        assert_eq!(r.hierarchies[0].dir, Path::new("/sys/fs/cgroup/machine/c1"));
        assert_eq!(r.hierarchies[0].mount_name(), "");
        // relative (and None → "<id>"): next to the caller's cgroup, as runc's fs2 (podman
        // rootless gives no cgroupsPath; its scope holds conmon, so a child of the scope
        // could get no controller for --memory/--pids-limit)
        let r = resolve_from(V2_MOUNTINFO, V2_CGROUP, None, "c1").unwrap();
        assert_eq!(r.hierarchies[0].dir, Path::new("/sys/fs/cgroup/user.slice/user-0.slice/c1"));
        let r = resolve_from(V2_MOUNTINFO, V2_CGROUP, Some("x/../y"), "c1").unwrap();
        assert_eq!(r.hierarchies[0].path, "/user.slice/user-0.slice/y");
        // a caller in the root cgroup: the root's child
        let r = resolve_from(V2_MOUNTINFO, "0::/\n", None, "c1").unwrap();
        assert_eq!(r.hierarchies[0].dir, Path::new("/sys/fs/cgroup/c1"));
    }

    #[test]
    fn resolves_comounted_v1_and_skips_foreign_named() {
        let r = resolve_from(V1_COMOUNT, V1_COMOUNT_CGROUP, Some("/c"), "c").unwrap();
        assert_eq!(r.layout, Layout::V1);
        let names: Vec<String> = r.hierarchies.iter().map(|h| h.mount_name()).collect();
        assert_eq!(
            names,
            vec!["systemd", "cpu,cpuacct", "memory", "net_cls,net_prio"]
        );
        let r = resolve_from(V1_COMOUNT, V1_COMOUNT_CGROUP, Some("rel"), "c").unwrap();
        assert_eq!(
            r.hierarchies[1].dir,
            Path::new("/sys/fs/cgroup/cpu,cpuacct/user.slice/rel")
        );
        assert_eq!(r.path, "/user.slice/session-2.scope/rel");
    }

    #[test]
    fn bind_mounted_hierarchy_root() {
        // Inside a container: the hierarchy's /docker/abc is mounted at /sys/fs/cgroup.
        let mi = "1 0 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let r = resolve_from(mi, "0::/docker/abc\n", Some("sub"), "c").unwrap();
        assert_eq!(r.hierarchies[0].path, "/docker/abc/sub");
        assert_eq!(r.hierarchies[0].dir, Path::new("/sys/fs/cgroup/sub"));
        let r = resolve_from(mi, "0::/docker/abc\n", Some("/x"), "c").unwrap();
        assert_eq!(r.hierarchies[0].dir, Path::new("/sys/fs/cgroup/x"));
        // own cgroup outside the mounted part
        assert!(resolve_from(mi, "0::/other\n", Some("sub"), "c").is_err());
    }

    #[test]
    fn refuses_root_and_bad_ids() {
        assert!(resolve_from(V2_MOUNTINFO, V2_CGROUP, Some("/"), "c").is_err());
        assert!(resolve_from(V2_MOUNTINFO, V2_CGROUP, Some("/a/.."), "c").is_err());
        assert!(resolve_from(V2_MOUNTINFO, V2_CGROUP, Some(".."), "c").is_err());
        assert!(resolve_from(V2_MOUNTINFO, V2_CGROUP, None, "").is_err());
        assert!(resolve_from(V2_MOUNTINFO, V2_CGROUP, None, "a/b").is_err());
        // empty string behaves as None
        assert!(resolve_from(V2_MOUNTINFO, V2_CGROUP, Some(""), "c").is_ok());
    }

    #[test]
    fn missing_own_cgroup_line_is_an_error() {
        assert!(resolve_from(HYBRID_MOUNTINFO, "0::/\n", Some("rel"), "c").is_err());
        // ...but absolute paths do not need it
        assert!(resolve_from(HYBRID_MOUNTINFO, "0::/\n", Some("/abs"), "c").is_ok());
    }
}
