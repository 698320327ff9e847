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
//!   A `products` matcher never matches an event whose product is unknown
//!   (the product is the catalog's, else the resource Sid prefix's: [`crate::product`]).
//!   A `parent_account_sids` matcher never matches an event without a
//!   `ParentAccountSid` (a main account's own events).

use crate::config::{GroupField, RouteSettings, Settings};
use crate::event::{DebuggerEvent, ErrorCode, Level};
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

mod pattern;
pub use pattern::{CodePattern, DigitWildcard, PatternError, SidPattern};
/// Name of the synthetic route built from `[defaults].channels`.
pub const DEFAULT_ROUTE: &str = "default";

const CODE_FORMS: &str =
    "a code like \"11200\", a wildcard like \"112xx\" or a range like \"30001-30010\"";
const SID_FORMS: &str = "a Sid or a glob like \"PN*\"";

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
    /// `ParentAccountSid`, when the account is a subaccount.
    pub parent_account_sid: Option<&'a str>,
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
            parent_account_sid: ev
                .parent_account_sid
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty()),
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
    /// `threshold`: (count, within); `None` alerts on the first event.
    pub threshold: Option<(u32, Duration)>,
    /// `resolve_after`, else `[defaults].resolve_after`.
    pub resolve_after: Option<Duration>,
    /// What the route matches (SPEC 3 matcher keys).
    pub matchers: Matchers,
}

/// The matcher keys of SPEC 3, parsed: what a route (or a silence, SPEC 14) matches.
/// Fields combine with AND, list items with OR, excludes remove; an empty list
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Matchers {
    pub error_codes: Vec<CodePattern>,
    pub exclude_error_codes: Vec<CodePattern>,
    pub resource_sids: Vec<SidPattern>,
    pub exclude_resource_sids: Vec<SidPattern>,
    pub service_sids: Vec<SidPattern>,
    pub account_sids: Vec<SidPattern>,
    pub parent_account_sids: Vec<SidPattern>,
    pub levels: Vec<Level>,
    /// As written; compared ASCII-case-insensitively.
    pub products: Vec<String>,
}

/// The matcher keys as written (`config.toml`, a silence's JSON), before parsing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawMatchers<'a> {
    pub error_codes: &'a [String],
    pub exclude_error_codes: &'a [String],
    pub resource_sids: &'a [String],
    pub exclude_resource_sids: &'a [String],
    pub service_sids: &'a [String],
    pub account_sids: &'a [String],
    pub parent_account_sids: &'a [String],
    pub levels: &'a [String],
    pub products: &'a [String],
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

impl Matchers {
    /// True when there are no matchers (excludes count as matchers).
    pub fn is_empty(&self) -> bool {
        self.error_codes.is_empty()
            && self.exclude_error_codes.is_empty()
            && self.resource_sids.is_empty()
            && self.exclude_resource_sids.is_empty()
            && self.service_sids.is_empty()
            && self.account_sids.is_empty()
            && self.parent_account_sids.is_empty()
            && self.levels.is_empty()
            && self.products.is_empty()
    }

    /// Do these matchers accept the input? Allocation-free.
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
            && (self.parent_account_sids.is_empty()
                || first_sid(&self.parent_account_sids, input.parent_account_sid).is_some())
    }

    /// Why the route matched, one entry per matcher; call only when [`Self::matches`].
    pub fn reasons(&self, input: &RouteInput<'_>) -> Vec<String> {
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
            "parent_account_sids",
            first_sid(&self.parent_account_sids, input.parent_account_sid).map(|p| p.to_string()),
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
    pub fn describe(&self) -> String {
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
        list(&mut out, "parent_account_sids", &self.parent_account_sids);
        list(&mut out, "levels", &self.levels);
        list(&mut out, "products", &self.products);
        if out.is_empty() {
            out.push_str("(matches everything)");
        }
        out
    }

    /// Parses each list, recording `at.key[j]: message` for every bad item.
    pub fn parse(at: &str, raw: RawMatchers<'_>, errors: &mut Vec<String>) -> Matchers {
        Matchers {
            error_codes: parse_list(
                at,
                "error_codes",
                raw.error_codes,
                CodePattern::parse,
                errors,
            ),
            exclude_error_codes: parse_list(
                at,
                "exclude_error_codes",
                raw.exclude_error_codes,
                CodePattern::parse,
                errors,
            ),
            resource_sids: parse_list(
                at,
                "resource_sids",
                raw.resource_sids,
                SidPattern::parse,
                errors,
            ),
            exclude_resource_sids: parse_list(
                at,
                "exclude_resource_sids",
                raw.exclude_resource_sids,
                SidPattern::parse,
                errors,
            ),
            service_sids: parse_list(
                at,
                "service_sids",
                raw.service_sids,
                SidPattern::parse,
                errors,
            ),
            account_sids: parse_list(
                at,
                "account_sids",
                raw.account_sids,
                SidPattern::parse,
                errors,
            ),
            parent_account_sids: parse_list(
                at,
                "parent_account_sids",
                raw.parent_account_sids,
                SidPattern::parse,
                errors,
            ),
            levels: parse_list(at, "levels", raw.levels, parse_level, errors),
            products: parse_list(at, "products", raw.products, parse_product, errors),
        }
    }
}

impl CompiledRoute {
    /// True when the route has no matchers (excludes count as matchers).
    pub fn is_catch_all(&self) -> bool {
        self.matchers.is_empty()
    }

    /// Does this route's matchers accept the input? Allocation-free.
    pub fn matches(&self, input: &RouteInput<'_>) -> bool {
        self.matchers.matches(input)
    }

    /// One line for the `check` route table (see [`Matchers::describe`]).
    pub fn describe_matchers(&self) -> String {
        self.matchers.describe()
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
    let threshold = rs.threshold.and_then(|t| {
        if t.count == 0 {
            errors.push(format!("{at}.threshold.count: must be at least 1"));
        }
        if t.within.0.is_zero() {
            errors.push(format!("{at}.threshold.within: must be longer than 0s"));
        }
        (t.count > 1).then_some((t.count, t.within.0))
    });
    CompiledRoute {
        name: rs.name.clone(),
        threshold,
        resolve_after: rs.resolve_after.or(defaults.resolve_after).map(|d| d.0),
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
        matchers: Matchers::parse(
            &at,
            RawMatchers {
                error_codes: &rs.error_codes,
                exclude_error_codes: &rs.exclude_error_codes,
                resource_sids: &rs.resource_sids,
                exclude_resource_sids: &rs.exclude_resource_sids,
                service_sids: &rs.service_sids,
                account_sids: &rs.account_sids,
                parent_account_sids: &rs.parent_account_sids,
                levels: &rs.levels,
                products: &rs.products,
            },
            errors,
        ),
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
                threshold: None,
                resolve_after: defaults.resolve_after.map(|d| d.0),
                matchers: Matchers::default(),
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
                route.matchers.reasons(input)
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
mod tests;
