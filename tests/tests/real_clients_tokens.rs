//! The token issuers with real clients: @actions/core's getIDToken verified by `jose` against the
//! JWKS served over HTTP; google-auth (Python) and google-auth-library (Node) on the metadata
//! server getting access and ID tokens, the ID token verified with google-auth's own verifier.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudid_mock::{CloudId, IssuedKind, Verdict};
use cloudid_tests::{ClientRun, client_program, python, run_client};

const TIMEOUT: Duration = Duration::from_secs(90);

fn node(script: &str, args: &[&str], env: &BTreeMap<String, String>) -> ClientRun {
    let path = client_program(&format!("node/{script}"));
    let mut all = vec![path.to_str().unwrap()];
    all.extend_from_slice(args);
    run_client("node", &all, env, TIMEOUT)
}

fn google_env(cloud: &CloudId) -> BTreeMap<String, String> {
    let all = cloud.env();
    ["GCE_METADATA_HOST", "GCE_METADATA_IP", "GOOGLE_CLOUD_PROJECT"].iter().map(|k| (k.to_string(), all[*k].clone())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_core_gets_a_token_that_jose_verifies_against_the_served_jwks() {
    let cloud = CloudId::start().await;
    let all = cloud.env();
    let env: BTreeMap<String, String> = ["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"].iter().map(|k| (k.to_string(), all[*k].clone())).collect();
    let jwks = format!("{}/issuers/github/jwks", cloud.endpoint());
    let run = tokio::task::spawn_blocking(move || node("actions-oidc.mjs", &["sts.amazonaws.com", &jwks], &env)).await.unwrap();
    assert_eq!(run.result["ok"], true, "{}\n{}", run.result, run.stderr);
    assert_eq!(run.result["iss"], "https://token.actions.githubusercontent.com");
    assert_eq!(run.result["aud"], "sts.amazonaws.com");
    assert_eq!(run.result["sub"], "repo:acme/ecs-express-mode-api:ref:refs/heads/main");
    assert_eq!(run.result["lifetime"], 300);
    assert_eq!(run.result["not_before"], 600);
    assert_eq!(run.result["alg"], "RS256");
    let journal = cloud.journal();
    let minted: Vec<_> = journal.iter().filter(|e| e.service == "github_oidc").collect();
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0].verdict, Verdict::Granted);
    assert_eq!(run.result["token_fingerprint"], minted[0].issued.as_ref().unwrap().token_fingerprint.as_str());
    assert!(journal.iter().any(|e| e.service == "oidc_discovery" && e.operation == "GetJwks"), "jose fetched the JWKS over HTTP");
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_core_fails_when_the_runtime_token_is_wrong() {
    let cloud = CloudId::start().await;
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("ACTIONS_ID_TOKEN_REQUEST_URL".into(), cloud.env()["ACTIONS_ID_TOKEN_REQUEST_URL"].clone());
    env.insert("ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(), "stolen".into());
    let jwks = format!("{}/issuers/github/jwks", cloud.endpoint());
    let run = tokio::task::spawn_blocking(move || node("actions-oidc.mjs", &["sts.amazonaws.com", &jwks], &env)).await.unwrap();
    assert_eq!(run.result["ok"], false, "{}", run.result);
    assert!(run.result["error"].as_str().unwrap().contains("Failed to get ID Token"), "{}", run.result);
    assert!(cloud.journal().iter().all(|e| e.issued.is_none()));
}

#[tokio::test(flavor = "multi_thread")]
async fn python_google_auth_gets_access_and_id_tokens_from_the_metadata_server() {
    let cloud = CloudId::start().await;
    let env = google_env(&cloud);
    let certs = format!("{}/issuers/google/certs", cloud.endpoint());
    let script = client_program("python-google-auth/compute.py");
    let run = tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap(), "https://reply-bot.example", &certs], &env, TIMEOUT)).await.unwrap();
    assert_eq!(run.result["ok"], true, "{}\n{}", run.result, run.stderr);
    assert_eq!(run.result["credentials"], "google.auth.compute_engine.credentials.Credentials");
    assert_eq!(run.result["service_account_email"], "reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com");
    assert_eq!(run.result["project"], "acme-data");
    assert_eq!(run.result["aud"], "https://reply-bot.example");
    assert_eq!(run.result["sub"], "104412345678901234567");
    assert_eq!(run.result["azp"], "104412345678901234567");
    assert_eq!(run.result["format_full"], true, "fetch_id_token asks for format=full");
    let journal = cloud.journal();
    let access = journal.iter().find(|e| e.issued.as_ref().is_some_and(|i| i.kind == IssuedKind::GoogleAccessToken)).expect("an access token was issued");
    assert_eq!(run.result["access_token_fingerprint"], access.issued.as_ref().unwrap().token_fingerprint.as_str());
    let id = journal.iter().find(|e| e.operation == "GetIdentityToken").expect("an identity token was issued");
    assert_eq!(run.result["id_token_fingerprint"], id.issued.as_ref().unwrap().token_fingerprint.as_str());
    assert!(journal.iter().any(|e| e.operation == "Ping"), "google-auth pinged the metadata server first");
    assert!(journal.iter().any(|e| e.operation == "GetCerts"), "verify_token fetched the served v1 certs");
}

#[tokio::test(flavor = "multi_thread")]
async fn node_google_auth_library_gets_access_and_id_tokens_from_the_metadata_server() {
    let cloud = CloudId::start().await;
    let env = google_env(&cloud);
    let run = tokio::task::spawn_blocking(move || node("google-auth-library.mjs", &["https://reply-bot.example"], &env)).await.unwrap();
    assert_eq!(run.result["ok"], true, "{}\n{}", run.result, run.stderr);
    assert_eq!(run.result["client"], "Compute");
    assert_eq!(run.result["aud"], "https://reply-bot.example");
    assert_eq!(run.result["email"], "reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com");
    assert_eq!(run.result["project_id"], "acme-data");
    let journal = cloud.journal();
    let access = journal.iter().find(|e| e.operation == "GetAccessToken").expect("an access token");
    assert_eq!(run.result["access_token_fingerprint"], access.issued.as_ref().unwrap().token_fingerprint.as_str());
    let id = journal.iter().find(|e| e.operation == "GetIdentityToken").expect("an ID token");
    assert_eq!(run.result["id_token_fingerprint"], id.issued.as_ref().unwrap().token_fingerprint.as_str());
    assert!(journal.iter().all(|e| !e.checks.iter().any(|c| c.name == "gce.metadata_flavor" && c.outcome == cloudid_mock::Outcome::Fail)));
}

#[tokio::test(flavor = "multi_thread")]
async fn python_google_auth_rejects_an_id_token_when_the_certs_are_not_the_issuers() {
    let cloud = CloudId::start().await;
    let env = google_env(&cloud);
    let wrong_certs = format!("{}/issuers/github/certs", cloud.endpoint());
    let script = client_program("python-google-auth/compute.py");
    let run = tokio::task::spawn_blocking(move || run_client(&python(), &[script.to_str().unwrap(), "https://reply-bot.example", &wrong_certs], &env, TIMEOUT)).await.unwrap();
    assert_eq!(run.result["ok"], false, "{}", run.result);
    assert!(run.result["error"].as_str().unwrap().contains("Certificate for key id"), "{}", run.result);
}
