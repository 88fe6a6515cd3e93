/// See src/heap.rs for why the runtime does not use musl's malloc.
#[global_allocator]
static HEAP: bulkhead::heap::Classes = bulkhead::heap::Classes::new();

fn main() {
    std::process::exit(bulkhead::commands::main());
}
