//! Installing a compiled filter in the calling thread (the container's init or an exec'd
//! process, single-threaded), through the kernel seam so the init's order is testable.

use anyhow::{anyhow, bail, Result};
use std::os::fd::{FromRawFd, OwnedFd};

use super::{CompiledFilter, FLAG_NEW_LISTENER, OPTIONAL_FLAGS};
use crate::kernel::Kernel;

/// What [`install_detailed`] did.
#[derive(Debug)]
pub struct Installed {
    /// The notify fd, when the filter uses `SCMP_ACT_NOTIFY`.
    pub notify_fd: Option<OwnedFd>,
    /// The flags the kernel accepted. Optional flags it refused with EINVAL
    /// (LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV) are missing.
    pub flags: u32,
}

/// Install in the container's init (single-threaded, after fork). Returns the
/// notify fd when the filter uses `SCMP_ACT_NOTIFY`.
pub fn install(k: &impl Kernel, filter: &CompiledFilter) -> Result<Option<OwnedFd>> {
    install_detailed(k, filter).map(|i| i.notify_fd)
}

/// [`install`], also reporting the flags the kernel took.
///
/// On success it allocates nothing: one seccomp(2) call, retried without an
/// optional flag the kernel refuses with EINVAL, or prctl(2) on kernels
/// without seccomp(2) (when no flag is needed).
pub fn install_detailed(k: &impl Kernel, filter: &CompiledFilter) -> Result<Installed> {
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.program.len()).map_err(|_| {
            anyhow!(
                "seccomp: program too long ({} instructions)",
                filter.program.len()
            )
        })?,
        // seccompiler::sock_filter is #[repr(C)] {u16, u8, u8, u32}, like libc::sock_filter.
        filter: filter.program.as_ptr() as *mut libc::sock_filter,
    };
    let mut flags = filter.flags;
    loop {
        let err = match k.seccomp_filter(flags, &prog) {
            Ok(rc) => {
                let notify_fd = if flags & FLAG_NEW_LISTENER != 0 {
                    // SAFETY: with NEW_LISTENER the kernel returns a new fd that we own.
                    Some(unsafe { OwnedFd::from_raw_fd(rc as libc::c_int) })
                } else {
                    None
                };
                return Ok(Installed { notify_fd, flags });
            }
            Err(e) => e,
        };
        match err.raw_os_error() {
            Some(libc::EINVAL) if OPTIONAL_FLAGS.iter().any(|f| flags & f != 0) => {
                let drop = OPTIONAL_FLAGS.iter().find(|&&f| flags & f != 0).copied().unwrap_or(0);
                flags &= !drop;
            }
            Some(libc::ENOSYS) if flags & FLAG_NEW_LISTENER == 0 => {
                // Kernel without seccomp(2) (< 3.17): prctl takes no flags. The kernel copies
                // the program (`prog` outlives the call) and keeps no pointer.
                k.prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER as libc::c_ulong, &prog as *const libc::sock_fprog as libc::c_ulong)
                    .map_err(|e| anyhow!("prctl(PR_SET_SECCOMP): {e}"))?;
                return Ok(Installed { notify_fd: None, flags: 0 });
            }
            _ => bail!("seccomp(SECCOMP_SET_MODE_FILTER, flags {flags:#x}): {err}"),
        }
    }
}
