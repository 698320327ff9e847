//! Ingest: the HTTP edge. Reads the body within bounds, verifies `X-Twilio-Signature`
//! (auth tokens or shared keys) before anything is decoded, decodes Debugger bodies
//! and Event Streams CloudEvents into [`crate::event::DebuggerEvent`]s, stores them,
//! answers per SPEC 2 and 16.

pub mod body;
pub mod check;
pub mod cloudevents;
pub mod decode;
pub mod error;
pub mod handler;
mod ignored;
pub mod signature;
pub mod slack_actions;
pub mod slack_signature;
pub mod verify;
