//! Command-line entry point (placeholder until the real CLI lands).
pub fn main() -> i32 {
    eprintln!("bulkhead: not implemented yet");
    1
}
