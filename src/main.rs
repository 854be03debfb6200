//! `lifeboat`: parse flags, run, map the outcome to an exit code.

use clap::Parser;

fn main() {
    // Everything lifeboat creates (artifacts, keys, catalog) is private.
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let cli = lifeboat::cli::args::Cli::parse();
    lifeboat::logging::init(cli.verbose);
    let code = match lifeboat::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e.display_with_hint());
            lifeboat::cli::exit_code(&e)
        }
    };
    std::process::exit(code);
}
