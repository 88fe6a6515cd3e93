//! Security features: seccomp.
pub mod seccomp;
