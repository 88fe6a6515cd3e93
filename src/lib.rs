//! bulkhead: an OCI container runtime (runc-compatible CLI).
pub mod cli;
pub mod cgroups;
