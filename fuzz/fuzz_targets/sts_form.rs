//! Any text as an STS Query-protocol body: never a panic, every refusal has a code and a message.
#![no_main]

use cloudid_mock::fuzzing as params;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Err(e) = params::parse_form(s)
    {
        assert!(!e.code.as_str().is_empty() && !e.message.is_empty());
    }
});
