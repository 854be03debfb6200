//! `lifeboat`: parse flags, run, map the outcome to an exit code.

#[macro_use]
extern crate lifeboat_engine;

mod cli;

use clap::Parser;

fn main() {
    // Everything lifeboat creates (artifacts, keys, catalog) is private.
    // SAFETY: umask only changes this process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    let cli = cli::args::Cli::parse();
    if cli.only_reads() {
        // `lifeboat list | head`: end quietly when the reader goes away,
        // as other command-line tools do, instead of panicking on EPIPE.
        // Verbs that change something keep SIGPIPE ignored, so a closed
        // pipe is an error they handle, not a kill halfway through.
        // SAFETY: restores the default disposition of one signal.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    lifeboat_engine::logging::init(cli.verbose);
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Never panics, even with stderr closed: the exit code still
            // says what happened.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "error: {}", e.display_with_hint());
            cli::exit_code(&e)
        }
    };
    std::process::exit(code);
}
