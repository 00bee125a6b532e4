//! Hostile tokens (`cloudid token --header/--duplicate/--key`) against cloudid's own verifiers:
//! STS refuses every one a careful verifier refuses, in AWS's words, and the forging itself is
//! what the flags say.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudid_mock::TokenRequest;
use cloudid_tests::fixed_cloud;
use serde_json::{Map, Value, json};

fn request(header: Value, key: Option<&str>) -> TokenRequest {
    TokenRequest { audience: Some("sts.amazonaws.com".into()), header: header.as_object().cloned().unwrap_or_default(), key: key.map(str::to_string), ..Default::default() }
}

async fn assume(cloud: &cloudid_mock::CloudId, token: &str) -> (u16, String) {
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", "arn:aws:iam::123456789012:role/GitHubActionsECRRole"),
        ("RoleSessionName", "hostile"),
        ("WebIdentityToken", token),
    ];
    let r = reqwest::Client::new().post(format!("{}/", cloud.endpoint())).form(&form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn sts_refuses_every_forged_github_token_with_awss_code() {
    let cloud = fixed_cloud().await;
    let control = cloud.control();
    let honest = control.mint("github", &request(json!({}), None)).await.unwrap();
    assert_eq!(assume(&cloud, &honest).await.0, 200, "the honest token is accepted");
    let cases: [(&str, Value, Option<&str>, &str); 6] = [
        ("alg none", json!({}), Some("none"), "not signed with a supported algorithm"),
        ("HS256 keyed with the public key", json!({}), Some("hs256-public-key"), "not signed with a supported algorithm"),
        ("an unpublished key under the issuer's kid", json!({}), Some("generated"), "could not be validated by AWS"),
        ("another issuer's key", json!({}), Some("issuer:google"), "Couldn't retrieve verification key"),
        ("an unknown kid", json!({"kid": "no-such-key"}), None, "Couldn't retrieve verification key"),
        ("a critical header it does not understand", json!({"crit": ["exp"], "exp": 1}), None, "InvalidIdentityToken"),
    ];
    for (what, header, key, words) in cases {
        let token = control.mint("github", &request(header, key)).await.unwrap();
        let (status, body) = assume(&cloud, &token).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains("<Code>InvalidIdentityToken</Code>") && body.contains(words), "{what}: {body}");
    }
    let no_kid = control.mint("github", &request(json!({"kid": null}), None)).await.unwrap();
    assert!(header_of(&no_kid).get("kid").is_none());
    let jku = control.mint("github", &request(json!({"jku": "https://evil.example/jwks", "x5u": "https://evil.example/cert"}), None)).await.unwrap();
    assert_eq!(assume(&cloud, &jku).await.0, 200, "jku and x5u are ignored: the issuer's own JWKS decides, and the signature is the issuer's");
    let jwk = control.mint("github", &request(json!({"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}), Some("generated"))).await.unwrap();
    assert_eq!(assume(&cloud, &jwk).await.0, 400, "an embedded jwk is not trusted");
}

#[tokio::test]
async fn a_duplicated_claim_is_read_as_its_last_occurrence_as_rfc_7519_allows() {
    let cloud = fixed_cloud().await;
    let mut duplicates = Map::new();
    duplicates.insert("sub".into(), json!("repo:evil/x:ref:refs/heads/main"));
    let req = TokenRequest { audience: Some("sts.amazonaws.com".into()), duplicates, ..Default::default() };
    let token = cloud.control().mint("github", &req).await.unwrap();
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(payload.matches("\"sub\":").count(), 2, "{payload}");
    let (status, body) = assume(&cloud, &token).await;
    assert_eq!(status, 403, "the last sub (evil) is the one the trust policy sees: {body}");
    let journal = cloud.journal();
    let trust = journal.last().unwrap().checks.iter().find(|c| c.name == "iam.trust_policy").unwrap().clone();
    assert!(format!("{trust:?}").contains("repo:evil/x"), "{trust:?}");
}
