//! `BULKHEAD_TRACE=1`: where a command's time goes, phase by phase, in microseconds.
//!
//! Each process (the runtime, and the container's init, which is a fork of it) keeps its own
//! list of phases; [`mark`] closes the phase that ends here and [`flush`] writes them as one
//! line to the `--log` file (an info record) or, without one, to stderr:
//!
//!     bulkhead trace create: spec=92us claim=61us cgroups=640us clone=180us init=3010us total=4200us
//!
//! Unset, every call is one relaxed atomic load: the environment is read once per process.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

const UNKNOWN: u8 = 0;
const OFF: u8 = 1;
const ON: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

struct Phases {
    start: Instant,
    last: Instant,
    done: Vec<(&'static str, u128)>,
}

static PHASES: Mutex<Option<Phases>> = Mutex::new(None);

/// Is tracing on? Reads BULKHEAD_TRACE the first time only.
pub fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        ON => true,
        OFF => false,
        _ => {
            let on = std::env::var_os("BULKHEAD_TRACE").is_some_and(|v| !v.is_empty() && v != "0");
            STATE.store(if on { ON } else { OFF }, Ordering::Relaxed);
            on
        }
    }
}

fn with<R>(f: impl FnOnce(&mut Phases) -> R) -> R {
    let mut g = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    let p = g.get_or_insert_with(|| {
        let now = Instant::now();
        Phases { start: now, last: now, done: Vec::new() }
    });
    f(p)
}

/// Starts (or restarts) the clock: the process's first phase begins here. The init calls it
/// right after the clone, so it reports its own phases, not the runtime's.
pub fn begin() {
    if enabled() {
        let now = Instant::now();
        *PHASES.lock().unwrap_or_else(|e| e.into_inner()) = Some(Phases { start: now, last: now, done: Vec::new() });
    }
}

/// Ends the current phase, named `phase`; the next one starts now.
pub fn mark(phase: &'static str) {
    if enabled() {
        with(|p| {
            let now = Instant::now();
            p.done.push((phase, now.duration_since(p.last).as_micros()));
            p.last = now;
        });
    }
}

/// True after a process that shared our memory (exec's CLONE_VM child) died inside a mark:
/// the next mark would wait forever. Always false with tracing off.
pub fn held() -> bool {
    enabled() && matches!(PHASES.try_lock(), Err(std::sync::TryLockError::WouldBlock))
}

/// Writes the phases so far as one line headed `who` and clears them (the clock runs on).
pub fn flush(who: &str) {
    if !enabled() {
        return;
    }
    let line = with(|p| {
        let mut s = format!("bulkhead trace {who}:");
        for (name, us) in p.done.drain(..) {
            s.push_str(&format!(" {name}={us}us"));
        }
        s.push_str(&format!(" total={}us", p.start.elapsed().as_micros()));
        s
    });
    if crate::log::file_fd().is_some() {
        crate::log::log(crate::log::Level::Info, &line);
    } else {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_accumulate_and_flush_clears_them() {
        STATE.store(ON, Ordering::Relaxed);
        begin();
        mark("a");
        mark("b");
        assert_eq!(with(|p| p.done.iter().map(|(n, _)| *n).collect::<Vec<_>>()), ["a", "b"]);
        flush("test");
        assert!(with(|p| p.done.is_empty()));
        let guard = PHASES.lock().unwrap();
        assert!(held(), "a mark under way (or a dead sharer's) is not seen");
        drop(guard);
        STATE.store(OFF, Ordering::Relaxed);
        mark("c");
        assert!(with(|p| p.done.is_empty()));
    }
}
