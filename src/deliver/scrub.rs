//! Provider answers are untrusted text: a receiver answering "Cannot POST
//! /services/T000/B000/XXXX?token=..." or an SMTP server repeating the AUTH line
//! would put a channel's secret into logs, dead letters and `send-test` output.
//! A [`Scrubber`] is built from a channel's secret values (its kind's secret keys)
//! and replaces every form of them that may come back: the whole value, a URL's
//! path and query (raw, percent-decoded, JSON-escaped), its long query values and
//! token-like path segments, user and password, and SMTP AUTH PLAIN/LOGIN strings
//! in base64. [`super::Sender::send`] applies it to every classified answer.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

/// What replaces a secret.
pub const HIDDEN: &str = "[hidden]";

/// Shorter values would hide ordinary words; they are not real secrets.
const MIN_SECRET: usize = 4;
/// Query values and path segments standing alone are hidden from this length on.
const MIN_PART: usize = 8;
/// Path segments shorter than this are ids or words (`services`, `T000`), not tokens.
const MIN_SEGMENT: usize = 12;

#[derive(Clone, Default)]
pub struct Scrubber {
    /// Longest first, so a secret containing another is hidden whole.
    needles: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} needles, hidden)", self.needles.len())
    }
}

impl Scrubber {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a SecretString>) -> Scrubber {
        Self::from_values(secrets.into_iter().map(|s| s.expose_secret()))
    }

    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Scrubber {
        let mut needles = vec![];
        for v in values {
            forms(v.trim(), &mut needles);
        }
        needles.retain(|n| n.len() >= MIN_SECRET);
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Scrubber { needles }
    }

    /// `text` with every form of every secret replaced by [`HIDDEN`].
    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), HIDDEN);
            }
        }
        out
    }
}

/// Every form of `secret` that a provider might echo.
fn forms(secret: &str, out: &mut Vec<String>) {
    if secret.is_empty() {
        return;
    }
    out.push(secret.to_string());
    out.push(secret.replace('/', "\\/"));
    // `Bearer <token>`, `Basic <base64>`: the token alone, and what it encodes.
    for word in secret.split_whitespace().filter(|w| w.len() >= MIN_PART) {
        out.push(word.to_string());
        if let Some(decoded) = decode_b64(word) {
            out.extend(
                decoded
                    .split(':')
                    .filter(|p| p.len() >= MIN_PART)
                    .map(str::to_string),
            );
            out.push(decoded);
        }
    }
    if let Ok(url) = url::Url::parse(secret) {
        if url.has_host() {
            url_forms(&url, out);
        }
    }
}

fn url_forms(url: &url::Url, out: &mut Vec<String>) {
    let path = url.path();
    let query = url.query().unwrap_or_default();
    if path.len() > 1 {
        for p in [path.to_string(), decode(path)] {
            out.push(p.replace('/', "\\/"));
            out.push(p);
        }
        for seg in path.split('/').map(decode) {
            if seg.len() >= MIN_SEGMENT && !seg.chars().all(|c| c.is_ascii_lowercase()) {
                out.push(seg);
            }
        }
    }
    if !query.is_empty() {
        out.push(format!("{path}?{query}"));
        out.push(format!("?{query}"));
        out.push(query.to_string());
        for (_, v) in url.query_pairs() {
            if v.len() >= MIN_PART {
                out.push(v.into_owned());
            }
        }
    }
    let user = decode(url.username());
    let password = url.password().map(decode);
    for raw in [url.username().to_string(), user.clone()] {
        out.push(raw);
    }
    if let Some(pass) = &password {
        out.push(pass.clone());
        out.extend(url.password().map(str::to_string));
        // SMTP AUTH PLAIN (`\0user\0pass`, also with the authorization id) and
        // AUTH LOGIN (each alone), as the client sent them.
        for plain in [
            format!("\0{user}\0{pass}"),
            format!("{user}\0{user}\0{pass}"),
        ] {
            out.push(b64(&plain));
        }
        out.push(b64(pass));
    }
    if !user.is_empty() {
        out.push(b64(&user));
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// A base64 word decoded, when it is printable text.
fn decode_b64(word: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(word)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    (text.len() >= MIN_SECRET && !text.chars().any(char::is_control)).then_some(text)
}

fn decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(secrets: &[&str], text: &str) -> String {
        Scrubber::from_values(secrets.iter().copied()).clean(text)
    }

    #[test]
    fn url_paths_queries_and_tokens() {
        let url = "https://hooks.example.com/services/T000/B000/XXXXsecret1234?token=tok-abcdef-99";
        for echo in [
            "Cannot POST /services/T000/B000/XXXXsecret1234?token=tok-abcdef-99",
            "Cannot POST /services/T000/B000/XXXXsecret1234",
            r#"{"path":"\/services\/T000\/B000\/XXXXsecret1234"}"#,
            "bad token tok-abcdef-99",
            "unknown hook XXXXsecret1234",
            &format!("POST {url} failed"),
        ] {
            let got = scrub(&[url], echo);
            for leak in ["XXXXsecret1234", "tok-abcdef-99", "/services/T000"] {
                assert!(!got.contains(leak), "{echo} -> {got}");
            }
            assert!(got.contains(HIDDEN), "{got}");
        }
        // The host and ordinary words stay readable.
        assert_eq!(
            scrub(&[url], "hooks.example.com: services unavailable"),
            "hooks.example.com: services unavailable"
        );
    }

    #[test]
    fn percent_encoded_paths_are_hidden_decoded_too() {
        let url = "https://example.com/hook/a%20secret%2Fvalue-123?sig=abc%2Bdef%3D%3D";
        let got = scrub(
            &[url],
            "no route for /hook/a secret/value-123 (sig abc+def==)",
        );
        assert!(!got.contains("a secret/value-123"), "{got}");
        assert!(!got.contains("abc+def=="), "{got}");
    }

    #[test]
    fn smtp_credentials_plain_and_base64() {
        let url = "smtp://alerts%40example.com:SMTP-PASS-123@mail.example.com:587";
        let plain = b64("\0alerts@example.com\0SMTP-PASS-123");
        let login_user = b64("alerts@example.com");
        let login_pass = b64("SMTP-PASS-123");
        let echo = format!(
            "535 5.7.8 AUTH PLAIN {plain} rejected; LOGIN {login_user} {login_pass}; password SMTP-PASS-123"
        );
        let got = scrub(&[url], &echo);
        for leak in [
            plain.as_str(),
            &login_user,
            &login_pass,
            "SMTP-PASS-123",
            "alerts@example.com",
        ] {
            assert!(!got.contains(leak), "{leak} in {got}");
        }
        assert!(
            got.starts_with("535 5.7.8 AUTH PLAIN [hidden] rejected"),
            "{got}"
        );
    }

    #[test]
    fn keys_and_header_values() {
        let got = scrub(
            &[
                "R0UT1NGKEY",
                "Bearer hook-secret-123",
                "Basic dXNlcjpwYXNzd29yZDE=",
            ],
            "key R0UT1NGKEY; token hook-secret-123; basic user:password1 / password1",
        );
        assert_eq!(
            got,
            "key [hidden]; token [hidden]; basic [hidden] / [hidden]"
        );
    }

    #[test]
    fn short_and_empty_values_hide_nothing() {
        assert_eq!(
            scrub(&["", "ab", "https://x.io/"], "ab x.io /"),
            "ab x.io /"
        );
    }

    #[test]
    fn a_scrubber_does_not_show_its_secrets() {
        let s = Scrubber::from_values(["sekrit-value"]);
        assert_eq!(s.clean("HTTP 404: sekrit-value"), "HTTP 404: [hidden]");
        assert!(!format!("{s:?}").contains("sekrit"));
    }
}
