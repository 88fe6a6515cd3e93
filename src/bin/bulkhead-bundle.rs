fn main() {
    std::process::exit(bulkhead::bundle::main());
}
