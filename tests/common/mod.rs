//! Shared harness for bulkhead's end-to-end tests.
//!
//! The suite drives any runc-compatible binary through its CLI:
//! `BULKHEAD_TEST_RUNTIME=/usr/sbin/runc cargo test` runs it against runc,
//! otherwise the bulkhead binary built by cargo is used.
//!
//! Every test builds a [`Ctx`]: its own bundle (busybox rootfs + config.json from
//! `<runtime> spec`), its own `--root` state dir, container ID and cgroupsPath, so
//! tests can run in parallel threads. Dropping the `Ctx` (also on panic) force-deletes
//! its containers, kills whatever is left in its cgroup, removes the cgroup dirs it
//! named and the temp dir.
#![allow(dead_code)]

mod bundle;
mod cgroups;
mod console;
mod ctx;
mod parsers;
mod poll;
mod run;
mod runtime;

// Each test binary uses its own subset of the harness: re-exporting a submodule it uses
// nothing of must not warn (`#![allow(dead_code)]` does not cover imports).
#[allow(unused_imports)]
pub use self::{
    bundle::*, cgroups::*, console::*, ctx::*, parsers::*, poll::*, run::*, runtime::*,
};

use std::time::Duration;

/// Upper bound for one runtime invocation; a hung runtime fails the test instead of CI.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(30);
/// Upper bound for polling a condition (status change, file appearing, ...).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
