//! Signature unit tests: Twilio's published vector, port variants, shared keys.

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
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
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

fn shared(keys: &[(&str, &str)]) -> Verifier {
    verifier(&["12345"]).with_shared_keys(
        keys.iter()
            .map(|(k, v)| (k.to_string(), SecretString::from(*v)))
            .collect(),
    )
}

const SETTINGS: &str = "key=KS00000000000000000000000000000001,algorithm=HMAC_SHA256";

#[test]
fn hmac_sha256_matches_rfc_4231_and_the_twilio_string() {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    assert_eq!(
        compute_sorted(
            Algorithm::HmacSha256,
            b"Jefe",
            "what do ya want for nothing?",
            &[]
        ),
        "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    );
    // Twilio's published request (URL + sorted params), HMAC-SHA256 keyed by a
    // shared secret (checked with Python's hmac module).
    assert_eq!(
        compute_sha256("sharedsecret", URL, &params()),
        "VXvIxTyb3n8owPHVMo08I6hUtal46BL5yVuyTjoiPvI="
    );
}

#[test]
fn shared_key_signatures_verify_only_with_the_named_key_and_sha256() {
    let v = shared(&[
        ("KS00000000000000000000000000000001", "sharedsecret"),
        ("KS00000000000000000000000000000002", "other"),
    ]);
    let sig = compute_sha256("sharedsecret", URL, &params());
    assert_eq!(
        v.verify_form_with(Some(SETTINGS), Some(&sig), URL, &params()),
        Ok(())
    );
    // Any order, any case of names, blanks around them.
    let loose = " Algorithm = hmac_sha256 , KEY=KS00000000000000000000000000000001 ";
    assert_eq!(
        v.verify_form_with(Some(loose), Some(&sig), URL, &params()),
        Ok(())
    );
    // Port toggling applies as for auth tokens.
    let with_port = URL.replace(".com/", ".com:443/");
    assert_eq!(
        v.verify_form_with(Some(SETTINGS), Some(&sig), &with_port, &params()),
        Ok(())
    );
    // Another configured key named: mismatch.
    let other = SETTINGS.replace("0001", "0002");
    assert_eq!(
        v.verify_form_with(Some(&other), Some(&sig), URL, &params()),
        Err(SignatureError::Mismatch)
    );
    // Unknown or missing key id.
    for s in [
        "key=KS99999999999999999999999999999999,algorithm=HMAC_SHA256",
        "algorithm=HMAC_SHA256",
        "key=,algorithm=HMAC_SHA256",
        "garbage",
    ] {
        assert_eq!(
            v.verify_form_with(Some(s), Some(&sig), URL, &params()),
            Err(SignatureError::UnknownKey),
            "{s}"
        );
    }
    // SHA-1 (even correctly computed with the shared secret), other or no algorithm.
    let sha1 = compute("sharedsecret", URL, &params());
    for s in [
        "key=KS00000000000000000000000000000001,algorithm=HMAC_SHA1",
        "key=KS00000000000000000000000000000001,algorithm=HMAC_SHA512",
        "key=KS00000000000000000000000000000001",
    ] {
        assert_eq!(
            v.verify_form_with(Some(s), Some(&sha1), URL, &params()),
            Err(SignatureError::UnsupportedAlgorithm),
            "{s}"
        );
    }
    // With the header, the auth token's SHA-1 signature is not enough.
    assert_eq!(
        v.verify_form_with(Some(SETTINGS), Some(EXPECTED), URL, &params()),
        Err(SignatureError::Mismatch)
    );
    // A blank header is no header: auth tokens, SHA-1.
    assert_eq!(
        v.verify_form_with(Some("  "), Some(EXPECTED), URL, &params()),
        Ok(())
    );
    // SHA-256 signature without the header is refused.
    assert_eq!(
        v.verify_form_with(None, Some(&sig), URL, &params()),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn shared_key_json_bodies() {
    let v = shared(&[("KS00000000000000000000000000000001", "sharedsecret")]);
    let body = br#"[{"type":"com.twilio.error-logs.error.logged"}]"#;
    let hash = hex::encode(Sha256::digest(body));
    let url = format!("https://h.example/twilio/events?bodySHA256={hash}");
    let sig = compute_sha256("sharedsecret", &url, &[]);
    assert_eq!(
        v.verify_json_with(Some(SETTINGS), Some(&sig), &url, body),
        Ok(())
    );
    assert_eq!(
        v.verify_json_with(Some(SETTINGS), Some(&sig), &url, b"[]"),
        Err(SignatureError::BodyHashMismatch)
    );
    assert!(!format!("{v:?}").contains("sharedsecret"));
    assert_eq!(SignatureError::UnknownKey.field(), SETTINGS_HEADER);
    assert_eq!(SignatureError::Mismatch.field(), "X-Twilio-Signature");
}
