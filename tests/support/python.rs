//! The Python interpreter the tests run their checkers with (Slack's block models,
//! Twilio's signer, the mail parser), shared by the test binaries.

use std::path::PathBuf;

/// `$TWILERT_TEST_PYTHON` (scripts/test.sh sets it to the virtualenv that
/// scripts/test-deps.sh makes), else that virtualenv when it exists, else `python3`
/// from `PATH` (with the packages installed by hand).
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TWILERT_TEST_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/python3");
    if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    }
}
