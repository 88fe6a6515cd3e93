//! `main`, the dispatch and one file per command. Commands orchestrate: they load state and
//! spec, call process/, rootfs/, cgroups/ and hooks, and map results to exit codes. The few
//! direct kernel calls here are about the runtime's own files and fds (the fifo, pid files, fd
//! reservation).
//!
//! The uniform error contract: one line `bulkhead: <what failed>: <why>` on stderr, the same as
//! a JSON/text record in `--log`, and exit status 1.

mod create;
mod delete;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod resume;
mod ps;
mod events;
mod update;
mod run;
mod spec;
mod start;
mod state;

use anyhow::Result;

use crate::cli::{Cmd, Global};

/// The `bulkhead` binary: parse the command line, open the log, run the command, and turn an
/// error into the one-line contract above.
pub fn main() -> i32 {
    crate::trace::begin();
    reserve_fds(3);
    let cli = match crate::cli::parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    if cli.version {
        print!("{}", version_text());
        return 0;
    }
    if let Some(cmd) = &cli.cmd {
        // Before the log file or anything else of ours is opened.
        reserve_fds(3 + preserved_fd_count(cmd));
    }
    let format = if cli.global.log_format == "json" { crate::log::Format::Json } else { crate::log::Format::Text };
    if let Err(e) = crate::log::init(cli.global.log.as_deref(), format, cli.global.debug) {
        eprintln!("bulkhead: {e:#}");
        return 1;
    }
    crate::trace::mark("args");
    let Some(cmd) = cli.cmd else {
        eprintln!("bulkhead: no command given (try --help)");
        return 1;
    };
    match rootless_setup(&cli.global).and_then(|()| dispatch(&cli.global, cmd)) {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            crate::log::log(crate::log::Level::Error, &msg);
            eprintln!("bulkhead: {msg}");
            1
        }
    }
}

/// The global `--rootless` (runc's true/false/auto), and the XDG state root made as runc makes it.
fn rootless_setup(g: &Global) -> Result<()> {
    crate::security::rootless::set_flag(crate::security::rootless::parse_bool_or_auto(g.rootless.as_deref())?);
    crate::security::rootless::prepare_xdg_root(&g.root)
}

/// `--version` / `-v` shaped as runc's: `NAME version X`, then `key: value` lines.
fn version_text() -> String {
    let mut t = format!("bulkhead version {}\n", env!("CARGO_PKG_VERSION"));
    if let Some(commit) = option_env!("BULKHEAD_COMMIT") {
        t.push_str(&format!("commit: {commit}\n"));
    }
    t.push_str(&format!("spec: {}\n", crate::spec::OCI_VERSION));
    t
}

pub fn dispatch(g: &Global, cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::Create { opts, id } => own_frame(|| create::run(g, &id, &opts)),
        Cmd::Start { id } => own_frame(|| start::run(g, &id)),
        Cmd::Run { opts, detach, keep, id, .. } => own_frame(|| run::run(g, &id, &opts, detach, keep)),
        Cmd::Exec(a) => own_frame(|| exec::run(g, &a)),
        Cmd::State { id } => own_frame(|| state::run(g, &id)),
        Cmd::Kill { all, id, signal } => own_frame(|| kill::run(g, &id, &signal, all)),
        Cmd::Delete { force, ids } => own_frame(|| delete::run(g, &ids, force)),
        Cmd::List { format, quiet } => own_frame(|| list::run(g, &format, quiet)),
        Cmd::Spec { bundle, rootless } => own_frame(|| spec::run(&bundle, rootless)),
        Cmd::Features => own_frame(features::run),
        Cmd::Pause { id } => own_frame(|| pause::run(g, &id)),
        Cmd::Resume { id } => own_frame(|| resume::run(g, &id)),
        Cmd::Ps { format, id, ps_args } => own_frame(|| ps::run(g, &id, &format, &ps_args)),
        Cmd::Update { opts, id } => own_frame(|| update::run(g, &id, &opts)),
        Cmd::Events { interval, stats, id } => own_frame(|| events::run(g, &id, &interval, stats)),
    }
}

/// One command in a frame of its own. Inlined into `dispatch`, the commands shared its frame
/// (7 KiB, the sum of what several of them keep on the stack), which every command then
/// carried below it; each new stack page is a page fault (~2.3 µs in a VM).
#[inline(never)]
fn own_frame<R>(command: impl FnOnce() -> R) -> R {
    command()
}

/// fds 0..`upto` must be occupied before we open anything: 0-2 become the container's stdio
/// and 3.. the preserved fds (`--preserve-fds`, LISTEN_FDS) handed to the container as they
/// are. Any the caller left closed is parked on /dev/null, so none of ours (log file, lock,
/// state dir, sockets) can take that number and reach the container (CVE-2024-21626 class).
pub fn reserve_fds(upto: u32) {
    for fd in 0..upto.min(1 << 20) as i32 {
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
            let n = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if n >= 0 && n != fd {
                unsafe {
                    libc::dup2(n, fd);
                    libc::close(n);
                }
            }
        }
    }
}

/// How many fds a command hands on to the container beyond stdio.
pub fn preserved_fd_count(cmd: &Cmd) -> u32 {
    match cmd {
        Cmd::Create { opts, .. } | Cmd::Run { opts, .. } => opts.preserve_fds.saturating_add(listen_fds()),
        Cmd::Exec(a) => a.preserve_fds,
        _ => 0,
    }
}

/// systemd socket activation: LISTEN_FDS fds from 3 on, meant for us only when LISTEN_PID
/// names this process (as sd_listen_fds checks).
pub fn listen_fds() -> u32 {
    let for_us = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    if !for_us {
        return 0;
    }
    std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// Parses a signal as runc does: a number (0 probes: nothing is sent, only the checks are
/// made), `SIGTERM` or `TERM` (any case).
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if !(0..=64).contains(&n) {
            anyhow::bail!("invalid signal {s:?}: numbers go from 0 to 64");
        }
        return Ok(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let full = format!("SIG{name}");
    full.parse::<nix::sys::signal::Signal>().map(|s| s as i32).map_err(|_| anyhow::anyhow!("invalid signal {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_forms() {
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("SIGTERM").unwrap(), 15);
        assert_eq!(parse_signal("TERM").unwrap(), 15);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("SigUsr1").unwrap(), libc::SIGUSR1);
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert!(parse_signal("-1").is_err());
        assert!(parse_signal("65").is_err());
    }
}
