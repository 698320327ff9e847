//! End-to-end tests: the real `Application` on port 0, requests signed as Twilio
//! signs them, wiremock standing in for the providers. One binary, many modules
//! (one link step).

mod helpers;
/// PostgreSQL test databases (`fresh_database`).
pub mod pg;
#[path = "../support/python.rs"]
mod python;

mod alert_quality;
mod bounded_http;
mod channels;
mod cli;
mod console;
mod docs;
mod durability;
mod email;
mod event_streams;
mod fake_slack;
mod grouping;
mod hardening;
mod ingest;
mod metrics;
mod pg_support;
mod previews;
mod quickstart;
mod reload;
mod replicas;
mod resolve;
mod scrub;
mod silences;
mod slack_app;
mod slack_buttons;
mod slack_replicas;
mod slack_sdk;
mod threshold;
mod twilio_sdk;
mod webdriver;
