//! The settings tree, exactly the keys of `config.toml` (SPEC 8). Unknown keys are errors.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A duration written as `"30s"`, `"5m"`, `"1h"`, `"7d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(s.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "{s:?} is not a duration like \"30s\", \"5m\", \"7d\": {e}"
                ))
            })
    }
}

impl HumanDuration {
    pub fn secs(s: u64) -> Self {
        HumanDuration(Duration::from_secs(s))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub twilio: TwilioSettings,
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub delivery: DeliverySettings,
    #[serde(default)]
    pub admin: AdminSettings,
    #[serde(default)]
    pub slack: SlackSettings,
    #[serde(default)]
    pub defaults: DefaultsSettings,
    #[serde(default)]
    pub catalog: CatalogSettings,
    #[serde(default)]
    pub templates: TemplateSettings,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelSettings>,
    #[serde(default)]
    pub routes: Vec<RouteSettings>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// `host:port`; port 0 picks a free port.
    pub listen: String,
    pub path: String,
    /// Where an Event Streams webhook sink posts CloudEvents (SPEC 16).
    pub event_streams_path: String,
    pub max_body_bytes: usize,
    /// A request whose body has not fully arrived by then is answered 408 and closed.
    pub body_timeout: HumanDuration,
    /// Open connections per HTTP worker; beyond it new ones wait to be accepted.
    pub max_connections: usize,
    /// HTTP worker threads; 0 = number of cores.
    pub workers: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            path: "/twilio/debugger".into(),
            event_streams_path: "/twilio/events".into(),
            max_body_bytes: 64 * 1024,
            body_timeout: HumanDuration::secs(10),
            max_connections: 10_000,
            workers: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioSettings {
    /// The exact URL configured in Twilio's Console, query string included.
    pub public_url: Option<String>,
    #[serde(deserialize_with = "super::secrets::secret_list")]
    pub auth_tokens: Vec<SecretString>,
    /// Shared keys (Twilio's Webhooks configuration): key id → secret.
    #[serde(deserialize_with = "super::secrets::secret_map")]
    pub shared_keys: BTreeMap<String, SecretString>,
    pub verify_signature: bool,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        TwilioSettings {
            public_url: None,
            auth_tokens: vec![],
            shared_keys: BTreeMap::new(),
            verify_signature: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    pub path: PathBuf,
    /// `postgres://user:pass@host:5432/db`: PostgreSQL, shared by several replicas
    /// (SPEC 12), instead of the SQLite file at `path`. A secret: its password
    /// never reaches logs, errors or the console.
    #[serde(deserialize_with = "super::secrets::opt_secret")]
    pub url: Option<SecretString>,
    pub retention: HumanDuration,
    /// Warn (log + metric) when the store file grows past this many bytes.
    pub warn_size_bytes: u64,
}

impl StoreSettings {
    /// Where the store is, for logs and messages: the file, or the database URL
    /// with its password redacted.
    pub fn describe(&self) -> String {
        use secrecy::ExposeSecret;
        match &self.url {
            Some(url) => crate::store::postgres::redact_url(url.expose_secret()),
            None => self.path.display().to_string(),
        }
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("data/twilert.db"),
            url: None,
            retention: HumanDuration::secs(7 * 24 * 3600),
            warn_size_bytes: 1024 * 1024 * 1024,
        }
    }
}

/// `[admin]`: the operator listener (SPEC 9) for `/metrics`, `/-/reload`, the API
/// and the console, apart from the public webhook listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// `host:port`; port 0 picks a free port. Not loopback: `tokens` are required.
    pub listen: String,
    /// Bearer tokens; when set, every admin request needs one (loopback too).
    #[serde(deserialize_with = "super::secrets::secret_list")]
    pub tokens: Vec<SecretString>,
    /// Least time between two configuration reloads; reloads sooner are refused (429).
    pub reload_interval: HumanDuration,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            listen: "127.0.0.1:9091".into(),
            tokens: vec![],
            reload_interval: HumanDuration(Duration::from_secs(1)),
        }
    }
}

/// `[slack]`: the Slack app's own settings (SPEC 14's buttons), apart from the
/// channels that post with it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackSettings {
    /// The Slack app's signing secret ("Basic Information" → "App Credentials"):
    /// with it, Slack app mode alerts carry buttons and `POST /slack/actions`
    /// verifies their requests; without it, neither. A secret.
    #[serde(deserialize_with = "super::secrets::opt_secret")]
    pub signing_secret: Option<SecretString>,
}

impl SlackSettings {
    /// The signing secret when one is set (an empty string is none).
    pub fn signing_secret(&self) -> Option<&SecretString> {
        use secrecy::ExposeSecret;
        self.signing_secret
            .as_ref()
            .filter(|s| !s.expose_secret().trim().is_empty())
    }
}

impl AdminSettings {
    /// Whether `listen` names a loopback address (`127.0.0.0/8`, `::1`, `localhost`).
    pub fn is_loopback(&self) -> bool {
        let host = match self.listen.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => self.listen.as_str(),
        };
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    pub max_attempts: u32,
    pub max_age: HumanDuration,
    pub initial_backoff: HumanDuration,
    pub max_backoff: HumanDuration,
    /// Longest `Retry-After` honoured; longer answers are clamped to this.
    pub max_retry_after: HumanDuration,
    pub timeout: HumanDuration,
    pub shutdown_grace: HumanDuration,
    /// How long a replica's claim on a due notification lasts (PostgreSQL): a
    /// replica that dies loses its claims when they expire and another delivers.
    pub lease: HumanDuration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_attempts: 12,
            max_age: HumanDuration::secs(24 * 3600),
            initial_backoff: HumanDuration::secs(1),
            max_backoff: HumanDuration::secs(600),
            max_retry_after: HumanDuration::secs(3600),
            timeout: HumanDuration::secs(10),
            shutdown_grace: HumanDuration::secs(10),
            lease: HumanDuration::secs(30),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DefaultsSettings {
    /// Channels for events no route matches; empty = recorded as unrouted.
    pub channels: Vec<String>,
    pub window: HumanDuration,
    pub group_by: Vec<GroupField>,
    /// Open groups kept at most; past it, a new group's events are counted into one
    /// group per route and error code (`twilert_groups_overflow_total`).
    pub max_open_groups: usize,
    /// Routes without their own `resolve_after` use this; unset: groups close
    /// silently after a quiet window.
    pub resolve_after: Option<HumanDuration>,
}

impl Default for DefaultsSettings {
    fn default() -> Self {
        DefaultsSettings {
            channels: vec![],
            window: HumanDuration::secs(300),
            group_by: vec![GroupField::ErrorCode, GroupField::ResourceSid],
            max_open_groups: 100_000,
            resolve_after: None,
        }
    }
}

/// Fields an event can be grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupField {
    ErrorCode,
    ResourceSid,
    ServiceSid,
    AccountSid,
    Level,
    Product,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSettings {
    /// Twilio's full public `twilio-error-codes.json`; the built-in catalog is used without it.
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateSettings {
    /// Template folder. Unset: `templates/` in the working directory when it exists,
    /// else the built-in templates only.
    pub dir: Option<PathBuf>,
}

impl TemplateSettings {
    /// The folder templates are read from, if any.
    pub fn effective_dir(&self) -> Option<PathBuf> {
        match &self.dir {
            Some(d) => Some(d.clone()),
            None => Some(PathBuf::from("templates")).filter(|d| d.is_dir()),
        }
    }
}

/// Rate limit and backlog settings every channel kind has (`rate_limit`, `burst`,
/// `max_pending`); unset values get the kind's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Throttle {
    /// `"N/s"`, `"N/m"`, `"N/h"`.
    pub rate_limit: Option<String>,
    pub burst: Option<u32>,
    /// Backlog size past which waiting notifications of one group fold into its digest.
    pub max_pending: Option<usize>,
    /// `notify_resolved = false`: no notice when a group resolves (default true).
    pub notify_resolved: Option<bool>,
}

/// `[channels.<name>]`, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ChannelSettings {
    Slack(SlackChannel),
    Console(ConsoleChannel),
    Teams(TeamsChannel),
    Email(EmailChannel),
    Webhook(WebhookChannel),
    Discord(DiscordChannel),
    Pagerduty(PagerDutyChannel),
}

impl ChannelSettings {
    /// The kind's own settings, behind the interface every kind implements (in
    /// `src/deliver/<kind>.rs`). The one place that lists the variants.
    pub fn inner(&self) -> &dyn crate::deliver::ChannelConfig {
        match self {
            ChannelSettings::Slack(c) => c,
            ChannelSettings::Console(c) => c,
            ChannelSettings::Teams(c) => c,
            ChannelSettings::Email(c) => c,
            ChannelSettings::Webhook(c) => c,
            ChannelSettings::Discord(c) => c,
            ChannelSettings::Pagerduty(c) => c,
        }
    }
    /// Its row in the kinds table (name, secret keys, default limits, ...).
    pub fn kind(&self) -> &'static crate::kinds::KindInfo {
        self.inner().kind()
    }
    pub fn throttle(&self) -> Throttle {
        self.inner().throttle()
    }
    /// A channel whose secret (URL/key) is empty is off: it is skipped with a warning
    /// at start, so the shipped config runs without any account.
    pub fn enabled(&self) -> bool {
        self.inner().enabled()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackChannel {
    /// Incoming-webhook mode: the webhook URL. Either this or `bot_token` +
    /// `channel` (see [`SlackChannel::mode`]).
    #[serde(default, deserialize_with = "super::secrets::opt_secret")]
    pub url: Option<SecretString>,
    /// App mode (SPEC 13, living alerts): the bot token (`xoxb-...`), sent as
    /// `Authorization: Bearer`.
    #[serde(default, deserialize_with = "super::secrets::opt_secret")]
    pub bot_token: Option<SecretString>,
    /// App mode: the channel to post in (an id like `C0123456789`, or `#name`).
    #[serde(default)]
    pub channel: Option<String>,
    /// App mode: the Web API base (`https://slack.com/api`), for proxies and tests.
    #[serde(default)]
    pub api_url: Option<String>,
    /// App mode: at most one edit of an alert's message per this long (default 10s).
    #[serde(default)]
    pub update_interval: Option<HumanDuration>,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
    #[serde(default)]
    pub notify_resolved: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleChannel {
    /// `"stdout"` (default) or a file path to append to.
    #[serde(default = "default_console_target")]
    pub target: String,
    /// Which template kind to render: `console` (default, readable text) or `slack`
    /// (the Slack payload, handy for previewing).
    #[serde(default = "default_console_format")]
    pub format: String,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
    #[serde(default)]
    pub notify_resolved: Option<bool>,
}

fn default_console_target() -> String {
    "stdout".into()
}
fn default_console_format() -> String {
    "console".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsChannel {
    #[serde(deserialize_with = "super::secrets::secret")]
    pub url: SecretString,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
    #[serde(default)]
    pub notify_resolved: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// `smtp://user:pass@host:587?tls=required` or `smtps://...`.
    #[serde(deserialize_with = "super::secrets::secret")]
    pub smtp_url: SecretString,
    pub from: String,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
    #[serde(default)]
    pub notify_resolved: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    #[serde(deserialize_with = "super::secrets::secret")]
    pub url: SecretString,
    #[serde(default, deserialize_with = "super::secrets::secret_map")]
    pub headers: BTreeMap<String, SecretString>,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
    #[serde(default)]
    pub notify_resolved: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordChannel {
    #[serde(deserialize_with = "super::secrets::secret")]
    pub url: SecretString,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
    #[serde(default)]
    pub notify_resolved: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyChannel {
    #[serde(deserialize_with = "super::secrets::secret")]
    pub routing_key: SecretString,
    /// Events API endpoint; override only for testing.
    #[serde(default = "default_pagerduty_url")]
    pub url: String,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
    #[serde(default)]
    pub notify_resolved: Option<bool>,
}

fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}

/// One `[[routes]]` entry. Matchers combine with AND, list items with OR (SPEC 3).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    pub name: String,
    #[serde(default)]
    pub channels: Vec<String>,
    #[serde(default)]
    pub error_codes: Vec<String>,
    #[serde(default)]
    pub exclude_error_codes: Vec<String>,
    #[serde(default)]
    pub resource_sids: Vec<String>,
    #[serde(default)]
    pub exclude_resource_sids: Vec<String>,
    #[serde(default)]
    pub service_sids: Vec<String>,
    #[serde(default)]
    pub account_sids: Vec<String>,
    /// `ParentAccountSid`: one route for every subaccount of a parent.
    #[serde(default)]
    pub parent_account_sids: Vec<String>,
    #[serde(default)]
    pub levels: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default, rename = "continue")]
    pub continue_: bool,
    #[serde(default)]
    pub mute: bool,
    #[serde(default)]
    pub template: Option<String>,
    #[serde(default)]
    pub window: Option<HumanDuration>,
    #[serde(default)]
    pub group_by: Option<Vec<GroupField>>,
    #[serde(default)]
    pub mention: Option<String>,
    /// Send nothing until the group has seen `count` events within `within`.
    #[serde(default)]
    pub threshold: Option<Threshold>,
    /// A group with no event for this long is resolved, and its channels told.
    #[serde(default)]
    pub resolve_after: Option<HumanDuration>,
}

/// `threshold = { count = 10, within = "5m" }` (SPEC 13): a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub count: u32,
    pub within: HumanDuration,
}
