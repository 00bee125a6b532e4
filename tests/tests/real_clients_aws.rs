//! The AWS credential plane with real, unmodified clients, redirected only by their documented
//! environment variables: boto3 (Python) and Rust aws-config (and, for role chaining across
//! accounts, the JS SDK's default chain too). Each test checks that the
//! credentials the client ended with are exactly those the journal says were issued, and that
//! the journal shows the requests the client is known to make.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudid_mock::{CloudId, JournalEntry, Verdict};
use cloudid_tests::{ClientRun, client_program, python, run_client};

const TIMEOUT: Duration = Duration::from_secs(60);

fn boto3(env: &BTreeMap<String, String>) -> ClientRun {
    let script = client_program("python-boto3/credentials.py");
    run_client(&python(), &[script.to_str().unwrap()], env, TIMEOUT)
}

fn rust_client(mode: &str, env: &BTreeMap<String, String>) -> ClientRun {
    run_client(&cloudid_tests::rust_client("rust-aws-config-client"), &[mode], env, TIMEOUT)
}

/// Only the variables of one path, so the client cannot take another.
fn pick(cloud: &CloudId, keys: &[&str]) -> BTreeMap<String, String> {
    let all = cloud.env();
    let mut env: BTreeMap<String, String> = keys.iter().map(|k| (k.to_string(), all[*k].clone())).collect();
    env.insert("AWS_REGION".into(), all["AWS_REGION"].clone());
    env.insert("AWS_DEFAULT_REGION".into(), all["AWS_DEFAULT_REGION"].clone());
    env
}

fn imds_env(cloud: &CloudId) -> BTreeMap<String, String> {
    pick(cloud, &["AWS_EC2_METADATA_SERVICE_ENDPOINT"])
}

fn container_env(cloud: &CloudId) -> BTreeMap<String, String> {
    let mut env = pick(cloud, &["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]);
    env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    env
}

/// The client's credentials are the last ones the journal granted, secret and token included.
fn assert_client_holds_issued(run: &ClientRun, journal: &[JournalEntry]) {
    assert_eq!(run.result["ok"], true, "client failed: {}\nstderr: {}", run.result, run.stderr);
    let granted = journal.iter().rev().find(|e| e.verdict == Verdict::Granted && e.issued.is_some()).expect("the journal shows a grant");
    let issued = granted.issued.as_ref().unwrap();
    assert_eq!(run.result["access_key_id"], issued.access_key_id.as_deref().unwrap());
    assert_eq!(run.result["secret_fingerprint"], issued.secret_fingerprint.as_deref().unwrap());
    assert_eq!(run.result["token_fingerprint"], issued.token_fingerprint.as_str());
}

fn requests(journal: &[JournalEntry]) -> Vec<String> {
    journal.iter().map(|e| format!("{} {} {}", e.method, e.path, e.status)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_gets_instance_credentials_through_imdsv2() {
    let cloud = CloudId::start().await;
    let run = tokio::task::spawn_blocking({
        let env = imds_env(&cloud);
        move || boto3(&env)
    })
    .await
    .unwrap();
    let journal = cloud.journal();
    assert_client_holds_issued(&run, &journal);
    assert_eq!(run.result["method"], "iam-role");
    assert_eq!(requests(&journal), ["PUT /latest/api/token 200", "GET /latest/meta-data/iam/security-credentials/ 200", "GET /latest/meta-data/iam/security-credentials/embulk-gcp-access 200",]);
    assert!(journal[1..].iter().all(|e| e.checks.iter().any(|c| c.name == "imds.token" && c.outcome == cloudid_mock::Outcome::Pass)));
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_gets_task_credentials_through_the_full_uri_with_a_token() {
    let cloud = CloudId::start().await;
    let env = container_env(&cloud);
    let run = tokio::task::spawn_blocking(move || boto3(&env)).await.unwrap();
    let journal = cloud.journal();
    assert_client_holds_issued(&run, &journal);
    assert_eq!(run.result["method"], "container-role");
    assert_eq!(requests(&journal), ["GET /v1/credentials 200"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_rereads_a_token_file_and_is_refused_with_a_wrong_token() {
    let cloud = CloudId::start().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("eks-pod-identity-token");
    std::fs::write(&token_file, &cloud.env()["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).unwrap();
    let mut env = container_env(&cloud);
    env.remove("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(), token_file.display().to_string());
    let ok = tokio::task::spawn_blocking({
        let env = env.clone();
        move || boto3(&env)
    })
    .await
    .unwrap();
    assert_client_holds_issued(&ok, &cloud.journal());

    cloud.reset();
    std::fs::write(&token_file, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzb21lb25lLWVsc2UifQ.c2ln").unwrap();
    let refused = tokio::task::spawn_blocking(move || boto3(&env)).await.unwrap();
    assert_eq!(refused.result["ok"], false, "{}", refused.result);
    assert_ne!(refused.code, Some(0));
    let journal = cloud.journal();
    assert!(!journal.is_empty());
    assert!(journal.iter().all(|e| e.verdict == Verdict::Denied && e.status == 400 && e.issued.is_none()), "{journal:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_uses_imdsv2_when_v1_is_disabled() {
    let cloud = CloudId::start().await;
    let mut env = imds_env(&cloud);
    env.insert("AWS_EC2_METADATA_V1_DISABLED".into(), "true".into());
    env.insert("AWS_METADATA_SERVICE_NUM_ATTEMPTS".into(), "1".into());
    let ok = tokio::task::spawn_blocking({
        let env = env.clone();
        move || boto3(&env)
    })
    .await
    .unwrap();
    assert_eq!(ok.result["ok"], true, "v2 works with v1 disabled: {}", ok.result);
    assert_eq!(cloud.journal()[0].operation, "PutToken");
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_aws_config_gets_instance_credentials_through_imdsv2() {
    let cloud = CloudId::start().await;
    let env = imds_env(&cloud);
    let run = tokio::task::spawn_blocking(move || rust_client("imds", &env)).await.unwrap();
    let journal = cloud.journal();
    assert_client_holds_issued(&run, &journal);
    assert_eq!(requests(&journal), ["PUT /latest/api/token 200", "GET /latest/meta-data/iam/security-credentials/ 200", "GET /latest/meta-data/iam/security-credentials/embulk-gcp-access 200",]);
    let expiry: i64 = run.result["expiry_unix"].as_str().unwrap().parse().unwrap();
    assert_eq!(cloudid_mock::clock::iso8601(time::OffsetDateTime::from_unix_timestamp(expiry).unwrap()), journal[2].issued.as_ref().unwrap().expiration);
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_aws_config_gets_task_credentials_through_the_full_uri_with_a_token() {
    let cloud = CloudId::start().await;
    let env = container_env(&cloud);
    let run = tokio::task::spawn_blocking(move || rust_client("ecs", &env)).await.unwrap();
    let journal = cloud.journal();
    assert_client_holds_issued(&run, &journal);
    assert_eq!(run.result["account_id"], "123456789012", "aws-config reads AccountId from Pod Identity");
    assert_eq!(requests(&journal), ["GET /v1/credentials 200"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_aws_config_default_chain_finds_the_container_then_the_instance() {
    let cloud = CloudId::start().await;
    let mut env = container_env(&cloud);
    env.remove("AWS_EC2_METADATA_DISABLED");
    env.insert("AWS_EC2_METADATA_SERVICE_ENDPOINT".into(), cloud.env()["AWS_EC2_METADATA_SERVICE_ENDPOINT"].clone());
    let run = tokio::task::spawn_blocking({
        let env = env.clone();
        move || rust_client("chain", &env)
    })
    .await
    .unwrap();
    assert_client_holds_issued(&run, &cloud.journal());
    assert_eq!(cloud.journal()[0].service, "aws_container", "the container provider comes before IMDS");

    cloud.reset();
    let run = tokio::task::spawn_blocking(move || rust_client("chain", &imds_env_only(env))).await.unwrap();
    let journal = cloud.journal();
    assert_client_holds_issued(&run, &journal);
    assert!(journal.iter().all(|e| e.service == "aws_imds"));
}

fn imds_env_only(mut env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.remove("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    env.remove("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_aws_config_is_refused_when_the_container_token_is_wrong() {
    let cloud = CloudId::start().await;
    let mut env = container_env(&cloud);
    env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln".into());
    let run = tokio::task::spawn_blocking(move || rust_client("ecs", &env)).await.unwrap();
    assert_eq!(run.result["ok"], false, "{}", run.result);
    let journal = cloud.journal();
    assert!(journal.iter().all(|e| e.verdict == Verdict::Denied && e.issued.is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_aws_config_finds_no_credentials_on_an_instance_without_a_role() {
    let cloud = CloudId::start().await;
    let env = imds_env(&cloud);
    let run = tokio::task::spawn_blocking(move || rust_client("imds", &env)).await.unwrap();
    assert_eq!(run.result["ok"], true, "{}", run.result);
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("    instance_profile:\n      role: embulk-gcp-access\n", "");
    let no_role = CloudId::builder().world_yaml(&yaml).unwrap().start().await;
    let env = imds_env(&no_role);
    let run = tokio::task::spawn_blocking(move || rust_client("imds", &env)).await.unwrap();
    assert_eq!(run.result["ok"], false, "an instance without a role gives no credentials: {}", run.result);
    assert!(no_role.journal().iter().all(|e| e.issued.is_none()));
    assert!(no_role.journal().iter().any(|e| e.status == 404));
}

/// Seed 001 with real clients: a GitHub token in `AWS_WEB_IDENTITY_TOKEN_FILE`, the role of the
/// seed in `AWS_ROLE_ARN`, STS at the server.
fn web_identity_env(cloud: &CloudId, token_file: &std::path::Path, role: &str) -> BTreeMap<String, String> {
    let mut env = pick(cloud, &["AWS_ENDPOINT_URL_STS"]);
    env.insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), token_file.display().to_string());
    env.insert("AWS_ROLE_ARN".into(), format!("arn:aws:iam::123456789012:role/{role}"));
    env.insert("AWS_ROLE_SESSION_NAME".into(), "seed-session".into());
    env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    env
}

async fn token_file(cloud: &CloudId, issuer: &str, audience: &str) -> tempfile::NamedTempFile {
    let token = cloudid_tests::sts::mint(cloud, issuer, serde_json::json!({"audience": audience})).await;
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), token).unwrap();
    f
}

fn assert_caller(run: &ClientRun, journal: &[JournalEntry], arn: &str) {
    assert_client_holds_issued(run, journal);
    assert_eq!(run.result["caller"]["Arn"], arn, "{}", run.result);
    assert_eq!(run.result["caller"]["Account"], "123456789012");
    let ops: Vec<&str> = journal.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(ops, ["AssumeRoleWithWebIdentity", "GetCallerIdentity"], "{journal:#?}");
    assert_eq!(journal[1].principal.as_deref(), Some(arn));
    assert!(journal[1].checks.iter().any(|c| c.name == "sigv4.signature" && c.outcome == cloudid_mock::Outcome::Pass));
    let run_text = format!("{}{}", run.stdout, run.stderr);
    assert!(!run_text.contains("SecretAccessKey"), "no secret in the client's output");
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_001_boto3_assumes_the_ecr_role_with_a_github_token_and_calls_sts() {
    let cloud = CloudId::start().await;
    let file = token_file(&cloud, "github", "sts.amazonaws.com").await;
    cloud.reset();
    let env = web_identity_env(&cloud, file.path(), "GitHubActionsECRRole");
    let script = client_program("python-boto3/credentials.py");
    let run = tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap(), "--sts"], &env, TIMEOUT)).await.unwrap();
    assert_caller(&run, &cloud.journal(), "arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/seed-session");
    assert_eq!(run.result["method"], "assume-role-with-web-identity");
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_001_rust_aws_config_assumes_the_ecr_role_and_aws_sdk_sts_calls_sts() {
    let cloud = CloudId::start().await;
    let file = token_file(&cloud, "github", "sts.amazonaws.com").await;
    cloud.reset();
    let env = web_identity_env(&cloud, file.path(), "GitHubActionsECRRole");
    let run = tokio::task::spawn_blocking(move || run_client(&cloudid_tests::rust_client("rust-aws-config-client"), &["web-identity", "--sts"], &env, TIMEOUT)).await.unwrap();
    assert_caller(&run, &cloud.journal(), "arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/seed-session");
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_000_boto3_assumes_the_cloud_run_role_with_a_google_identity_token() {
    let cloud = CloudId::start().await;
    let file = token_file(&cloud, "google", "reply-bot.apps.googleusercontent.com").await;
    cloud.reset();
    let env = web_identity_env(&cloud, file.path(), "reply-bot-cloudrun-workload-identity-staging");
    let script = client_program("python-boto3/credentials.py");
    let run = tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap(), "--sts"], &env, TIMEOUT)).await.unwrap();
    assert_caller(&run, &cloud.journal(), "arn:aws:sts::123456789012:assumed-role/reply-bot-cloudrun-workload-identity-staging/seed-session");
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_and_rust_fail_cleanly_when_the_trust_policy_refuses_the_token() {
    let cloud = CloudId::start().await;
    let file = token_file(&cloud, "github", "sts.amazonaws.com").await;
    cloud.reset();
    let env = web_identity_env(&cloud, file.path(), "reply-bot-cloudrun-workload-identity-staging");
    let script = client_program("python-boto3/credentials.py");
    let py = {
        let env = env.clone();
        tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap(), "--sts"], &env, TIMEOUT)).await.unwrap()
    };
    assert_eq!(py.result["ok"], false, "{}", py.result);
    assert!(py.result["error"].as_str().unwrap().contains("AccessDenied"), "{}", py.result);
    let rs = tokio::task::spawn_blocking(move || run_client(&cloudid_tests::rust_client("rust-aws-config-client"), &["web-identity", "--sts"], &env, TIMEOUT)).await.unwrap();
    assert_eq!(rs.result["ok"], false, "{}", rs.result);
    let journal = cloud.journal();
    assert!(!journal.is_empty());
    assert!(journal.iter().all(|e| e.operation == "AssumeRoleWithWebIdentity" && e.verdict == Verdict::Denied && e.issued.is_none()), "no follow-up call with a denied credential: {journal:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_and_rust_sign_sts_calls_with_instance_credentials() {
    let cloud = CloudId::start().await;
    let mut env = imds_env(&cloud);
    env.insert("AWS_ENDPOINT_URL_STS".into(), cloud.env()["AWS_ENDPOINT_URL_STS"].clone());
    let script = client_program("python-boto3/credentials.py");
    let py = {
        let env = env.clone();
        tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap(), "--sts"], &env, TIMEOUT)).await.unwrap()
    };
    assert_eq!(py.result["caller"]["Arn"], "arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890", "{}", py.result);
    let rs = tokio::task::spawn_blocking(move || run_client(&cloudid_tests::rust_client("rust-aws-config-client"), &["imds", "--sts"], &env, TIMEOUT)).await.unwrap();
    assert_eq!(rs.result["caller"]["Arn"], "arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890", "{}", rs.result);
    let sigs: Vec<String> = cloud
        .journal()
        .iter()
        .filter(|e| e.operation == "GetCallerIdentity")
        .flat_map(|e| e.checks.iter().filter(|c| c.name == "sigv4.signature").map(|c| c.detail.clone().unwrap_or_default().to_string()))
        .collect();
    assert_eq!(sigs.len(), 2);
    assert!(sigs[0].contains("content-type;host;x-amz-date;x-amz-security-token in ap-northeast-1"), "botocore's header set: {sigs:?}");
    assert!(sigs[1].contains("x-amz-user-agent"), "Rust's header set: {sigs:?}");
}

/// A profile chain as a deployment pipeline writes it: profile `ci` assumes the seed-001 role
/// with the GitHub token file, profile `deploy` assumes `deployer` in account `210987654321`
/// with `ci` as its `source_profile`.
fn chained_profile_env(cloud: &CloudId, token_file: &std::path::Path, config: &std::path::Path) -> BTreeMap<String, String> {
    std::fs::write(
        config,
        format!(
            "[profile ci]\nrole_arn = arn:aws:iam::123456789012:role/GitHubActionsECRRole\nweb_identity_token_file = {}\nrole_session_name = ci\n\n\
             [profile deploy]\nrole_arn = arn:aws:iam::210987654321:role/ci/deployer\nsource_profile = ci\nrole_session_name = deploy\n",
            token_file.display()
        ),
    )
    .unwrap();
    let mut env = pick(cloud, &["AWS_ENDPOINT_URL_STS"]);
    env.insert("AWS_CONFIG_FILE".into(), config.display().to_string());
    env.insert("AWS_PROFILE".into(), "deploy".into());
    env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn boto3_rust_aws_config_and_the_js_sdk_chain_a_profile_into_a_role_of_another_account() {
    let cloud = CloudId::builder().world_yaml(&cloudid_tests::sts::multi_account_world()).unwrap().start().await;
    let file = token_file(&cloud, "github", "sts.amazonaws.com").await;
    let dir = tempfile::tempdir().unwrap();
    let env = chained_profile_env(&cloud, file.path(), &dir.path().join("config"));
    let script = client_program("python-boto3/credentials.py").to_str().unwrap().to_string();
    let clients = [
        ("boto3", python(), vec![script, "--sts".to_string()]),
        ("rust aws-config", cloudid_tests::rust_client("rust-aws-config-client"), vec!["chain".to_string(), "--sts".to_string()]),
        ("@aws-sdk/credential-providers", "node".to_string(), vec![client_program("node/aws-sdk.mjs").to_str().unwrap().to_string()]),
    ];
    for (name, program, args) in clients {
        cloud.reset();
        let env = env.clone();
        let run = tokio::task::spawn_blocking(move || run_client(&program, &args.iter().map(String::as_str).collect::<Vec<_>>(), &env, TIMEOUT)).await.unwrap();
        let journal = cloud.journal();
        assert_client_holds_issued(&run, &journal);
        assert_eq!(run.result["caller"]["Arn"], "arn:aws:sts::210987654321:assumed-role/deployer/deploy", "{name}: {}", run.result);
        assert_eq!(run.result["caller"]["Account"], "210987654321", "{name}");
        let calls: Vec<(&str, Option<&str>)> = journal.iter().map(|e| (e.operation.as_str(), e.principal.as_deref())).collect();
        assert_eq!(
            calls,
            [
                ("AssumeRoleWithWebIdentity", Some("arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/ci")),
                ("AssumeRole", Some("arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/ci")),
                ("GetCallerIdentity", Some("arn:aws:sts::210987654321:assumed-role/deployer/deploy")),
            ],
            "{name}: {journal:#?}"
        );
        assert!(journal.iter().all(|e| e.status == 200), "{name}: {journal:#?}");
    }
}

/// aws-sdk-sts with the instance's credentials from `cloud`'s IMDS (aws-config's provider).
fn instance_sts_client(cloud: &CloudId) -> aws_sdk_sts::Client {
    let pc = aws_config::provider_config::ProviderConfig::without_region().with_http_client(cloudid_tests::aws_http_client());
    let imds = aws_config::imds::credentials::ImdsCredentialsProvider::builder()
        .configure(&pc)
        .imds_client(aws_config::imds::Client::builder().configure(&pc).endpoint(cloud.endpoint()).unwrap().build())
        .build();
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new("ap-northeast-1"))
        .endpoint_url(cloud.endpoint())
        .credentials_provider(imds)
        .http_client(cloudid_tests::aws_http_client())
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_sdk_sts_gets_es384_and_rs256_web_identity_tokens_that_the_published_keys_verify() {
    let yaml = cloudid_tests::sts::outbound_world();
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().start().await;
    let sts = instance_sts_client(&cloud);
    let jwks: serde_json::Value = reqwest::get(format!("{}/issuers/aws-outbound-123456789012/.well-known/jwks.json", cloud.endpoint())).await.unwrap().json().await.unwrap();
    let keys: Vec<cloudid_mock::verify::jwt::PreparedKey> =
        jwks["keys"].as_array().unwrap().iter().map(|k| cloudid_mock::verify::jwt::PreparedKey::new(serde_json::from_value(k.clone()).unwrap())).collect();
    for alg in ["ES384", "RS256"] {
        let out = sts
            .get_web_identity_token()
            .audience("https://api.example.com")
            .signing_algorithm(alg)
            .duration_seconds(900)
            .tags(aws_sdk_sts::types::Tag::builder().key("team").value("data").build().unwrap())
            .send()
            .await
            .unwrap();
        let token = cloudid_mock::verify::jwt::decode(out.web_identity_token().unwrap()).unwrap();
        assert_eq!(token.header.alg, alg);
        token.verify(&keys).expect("verifies with the issuer's published keys");
        assert_eq!(token.str_claim("sub"), Some("arn:aws:iam::123456789012:role/embulk-gcp-access"));
        assert_eq!(token.claims["https://sts.amazonaws.com/"]["request_tags"]["team"], "data");
        let exp = token.time_claim("exp").unwrap().unwrap();
        assert_eq!(out.expiration().unwrap().secs(), exp, "Expiration is the token's exp");
        assert_eq!(exp - token.time_claim("iat").unwrap().unwrap(), 900);
    }
}

const BOTO3_KEY_INFO: &str = r#"
import json
import boto3
from botocore.exceptions import ClientError
session = boto3.Session()
sts = session.client("sts")
key = session.get_credentials().get_frozen_credentials().access_key
out = {"ok": True, "key": key, "account": sts.get_access_key_info(AccessKeyId=key)["Account"],
       "published_example": sts.get_access_key_info(AccessKeyId="ASIAY34FZKBOKMUTVV7A")["Account"]}
for name, call in (("GetSessionToken", lambda: sts.get_session_token()), ("GetFederationToken", lambda: sts.get_federation_token(Name="ci"))):
    try:
        call()
        out[name] = "granted"
    except ClientError as e:
        out[name] = e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"]
print(json.dumps(out))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_and_aws_sdk_sts_read_the_account_of_a_key_and_are_refused_session_and_federation_tokens() {
    let cloud = CloudId::start().await;
    let mut env = imds_env(&cloud);
    env.insert("AWS_ENDPOINT_URL_STS".into(), cloud.env()["AWS_ENDPOINT_URL_STS"].clone());
    let py = tokio::task::spawn_blocking(move || run_client(&python(), &["-c", BOTO3_KEY_INFO], &env, TIMEOUT)).await.unwrap();
    assert_eq!(py.result["ok"], true, "{}\n{}", py.result, py.stderr);
    assert!(py.result["key"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(py.result["account"], "123456789012");
    assert_eq!(py.result["published_example"], "609629065308");
    assert_eq!(py.result["GetSessionToken"], "AccessDenied: Cannot call GetSessionToken with session credentials");
    assert_eq!(py.result["GetFederationToken"], "AccessDenied: Cannot call GetFederationToken with session credentials");

    let sts = instance_sts_client(&cloud);
    let key = cloud.journal().iter().rev().find_map(|e| e.issued.as_ref().and_then(|i| i.access_key_id.clone())).expect("the instance credentials were issued");
    let info = sts.get_access_key_info().access_key_id(&key).send().await.unwrap();
    assert_eq!(info.account(), Some("123456789012"));
    let refused = sts.get_session_token().send().await.unwrap_err().into_service_error();
    assert_eq!((refused.meta().code(), refused.meta().message()), (Some("AccessDenied"), Some("Cannot call GetSessionToken with session credentials")));
    let refused = sts.get_federation_token().name("ci").send().await.unwrap_err().into_service_error();
    assert_eq!(refused.meta().code(), Some("AccessDenied"));
    let disabled = sts.get_web_identity_token().audience("https://api.example.com").signing_algorithm("RS256").send().await.unwrap_err().into_service_error();
    assert!(disabled.is_outbound_web_identity_federation_disabled_exception(), "the SDK maps the code to its modeled error: {disabled:?}");
    let journal = cloud.journal();
    let count = |op: &str| journal.iter().filter(|e| e.service == "aws_sts" && e.operation == op).count();
    assert_eq!((count("GetAccessKeyInfo"), count("GetSessionToken"), count("GetFederationToken")), (3, 2, 2), "{journal:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_js_sdk_gets_a_web_identity_token_and_the_modeled_error_when_the_account_has_none() {
    let yaml = cloudid_tests::sts::outbound_world();
    for (cloud, enabled) in [(CloudId::builder().world_yaml(&yaml).unwrap().start().await, true), (CloudId::start().await, false)] {
        let mut env = imds_env(&cloud);
        env.insert("AWS_ENDPOINT_URL_STS".into(), cloud.env()["AWS_ENDPOINT_URL_STS"].clone());
        let script = client_program("node/web-identity-token.mjs");
        let run = tokio::task::spawn_blocking(move || run_client("node", &[script.to_str().unwrap(), "https://api.example.com", "ES384"], &env, TIMEOUT)).await.unwrap();
        let journal = cloud.journal();
        let call = journal.iter().find(|e| e.operation == "GetWebIdentityToken").expect("the JS SDK called STS");
        if enabled {
            assert_eq!(run.result["ok"], true, "{}\n{}", run.result, run.stderr);
            assert_eq!((run.result["alg"].as_str(), run.result["sub"].as_str()), (Some("ES384"), Some("arn:aws:iam::123456789012:role/embulk-gcp-access")));
            assert_eq!(run.result["token_fingerprint"], call.issued.as_ref().unwrap().token_fingerprint.as_str());
        } else {
            assert_eq!(run.result["ok"], false);
            assert!(run.result["error"].as_str().unwrap().starts_with("OutboundWebIdentityFederationDisabledException: "), "{}", run.result);
            assert_eq!(call.verdict, Verdict::Denied);
        }
    }
}
