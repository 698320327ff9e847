//! `twilert silence add|list|expire` (SPEC 14). `list` reads the store directly
//! (WAL readers never block the writer). `add` and `expire` write: on SQLite, while
//! a service holds the store they go through its admin listener
//! (`/api/v1/silences`, with the configured admin token), so there is never a
//! second writer, else they take the store's lock themselves; PostgreSQL takes the
//! write from anyone. Services pick new silences up at their next tick.

use crate::clock::{rfc3339, Clock, SystemClock};
use crate::silence::{Silence, SilenceEnd, SilenceRequest};
use crate::store::{postgres::PgStore, Outbox, OutboxTx, Store};
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

/// What `silence add` was given.
#[derive(Debug, Default)]
pub struct Add {
    pub request: SilenceRequest,
    pub json: bool,
}

/// Who runs the command: `--author`, else `$USER`, else `cli`.
pub fn default_author() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "cli".into())
}

pub fn add(config: &Path, add: Add) -> ExitCode {
    let Some(rt) = super::runtime(config) else {
        return ExitCode::from(1);
    };
    let local =
        rt.settings.store.url.is_some() || !crate::store::held_by_another(&rt.settings.store.path);
    let result = if !local {
        super::admin_client::request(
            &rt.settings,
            reqwest::Method::POST,
            "/api/v1/silences",
            Some(serde_json::to_value(&add.request).unwrap_or_default()),
        )
        .and_then(|(status, v)| {
            if status == 201 {
                Ok(v)
            } else {
                Err(refused(status, &v))
            }
        })
    } else {
        add_locally(&rt, add.request)
    };
    match result {
        Ok(v) => {
            if add.json {
                out!("{v:#}");
            } else {
                print_added(&v);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn refused(status: u16, v: &Value) -> String {
    let why = v["error"].as_str().unwrap_or("no reason given");
    format!("the running twilert refused ({status}): {why}")
}

/// No service holds the store: check, stamp and store the silence here.
fn add_locally(rt: &crate::runtime::Runtime, req: SilenceRequest) -> Result<Value, String> {
    let names: Vec<&str> = rt
        .router
        .routes()
        .iter()
        .chain(rt.router.fallback())
        .map(|r| r.name.as_str())
        .collect();
    let now = SystemClock.now_ms();
    let s = req
        .check(&names)
        .and_then(|spec| spec.build(crate::silence::new_id(), now))
        .map_err(|e| e.to_string())?;
    fn insert<O: Outbox>(mut store: O, s: &Silence) -> crate::store::Result<()> {
        store.batch(|b| b.insert_silence(s))
    }
    match &rt.settings.store.url {
        Some(url) => {
            use secrecy::ExposeSecret;
            PgStore::open(url.expose_secret()).and_then(|st| insert(st, &s))
        }
        None => Store::open(&rt.settings.store.path).and_then(|st| insert(st, &s)),
    }
    .map_err(|e| e.to_string())?;
    let views = crate::store::open_views(&rt.settings.store).map_err(|e| e.to_string())?;
    let m = crate::console::silences::would_match(views.as_ref(), &s, &rt.catalog, now)
        .map_err(|e| e.to_string())?;
    let mut v = s.to_json(now);
    v["matching_groups"] = json!(m.groups);
    v["matching_recent_events"] = json!(m.recent_events);
    Ok(v)
}

fn print_added(v: &Value) {
    let until = match (v["ends_at"].as_str(), v["until_quiet"].as_str()) {
        (Some(at), _) => format!("until {at}"),
        (None, Some(q)) => format!("until {q} pass without a matching event"),
        _ => String::new(),
    };
    out!(
        "silence {} added by {}: {} {until}",
        v["id"].as_str().unwrap_or("?"),
        v["author"].as_str().unwrap_or("?"),
        describe_json(v)
    );
    if let Some(c) = v["comment"].as_str().filter(|c| !c.is_empty()) {
        out!("comment: {c}");
    }
    out!(
        "it matches {} open group(s) now ({} of the last hour's events); `twilert silence expire {}` ends it",
        v["matching_groups"].as_u64().unwrap_or(0),
        v["matching_recent_events"].as_u64().unwrap_or(0),
        v["id"].as_str().unwrap_or("ID")
    );
}

/// `error_codes=[11200] resource_sids=[CA*]` from a silence's JSON.
fn describe_json(v: &Value) -> String {
    let mut parts = vec![];
    for key in crate::silence::MATCHER_KEYS.iter().chain(&["routes"]) {
        if let Some(items) = v[*key].as_array().filter(|a| !a.is_empty()) {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            parts.push(format!("{key}=[{}]", items.join(",")));
        }
    }
    parts.join(" ")
}

pub fn list(config: &Path, all: bool, json_out: bool) -> ExitCode {
    let Some(s) = super::load(config) else {
        return ExitCode::from(1);
    };
    let rows = match crate::store::open_views(&s.store).and_then(|r| r.silences(all)) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let now = SystemClock.now_ms();
    if json_out {
        let list: Vec<Value> = rows.iter().map(|s| s.to_json(now)).collect();
        out!("{:#}", json!({ "silences": list }));
        return ExitCode::SUCCESS;
    }
    if rows.is_empty() {
        out!(
            "{}",
            if all {
                "no silences"
            } else {
                "no silences in force (`--all` lists expired ones too)"
            }
        );
        return ExitCode::SUCCESS;
    }
    out!(
        "{:<16} {:<8} {:<20} {:<12} {:>10}  MATCHES / COMMENT",
        "ID",
        "STATE",
        "ENDS",
        "AUTHOR",
        "HELD BACK"
    );
    for s in &rows {
        out!(
            "{:<16} {:<8} {:<20} {:<12} {:>10}  {}{}",
            s.id,
            s.state(now),
            ends(s),
            s.author,
            s.suppressed,
            s.describe(),
            if s.comment.is_empty() {
                String::new()
            } else {
                format!(" — {}", s.comment.replace('\n', " "))
            }
        );
    }
    ExitCode::SUCCESS
}

fn ends(s: &Silence) -> String {
    match (s.expired_at_ms, s.end) {
        (Some(at), _) => rfc3339(at),
        (None, SilenceEnd::Until { at_ms }) => rfc3339(at_ms),
        (None, SilenceEnd::Quiet { after_ms }) => {
            format!("quiet {}", crate::silence::duration_text(after_ms))
        }
    }
}

pub fn expire(config: &Path, id: &str, by: Option<String>) -> ExitCode {
    let Some(rt) = super::runtime(config) else {
        return ExitCode::from(1);
    };
    let by = by.unwrap_or_else(default_author);
    let local =
        rt.settings.store.url.is_some() || !crate::store::held_by_another(&rt.settings.store.path);
    let result = if !local {
        let path = format!(
            "/api/v1/silences/{}?by={}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>(),
            url::form_urlencoded::byte_serialize(by.as_bytes()).collect::<String>()
        );
        super::admin_client::request(&rt.settings, reqwest::Method::DELETE, &path, None).and_then(
            |(status, v)| match status {
                200 => Ok(Some(v)),
                404 => Ok(None),
                _ => Err(refused(status, &v)),
            },
        )
    } else {
        let now = SystemClock.now_ms();
        fn expire_in<O: Outbox>(
            mut store: O,
            rt: &crate::runtime::Runtime,
            id: &str,
            by: &str,
            now: i64,
        ) -> crate::store::Result<Option<Silence>> {
            let mut woken = Default::default();
            store.batch(|b| crate::dispatch::silences::expire(b, rt, id, by, now, &mut woken))
        }
        match &rt.settings.store.url {
            Some(url) => {
                use secrecy::ExposeSecret;
                PgStore::open(url.expose_secret()).and_then(|st| expire_in(st, &rt, id, &by, now))
            }
            None => {
                Store::open(&rt.settings.store.path).and_then(|st| expire_in(st, &rt, id, &by, now))
            }
        }
        .map(|s| s.map(|s| s.to_json(now)))
        .map_err(|e| e.to_string())
    };
    match result {
        Ok(Some(v)) => {
            out!(
                "silence {id} expired by {by}; it held back {} event(s); each route it held events back on gets a summary{}",
                v["suppressed"].as_u64().unwrap_or(0),
                if v["summary"] == json!(false) { " (off for this silence)" } else { "" }
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("error: no silence {id} in force (see `twilert silence list --all`)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
