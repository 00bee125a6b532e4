//! Server-side fuzzing of every parser on an exchange path: arbitrary input never panics, never
//! verifies, and always yields a well-formed refusal. CI runs the default case count; the long
//! run is `PROPTEST_CASES=1000000 cargo test --release -p cloudid-mock --test fuzz`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudid_mock::fuzzing as params;
use cloudid_mock::fuzzing as google_sts;
use cloudid_mock::verify::cel::Expr;
use cloudid_mock::verify::{jwt, sigv4};
use cloudid_mock::world::issuers::SigningKey;
use proptest::prelude::*;

fn key() -> &'static SigningKey {
    static K: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
    K.get_or_init(|| SigningKey::fixture("github-actions-1").unwrap())
}

fn valid_token() -> &'static String {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    T.get_or_init(|| key().sign(&serde_json::json!({"iss": "https://x", "sub": "s", "aud": "a", "exp": 2_000_000_000i64}), &Default::default()))
}

proptest! {
    #[test]
    fn arbitrary_text_never_decodes_into_a_verified_token(s in ".{0,400}") {
        if let Ok(d) = jwt::decode(&s) {
            prop_assert!(d.verify(&[key().prepared.clone()]).is_err());
        }
    }

    #[test]
    fn arbitrary_json_parts_never_verify(header in any::<Vec<u8>>(), claims in any::<Vec<u8>>(), sig in any::<Vec<u8>>()) {
        let t = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims), URL_SAFE_NO_PAD.encode(sig));
        if let Ok(d) = jwt::decode(&t) {
            prop_assert!(d.verify(&[key().prepared.clone()]).is_err());
        }
    }

    #[test]
    fn flipping_any_byte_of_a_signed_token_denies_it(pos in 0usize..2000, bit in 0u8..8) {
        let t = valid_token();
        let mut bytes = t.clone().into_bytes();
        let i = pos % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(s) = String::from_utf8(bytes)
            && s != *t
            && let Ok(d) = jwt::decode(&s)
        {
            prop_assert!(d.verify(&[key().prepared.clone()]).is_err(), "flipped byte {i} still verifies");
        }
    }

    #[test]
    fn authorization_headers_never_panic(s in ".{0,300}") {
        let _ = sigv4::parse_authorization(&s);
        let _ = sigv4::parse_amz_date(&s);
        let _ = sigv4::canonical_uri(&s);
        let _ = sigv4::canonical_query(&s);
    }

    #[test]
    fn random_signed_looking_requests_never_verify(auth in "AWS4-HMAC-SHA256 Credential=[A-Z0-9]{4,20}/2026113[0-9]/[a-z0-9-]{0,14}/sts/aws4_request, SignedHeaders=[a-z;-]{0,40}, Signature=[0-9a-f]{64}", date in "2026113[0-9]T1[0-9]{5}Z", body in ".{0,100}") {
        let req = sigv4::Request { method: "POST", path: "/", query: "", headers: vec![("authorization".into(), auth), ("host".into(), "sts.amazonaws.com".into()), ("x-amz-date".into(), date)], body: body.as_bytes() };
        let region_ok = |_: &str| true;
        let rule = sigv4::ScopeRule { service: "sts", region_ok: &region_ok };
        let now = time::OffsetDateTime::from_unix_timestamp(1_796_040_000).unwrap();
        let r = sigv4::verify(&req, &rule, now, |_| Some(sigv4::KeyMaterial { secret: "s".repeat(40), session_token: None, expires_at: None }));
        prop_assert!(r.is_err());
        let code = r.unwrap_err().code();
        prop_assert!(["MissingAuthenticationToken", "IncompleteSignature", "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken"].contains(&code));
    }

    #[test]
    fn query_protocol_bodies_never_panic(s in ".{0,400}") {
        if let Err(e) = params::parse_form(&s) {
            prop_assert!(!e.code.as_str().is_empty() && !e.message.is_empty());
        }
    }

    #[test]
    fn audiences_never_panic_and_only_full_provider_names_parse(s in ".{0,200}") {
        if let Some((n, p, x)) = google_sts::parse_audience(&s) {
            prop_assert!(!n.is_empty() && !p.is_empty() && !x.is_empty());
            prop_assert!(s.contains("/workloadIdentityPools/") && s.contains("/providers/"));
        }
    }

    #[test]
    fn cel_never_panics_on_arbitrary_expressions_or_assertions(expr in ".{0,120}", field in ".{0,40}", value in ".{0,40}") {
        if let Ok(e) = Expr::compile(&expr) {
            let vars = BTreeMap::from([("assertion", serde_json::json!({ field: value }))]);
            let _ = e.eval_bool(&vars);
            let _ = e.eval_string(&vars);
        }
    }

    #[test]
    fn world_yaml_never_panics_and_errors_name_the_file(s in ".{0,300}") {
        if let Err(e) = cloudid_mock::world::parse("fuzz.yaml", &s) {
            prop_assert_eq!(e.file, "fuzz.yaml");
            prop_assert!(!e.message.is_empty());
        }
    }
}
