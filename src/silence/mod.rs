//! Silences (SPEC 14): quiet a known problem for a while without touching
//! `config.toml`. Pure: the matchers (SPEC 3's route matcher keys, plus
//! `routes`), when a silence is active, when it ends, and the checks on a request
//! (each error names its field). Stored by the outbox, applied by the engine's plan.
//!
//! - A silence matches an event on a route when it is active (started, not ended,
//!   not expired), `routes` is empty or names the route, and its matchers accept the
//!   event (the same code as a route's, [`Matchers::matches`]).
//! - It ends at `ends_at` (`for` is `ends_at` = now + for), or with `until_quiet`
//!   once no matching event arrived for that long (counted from its start).

mod request;

pub use request::{request_field, EndSpec, SilenceError, SilenceRequest, SilenceSpec};

use crate::route::{Matchers, RawMatchers, RouteInput};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// How a silence ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SilenceEnd {
    /// At this instant (unix ms): `ends_at`, or `for` from its creation.
    Until { at_ms: i64 },
    /// Once no matching event arrived for `after_ms` (`until_quiet`).
    Quiet { after_ms: i64 },
}

/// The matcher keys as written, kept with the silence (the stored and API form).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatcherLists {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_error_codes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource_sids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude_resource_sids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_sids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub account_sids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub parent_account_sids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
}

/// The matcher keys, as the API and the errors name them.
pub const MATCHER_KEYS: [&str; 9] = [
    "error_codes",
    "exclude_error_codes",
    "resource_sids",
    "exclude_resource_sids",
    "service_sids",
    "account_sids",
    "parent_account_sids",
    "levels",
    "products",
];

impl MatcherLists {
    fn raw(&self) -> RawMatchers<'_> {
        RawMatchers {
            error_codes: &self.error_codes,
            exclude_error_codes: &self.exclude_error_codes,
            resource_sids: &self.resource_sids,
            exclude_resource_sids: &self.exclude_resource_sids,
            service_sids: &self.service_sids,
            account_sids: &self.account_sids,
            parent_account_sids: &self.parent_account_sids,
            levels: &self.levels,
            products: &self.products,
        }
    }

    /// Parses the lists; the first bad item as an error naming its key.
    pub fn compile(&self) -> Result<Matchers, SilenceError> {
        let mut errors = vec![];
        let m = Matchers::parse("silence", self.raw(), &mut errors);
        match errors.into_iter().next() {
            None => Ok(m),
            Some(e) => {
                let rest = e.strip_prefix("silence.").unwrap_or(&e);
                let field = MATCHER_KEYS
                    .into_iter()
                    .find(|k| rest.starts_with(&format!("{k}[")))
                    .unwrap_or("matchers");
                Err(SilenceError::new(field, rest.to_string()))
            }
        }
    }
}

/// A silence: what it matches, when, who and why, and what it held back.
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    /// The matchers as written (shown, stored).
    pub lists: MatcherLists,
    /// The same, parsed.
    pub matchers: Matchers,
    /// Route names it applies to; empty: every route.
    pub routes: Vec<String>,
    pub starts_at_ms: i64,
    pub end: SilenceEnd,
    pub author: String,
    pub comment: String,
    /// Whether each affected route's channels get a summary when it ends.
    pub summary: bool,
    /// Events it held back.
    pub suppressed: u64,
    /// When it last matched an event (what `until_quiet` counts from).
    pub last_match_ms: Option<i64>,
    pub created_at_ms: i64,
    pub expired_at_ms: Option<i64>,
    /// Who expired it early (`None`: it ran out, or is still active).
    pub expired_by: Option<String>,
}

/// The part of a silence that never changes, as the store keeps it (JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Definition {
    #[serde(flatten)]
    lists: MatcherLists,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<String>,
    starts_at_ms: i64,
    end: SilenceEnd,
    author: String,
    comment: String,
    summary: bool,
    created_at_ms: i64,
}

/// The mutable part of a stored silence, kept in columns beside its definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SilenceState {
    pub suppressed: u64,
    pub last_match_ms: Option<i64>,
    pub expired_at_ms: Option<i64>,
    pub expired_by: Option<String>,
}

impl Silence {
    /// The unchanging part as JSON, for the store's `definition` column.
    pub fn definition_json(&self) -> String {
        let d = Definition {
            lists: self.lists.clone(),
            routes: self.routes.clone(),
            starts_at_ms: self.starts_at_ms,
            end: self.end,
            author: self.author.clone(),
            comment: self.comment.clone(),
            summary: self.summary,
            created_at_ms: self.created_at_ms,
        };
        serde_json::to_string(&d).unwrap_or_default()
    }

    /// A silence as the store holds it: its id, definition JSON and state columns.
    pub fn from_stored(id: &str, definition: &str, state: SilenceState) -> Result<Silence, String> {
        let d: Definition = serde_json::from_str(definition).map_err(|e| e.to_string())?;
        let matchers = d.lists.compile().map_err(|e| e.to_string())?;
        Ok(Silence {
            id: id.to_string(),
            lists: d.lists,
            matchers,
            routes: d.routes,
            starts_at_ms: d.starts_at_ms,
            end: d.end,
            author: d.author,
            comment: d.comment,
            summary: d.summary,
            suppressed: state.suppressed,
            last_match_ms: state.last_match_ms,
            created_at_ms: d.created_at_ms,
            expired_at_ms: state.expired_at_ms,
            expired_by: state.expired_by,
        })
    }

    /// When it ends (or ended) by itself, as things stand at `now`.
    pub fn ends_at_ms(&self) -> i64 {
        match self.end {
            SilenceEnd::Until { at_ms } => at_ms,
            SilenceEnd::Quiet { after_ms } => {
                self.last_match_ms.unwrap_or(0).max(self.starts_at_ms) + after_ms
            }
        }
    }

    /// Ran out by itself at `now` (end passed, or quiet long enough).
    pub fn ended(&self, now: i64) -> bool {
        now >= self.ends_at_ms()
    }

    /// Started, not ended, not expired.
    pub fn is_active(&self, now: i64) -> bool {
        self.expired_at_ms.is_none() && self.starts_at_ms <= now && !self.ended(now)
    }

    /// `active`, `pending` (starts later) or `expired`.
    pub fn state(&self, now: i64) -> &'static str {
        if self.expired_at_ms.is_some() || self.ended(now) {
            "expired"
        } else if self.starts_at_ms > now {
            "pending"
        } else {
            "active"
        }
    }

    /// Whether the matchers and `routes` accept the event on `route` (at any time).
    pub fn covers(&self, input: &RouteInput<'_>, route: &str) -> bool {
        (self.routes.is_empty() || self.routes.iter().any(|r| r == route))
            && self.matchers.matches(input)
    }

    /// Whether the silence holds back the event on `route` at `now`.
    pub fn matches(&self, input: &RouteInput<'_>, route: &str, now: i64) -> bool {
        self.is_active(now) && self.covers(input, route)
    }

    /// One line: `error_codes=[11200] resource_sids=[CA*] routes=[voice]`.
    pub fn describe(&self) -> String {
        let mut s = self.matchers.describe();
        if s == "(matches everything)" {
            s.clear();
        }
        if !self.routes.is_empty() {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("routes=[{}]", self.routes.join(",")));
        }
        s
    }

    /// The API's JSON (SPEC 14): matcher keys flat, times in RFC 3339.
    pub fn to_json(&self, now: i64) -> Value {
        let mut v = serde_json::to_value(&self.lists).unwrap_or_else(|_| json!({}));
        let Some(o) = v.as_object_mut() else {
            return v;
        };
        o.insert("id".into(), json!(self.id));
        if !self.routes.is_empty() {
            o.insert("routes".into(), json!(self.routes));
        }
        o.insert(
            "starts_at".into(),
            json!(crate::clock::rfc3339(self.starts_at_ms)),
        );
        match self.end {
            SilenceEnd::Until { at_ms } => {
                o.insert("ends_at".into(), json!(crate::clock::rfc3339(at_ms)));
            }
            SilenceEnd::Quiet { after_ms } => {
                o.insert("until_quiet".into(), json!(duration_text(after_ms)));
                o.insert(
                    "quiet_ends_at".into(),
                    json!(crate::clock::rfc3339(self.ends_at_ms())),
                );
            }
        }
        o.insert("author".into(), json!(self.author));
        o.insert("comment".into(), json!(self.comment));
        o.insert("summary".into(), json!(self.summary));
        o.insert("state".into(), json!(self.state(now)));
        o.insert("suppressed".into(), json!(self.suppressed));
        o.insert(
            "last_match_at".into(),
            json!(self.last_match_ms.map(crate::clock::rfc3339)),
        );
        o.insert(
            "created_at".into(),
            json!(crate::clock::rfc3339(self.created_at_ms)),
        );
        o.insert(
            "expired_at".into(),
            json!(self.expired_at_ms.map(crate::clock::rfc3339)),
        );
        o.insert("expired_by".into(), json!(self.expired_by));
        v
    }
}

/// `2h`, `30m`, `1h 30m` (humantime, whole seconds).
pub use crate::clock::duration_text;

/// A new silence id: 16 hex digits from the OS's random source (unique across
/// replicas without coordination).
pub fn new_id() -> String {
    let mut b = [0u8; 8];
    if getrandom::getrandom(&mut b).is_err() {
        b = fastrand::u64(..).to_be_bytes();
    }
    hex::encode(b)
}

/// What a silence held back on one route: the summary's count and an event for
/// its code and title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceHit {
    pub route: String,
    pub events: u64,
    /// The first event it held back on that route.
    pub sample_sid: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{DebuggerEvent, ErrorCode, PayloadState};

    fn event(code: u32, resource: &str) -> DebuggerEvent {
        let mut ev =
            DebuggerEvent::clone(&crate::render::samples::sample("http-retrieval-failure").event);
        if let PayloadState::Parsed(p) = &mut ev.payload {
            p.error_code = ErrorCode(code);
            p.resource_sid = Some(resource.into());
        }
        ev
    }

    fn req(v: Value) -> SilenceRequest {
        serde_json::from_value(v).unwrap()
    }

    fn silence(v: Value, now: i64) -> Silence {
        req(v)
            .check(&["voice", "sms"])
            .unwrap()
            .build("s1".into(), now)
            .unwrap()
    }

    #[test]
    fn matches_the_route_matcher_keys_and_routes_while_active() {
        let s = silence(
            json!({"error_codes": ["112xx"], "resource_sids": ["CA*"], "routes": ["voice"], "for": "2h", "author": "ann"}),
            1_000,
        );
        let ev = event(11200, "CA0123");
        let input = RouteInput::from_event(&ev, None);
        assert!(s.matches(&input, "voice", 1_000));
        assert!(!s.matches(&input, "sms", 1_000), "routes limits it");
        let other = event(30003, "CA0123");
        assert!(!s.matches(&RouteInput::from_event(&other, None), "voice", 1_000));
        let pn = event(11200, "PN0123");
        assert!(!s.matches(&RouteInput::from_event(&pn, None), "voice", 1_000));
        assert!(s.matches(&input, "voice", 1_000 + 7_199_999));
        assert!(!s.matches(&input, "voice", 1_000 + 7_200_000), "ended");
        let mut expired = s.clone();
        expired.expired_at_ms = Some(2_000);
        assert!(!expired.matches(&input, "voice", 3_000));
    }

    #[test]
    fn until_quiet_ends_once_nothing_matched_for_that_long() {
        let mut s = silence(
            json!({"error_codes": ["11200"], "until_quiet": "30m", "author": "ann"}),
            0,
        );
        assert!(s.is_active(29 * 60_000));
        assert!(s.ended(30 * 60_000), "no match since its start");
        s.last_match_ms = Some(20 * 60_000);
        assert!(s.is_active(49 * 60_000));
        assert!(s.ended(50 * 60_000));
        assert_eq!(s.to_json(0)["until_quiet"], "30m");
    }

    #[test]
    fn a_bad_request_names_its_field() {
        let err = |v: Value| req(v).check(&["voice"]).unwrap_err();
        assert_eq!(
            err(json!({"error_codes": ["11x0"], "for": "1h", "author": "a"})).field,
            "error_codes"
        );
        assert_eq!(
            err(json!({"resource_sids": ["PN1!"], "for": "1h", "author": "a"})).field,
            "resource_sids"
        );
        assert_eq!(err(json!({"for": "1h", "author": "a"})).field, "matchers");
        assert_eq!(
            err(json!({"error_codes": ["11200"], "author": "a"})).field,
            "ends_at"
        );
        assert_eq!(
            err(json!({"error_codes": ["11200"], "for": "2 fortnights", "author": "a"})).field,
            "for"
        );
        assert_eq!(
            err(json!({"error_codes": ["11200"], "for": "1h", "until_quiet": "1h", "author": "a"}))
                .field,
            "ends_at"
        );
        assert_eq!(
            err(json!({"error_codes": ["11200"], "ends_at": "tomorrow", "author": "a"})).field,
            "ends_at"
        );
        assert_eq!(
            err(json!({"error_codes": ["11200"], "for": "1h"})).field,
            "author"
        );
        assert_eq!(
            err(json!({"routes": ["nope"], "for": "1h", "author": "a"})).field,
            "routes"
        );
        assert!(serde_json::from_value::<SilenceRequest>(json!({"error_code": ["1"]})).is_err());
        let past = req(
            json!({"error_codes": ["11200"], "ends_at": "2020-01-01T00:00:00Z", "author": "a"}),
        )
        .check(&[])
        .unwrap()
        .build("x".into(), 1_700_000_000_000)
        .unwrap_err();
        assert_eq!(past.field, "ends_at");
    }

    #[test]
    fn stored_and_loaded_is_the_same_silence() {
        let s = silence(
            json!({"error_codes": ["11200"], "levels": ["error"], "ends_at": "2030-01-01T00:00:00Z", "author": "ann", "comment": "deploy", "summary": false}),
            1_893_000_000_000,
        );
        let state = SilenceState {
            suppressed: 20,
            last_match_ms: Some(5),
            expired_at_ms: None,
            expired_by: None,
        };
        let back = Silence::from_stored("s1", &s.definition_json(), state).unwrap();
        assert_eq!(back.suppressed, 20);
        assert_eq!(
            Silence {
                suppressed: 0,
                last_match_ms: None,
                ..back
            },
            s
        );
        let v = s.to_json(1_893_000_000_000);
        assert_eq!(v["error_codes"], json!(["11200"]));
        assert_eq!(v["ends_at"], "2030-01-01T00:00:00Z");
        assert_eq!(v["state"], "active");
        assert!(v.get("resource_sids").is_none(), "{v}");
    }
}
