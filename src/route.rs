//! Routing (SPEC 3): `[[routes]]` compiled once into typed matchers, then evaluated
//! per event, in config order.
//!
//! - Patterns are parsed when the router is compiled ([`CodePattern`], [`SidPattern`],
//!   levels, products); a bad one is a config error naming the route and the item.
//! - [`Router::routes_for`] is the hot path (every event): it allocates nothing but the
//!   result and leaves [`RouteMatch::reasons`] empty. [`Router::explain`] returns the
//!   same matches with human-readable reasons, for the `route` dry run and for tests.
//! - Fields combine with AND, list items with OR, excludes remove. The first match
//!   wins unless it has `continue = true`. Muted routes are returned like any other;
//!   the caller records their events as muted.
//! - Missing values: an event without an error code (unreadable payload) matches only
//!   routes with no `error_codes`, and no `exclude_error_codes` removes it. A missing
//!   `resource_sid`/`service_sid` never matches a Sid matcher and is never excluded.
//!   A `products` matcher never matches an event whose product is unknown.

use crate::config::{GroupField, RouteSettings, Settings};
use crate::event::{DebuggerEvent, ErrorCode, Level, Sid};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;
use wildmatch::WildMatch;

/// Name of the synthetic route built from `[defaults].channels`.
pub const DEFAULT_ROUTE: &str = "default";

const CODE_FORMS: &str =
    "a code like \"11200\", a wildcard like \"112xx\" or a range like \"30001-30010\"";
const SID_FORMS: &str = "a Sid or a glob like \"PN*\"";

/// Why a matcher item in `config.toml` was rejected. Displays as the part after
/// `routes[i] ("name").key[j]: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("{raw:?} is empty; expected {expected}")]
    Empty { raw: String, expected: &'static str },
    #[error("{raw:?} is not a code, a wildcard like \"112xx\" or a range like \"30001-30010\"")]
    NotACode { raw: String },
    #[error(
        "{raw:?} is not a code, a wildcard like \"112xx\" or a range like \"30001-30010\" \
         (a wildcard has 5 or 6 positions, like Twilio's codes)"
    )]
    WildcardLength { raw: String },
    #[error("{raw:?} can never match: error codes have no leading zero")]
    LeadingZero { raw: String },
    #[error("{raw:?} is a reversed range: {lo} is above {hi}")]
    ReversedRange {
        raw: String,
        lo: ErrorCode,
        hi: ErrorCode,
    },
    #[error(
        "{raw:?} is neither a Sid (two letters and 32 hex digits) nor a glob like \"PN*\" \
         or \"CA??12*\" (letters, digits, * and ? only)"
    )]
    NotASid { raw: String },
    #[error("{raw:?} is not a level; expected error, warning, info or debug")]
    NotALevel { raw: String },
}

/// One `error_codes` item: `"11200"`, `"112xx"` or `"30001-30010"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePattern {
    Exact(ErrorCode),
    /// Digit wildcard; matches codes with exactly as many digits as it has positions.
    Wildcard(DigitWildcard),
    /// Inclusive, `lo <= hi`.
    Range {
        lo: ErrorCode,
        hi: ErrorCode,
    },
}

/// `"112xx"`: fixed digits and `x` positions (any digit), most significant first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitWildcard {
    positions: [Option<u8>; 6],
    len: u8,
    /// Smallest code with `len` digits (`10^(len-1)`).
    min: u32,
}

impl DigitWildcard {
    fn matches(&self, code: u32) -> bool {
        if code < self.min {
            return false;
        }
        let mut rest = code;
        for pos in self.positions[..self.len as usize].iter().rev() {
            let digit = (rest % 10) as u8;
            rest /= 10;
            if pos.is_some_and(|fixed| fixed != digit) {
                return false;
            }
        }
        rest == 0
    }
}

impl CodePattern {
    pub fn parse(raw: &str) -> Result<CodePattern, PatternError> {
        let s = raw.trim();
        let not_a_code = || PatternError::NotACode { raw: raw.into() };
        if s.is_empty() {
            return Err(PatternError::Empty {
                raw: raw.into(),
                expected: CODE_FORMS,
            });
        }
        if let Some((lo, hi)) = s.split_once('-') {
            let lo = ErrorCode::parse(lo).ok_or_else(not_a_code)?;
            let hi = ErrorCode::parse(hi).ok_or_else(not_a_code)?;
            if lo > hi {
                return Err(PatternError::ReversedRange {
                    raw: raw.into(),
                    lo,
                    hi,
                });
            }
            return Ok(CodePattern::Range { lo, hi });
        }
        if s.bytes().any(|b| b == b'x' || b == b'X') {
            if !s
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'x' || b == b'X')
            {
                return Err(not_a_code());
            }
            if !(5..=6).contains(&s.len()) {
                return Err(PatternError::WildcardLength { raw: raw.into() });
            }
            if s.starts_with('0') {
                return Err(PatternError::LeadingZero { raw: raw.into() });
            }
            let mut positions = [None; 6];
            for (slot, b) in positions.iter_mut().zip(s.bytes()) {
                *slot = b.is_ascii_digit().then(|| b - b'0');
            }
            let len = s.len() as u8;
            return Ok(CodePattern::Wildcard(DigitWildcard {
                positions,
                len,
                min: 10u32.pow(u32::from(len) - 1),
            }));
        }
        ErrorCode::parse(s)
            .map(CodePattern::Exact)
            .ok_or_else(not_a_code)
    }

    pub fn matches(&self, code: ErrorCode) -> bool {
        match self {
            CodePattern::Exact(c) => *c == code,
            CodePattern::Wildcard(w) => w.matches(code.0),
            CodePattern::Range { lo, hi } => *lo <= code && code <= *hi,
        }
    }
}

impl fmt::Display for CodePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodePattern::Exact(c) => write!(f, "{c}"),
            CodePattern::Range { lo, hi } => write!(f, "{lo}-{hi}"),
            CodePattern::Wildcard(w) => {
                w.positions[..w.len as usize]
                    .iter()
                    .try_for_each(|p| match p {
                        Some(d) => write!(f, "{d}"),
                        None => f.write_char('x'),
                    })
            }
        }
    }
}

/// One Sid matcher item: an exact Sid or a case-sensitive glob with `*` and `?`.
#[derive(Debug, Clone, PartialEq)]
pub enum SidPattern {
    Exact(String),
    Glob { pattern: String, glob: WildMatch },
}

impl SidPattern {
    pub fn parse(raw: &str) -> Result<SidPattern, PatternError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(PatternError::Empty {
                raw: raw.into(),
                expected: SID_FORMS,
            });
        }
        let is_glob = s.contains(['*', '?']);
        if is_glob
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
        {
            return Ok(SidPattern::Glob {
                pattern: s.into(),
                glob: WildMatch::new(s),
            });
        }
        match Sid::parse(s) {
            Ok(sid) if !is_glob => Ok(SidPattern::Exact(sid.as_str().into())),
            _ => Err(PatternError::NotASid { raw: raw.into() }),
        }
    }

    pub fn matches(&self, sid: &str) -> bool {
        match self {
            SidPattern::Exact(s) => s == sid,
            SidPattern::Glob { glob, .. } => glob.matches(sid),
        }
    }
}

impl fmt::Display for SidPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SidPattern::Exact(s) | SidPattern::Glob { pattern: s, .. } => f.write_str(s),
        }
    }
}

fn parse_level(raw: &str) -> Result<Level, PatternError> {
    Level::parse(raw).ok_or_else(|| PatternError::NotALevel { raw: raw.into() })
}

fn parse_product(raw: &str) -> Result<String, PatternError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(PatternError::Empty {
            raw: raw.into(),
            expected: "a catalog product like \"Programmable Voice\"",
        });
    }
    Ok(s.into())
}

/// What routing looks at in an event. `product` comes from the catalog (by code).
#[derive(Debug, Clone, Copy)]
pub struct RouteInput<'a> {
    pub error_code: Option<ErrorCode>,
    pub resource_sid: Option<&'a str>,
    pub service_sid: Option<&'a str>,
    pub account_sid: &'a str,
    pub level: &'a Level,
    pub product: Option<&'a str>,
}

impl<'a> RouteInput<'a> {
    pub fn from_event(ev: &'a DebuggerEvent, product: Option<&'a str>) -> RouteInput<'a> {
        RouteInput {
            error_code: ev.error_code(),
            resource_sid: ev.resource_sid(),
            service_sid: ev.service_sid(),
            account_sid: ev.account_sid.as_str(),
            level: &ev.level,
            product,
        }
    }
}

/// A route ready to evaluate: settings resolved against `[defaults]`, patterns parsed.
#[derive(Debug, Clone)]
pub struct CompiledRoute {
    pub name: String,
    /// Position in `[[routes]]`; `None` for the synthetic [`DEFAULT_ROUTE`].
    pub index: Option<usize>,
    pub channels: Vec<String>,
    pub mute: bool,
    pub continue_: bool,
    pub template: Option<String>,
    /// The route's `window`, else `[defaults].window`.
    pub window: Duration,
    /// The route's `group_by`, else `[defaults].group_by`.
    pub group_by: Vec<GroupField>,
    pub mention: Option<String>,
    pub error_codes: Vec<CodePattern>,
    pub exclude_error_codes: Vec<CodePattern>,
    pub resource_sids: Vec<SidPattern>,
    pub exclude_resource_sids: Vec<SidPattern>,
    pub service_sids: Vec<SidPattern>,
    pub account_sids: Vec<SidPattern>,
    pub levels: Vec<Level>,
    /// As written; compared ASCII-case-insensitively.
    pub products: Vec<String>,
}

fn first_code(pats: &[CodePattern], code: Option<ErrorCode>) -> Option<&CodePattern> {
    code.and_then(|c| pats.iter().find(|p| p.matches(c)))
}

fn first_sid<'p>(pats: &'p [SidPattern], sid: Option<&str>) -> Option<&'p SidPattern> {
    sid.and_then(|s| pats.iter().find(|p| p.matches(s)))
}

fn first_product<'p>(pats: &'p [String], product: Option<&str>) -> Option<&'p String> {
    product.and_then(|p| pats.iter().find(|q| q.eq_ignore_ascii_case(p)))
}

impl CompiledRoute {
    /// True when the route has no matchers (excludes count as matchers).
    pub fn is_catch_all(&self) -> bool {
        self.error_codes.is_empty()
            && self.exclude_error_codes.is_empty()
            && self.resource_sids.is_empty()
            && self.exclude_resource_sids.is_empty()
            && self.service_sids.is_empty()
            && self.account_sids.is_empty()
            && self.levels.is_empty()
            && self.products.is_empty()
    }

    /// Does this route's matchers accept the input? Allocation-free.
    pub fn matches(&self, input: &RouteInput<'_>) -> bool {
        (self.levels.is_empty() || self.levels.contains(input.level))
            && (self.error_codes.is_empty()
                || first_code(&self.error_codes, input.error_code).is_some())
            && first_code(&self.exclude_error_codes, input.error_code).is_none()
            && (self.products.is_empty() || first_product(&self.products, input.product).is_some())
            && (self.resource_sids.is_empty()
                || first_sid(&self.resource_sids, input.resource_sid).is_some())
            && first_sid(&self.exclude_resource_sids, input.resource_sid).is_none()
            && (self.service_sids.is_empty()
                || first_sid(&self.service_sids, input.service_sid).is_some())
            && (self.account_sids.is_empty()
                || first_sid(&self.account_sids, Some(input.account_sid)).is_some())
    }

    /// Why the route matched, one entry per matcher; call only when [`Self::matches`].
    fn reasons(&self, input: &RouteInput<'_>) -> Vec<String> {
        let mut out = Vec::new();
        let mut hit = |key: &str, item: Option<String>| {
            if let Some(item) = item {
                out.push(format!("{key} matched {item:?}"));
            }
        };
        hit(
            "error_codes",
            first_code(&self.error_codes, input.error_code).map(|p| p.to_string()),
        );
        hit(
            "resource_sids",
            first_sid(&self.resource_sids, input.resource_sid).map(|p| p.to_string()),
        );
        hit(
            "service_sids",
            first_sid(&self.service_sids, input.service_sid).map(|p| p.to_string()),
        );
        hit(
            "account_sids",
            first_sid(&self.account_sids, Some(input.account_sid)).map(|p| p.to_string()),
        );
        hit(
            "levels",
            self.levels
                .iter()
                .find(|l| *l == input.level)
                .map(|l| l.as_str().to_string()),
        );
        hit(
            "products",
            first_product(&self.products, input.product).cloned(),
        );
        if !self.exclude_error_codes.is_empty() {
            out.push("not excluded by exclude_error_codes".into());
        }
        if !self.exclude_resource_sids.is_empty() {
            out.push("not excluded by exclude_resource_sids".into());
        }
        if out.is_empty() {
            out.push("no matchers".into());
        }
        out
    }

    /// One line for the `check` route table, e.g.
    /// `error_codes=[112xx,30001-30010] levels=[error]`, or `(matches everything)`.
    pub fn describe_matchers(&self) -> String {
        fn list<T: fmt::Display>(out: &mut String, key: &str, items: &[T]) {
            if items.is_empty() {
                return;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = write!(out, "{key}=[");
            for (i, item) in items.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(out, "{sep}{item}");
            }
            out.push(']');
        }
        let mut out = String::new();
        list(&mut out, "error_codes", &self.error_codes);
        list(&mut out, "exclude_error_codes", &self.exclude_error_codes);
        list(&mut out, "resource_sids", &self.resource_sids);
        list(
            &mut out,
            "exclude_resource_sids",
            &self.exclude_resource_sids,
        );
        list(&mut out, "service_sids", &self.service_sids);
        list(&mut out, "account_sids", &self.account_sids);
        list(&mut out, "levels", &self.levels);
        list(&mut out, "products", &self.products);
        if out.is_empty() {
            out.push_str("(matches everything)");
        }
        out
    }

    /// `routes[2] ("sms-failures")`, or `defaults` for the synthetic route.
    fn label(&self) -> String {
        match self.index {
            Some(i) => format!("routes[{i}] ({:?})", self.name),
            None => "defaults".into(),
        }
    }
}

/// A route an event goes to. `reasons` is filled by [`Router::explain`] only.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    pub route: Arc<CompiledRoute>,
    pub reasons: Vec<String>,
}

/// All routes, compiled from [`Settings`]; cheap to share (`Arc` inside).
#[derive(Debug, Clone)]
pub struct Router {
    routes: Vec<Arc<CompiledRoute>>,
    /// From `[defaults].channels`, when set.
    fallback: Option<Arc<CompiledRoute>>,
}

/// Parses each item of one matcher list, recording `at.key[j]: message` on error.
fn parse_list<T>(
    at: &str,
    key: &str,
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, PatternError>,
    errors: &mut Vec<String>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(raw.len());
    for (j, item) in raw.iter().enumerate() {
        match parse(item) {
            Ok(p) => out.push(p),
            Err(e) => errors.push(format!("{at}.{key}[{j}]: {e}")),
        }
    }
    out
}

/// Checks a channel list against `[channels]`: unknown names and repeats.
fn check_channels(at: &str, channels: &[String], settings: &Settings, errors: &mut Vec<String>) {
    for (j, ch) in channels.iter().enumerate() {
        if !settings.channels.contains_key(ch) {
            let defined = if settings.channels.is_empty() {
                "none (add a [channels.<name>] table)".to_string()
            } else {
                let names: Vec<String> =
                    settings.channels.keys().map(|k| format!("{k:?}")).collect();
                names.join(", ")
            };
            errors.push(format!(
                "{at}.channels[{j}]: unknown channel {ch:?}; defined channels: {defined}"
            ));
        } else if channels[..j].contains(ch) {
            errors.push(format!("{at}.channels[{j}]: {ch:?} is listed twice"));
        }
    }
}

fn compile_route(
    i: usize,
    rs: &RouteSettings,
    settings: &Settings,
    errors: &mut Vec<String>,
) -> CompiledRoute {
    let at = format!("routes[{i}] ({:?})", rs.name);
    if rs.name.trim().is_empty() {
        errors.push(format!(
            "{at}.name: is empty; every route needs a unique name"
        ));
    }
    check_channels(&at, &rs.channels, settings, errors);
    if rs.channels.is_empty() && !rs.mute {
        errors.push(format!(
            "{at}.channels: is empty; list at least one channel, or set mute = true"
        ));
    }
    let defaults = &settings.defaults;
    CompiledRoute {
        name: rs.name.clone(),
        index: Some(i),
        channels: rs.channels.clone(),
        mute: rs.mute,
        continue_: rs.continue_,
        template: rs.template.clone(),
        window: rs.window.unwrap_or(defaults.window).0,
        group_by: rs
            .group_by
            .clone()
            .unwrap_or_else(|| defaults.group_by.clone()),
        mention: rs.mention.clone(),
        error_codes: parse_list(
            &at,
            "error_codes",
            &rs.error_codes,
            CodePattern::parse,
            errors,
        ),
        exclude_error_codes: parse_list(
            &at,
            "exclude_error_codes",
            &rs.exclude_error_codes,
            CodePattern::parse,
            errors,
        ),
        resource_sids: parse_list(
            &at,
            "resource_sids",
            &rs.resource_sids,
            SidPattern::parse,
            errors,
        ),
        exclude_resource_sids: parse_list(
            &at,
            "exclude_resource_sids",
            &rs.exclude_resource_sids,
            SidPattern::parse,
            errors,
        ),
        service_sids: parse_list(
            &at,
            "service_sids",
            &rs.service_sids,
            SidPattern::parse,
            errors,
        ),
        account_sids: parse_list(
            &at,
            "account_sids",
            &rs.account_sids,
            SidPattern::parse,
            errors,
        ),
        levels: parse_list(&at, "levels", &rs.levels, parse_level, errors),
        products: parse_list(&at, "products", &rs.products, parse_product, errors),
    }
}

impl Router {
    /// Compiles `[[routes]]` and `[defaults]`. On failure, returns every problem found,
    /// each naming the route (index and name), the key and the item.
    pub fn compile(settings: &Settings) -> Result<Router, Vec<String>> {
        let mut errors = Vec::new();
        let defaults = &settings.defaults;
        check_channels("defaults", &defaults.channels, settings, &mut errors);

        let mut first_use: HashMap<&str, usize> = HashMap::new();
        let mut routes = Vec::with_capacity(settings.routes.len());
        for (i, rs) in settings.routes.iter().enumerate() {
            if !rs.name.trim().is_empty() {
                if let Some(prev) = first_use.get(rs.name.as_str()) {
                    errors.push(format!(
                        "routes[{i}] ({:?}).name: duplicate, also used by routes[{prev}]; names must be unique",
                        rs.name
                    ));
                } else {
                    first_use.insert(&rs.name, i);
                }
                if rs.name == DEFAULT_ROUTE && !defaults.channels.is_empty() {
                    errors.push(format!(
                        "routes[{i}] ({:?}).name: reserved for events no route matches \
                         ([defaults].channels); pick another name",
                        rs.name
                    ));
                }
            }
            routes.push(Arc::new(compile_route(i, rs, settings, &mut errors)));
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        let fallback = (!defaults.channels.is_empty()).then(|| {
            Arc::new(CompiledRoute {
                name: DEFAULT_ROUTE.into(),
                index: None,
                channels: defaults.channels.clone(),
                mute: false,
                continue_: false,
                template: None,
                window: defaults.window.0,
                group_by: defaults.group_by.clone(),
                mention: None,
                error_codes: vec![],
                exclude_error_codes: vec![],
                resource_sids: vec![],
                exclude_resource_sids: vec![],
                service_sids: vec![],
                account_sids: vec![],
                levels: vec![],
                products: vec![],
            })
        });
        Ok(Router { routes, fallback })
    }

    /// The compiled `[[routes]]`, in order (the synthetic default route is not included).
    pub fn routes(&self) -> &[Arc<CompiledRoute>] {
        &self.routes
    }

    /// The synthetic [`DEFAULT_ROUTE`] built from `[defaults].channels`, if set.
    pub fn fallback(&self) -> Option<&Arc<CompiledRoute>> {
        self.fallback.as_ref()
    }

    /// Routes for one event, in order; `reasons` left empty (hot path). Empty result =
    /// unrouted. Muted routes are included; the caller records them as muted.
    pub fn routes_for(&self, input: &RouteInput<'_>) -> Vec<RouteMatch> {
        self.select(input, false)
    }

    /// Same matches as [`Self::routes_for`], each with the reasons it matched
    /// (`error_codes matched "112xx"`, `no matchers`, ...). For the dry-run CLI.
    pub fn explain(&self, input: &RouteInput<'_>) -> Vec<RouteMatch> {
        self.select(input, true)
    }

    fn select(&self, input: &RouteInput<'_>, with_reasons: bool) -> Vec<RouteMatch> {
        let mut out = Vec::new();
        for route in &self.routes {
            if !route.matches(input) {
                continue;
            }
            let reasons = if with_reasons {
                route.reasons(input)
            } else {
                Vec::new()
            };
            out.push(RouteMatch {
                route: Arc::clone(route),
                reasons,
            });
            if !route.continue_ {
                return out;
            }
        }
        if out.is_empty() {
            if let Some(fallback) = &self.fallback {
                let reasons = if with_reasons {
                    vec!["no route matched; [defaults].channels".to_string()]
                } else {
                    Vec::new()
                };
                out.push(RouteMatch {
                    route: Arc::clone(fallback),
                    reasons,
                });
            }
        }
        out
    }

    /// Things that are legal but almost surely unintended: routes after a catch-all
    /// route without `continue` (muted or not) can never match, and then neither can
    /// `[defaults].channels`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(catch_all) = self
            .routes
            .iter()
            .find(|r| r.is_catch_all() && !r.continue_)
        else {
            return out;
        };
        let why = format!(
            "{} matches every event and has no continue = true",
            catch_all.label()
        );
        let after = catch_all.index.map_or(self.routes.len(), |i| i + 1);
        for route in &self.routes[after..] {
            out.push(format!("{}: unreachable, {why}", route.label()));
        }
        if self.fallback.is_some() {
            out.push(format!("defaults.channels: never used, {why}"));
        }
        out
    }
}

fn group_field_name(field: GroupField) -> &'static str {
    match field {
        GroupField::ErrorCode => "error_code",
        GroupField::ResourceSid => "resource_sid",
        GroupField::ServiceSid => "service_sid",
        GroupField::AccountSid => "account_sid",
        GroupField::Level => "level",
        GroupField::Product => "product",
    }
}

/// The group an event falls in on `route` (SPEC 4): the route name, then each
/// `group_by` field as `name=value` (`-` when missing), joined with `|`, e.g.
/// `voice|error_code=11200|resource_sid=CA…`.
pub fn group_key(route: &CompiledRoute, ev: &DebuggerEvent, product: Option<&str>) -> String {
    let mut key = String::with_capacity(route.name.len() + 48 * route.group_by.len());
    key.push_str(&route.name);
    for field in &route.group_by {
        key.push('|');
        key.push_str(group_field_name(*field));
        key.push('=');
        let value = match field {
            GroupField::ErrorCode => {
                if let Some(code) = ev.error_code() {
                    let _ = write!(key, "{code}");
                    continue;
                }
                None
            }
            GroupField::ResourceSid => ev.resource_sid(),
            GroupField::ServiceSid => ev.service_sid(),
            GroupField::AccountSid => Some(ev.account_sid.as_str()),
            GroupField::Level => Some(ev.level.as_str()),
            GroupField::Product => product,
        };
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => key.push_str(v),
            None => key.push('-'),
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Payload, PayloadState};

    const ACCOUNT: &str = "AC00000000000000000000000000000001";
    const CHANNELS: &str = r#"
[channels.ops]
kind = "console"
[channels.oncall]
kind = "console"
"#;

    fn settings(toml: &str) -> Settings {
        ::config::Config::builder()
            .add_source(::config::File::from_str(toml, ::config::FileFormat::Toml))
            .build()
            .expect("valid TOML")
            .try_deserialize::<Settings>()
            .expect("valid settings")
    }

    fn router(routes: &str) -> Router {
        Router::compile(&settings(&format!("{CHANNELS}{routes}"))).expect("router compiles")
    }

    fn errors(routes: &str) -> Vec<String> {
        Router::compile(&settings(&format!("{CHANNELS}{routes}"))).expect_err("router rejected")
    }

    fn event(code: Option<u32>, resource_sid: Option<&str>, level: Level) -> DebuggerEvent {
        let payload = match code {
            Some(c) => PayloadState::Parsed(Payload {
                error_code: ErrorCode(c),
                resource_sid: resource_sid.map(Into::into),
                service_sid: None,
                more_info: None,
                webhook: None,
            }),
            None => PayloadState::Unreadable {
                reason: "not JSON".into(),
                resource_sid: resource_sid.map(Into::into),
            },
        };
        DebuggerEvent {
            sid: Sid::parse("NO00000000000000000000000000000001").expect("sid"),
            account_sid: Sid::parse(ACCOUNT).expect("sid"),
            parent_account_sid: None,
            timestamp: None,
            level,
            payload,
            raw_payload: "{}".into(),
            received_at_ms: 0,
        }
    }

    fn input<'a>(ev: &'a DebuggerEvent, product: Option<&'a str>) -> RouteInput<'a> {
        RouteInput::from_event(ev, product)
    }

    /// Names of the routes an event goes to.
    fn names(
        r: &Router,
        code: Option<u32>,
        sid: Option<&str>,
        level: Level,
        product: Option<&str>,
    ) -> Vec<String> {
        let ev = event(code, sid, level);
        r.routes_for(&input(&ev, product))
            .into_iter()
            .map(|m| m.route.name.clone())
            .collect()
    }

    fn code(raw: &str) -> CodePattern {
        CodePattern::parse(raw).expect("valid code pattern")
    }

    #[test]
    fn exact_code() {
        let p = code("11200");
        assert_eq!(p, CodePattern::Exact(ErrorCode(11200)));
        assert!(p.matches(ErrorCode(11200)));
        assert!(!p.matches(ErrorCode(11201)));
        assert_eq!(p.to_string(), "11200");
        assert!(code(" 404 ").matches(ErrorCode(404)));
    }

    #[test]
    fn wildcard_trailing_inner_and_length() {
        let p = code("112xx");
        assert!(p.matches(ErrorCode(11200)));
        assert!(p.matches(ErrorCode(11299)));
        assert!(!p.matches(ErrorCode(11300)));
        assert!(!p.matches(ErrorCode(11199)));
        assert!(!p.matches(ErrorCode(1120)), "fewer digits");
        assert!(!p.matches(ErrorCode(112000)), "more digits");
        assert!(!p.matches(ErrorCode(211200)));
        let inner = code("3x0X1");
        assert!(inner.matches(ErrorCode(30001)));
        assert!(inner.matches(ErrorCode(39091)));
        assert!(!inner.matches(ErrorCode(30101)));
        assert!(!inner.matches(ErrorCode(30002)));
        assert_eq!(inner.to_string(), "3x0x1");
        let any5 = code("xxxxx");
        assert!(any5.matches(ErrorCode(10000)));
        assert!(any5.matches(ErrorCode(99999)));
        assert!(!any5.matches(ErrorCode(9999)));
        assert!(code("4560xx").matches(ErrorCode(456001)));
    }

    #[test]
    fn range_inclusive_edges() {
        let p = code("30001-30010");
        assert_eq!(p.to_string(), "30001-30010");
        assert!(p.matches(ErrorCode(30001)));
        assert!(p.matches(ErrorCode(30010)));
        assert!(!p.matches(ErrorCode(30000)));
        assert!(!p.matches(ErrorCode(30011)));
        assert!(code("30005-30005").matches(ErrorCode(30005)));
        assert!(code("400 - 410").matches(ErrorCode(404)));
    }

    #[test]
    fn code_pattern_errors() {
        let msg = |raw: &str| CodePattern::parse(raw).expect_err(raw).to_string();
        let generic = "is not a code, a wildcard like \"112xx\" or a range like \"30001-30010\"";
        assert!(
            msg("11x0").starts_with(&format!("\"11x0\" {generic}")),
            "{}",
            msg("11x0")
        );
        assert!(msg("3000-").starts_with(&format!("\"3000-\" {generic}")));
        assert!(msg("-3000").contains(generic));
        assert!(msg("abc").contains(generic));
        assert!(msg("1120a").contains(generic));
        assert!(msg("1234567").contains(generic));
        assert!(msg("1-2-3").contains(generic));
        assert_eq!(
            msg("30010-30001"),
            "\"30010-30001\" is a reversed range: 30010 is above 30001"
        );
        assert!(msg("").starts_with("\"\" is empty; expected a code like \"11200\""));
        assert!(msg("   ").contains("is empty"));
        assert!(msg("0112x").contains("can never match"));
    }

    #[test]
    fn sid_patterns_exact_and_glob() {
        let pn = SidPattern::parse("PN*").expect("glob");
        assert!(pn.matches("PN0123456789abcdef0123456789abcdef"));
        assert!(
            !pn.matches("pn0123456789abcdef0123456789abcdef"),
            "case-sensitive"
        );
        assert!(!pn.matches("CA0123456789abcdef0123456789abcdef"));
        let ca = SidPattern::parse("CA??12*").expect("glob");
        assert!(ca.matches("CAab12cdef0123456789abcdef01234567"));
        assert!(!ca.matches("CAa12cdef0123456789abcdef012345678"));
        assert_eq!(ca.to_string(), "CA??12*");
        let exact = SidPattern::parse("CA0123456789abcdef0123456789abcdef").expect("sid");
        assert!(exact.matches("CA0123456789abcdef0123456789abcdef"));
        assert!(!exact.matches("CA0123456789abcdef0123456789abcdee"));
        for bad in ["PN123", "PN *", "P[N]*"] {
            let e = SidPattern::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("is neither a Sid"), "{e}");
        }
        assert!(SidPattern::parse("")
            .expect_err("empty")
            .to_string()
            .contains("is empty"));
    }

    #[test]
    fn levels_any_case_and_products_case_insensitive() {
        let r = router(
            r#"
[[routes]]
name = "warn"
channels = ["ops"]
levels = ["WARNING", "Debug"]
[[routes]]
name = "voice"
channels = ["ops"]
products = ["programmable voice"]
"#,
        );
        assert_eq!(names(&r, Some(1), None, Level::Warning, None), ["warn"]);
        assert_eq!(names(&r, Some(1), None, Level::Debug, None), ["warn"]);
        assert_eq!(
            names(&r, Some(1), None, Level::Error, Some("Programmable Voice")),
            ["voice"]
        );
        assert!(names(&r, Some(1), None, Level::Error, Some("Programmable SMS")).is_empty());
        assert!(
            names(&r, Some(1), None, Level::Error, None).is_empty(),
            "unknown product"
        );
        let e = errors("[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\nlevels = [\"loud\"]\n");
        assert_eq!(
            e,
            [
                r#"routes[0] ("x").levels[0]: "loud" is not a level; expected error, warning, info or debug"#
            ]
        );
    }

    #[test]
    fn fields_and_items_or_excludes_remove() {
        let r = router(
            r#"
[[routes]]
name = "sms"
channels = ["ops"]
error_codes = ["300xx", "21610"]
exclude_error_codes = ["30007"]
resource_sids = ["SM*", "MM*"]
exclude_resource_sids = ["SM0000*"]
"#,
        );
        let sm = "SM1234567890abcdef1234567890abcdef";
        assert_eq!(
            names(&r, Some(30003), Some(sm), Level::Error, None),
            ["sms"]
        );
        assert_eq!(
            names(&r, Some(21610), Some("MMff"), Level::Error, None),
            ["sms"]
        );
        assert!(
            names(&r, Some(30007), Some(sm), Level::Error, None).is_empty(),
            "excluded code"
        );
        assert!(
            names(&r, Some(30003), Some("SM0000ab"), Level::Error, None).is_empty(),
            "excluded sid"
        );
        assert!(
            names(&r, Some(30003), Some("CA12"), Level::Error, None).is_empty(),
            "AND"
        );
        assert!(
            names(&r, Some(11200), Some(sm), Level::Error, None).is_empty(),
            "AND"
        );
        assert!(
            names(&r, Some(30003), None, Level::Error, None).is_empty(),
            "missing sid never matches"
        );
    }

    #[test]
    fn missing_values_semantics() {
        let r = router(
            r#"
[[routes]]
name = "codes"
channels = ["ops"]
error_codes = ["xxxxx"]
continue = true
[[routes]]
name = "not-11200"
channels = ["ops"]
exclude_error_codes = ["11200"]
exclude_resource_sids = ["CA*"]
continue = true
[[routes]]
name = "services"
channels = ["ops"]
service_sids = ["MG*"]
"#,
        );
        // Unreadable payload: no code; only routes without error_codes; excludes don't bite.
        assert_eq!(names(&r, None, None, Level::Error, None), ["not-11200"]);
        assert!(
            names(&r, None, Some("CA12"), Level::Error, None).is_empty(),
            "a present sid is still excluded"
        );
        assert_eq!(
            names(&r, None, Some("PN12"), Level::Error, None),
            ["not-11200"]
        );
        assert_eq!(names(&r, Some(11200), None, Level::Error, None), ["codes"]);
        assert_eq!(
            names(&r, Some(30003), None, Level::Error, None),
            ["codes", "not-11200"]
        );
    }

    #[test]
    fn first_match_wins_continue_and_mute() {
        let r = router(
            r#"
[[routes]]
name = "audit"
channels = ["oncall"]
levels = ["error"]
continue = true
[[routes]]
name = "noisy"
mute = true
error_codes = ["11200"]
[[routes]]
name = "voice"
channels = ["ops"]
error_codes = ["11xxx"]
[[routes]]
name = "also-voice"
channels = ["ops"]
error_codes = ["112xx"]
"#,
        );
        assert_eq!(
            names(&r, Some(11200), None, Level::Error, None),
            ["audit", "noisy"]
        );
        assert_eq!(
            names(&r, Some(11205), None, Level::Error, None),
            ["audit", "voice"]
        );
        assert_eq!(
            names(&r, Some(11205), None, Level::Warning, None),
            ["voice"]
        );
        let ev = event(Some(11200), None, Level::Warning);
        let matches = r.routes_for(&input(&ev, None));
        assert!(matches[0].route.mute && matches[0].route.channels.is_empty());
        assert!(
            matches[0].reasons.is_empty(),
            "routes_for leaves reasons empty"
        );
    }

    #[test]
    fn explain_gives_reasons() {
        let r = router(
            r#"
[[routes]]
name = "voice"
channels = ["ops"]
error_codes = ["11200", "112xx"]
levels = ["ERROR"]
exclude_resource_sids = ["PN*"]
continue = true
[[routes]]
name = "all"
channels = ["ops"]
"#,
        );
        let ev = event(Some(11205), Some("CA12"), Level::Error);
        let m = r.explain(&input(&ev, None));
        assert_eq!(
            m[0].reasons,
            [
                "error_codes matched \"112xx\"",
                "levels matched \"error\"",
                "not excluded by exclude_resource_sids"
            ]
        );
        assert_eq!(m[1].reasons, ["no matchers"]);
        assert_eq!(
            r.routes()[0].describe_matchers(),
            "error_codes=[11200,112xx] exclude_resource_sids=[PN*] levels=[error]"
        );
        assert_eq!(r.routes()[1].describe_matchers(), "(matches everything)");
    }

    #[test]
    fn defaults_fallback_and_unrouted() {
        let toml = format!(
            "{CHANNELS}[defaults]\nchannels = [\"oncall\"]\nwindow = \"10m\"\ngroup_by = [\"level\"]\n\
             [[routes]]\nname = \"voice\"\nchannels = [\"ops\"]\nerror_codes = [\"11200\"]\nwindow = \"30s\"\n"
        );
        let r = Router::compile(&settings(&toml)).expect("compiles");
        assert_eq!(names(&r, Some(11200), None, Level::Error, None), ["voice"]);
        assert_eq!(r.routes()[0].window, Duration::from_secs(30));
        assert_eq!(
            r.routes()[0].group_by,
            [GroupField::Level],
            "inherits defaults"
        );
        let ev = event(Some(30003), None, Level::Error);
        let m = r.routes_for(&input(&ev, None));
        assert_eq!(m.len(), 1);
        let d = &m[0].route;
        assert_eq!((d.name.as_str(), d.index), (DEFAULT_ROUTE, None));
        assert_eq!(d.channels, ["oncall"]);
        assert_eq!(d.window, Duration::from_secs(600));
        assert_eq!(d.group_by, [GroupField::Level]);
        assert!(r.warnings().is_empty());

        let r = router(
            "[[routes]]\nname = \"voice\"\nchannels = [\"ops\"]\nerror_codes = [\"11200\"]\n",
        );
        assert!(
            names(&r, Some(30003), None, Level::Error, None).is_empty(),
            "unrouted"
        );
        assert_eq!(r.routes()[0].window, Duration::from_secs(300));
        assert_eq!(
            r.routes()[0].group_by,
            [GroupField::ErrorCode, GroupField::ResourceSid]
        );
    }

    #[test]
    fn unreachable_after_catch_all() {
        let r = router(
            r#"
[[routes]]
name = "first"
channels = ["ops"]
error_codes = ["11200"]
[[routes]]
name = "everything"
mute = true
[[routes]]
name = "late"
channels = ["ops"]
levels = ["error"]
[[routes]]
name = "later"
channels = ["ops"]
"#,
        );
        let why = r#"routes[1] ("everything") matches every event and has no continue = true"#;
        assert_eq!(
            r.warnings(),
            [
                format!(r#"routes[2] ("late"): unreachable, {why}"#),
                format!(r#"routes[3] ("later"): unreachable, {why}"#),
            ]
        );
        let r = router("[[routes]]\nname = \"tap\"\nchannels = [\"ops\"]\ncontinue = true\n[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\n");
        assert!(
            r.warnings().is_empty(),
            "continue = true keeps later routes reachable"
        );
        let r = router("[[routes]]\nname = \"not-one\"\nchannels = [\"ops\"]\nexclude_error_codes = [\"1\"]\n[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\n");
        assert!(r.warnings().is_empty(), "an exclude is a matcher");
    }

    #[test]
    fn all_errors_collected_with_route_and_item() {
        let e = errors(
            r#"
[[routes]]
name = "voice"
channels = ["ops", "slak"]
[[routes]]
name = "voice"
channels = ["ops", "ops"]
[[routes]]
name = "sms-failures"
channels = ["ops"]
error_codes = ["30001", "11x0", "30010-30001"]
resource_sids = ["PN123"]
[[routes]]
name = ""
channels = []
"#,
        );
        assert_eq!(
            e,
            [
                r#"routes[0] ("voice").channels[1]: unknown channel "slak"; defined channels: "oncall", "ops""#,
                r#"routes[1] ("voice").name: duplicate, also used by routes[0]; names must be unique"#,
                r#"routes[1] ("voice").channels[1]: "ops" is listed twice"#,
                r#"routes[2] ("sms-failures").error_codes[1]: "11x0" is not a code, a wildcard like "112xx" or a range like "30001-30010" (a wildcard has 5 or 6 positions, like Twilio's codes)"#,
                r#"routes[2] ("sms-failures").error_codes[2]: "30010-30001" is a reversed range: 30010 is above 30001"#,
                r#"routes[2] ("sms-failures").resource_sids[0]: "PN123" is neither a Sid (two letters and 32 hex digits) nor a glob like "PN*" or "CA??12*" (letters, digits, * and ? only)"#,
                r#"routes[3] ("").name: is empty; every route needs a unique name"#,
                r#"routes[3] ("").channels: is empty; list at least one channel, or set mute = true"#,
            ]
        );
    }

    #[test]
    fn defaults_channel_errors_and_reserved_name() {
        let toml = format!(
            "{CHANNELS}[defaults]\nchannels = [\"ops\", \"pager\"]\n\
             [[routes]]\nname = \"default\"\nchannels = [\"ops\"]\n"
        );
        let e = Router::compile(&settings(&toml)).expect_err("rejected");
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(
            e[0],
            r#"defaults.channels[1]: unknown channel "pager"; defined channels: "oncall", "ops""#
        );
        assert!(
            e[1].starts_with(r#"routes[0] ("default").name: reserved"#),
            "{}",
            e[1]
        );
        let e = Router::compile(&settings(
            "[[routes]]\nname = \"x\"\nchannels = [\"ops\"]\n",
        ))
        .expect_err("no channels");
        assert!(
            e[0].ends_with("defined channels: none (add a [channels.<name>] table)"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn group_key_fields_and_missing_values() {
        let r = router(
            r#"
[[routes]]
name = "voice"
channels = ["ops"]
[[routes]]
name = "wide"
channels = ["ops"]
group_by = ["product", "service_sid", "account_sid", "level", "error_code"]
"#,
        );
        let ca = "CA0123456789abcdef0123456789abcdef";
        let ev = event(Some(11200), Some(ca), Level::Error);
        assert_eq!(
            group_key(&r.routes()[0], &ev, None),
            format!("voice|error_code=11200|resource_sid={ca}")
        );
        assert_eq!(
            group_key(&r.routes()[0], &ev, None),
            group_key(&r.routes()[0], &ev.clone(), None),
            "stable"
        );
        let unreadable = event(None, None, Level::Warning);
        assert_eq!(
            group_key(&r.routes()[0], &unreadable, None),
            "voice|error_code=-|resource_sid=-"
        );
        assert_eq!(
            group_key(&r.routes()[1], &unreadable, Some("Programmable Voice")),
            format!("wide|product=Programmable Voice|service_sid=-|account_sid={ACCOUNT}|level=warning|error_code=-")
        );
    }
}
