fn main() {
    std::process::exit(bulkhead::commands::main());
}
