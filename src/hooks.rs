//! OCI hooks: each runs with the container's state JSON on stdin, its own args and env, and an
//! optional timeout in seconds (the hook is killed and the phase fails when it passes). The
//! caller decides whether a failure fails the operation (create-time hooks; poststart, which
//! also stops the container, as runtime-spec 1.3) or only warns (poststop).

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Hook, Hooks};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Phase {
    pub const ALL: [Phase; 6] = [Phase::Prestart, Phase::CreateRuntime, Phase::CreateContainer, Phase::StartContainer, Phase::Poststart, Phase::Poststop];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Prestart => "prestart",
            Phase::CreateRuntime => "createRuntime",
            Phase::CreateContainer => "createContainer",
            Phase::StartContainer => "startContainer",
            Phase::Poststart => "poststart",
            Phase::Poststop => "poststop",
        }
    }

    /// The hooks of this phase (borrowed: the init checks this on every start).
    pub fn of(self, hooks: Option<&Hooks>) -> &[Hook] {
        let Some(h) = hooks else { return &[] };
        match self {
            Phase::Prestart => h.prestart(),
            Phase::CreateRuntime => h.create_runtime(),
            Phase::CreateContainer => h.create_container(),
            Phase::StartContainer => h.start_container(),
            Phase::Poststart => h.poststart(),
            Phase::Poststop => h.poststop(),
        }
        .as_deref()
        .unwrap_or(&[])
    }
}

/// Where a hook runs and what environment it gets when it names none (`env` absent).
#[derive(Default)]
pub struct Setting<'a> {
    pub dir: Option<&'a std::path::Path>,
    pub default_env: &'a [String],
}

/// Runs the hooks of `phase` in order; the first failure stops the rest.
pub fn run(phase: Phase, hooks: Option<&Hooks>, state_json: &str) -> Result<()> {
    run_in(phase, hooks, state_json, &Setting::default())
}

/// [`run`] in a given working directory and default environment: createContainer hooks run
/// as runc runs them, in the rootfs (before pivot_root, so relative paths land in the
/// container's root); createContainer and startContainer hooks without an `env` of their own
/// get process.env (runc's SetDefaultEnv, a de facto behaviour hooks rely on).
pub fn run_in(phase: Phase, hooks: Option<&Hooks>, state_json: &str, setting: &Setting) -> Result<()> {
    for (i, h) in phase.of(hooks).iter().enumerate() {
        run_one(h, state_json, setting).with_context(|| failed(phase, i, h))?;
    }
    Ok(())
}

/// runc's wording ("error running <phase> hook #<i>"), which scripts match, plus the path.
fn failed(phase: Phase, i: usize, h: &Hook) -> String {
    format!("error running {} hook #{i} ({})", phase.name(), h.path().display())
}

/// Runs every hook of `phase`, logging failures as warnings: for poststop the spec says
/// "the remaining hooks and lifecycle continue as if the hook had succeeded".
pub fn run_warn(phase: Phase, hooks: Option<&Hooks>, state_json: &str) {
    for (i, h) in phase.of(hooks).iter().enumerate() {
        if let Err(e) = run_one(h, state_json, &Setting::default()) {
            crate::warn!("{}: {e:#}", failed(phase, i, h));
        }
    }
}

/// An anonymous in-memory file: the hook's stdin (the state) and its captured output. Files,
/// unlike pipes, never block a writer, so neither a hook that ignores its stdin nor one that
/// prints a lot can stall us past the timeout.
fn memfd(name: &std::ffi::CStr) -> Result<File> {
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create for a hook's stdio");
    }
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn run_one(h: &Hook, state_json: &str, setting: &Setting) -> Result<()> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    if let Some(dir) = setting.dir {
        cmd.current_dir(dir);
    }
    // As runc: an empty env is no env (Go's len(Env) == 0).
    for kv in h.env().as_deref().filter(|e| !e.is_empty()).unwrap_or(setting.default_env) {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut input = memfd(c"hook-state")?;
    input.write_all(state_json.as_bytes()).context("writing the state for a hook")?;
    input.seek(SeekFrom::Start(0))?;
    let mut output = memfd(c"hook-output")?;
    cmd.stdin(Stdio::from(input)).stdout(Stdio::from(output.try_clone()?)).stderr(Stdio::from(output.try_clone()?));
    let mut child = cmd.spawn().context("starting hook")?;
    drop(cmd);
    let timeout = h.timeout().filter(|t| *t > 0).map(|t| Duration::from_secs(t as u64));
    if !wait_exit(&mut child, timeout)? {
        let _ = child.kill();
        let _ = child.wait();
        bail!("timed out after {}s", h.timeout().unwrap_or(0));
    }
    let status = child.wait().context("waiting for hook")?;
    if !status.success() {
        let mut out = Vec::new();
        output.seek(SeekFrom::Start(0))?;
        let _ = (&mut output).take(4096).read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        bail!("{status}{}", if out.trim().is_empty() { String::new() } else { format!(": {}", out.trim()) });
    }
    Ok(())
}

/// Waits for the hook to exit (true) or for the timeout to pass (false), sleeping in poll(2)
/// on a pidfd rather than polling the process.
fn wait_exit(child: &mut std::process::Child, timeout: Option<Duration>) -> Result<bool> {
    let deadline = timeout.map(|t| Instant::now() + t);
    let pidfd = crate::sys::pidfd_open(child.id() as i32).ok();
    loop {
        if child.try_wait().context("waiting for hook")?.is_some() {
            return Ok(true);
        }
        let left = match deadline {
            Some(d) if Instant::now() >= d => return Ok(false),
            Some(d) => (d - Instant::now()).as_millis().min(i32::MAX as u128) as i32,
            None => -1,
        };
        match &pidfd {
            Some(fd) => {
                let mut p = libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                unsafe { libc::poll(&mut p, 1, left) };
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(script: &str, timeout: Option<i64>) -> Hook {
        let mut h = Hook::default();
        h.set_path("/bin/sh".into());
        h.set_args(Some(vec!["sh".into(), "-c".into(), script.into()]));
        h.set_timeout(timeout);
        h
    }

    #[test]
    fn big_output_and_ignored_big_stdin_do_not_block() {
        // Over a pipe's 64 KiB each way: with pipes this hung until the timeout (or forever).
        let big_state = "x".repeat(200_000);
        let h = hook("head -c 200000 /dev/zero | tr '\\0' y; echo failing >&2; exit 3", Some(30));
        let start = Instant::now();
        let e = format!("{:#}", run_one(&h, &big_state, &Setting::default()).unwrap_err());
        assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());
        assert!(e.contains("exit status: 3"), "{e}");
        run_one(&hook("exit 0", Some(30)), &big_state, &Setting::default()).unwrap();
    }

    #[test]
    fn default_env_only_without_own_env() {
        let default = vec!["FROM_PROCESS=1".to_string()];
        let setting = Setting { dir: None, default_env: &default };
        run_one(&hook("[ \"$FROM_PROCESS\" = 1 ]", None), "{}", &setting).unwrap();
        let mut own = hook("[ -z \"$FROM_PROCESS\" ] && [ \"$MINE\" = 2 ]", None);
        own.set_env(Some(vec!["MINE=2".into()]));
        run_one(&own, "{}", &setting).unwrap();
    }

    #[test]
    fn state_arrives_on_stdin_and_timeout_kills() {
        run_one(&hook("read -r s; [ \"$s\" = '{\"id\":\"x\"}' ]", None), "{\"id\":\"x\"}\n", &Setting::default()).unwrap();
        let e = format!("{:#}", run_one(&hook("sleep 30", Some(1)), "{}", &Setting::default()).unwrap_err());
        assert!(e.contains("timed out after 1s"), "{e}");
    }
}
