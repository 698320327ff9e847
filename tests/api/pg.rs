//! PostgreSQL for the tests: each test gets a database of its own on the server
//! `TWILERT_TEST_POSTGRES_URL` names (default `postgres://postgres@127.0.0.1:5432/test`;
//! scripts/test.sh finds one or starts a throwaway cluster, scripts/find-postgres.sh).
//!
//! ```ignore
//! let Some(db) = pg::fresh_database().await else { return }; // skipped, said loudly
//! // db.url: postgres://…/twilert_t_<pid>_<counter>_<random>, empty, for `[store] url`
//! ```
//! The database is dropped when the `PgDatabase` is (on a thread of its own, so a
//! test's runtime is not needed and a panicking test still cleans up); databases
//! left by test processes that died without unwinding (SIGKILL, Ctrl-C), or kept
//! for a whole run, are dropped in the background from the next run's first
//! `fresh_database`, on a server on this machine only (their names carry the pid,
//! which is checked in /proc).
//!
//! `TWILERT_TEST_POSTGRES=skip` (outside CI only) makes `fresh_database` return
//! None after printing "SKIPPED: no PostgreSQL"; otherwise a server that does not
//! answer fails the test with a message saying how to get one.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// Every test database's name starts with this: `twilert_t_<pid>_<counter>_<random>`.
pub const PREFIX: &str = "twilert_t_";

/// A fresh, empty database, dropped with this value.
pub struct PgDatabase {
    /// Its URL: the server's URL with this database's name as the path.
    pub url: String,
    /// Its name, `twilert_t_<pid>_<counter>_<random>`.
    pub name: String,
    /// The URL of the database the test server names (where `CREATE/DROP DATABASE` run).
    server: String,
}

/// The server URL the tests use.
pub fn server_url() -> String {
    std::env::var("TWILERT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The URL with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Connects (5 s timeout) and drives the connection on the current runtime.
pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let mut cfg: Config = url.parse()?;
    cfg.connect_timeout(Duration::from_secs(5));
    let (client, conn) = cfg.connect(NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// An error with its causes (tokio-postgres's own text leaves out why a connect failed).
pub fn why(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A new, empty database of this test's own; None only under
/// `TWILERT_TEST_POSTGRES=skip` outside CI.
pub async fn fresh_database() -> Option<PgDatabase> {
    if std::env::var("TWILERT_TEST_POSTGRES").is_ok_and(|v| v == "skip") {
        assert!(
            !ci(),
            "CI=true: TWILERT_TEST_POSTGRES=skip is refused; the PostgreSQL tests need a server \
             (scripts/test.sh finds or starts one)"
        );
        eprintln!("SKIPPED: no PostgreSQL (TWILERT_TEST_POSTGRES=skip): this test did not run");
        return None;
    }
    let server = server_url();
    let admin = connect(&server).await.unwrap_or_else(|e| {
        panic!(
            "{}PostgreSQL at {} does not answer: {}. scripts/test.sh finds or starts one \
             (or set TWILERT_TEST_POSTGRES_URL{})",
            if ci() { "CI=true and " } else { "" },
            redact(&server),
            why(&e),
            if ci() {
                ""
            } else {
                ", or TWILERT_TEST_POSTGRES=skip to skip these tests"
            }
        )
    });
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::SeqCst) && is_local(&server) {
        // In the background: many left-overs take seconds to drop, and no test
        // waits for them (what this run does not finish, the next one does).
        let server = server.clone();
        std::thread::spawn(move || {
            let swept = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
                .and_then(|rt| {
                    rt.block_on(async {
                        let admin = connect(&server).await.map_err(|e| why(&e))?;
                        drop_stale_databases(&admin).await.map_err(|e| why(&e))
                    })
                });
            if let Err(e) = swept {
                eprintln!("pg: could not drop stale test databases: {e}");
            }
        });
    }
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{PREFIX}{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        fastrand::u32(..)
    );
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {}: {e}", redact(&server)));
    let mut url = url::Url::parse(&server)
        .unwrap_or_else(|e| panic!("TWILERT_TEST_POSTGRES_URL must be a postgres:// URL: {e}"));
    url.set_path(&format!("/{name}"));
    Some(PgDatabase {
        url: url.to_string(),
        name,
        server,
    })
}

impl PgDatabase {
    /// A connection to this database.
    pub async fn client(&self) -> Client {
        connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Its own thread and runtime: Drop may run inside a test's runtime (which
        // cannot be blocked on from within) or during a panic's unwinding.
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let admin = connect(&server).await.map_err(|e| e.to_string())?;
                drop_database(&admin, &name)
                    .await
                    .map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("pg: could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("pg: dropping test database {} panicked", self.name),
        }
    }
}

/// Drops a database, disconnecting whoever is still on it (a replica a test left running).
pub async fn drop_database(admin: &Client, name: &str) -> Result<(), tokio_postgres::Error> {
    let force = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    if admin.batch_execute(&force).await.is_ok() {
        return Ok(());
    }
    // PostgreSQL before 13 has no WITH (FORCE).
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&name],
        )
        .await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
        .await
}

/// The pid in a test database's name, `twilert_t_<pid>_<counter>_<random>`.
pub fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(PREFIX)?.split('_').next()?.parse().ok()
}

/// Drops the test databases whose process is gone; returns how many. Only
/// meaningful for a server on this machine (the pids are this machine's).
pub async fn drop_stale_databases(admin: &Client) -> Result<usize, tokio_postgres::Error> {
    let rows = admin
        .query(
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            &[&PREFIX],
        )
        .await?;
    let mut dropped = 0;
    for row in rows {
        let name: String = row.get(0);
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue; // alive: another test process's (or a reused pid: next time)
        }
        // Another process sweeping at the same time is fine (IF EXISTS).
        if drop_database(admin, &name).await.is_ok() {
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// Whether the server is on this machine (loopback or a Unix socket).
fn is_local(url: &str) -> bool {
    let Ok(cfg) = url.parse::<Config>() else {
        return false;
    };
    cfg.get_hosts().iter().all(|h| match h {
        Host::Tcp(h) => matches!(h.as_str(), "127.0.0.1" | "localhost" | "::1" | "[::1]"),
        #[cfg(unix)]
        Host::Unix(_) => true,
    })
}
