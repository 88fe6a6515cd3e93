//! bulkhead: an OCI container runtime with runc's command line.
//!
//! See ARCHITECTURE.md for the module map and the create path.
pub mod bundle;
pub mod cgroups;
pub mod cli;
pub mod commands;
pub mod console;
pub mod heap;
pub mod hooks;
pub mod inroot;
pub mod kernel;
#[macro_use]
pub mod log;
pub mod netdev;
pub mod netlink;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod security;
pub mod spec;
pub mod state;
pub mod sys;
pub mod trace;
