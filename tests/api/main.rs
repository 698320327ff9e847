//! End-to-end tests: the real `Application` on port 0, requests signed as Twilio
//! signs them, wiremock standing in for the providers. One binary, many modules
//! (one link step).

mod helpers;
#[path = "../support/python.rs"]
mod python;

mod channels;
mod cli;
mod console;
mod docs;
mod durability;
mod email;
mod grouping;
mod hardening;
mod ingest;
mod metrics;
mod quickstart;
mod reload;
mod scrub;
mod twilio_sdk;
mod webdriver;
