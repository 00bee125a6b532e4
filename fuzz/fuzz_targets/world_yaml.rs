//! Any text as a world file: never a panic, and every error names the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Err(e) = cloudid_mock::world::parse("fuzz.yaml", s)
    {
        assert_eq!(e.file, "fuzz.yaml");
        assert!(!e.message.is_empty());
    }
});
