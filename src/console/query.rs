//! Query parameters of the events listing, shared by `/api/v1/events` and
//! `/ui/events`: a bad value is a 400 naming the parameter, never a 500.

use super::ViewError;
use crate::event::Level;
use crate::store::EventFilter;

/// Rows per page unless `limit` says otherwise, and the most a page may hold.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

/// The parsed parameters: filter, page size, and the raw filter values (for links).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub filter: EventFilter,
    pub limit: usize,
    /// `(name, value)` of the filters given, to keep them in pagination links.
    pub given: Vec<(&'static str, String)>,
}

const NAMES: [&str; 7] = [
    "code", "resource", "level", "route", "since", "limit", "before",
];

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses a query string (`code=11200&since=1h&before=123`). Empty values are ignored
/// (what an empty form field sends).
pub fn parse(qs: &str, now_ms: i64) -> Result<EventQuery, ViewError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(qs)
        .map_err(|e| ViewError::field("query", format!("not a query string: {e}")))?;
    let mut q = EventQuery {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    for (name, value) in pairs {
        let value = value.trim().to_string();
        let Some(&name) = NAMES.iter().find(|n| **n == name) else {
            return Err(ViewError::Field {
                field: "query",
                message: format!(
                    "unknown parameter {name:?}; expected one of {}",
                    NAMES.join(", ")
                ),
            });
        };
        if value.is_empty() {
            continue;
        }
        let f = &mut q.filter;
        match name {
            "code" => {
                f.code = Some(
                    crate::event::ErrorCode::parse(&value)
                        .ok_or_else(|| {
                            ViewError::field("code", "must be a Twilio error code: up to 6 digits")
                        })?
                        .0,
                )
            }
            "resource" => {
                if value.len() > 64 {
                    return Err(ViewError::field(
                        "resource",
                        "longer than a Sid (64 characters at most)",
                    ));
                }
                f.resource = Some(value.clone());
            }
            "level" => {
                let l = Level::parse(&value).ok_or_else(|| {
                    ViewError::field("level", "must be one of error, warning, info, debug")
                })?;
                f.level = Some(l.as_str().to_string());
            }
            "route" => {
                if value.len() > 200 {
                    return Err(ViewError::field("route", "longer than 200 characters"));
                }
                f.route = Some(value.clone());
            }
            "since" => f.since_ms = Some(parse_since(&value, now_ms)?),
            "limit" => {
                q.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ViewError::field("limit", format!("must be a number from 1 to {MAX_LIMIT}"))
                    })?;
                continue;
            }
            "before" => {
                f.before = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            ViewError::field(
                                "before",
                                "must be the `next` cursor of a previous page (a positive number)",
                            )
                        })?,
                );
                continue;
            }
            _ => {}
        }
        q.given.push((name, value));
    }
    Ok(q)
}

/// `1h`, `30m`, `2d` ago, or an RFC 3339 time (`2026-12-01T10:00:00Z`).
fn parse_since(v: &str, now_ms: i64) -> Result<i64, ViewError> {
    if let Ok(d) = humantime::parse_duration(v) {
        return Ok(now_ms - d.as_millis().min(i64::MAX as u128) as i64);
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(v) {
        if let Ok(d) = t.duration_since(std::time::UNIX_EPOCH) {
            return Ok(d.as_millis() as i64);
        }
    }
    Err(ViewError::field(
        "since",
        "must be a duration ago (30m, 1h, 2d) or a time (2026-12-01T10:00:00Z)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters_and_names_bad_ones() {
        let q = parse(
            "code=11200&resource=CA1&level=WARNING&route=voice&since=1h&limit=10&before=99",
            3_600_000,
        )
        .unwrap();
        assert_eq!(q.filter.code, Some(11200));
        assert_eq!(q.filter.level.as_deref(), Some("warning"));
        assert_eq!(q.filter.since_ms, Some(0));
        assert_eq!((q.limit, q.filter.before), (10, Some(99)));
        assert_eq!(q.given.len(), 5);
        let field = |qs: &str| match parse(qs, 0) {
            Err(ViewError::Field { field, .. }) => field,
            other => panic!("{qs}: {other:?}"),
        };
        assert_eq!(field("code=abc"), "code");
        assert_eq!(field("level=loud"), "level");
        assert_eq!(field("limit=0"), "limit");
        assert_eq!(field("before=-1"), "before");
        assert_eq!(field("since=yesterday"), "since");
        assert_eq!(field("colour=red"), "query");
        assert!(parse("code=&route=", 0).unwrap().filter == EventFilter::default());
    }
}
