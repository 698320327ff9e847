//! End-to-end tests: the real `Application` on port 0, requests signed as Twilio
//! signs them, wiremock standing in for the providers. One binary, many modules
//! (one link step).

mod helpers;

mod alert_quality;
mod channels;
mod cli;
mod durability;
mod email;
mod grouping;
mod ingest;
mod previews;
mod reload;
mod twilio_sdk;
