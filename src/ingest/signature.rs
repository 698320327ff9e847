//! `X-Twilio-Signature`, computed exactly as Twilio's SDKs compute it (SPEC 2).
//!
//! Form requests: base64(HMAC-SHA1(auth token, url + name + value for every
//! parameter, sorted by name, values of a repeated name sorted too)).
//! JSON requests: the URL carries `bodySHA256=<hex sha256 of the raw body>`;
//! the signature covers the URL alone and the hash must match the body.
//!
//! Like twilio-node and twilio-python, the URL is accepted as given and with the
//! default port toggled (added when absent, removed when it is the default one),
//! because Twilio's signing side is not consistent about it.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::fmt;
use subtle::{Choice, ConstantTimeEq};

/// Why a request's signature was refused. Every variant is a `403`; the messages
/// are fit for the JSON error body and never contain a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Twilio-Signature header is missing")]
    Missing,
    #[error("X-Twilio-Signature does not match the request")]
    Mismatch,
    #[error("bodySHA256 query parameter is missing from the request URL")]
    BodyHashMissing,
    #[error("bodySHA256 does not match the request body")]
    BodyHashMismatch,
}

/// The signature Twilio sends for a form request to `url` with `params`.
pub fn compute(token: &str, url: &str, params: &[(String, String)]) -> String {
    compute_sorted(token.as_bytes(), url, &sorted_params(params))
}

/// Signs a JSON request body the way Twilio does: appends `bodySHA256=<hex>` to
/// `url` and returns that URL with the `X-Twilio-Signature` value for it.
pub fn sign_json_url(token: &str, url: &str, body: &[u8]) -> (String, String) {
    let hash = hex::encode(Sha256::digest(body));
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    // The query starts at the first `?`; a later `?` is part of a value (found by
    // fuzzing: `?a=b?` needs `&`, or the hash is glued onto `a`'s value).
    let sep = match before_fragment.split_once('?') {
        None => "?",
        Some((_, query)) if query.is_empty() || query.ends_with('&') => "",
        Some(_) => "&",
    };
    let signed = format!("{before_fragment}{sep}bodySHA256={hash}{fragment}");
    let signature = compute_sorted(token.as_bytes(), &signed, &[]);
    (signed, signature)
}

/// The URL Twilio signed for a request: `public_url` (as configured in Twilio)
/// with its query replaced by the request's raw, undecoded query string when the
/// request has one. JSON requests need this: their `bodySHA256` changes per body.
pub fn request_url<'a>(public_url: &'a str, raw_query: &str) -> Cow<'a, str> {
    if raw_query.is_empty() {
        return Cow::Borrowed(public_url);
    }
    let base_end = public_url.find(['?', '#']).unwrap_or(public_url.len());
    Cow::Owned(format!("{}?{}", &public_url[..base_end], raw_query))
}

/// Checks `X-Twilio-Signature` against one or more auth tokens (rotation,
/// subaccounts): any one matching is enough.
#[derive(Clone)]
pub struct Verifier {
    tokens: Vec<SecretString>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .finish()
    }
}

impl Verifier {
    pub fn new(tokens: Vec<SecretString>) -> Verifier {
        Verifier { tokens }
    }

    /// A form (`application/x-www-form-urlencoded`) request: `params` are the
    /// decoded body pairs, in any order; `url` the URL Twilio requested.
    pub fn verify_form(
        &self,
        header: Option<&str>,
        url: &str,
        params: &[(String, String)],
    ) -> Result<(), SignatureError> {
        let header = present(header)?;
        if self.matches(header, url, &sorted_params(params)) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }

    /// A JSON request: `url` must carry `bodySHA256=<hex sha256 of body>`; the
    /// signature covers the URL with no parameters.
    pub fn verify_json(
        &self,
        header: Option<&str>,
        url: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let header = present(header)?;
        let claimed = body_hash_param(url).ok_or(SignatureError::BodyHashMissing)?;
        if !self.matches(header, url, &[]) {
            return Err(SignatureError::Mismatch);
        }
        let actual = Sha256::digest(body);
        let ok = match hex::decode(claimed.trim()) {
            Ok(bytes) => bool::from(bytes.as_slice().ct_eq(actual.as_slice())),
            Err(_) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(SignatureError::BodyHashMismatch)
        }
    }

    /// Tries every token against the URL as given and with the default port toggled.
    /// All candidates are computed, so timing does not tell which one matched.
    fn matches(&self, header: &str, url: &str, sorted: &[(&str, &str)]) -> bool {
        let variant = port_variant(url);
        let header = header.as_bytes();
        let mut ok = Choice::from(0);
        for token in &self.tokens {
            let key = token.expose_secret().as_bytes();
            ok |= compute_sorted(key, url, sorted).as_bytes().ct_eq(header);
            if let Some(v) = &variant {
                ok |= compute_sorted(key, v, sorted).as_bytes().ct_eq(header);
            }
        }
        bool::from(ok)
    }
}

fn present(header: Option<&str>) -> Result<&str, SignatureError> {
    match header.map(str::trim) {
        Some(h) if !h.is_empty() => Ok(h),
        _ => Err(SignatureError::Missing),
    }
}

/// Sorted by name, then by value (byte order, which is code point order).
fn sorted_params(params: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted
}

fn compute_sorted(key: &[u8], url: &str, sorted: &[(&str, &str)]) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The first `bodySHA256` query parameter of `url`, percent-decoded.
fn body_hash_param(url: &str) -> Option<Cow<'_, str>> {
    let query_start = url.find('?')? + 1;
    let query_end = url[query_start..]
        .find('#')
        .map_or(url.len(), |i| query_start + i);
    // Blank values are skipped, as Twilio's own validators do (Python's `parse_qs`):
    // `?bodySHA256&bodySHA256=<hash>` carries the hash (found by fuzzing).
    url::form_urlencoded::parse(&url.as_bytes()[query_start..query_end])
        .find(|(k, v)| k == "bodySHA256" && !v.is_empty())
        .map(|(_, v)| v)
}

/// `url` with the default port added (no port given) or removed (default port
/// given), working on the string so userinfo, path and query stay byte-exact.
/// `None` when there is nothing to toggle (other scheme, other port, odd URL).
fn port_variant(url: &str) -> Option<String> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    let default_port: u16 = if scheme.eq_ignore_ascii_case("https") {
        443
    } else if scheme.eq_ignore_ascii_case("http") {
        80
    } else {
        return None;
    };
    let auth_start = scheme_end + 3;
    let auth_end = url[auth_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| auth_start + i);
    let authority = &url[auth_start..auth_end];
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    // An IPv6 literal has colons inside its brackets; the port colon follows `]`.
    let after_host = if host_port.starts_with('[') {
        host_port.find(']')? + 1
    } else {
        host_port.find(':').unwrap_or(host_port.len())
    };
    if after_host == 0 {
        return None;
    }
    let rest = &host_port[after_host..];
    if rest.is_empty() {
        let mut with_port = String::with_capacity(url.len() + 6);
        with_port.push_str(&url[..auth_end]);
        with_port.push(':');
        with_port.push_str(&default_port.to_string());
        with_port.push_str(&url[auth_end..]);
        return Some(with_port);
    }
    let port = rest.strip_prefix(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if port.parse::<u16>().ok()? != default_port {
        return None;
    }
    let colon = auth_start + host_start + after_host;
    Some(format!("{}{}", &url[..colon], &url[auth_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn verifier(tokens: &[&str]) -> Verifier {
        Verifier::new(tokens.iter().map(|t| SecretString::from(*t)).collect())
    }

    #[test]
    fn twilio_published_vector() {
        assert_eq!(compute("12345", URL, &params()), EXPECTED);
        // Order of the received pairs does not matter.
        let mut reversed = params();
        reversed.reverse();
        assert_eq!(compute("12345", URL, &reversed), EXPECTED);
        assert_eq!(
            verifier(&["12345"]).verify_form(Some(EXPECTED), URL, &params()),
            Ok(())
        );
    }

    #[test]
    fn default_port_added_or_removed() {
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let v = verifier(&["12345"]);
        assert_eq!(v.verify_form(Some(EXPECTED), with_port, &params()), Ok(()));
        // Signed with the port, configured without it.
        let sig = compute("12345", with_port, &params());
        assert_eq!(v.verify_form(Some(&sig), URL, &params()), Ok(()));
        // A non-default port is not toggled.
        let other = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
        assert_eq!(
            v.verify_form(Some(EXPECTED), other, &params()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn port_variants_keep_the_rest_exact() {
        assert_eq!(
            port_variant("https://u:p@h.example/a%2Fb?x=%20&y#f").as_deref(),
            Some("https://u:p@h.example:443/a%2Fb?x=%20&y#f")
        );
        assert_eq!(
            port_variant("http://h.example:80?q=1").as_deref(),
            Some("http://h.example?q=1")
        );
        assert_eq!(
            port_variant("HTTPS://[::1]").as_deref(),
            Some("HTTPS://[::1]:443")
        );
        assert_eq!(
            port_variant("https://[::1]:443/x").as_deref(),
            Some("https://[::1]/x")
        );
        assert_eq!(port_variant("https://h:80/"), None);
        assert_eq!(port_variant("ftp://h/"), None);
        assert_eq!(port_variant("not a url"), None);
        assert_eq!(port_variant("https://"), None);
        assert_eq!(port_variant("https://h:/"), None);
        assert_eq!(port_variant("https://[::1/"), None);
        assert_eq!(port_variant("https://h:99999999999/"), None);
    }

    #[test]
    fn wrong_token_fails_and_any_configured_token_verifies() {
        assert_eq!(
            verifier(&["54321"]).verify_form(Some(EXPECTED), URL, &params()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verifier(&["old", "12345", "other"]).verify_form(Some(EXPECTED), URL, &params()),
            Ok(())
        );
        assert_eq!(
            verifier(&[]).verify_form(Some(EXPECTED), URL, &params()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn repeated_names_sort_values_too() {
        let a = vec![
            ("To".to_string(), "b".to_string()),
            ("From".to_string(), "x".to_string()),
            ("To".to_string(), "a".to_string()),
        ];
        let b = vec![
            ("From".to_string(), "x".to_string()),
            ("To".to_string(), "a".to_string()),
            ("To".to_string(), "b".to_string()),
        ];
        assert_eq!(compute("t", URL, &a), compute("t", URL, &b));
        // Same as the hand-built string Twilio signs.
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(b"t").unwrap();
        mac.update(format!("{URL}FromxToaTob").as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(compute("t", URL, &a), expected);
        let v = verifier(&["t"]);
        assert_eq!(v.verify_form(Some(&expected), URL, &a), Ok(()));
    }

    #[test]
    fn flipped_byte_fails() {
        let v = verifier(&["12345"]);
        let mut p = params();
        p[2].1 = "1235".into();
        assert_eq!(
            v.verify_form(Some(EXPECTED), URL, &p),
            Err(SignatureError::Mismatch)
        );
        let url = "https://mycompany.com/myapp.php?foo=1&bar=3";
        assert_eq!(
            v.verify_form(Some(EXPECTED), url, &params()),
            Err(SignatureError::Mismatch)
        );
        let mut sig = EXPECTED.as_bytes().to_vec();
        sig[0] ^= 1;
        let sig = String::from_utf8(sig).unwrap();
        assert_eq!(
            v.verify_form(Some(&sig), URL, &params()),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn empty_or_garbage_header_fails_without_panic() {
        let v = verifier(&["12345"]);
        assert_eq!(
            v.verify_form(None, URL, &params()),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.verify_form(Some(""), URL, &params()),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            v.verify_form(Some("   "), URL, &params()),
            Err(SignatureError::Missing)
        );
        for garbage in [
            "!!!",
            "RSOYDt4T1cUTdK1PDd93",
            "é\u{0}☃",
            &"A".repeat(10_000),
        ] {
            assert_eq!(
                v.verify_form(Some(garbage), URL, &params()),
                Err(SignatureError::Mismatch)
            );
            assert_eq!(
                v.verify_json(Some(garbage), "https://h/?bodySHA256=00", b"{}"),
                Err(SignatureError::Mismatch)
            );
        }
        for url in [
            "",
            "::",
            "https://",
            "https://@:/?#",
            "https://[",
            "?bodySHA256",
        ] {
            assert_eq!(
                v.verify_form(Some(EXPECTED), url, &[]),
                Err(SignatureError::Mismatch)
            );
            let _ = v.verify_json(Some(EXPECTED), url, b"");
        }
    }

    #[test]
    fn json_body_hash_good_bad_missing() {
        let body = br#"{"Sid":"NO00000000000000000000000000000001"}"#;
        let (url, sig) = sign_json_url("12345", "https://h.example/twilio/debugger", body);
        let hash = hex::encode(Sha256::digest(body));
        assert_eq!(
            url,
            format!("https://h.example/twilio/debugger?bodySHA256={hash}")
        );
        let v = verifier(&["other", "12345"]);
        assert_eq!(v.verify_json(Some(&sig), &url, body), Ok(()));

        // Upper-case hex is the same hash.
        let upper_url = url.replace(&hash, &hash.to_uppercase());
        let upper_sig = compute("12345", &upper_url, &[]);
        assert_eq!(v.verify_json(Some(&upper_sig), &upper_url, body), Ok(()));

        // Port toggling applies to JSON too.
        let with_port = url.replace("h.example/", "h.example:443/");
        assert_eq!(v.verify_json(Some(&sig), &with_port, body), Ok(()));

        // Tampered body, signature still good.
        let mut tampered = body.to_vec();
        tampered[5] ^= 1;
        assert_eq!(
            v.verify_json(Some(&sig), &url, &tampered),
            Err(SignatureError::BodyHashMismatch)
        );
        // Hash not hex.
        let bad_url = "https://h.example/twilio/debugger?bodySHA256=zz";
        let bad_sig = compute("12345", bad_url, &[]);
        assert_eq!(
            v.verify_json(Some(&bad_sig), bad_url, body),
            Err(SignatureError::BodyHashMismatch)
        );
        // Missing hash.
        let plain = "https://h.example/twilio/debugger?x=1";
        let plain_sig = compute("12345", plain, &[]);
        assert_eq!(
            v.verify_json(Some(&plain_sig), plain, body),
            Err(SignatureError::BodyHashMissing)
        );
        // Wrong signature.
        assert_eq!(
            v.verify_json(Some(EXPECTED), &url, body),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify_json(None, &url, body),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn sign_json_url_appends_to_existing_query() {
        let (url, _) = sign_json_url("t", "https://h/p?a=1#frag", b"");
        assert!(url.starts_with("https://h/p?a=1&bodySHA256="));
        assert!(url.ends_with("#frag"));
        let (url, _) = sign_json_url("t", "https://h/p?", b"");
        assert!(url.starts_with("https://h/p?bodySHA256="));
    }

    #[test]
    fn request_url_uses_the_received_query() {
        assert_eq!(request_url("https://h/p?a=1", ""), "https://h/p?a=1");
        assert_eq!(
            request_url("https://h/p?a=1", "a=1&bodySHA256=ab%20"),
            "https://h/p?a=1&bodySHA256=ab%20"
        );
        assert_eq!(request_url("https://h/p", "x=2"), "https://h/p?x=2");
    }

    #[test]
    fn debug_and_errors_never_show_tokens() {
        let v = verifier(&["supersecret-token"]);
        assert!(!format!("{v:?}").contains("supersecret"));
        for e in [
            SignatureError::Missing,
            SignatureError::Mismatch,
            SignatureError::BodyHashMissing,
            SignatureError::BodyHashMismatch,
        ] {
            assert!(!e.to_string().is_empty());
        }
    }
}
