//! The channel kinds, one row each: everything twilert knows about a kind that is
//! not code. Its code is one file (`src/deliver/<kind>.rs`: the settings struct's
//! [`crate::deliver::ChannelConfig`] and the sender's [`crate::deliver::Channel`]). Adding a kind is
//! that file (and its `mod` line), one row here, and its settings struct in
//! `config/settings.rs` (a `ChannelSettings` variant and its arm in
//! `ChannelSettings::inner`); a kind with a new payload shape also needs its
//! render `Kind` and default template.

use crate::render::Kind;

/// What a kind can do with an alert already sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Change a sent message in place (a running total, "resolved").
    pub can_edit: bool,
    /// Put follow-ups (digests) under the first alert.
    pub can_thread: bool,
    /// Has a resolved state of its own (PagerDuty's `resolve`, a webhook's
    /// `status`), rather than a one-line "resolved" message.
    pub can_resolve: bool,
}

/// A kind's default rate limit and backlog (SPEC 4), respecting its provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultLimits {
    /// `count` messages per `per_secs` seconds.
    pub count: u32,
    pub per_secs: u64,
    pub burst: u32,
    pub max_pending: usize,
}

const fn limits(count: u32, per_secs: u64, burst: u32) -> DefaultLimits {
    DefaultLimits {
        count,
        per_secs,
        burst,
        max_pending: 50,
    }
}

#[derive(Debug)]
pub struct KindInfo {
    /// `kind = "..."` in `[channels.<name>]`.
    pub name: &'static str,
    /// The templates it renders; their parts and escaping are the renderer's
    /// ([`KindInfo::template_parts`]).
    pub render: Kind,
    /// Settings keys holding secrets: hidden from every message, never coerced
    /// from the environment, and scrubbed from provider answers. The first one
    /// switches the channel off when empty. A key holding a table (`headers`)
    /// makes every value in it secret.
    pub secret_keys: &'static [&'static str],
    pub limits: DefaultLimits,
    pub capabilities: Capabilities,
}

const NONE: Capabilities = Capabilities {
    can_edit: false,
    can_thread: false,
    can_resolve: false,
};

/// Every kind. Defaults: Slack ~1 message/s per webhook; Teams Workflows a few per
/// second; Discord 5 per 2 s; PagerDuty Events API 120/min; SMTP relays dislike
/// bursts; a console is a local file.
pub static KINDS: &[KindInfo] = &[
    KindInfo {
        name: "console",
        render: Kind::Console,
        secret_keys: &[],
        limits: limits(1000, 1, 1000),
        capabilities: NONE,
    },
    KindInfo {
        name: "slack",
        render: Kind::Slack,
        // `url` (incoming webhook) or `bot_token` (app mode).
        secret_keys: &["url", "bot_token"],
        limits: limits(1, 1, 3),
        // In app mode; an incoming webhook can do neither (`SlackChannel::capabilities`).
        capabilities: Capabilities {
            can_edit: true,
            can_thread: true,
            ..NONE
        },
    },
    KindInfo {
        name: "teams",
        render: Kind::Teams,
        secret_keys: &["url"],
        limits: limits(1, 1, 4),
        capabilities: NONE,
    },
    KindInfo {
        name: "email",
        render: Kind::Email,
        secret_keys: &["smtp_url"],
        limits: limits(30, 60, 5),
        capabilities: Capabilities {
            can_thread: true,
            ..NONE
        },
    },
    KindInfo {
        name: "webhook",
        render: Kind::Webhook,
        secret_keys: &["url", "headers"],
        limits: limits(10, 1, 20),
        capabilities: Capabilities {
            can_resolve: true,
            ..NONE
        },
    },
    KindInfo {
        name: "discord",
        render: Kind::Discord,
        secret_keys: &["url"],
        limits: limits(2, 1, 5),
        capabilities: NONE,
    },
    KindInfo {
        name: "pagerduty",
        render: Kind::Pagerduty,
        secret_keys: &["routing_key"],
        limits: limits(2, 1, 10),
        capabilities: Capabilities {
            can_resolve: true,
            ..NONE
        },
    },
];

impl KindInfo {
    /// The row rendering `kind`'s templates (each kind renders its own).
    pub fn of(kind: Kind) -> &'static KindInfo {
        KINDS.iter().find(|k| k.render == kind).unwrap_or(&KINDS[0])
    }

    /// The row for `kind = "name"`.
    pub fn named(name: &str) -> Option<&'static KindInfo> {
        KINDS.iter().find(|k| k.name == name.trim())
    }

    /// The key whose emptiness switches the channel off (`url`, `smtp_url`, ...).
    pub fn switch_key(&self) -> Option<&'static str> {
        self.secret_keys.first().copied()
    }

    /// Template suffixes it renders (`<name>.<suffix>.hbs`; email has three).
    pub fn template_parts(&self) -> &'static [&'static str] {
        self.render.parts()
    }

    /// How each of its template parts is escaped, in [`Self::template_parts`] order.
    pub fn escaping(&self) -> Vec<crate::render::Flavor> {
        self.render.escaping()
    }
}

impl std::fmt::Display for KindInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every key any kind holds a secret in (`url`, `headers`, `smtp_url`, ...).
pub fn all_secret_keys() -> impl Iterator<Item = &'static str> {
    let mut keys: Vec<&'static str> = KINDS
        .iter()
        .flat_map(|k| k.secret_keys.iter().copied())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_kind_and_template_kind() {
        for (i, k) in KINDS.iter().enumerate() {
            assert!(
                KINDS[..i]
                    .iter()
                    .all(|o| o.name != k.name && o.render != k.render),
                "{} twice",
                k.name
            );
            assert_eq!(KindInfo::named(k.name).map(|r| r.name), Some(k.name));
            assert_eq!(KindInfo::of(k.render).name, k.name);
            assert_eq!(k.name, k.render.as_str(), "kind and template names agree");
            assert!(!k.template_parts().is_empty());
            assert_eq!(k.escaping().len(), k.template_parts().len(), "{}", k.name);
            assert!(k.limits.count > 0 && k.limits.burst > 0 && k.limits.per_secs > 0);
        }
        for kind in Kind::ALL {
            assert_eq!(KindInfo::of(kind).render, kind, "{kind} has a row");
        }
        assert!(KindInfo::named("pager").is_none());
    }

    #[test]
    fn secret_keys() {
        let all: Vec<_> = all_secret_keys().collect();
        assert_eq!(
            all,
            ["bot_token", "headers", "routing_key", "smtp_url", "url"]
        );
        assert_eq!(
            KindInfo::named("console").and_then(KindInfo::switch_key),
            None
        );
        assert_eq!(
            KindInfo::named("email").and_then(KindInfo::switch_key),
            Some("smtp_url")
        );
    }
}
