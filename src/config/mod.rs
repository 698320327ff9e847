//! Configuration: `config.toml` → [`Settings`], `${VAR}` expansion, validation.

mod settings;
pub use settings::*;
