//! Rendering: Handlebars templates → provider payloads, escaped and within limits.
