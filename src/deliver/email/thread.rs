//! Message-IDs derived from the notification alone, so a digest can point at its
//! group's first alert (`In-Reply-To`, `References`) without stored state.

use crate::notification::Notification;
use sha2::{Digest, Sha256};

#[derive(Debug, PartialEq, Eq)]
pub struct ThreadIds {
    pub message_id: String,
    /// The group's first alert, for `In-Reply-To`/`References` (digests only).
    pub thread_root: Option<String>,
}

/// First alert: `<{event sid}.{hash of channel + group key}@{domain}>`. A digest's
/// `event` is the group's first event, so the same formula names the thread root;
/// the digest's own id adds its window and count.
pub fn thread_ids(n: &Notification, domain: &str) -> ThreadIds {
    let mut h = Sha256::new();
    h.update(n.channel.as_bytes());
    h.update([0]);
    h.update(n.group_key.as_bytes());
    let hash = hex::encode(h.finalize());
    let sid: String = n
        .event
        .sid
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(64)
        .collect();
    let root = format!("<{sid}.{}@{domain}>", &hash[..12]);
    if let Some(r) = &n.resolved {
        return ThreadIds {
            message_id: format!(
                "<{sid}.{}.resolved-{}@{domain}>",
                &hash[..12],
                r.quiet_since_ms.max(0)
            ),
            thread_root: Some(root),
        };
    }
    match &n.digest {
        None => ThreadIds {
            message_id: root,
            thread_root: None,
        },
        Some(d) => ThreadIds {
            message_id: format!(
                "<{sid}.{}.digest-{}-{}@{domain}>",
                &hash[..12],
                d.last_seen_ms.max(0),
                d.count
            ),
            thread_root: Some(root),
        },
    }
}

/// The domain as it may appear in a Message-ID: IDNA for non-ASCII names.
pub(super) fn ascii_domain(d: &str) -> String {
    let d = d.trim().trim_end_matches('.');
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '[' | ']' | ':'))
    };
    if ok(d) {
        return d.to_ascii_lowercase();
    }
    match url::Host::parse(d) {
        Ok(url::Host::Domain(a)) if ok(&a) => a,
        _ => "twilert.invalid".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::sample_notifications;

    #[test]
    fn digest_threads_to_the_first_alert() {
        let samples = sample_notifications();
        let first = samples
            .iter()
            .find(|(_, n)| n.digest.is_none())
            .expect("an alert")
            .1
            .clone();
        let mut digest = first.clone();
        digest.digest = samples.iter().find_map(|(_, n)| n.digest.clone());
        assert!(digest.digest.is_some());
        let a = thread_ids(&first, "example.com");
        let d = thread_ids(&digest, "example.com");
        assert_eq!(a.thread_root, None);
        assert_eq!(d.thread_root.as_deref(), Some(a.message_id.as_str()));
        assert_ne!(d.message_id, a.message_id);
        assert!(a
            .message_id
            .starts_with(&format!("<{}.", first.event.sid.as_str())));
        assert!(a.message_id.ends_with("@example.com>"));
        assert_eq!(thread_ids(&first, "example.com"), a, "deterministic");
        let mut other_channel = first.clone();
        other_channel.channel = "other".into();
        assert_ne!(
            thread_ids(&other_channel, "example.com").message_id,
            a.message_id
        );
    }

    #[test]
    fn a_resolved_notice_replies_in_the_alerts_thread() {
        let samples = sample_notifications();
        let first = samples
            .iter()
            .find(|(_, n)| n.digest.is_none() && n.resolved.is_none())
            .expect("an alert")
            .1
            .clone();
        let mut resolved = first.clone();
        resolved.resolved = Some(crate::notification::ResolvedNote {
            quiet_since_ms: 5,
            events: 3,
            group_total: 0,
        });
        let a = thread_ids(&first, "example.com");
        let r = thread_ids(&resolved, "example.com");
        assert_eq!(r.thread_root.as_deref(), Some(a.message_id.as_str()));
        assert!(r.message_id.contains(".resolved-5@"), "{}", r.message_id);
    }

    #[test]
    fn message_id_domains() {
        assert_eq!(ascii_domain("Example.COM"), "example.com");
        assert_eq!(ascii_domain("bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ascii_domain("[10.0.0.1]"), "[10.0.0.1]");
    }
}
