//! twilert: Twilio Debugger events → routed, grouped, rate-limited alerts.
//!
//! The pipeline, one module per stage:
//! ingest → store → route → group → render → deliver.

pub mod admin;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod control;
pub mod deliver;
pub mod dispatch;
pub mod event;
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod ingest;
pub mod kinds;
pub mod notification;
pub mod product;
pub mod render;
pub mod route;
pub mod runtime;
pub mod silence;
pub mod startup;
pub mod store;
pub mod telemetry;
