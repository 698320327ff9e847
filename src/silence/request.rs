//! A request for a silence — SPEC 14's JSON, also what the CLI and the console's
//! form build — and its checks: every error names its field (`error_codes`,
//! `for`, `author`, ...). A checked request ([`SilenceSpec`]) becomes a
//! [`Silence`] when the engine stamps it with an id and its clock.

use super::{MatcherLists, Silence, SilenceEnd};
use crate::route::Matchers;
use serde::{Deserialize, Serialize};

/// The longest author and comment kept (longer is a 400).
const MAX_AUTHOR: usize = 100;
const MAX_COMMENT: usize = 1000;
/// Silences longer than this are refused: a forgotten silence must end by itself.
const MAX_LENGTH_MS: i64 = 90 * 24 * 3_600_000;

/// A request that does not make a silence; displays as `field: message` (or the
/// message alone when it starts with the field, as `error_codes[1]: ...` does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.line())]
pub struct SilenceError {
    pub field: &'static str,
    pub message: String,
}

impl SilenceError {
    fn line(&self) -> String {
        if self.message.starts_with(self.field) {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }

    pub fn new(field: &'static str, message: impl Into<String>) -> SilenceError {
        SilenceError {
            field,
            message: message.into(),
        }
    }
}

/// `POST /api/v1/silences` (and the CLI's and console's forms): SPEC 14's JSON,
/// the matcher keys flat, one of `ends_at`, `for` or `until_quiet`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SilenceRequest {
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<String>,
    /// RFC 3339; default: now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// A duration from now (`"2h"`).
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_quiet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// A summary when it ends (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<bool>,
}

/// The keys of a [`SilenceRequest`], as its errors name them.
const REQUEST_KEYS: [&str; 17] = [
    "error_codes",
    "exclude_error_codes",
    "resource_sids",
    "exclude_resource_sids",
    "service_sids",
    "account_sids",
    "parent_account_sids",
    "levels",
    "products",
    "routes",
    "starts_at",
    "ends_at",
    "for",
    "until_quiet",
    "author",
    "comment",
    "summary",
];

/// The request key a JSON decoding error is about (`path` as serde_path_to_error
/// gives it, e.g. `error_codes[0]`); `body` when it is the body as a whole (not an
/// object, or an unknown key: the message names it).
pub fn request_field(path: &str, _message: &str) -> &'static str {
    REQUEST_KEYS
        .into_iter()
        .find(|k| path == *k || path.starts_with(&format!("{k}[")))
        .unwrap_or("body")
}

/// How a checked request ends, before "now" is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSpec {
    At(i64),
    For(i64),
    Quiet(i64),
}

/// A checked request: everything but the id and the instant it is created, which
/// the engine adds ([`SilenceSpec::build`]) with its clock.
#[derive(Debug, Clone, PartialEq)]
pub struct SilenceSpec {
    pub lists: MatcherLists,
    pub matchers: Matchers,
    pub routes: Vec<String>,
    pub starts_at_ms: Option<i64>,
    pub end: EndSpec,
    pub author: String,
    pub comment: String,
    pub summary: bool,
}

fn parse_time(field: &'static str, raw: &str) -> Result<i64, SilenceError> {
    let t = humantime::parse_rfc3339_weak(raw.trim()).map_err(|_| {
        SilenceError::new(
            field,
            format!(
                "{raw:?} is not a time; expected RFC 3339 in UTC, like \"2026-12-01T12:00:00Z\""
            ),
        )
    })?;
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| SilenceError::new(field, format!("{raw:?} is before 1970")))?
        .as_millis();
    Ok(ms as i64)
}

fn parse_length(field: &'static str, raw: &str) -> Result<i64, SilenceError> {
    let d = humantime::parse_duration(raw.trim()).map_err(|_| {
        SilenceError::new(
            field,
            format!("{raw:?} is not a duration; expected something like \"2h\" or \"30m\""),
        )
    })?;
    let ms = d.as_millis().min(i64::MAX as u128) as i64;
    if ms < 1000 {
        return Err(SilenceError::new(field, "must be at least 1s"));
    }
    if ms > MAX_LENGTH_MS {
        return Err(SilenceError::new(field, "must be at most 90 days"));
    }
    Ok(ms)
}

fn visible(field: &'static str, raw: &str, max: usize) -> Result<String, SilenceError> {
    let s = raw.trim();
    if s.chars().count() > max {
        return Err(SilenceError::new(
            field,
            format!("longer than {max} characters"),
        ));
    }
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(SilenceError::new(field, "contains control characters"));
    }
    Ok(s.to_string())
}

impl SilenceRequest {
    /// The matchers that cover the group `key` (SPEC 4's group key: the route,
    /// then each `group_by` field as `name=value`, `-` when the event had none):
    /// `routes = [route]` and one list per field with a value. No end, author or
    /// comment yet. The console's "Silence" link and Slack's buttons both start here.
    pub fn for_group(key: &str) -> SilenceRequest {
        let mut parts = key.split('|');
        let mut r = SilenceRequest {
            routes: parts
                .next()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .into_iter()
                .collect(),
            ..SilenceRequest::default()
        };
        for p in parts {
            let Some((field, value)) = p.split_once('=') else {
                continue;
            };
            if value == "-" || value.is_empty() {
                continue;
            }
            let list = match field {
                "error_code" => &mut r.error_codes,
                "resource_sid" => &mut r.resource_sids,
                "service_sid" => &mut r.service_sids,
                "account_sid" => &mut r.account_sids,
                "level" => &mut r.levels,
                "product" => &mut r.products,
                _ => continue,
            };
            list.push(value.to_string());
        }
        r
    }

    /// Checks the request; `routes` must name routes of the running configuration
    /// (`known_routes`). Errors name the field.
    pub fn check(self, known_routes: &[&str]) -> Result<SilenceSpec, SilenceError> {
        let lists = MatcherLists {
            error_codes: self.error_codes,
            exclude_error_codes: self.exclude_error_codes,
            resource_sids: self.resource_sids,
            exclude_resource_sids: self.exclude_resource_sids,
            service_sids: self.service_sids,
            account_sids: self.account_sids,
            parent_account_sids: self.parent_account_sids,
            levels: self.levels,
            products: self.products,
        };
        let matchers = lists.compile()?;
        for (j, r) in self.routes.iter().enumerate() {
            if !known_routes.contains(&r.as_str()) {
                return Err(SilenceError::new(
                    "routes",
                    format!(
                        "routes[{j}]: {r:?} is not a route of the running configuration; routes: {}",
                        known_routes.join(", ")
                    ),
                ));
            }
        }
        if matchers.is_empty() && self.routes.is_empty() {
            return Err(SilenceError::new(
                "matchers",
                "give at least one matcher (error_codes, resource_sids, ...) or routes; \
                 a silence of everything is refused",
            ));
        }
        let end = match (
            self.ends_at.as_deref().filter(|s| !s.trim().is_empty()),
            self.for_.as_deref().filter(|s| !s.trim().is_empty()),
            self.until_quiet.as_deref().filter(|s| !s.trim().is_empty()),
        ) {
            (Some(t), None, None) => EndSpec::At(parse_time("ends_at", t)?),
            (None, Some(d), None) => EndSpec::For(parse_length("for", d)?),
            (None, None, Some(d)) => EndSpec::Quiet(parse_length("until_quiet", d)?),
            (None, None, None) => {
                return Err(SilenceError::new(
                    "ends_at",
                    "give one of ends_at (RFC 3339), for (\"2h\") or until_quiet (\"30m\")",
                ))
            }
            _ => {
                return Err(SilenceError::new(
                    "ends_at",
                    "give only one of ends_at, for and until_quiet",
                ))
            }
        };
        let starts_at_ms = match self.starts_at.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(t) => Some(parse_time("starts_at", t)?),
            None => None,
        };
        let author = visible("author", self.author.as_deref().unwrap_or(""), MAX_AUTHOR)?;
        if author.is_empty() {
            return Err(SilenceError::new(
                "author",
                "is empty; say who silences (a name or handle)",
            ));
        }
        let comment = visible(
            "comment",
            self.comment.as_deref().unwrap_or(""),
            MAX_COMMENT,
        )?;
        Ok(SilenceSpec {
            lists,
            matchers,
            routes: self.routes,
            starts_at_ms,
            end,
            author,
            comment,
            summary: self.summary.unwrap_or(true),
        })
    }
}

impl SilenceSpec {
    /// The silence created at `now` with `id`; refuses an end that is not after its start.
    pub fn build(self, id: String, now: i64) -> Result<Silence, SilenceError> {
        let starts_at_ms = self.starts_at_ms.unwrap_or(now).max(0);
        let end = match self.end {
            EndSpec::At(at_ms) => {
                if at_ms <= starts_at_ms.max(now) {
                    return Err(SilenceError::new(
                        "ends_at",
                        format!(
                            "{} is not after the start ({}) and now",
                            crate::clock::rfc3339(at_ms),
                            crate::clock::rfc3339(starts_at_ms)
                        ),
                    ));
                }
                if at_ms - now > MAX_LENGTH_MS {
                    return Err(SilenceError::new("ends_at", "must be within 90 days"));
                }
                SilenceEnd::Until { at_ms }
            }
            EndSpec::For(ms) => SilenceEnd::Until {
                at_ms: starts_at_ms.max(now) + ms,
            },
            EndSpec::Quiet(after_ms) => SilenceEnd::Quiet { after_ms },
        };
        Ok(Silence {
            id,
            lists: self.lists,
            matchers: self.matchers,
            routes: self.routes,
            starts_at_ms,
            end,
            author: self.author,
            comment: self.comment,
            summary: self.summary,
            suppressed: 0,
            last_match_ms: None,
            created_at_ms: now,
            expired_at_ms: None,
            expired_by: None,
        })
    }
}
