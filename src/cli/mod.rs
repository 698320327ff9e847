//! The command line (SPEC 9).

mod check;
mod dead_letters;

use crate::telemetry::{init_logging, LogFormat};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "twilert",
    version,
    about = "Twilio Debugger events → routed, grouped, rate-limited alerts"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        default_value = "config.toml",
        env = "TWILERT_CONFIG"
    )]
    pub config: PathBuf,
    /// Log format: readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Validate config and templates, print the route table; exit 1 on errors.
    Check,
    /// Manage notifications that could not be delivered.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// What, where, why and when.
    List,
    /// Queue dead letters for delivery again.
    Retry {
        /// The dead letter's id (from `list`).
        id: Option<i64>,
        /// Retry every dead letter.
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.config),
        Command::Check => check::run(&cli.config),
        Command::DeadLetters(DeadLetterCommand::List) => dead_letters::list(&cli.config),
        Command::DeadLetters(DeadLetterCommand::Retry { id, all }) => {
            dead_letters::retry(&cli.config, id, all)
        }
    }
}

fn serve(config: &std::path::Path) -> ExitCode {
    let settings = match crate::config::load(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = rt.block_on(async {
        let app = crate::startup::Application::build(settings, Some(config.to_path_buf())).await?;
        app.run_until_stopped().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Loads the config for a command, printing the error.
fn load(config: &std::path::Path) -> Option<crate::config::Settings> {
    match crate::config::load(config) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}
