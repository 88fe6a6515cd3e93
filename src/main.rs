/// See src/heap.rs for why the runtime does not use musl's malloc.
#[global_allocator]
static HEAP: bulkhead::heap::Classes = bulkhead::heap::Classes::new();

fn main() {
    let code = bulkhead::commands::main();
    // libc's exit, not std::process::exit: std's clean-up would also unmap the signal stack
    // it set up for stack overflows, one more TLB flush the exit does anyway. Its only other
    // task is flushing stdout (stderr has no buffer).
    let _ = std::io::Write::flush(&mut std::io::stdout());
    unsafe { libc::exit(code) }
}
