fn main() -> std::process::ExitCode {
    session_pool_harness::cli_main()
}
