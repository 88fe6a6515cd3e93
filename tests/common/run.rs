//! Running commands with a deadline: [`exec`] and its [`Out`], plus runtime invocations
//! without `--root`.

use super::{CMD_TIMEOUT, runtime};
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Result of one command: exit code (None if killed by a signal or timed out),
/// captured stdout and stderr.
#[derive(Debug, Clone)]
pub struct Out {
    pub cmd: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success:\n{self}");
        self
    }

    /// The command ran to completion (no timeout, no crash by signal) and exited non-zero.
    #[track_caller]
    pub fn assert_fail(&self) -> &Self {
        assert!(
            matches!(self.code, Some(c) if c != 0),
            "expected a clean non-zero exit:\n{self}"
        );
        self
    }

    /// Non-zero exit and a message on stderr.
    #[track_caller]
    pub fn assert_fail_msg(&self) -> &Self {
        self.assert_fail();
        assert!(
            !self.stderr.trim().is_empty(),
            "expected an error message on stderr:\n{self}"
        );
        self
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmd)?;
        if self.timed_out {
            writeln!(f, "=> TIMED OUT (killed)")?;
        } else if let Some(s) = self.signal {
            writeln!(f, "=> killed by signal {s}")?;
        } else {
            writeln!(f, "=> exit code {:?}", self.code)?;
        }
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            s.push_str(&format!(" {a:?}"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    if s.len() > 600 {
        s.truncate(600);
        s.push_str("...");
    }
    s
}

/// Wait for `child` at most `timeout`; None if it is still running then.
pub fn wait_deadline(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut nap = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Some(st),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

fn read_back(mut f: File) -> String {
    let mut buf = Vec::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Run `cmd` with stdin null and stdout/stderr captured in anonymous temp files
/// (files, not pipes: a detached container inherits them and may keep them open).
/// The command gets its own process group, killed as a whole on timeout.
/// Never panics, so it is usable from Drop.
pub fn exec(cmd: &mut Command, timeout: Duration) -> Out {
    let desc = describe(cmd);
    let fail = |msg: String| Out {
        cmd: desc.clone(),
        code: None,
        signal: None,
        timed_out: false,
        stdout: String::new(),
        stderr: msg,
    };
    let (so, se) = match (tempfile::tempfile(), tempfile::tempfile()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return fail("cannot create capture files".into()),
    };
    let (so2, se2) = match (so.try_clone(), se.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return fail("cannot clone capture files".into()),
    };
    cmd.stdin(Stdio::null())
        .stdout(so2)
        .stderr(se2)
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("spawn failed: {e}")),
    };
    let status = wait_deadline(&mut child, timeout);
    let timed_out = status.is_none();
    if timed_out {
        // SAFETY: plain kill(2) on the process group we created for this child.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.kill();
        let _ = child.wait();
    }
    Out {
        cmd: desc,
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out,
        stdout: read_back(so),
        stderr: read_back(se),
    }
}

/// A Command for the runtime under test (no `--root`).
pub fn rt_raw() -> Command {
    Command::new(runtime())
}

/// Run the runtime with exactly these arguments.
pub fn rt_exec(args: &[&str]) -> Out {
    exec(rt_raw().args(args), CMD_TIMEOUT)
}
