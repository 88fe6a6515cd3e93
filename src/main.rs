fn main() {
    std::process::exit(bulkhead::cli::main());
}
