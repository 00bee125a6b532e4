//! Property tests of Google STS: arbitrary bodies and mutated AWS subject tokens always get a
//! well-formed OAuth error, never a token.

use std::sync::OnceLock;

use cloudid_mock::CloudId;
use proptest::prelude::*;
use serde_json::Value;

struct Fixture {
    rt: tokio::runtime::Runtime,
    cloud: CloudId,
    token: Value,
}

const AUDIENCE: &str = "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool/providers/embulk-aws-access-provider";

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (cloud, token) = rt.block_on(async {
            let cloud = CloudId::start().await;
            let c = reqwest::Client::new();
            let tok = c.put(format!("{}/latest/api/token", cloud.endpoint())).header("x-aws-ec2-metadata-token-ttl-seconds", "600").send().await.unwrap().text().await.unwrap();
            let doc: Value = serde_json::from_str(
                &c.get(format!("{}/latest/meta-data/iam/security-credentials/embulk-gcp-access", cloud.endpoint())).header("x-aws-ec2-metadata-token", tok).send().await.unwrap().text().await.unwrap(),
            )
            .unwrap();
            let creds = aws_credential_types::Credentials::new(doc["AccessKeyId"].as_str().unwrap(), doc["SecretAccessKey"].as_str().unwrap(), doc["Token"].as_str().map(str::to_string), None, "p");
            let token = signed_token(&creds, cloudid_tests::sts::to_system(cloud.clock().now()));
            (cloud, token)
        });
        Fixture { rt, cloud, token }
    })
}

fn signed_token(creds: &aws_credential_types::Credentials, time: std::time::SystemTime) -> Value {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let host = "sts.ap-northeast-1.amazonaws.com";
    let url = format!("https://{host}?Action=GetCallerIdentity&Version=2011-06-15");
    let base = [("host", host)];
    let identity = creds.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder().identity(&identity).region("ap-northeast-1").name("sts").time(time).settings(SigningSettings::default()).build().unwrap().into();
    let signable = SignableRequest::new("POST", url.clone(), base.into_iter(), SignableBody::Bytes(b"")).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers = vec![serde_json::json!({"key": "host", "value": host})];
    for (k, v) in instructions.headers() {
        headers.push(serde_json::json!({"key": k, "value": v}));
    }
    headers.push(serde_json::json!({"key": "x-goog-cloud-target-resource", "value": AUDIENCE}));
    serde_json::json!({"url": url, "method": "POST", "headers": headers})
}

fn post(body: String) -> (u16, Value) {
    let f = fixture();
    f.rt.block_on(async {
        let r = reqwest::Client::new().post(format!("{}/v1/token", f.cloud.endpoint())).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    })
}

fn exchange_body(token: &str) -> String {
    cloudid_tests::sts::form_encode(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("audience", AUDIENCE),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("subject_token", token),
        ("subject_token_type", "urn:ietf:params:aws:token-type:aws4_request"),
    ])
}

fn encode(v: &Value) -> String {
    let mut out = String::new();
    cloudid_mock::verify::sigv4::uri_encode(v.to_string().as_bytes(), false, &mut out);
    out
}

fn well_formed_refusal(status: u16, body: &Value) -> bool {
    status == 400 && body["error"].is_string() && body["error_description"].is_string() && body.get("access_token").is_none()
}

#[test]
fn the_unmutated_token_is_accepted() {
    let (s, b) = post(exchange_body(&encode(&fixture().token)));
    assert_eq!(s, 200, "{b}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bodies_get_an_oauth_error(body in prop::collection::vec(any::<u8>(), 0..400)) {
        let (s, b) = post(String::from_utf8_lossy(&body).into_owned());
        prop_assert!(well_formed_refusal(s, &b), "{} {}", s, b);
    }

    #[test]
    fn any_change_to_the_signed_authorization_is_refused(pos in 0usize..400, replacement in "[0-9a-zA-Z=/;]") {
        let mut token = fixture().token.clone();
        for h in token["headers"].as_array_mut().unwrap() {
            if h["key"].as_str().unwrap().eq_ignore_ascii_case("authorization") {
                let v = h["value"].as_str().unwrap().to_string();
                let i = pos % v.len();
                let mut chars: Vec<char> = v.chars().collect();
                let new = replacement.chars().next().unwrap();
                prop_assume!(chars[i] != new);
                chars[i] = new;
                h["value"] = Value::String(chars.into_iter().collect());
            }
        }
        let (s, b) = post(exchange_body(&encode(&token)));
        prop_assert!(well_formed_refusal(s, &b), "{} {}", s, b);
    }

    #[test]
    fn truncated_subject_tokens_are_refused(cut in 1usize..2000) {
        let full = encode(&fixture().token);
        let cut = cut % full.len();
        let (s, b) = post(exchange_body(&full[..cut]));
        prop_assert!(well_formed_refusal(s, &b), "{} {}", s, b);
    }
}
