//! Ingest: the HTTP edge. Verifies `X-Twilio-Signature`, decodes the body into a
//! [`crate::event::DebuggerEvent`], stores it, answers per SPEC 2.

pub mod decode;
pub mod handler;
pub mod signature;
