//! The runtime's logger, shaped like runc's: `--log FILE` receives every record, as text or as
//! JSON lines `{"level":..,"msg":..,"time":..}` (containerd shows users only what lands there);
//! without `--log`, warnings and errors go to stderr. Debug records need `--debug`.
//!
//! The logger is a process-wide setting made once by the CLI before any command runs. The
//! container's init is a fork of this process, so it inherits the same settings (and the open
//! log file, which is close-on-exec, so the user's process never sees it).

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Text,
    Json,
}

struct Logger {
    file: Option<File>,
    format: Format,
    debug: bool,
}

static LOGGER: Mutex<Logger> = Mutex::new(Logger { file: None, format: Format::Text, debug: false });

/// Sets the log destination. `path` is opened for append (created 0644 if missing).
pub fn init(path: Option<&str>, format: Format, debug: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let file = match path {
        Some(p) if !p.is_empty() => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .with_context(|| format!("opening log file {p}"))?,
        ),
        _ => None,
    };
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    *l = Logger { file, format, debug };
    Ok(())
}

/// The log file's fd, which the container's init must keep open while it may still log.
pub fn file_fd() -> Option<std::os::fd::RawFd> {
    use std::os::fd::AsRawFd;
    LOGGER.lock().ok().and_then(|l| l.file.as_ref().map(|f| f.as_raw_fd()))
}

/// True while a record is being written, or after a process that shared our memory (exec's
/// CLONE_VM child) died writing one: the next record would wait forever.
pub fn held() -> bool {
    matches!(LOGGER.try_lock(), Err(std::sync::TryLockError::WouldBlock))
}

pub fn debug_enabled() -> bool {
    LOGGER.lock().map(|l| l.debug).unwrap_or(false)
}

/// Writes one record. Errors writing the log itself are ignored: logging must never be the
/// reason a container operation fails.
pub fn log(level: Level, msg: &str) {
    let mut l = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    if level == Level::Debug && !l.debug {
        return;
    }
    let format = l.format;
    let debug = l.debug;
    let line = render(format, level, msg, &now_rfc3339());
    match l.file.as_mut() {
        Some(f) => {
            let _ = f.write_all(line.as_bytes());
        }
        None if (level >= Level::Warn || debug)
            // Errors are printed to stderr by the CLI itself; here only the other levels.
            && level != Level::Error => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        None => {}
    }
}

fn render(format: Format, level: Level, msg: &str, time: &str) -> String {
    match format {
        Format::Json => {
            let v = serde_json::json!({"level": level.as_str(), "msg": msg, "time": time});
            format!("{v}\n")
        }
        Format::Text => format!("time=\"{time}\" level={} msg=\"{}\"\n", level.as_str(), msg.escape_default()),
    }
}

/// RFC 3339 UTC timestamp with nanoseconds, computed without a date crate.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[macro_export]
macro_rules! debug { ($($t:tt)*) => { if $crate::log::debug_enabled() { $crate::log::log($crate::log::Level::Debug, &format!($($t)*)) } } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Info, &format!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::log($crate::log::Level::Warn, &format!($($t)*)) } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(951_782_400, 5), "2000-02-29T00:00:00.000000005Z");
        assert_eq!(rfc3339(1_798_000_000, 0), "2026-12-23T04:26:40.000000000Z");
    }

    #[test]
    fn json_record_has_runc_fields() {
        let line = render(Format::Json, Level::Error, "boom \"x\"", "T");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert_eq!(v["time"], "T");
    }
}
