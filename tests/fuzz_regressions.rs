//! Replays every saved fuzz input (`fuzz/regressions/<target>/*`, plus the seed
//! corpora) through the same harnesses the fuzzers run, so a crash once found
//! stays fixed without needing `cargo fuzz` in the normal test run.

use std::path::Path;

fn replay(target: &str, harness: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in [
        root.join("regressions").join(target),
        root.join("seeds").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).expect("read input");
            harness(&data);
            n += 1;
        }
    }
    assert!(n > 0, "no saved inputs for {target}");
}

#[test]
fn decode_form() {
    replay("decode_form", twilert::fuzzing::decode_form);
}

#[test]
fn decode_json() {
    replay("decode_json", twilert::fuzzing::decode_json);
}

#[test]
fn decode_events() {
    replay("decode_events", twilert::fuzzing::decode_events);
}

#[test]
fn signature() {
    replay("signature", twilert::fuzzing::signature);
}

#[test]
fn route_patterns() {
    replay("route_patterns", twilert::fuzzing::route_patterns);
}

#[test]
fn render() {
    replay("render", twilert::fuzzing::render);
}
