//! The event's product (SPEC 3 `products`): the catalog's `product` for the
//! error code, else the product the resource Sid's two-letter prefix belongs to.
//!
//! Twilio files many common codes (11200 included) under no product, so without
//! the prefix table `products = ["Programmable Voice"]` would miss most
//! voice webhook failures. The table is documented in docs/ALERTS.md.

use crate::catalog::Catalog;
use crate::event::DebuggerEvent;

/// Resource Sid prefix → product, as Twilio names its products.
pub const SID_PREFIX_PRODUCTS: &[(&str, &str)] = &[
    ("CA", "Programmable Voice"),
    ("CF", "Programmable Voice"),
    ("RE", "Programmable Voice"),
    ("SM", "Programmable Messaging"),
    ("MM", "Programmable Messaging"),
    ("MG", "Programmable Messaging"),
    ("ZH", "Serverless"),
    ("ZS", "Serverless"),
    ("ZE", "Serverless"),
    ("FW", "Studio"),
    ("FN", "Studio"),
    ("VA", "Verify"),
    ("VE", "Verify"),
    ("WA", "TaskRouter"),
    ("WS", "TaskRouter"),
    ("WT", "TaskRouter"),
    ("CH", "Conversations"),
    ("IS", "Sync"),
    ("KC", "Proxy"),
    ("RM", "Programmable Video"),
    ("PN", "Phone Numbers"),
    ("TK", "Elastic SIP Trunking"),
    ("FX", "Programmable Fax"),
];

/// The product of a resource Sid's prefix (`CA…` → Programmable Voice).
pub fn from_sid(sid: &str) -> Option<&'static str> {
    let prefix = sid.get(..2)?;
    SID_PREFIX_PRODUCTS
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, product)| *product)
}

/// The event's product: the catalog's for its code, else its resource Sid's.
pub fn of_event<'a>(catalog: &'a Catalog, ev: &DebuggerEvent) -> Option<&'a str> {
    ev.error_code()
        .and_then(|c| catalog.product(c))
        .or_else(|| ev.resource_sid().and_then(from_sid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(from_sid("CA0123"), Some("Programmable Voice"));
        assert_eq!(from_sid("SMabc"), Some("Programmable Messaging"));
        assert_eq!(from_sid("MMabc"), Some("Programmable Messaging"));
        assert_eq!(from_sid("ZH1"), Some("Serverless"));
        assert_eq!(from_sid("ZS1"), Some("Serverless"));
        assert_eq!(from_sid("XX1"), None);
        assert_eq!(from_sid("C"), None);
        assert_eq!(from_sid("é"), None);
        let mut seen = std::collections::HashSet::new();
        assert!(SID_PREFIX_PRODUCTS.iter().all(|(p, _)| seen.insert(*p)));
    }
}
