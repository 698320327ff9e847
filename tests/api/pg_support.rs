//! The PostgreSQL test support (tests/api/pg.rs) on the server scripts/test.sh
//! found or started: every call gives a new, empty database nobody else sees, and
//! the database is gone once its `PgDatabase` is dropped.

use crate::pg;

async fn exists(admin: &tokio_postgres::Client, name: &str) -> bool {
    admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("query pg_database")
        .get::<_, i64>(0)
        == 1
}

#[tokio::test]
async fn fresh_databases_are_empty_isolated_and_dropped() {
    let Some(a) = pg::fresh_database().await else {
        return;
    };
    let b = pg::fresh_database().await.expect("a second database");
    assert_ne!(a.name, b.name);
    assert_ne!(a.url, b.url);
    for db in [&a, &b] {
        assert!(db.name.starts_with(pg::PREFIX), "{}", db.name);
        assert_eq!(pg::owner_pid(&db.name), Some(std::process::id()));
        assert!(
            db.url.ends_with(&format!("/{}", db.name)),
            "{}",
            pg::redact(&db.url)
        );
    }

    let (ca, cb) = (a.client().await, b.client().await);
    for (c, db) in [(&ca, &a), (&cb, &b)] {
        let row = c
            .query_one(
                "SELECT current_database(), (SELECT count(*) FROM pg_class c JOIN pg_namespace n \
                 ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
                 AND n.nspname NOT LIKE 'pg_toast%')",
                &[],
            )
            .await
            .expect("query the fresh database");
        assert_eq!(
            row.get::<_, String>(0),
            db.name,
            "connected to its own database"
        );
        assert_eq!(row.get::<_, i64>(1), 0, "{} is empty", db.name);
    }

    // What one test writes, the other does not see.
    ca.batch_execute(
        "CREATE TABLE events (sid text PRIMARY KEY); INSERT INTO events VALUES ('SM1')",
    )
    .await
    .expect("write to a");
    let seen: i64 = ca
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .expect("read a")
        .get(0);
    assert_eq!(seen, 1);
    let in_b = cb
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'events'",
            &[],
        )
        .await
        .expect("read b")
        .get::<_, i64>(0);
    assert_eq!(in_b, 0, "b does not see a's table");

    // Dropping the value drops the database, even with a connection still open on it.
    let admin = pg::connect(&pg::server_url())
        .await
        .expect("admin connection");
    let name = a.name.clone();
    assert!(exists(&admin, &name).await);
    drop(a);
    assert!(
        !exists(&admin, &name).await,
        "{name} dropped with its PgDatabase"
    );
    assert!(
        ca.simple_query("SELECT 1").await.is_err(),
        "its connection was closed"
    );
    assert!(
        exists(&admin, &b.name).await,
        "the other one is still there"
    );
}

#[tokio::test]
async fn databases_of_dead_test_processes_are_swept() {
    let Some(live) = pg::fresh_database().await else {
        return;
    };
    // pid_max itself is never a pid: a process that cannot be alive.
    let dead: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .expect("pid_max")
        .trim()
        .parse()
        .expect("pid_max is a number");
    let stale = format!("{}{dead}_0_{:08x}", pg::PREFIX, fastrand::u32(..));
    let admin = pg::connect(&pg::server_url())
        .await
        .expect("admin connection");
    admin
        .batch_execute(&format!("CREATE DATABASE \"{stale}\""))
        .await
        .expect("create a stale database");
    assert!(exists(&admin, &stale).await);
    let dropped = pg::drop_stale_databases(&admin).await.expect("sweep");
    assert!(dropped >= 1);
    assert!(
        !exists(&admin, &stale).await,
        "the dead process's database is gone"
    );
    assert!(
        exists(&admin, &live.name).await,
        "a live process's database stays"
    );
}

/// PostgreSQL's server binaries as scripts/find-postgres.sh looks for them.
fn server_binaries() -> bool {
    let on_path = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    });
    let packaged = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().any(|v| v.path().join("bin/initdb").exists()))
        .unwrap_or(false);
    on_path || packaged
}

/// scripts/find-postgres.sh, path (c): nothing answers at the URL given, so it
/// starts a throwaway cluster from the machine's binaries (as another user when
/// root), exports its URL, and stops and removes it when the shell exits.
#[tokio::test]
async fn find_postgres_starts_a_throwaway_cluster_and_removes_it() {
    use std::io::{BufRead, BufReader, Write};
    if !server_binaries() {
        eprintln!("SKIPPED: no PostgreSQL server binaries (initdb, pg_ctl) here: find-postgres.sh's throwaway cluster not tested");
        return;
    }
    let root = crate::docs::root();
    let mut shell = std::process::Command::new("bash")
        .arg("-c")
        .arg(". scripts/find-postgres.sh tests && echo \"URL=$TWILERT_TEST_POSTGRES_URL DIR=$twpg_dir\" && read _")
        .current_dir(&root)
        .env("TWILERT_TEST_POSTGRES_URL", "postgres://postgres:hunter2@127.0.0.1:1/test")
        .env_remove("TWILERT_TEST_POSTGRES")
        .env_remove("CI")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run bash");
    let mut line = String::new();
    BufReader::new(shell.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the script's answer");
    let (url, dir) = line
        .trim()
        .strip_prefix("URL=")
        .and_then(|r| r.split_once(" DIR="))
        .unwrap_or_else(|| panic!("no URL from find-postgres.sh: {line:?}"));
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
    assert!(std::path::Path::new(dir).is_dir(), "{dir}");

    let c = pg::connect(url)
        .await
        .expect("the throwaway cluster answers");
    let fsync: String = c.query_one("SHOW fsync", &[]).await.expect("query").get(0);
    assert_eq!(
        fsync, "off",
        "the tests' cluster trades durability for speed"
    );
    drop(c);

    // Let the shell end: its EXIT trap stops the cluster and removes the directory.
    let mut stdin = shell.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"\n");
    drop(stdin);
    let out = shell.wait_with_output().expect("the shell ends");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("does not answer; trying a throwaway cluster"),
        "{said}"
    );
    assert!(
        said.contains("stopped and removed the throwaway cluster"),
        "{said}"
    );
    assert!(
        !said.contains("hunter2"),
        "the password is redacted: {said}"
    );
    assert!(!std::path::Path::new(dir).exists(), "{dir} removed");
    assert!(pg::connect(url).await.is_err(), "the cluster is stopped");
}
