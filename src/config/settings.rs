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
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 = number of cores.
    pub workers: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            path: "/twilio/debugger".into(),
            max_body_bytes: 64 * 1024,
            workers: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwilioSettings {
    /// The exact URL configured in Twilio's Console, query string included.
    pub public_url: Option<String>,
    pub auth_tokens: Vec<SecretString>,
    pub verify_signature: bool,
}

impl Default for TwilioSettings {
    fn default() -> Self {
        TwilioSettings {
            public_url: None,
            auth_tokens: vec![],
            verify_signature: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    pub path: PathBuf,
    pub retention: HumanDuration,
    /// Warn (log + metric) when the store file grows past this many bytes.
    pub warn_size_bytes: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("data/twilert.db"),
            retention: HumanDuration::secs(7 * 24 * 3600),
            warn_size_bytes: 1024 * 1024 * 1024,
        }
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
}

impl Default for DefaultsSettings {
    fn default() -> Self {
        DefaultsSettings {
            channels: vec![],
            window: HumanDuration::secs(300),
            group_by: vec![GroupField::ErrorCode, GroupField::ResourceSid],
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
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSettings::Slack(_) => "slack",
            ChannelSettings::Console(_) => "console",
            ChannelSettings::Teams(_) => "teams",
            ChannelSettings::Email(_) => "email",
            ChannelSettings::Webhook(_) => "webhook",
            ChannelSettings::Discord(_) => "discord",
            ChannelSettings::Pagerduty(_) => "pagerduty",
        }
    }
    pub fn throttle(&self) -> Throttle {
        macro_rules! t {
            ($c:expr) => {
                Throttle {
                    rate_limit: $c.rate_limit.clone(),
                    burst: $c.burst,
                    max_pending: $c.max_pending,
                }
            };
        }
        match self {
            ChannelSettings::Slack(c) => t!(c),
            ChannelSettings::Console(c) => t!(c),
            ChannelSettings::Teams(c) => t!(c),
            ChannelSettings::Email(c) => t!(c),
            ChannelSettings::Webhook(c) => t!(c),
            ChannelSettings::Discord(c) => t!(c),
            ChannelSettings::Pagerduty(c) => t!(c),
        }
    }
    /// A channel whose secret (URL/key) is empty is off: it is skipped with a warning
    /// at start, so the shipped config runs without any account.
    pub fn enabled(&self) -> bool {
        use secrecy::ExposeSecret;
        match self {
            ChannelSettings::Slack(c) => !c.url.expose_secret().trim().is_empty(),
            ChannelSettings::Teams(c) => !c.url.expose_secret().trim().is_empty(),
            ChannelSettings::Webhook(c) => !c.url.expose_secret().trim().is_empty(),
            ChannelSettings::Discord(c) => !c.url.expose_secret().trim().is_empty(),
            ChannelSettings::Email(c) => !c.smtp_url.expose_secret().trim().is_empty(),
            ChannelSettings::Pagerduty(c) => !c.routing_key.expose_secret().trim().is_empty(),
            ChannelSettings::Console(_) => true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackChannel {
    pub url: SecretString,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
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
    pub url: SecretString,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailChannel {
    /// `smtp://user:pass@host:587?tls=required` or `smtps://...`.
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookChannel {
    pub url: SecretString,
    #[serde(default)]
    pub headers: BTreeMap<String, SecretString>,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordChannel {
    pub url: SecretString,
    #[serde(default)]
    pub rate_limit: Option<String>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub max_pending: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyChannel {
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
}
