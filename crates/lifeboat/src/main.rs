//! The `lifeboat` binary: runs the command line and exits with its code.

fn main() -> std::process::ExitCode {
    lifeboat::cli::run(std::env::args_os()).into()
}
