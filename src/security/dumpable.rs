//! CVE-2019-5736: the container must never reach the runtime binary through /proc/<pid>/exe.
//!
//! The container's init is a fork of the runtime until it execs the user's program, and it
//! is visible in the container's pid namespace from the clone on (another container sharing
//! the pid namespace, or a later `exec`, can see it). Its /proc/<pid>/exe is the host's
//! bulkhead binary; a process that opens it can, once the init has exec'd (no more ETXTBSY),
//! reopen the fd for writing through /proc/self/fd/N and replace the runtime.
//!
//! **Choice: non-dumpable, not a memfd copy.** The runtime calls PR_SET_DUMPABLE 0 on itself
//! *before* it forks/clones anything that enters the container, so the child is non-dumpable
//! from its first instruction (the mm flag is inherited by fork; there is no window between
//! the clone and a prctl in the child). For a non-dumpable process every ptrace-checked
//! /proc entry (exe, fd/, map_files/, mem, environ, cwd, root) needs CAP_SYS_PTRACE in the
//! init's user namespace, which containers do not get by default. execve of the user's
//! program resets dumpability (the container's program is dumpable as usual), and from then on
//! /proc/<pid>/exe is the container's own binary.
//!
//! A sealed memfd re-exec (runc 1.1) also defends a container that *has* CAP_SYS_PTRACE, but
//! costs a copy of the whole binary on every invocation (the debug build is ~55 MB, release
//! a few MB) and a second exec. The non-dumpable route costs one prctl (< 1 µs). A container
//! granted CAP_SYS_PTRACE over the host user namespace is not isolated anyway (it can ptrace
//! the init and do far more than overwrite the binary).
//!
//! Measured with `tests/security.rs::cve_2019_5736_runtime_exe_not_writable_from_container`:
//! without the prctl the attacking container writes into (a decoy copy of) the runtime binary.

use anyhow::Result;

/// Makes the calling process (and everything it forks from now on) non-dumpable.
pub fn set_non_dumpable() -> Result<()> {
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).map_err(|e| anyhow::anyhow!("prctl(PR_SET_DUMPABLE, 0): {e}"));
    }
    Ok(())
}

/// Is the calling process dumpable? (for tests and assertions)
pub fn is_dumpable() -> bool {
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fork_inherits_non_dumpable() {
        // In a forked child, so the test process itself stays dumpable.
        match unsafe { libc::fork() } {
            0 => {
                let ok = super::set_non_dumpable().is_ok() && !super::is_dumpable();
                let inherited = match unsafe { libc::fork() } {
                    0 => unsafe { libc::_exit(if super::is_dumpable() { 1 } else { 0 }) },
                    p => {
                        let mut st = 0;
                        unsafe { libc::waitpid(p, &mut st, 0) };
                        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0
                    }
                };
                unsafe { libc::_exit(if ok && inherited { 0 } else { 1 }) }
            }
            p => {
                let mut st = 0;
                unsafe { libc::waitpid(p, &mut st, 0) };
                assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0);
            }
        }
    }
}
