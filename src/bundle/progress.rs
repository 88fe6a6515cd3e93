//! A one-line progress bar for unpacking, drawn on stderr only when it is a terminal.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

pub struct Progress {
    enabled: bool,
    total: u64,
    done: AtomicU64,
    last: Mutex<Option<Instant>>,
    drawn: AtomicBool,
}

impl Progress {
    pub fn new(total: u64) -> Progress {
        Progress::with(std::io::stderr().is_terminal(), total)
    }

    pub fn with(enabled: bool, total: u64) -> Progress {
        Progress { enabled, total, done: AtomicU64::new(0), last: Mutex::new(None), drawn: AtomicBool::new(false) }
    }

    pub fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap();
            if last.is_some_and(|l| now - l < Duration::from_millis(100)) {
                return;
            }
            *last = Some(now);
        }
        self.draw();
    }

    pub fn line(&self) -> String {
        let total = self.total.max(1);
        let done = self.done.load(Ordering::Relaxed).min(total);
        let width = 30u64;
        let filled = (done * width / total) as usize;
        format!(
            "unpacking [{}{}] {:>5.1}/{:.1} MiB",
            "#".repeat(filled),
            " ".repeat(width as usize - filled),
            done as f64 / 1048576.0,
            self.total as f64 / 1048576.0
        )
    }

    fn draw(&self) {
        self.drawn.store(true, Ordering::Relaxed);
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r{}", self.line());
        let _ = e.flush();
    }

    /// Draws the final state and ends the line (only if anything was drawn).
    pub fn finish(&self) {
        if self.enabled && self.drawn.load(Ordering::Relaxed) {
            self.draw();
            let _ = writeln!(std::io::stderr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills() {
        let p = Progress::with(false, 2 << 20);
        assert!(p.line().contains("[                              ]"));
        p.add(1 << 20);
        assert!(p.line().contains(&"#".repeat(15)));
        p.add(5 << 20);
        assert!(p.line().contains(&"#".repeat(30)));
    }
}
