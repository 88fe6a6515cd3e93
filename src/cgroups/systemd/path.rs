//! cgroupsPath under the systemd driver: `slice:prefix:name` → the transient unit and where
//! systemd puts its cgroup (runc's specconv + `getUnitName` + `ExpandSlice`).

use anyhow::{Result, bail};

/// The unit a container's cgroup is, and its cgroup below the manager's root.
#[derive(Clone, Debug, PartialEq)]
pub struct UnitName {
    /// The parent slice ("system.slice" by default, "user.slice" for a user's manager).
    pub slice: String,
    /// `prefix-name.scope`, or `name` when it ends in ".slice" (the container is a slice).
    pub unit: String,
    /// The unit's cgroup relative to the manager's root, e.g. "/system.slice/bulkhead-x.scope".
    pub cgroup: String,
}

impl UnitName {
    pub fn is_slice(&self) -> bool {
        self.unit.ends_with(".slice")
    }
}

/// The prefix of the scope when config.json has no cgroupsPath (runc's is "runc").
pub const DEFAULT_PREFIX: &str = "bulkhead";

/// Parse cgroupsPath (None or "" → `<default slice>:bulkhead:<id>`). `user`: a user's manager,
/// whose default slice is user.slice.
pub fn parse(cgroups_path: Option<&str>, id: &str, user: bool) -> Result<UnitName> {
    let default_slice = if user { "user.slice" } else { "system.slice" };
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => (default_slice, DEFAULT_PREFIX, id),
        Some(p) => {
            let parts: Vec<&str> = p.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                bail!("{p:?}: expected \"slice:prefix:name\" for the systemd cgroup driver (e.g. \"system.slice:docker:1234\")");
            };
            if name.is_empty() || name.contains('/') || prefix.contains('/') {
                bail!("{p:?}: the prefix and name of \"slice:prefix:name\" must be non-empty unit name parts without '/'");
            }
            (if slice.is_empty() { default_slice } else { slice }, prefix, name)
        }
    };
    let slice_path = expand_slice(slice).map_err(|e| anyhow::anyhow!("{:?}: {e}", cgroups_path.unwrap_or(slice)))?;
    let unit = if name.ends_with(".slice") { name.to_string() } else { format!("{prefix}-{name}.scope") };
    // A slice's place follows from its own name (systemd ignores Wants= for that); a scope
    // lives in its parent slice.
    let cgroup = if name.ends_with(".slice") {
        expand_slice(name).map_err(|e| anyhow::anyhow!("{:?}: {e}", cgroups_path.unwrap_or(name)))?
    } else {
        join(&slice_path, &unit)
    };
    Ok(UnitName { slice: slice.to_string(), unit, cgroup })
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") }
}

/// systemd's slice naming: `a-b-c.slice` is /a.slice/a-b.slice/a-b-c.slice, `-.slice` is the
/// root; no empty components, no '/'.
pub fn expand_slice(slice: &str) -> Result<String> {
    let invalid = || anyhow::anyhow!("invalid slice name {slice:?}");
    let stem = slice.strip_suffix(".slice").filter(|s| !s.is_empty()).ok_or_else(invalid)?;
    if slice.contains('/') {
        return Err(invalid());
    }
    if stem == "-" {
        return Ok("/".into());
    }
    let mut path = String::new();
    let mut prefix = String::new();
    for c in stem.split('-') {
        if c.is_empty() {
            return Err(invalid());
        }
        path += &format!("/{prefix}{c}.slice");
        prefix += &format!("{c}-");
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_slices_as_systemd() {
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(expand_slice("test-a-b.slice").unwrap(), "/test.slice/test-a.slice/test-a-b.slice");
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        for bad in ["", ".slice", "test--a.slice", "-test.slice", "test-.slice", "a/b.slice", "system", "x.scope"] {
            let e = expand_slice(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_slice_prefix_name() {
        let u = parse(Some("system.slice:docker:1234"), "id", false).unwrap();
        assert_eq!(u, UnitName { slice: "system.slice".into(), unit: "docker-1234.scope".into(), cgroup: "/system.slice/docker-1234.scope".into() });
        let u = parse(Some("kubepods-besteffort-pod12.slice:cri-containerd:abc"), "id", false).unwrap();
        assert_eq!(u.cgroup, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-abc.scope");
        assert_eq!(u.unit, "cri-containerd-abc.scope");
        // Empty slice: the default one; a name ending in .slice makes a slice, placed by its name.
        assert_eq!(parse(Some(":libpod:x"), "id", false).unwrap().cgroup, "/system.slice/libpod-x.scope");
        assert_eq!(parse(Some(":libpod:x"), "id", true).unwrap().cgroup, "/user.slice/libpod-x.scope");
        let s = parse(Some("machine.slice:p:machine-box.slice"), "id", false).unwrap();
        assert!(s.is_slice());
        assert_eq!((s.unit.as_str(), s.cgroup.as_str()), ("machine-box.slice", "/machine.slice/machine-box.slice"));
        assert_eq!(parse(Some("-.slice:p:n"), "id", false).unwrap().cgroup, "/p-n.scope");
    }

    #[test]
    fn no_cgroups_path_is_the_default_scope() {
        for p in [None, Some("")] {
            let u = parse(p, "c1", false).unwrap();
            assert_eq!((u.slice.as_str(), u.unit.as_str()), ("system.slice", "bulkhead-c1.scope"));
        }
    }

    #[test]
    fn errors_name_the_path() {
        for bad in ["/sys/fs/cgroup/x", "a:b", "a:b:c:d", "system.slice:p:", "system.slice:p:a/b", "sys-.slice:p:n", "notaslice:p:n"] {
            let e = format!("{:#}", parse(Some(bad), "id", false).unwrap_err());
            assert!(e.contains(&format!("{bad:?}")), "{bad}: {e}");
        }
    }
}
