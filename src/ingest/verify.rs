//! The request as a type (svix's shape): a body is [`Unverified`] until the
//! verifier turns it into [`Verified`]; only a `Verified` body is decoded. Nothing
//! outside this module can make one without checking the signature (or the
//! operator turning verification off, which is logged at every start).

use super::decode::{self, DecodeError};
use super::signature::{SignatureError, Verifier};
use actix_web::web::Bytes;

/// How the body is encoded (from `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Form,
    Json,
}

/// A body as received, with what its signature is checked against.
pub struct Unverified<'a> {
    pub body: Bytes,
    pub kind: BodyKind,
    /// The URL Twilio signed (see `handler::signing_url`).
    pub url: String,
    /// `X-Twilio-Signature`.
    pub signature: Option<&'a str>,
    /// `X-Twilio-Webhooks-Signature-Settings`.
    pub settings: Option<&'a str>,
}

/// A body whose signature matched. Fields are private: only [`Unverified::verify`]
/// and [`Unverified::unchecked`] make one.
pub struct Verified {
    body: Bytes,
    /// A form body's pairs, parsed once for the signature and kept for decoding.
    pairs: Option<Vec<(String, String)>>,
}

impl Unverified<'_> {
    /// Checks the signature: form bodies over the URL and their sorted pairs, JSON
    /// bodies over the URL with `bodySHA256`. A form body that does not parse is
    /// checked with no pairs, so an unsigned request is refused as such whatever
    /// its body holds; a signed one then fails to decode (400).
    pub fn verify(self, verifier: &Verifier) -> Result<Verified, SignatureError> {
        match self.kind {
            BodyKind::Form => {
                let pairs = decode::form_pairs(&self.body).ok();
                let empty = Vec::new();
                verifier.verify_form_with(
                    self.settings,
                    self.signature,
                    &self.url,
                    pairs.as_ref().unwrap_or(&empty),
                )?;
                Ok(Verified {
                    body: self.body,
                    pairs,
                })
            }
            BodyKind::Json => {
                verifier.verify_json_with(self.settings, self.signature, &self.url, &self.body)?;
                Ok(Verified {
                    body: self.body,
                    pairs: None,
                })
            }
        }
    }

    /// `twilio.verify_signature = false`: the body is taken as is.
    pub fn unchecked(self) -> Verified {
        Verified {
            body: self.body,
            pairs: None,
        }
    }
}

impl Verified {
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// A form body's pairs (parsed during verification, or now).
    pub fn form_pairs(&self) -> Result<std::borrow::Cow<'_, [(String, String)]>, DecodeError> {
        match &self.pairs {
            Some(p) => Ok(std::borrow::Cow::Borrowed(p)),
            None => decode::form_pairs(&self.body).map(std::borrow::Cow::Owned),
        }
    }
}
