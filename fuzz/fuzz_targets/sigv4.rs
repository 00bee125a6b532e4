//! Any text as an Authorization header, an X-Amz-Date, a path and a query: parsing never panics,
//! and a request signed with it never verifies against a key the fuzzer does not know.
#![no_main]

use cloudid_mock::verify::sigv4;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = sigv4::parse_amz_date(s);
    let _ = sigv4::canonical_uri(s);
    let _ = sigv4::canonical_query(s);
    if sigv4::parse_authorization(s).is_ok() {
        let req = sigv4::Request { method: "POST", path: "/", query: "", headers: vec![("authorization".into(), s.to_string()), ("host".into(), "sts.amazonaws.com".into()), ("x-amz-date".into(), "20261130T120000Z".into())], body: b"Action=GetCallerIdentity&Version=2011-06-15" };
        let region_ok = |_: &str| true;
        let rule = sigv4::ScopeRule { service: "sts", region_ok: &region_ok };
        let now = time::OffsetDateTime::from_unix_timestamp(1_796_040_000).expect("time");
        let r = sigv4::verify(&req, &rule, now, |_| Some(sigv4::KeyMaterial { secret: "s".repeat(40), session_token: None, expires_at: None }));
        assert!(r.is_err(), "a fuzzed signature verified");
    }
});
