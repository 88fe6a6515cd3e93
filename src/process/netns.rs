//! The container's new network namespace, made ahead on a short-lived thread.
//!
//! Making a network namespace is the costliest part of cloning the init: every pernet
//! subsystem sets itself up, ~470 us of kernel time on the 2-core build host (the clone with
//! the other four namespaces takes ~110 us). `create` starts a thread that makes it with
//! unshare(CLONE_NEWNET) as soon as the config is validated; on another CPU it is ready by the
//! time the state dir and the cgroups are. The runtime then enters it just around the init's
//! clone (setns there, clone without CLONE_NEWNET, setns back), so the init is born in it as
//! if the clone had made it, and the runtime's own work (hooks, sockets) stays in the host's.
//!
//! Only when the runtime is the host's root and the config asks for no user namespace: a
//! network namespace made with the container's user namespace (new or joined) must belong to
//! it, so the clone makes it; and root in a user namespace (podman rootless, `unshare -r`) may
//! enter the new one but not come back to its own when that belongs to the host (EPERM: it
//! lacks CAP_SYS_ADMIN there). If the thread cannot make it (ENOSPC, ...), the clone does,
//! and reports the error as it did.

use nix::sched::CloneFlags;
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;

use super::namespaces::Plan;

/// The thread making the namespace; joined (by [`Ahead::take`] or on drop) before anything
/// is forked: the runtime forks only while single-threaded.
pub struct Ahead {
    thread: Option<JoinHandle<std::io::Result<OwnedFd>>>,
    /// Every CPU we may use, when the thread is pinned to the others.
    pinned: Option<libc::cpu_set_t>,
}

impl Ahead {
    /// Starts the thread if the config asks for a new network namespace that may be made ahead.
    pub fn start(plan: &Plan) -> Ahead {
        let none = Ahead { thread: None, pinned: None };
        let facts = crate::security::rootless::facts();
        if !plan.clone_flags.contains(CloneFlags::CLONE_NEWNET) || plan.user || plan.needs_joiner() || facts.in_userns || facts.euid != 0 {
            return none;
        }
        let Some((all, others)) = cpus() else { return none };
        // A small stack: the thread makes two system calls.
        let Ok(thread) = std::thread::Builder::new().stack_size(64 * 1024).spawn(make) else { return none };
        let pinned = set_affinity(&thread, &others).then_some(all);
        Ahead { thread: Some(thread), pinned }
    }

    /// The namespace, once made; None if none was started or it could not be made.
    pub fn take(mut self) -> Option<OwnedFd> {
        let thread = self.thread.take()?;
        // Still queued on a busy CPU (all of them are, under load) while we are about to wait
        // on ours: let it run anywhere, here too.
        if let Some(all) = self.pinned.take()
            && !thread.is_finished()
        {
            set_affinity(&thread, &all);
        }
        let made = thread.join().ok()?;
        match made {
            Ok(fd) => Some(fd),
            Err(e) => {
                crate::debug!("network namespace made ahead: {e}; the clone makes it");
                None
            }
        }
    }
}

impl Drop for Ahead {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// (the CPUs we may run on, those of them other than the one we are on); None with fewer
/// than two, or when the machine has no idle CPU now: then a thread gains nothing and costs
/// its making (under a parallel load of creates on this 2-core host: ~6% fewer per second).
fn cpus() -> Option<(libc::cpu_set_t, libc::cpu_set_t)> {
    // SAFETY: a zeroed cpu_set_t is an empty set; the calls get its size.
    let mut all: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut all) } != 0 {
        return None;
    }
    let n = unsafe { libc::CPU_COUNT(&all) } as u32;
    if n < 2 || runnable().is_none_or(|r| r > n) {
        return None;
    }
    let mut others = all;
    let cpu = unsafe { libc::sched_getcpu() };
    if cpu >= 0 {
        unsafe { libc::CPU_CLR(cpu as usize, &mut others) };
    }
    Some((all, others))
}

/// Tasks runnable on the machine now, us included: the first number of /proc/loadavg's
/// fourth field ("0.31 0.42 0.40 2/345 6789").
fn runnable() -> Option<u32> {
    runnable_in(&crate::sys::read_pseudo("/proc/loadavg").ok()?)
}

fn runnable_in(loadavg: &str) -> Option<u32> {
    loadavg.split(' ').nth(3)?.split('/').next()?.parse().ok()
}

/// The scheduler queues a new thread on its creator's CPU, where it waits until the creator
/// blocks (measured here: it started ~240 us late, after the cgroup work it was to overlap).
/// Pinned to the other CPUs it starts at once.
fn set_affinity<T>(thread: &JoinHandle<T>, cpus: &libc::cpu_set_t) -> bool {
    use std::os::unix::thread::JoinHandleExt;
    // musl and glibc both have it; the libc crate declares it for neither on Linux.
    unsafe extern "C" {
        fn pthread_setaffinity_np(thread: libc::pthread_t, size: libc::size_t, set: *const libc::cpu_set_t) -> libc::c_int;
    }
    // SAFETY: a live (not yet joined) thread's handle, and a set of the size given.
    unsafe { pthread_setaffinity_np(thread.as_pthread_t() as libc::pthread_t, std::mem::size_of::<libc::cpu_set_t>(), cpus) == 0 }
}

/// On the thread: a network namespace of its own, kept by a handle on it.
fn make() -> std::io::Result<OwnedFd> {
    nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
    Ok(std::fs::File::open("/proc/thread-self/ns/net")?.into())
}

/// The runtime's own network namespace while it stands in the container's for the clone;
/// dropping it goes back (in the parent). Failing to come back is fatal: nothing else the
/// runtime does (hooks, netlink, sockets) may happen in the container's namespace.
pub struct Entered(Option<OwnedFd>);

/// Enters `ns` for the init's clone. Err before anything changed: the caller then clones
/// with CLONE_NEWNET.
pub fn enter(ns: &OwnedFd) -> std::io::Result<Entered> {
    let own: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")?.into();
    nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(Entered(Some(own)))
}

impl Entered {
    /// In the cloned child, which stays: only the handle on the runtime's namespace goes.
    pub fn stay(mut self) {
        self.0.take();
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(own) = self.0.take()
            && let Err(e) = nix::sched::setns(own.as_fd(), CloneFlags::CLONE_NEWNET)
        {
            eprintln!("bulkhead: setns back to the runtime's network namespace: {e}");
            unsafe { libc::_exit(1) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runnable_tasks_from_loadavg() {
        assert_eq!(runnable_in("0.31 0.42 0.40 2/345 6789\n"), Some(2));
        assert_eq!(runnable_in("1.00 1.00 1.00 17/1203 1\n"), Some(17));
        assert_eq!(runnable_in("garbage"), None);
    }

    fn has_cap_sys_admin() -> bool {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let eff = status.lines().find_map(|l| l.strip_prefix("CapEff:")).unwrap();
        const CAP_SYS_ADMIN: u32 = 21;
        u64::from_str_radix(eff.trim(), 16).unwrap() & (1 << CAP_SYS_ADMIN) != 0
    }

    /// A spec with a new network namespace and no user namespace gets one made ahead (when a
    /// CPU is free: else none, and the clone makes it); with a user namespace, never.
    #[test]
    fn made_ahead_only_without_a_user_namespace() {
        use oci_spec::runtime::{LinuxNamespaceBuilder, LinuxNamespaceType};
        let mut spec = oci_spec::runtime::Spec::default();
        let linux = spec.linux_mut().as_mut().unwrap();
        let mut nss: Vec<_> = linux.namespaces().clone().unwrap_or_default().into_iter().filter(|n| n.typ() != LinuxNamespaceType::User).collect();
        assert!(nss.iter().any(|n| n.typ() == LinuxNamespaceType::Network));
        linux.set_namespaces(Some(nss.clone()));
        let mut with_user = spec.clone();
        nss.push(LinuxNamespaceBuilder::default().typ(LinuxNamespaceType::User).build().unwrap());
        with_user.linux_mut().as_mut().unwrap().set_namespaces(Some(nss));
        assert!(Ahead::start(&Plan::from_spec(&with_user)).thread.is_none(), "made ahead with a user namespace");
        let own = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let ahead = Ahead::start(&Plan::from_spec(&spec));
        let started = ahead.thread.is_some();
        match ahead.take() {
            Some(fd) => {
                let made = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd))).unwrap();
                assert_ne!(made, own, "not a new network namespace");
            }
            // With CAP_SYS_ADMIN (bit 21) a thread that ran and made none is a bug; without
            // it (root in an unprivileged container) unshare fails and the clone reports it.
            None => assert!(!started || !has_cap_sys_admin(), "the thread ran but handed over no network namespace"),
        }
        if !started {
            eprintln!("no free CPU, or not the host's root: not made ahead (the clone makes it)");
        }
        assert_eq!(std::fs::read_link("/proc/thread-self/ns/net").unwrap(), own, "the test thread moved");
    }
}
