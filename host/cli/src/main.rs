//! `seam`: sandboxed verification gates and routers for AI pipelines.
//!
//! `main` only hands the process's arguments and streams to [`seam_cli::main`],
//! which prints errors and maps outcomes to exit codes (0 passed, 1 rejected by a gate,
//! 2 usage, config, plugin or step error, 3 waiting for a person).

use std::io::IsTerminal;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let console = seam_cli::Console {
        stdout_is_terminal: std::io::stdout().is_terminal(),
    };
    // Unlocked stdout: runs print from several threads.
    let code = seam_cli::main_on(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        console,
    );
    ExitCode::from(code)
}
