//! `seam`: sandboxed verification gates and routers for AI pipelines.
//!
//! `main` only hands the process's arguments and streams to [`seam_cli::main`],
//! which prints errors and maps outcomes to exit codes (0 passed, 1 rejected by a gate,
//! 2 usage, config, plugin or step error, 3 waiting for a person).

use std::process::ExitCode;

fn main() -> ExitCode {
    // Unlocked stdout: runs print from several threads.
    let code = seam_cli::main(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    ExitCode::from(code)
}
