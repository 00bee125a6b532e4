//! Google STS and IAM Credentials over HTTP: AWS and OIDC exchanges, every refusal with Google's
//! error shape (OAuth JSON for STS, google.rpc.Status for IAM), nothing issued on refusal.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;
use cloudid_mock::{CloudId, Verdict};
use cloudid_tests::fixed_cloud;
use cloudid_tests::sts::{form_encode, to_system};
use reqwest::Client;
use serde_json::{Value, json};

const EMBULK: &str = "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool/providers/embulk-aws-access-provider";
const GITHUB: &str = "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/providers/github";

async fn imds_credentials(cloud: &CloudId) -> Credentials {
    let c = Client::new();
    let tok = c.put(format!("{}/latest/api/token", cloud.endpoint())).header("x-aws-ec2-metadata-token-ttl-seconds", "60").send().await.unwrap().text().await.unwrap();
    let doc: Value = serde_json::from_str(
        &c.get(format!("{}/latest/meta-data/iam/security-credentials/embulk-gcp-access", cloud.endpoint())).header("x-aws-ec2-metadata-token", tok).send().await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    Credentials::new(doc["AccessKeyId"].as_str().unwrap(), doc["SecretAccessKey"].as_str().unwrap(), doc["Token"].as_str().map(str::to_string), None, "imds")
}

/// A subject token as Python google-auth builds it: a signed GetCallerIdentity, target resource
/// header unsigned, URL-encoded JSON.
fn aws_subject_token(creds: &Credentials, target: &str, region: &str, time: SystemTime) -> Value {
    let host = format!("sts.{region}.amazonaws.com");
    let url = format!("https://{host}?Action=GetCallerIdentity&Version=2011-06-15");
    let base = [("host".to_string(), host.clone())];
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder().identity(&identity).region(region).name("sts").time(time).settings(SigningSettings::default()).build().unwrap().into();
    let signable = SignableRequest::new("POST", url.clone(), base.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(b"")).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers: Vec<Value> = vec![json!({"key": "host", "value": host})];
    for (k, v) in instructions.headers() {
        let key = if k.eq_ignore_ascii_case("authorization") { "Authorization".to_string() } else { k.to_string() };
        headers.push(json!({"key": key, "value": v}));
    }
    headers.push(json!({"key": "x-goog-cloud-target-resource", "value": target}));
    json!({"url": url, "method": "POST", "headers": headers})
}

fn encode(v: &Value) -> String {
    let mut out = String::new();
    cloudid_mock::verify::sigv4::uri_encode(v.to_string().as_bytes(), false, &mut out);
    out
}

async fn exchange(cloud: &CloudId, audience: &str, subject: &str, subject_type: &str) -> (u16, Value) {
    let body = form_encode(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("audience", audience),
        ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("subject_token", subject),
        ("subject_token_type", subject_type),
    ]);
    let r = Client::new().post(format!("{}/v1/token", cloud.endpoint())).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

const AWS4: &str = "urn:ietf:params:aws:token-type:aws4_request";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

fn assert_refused(cloud: &CloudId, status: u16, body: &Value, error: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    assert!(body.get("access_token").is_none());
    let last = cloud.journal().pop().unwrap();
    assert!(last.issued.is_none(), "{last:#?}");
}

#[tokio::test]
async fn an_aws_subject_token_exchanges_for_a_federated_token() {
    let cloud = fixed_cloud().await;
    let creds = imds_credentials(&cloud).await;
    let token = aws_subject_token(&creds, EMBULK, "ap-northeast-1", to_system(cloud.clock().now()));
    let (status, body) = exchange(&cloud, EMBULK, &encode(&token), AWS4).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let mut shape = body.clone();
    shape["access_token"] = json!("[token]");
    insta::assert_json_snapshot!("google_sts_success", shape);
    let e = cloud.journal().pop().unwrap();
    assert_eq!(e.verdict, Verdict::Granted);
    assert_eq!(
        e.principal.as_deref(),
        Some(
            "principal://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool/subject/arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890"
        )
    );

    let json_body = json!({"grantType": "urn:ietf:params:oauth:grant-type:token-exchange", "audience": EMBULK, "scope": "https://www.googleapis.com/auth/cloud-platform", "requestedTokenType": "urn:ietf:params:oauth:token-type:access_token", "subjectToken": encode(&token), "subjectTokenType": AWS4});
    let r = Client::new().post(format!("{}/v1/token", cloud.endpoint())).json(&json_body).send().await.unwrap();
    assert_eq!(r.status(), 200, "the JSON camelCase form is accepted too");
}

#[tokio::test]
async fn aws_subject_tokens_are_refused_for_a_wrong_target_a_tampered_signature_or_expired_credentials() {
    let cloud = fixed_cloud().await;
    let creds = imds_credentials(&cloud).await;
    let now = to_system(cloud.clock().now());
    let other = "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/your-pool/providers/your-provider";
    let (s, b) = exchange(&cloud, EMBULK, &encode(&aws_subject_token(&creds, other, "ap-northeast-1", now)), AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    insta::assert_json_snapshot!("google_sts_target_mismatch", b);

    let mut tampered = aws_subject_token(&creds, EMBULK, "ap-northeast-1", now);
    for h in tampered["headers"].as_array_mut().unwrap() {
        if h["key"] == "x-amz-date" {
            h["value"] = json!("20261130T120001Z");
        }
    }
    let (s, b) = exchange(&cloud, EMBULK, &encode(&tampered), AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert!(b["error_description"].as_str().unwrap().starts_with("Received invalid AWS response of type SignatureDoesNotMatch with error message: The request signature we calculated"), "{b}");
    insta::assert_json_snapshot!("google_sts_aws_signature", b);

    let wrong_region = aws_subject_token(&creds, EMBULK, "us-east-1", now);
    let mut relabelled = wrong_region.clone();
    relabelled["url"] = json!("https://sts.ap-northeast-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15");
    let (s, b) = exchange(&cloud, EMBULK, &encode(&relabelled), AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_grant");

    cloud.clock().advance(Duration::from_secs(6 * 3600 + 1));
    let later = to_system(cloud.clock().now());
    let (s, b) = exchange(&cloud, EMBULK, &encode(&aws_subject_token(&creds, EMBULK, "ap-northeast-1", later)), AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert!(b["error_description"].as_str().unwrap().contains("ExpiredToken"), "{b}");
    let (s, b) = exchange(&cloud, EMBULK, "not-json", AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
}

#[tokio::test]
async fn an_aws_session_of_another_account_than_the_providers_is_refused() {
    use cloudid_tests::sts::{credentials_of, github_token, multi_account_world, send_signed, sign_form, web_identity};
    let cloud = CloudId::builder().world_yaml(&multi_account_world()).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let token = github_token(&cloud, json!({})).await;
    let (_, xml) = web_identity(&cloud, "GitHubActionsECRRole", &token, &[]).await;
    let now = to_system(cloud.clock().now());
    let form = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", "arn:aws:iam::210987654321:role/ci/deployer"), ("RoleSessionName", "deploy")];
    let (status, xml) = send_signed(&cloud, &sign_form(&cloud, &credentials_of(&xml), &form, "ap-northeast-1", "sts", now)).await;
    assert_eq!(status, 200, "{xml}");
    let other_account = credentials_of(&xml);
    let (s, b) = exchange(&cloud, EMBULK, &encode(&aws_subject_token(&other_account, EMBULK, "ap-northeast-1", now)), AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert_eq!(b["error_description"], "The AWS account 210987654321 is not the account 123456789012 of the provider.");
    let last = cloud.journal().pop().unwrap();
    let check = last.checks.iter().find(|c| c.name == "aws.account").expect("the account was checked");
    assert_eq!(check.outcome, cloudid_mock::Outcome::Fail, "{last:#?}");
    assert!(last.checks.iter().any(|c| c.name == "sigv4.signature" && c.outcome == cloudid_mock::Outcome::Pass), "the signature itself was good");
}

#[tokio::test]
async fn audiences_for_unknown_or_disabled_providers_are_refused() {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("        - name: embulk-aws-access-provider\n", "        - name: embulk-aws-access-provider\n          disabled: true\n");
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let creds = imds_credentials(&cloud).await;
    let token = encode(&aws_subject_token(&creds, EMBULK, "ap-northeast-1", to_system(cloud.clock().now())));
    let (s, b) = exchange(&cloud, EMBULK, &token, AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_target");
    insta::assert_json_snapshot!("google_sts_invalid_target", b);
    let unknown = EMBULK.replace("embulk-aws-access-pool", "no-such-pool");
    let (s, b) = exchange(&cloud, &unknown, &token, AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_target");
    let (s, b) = exchange(&cloud, "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool", &token, AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_request");
    insta::assert_json_snapshot!("google_sts_invalid_audience", b);
}

#[tokio::test]
async fn oidc_tokens_from_another_issuer_or_an_unreachable_one_are_refused() {
    let cloud = fixed_cloud().await;
    let google = cloudid_tests::sts::mint(&cloud, "google", json!({"audience": GITHUB.replacen("//", "https://", 1)})).await;
    let (s, b) = exchange(&cloud, GITHUB, &google, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert_eq!(b["error_description"], "The issuer in ID Token https://accounts.google.com does not match the expected ones: https://token.actions.githubusercontent.com.");
    let yaml = format!("{}\nissuers:\n  - name: github\n    unreachable: true\n", cloudid_mock::world::load::DEFAULT_WORLD_YAML);
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let token = github_for_google(&cloud, json!({})).await;
    let (s, b) = exchange(&cloud, GITHUB, &token, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert_eq!(b["error_description"], "Error connecting to the given credential's issuer.");
}

async fn github_for_google(cloud: &CloudId, claims: Value) -> String {
    cloudid_tests::sts::mint(cloud, "github", json!({"audience": GITHUB.replacen("//", "https://", 1), "claims": claims})).await
}

#[tokio::test]
async fn oidc_tokens_are_refused_when_the_condition_is_false_the_audience_is_wrong_or_the_subject_too_long() {
    let cloud = fixed_cloud().await;
    let ok = github_for_google(&cloud, json!({})).await;
    let (s, b) = exchange(&cloud, GITHUB, &ok, JWT).await;
    assert_eq!(s, 200, "{b}");
    let foreign = github_for_google(&cloud, json!({"repository_owner": "evil", "repository": "evil/x"})).await;
    let (s, b) = exchange(&cloud, GITHUB, &foreign, JWT).await;
    assert_refused(&cloud, s, &b, "unauthorized_client");
    assert_eq!(b["error_description"], "The given credential is rejected by the attribute condition.");
    insta::assert_json_snapshot!("google_sts_condition", b);
    let wrong_aud = cloudid_tests::sts::mint(&cloud, "github", json!({"audience": "sts.amazonaws.com"})).await;
    let (s, b) = exchange(&cloud, GITHUB, &wrong_aud, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert!(b["error_description"].as_str().unwrap().starts_with("The audience in ID Token [sts.amazonaws.com] does not match the expected audience"));
    let long = github_for_google(&cloud, json!({"sub": format!("repo:acme/{}:ref:refs/heads/main", "x".repeat(130))})).await;
    let (s, b) = exchange(&cloud, GITHUB, &long, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert_eq!(b["error_description"], "The size of mapped attribute google.subject exceeds the 127 bytes limit");
    let now = cloud.clock().now().unix_timestamp();
    let stale = github_for_google(&cloud, json!({"iat": now - 900, "exp": now - 600})).await;
    let (s, b) = exchange(&cloud, GITHUB, &stale, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert!(b["error_description"].as_str().unwrap().ends_with("is stale to sign-in."));
    let mut parts: Vec<String> = ok.split('.').map(str::to_string).collect();
    parts[2] = parts[2].chars().rev().collect();
    let (s, b) = exchange(&cloud, GITHUB, &parts.join("."), JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
}

async fn federated_token(cloud: &CloudId) -> String {
    let ok = github_for_google(cloud, json!({})).await;
    let (_, b) = exchange(cloud, GITHUB, &ok, JWT).await;
    b["access_token"].as_str().unwrap().to_string()
}

async fn impersonate(cloud: &CloudId, bearer: &str, sa: &str, body: Value) -> (u16, Value) {
    let r = Client::new().post(format!("{}/v1/projects/-/serviceAccounts/{sa}:generateAccessToken", cloud.endpoint())).bearer_auth(bearer).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn impersonation_needs_a_binding_for_the_callers_principal_set() {
    let cloud = fixed_cloud().await;
    let token = federated_token(&cloud).await;
    let (s, b) =
        impersonate(&cloud, &token, "deployer@acme-data.iam.gserviceaccount.com", json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "3600s", "delegates": null})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["expireTime"], "2026-11-30T13:00:00Z", "whole-second RFC 3339, as Python parses it");
    let mut shape = b.clone();
    shape["accessToken"] = json!("[token]");
    insta::assert_json_snapshot!("iam_generate_access_token", shape);
    let (s, b) = impersonate(&cloud, &token, "bigquery-reader@acme-data.iam.gserviceaccount.com", json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]})).await;
    assert_eq!(s, 403);
    assert_eq!(b["error"]["status"], "PERMISSION_DENIED");
    assert_eq!(b["error"]["message"], "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).");
    insta::assert_json_snapshot!("iam_permission_denied", b);
    assert!(cloud.journal().pop().unwrap().issued.is_none());
    let (s, b) = impersonate(&cloud, "ya29.not-issued", "deployer@acme-data.iam.gserviceaccount.com", json!({"scope": ["x"]})).await;
    assert_eq!((s, b["error"]["status"].as_str()), (401, Some("UNAUTHENTICATED")));
    insta::assert_json_snapshot!("iam_unauthenticated", b);
    let (s, b) = impersonate(&cloud, &token, "deployer@acme-data.iam.gserviceaccount.com", json!({"scope": []})).await;
    assert_eq!((s, b["error"]["status"].as_str()), (400, Some("INVALID_ARGUMENT")));
    let (s, _) = impersonate(&cloud, &token, "deployer@acme-data.iam.gserviceaccount.com", json!({"scope": ["x"], "lifetime": "7200s"})).await;
    assert_eq!(s, 400);
    let id = Client::new()
        .post(format!("{}/v1/projects/-/serviceAccounts/deployer@acme-data.iam.gserviceaccount.com:generateIdToken", cloud.endpoint()))
        .bearer_auth(&token)
        .json(&json!({"audience": "https://run.example", "includeEmail": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(id.status(), 200);
    let jwt = id.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let claims: Value = serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, jwt.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!((claims["aud"].as_str(), claims["email"].as_str()), (Some("https://run.example"), Some("deployer@acme-data.iam.gserviceaccount.com")));
    cloud.clock().advance(Duration::from_secs(3601));
    let (s, _) = impersonate(&cloud, &token, "deployer@acme-data.iam.gserviceaccount.com", json!({"scope": ["x"]})).await;
    assert_eq!(s, 401, "an expired federated token is refused");
}

#[tokio::test]
async fn tokeninfo_describes_issued_tokens_and_refuses_others() {
    let cloud = fixed_cloud().await;
    let token = federated_token(&cloud).await;
    let (_, b) = impersonate(&cloud, &token, "deployer@acme-data.iam.gserviceaccount.com", json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]})).await;
    let sa_token = b["accessToken"].as_str().unwrap();
    let info: Value = reqwest::get(format!("{}/oauth2/v3/tokeninfo?access_token={sa_token}", cloud.endpoint())).await.unwrap().json().await.unwrap();
    assert_eq!(info["email"], "deployer@acme-data.iam.gserviceaccount.com");
    insta::assert_json_snapshot!("tokeninfo", info);
    assert_eq!(info["scope"], "https://www.googleapis.com/auth/cloud-platform");
    let bad = reqwest::get(format!("{}/oauth2/v3/tokeninfo?access_token=nope", cloud.endpoint())).await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap(), json!({"error": "invalid_token", "error_description": "Invalid Value"}));
}

async fn revoke(cloud: &CloudId, body: Value) -> (u16, Value) {
    let r = Client::new().post(format!("{}/_cloudid/google/bindings/revoke", cloud.endpoint())).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn a_revoked_binding_refuses_impersonation_from_then_on() {
    let cloud = fixed_cloud().await;
    let token = federated_token(&cloud).await;
    let deployer = "deployer@acme-data.iam.gserviceaccount.com";
    let scope = json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]});
    assert_eq!(impersonate(&cloud, &token, deployer, scope.clone()).await.0, 200);
    let member = cloud.world().gcp.account(deployer).unwrap().bindings[0].members[0].clone();
    let (s, b) = revoke(&cloud, json!({"service_account": deployer, "member": member})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["revoked_roles"], json!(["roles/iam.workloadIdentityUser"]));
    let (s, b) = impersonate(&cloud, &token, deployer, scope).await;
    assert_eq!(s, 403);
    assert_eq!(b["error"]["message"], "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).");
    let last = cloud.journal().pop().unwrap();
    assert!(last.checks.iter().any(|c| c.name == "iam.permission" && c.outcome == cloudid_mock::journal::Outcome::Fail), "{:?}", last.checks);
}

#[tokio::test]
async fn revoking_a_member_the_account_does_not_hold_is_a_clear_error_and_changes_nothing() {
    let cloud = fixed_cloud().await;
    let token = federated_token(&cloud).await;
    let deployer = "deployer@acme-data.iam.gserviceaccount.com";
    let (s, b) = revoke(&cloud, json!({"service_account": deployer, "member": "serviceAccount:nobody@acme-data.iam.gserviceaccount.com"})).await;
    assert_eq!(s, 400);
    assert_eq!(b["error"], format!("binding revocation: serviceAccount:nobody@acme-data.iam.gserviceaccount.com holds no role on {deployer}"));
    let (s, b) = revoke(&cloud, json!({"service_account": "ghost@acme-data.iam.gserviceaccount.com", "member": "x"})).await;
    assert_eq!((s, b["error"].as_str()), (400, Some("binding revocation: no service account ghost@acme-data.iam.gserviceaccount.com")));
    assert_eq!(impersonate(&cloud, &token, deployer, json!({"scope": ["x"]})).await.0, 200);
}

async fn iam_call(cloud: &CloudId, bearer: &str, resource: &str, body: Value) -> (u16, Value) {
    let r = Client::new().post(format!("{}/v1/{resource}", cloud.endpoint())).bearer_auth(bearer).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get_json(cloud: &CloudId, path: &str) -> (u16, Value) {
    let r = Client::new().get(format!("{}{path}", cloud.endpoint())).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

const DEPLOYER: &str = "deployer@acme-data.iam.gserviceaccount.com";

/// The default world with the GitHub repository's principal set also holding Token Creator on
/// deployer@ (signJwt and signBlob need it; Workload Identity User does not grant them).
async fn token_creator_cloud() -> CloudId {
    let binding = "      bindings:\n        - role: roles/iam.serviceAccountTokenCreator\n          members:\n            - principalSet://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/attribute.repository/acme/ecs-express-mode-api\n";
    let anchor = "    - email: deployer@acme-data.iam.gserviceaccount.com\n      unique_id: \"102718281828459045235\"\n      bindings:\n";
    let world = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replacen(anchor, &format!("{}{binding}", anchor.trim_end_matches("      bindings:\n")), 1);
    assert_ne!(world, cloudid_mock::world::load::DEFAULT_WORLD_YAML, "the anchor is in the default world");
    CloudId::builder().clock(cloudid_tests::fixed_clock()).world_yaml(&world).unwrap().start().await
}

/// Issue 13 (second attack): Workload Identity User does not hold signJwt or signBlob.
#[tokio::test]
async fn workload_identity_user_may_impersonate_but_not_sign_as_the_account() {
    let cloud = fixed_cloud().await;
    let caller = federated_token(&cloud).await;
    for (method, body, permission) in [("signJwt", json!({"payload": "{}"}), "iam.serviceAccounts.signJwt"), ("signBlob", json!({"payload": "aGk="}), "iam.serviceAccounts.signBlob")] {
        let (s, b) = iam_call(&cloud, &caller, &format!("projects/-/serviceAccounts/{DEPLOYER}:{method}"), body).await;
        assert_eq!((s, b["error"]["status"].as_str()), (403, Some("PERMISSION_DENIED")), "{b}");
        assert_eq!(b["error"]["details"][0]["metadata"]["permission"], permission);
        let why = cloud.journal().pop().unwrap().checks.into_iter().find(|c| c.name == "iam.permission").and_then(|c| c.detail).unwrap_or_default();
        assert!(why.contains("roles/iam.serviceAccountTokenCreator"), "{why}");
    }
    let (s, _) = impersonate(&cloud, &caller, DEPLOYER, json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]})).await;
    assert_eq!(s, 200, "impersonation itself is what the role grants");
}

/// Issue 13, finding 1: signJwt signed with the accounts.google.com key, so a caller allowed to
/// impersonate deployer@ could forge a Cloud Run identity and AWS STS granted the Cloud Run role.
#[tokio::test]
async fn a_jwt_signed_as_a_service_account_is_not_a_google_id_token_and_aws_sts_refuses_it() {
    let cloud = token_creator_cloud().await;
    let caller = federated_token(&cloud).await;
    let now = cloud.clock().now().unix_timestamp();
    let forged =
        json!({"iss": "https://accounts.google.com", "aud": "reply-bot.apps.googleusercontent.com", "azp": "104412345678901234567", "sub": "104412345678901234567", "iat": now, "exp": now + 3600});
    let (s, b) = iam_call(&cloud, &caller, &format!("projects/-/serviceAccounts/{DEPLOYER}:signJwt"), json!({"payload": forged.to_string()})).await;
    assert_eq!(s, 200, "{b}");
    let signed = b["signedJwt"].as_str().unwrap();
    let key_id = b["keyId"].as_str().unwrap();
    let header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signed.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["kid"], key_id, "the JWT names the key signJwt reported");
    assert_eq!(header["alg"], "RS256");

    let (_, google_keys) = get_json(&cloud, "/issuers/google/jwks").await;
    assert!(google_keys["keys"].as_array().unwrap().iter().all(|k| k["kid"] != key_id), "a service account's key is none of accounts.google.com's");
    let (s, jwks) = get_json(&cloud, &format!("/service_accounts/v1/jwk/{DEPLOYER}")).await;
    assert_eq!(s, 200);
    assert_eq!(jwks["keys"][0]["kid"], key_id, "published where Google publishes it");
    assert_eq!((jwks["keys"][0]["kty"].as_str(), jwks["keys"][0]["alg"].as_str(), jwks["keys"][0]["use"].as_str()), (Some("RSA"), Some("RS256"), Some("sig")));
    let (s, certs) = get_json(&cloud, &format!("/service_accounts/v1/metadata/x509/{DEPLOYER}")).await;
    assert_eq!(s, 200);
    assert!(certs[key_id].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));

    let (status, body) = cloudid_tests::sts::web_identity(&cloud, "reply-bot-cloudrun-workload-identity-staging", signed, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(cloudid_tests::sts::tag(&body, "Code").as_deref(), Some("InvalidIdentityToken"), "{body}");
    assert!(cloud.journal().pop().unwrap().issued.is_none(), "no credentials for a forged Cloud Run identity");
}

#[tokio::test]
async fn sign_blob_signs_with_the_accounts_own_key_which_the_x509_endpoint_publishes() {
    let cloud = token_creator_cloud().await;
    let caller = federated_token(&cloud).await;
    let blob = base64::engine::general_purpose::STANDARD.encode(b"to be signed");
    let (s, b) = iam_call(&cloud, &caller, &format!("projects/-/serviceAccounts/{DEPLOYER}:signBlob"), json!({"payload": blob})).await;
    assert_eq!(s, 200, "{b}");
    let key_id = b["keyId"].as_str().unwrap();
    let (_, jwks) = get_json(&cloud, &format!("/service_accounts/v1/jwk/{DEPLOYER}")).await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], key_id);
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap();
    let public = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e };
    let sig = base64::engine::general_purpose::STANDARD.decode(b["signedBlob"].as_str().unwrap()).unwrap();
    public.verify(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256, b"to be signed", &sig).expect("the blob verifies with the published key");
    let (s, _) = get_json(&cloud, "/service_accounts/v1/jwk/nobody@acme-data.iam.gserviceaccount.com").await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn sign_jwt_adds_an_expiry_and_refuses_one_past_twelve_hours_or_in_the_past() {
    let cloud = token_creator_cloud().await;
    let caller = federated_token(&cloud).await;
    let now = cloud.clock().now().unix_timestamp();
    let resource = format!("projects/-/serviceAccounts/{DEPLOYER}:signJwt");
    let (s, b) = iam_call(&cloud, &caller, &resource, json!({"payload": json!({"sub": "x"}).to_string()})).await;
    assert_eq!(s, 200, "{b}");
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b["signedJwt"].as_str().unwrap().split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!(claims["exp"], now + 3600);
    for exp in [now + 12 * 3600 + 1, now - 1] {
        let (s, b) = iam_call(&cloud, &caller, &resource, json!({"payload": json!({"sub": "x", "exp": exp}).to_string()})).await;
        assert_eq!((s, b["error"]["status"].as_str()), (400, Some("INVALID_ARGUMENT")), "{b}");
    }
}

/// Issue 13, finding 8: the resource name's project must be the wildcard `-`.
#[tokio::test]
async fn iam_credentials_refuses_a_project_id_in_place_of_the_wildcard() {
    let cloud = fixed_cloud().await;
    let caller = federated_token(&cloud).await;
    let (s, b) = iam_call(&cloud, &caller, &format!("projects/acme-data/serviceAccounts/{DEPLOYER}:generateAccessToken"), json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"]})).await;
    assert_eq!((s, b["error"]["status"].as_str()), (400, Some("INVALID_ARGUMENT")), "{b}");
    assert!(b["error"]["message"].as_str().unwrap().contains("projects/acme-data/serviceAccounts/"), "{b}");
    assert!(cloud.journal().pop().unwrap().issued.is_none());
}

/// Issue 13, finding 6: `exp − iat` overflowed past the 48-hour limit.
#[tokio::test]
async fn time_claims_at_the_ends_of_i64_are_refused_not_wrapped() {
    let cloud = fixed_cloud().await;
    let wide = github_for_google(&cloud, json!({"iat": i64::MIN + (1 << 20), "exp": i64::MAX - (1 << 20) + 1})).await;
    let (s, b) = exchange(&cloud, GITHUB, &wide, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert!(b["error_description"].as_str().unwrap().contains("not a date between 1970 and 9999"), "{b}");
    let now = cloud.clock().now().unix_timestamp();
    let long = github_for_google(&cloud, json!({"iat": now, "exp": now + 48 * 3600 + 1})).await;
    let (s, b) = exchange(&cloud, GITHUB, &long, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
}

/// Issue 13, finding 7: a critical header extension nobody understands must refuse the token.
#[tokio::test]
async fn a_token_with_an_unknown_critical_header_extension_is_refused() {
    let cloud = fixed_cloud().await;
    let ok = github_for_google(&cloud, json!({})).await;
    let parts: Vec<&str> = ok.split('.').collect();
    let mut header: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let resigned = cloudid_tests::sts::sign_with_github_key(&header, &claims);
    let (s, b) = exchange(&cloud, GITHUB, &resigned, JWT).await;
    assert_eq!(s, 200, "the same token re-signed without crit is accepted: {b}");
    header["crit"] = json!(["https://example.invalid/must-understand"]);
    header["https://example.invalid/must-understand"] = json!(true);
    let critical = cloudid_tests::sts::sign_with_github_key(&header, &claims);
    let (s, b) = exchange(&cloud, GITHUB, &critical, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert!(b["error_description"].as_str().unwrap().contains("crit"), "{b}");
}

#[tokio::test]
async fn an_oversized_scope_is_refused_before_any_token_is_made() {
    let cloud = fixed_cloud().await;
    let ok = github_for_google(&cloud, json!({})).await;
    let scope = format!("https://www.googleapis.com/auth/{}", "x".repeat(500_000));
    let body = form_encode(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("audience", GITHUB),
        ("scope", &scope),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("subject_token", &ok),
        ("subject_token_type", JWT),
    ]);
    let r = Client::new().post(format!("{}/v1/token", cloud.endpoint())).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
    let (s, b): (u16, Value) = (r.status().as_u16(), r.json().await.unwrap());
    assert_refused(&cloud, s, &b, "invalid_scope");
}

/// Issue 13 (second attack): a GetCallerIdentity signed for an STS host that does not exist
/// (`sts.evil.amazonaws.com`) cannot reach AWS, so Google STS cannot accept it.
#[tokio::test]
async fn an_aws_subject_token_for_a_host_that_is_no_sts_endpoint_is_refused() {
    let cloud = fixed_cloud().await;
    let creds = imds_credentials(&cloud).await;
    let token = aws_subject_token(&creds, EMBULK, "evil", to_system(cloud.clock().now()));
    let (s, b) = exchange(&cloud, EMBULK, &encode(&token), AWS4).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
}

/// Issue 13 (second attack): Google STS checked `exp` and `iat` but not `nbf`.
#[tokio::test]
async fn an_id_token_not_yet_valid_is_refused() {
    let cloud = fixed_cloud().await;
    let now = cloud.clock().now().unix_timestamp();
    let early = github_for_google(&cloud, json!({"nbf": now + 86_400})).await;
    let (s, b) = exchange(&cloud, GITHUB, &early, JWT).await;
    assert_refused(&cloud, s, &b, "invalid_grant");
    assert!(b["error_description"].as_str().unwrap().contains("not valid before"), "{b}");
}

/// Issue 20: `/v1/introspect` answers with the fields Google's reference lists (`active`,
/// `client_id`, `exp`, `iat`, `iss`, `scope`, `sub`, `username`), so a client can name the account.
#[tokio::test]
async fn introspect_names_the_federated_principal_with_the_fields_google_lists() {
    let cloud = fixed_cloud().await;
    let ok = github_for_google(&cloud, json!({})).await;
    let (s, b) = exchange(&cloud, GITHUB, &ok, JWT).await;
    assert_eq!(s, 200, "{b}");
    let token = b["access_token"].as_str().unwrap();
    let answer: Value = Client::new()
        .post(format!("{}/v1/introspect", cloud.endpoint()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_encode(&[("token", token), ("token_type_hint", "urn:ietf:params:oauth:token-type:access_token")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for field in ["active", "client_id", "exp", "iat", "iss", "scope", "sub", "username"] {
        assert!(answer.get(field).is_some(), "{field} missing: {answer}");
    }
    let principal = "principal://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/subject/repo:acme/ecs-express-mode-api:ref:refs/heads/main";
    assert_eq!(answer["username"], principal);
    assert_eq!(answer["active"], true);
    assert!(answer["exp"].as_i64().unwrap() > answer["iat"].as_i64().unwrap());
    let unknown: Value =
        Client::new().post(format!("{}/v1/introspect", cloud.endpoint())).body("token=nope").header("content-type", "application/x-www-form-urlencoded").send().await.unwrap().json().await.unwrap();
    assert_eq!(unknown, json!({"active": false}));
}
