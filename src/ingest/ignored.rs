//! The `type` label of `twilert_events_ignored_total`, bounded: only Twilio-shaped
//! type names (`com.twilio.…`, at most 100 characters of `[A-Za-z0-9._-]`), and at
//! most [`MAX_TYPES`] distinct ones per process; everything else is `other`.

use std::collections::HashSet;
use std::sync::Mutex;

pub const MAX_TYPES: usize = 64;

#[derive(Debug, Default)]
pub struct IgnoredTypes(Mutex<HashSet<String>>);

impl IgnoredTypes {
    pub fn label(&self, kind: &str) -> String {
        let kind = kind.trim();
        let shaped = kind.starts_with("com.twilio.")
            && kind.len() <= 100
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !shaped {
            return "other".into();
        }
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(kind) || seen.len() < MAX_TYPES {
            seen.insert(kind.to_string());
            kind.to_string()
        } else {
            "other".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_twilio_types_or_other_and_bounded() {
        let t = IgnoredTypes::default();
        assert_eq!(
            t.label("com.twilio.messaging.message.delivered"),
            "com.twilio.messaging.message.delivered"
        );
        for odd in [
            "x.y",
            "com.twilio.a b",
            "com.twilio.\"}",
            &format!("com.twilio.{}", "a".repeat(100)),
        ] {
            assert_eq!(t.label(odd), "other", "{odd}");
        }
        for i in 0..200 {
            t.label(&format!("com.twilio.t{i}"));
        }
        assert_eq!(t.label("com.twilio.t199"), "other");
        assert_eq!(t.label("com.twilio.t0"), "com.twilio.t0");
        assert_eq!(t.0.lock().unwrap().len(), MAX_TYPES);
    }
}
