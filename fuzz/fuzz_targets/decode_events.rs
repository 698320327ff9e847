#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| twilert::fuzzing::decode_events(data));
