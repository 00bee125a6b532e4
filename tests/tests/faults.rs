//! Fault injection: each action observed over HTTP and by real clients (boto3 retries a 503 from
//! IMDS, aws-config and botocore retry STS throttling, google-auth surfaces an STS error).

use std::collections::BTreeMap;
use std::time::Duration;

use cloudid_mock::CloudId;
use cloudid_tests::{client_program, python, run_client};
use reqwest::Client;
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(90);

async fn add(cloud: &CloudId, rules: Value) {
    let r = Client::new().post(format!("{}/_cloudid/faults", cloud.endpoint())).json(&rules).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

fn faulted(cloud: &CloudId) -> Vec<String> {
    cloud.journal().iter().filter_map(|e| e.fault.as_ref().map(|f| format!("{} {} {}", e.path, e.status, f))).collect()
}

#[tokio::test]
async fn each_action_shapes_the_answer_and_is_journaled() {
    let cloud = cloudid_tests::fixed_cloud().await;
    let c = Client::new();
    let creds_url = format!("{}/v2/credentials/6f1c2a4e-8b3d-4e5f-9a70-1b2c3d4e5f60", cloud.endpoint());
    add(&cloud, json!([{"match": {"service": "aws_container"}, "nth": 1, "action": {"status": {"code": 503}}}])).await;
    let r = c.get(&creds_url).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(c.get(&creds_url).send().await.unwrap().status(), 200, "nth fires once");
    add(&cloud, json!({"match": {"path": "/v2/credentials"}, "action": "truncate", "times": 1})).await;
    let body = c.get(&creds_url).send().await.unwrap().text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&body).is_err(), "truncated: {body}");
    add(&cloud, json!({"match": {"path": "/v2/credentials"}, "action": "malformed", "times": 1})).await;
    assert!(serde_json::from_str::<Value>(&c.get(&creds_url).send().await.unwrap().text().await.unwrap()).is_err());
    add(&cloud, json!({"match": {"path": "/v2/credentials"}, "action": {"content_type": {"value": "text/html"}}, "times": 1})).await;
    assert_eq!(c.get(&creds_url).send().await.unwrap().headers()["content-type"], "text/html");
    add(&cloud, json!({"match": {"path": "/v2/credentials"}, "action": "reset", "times": 1})).await;
    let dropped = match c.get(&creds_url).send().await {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(dropped, "a reset gives the client no complete answer");
    add(&cloud, json!({"match": {"path": "/v2/credentials"}, "action": {"latency": {"ms": 300}}, "times": 1})).await;
    let t0 = std::time::Instant::now();
    assert_eq!(c.get(&creds_url).send().await.unwrap().status(), 200);
    assert!(t0.elapsed() >= Duration::from_millis(300));
    add(&cloud, json!({"match": {"path": "/v2/credentials"}, "action": {"hang": {"ms": 2000}}, "times": 1})).await;
    let hung = Client::builder().timeout(Duration::from_millis(500)).build().unwrap().get(&creds_url).send().await;
    assert!(hung.is_err(), "the request hangs past the client's timeout");
    let journal = faulted(&cloud);
    assert_eq!(journal.len(), 7, "{journal:#?}");
    assert!(journal[0].contains("503") && journal[0].contains("fault #1"), "{journal:#?}");
    let listed: Value = c.get(format!("{}/_cloudid/faults", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["faults"].as_array().unwrap().len(), 7);
    let bad = c.post(format!("{}/_cloudid/faults", cloud.endpoint())).json(&json!({"action": {"explode": {}}})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    c.delete(format!("{}/_cloudid/faults", cloud.endpoint())).send().await.unwrap();
    assert_eq!(c.get(&creds_url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn status_faults_carry_each_services_real_error_body() {
    let cloud = cloudid_tests::fixed_cloud().await;
    let c = Client::new();
    add(
        &cloud,
        json!([
            {"match": {"service": "aws_sts"}, "times": 1, "action": {"status": {"code": 400}}},
            {"match": {"service": "google_sts"}, "times": 1, "action": {"status": {"code": 429}}},
            {"match": {"service": "aws_imds"}, "times": 1, "action": {"status": {"code": 500}}}
        ]),
    )
    .await;
    let sts = c.post(format!("{}/", cloud.endpoint())).body("Action=GetCallerIdentity&Version=2011-06-15").send().await.unwrap().text().await.unwrap();
    assert!(sts.contains("<Code>Throttling</Code>") && sts.contains("<Message>Rate exceeded</Message>"), "{sts}");
    let g: Value = c.post(format!("{}/v1/token", cloud.endpoint())).body("x=1").send().await.unwrap().json().await.unwrap();
    assert_eq!(g["error"]["status"], "RESOURCE_EXHAUSTED");
    let imds = c.put(format!("{}/latest/api/token", cloud.endpoint())).send().await.unwrap();
    assert_eq!(imds.status(), 500);
    assert!(imds.text().await.unwrap().contains("<title>500 - Internal Server Error</title>"));
    assert!(cloud.journal().iter().all(|e| e.issued.is_none()));
}

fn imds_env(cloud: &CloudId) -> BTreeMap<String, String> {
    let all = cloud.env();
    ["AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION"].iter().map(|k| (k.to_string(), all[*k].clone())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_retries_a_503_from_imds_then_succeeds() {
    let cloud = CloudId::start().await;
    add(&cloud, json!({"match": {"path": "/latest/meta-data/iam/security-credentials/embulk-gcp-access"}, "nth": 1, "action": {"status": {"code": 503}}})).await;
    let mut env = imds_env(&cloud);
    env.insert("AWS_METADATA_SERVICE_NUM_ATTEMPTS".into(), "3".into());
    let script = client_program("python-boto3/credentials.py");
    let run = tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap()], &env, TIMEOUT)).await.unwrap();
    assert_eq!(run.result["ok"], true, "{}\n{}", run.result, run.stderr);
    let paths: Vec<String> = cloud.journal().iter().map(|e| format!("{} {}", e.path, e.status)).collect();
    let role = "/latest/meta-data/iam/security-credentials/embulk-gcp-access";
    assert!(paths.contains(&format!("{role} 503")) && paths.contains(&format!("{role} 200")), "{paths:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_config_and_botocore_retry_sts_throttling() {
    let cloud = CloudId::start().await;
    let env = imds_env(&cloud);
    add(&cloud, json!({"match": {"service": "aws_sts"}, "nth": 1, "action": {"status": {"code": 400}}})).await;
    let e = env.clone();
    let rust = tokio::task::spawn_blocking(move || run_client(&cloudid_tests::rust_client("rust-aws-config-client"), &["imds", "--sts"], &e, TIMEOUT)).await.unwrap();
    assert_eq!(rust.result["ok"], true, "aws-config retries Throttling: {}", rust.result);
    add(&cloud, json!({"match": {"service": "aws_sts"}, "nth": 1, "action": {"status": {"code": 400}}})).await;
    let script = client_program("python-boto3/credentials.py");
    let py = tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap(), "--sts"], &env, TIMEOUT)).await.unwrap();
    assert_eq!(py.result["ok"], true, "botocore retries Throttling: {}", py.result);
    let throttled = cloud.journal().iter().filter(|e| e.fault.is_some() && e.status == 400).count();
    assert_eq!(throttled, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn google_auth_surfaces_an_sts_error() {
    let cloud = CloudId::start().await;
    add(&cloud, json!({"match": {"service": "google_sts"}, "action": {"status": {"code": 429}}})).await;
    let doc = cloudid_mock::cred_config::build(
        "projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool/providers/embulk-aws-access-provider",
        Some("embulk-aws-access@acme-data.iam.gserviceaccount.com"),
        &cloudid_mock::cred_config::Source::Aws { imdsv2: true },
        &cloud.endpoint(),
    )
    .unwrap();
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), doc.to_string()).unwrap();
    let (path, endpoint) = (f.path().to_path_buf(), cloud.endpoint());
    let run = tokio::task::spawn_blocking(move || {
        let env: BTreeMap<String, String> = [("GOOGLE_CLOUD_PROJECT".to_string(), "acme-data".to_string())].into();
        let script = client_program("python-google-auth/external_account.py");
        run_client(&python(), &[script.to_str().unwrap(), path.to_str().unwrap(), &format!("{endpoint}/oauth2/v3/tokeninfo")], &env, TIMEOUT)
    })
    .await
    .unwrap();
    assert_eq!(run.result["ok"], false);
    let err = run.result["error"].as_str().unwrap();
    assert!(err.contains("RESOURCE_EXHAUSTED") || err.contains("429"), "{err}");
    assert!(cloud.journal().iter().all(|e| e.service != "iam_credentials"), "no impersonation after the refusal");
}

#[tokio::test(flavor = "multi_thread")]
async fn already_expired_imds_credentials_are_extended_by_boto3_and_aws_config_static_stability() {
    let cloud = CloudId::start().await;
    add(&cloud, json!({"match": {"path": "/latest/meta-data/iam/security-credentials/embulk-gcp-access"}, "action": {"expires_in": {"seconds": -60}}})).await;
    let env = imds_env(&cloud);
    let e = env.clone();
    let script = client_program("python-boto3/credentials.py");
    let py = tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap(), "--sts"], &e, TIMEOUT)).await.unwrap();
    assert_eq!(py.result["ok"], true, "botocore keeps expired IMDS credentials and extends them locally: {}", py.result);
    let rust = tokio::task::spawn_blocking(move || run_client(&cloudid_tests::rust_client("rust-aws-config-client"), &["imds", "--sts"], &env, TIMEOUT)).await.unwrap();
    assert_eq!(rust.result["ok"], true, "aws-config extends expired IMDS credentials: {}", rust.result);
    let served: Vec<String> = cloud.journal().iter().filter_map(|e| e.fault.clone()).collect();
    assert!(served.iter().all(|f| f.contains("Expiration = ")), "{served:?}");
    assert!(!served.is_empty());
}
