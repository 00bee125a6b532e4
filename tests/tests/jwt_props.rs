//! JWT signature properties against an independent signer: tokens the `jsonwebtoken` crate signs
//! with random claims verify with cloudid's verifier under the issuer's key, and flipping any byte
//! of one is denied — the verifier agrees with another implementation, not only with itself.

use cloudid_mock::verify::jwt;
use cloudid_mock::world::issuers::SigningKey;
use proptest::prelude::*;

fn key() -> &'static SigningKey {
    static K: std::sync::OnceLock<SigningKey> = std::sync::OnceLock::new();
    K.get_or_init(|| SigningKey::fixture("github-actions-1").expect("fixture key"))
}

fn encoding_key() -> &'static jsonwebtoken::EncodingKey {
    static K: std::sync::OnceLock<jsonwebtoken::EncodingKey> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let pem = std::fs::read(cloudid_tests::workspace_root().join("fixtures/keys/github-actions-1.pem")).expect("fixture PEM");
        jsonwebtoken::EncodingKey::from_rsa_pem(&pem).expect("jsonwebtoken reads the fixture key")
    })
}

fn sign(claims: &serde_json::Value, kid: &str) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, encoding_key()).expect("jsonwebtoken signs")
}

fn claims() -> impl Strategy<Value = serde_json::Value> {
    (".{0,40}", ".{0,60}", prop::collection::vec(".{0,30}", 1..3), any::<i64>(), prop::collection::btree_map("[a-z_]{1,12}", ".{0,20}", 0..5)).prop_map(|(iss, sub, aud, exp, extra)| {
        let mut c = serde_json::json!({"iss": iss, "sub": sub, "aud": aud, "exp": exp});
        for (k, v) in extra {
            c.as_object_mut().unwrap().entry(k).or_insert(serde_json::json!(v));
        }
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn tokens_another_library_signs_with_random_claims_verify(c in claims()) {
        let token = sign(&c, &key().kid);
        let decoded = jwt::decode(&token).expect("a jsonwebtoken token decodes");
        prop_assert!(decoded.verify(&[key().prepared.clone()]).is_ok());
        prop_assert_eq!(decoded.str_claim("sub"), c["sub"].as_str());
    }

    #[test]
    fn flipping_any_byte_of_another_librarys_token_denies_it(c in claims(), pos in 0usize..4000, bit in 0u8..8) {
        let token = sign(&c, &key().kid);
        let mut bytes = token.clone().into_bytes();
        let i = pos % bytes.len();
        bytes[i] ^= 1 << bit;
        if let Ok(s) = String::from_utf8(bytes)
            && s != token
            && let Ok(d) = jwt::decode(&s)
        {
            prop_assert!(d.verify(&[key().prepared.clone()]).is_err(), "flipped byte {} still verifies", i);
        }
    }
}
