//! The `shoal` binary: parses flags and runs the agent or a subcommand.

use std::process::ExitCode;

use clap::Parser as _;
use shoal::cli::{CheckCommand, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    shoal::logging::init(&cli.log);
    match cli.command {
        Some(Command::Check {
            what: CheckCommand::Config { files },
        }) => check_config(&files),
        Some(Command::Demo(args)) => run_demo(args),
        None => run_agent(cli.agent),
    }
}

fn run_agent(args: shoal::cli::AgentArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shoal")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(shoal::agent::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line on stderr (the log's format escapes newlines in the error).
            tracing::error!(error = format!("{e:#}"), "shoal failed to start");
            ExitCode::FAILURE
        }
    }
}

/// `shoal demo`. A current-thread runtime: the peers it forks die with the forking
/// thread (`PR_SET_PDEATHSIG`), so that thread must be the one that lives as long as the demo.
fn run_demo(args: shoal::cli::DemoArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("shoal demo: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = shoal::demo::DemoOptions {
        peers: args.peers,
        churn_interval: args.churn_interval,
        duration: args.duration,
    };
    match rt.block_on(shoal::demo::run(opts)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal demo: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `shoal check config FILE...`: prints a report per file, exit 1 if any is invalid.
fn check_config(files: &[std::path::PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        let (text, valid) = shoal::config::check_output(f);
        print!("{text}");
        ok &= valid;
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
