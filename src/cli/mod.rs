//! The command line (SPEC 9).

/// `println!` that ignores a closed stdout (`twilert route ev.json | head` must not
/// panic with "Broken pipe").
macro_rules! out {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod admin_client;
mod check;
mod dead_letters;
pub(crate) mod event_file;
mod events;
pub(crate) mod route;
mod send_test;
mod silence;

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
    /// Dry run: which routes an event matches and why, its group key, and each
    /// channel's rendered payload. Nothing is sent.
    Route {
        /// A Debugger event: the form-encoded body Twilio sends, its JSON form, or an
        /// Event Streams CloudEvent (`-` reads standard input).
        event_file: PathBuf,
        /// Show only this channel's payload.
        #[arg(long)]
        channel: Option<String>,
        /// Render the group's digest after N events instead of the first alert.
        #[arg(long, value_name = "N", conflicts_with = "resolved")]
        digest: Option<u64>,
        /// Render the notice that the group resolved (`resolve_after`).
        #[arg(long)]
        resolved: bool,
    },
    /// Send a sample alert (or the given event) through one channel, for real, and
    /// report the provider's answer; exit 1 if it was not accepted.
    SendTest {
        /// The channel's name (`[channels.<name>]`).
        channel: String,
        /// Send this event instead of the built-in sample (form body, JSON or a
        /// CloudEvent).
        #[arg(long)]
        event: Option<PathBuf>,
    },
    /// Manage notifications that could not be delivered.
    #[command(subcommand)]
    DeadLetters(DeadLetterCommand),
    /// Silences: hold back matching events for a while (SPEC 14).
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Create or upgrade the store's schema, then exit (every start does the same).
    Migrate,
    /// Recent events, newest first, with the route and the path each came by.
    Events {
        /// Only this error code.
        #[arg(long)]
        code: Option<u32>,
        /// Only this resource Sid.
        #[arg(long)]
        resource: Option<String>,
        /// Only events received within this long ("1h", "30m").
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// `text` or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        output: String,
    },
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

/// `twilert silence add`'s options.
#[derive(Debug, clap::Args)]
pub struct SilenceAdd {
    /// Error code, wildcard or range (`11200`, `112xx`, `30001-30010`); repeatable.
    #[arg(long = "code", value_name = "CODE")]
    codes: Vec<String>,
    /// Resource Sid or glob (`CA*`); repeatable.
    #[arg(long = "resource", value_name = "SID")]
    resources: Vec<String>,
    /// Service Sid or glob; repeatable.
    #[arg(long = "service", value_name = "SID")]
    services: Vec<String>,
    /// Account Sid or glob; repeatable.
    #[arg(long = "account", value_name = "SID")]
    accounts: Vec<String>,
    /// Level (`error`, `warning`, ...); repeatable.
    #[arg(long = "level")]
    levels: Vec<String>,
    /// Product (`Programmable Voice`, ...); repeatable.
    #[arg(long = "product")]
    products: Vec<String>,
    /// Only on this route; repeatable (default: every route).
    #[arg(long = "route")]
    routes: Vec<String>,
    /// How long: `2h`, `30m`.
    #[arg(long = "for", value_name = "DURATION", conflicts_with_all = ["until_quiet", "ends_at"])]
    for_: Option<String>,
    /// End once no matching event arrived for this long (`30m`).
    #[arg(long, value_name = "DURATION", conflicts_with = "ends_at")]
    until_quiet: Option<String>,
    /// End at this time (RFC 3339, UTC: `2026-12-01T12:00:00Z`).
    #[arg(long, value_name = "TIME")]
    ends_at: Option<String>,
    /// Start later (RFC 3339); default now.
    #[arg(long, value_name = "TIME")]
    starts_at: Option<String>,
    /// Why (shown in the list and in the summary).
    #[arg(long, default_value = "")]
    comment: String,
    /// Who (default: $USER).
    #[arg(long)]
    author: Option<String>,
    /// No summary when it ends.
    #[arg(long)]
    no_summary: bool,
    /// `text` or `json`.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Add a silence; prints it (with its id) and how many open groups it matches now.
    Add(Box<SilenceAdd>),
    /// Silences in force with how many events each held back (`--all`: expired too).
    List {
        #[arg(long)]
        all: bool,
        /// `text` or `json`.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        output: String,
    },
    /// End a silence now; each route it held events back on gets its summary.
    Expire {
        /// The silence's id (from `list`).
        id: String,
        /// Who ends it (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(&cli.config),
        Command::Check => check::run(&cli.config),
        Command::Route {
            event_file,
            channel,
            digest,
            resolved,
        } => {
            let form = match (digest, resolved) {
                (Some(n), _) => route::Form::Digest(n.max(1)),
                (None, true) => route::Form::Resolved,
                (None, false) => route::Form::Alert,
            };
            route::run(&cli.config, &event_file, channel.as_deref(), form)
        }
        Command::SendTest { channel, event } => {
            send_test::run(&cli.config, &channel, event.as_deref())
        }
        Command::DeadLetters(DeadLetterCommand::List) => dead_letters::list(&cli.config),
        Command::DeadLetters(DeadLetterCommand::Retry { id, all }) => {
            dead_letters::retry(&cli.config, id, all)
        }
        Command::Migrate => migrate(&cli.config),
        Command::Silence(SilenceCommand::Add(add)) => silence_add(&cli.config, *add),
        Command::Silence(SilenceCommand::List { all, output }) => {
            silence::list(&cli.config, all, output == "json")
        }
        Command::Silence(SilenceCommand::Expire { id, author }) => {
            silence::expire(&cli.config, &id, author)
        }
        Command::Events {
            code,
            resource,
            since,
            limit,
            output,
        } => events::run(
            &cli.config,
            events::Query {
                code,
                resource,
                since,
                limit,
                json: output == "json",
            },
        ),
    }
}

fn silence_add(config: &std::path::Path, add: SilenceAdd) -> ExitCode {
    let SilenceAdd {
        codes,
        resources,
        services,
        accounts,
        levels,
        products,
        routes,
        for_,
        until_quiet,
        ends_at,
        starts_at,
        comment,
        author,
        no_summary,
        output,
    } = add;
    silence::add(
        config,
        silence::Add {
            request: crate::silence::SilenceRequest {
                error_codes: codes,
                resource_sids: resources,
                service_sids: services,
                account_sids: accounts,
                levels,
                products,
                routes,
                for_,
                until_quiet,
                ends_at,
                starts_at,
                comment: Some(comment),
                author: Some(author.unwrap_or_else(silence::default_author)),
                summary: Some(!no_summary),
                ..Default::default()
            },
            json: output == "json",
        },
    )
}

fn migrate(config: &std::path::Path) -> ExitCode {
    let Some(s) = load(config) else {
        return ExitCode::from(1);
    };
    match crate::store::migrate(&s.store) {
        Ok(version) => {
            out!(
                "store {} is at schema version {version}",
                s.store.describe()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn serve(config: &std::path::Path) -> ExitCode {
    let settings = match crate::config::load(config) {
        Ok(s) => s,
        Err(first) => return refuse(config, &check::problems(config, first)),
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
        // Before the service says it is listening: a SIGHUP or SIGTERM sent as soon
        // as it does must reload or stop it, not kill it.
        let signals = crate::startup::Signals::install()?;
        let app = crate::startup::Application::build(settings, Some(config.to_path_buf())).await?;
        app.run_until_stopped(signals).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<crate::config::Invalid>() {
            Some(invalid) => refuse(config, &invalid.0),
            None => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

/// A config with errors: each one, their count, and where to look next. Exit 1.
fn refuse(config: &std::path::Path, errors: &[String]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    eprintln!(
        "{}: {} error(s); fix them, then `twilert --config {} check` confirms the config without running anything",
        config.display(),
        errors.len(),
        config.display()
    );
    ExitCode::from(1)
}

/// Loads the config for a command, printing every problem when it does not load.
fn load(config: &std::path::Path) -> Option<crate::config::Settings> {
    match crate::config::load(config) {
        Ok(s) => Some(s),
        Err(first) => {
            refuse(config, &check::problems(config, first));
            None
        }
    }
}

/// Loads and validates the config for a command that needs it compiled (`route`,
/// `send-test`), printing every problem and a pointer to `check`.
fn runtime(config: &std::path::Path) -> Option<crate::runtime::Runtime> {
    let settings = load(config)?;
    match crate::runtime::Runtime::build(settings) {
        Ok(rt) => Some(rt),
        Err(errors) => {
            refuse(config, &errors);
            None
        }
    }
}
