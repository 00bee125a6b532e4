//! The relying parties' side of AWS identity: a presigned `GetCallerIdentity` URL, an EKS token
//! (`k8s-aws-v1.`) and Vault's forwarded `iam` login request, made by botocore and the AWS CLI,
//! answered by cloudid's STS as AWS answers them — and refused, in AWS's words, once tampered
//! with or past STS's 15-minute window.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use cloudid_tests::{client_program, fixed_cloud, python, run_client};
use serde_json::Value;

async fn fetch(url: &str, headers: &[(&str, &str)], method: &str, body: Option<String>) -> (u16, String) {
    let mut r = reqwest::Client::new().request(method.parse().unwrap(), url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r.body(b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn imds_env(cloud: &cloudid_mock::CloudId) -> BTreeMap<String, String> {
    let all = cloud.env();
    ["AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL_STS", "AWS_DEFAULT_REGION", "AWS_REGION"].iter().map(|k| (k.to_string(), all[*k].clone())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn botocores_presigned_url_eks_token_and_vault_login_are_answered_then_refused_when_stale_or_tampered() {
    let cloud = cloudid_mock::CloudId::builder().start().await;
    let program = client_program("python-boto3/presign.py");
    let env = imds_env(&cloud);
    let run = tokio::task::spawn_blocking(move || run_client(&python(), &[program.to_str().unwrap(), "acme-eks", "vault.example.com"], &env, Duration::from_secs(60))).await.unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let out = &run.result;

    let url = out["url"].as_str().unwrap();
    let (status, body) = fetch(url, &[], "GET", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Arn>arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890</Arn>"), "{body}");
    let (status, body) = fetch(url, &[("accept", "application/json")], "GET", None).await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["GetCallerIdentityResponse"]["GetCallerIdentityResult"]["Account"], "123456789012");
    let (status, body) = fetch(url, &[], "POST", None).await;
    assert_eq!((status, body.contains("<Code>SignatureDoesNotMatch</Code>")), (403, true), "a GET was signed: {body}");
    let tampered = url.replace("Version=2011-06-15", "Version=2011-06-15&DurationSeconds=1");
    assert_eq!(fetch(&tampered, &[], "GET", None).await.0, 403);

    let token = out["eks_token"].as_str().unwrap();
    let inner = String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.strip_prefix("k8s-aws-v1.").unwrap()).unwrap()).unwrap();
    assert!(inner.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"), "{inner}");
    let (status, body) = fetch(&inner, &[("x-k8s-aws-id", "acme-eks"), ("accept", "application/json")], "GET", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = fetch(&inner, &[("x-k8s-aws-id", "another-cluster"), ("accept", "application/json")], "GET", None).await;
    assert_eq!(status, 403, "another cluster's id fails the signature, as aws-iam-authenticator relies on");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["Error"]["Code"], "SignatureDoesNotMatch");
    assert_eq!(err["Error"]["Type"], "Sender");

    let vault = &out["vault"];
    let b64 = |k: &str| String::from_utf8(base64::engine::general_purpose::STANDARD.decode(vault[k].as_str().unwrap()).unwrap()).unwrap();
    let headers: BTreeMap<String, Vec<String>> = serde_json::from_str(&b64("iam_request_headers")).unwrap();
    assert!(headers["Authorization"][0].contains("x-vault-aws-iam-server-id"), "the server id is signed: {headers:?}");
    let forwarded: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.clone(), v[0].clone())).collect();
    let pairs: Vec<(&str, &str)> = forwarded.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, body) = fetch(&b64("iam_request_url"), &pairs, "POST", Some(b64("iam_request_body"))).await;
    assert_eq!(status, 200, "Vault replays the signed request: {body}");
    assert!(body.contains("<GetCallerIdentityResult>"), "{body}");
    let swapped: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| if k.eq_ignore_ascii_case("x-vault-aws-iam-server-id") { (*k, "other.example.com") } else { (*k, *v) }).collect();
    assert_eq!(fetch(&b64("iam_request_url"), &swapped, "POST", Some(b64("iam_request_body"))).await.0, 403, "a request signed for another Vault");

    cloud.clock().advance(Duration::from_secs(15 * 60 + 1));
    let (status, body) = fetch(url, &[], "GET", None).await;
    assert_eq!(status, 403);
    assert!(body.contains("<Code>SignatureDoesNotMatch</Code>") && body.contains("<Message>Signature expired: "), "STS's window, whatever X-Amz-Expires says: {body}");
}

#[tokio::test]
async fn a_presigned_request_missing_its_parameters_says_which() {
    let cloud = fixed_cloud().await;
    let base = format!("{}/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261130T120000Z&X-Amz-SignedHeaders=host", cloud.endpoint());
    let (status, body) = fetch(&base, &[], "GET", None).await;
    assert_eq!(status, 400);
    assert!(body.contains("<Code>IncompleteSignature</Code>") && body.contains("must include 'X-Amz-Credential', 'X-Amz-Signature'. Re-examine the query-string parameters."), "{body}");
    let (status, body) = fetch(&base.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1"), &[], "GET", None).await;
    assert_eq!(status, 403);
    assert!(body.contains("<Code>MissingAuthenticationToken</Code>"), "{body}");
}
