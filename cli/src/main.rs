//! The `gatehouse` binary: everything lives in the `gatehouse_cli` library.

fn main() -> std::process::ExitCode {
    gatehouse_cli::run()
}
