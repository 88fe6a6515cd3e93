//! `events`: JSON lines as runc prints them: `{"type":"stats","id":ID,"data":{...}}` every
//! --interval, `{"type":"oom","id":ID}` when the cgroup sees an OOM kill; exits when the
//! container stops. `--stats` prints one stats event and exits.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

use crate::cgroups::Manager;
use crate::cli::Global;
use crate::state::{process_alive, Root, Status};

pub fn run(g: &Global, id: &str, interval: &str, stats_once: bool) -> Result<i32> {
    let interval = parse_duration(interval).context("--interval")?;
    let c = Root::new(&g.root).open_unlocked(id)?;
    let s = c.state().clone();
    if s.status == Status::Stopped {
        bail!("container {id:?} is not running");
    }
    let Some(cg) = s.cgroup.clone() else { bail!("container {id:?} has no cgroup") };
    let mut out = std::io::stdout().lock();
    let emit = |out: &mut std::io::StdoutLock, v: String| -> bool {
        writeln!(out, "{v}").and_then(|_| out.flush()).is_ok()
    };
    let stats_event = || -> Result<String> {
        Ok(event("stats", id, Some(cg.stats()?)))
    };
    if stats_once {
        let ev = stats_event()?;
        emit(&mut out, ev);
        return Ok(0);
    }
    let pidfd = crate::sys::pidfd_open(s.pid).ok();
    let mut oom = match cg.oom_notifier() {
        Ok(n) => n,
        Err(e) => {
            crate::warn!("events: no OOM notifications: {e:#}");
            None
        }
    };
    let alive = || process_alive(s.pid, s.init_start_time);
    let mut next = Instant::now() + interval;
    loop {
        if !alive() {
            return Ok(0);
        }
        let mut fds = Vec::new();
        if let Some(p) = &pidfd {
            fds.push(libc::pollfd { fd: p.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        let oom_idx = fds.len();
        if let Some(n) = &oom {
            fds.push(libc::pollfd { fd: n.fd().as_fd().as_raw_fd(), events: libc::POLLIN, revents: 0 });
        }
        // Without a pidfd, wake up at least once a second to notice the init is gone.
        let mut wait = next.saturating_duration_since(Instant::now());
        if pidfd.is_none() {
            wait = wait.min(Duration::from_secs(1));
        }
        let ms = wait.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: fds is a valid array of pollfd for the duration of the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(anyhow!("poll: {e}"));
        }
        if let Some(n) = oom.as_mut().filter(|_| fds.get(oom_idx).is_some_and(|f| f.revents != 0)) {
            for _ in 0..n.read() {
                if !emit(&mut out, event("oom", id, None)) {
                    return Ok(0);
                }
            }
            if fds[oom_idx].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                oom = None;
            }
        }
        if pidfd.is_some() && fds[0].revents != 0 {
            return Ok(0);
        }
        if Instant::now() >= next {
            next += interval;
            if next < Instant::now() {
                next = Instant::now() + interval;
            }
            match stats_event() {
                Ok(ev) => {
                    if !emit(&mut out, ev) {
                        return Ok(0);
                    }
                }
                Err(e) if !alive() => {
                    let _ = e;
                    return Ok(0);
                }
                Err(e) => crate::warn!("events: stats: {e:#}"),
            }
        }
    }
}

/// One event line with runc's field order: type, id, data (omitted when empty).
pub fn event(typ: &str, id: &str, data: Option<serde_json::Value>) -> String {
    let mut s = format!("{{\"type\":{},\"id\":{}", json!(typ), json!(id));
    if let Some(d) = data {
        s.push_str(&format!(",\"data\":{d}"));
    }
    s.push('}');
    s
}

/// A Go duration as runc's --interval takes it: `5s`, `500ms`, `1m30s`, `1.5s`, `100us`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let bad = || anyhow!("invalid duration {s:?} (e.g. 5s, 500ms, 1m)");
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        if n == 0 {
            return Err(bad());
        }
        let num: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let secs = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[u..];
        total += num * secs;
    }
    if total <= 0.0 || !total.is_finite() {
        bail!("duration {s:?} must be greater than 0");
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines() {
        assert_eq!(event("oom", "a\"b", None), r#"{"type":"oom","id":"a\"b"}"#);
        let l = event("stats", "x", Some(json!({"pids": {"current": 1}})));
        assert_eq!(l, r#"{"type":"stats","id":"x","data":{"pids":{"current":1}}}"#);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["data"]["pids"]["current"], 1);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("100us").unwrap(), Duration::from_micros(100));
        for bad in ["", "5", "s", "0s", "5x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
