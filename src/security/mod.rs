//! What limits the container's process: capabilities, user identity, seccomp, and the
//! runtime's own protections (non-dumpable init).
pub mod caps;
pub mod dumpable;
pub mod lsm;
pub mod notify;
pub mod personality;
pub mod rootless;
pub mod seccomp;
pub mod user;
