//! Per-bundle network namespaces, kept alive by a bind mount under `<store>/netns/NAME`
//! (config.json joins them by path), and running code inside one.

use super::netlink::{self, Netlink};
use anyhow::{anyhow, Context, Result};
use std::fs;
use std::path::Path;

/// Runs `f` on a thread that has joined the network namespace at `path`.
pub fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("joining {}", path.display()))?;
            f()
        })
        .join()
        .map_err(|_| anyhow!("network namespace thread panicked"))?
    })
}

/// A new network namespace kept alive by a bind mount at `path`, with `lo` up.
pub fn create_netns(path: &Path) -> Result<()> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d)?;
    }
    fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    std::thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare(CLONE_NEWNET)")?;
            nix::mount::mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("bind-mounting the network namespace on {}", path.display()))?;
            let mut nl = Netlink::open()?;
            nl.set_up(netlink::index_of("lo")?).context("setting lo up")?;
            // Unprivileged ICMP echo sockets, as other engines allow, so ping works without
            // CAP_NET_RAW (a per-namespace sysctl: set here, not by the runtime).
            fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
                .context("setting net.ipv4.ping_group_range")?;
            Ok(())
        })
        .join()
        .map_err(|_| anyhow!("network namespace thread panicked"))?
    })
}

pub fn remove_netns(path: &Path) -> Result<()> {
    loop {
        match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => return Err(e).with_context(|| format!("unmounting {}", path.display())),
        }
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| format!("removing {}", path.display())),
        _ => Ok(()),
    }
}

