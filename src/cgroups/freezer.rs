//! The freezer of the cgroupfs driver: v1 freezer.state (runc's retry loop), v2
//! cgroup.freeze with cgroup.events.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::files::{read_ctx, write_ctx, write_raw};

pub(super) enum Freezer<'a> {
    V1(&'a Path),
    V2(&'a Path),
}

impl Freezer<'_> {
    pub(super) fn freeze(&self) -> Result<()> {
        match self {
            Freezer::V1(d) => {
                let p = d.join("freezer.state");
                // runc's loop: retry while FREEZING, thawing now and then so that a
                // cgroup with new processes appearing can settle.
                for i in 0..1000 {
                    if i % 50 == 49 {
                        let _ = write_raw(&p, "THAWED");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    write_ctx(&p, "FROZEN", "freezing")?;
                    if i % 25 == 24 {
                        std::thread::sleep(Duration::from_micros(10));
                    }
                    let s = read_ctx(&p)?;
                    match s.trim() {
                        "FREEZING" => continue,
                        "FROZEN" => return Ok(()),
                        other => bail!(
                            "unexpected freezer state {other:?} after writing FROZEN to {}",
                            p.display()
                        ),
                    }
                }
                let _ = write_raw(&p, "THAWED");
                bail!("unable to freeze {}: stuck in FREEZING", d.display())
            }
            Freezer::V2(d) => {
                let p = d.join("cgroup.freeze");
                write_ctx(&p, "1", "freezing")?;
                if wait_frozen(d, true)? {
                    Ok(())
                } else {
                    let _ = write_raw(&p, "0");
                    bail!("timed out waiting for {} to be frozen", d.display())
                }
            }
        }
    }

    pub(super) fn thaw(&self) -> Result<()> {
        match self {
            Freezer::V1(d) => {
                let p = d.join("freezer.state");
                for _ in 0..1000 {
                    write_ctx(&p, "THAWED", "thawing")?;
                    if read_ctx(&p)?.trim() == "THAWED" {
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                bail!("unable to thaw {}", d.display())
            }
            Freezer::V2(d) => {
                write_ctx(&d.join("cgroup.freeze"), "0", "thawing")?;
                wait_frozen(d, false)?;
                Ok(())
            }
        }
    }

    pub(super) fn is_frozen(&self) -> Result<bool> {
        match self {
            Freezer::V1(d) => Ok(read_ctx(&d.join("freezer.state"))?.trim() == "FROZEN"),
            Freezer::V2(d) => Ok(events_frozen(d)?),
        }
    }
}

pub(super) fn events_frozen(d: &Path) -> Result<bool> {
    let s = read_ctx(&d.join("cgroup.events"))?;
    Ok(s.lines().any(|l| l.trim() == "frozen 1"))
}

/// Wait (up to 10 s) until cgroup.events says frozen == `want`.
fn wait_frozen(d: &Path, want: bool) -> Result<bool> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut delay = Duration::from_micros(100);
    loop {
        if events_frozen(d)? == want {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}
