//! Any bytes as a JWT: decoding never panics, and nothing but a token the key signed verifies.
#![no_main]

use cloudid_mock::verify::jwt;
use cloudid_mock::world::issuers::SigningKey;
use libfuzzer_sys::fuzz_target;

fn key() -> &'static SigningKey {
    static K: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
    K.get_or_init(|| SigningKey::fixture("github-actions-1").expect("fixture key"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data)
        && let Ok(d) = jwt::decode(s)
    {
        assert!(d.verify(&[key().prepared.clone()]).is_err(), "a token the fuzzer made verified");
    }
});
