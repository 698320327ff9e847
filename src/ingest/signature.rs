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
//!
//! Shared keys (Twilio's Webhooks configuration, public beta): a request carrying
//! `X-Twilio-Webhooks-Signature-Settings: key=<id>,algorithm=HMAC_SHA256` is signed
//! over the same string with HMAC-SHA256 keyed by that shared key's secret
//! (`twilio.shared_keys`), not with an auth token. An unknown key id or any other
//! algorithm (HMAC_SHA1 included) is refused: the header says what signed it.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;
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
    #[error("X-Twilio-Webhooks-Signature-Settings names a key that is not in twilio.shared_keys")]
    UnknownKey,
    #[error("X-Twilio-Webhooks-Signature-Settings names an unsupported algorithm (only HMAC_SHA256 is accepted with a shared key)")]
    UnsupportedAlgorithm,
}

impl SignatureError {
    /// The header the refusal is about, for the JSON error's `field`.
    pub fn field(&self) -> &'static str {
        match self {
            SignatureError::UnknownKey | SignatureError::UnsupportedAlgorithm => SETTINGS_HEADER,
            _ => "X-Twilio-Signature",
        }
    }
}

/// The header naming a shared key and algorithm.
pub const SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

/// The HMAC a signature is computed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Auth tokens (Twilio's default).
    HmacSha1,
    /// Shared keys (`algorithm=HMAC_SHA256`).
    HmacSha256,
}

/// The signature Twilio sends for a form request to `url` with `params`.
pub fn compute(token: &str, url: &str, params: &[(String, String)]) -> String {
    compute_sorted(
        Algorithm::HmacSha1,
        token.as_bytes(),
        url,
        &sorted_params(params),
    )
}

/// As [`compute`], with a shared key's secret and HMAC-SHA256.
pub fn compute_sha256(key: &str, url: &str, params: &[(String, String)]) -> String {
    compute_sorted(
        Algorithm::HmacSha256,
        key.as_bytes(),
        url,
        &sorted_params(params),
    )
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
    let signature = compute_sorted(Algorithm::HmacSha1, token.as_bytes(), &signed, &[]);
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
/// subaccounts): any one matching is enough; or, when the request names one, against
/// a shared key.
#[derive(Clone)]
pub struct Verifier {
    tokens: Vec<SecretString>,
    shared_keys: BTreeMap<String, SecretString>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("tokens", &format_args!("[{} redacted]", self.tokens.len()))
            .field("shared_keys", &self.shared_keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    pub fn new(tokens: Vec<SecretString>) -> Verifier {
        Verifier {
            tokens,
            shared_keys: BTreeMap::new(),
        }
    }

    /// Adds `twilio.shared_keys` (key id → secret).
    pub fn with_shared_keys(mut self, keys: BTreeMap<String, SecretString>) -> Verifier {
        self.shared_keys = keys;
        self
    }

    /// A form (`application/x-www-form-urlencoded`) request: `params` are the
    /// decoded body pairs, in any order; `url` the URL Twilio requested.
    pub fn verify_form(
        &self,
        header: Option<&str>,
        url: &str,
        params: &[(String, String)],
    ) -> Result<(), SignatureError> {
        self.verify_form_with(None, header, url, params)
    }

    /// As [`Verifier::verify_form`], honouring `X-Twilio-Webhooks-Signature-Settings`.
    pub fn verify_form_with(
        &self,
        settings: Option<&str>,
        header: Option<&str>,
        url: &str,
        params: &[(String, String)],
    ) -> Result<(), SignatureError> {
        let (alg, keys) = self.keys_for(settings)?;
        let header = present(header)?;
        if matches(alg, &keys, header, url, &sorted_params(params)) {
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
        self.verify_json_with(None, header, url, body)
    }

    /// As [`Verifier::verify_json`], honouring `X-Twilio-Webhooks-Signature-Settings`.
    pub fn verify_json_with(
        &self,
        settings: Option<&str>,
        header: Option<&str>,
        url: &str,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let (alg, keys) = self.keys_for(settings)?;
        let header = present(header)?;
        let claimed = body_hash_param(url).ok_or(SignatureError::BodyHashMissing)?;
        if !matches(alg, &keys, header, url, &[]) {
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

    /// The algorithm and candidate keys for a request: the auth tokens with
    /// HMAC-SHA1 when no (or a blank) settings header is sent, else the one shared
    /// key it names, with HMAC-SHA256 only.
    fn keys_for(&self, settings: Option<&str>) -> Result<(Algorithm, Vec<&[u8]>), SignatureError> {
        let Some(settings) = settings.filter(|s| !s.trim().is_empty()) else {
            let keys = self.tokens.iter().map(|t| t.expose_secret().as_bytes());
            return Ok((Algorithm::HmacSha1, keys.collect()));
        };
        let (key, algorithm) = parse_settings(settings);
        let secret = key
            .and_then(|k| self.shared_keys.get(k))
            .ok_or(SignatureError::UnknownKey)?;
        match algorithm {
            Some(a) if a.eq_ignore_ascii_case("HMAC_SHA256") => Ok((
                Algorithm::HmacSha256,
                vec![secret.expose_secret().as_bytes()],
            )),
            _ => Err(SignatureError::UnsupportedAlgorithm),
        }
    }
}

/// `key=<id>,algorithm=<name>` → (id, name); parts in any order, names in any
/// case, blanks around them ignored, the first of a repeated name used.
fn parse_settings(header: &str) -> (Option<&str>, Option<&str>) {
    let (mut key, mut algorithm) = (None, None);
    for part in header.split(',') {
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let name = name.trim();
        if name.eq_ignore_ascii_case("key") {
            key.get_or_insert(value);
        } else if name.eq_ignore_ascii_case("algorithm") {
            algorithm.get_or_insert(value);
        }
    }
    (key, algorithm)
}

/// Tries every key against the URL as given and with the default port toggled.
/// All candidates are computed, so timing does not tell which one matched.
fn matches(
    alg: Algorithm,
    keys: &[&[u8]],
    header: &str,
    url: &str,
    sorted: &[(&str, &str)],
) -> bool {
    let variant = port_variant(url);
    let header = header.as_bytes();
    let mut ok = Choice::from(0);
    for key in keys {
        ok |= compute_sorted(alg, key, url, sorted)
            .as_bytes()
            .ct_eq(header);
        if let Some(v) = &variant {
            ok |= compute_sorted(alg, key, v, sorted).as_bytes().ct_eq(header);
        }
    }
    bool::from(ok)
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

fn compute_sorted(alg: Algorithm, key: &[u8], url: &str, sorted: &[(&str, &str)]) -> String {
    fn feed<M: Mac>(mut mac: M, url: &str, sorted: &[(&str, &str)]) -> Vec<u8> {
        mac.update(url.as_bytes());
        for (name, value) in sorted {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac.finalize().into_bytes().to_vec()
    }
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let tag = match alg {
        Algorithm::HmacSha1 => feed(
            <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC accepts any key length"),
            url,
            sorted,
        ),
        Algorithm::HmacSha256 => feed(
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length"),
            url,
            sorted,
        ),
    };
    base64::engine::general_purpose::STANDARD.encode(tag)
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
mod tests;
