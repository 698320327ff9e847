fn main() -> std::process::ExitCode {
    twilert::cli::main()
}
