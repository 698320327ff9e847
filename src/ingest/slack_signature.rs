//! Slack's request signing, exactly as Slack documents it ("Verifying requests
//! from Slack") and its SDK (`slack_sdk.signature.SignatureVerifier`) checks it:
//! `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{X-Slack-Request-Timestamp}:{raw
//! body}">` keyed with the app's signing secret; a timestamp more than 5 minutes
//! from now is refused (replays). Pure: `now` is passed in. For the endpoints
//! Slack calls (interactive buttons); nothing is decoded before this passes.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far `X-Slack-Request-Timestamp` may be from now (either way), in seconds.
pub const MAX_SKEW_SECS: i64 = 5 * 60;

/// Why a request is not from Slack. Never carries the secret or the expected
/// signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackSignatureError {
    #[error("X-Slack-Request-Timestamp is missing")]
    MissingTimestamp,
    #[error("X-Slack-Request-Timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error("X-Slack-Request-Timestamp is more than 5 minutes from now (a replay?)")]
    Stale,
    #[error("X-Slack-Signature is missing")]
    MissingSignature,
    #[error("X-Slack-Signature does not match the body")]
    Mismatch,
}

/// `v0=<64 lowercase hex>`: the signature of `body` sent at `timestamp` (the
/// header's text, as it is signed).
pub fn sign(signing_secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(signing_secret.as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a request Slack says it sent: `timestamp` and `signature` are the
/// `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers, `body` the raw
/// body as received, `now_unix_secs` the current time. The timestamp is checked
/// first (a stale request is refused whatever its signature), then the
/// signature, compared in constant time.
pub fn verify(
    signing_secret: &SecretString,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix_secs: i64,
) -> Result<(), SlackSignatureError> {
    let ts_text = timestamp.ok_or(SlackSignatureError::MissingTimestamp)?;
    let signature = signature.ok_or(SlackSignatureError::MissingSignature)?;
    if ts_text.is_empty() || !ts_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlackSignatureError::BadTimestamp);
    }
    let ts: i64 = ts_text
        .parse()
        .map_err(|_| SlackSignatureError::BadTimestamp)?;
    if now_unix_secs.saturating_sub(ts).saturating_abs() > MAX_SKEW_SECS {
        return Err(SlackSignatureError::Stale);
    }
    let expected = sign(signing_secret.expose_secret(), ts_text, body);
    if bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        Ok(())
    } else {
        Err(SlackSignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's documented example ("Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn secret() -> SecretString {
        SecretString::from(SECRET)
    }

    #[test]
    fn slacks_documented_example() {
        assert_eq!(sign(SECRET, TS, BODY), SIGNATURE);
        let now = TS.parse::<i64>().expect("ts");
        assert_eq!(
            verify(&secret(), Some(TS), Some(SIGNATURE), BODY, now),
            Ok(())
        );
    }

    #[test]
    fn five_minutes_either_way_and_no_more() {
        let ts: i64 = TS.parse().expect("ts");
        for now in [ts - MAX_SKEW_SECS, ts + MAX_SKEW_SECS] {
            assert_eq!(
                verify(&secret(), Some(TS), Some(SIGNATURE), BODY, now),
                Ok(())
            );
        }
        for now in [
            ts - MAX_SKEW_SECS - 1,
            ts + MAX_SKEW_SECS + 1,
            0,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(
                verify(&secret(), Some(TS), Some(SIGNATURE), BODY, now),
                Err(SlackSignatureError::Stale),
                "{now}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused_and_says_why() {
        let now: i64 = TS.parse().expect("ts");
        let v = |ts: Option<&str>, sig: Option<&str>, body: &[u8]| {
            verify(&secret(), ts, sig, body, now)
        };
        assert_eq!(
            v(None, Some(SIGNATURE), BODY),
            Err(SlackSignatureError::MissingTimestamp)
        );
        assert_eq!(
            v(Some(TS), None, BODY),
            Err(SlackSignatureError::MissingSignature)
        );
        for bad in [
            "",
            "soon",
            "-1531420618",
            "+1531420618",
            " 1531420618",
            "1531420618.5",
            "99999999999999999999",
        ] {
            assert_eq!(
                v(Some(bad), Some(SIGNATURE), BODY),
                Err(SlackSignatureError::BadTimestamp),
                "{bad:?}"
            );
        }
        let mut tampered = BODY.to_vec();
        tampered[0] ^= 1;
        assert_eq!(
            v(Some(TS), Some(SIGNATURE), &tampered),
            Err(SlackSignatureError::Mismatch)
        );
        // The timestamp is signed: another one (still recent) does not match.
        let other = (now + 1).to_string();
        assert_eq!(
            v(Some(&other), Some(SIGNATURE), BODY),
            Err(SlackSignatureError::Mismatch)
        );
        for sig in [
            "",
            "v0=",
            &SIGNATURE[3..],
            &SIGNATURE.to_uppercase(),
            &SIGNATURE.replace("v0=", "v1="),
            &format!("{SIGNATURE}00"),
            &SIGNATURE[..SIGNATURE.len() - 1],
        ] {
            assert_eq!(
                v(Some(TS), Some(sig), BODY),
                Err(SlackSignatureError::Mismatch),
                "{sig:?}"
            );
        }
        let wrong = SecretString::from("another-secret");
        assert_eq!(
            verify(&wrong, Some(TS), Some(SIGNATURE), BODY, now),
            Err(SlackSignatureError::Mismatch)
        );
        let e = SlackSignatureError::Mismatch.to_string();
        assert!(!e.contains(SECRET) && !e.contains(&SIGNATURE[3..]), "{e}");
    }
}
