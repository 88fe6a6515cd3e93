//! OCI hooks: each runs with the container's state JSON on stdin, its own args and env, and an
//! optional timeout in seconds. The caller decides whether a failure fails the operation
//! (create-time hooks) or only warns (poststart, poststop).

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Hook, Hooks};
use std::io::{Read, Write};
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

    pub fn of(self, hooks: Option<&Hooks>) -> Vec<Hook> {
        let Some(h) = hooks else { return Vec::new() };
        match self {
            Phase::Prestart => h.prestart(),
            Phase::CreateRuntime => h.create_runtime(),
            Phase::CreateContainer => h.create_container(),
            Phase::StartContainer => h.start_container(),
            Phase::Poststart => h.poststart(),
            Phase::Poststop => h.poststop(),
        }
        .clone()
        .unwrap_or_default()
    }
}

/// Runs the hooks of `phase` in order; the first failure stops the rest.
pub fn run(phase: Phase, hooks: Option<&Hooks>, state_json: &str) -> Result<()> {
    for (i, h) in phase.of(hooks).iter().enumerate() {
        run_one(h, state_json).with_context(|| format!("hooks.{}[{i}] ({})", phase.name(), h.path().display()))?;
    }
    Ok(())
}

/// Runs every hook of `phase`, logging failures as warnings: for poststart and poststop the
/// spec says "the remaining hooks and lifecycle continue as if the hook had succeeded".
pub fn run_warn(phase: Phase, hooks: Option<&Hooks>, state_json: &str) {
    for (i, h) in phase.of(hooks).iter().enumerate() {
        if let Err(e) = run_one(h, state_json) {
            crate::warn!("hooks.{}[{i}] ({}): {e:#}", phase.name(), h.path().display());
        }
    }
}

fn run_one(h: &Hook, state_json: &str) -> Result<()> {
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().context("starting hook")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that exits without reading its stdin is fine (EPIPE is ignored).
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let deadline = h.timeout().filter(|t| *t > 0).map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        if let Some(s) = child.try_wait().context("waiting for hook")? {
            break s;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {}s", h.timeout().unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if !status.success() {
        let mut out = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut out);
        }
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        bail!("{status}{}", if out.trim().is_empty() { String::new() } else { format!(": {}", out.trim()) });
    }
    Ok(())
}
