//! `seam`: sandboxed verification gates and routers for AI pipelines.
//!
//! `main` only dispatches and reports: it prints the error chain, maps outcomes to exit
//! codes (0 passed, 1 rejected by a gate, 2 usage, config or plugin error) and treats a
//! broken pipe as success.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("seam: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(cli::Exit::Error as u8)
        }
    }
}
