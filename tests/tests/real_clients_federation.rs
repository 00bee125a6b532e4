//! Google workload identity federation end to end with real clients: seed 003 (EC2 → Google) with
//! google-auth (Python), seed 002 (App Runner/ECS → Google) with google-auth-library (Node) and
//! @aws-sdk/credential-providers, and the GitHub Actions → Google OIDC flow.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudid_mock::cred_config::{self, Source};
use cloudid_mock::{CloudId, IssuedKind, Verdict};
use cloudid_tests::{ClientRun, client_program, python, run_client};

const TIMEOUT: Duration = Duration::from_secs(90);

fn provider(pool: &str, provider: &str) -> String {
    format!("projects/314159265358/locations/global/workloadIdentityPools/{pool}/providers/{provider}")
}

fn write_config(doc: &serde_json::Value) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), serde_json::to_string_pretty(doc).unwrap()).unwrap();
    f
}

/// Runs the Python external-account client on `config` against the server at `endpoint`.
fn python_external(endpoint: &str, config: &std::path::Path) -> ClientRun {
    let env: BTreeMap<String, String> = [("GOOGLE_CLOUD_PROJECT".to_string(), "acme-data".to_string())].into();
    let script = client_program("python-google-auth/external_account.py");
    let tokeninfo = format!("{endpoint}/oauth2/v3/tokeninfo");
    run_client(&python(), &[script.to_str().unwrap(), config.to_str().unwrap(), &tokeninfo], &env, TIMEOUT)
}

fn ops(cloud: &CloudId) -> Vec<String> {
    cloud.journal().iter().map(|e| format!("{}.{} {}", e.service, e.operation, e.status)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_003_google_auth_exchanges_ec2_instance_credentials_for_a_service_account_token() {
    let cloud = CloudId::start().await;
    let doc = cred_config::build(
        &provider("embulk-aws-access-pool", "embulk-aws-access-provider"),
        Some("embulk-aws-access@acme-data.iam.gserviceaccount.com"),
        &Source::Aws { imdsv2: true },
        &cloud.endpoint(),
    )
    .unwrap();
    let file = write_config(&doc);
    let (path, endpoint) = (file.path().to_path_buf(), cloud.endpoint());
    let run = tokio::task::spawn_blocking(move || python_external(&endpoint, &path)).await.unwrap();
    assert_eq!(run.result["ok"], true, "{}\n{}\n{:#?}", run.result, run.stderr, ops(&cloud));
    assert_eq!(run.result["credentials"], "google.auth.aws.Credentials");
    assert_eq!(run.result["tokeninfo_email"], "embulk-aws-access@acme-data.iam.gserviceaccount.com");
    let journal = cloud.journal();
    let exchange = journal.iter().find(|e| e.service == "google_sts").expect("an STS exchange");
    assert_eq!(exchange.verdict, Verdict::Granted, "{exchange:#?}");
    assert!(exchange.principal.as_deref().unwrap().ends_with("/subject/arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890"));
    assert!(exchange.checks.iter().any(|c| c.name == "sigv4.signature" && c.outcome == cloudid_mock::Outcome::Pass));
    let impersonation = journal.iter().find(|e| e.operation == "GenerateAccessToken").expect("impersonation");
    assert_eq!(impersonation.verdict, Verdict::Granted);
    let issued = impersonation.issued.as_ref().unwrap();
    assert_eq!((issued.kind, issued.principal.as_str()), (IssuedKind::GoogleAccessToken, "embulk-aws-access@acme-data.iam.gserviceaccount.com"));
    assert_eq!(run.result["access_token_fingerprint"], issued.token_fingerprint.as_str());
    let imds: Vec<&str> = journal.iter().filter(|e| e.service == "aws_imds").map(|e| e.operation.as_str()).collect();
    assert_eq!(imds.first(), Some(&"PutToken"), "IMDSv2: a session token first");
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_002_google_auth_library_exchanges_container_credentials_via_a_custom_supplier() {
    let cloud = CloudId::start().await;
    let all = cloud.env();
    let mut env: BTreeMap<String, String> =
        ["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_REGION", "GOOGLE_CLOUD_PROJECT"].iter().map(|k| (k.to_string(), all[*k].clone())).collect();
    env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    let e = cloud.endpoint();
    let args = [
        client_program("node/aws-to-google.mjs").to_str().unwrap().to_string(),
        format!("//iam.googleapis.com/{}", provider("your-pool", "your-provider")),
        format!("{e}/v1/token"),
        format!("{e}/v1/projects/-/serviceAccounts/bigquery-reader@acme-data.iam.gserviceaccount.com:generateAccessToken"),
        format!("{e}/oauth2/v3/tokeninfo"),
        "ap-northeast-1".into(),
    ];
    let run = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        run_client("node", &a, &env, TIMEOUT)
    })
    .await
    .unwrap();
    assert_eq!(run.result["ok"], true, "{}\n{}\n{:#?}", run.result, run.stderr, ops(&cloud));
    assert_eq!(run.result["tokeninfo_email"], "bigquery-reader@acme-data.iam.gserviceaccount.com");
    let journal = cloud.journal();
    assert!(journal.iter().any(|e| e.service == "aws_container" && e.verdict == Verdict::Granted));
    let exchange = journal.iter().find(|e| e.service == "google_sts").unwrap();
    assert_eq!(exchange.verdict, Verdict::Granted);
    assert!(exchange.checks.iter().any(|c| c.name == "mapping"));
    let imp = journal.iter().find(|e| e.operation == "GenerateAccessToken").unwrap();
    assert!(imp.checks.iter().any(|c| c.detail.as_deref().is_some_and(|d| d.contains("attribute.aws_role/apprunner-bigquery-task"))), "{imp:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_github_actions_token_file_exchanges_for_the_deployer_service_account() {
    let cloud = CloudId::start().await;
    let audience = format!("//iam.googleapis.com/{}", provider("github-pool", "github"));
    let token = cloudid_tests::sts::mint(&cloud, "github", serde_json::json!({"audience": audience.replacen("//", "https://", 1)})).await;
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), &token).unwrap();
    let doc = cred_config::build(
        &provider("github-pool", "github"),
        Some("deployer@acme-data.iam.gserviceaccount.com"),
        &Source::File { path: token_file.path().display().to_string(), json_field: None },
        &cloud.endpoint(),
    )
    .unwrap();
    let file = write_config(&doc);
    let (path, endpoint) = (file.path().to_path_buf(), cloud.endpoint());
    let run = tokio::task::spawn_blocking(move || python_external(&endpoint, &path)).await.unwrap();
    assert_eq!(run.result["ok"], true, "{}\n{}\n{:#?}", run.result, run.stderr, ops(&cloud));
    assert_eq!(run.result["credentials"], "google.auth.identity_pool.Credentials");
    assert_eq!(run.result["tokeninfo_email"], "deployer@acme-data.iam.gserviceaccount.com");
    let exchange = cloud.journal().into_iter().find(|e| e.service == "google_sts").unwrap();
    assert!(exchange.checks.iter().any(|c| c.name == "condition" && c.outcome == cloudid_mock::Outcome::Pass));
}

/// Boto3 on the instance asks STS for a token for `audience` (GetWebIdentityToken, RS256) and
/// writes it to `path`, as a workload would for google-auth's file credential source.
const BOTO3_WEB_IDENTITY_TOKEN: &str = r#"
import hashlib, json, sys
import boto3
path, audience = sys.argv[1], sys.argv[2]
reply = boto3.client("sts").get_web_identity_token(Audience=[audience], SigningAlgorithm="RS256", DurationSeconds=600)
with open(path, "w") as f:
    f.write(reply["WebIdentityToken"])
print(json.dumps({"ok": True, "token_fingerprint": "sha256:" + hashlib.sha256(reply["WebIdentityToken"].encode()).hexdigest()[:12], "expiration": reply["Expiration"].isoformat()}))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_ec2_instance_trades_an_aws_issued_jwt_for_google_credentials_with_boto3_and_google_auth() {
    let iss = cloudid_mock::world::issuers::aws_outbound_iss("123456789012");
    let pool = "\n    - name: aws-outbound-pool\n      providers:\n        - name: aws-jwt\n          oidc: {issuer_uri: \"ISS\"}\n          attribute_mapping:\n            google.subject: assertion.sub\n          attribute_condition: assertion['https://sts.amazonaws.com/'].aws_account == '123456789012'\n".replace("ISS", &iss);
    let member =
        "            - principal://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/aws-outbound-pool/subject/arn:aws:iam::123456789012:role/embulk-gcp-access\n";
    let yaml = cloudid_tests::sts::outbound_world().replacen("  workload_identity_pools:", &format!("  workload_identity_pools:{pool}"), 1).replacen(
        "          members:\n",
        &format!("          members:\n{member}"),
        1,
    );
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().start().await;
    let provider_resource = provider("aws-outbound-pool", "aws-jwt");
    let token_file = tempfile::NamedTempFile::new().unwrap();
    let env: BTreeMap<String, String> =
        ["AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION"].iter().map(|k| (k.to_string(), cloud.env()[*k].clone())).collect();
    let (path, audience) = (token_file.path().to_str().unwrap().to_string(), format!("//iam.googleapis.com/{provider_resource}"));
    let aws = tokio::task::spawn_blocking(move || run_client(&python(), &["-c", BOTO3_WEB_IDENTITY_TOKEN, &path, &audience], &env, TIMEOUT)).await.unwrap();
    assert_eq!(aws.result["ok"], true, "{}\n{}\n{:#?}", aws.result, aws.stderr, ops(&cloud));
    let minted = cloud.journal().into_iter().find(|e| e.operation == "GetWebIdentityToken").expect("the token call");
    assert_eq!(minted.verdict, Verdict::Granted);
    assert_eq!(aws.result["token_fingerprint"], minted.issued.as_ref().unwrap().token_fingerprint.as_str());

    let source = Source::File { path: token_file.path().display().to_string(), json_field: None };
    let doc = cred_config::build(&provider_resource, Some("embulk-aws-access@acme-data.iam.gserviceaccount.com"), &source, &cloud.endpoint()).unwrap();
    let file = write_config(&doc);
    let (config, endpoint) = (file.path().to_path_buf(), cloud.endpoint());
    let google = tokio::task::spawn_blocking(move || python_external(&endpoint, &config)).await.unwrap();
    assert_eq!(google.result["ok"], true, "{}\n{}\n{:#?}", google.result, google.stderr, ops(&cloud));
    assert_eq!(google.result["tokeninfo_email"], "embulk-aws-access@acme-data.iam.gserviceaccount.com");
    let journal = cloud.journal();
    let exchange = journal.iter().find(|e| e.service == "google_sts").expect("an STS exchange");
    assert_eq!(exchange.verdict, Verdict::Granted, "{exchange:#?}");
    assert!(exchange.principal.as_deref().unwrap().ends_with("/subject/arn:aws:iam::123456789012:role/embulk-gcp-access"), "{exchange:#?}");
    assert!(exchange.checks.iter().any(|c| c.name == "jwt.signature" && c.outcome == cloudid_mock::Outcome::Pass));
}
