//! Rootless: the runtime run by an unprivileged user. It maps ids through newuidmap /
//! newgidmap (process::namespaces::write_id_maps), and cgroups it may not create are skipped
//! with a warning (runc does the same without a delegated cgroup).

/// The runtime is not running as root.
pub fn is_rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}
