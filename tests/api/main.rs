//! End-to-end tests: the real `Application` on port 0, requests signed as Twilio
//! signs them, wiremock standing in for the providers. One binary, many modules
//! (one link step).

mod helpers;

mod durability;
mod grouping;
mod ingest;
mod twilio_sdk;
