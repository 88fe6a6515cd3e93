//! What limits the container's process: capabilities, user identity, seccomp.
pub mod caps;
pub mod seccomp;
pub mod user;
