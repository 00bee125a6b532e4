//! AWS STS over HTTP: the seeds' web-identity flows, signed calls, the attack table (each denied
//! with STS's code, nothing issued), and the exact XML (snapshots).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudid_mock::{CloudId, Verdict};
use cloudid_tests::fixed_cloud;
use cloudid_tests::sts::*;
use serde_json::{Value, json};

const GITHUB_ROLE: &str = "GitHubActionsECRRole";
const GOOGLE_ROLE: &str = "reply-bot-cloudrun-workload-identity-staging";

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// The last journal entry was refused with no credentials issued.
fn assert_denied(cloud: &CloudId, status: u16, body: &str, code: &str, expected_status: u16) {
    assert_eq!(tag(body, "Code").as_deref(), Some(code), "{body}");
    assert_eq!(status, expected_status, "{body}");
    assert!(body.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"), "{body}");
    assert!(tag(body, "RequestId").is_some());
    let last = cloud.journal().pop().unwrap();
    assert_eq!(last.service, "aws_sts");
    assert!(last.issued.is_none(), "nothing issued on refusal");
    assert!(!body.contains("<AccessKeyId>"));
    if code != "ValidationError" {
        assert_eq!(last.verdict, Verdict::Denied, "{last:?}");
    }
}

#[tokio::test]
async fn seed_001_a_github_token_assumes_the_ecr_role() {
    let cloud = fixed_cloud().await;
    let token = github_token(&cloud, json!({})).await;
    let (status, body) = web_identity(&cloud, GITHUB_ROLE, &token, &[("DurationSeconds", "3600")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tag(&body, "Arn").unwrap(), "arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/cloudid-test");
    assert_eq!(tag(&body, "Provider").unwrap(), "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com");
    assert_eq!(tag(&body, "Audience").unwrap(), "sts.amazonaws.com");
    assert_eq!(tag(&body, "SubjectFromWebIdentityToken").unwrap(), "repo:acme/ecs-express-mode-api:ref:refs/heads/main");
    assert_eq!(tag(&body, "Expiration").unwrap(), "2026-11-30T13:00:00Z");
    let entry = cloud.journal().pop().unwrap();
    assert_eq!((entry.operation.as_str(), entry.verdict), ("AssumeRoleWithWebIdentity", Verdict::Granted));
    let names: Vec<&str> = entry.checks.iter().map(|c| c.name.as_ref()).collect();
    assert_eq!(names, ["sts.params", "sts.role", "jwt.decode", "jwt.provider", "jwt.audience", "jwt.signature", "jwt.times", "iam.trust_policy", "sts.duration"]);
    assert_eq!(entry.issued.unwrap().access_key_id, tag(&body, "AccessKeyId"));
    insta::assert_snapshot!("sts_assume_role_with_web_identity", body);

    let creds = credentials_of(&body);
    let (status, who) = caller_identity(&cloud, &creds).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(tag(&who, "Arn").unwrap(), "arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/cloudid-test");
    assert!(tag(&who, "UserId").unwrap().starts_with("AROA"));
    insta::assert_snapshot!("sts_get_caller_identity", who);
}

#[tokio::test]
async fn seed_000_a_google_identity_token_assumes_the_cloud_run_role() {
    let cloud = fixed_cloud().await;
    let token = mint(&cloud, "google", json!({"audience": "reply-bot.apps.googleusercontent.com"})).await;
    let (status, body) = web_identity(&cloud, GOOGLE_ROLE, &token, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tag(&body, "Provider").unwrap(), "arn:aws:iam::123456789012:oidc-provider/accounts.google.com");
    assert_eq!(tag(&body, "SubjectFromWebIdentityToken").unwrap(), "104412345678901234567");
    let checks = cloud.journal().pop().unwrap().checks;
    assert!(checks.iter().any(|c| c.name == "iam.trust_policy" && c.outcome == cloudid_mock::Outcome::Pass));

    let other_sa = mint(&cloud, "google", json!({"audience": "reply-bot.apps.googleusercontent.com", "service_account": "deployer@acme-data.iam.gserviceaccount.com"})).await;
    let (status, body) = web_identity(&cloud, GOOGLE_ROLE, &other_sa, &[]).await;
    assert_denied(&cloud, status, &body, "AccessDenied", 403);
    assert_eq!(tag(&body, "Message").unwrap(), "Not authorized to perform sts:AssumeRoleWithWebIdentity");
}

#[tokio::test]
async fn the_get_query_form_answers_like_the_post_form() {
    let cloud = fixed_cloud().await;
    let token = github_token(&cloud, json!({})).await;
    let url = format!(
        "{}/?{}",
        cloud.endpoint(),
        form_encode(&[("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", &role_arn(GITHUB_ROLE)), ("RoleSessionName", "qs"), ("WebIdentityToken", &token)])
    );
    let r = reqwest::get(url).await.unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(tag(&body, "Arn").unwrap(), "arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/qs");
}

#[tokio::test]
async fn a_token_file_newline_is_tolerated_as_sts_tolerates_it() {
    let cloud = fixed_cloud().await;
    let token = github_token(&cloud, json!({})).await + "\n";
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &token, &[]).await.0, 200);
}

async fn refused(cloud: &CloudId, role: &str, token: &str, code: &str, status: u16) -> String {
    let (s, body) = web_identity(cloud, role, token, &[]).await;
    assert_denied(cloud, s, &body, code, status);
    tag(&body, "Message").unwrap()
}

#[tokio::test]
async fn alg_none_and_hmac_with_the_public_key_are_refused() {
    let cloud = fixed_cloud().await;
    let good = github_token(&cloud, json!({})).await;
    let payload = good.split('.').nth(1).unwrap().to_string();
    let none = format!("{}.{payload}.", b64(&json!({"alg": "none", "typ": "JWT"})));
    refused(&cloud, GITHUB_ROLE, &none, "InvalidIdentityToken", 400).await;

    let key = cloudid_mock::world::issuers::SigningKey::fixture("github-actions-1").unwrap();
    let header = b64(&json!({"alg": "HS256", "kid": key.kid, "typ": "JWT"}));
    let public_key = URL_SAFE_NO_PAD.decode(key.jwk.n.clone().unwrap()).unwrap();
    let input = format!("{header}.{payload}");
    let mac = aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public_key), input.as_bytes());
    let hs = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
    let msg = refused(&cloud, GITHUB_ROLE, &hs, "InvalidIdentityToken", 400).await;
    assert!(msg.contains("supported algorithm"), "{msg}");
}

#[tokio::test]
async fn an_unknown_kid_a_foreign_key_and_a_tampered_payload_are_refused() {
    let cloud = fixed_cloud().await;
    let now = cloud.clock().now().unix_timestamp();
    let claims = json!({"iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com", "sub": "repo:acme/ecs-express-mode-api:ref:refs/heads/main", "iat": now, "exp": now + 300});
    let foreign = cloudid_mock::world::issuers::SigningKey::fixture("extra-issuer-1").unwrap().sign(&claims, &Default::default());
    let msg = refused(&cloud, GITHUB_ROLE, &foreign, "InvalidIdentityToken", 400).await;
    assert!(msg.starts_with("Couldn't retrieve verification key"), "{msg}");

    let good = github_token(&cloud, json!({})).await;
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let mut body: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
    body["sub"] = json!("repo:acme/ecs-express-mode-api:ref:refs/heads/main ");
    parts[1] = b64(&body);
    let msg = refused(&cloud, GITHUB_ROLE, &parts.join("."), "InvalidIdentityToken", 400).await;
    assert!(msg.contains("could not be validated"), "{msg}");
}

#[tokio::test]
async fn a_token_without_sub_or_exp_and_a_body_over_one_mebibyte_are_refused() {
    let cloud = fixed_cloud().await;
    let now = cloud.clock().now().unix_timestamp();
    let key = cloudid_mock::world::issuers::SigningKey::fixture("github-actions-1").unwrap();
    let base = json!({"iss": "https://token.actions.githubusercontent.com", "aud": "sts.amazonaws.com", "sub": "repo:acme/ecs-express-mode-api:ref:refs/heads/main", "iat": now, "exp": now + 300});
    for (claim, message) in [("sub", "The token has no subject (sub) claim."), ("exp", "The token has no expiration (exp) claim.")] {
        let mut claims = base.clone();
        claims.as_object_mut().unwrap().remove(claim);
        let token = key.sign(&claims, &Default::default());
        assert_eq!(refused(&cloud, GITHUB_ROLE, &token, "InvalidIdentityToken", 400).await, message);
    }
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &key.sign(&base, &Default::default()), &[]).await.0, 200, "the same key signs a good token");
    let huge = "A".repeat((1 << 20) + 1);
    let (s, body) = web_identity(&cloud, GITHUB_ROLE, &huge, &[]).await;
    assert_eq!((s, tag(&body, "Code").as_deref()), (413, Some("RequestEntityTooLarge")), "{body}");
    let last = cloud.journal().pop().unwrap();
    assert!(last.checks.iter().any(|c| c.name == "sts.body" && c.outcome == cloudid_mock::Outcome::Fail), "{last:#?}");
    assert!(last.issued.is_none());
}

#[tokio::test]
async fn a_wrong_issuer_or_audience_is_refused() {
    let cloud = fixed_cloud().await;
    let evil = github_token(&cloud, json!({"iss": "https://evil.example"})).await;
    assert_eq!(refused(&cloud, GITHUB_ROLE, &evil, "InvalidIdentityToken", 400).await, "No OpenIDConnect provider found in your account for https://evil.example");
    let aud = github_token(&cloud, json!({"aud": "https://github.com/acme"})).await;
    assert_eq!(refused(&cloud, GITHUB_ROLE, &aud, "InvalidIdentityToken", 400).await, "Incorrect token audience");
}

#[tokio::test]
async fn subjects_from_another_repository_or_branch_are_denied_by_the_trust_policy() {
    let cloud = fixed_cloud().await;
    for sub in [
        "repo:acme/other-repo:ref:refs/heads/main",
        "repo:acme/ecs-express-mode-api:ref:refs/heads/feature",
        "repo:acme/ecs-express-mode-api:pull_request",
        "repo:evil/ecs-express-mode-api:ref:refs/heads/main",
    ] {
        let t = github_token(&cloud, json!({"sub": sub})).await;
        assert_eq!(refused(&cloud, GITHUB_ROLE, &t, "AccessDenied", 403).await, "Not authorized to perform sts:AssumeRoleWithWebIdentity");
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused_with_aws_leeway() {
    let cloud = fixed_cloud().await;
    let now = cloud.clock().now().unix_timestamp();
    let within = github_token(&cloud, json!({"exp": now - 299})).await;
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &within, &[]).await.0, 200, "IAM allows five minutes past exp");
    let expired = github_token(&cloud, json!({"exp": now - 301})).await;
    let msg = refused(&cloud, GITHUB_ROLE, &expired, "ExpiredTokenException", 400).await;
    assert_eq!(msg, format!("Token expired: current date/time {now} must be before the expiration date/time {}", now - 301));
    let future = github_token(&cloud, json!({"nbf": now + 600})).await;
    refused(&cloud, GITHUB_ROLE, &future, "InvalidIdentityToken", 400).await;
    let stringly = github_token(&cloud, json!({"exp": (now + 300).to_string()})).await;
    refused(&cloud, GITHUB_ROLE, &stringly, "InvalidIdentityToken", 400).await;
    cloud.clock().advance(Duration::from_secs(601));
    let later = github_token(&cloud, json!({})).await;
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &later, &[]).await.0, 200);
}

#[tokio::test]
async fn a_role_without_a_matching_statement_or_with_an_explicit_deny_is_refused() {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace(
        "    # Seed 000: Cloud Run",
        "    - name: denied-role\n      trust_policy:\n        Statement:\n          - Effect: Allow\n            Principal: {Federated: arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com}\n            Action: sts:AssumeRoleWithWebIdentity\n          - Effect: Deny\n            Principal: '*'\n            Action: sts:*\n            Condition: {StringLike: {token.actions.githubusercontent.com:sub: 'repo:acme/*'}}\n    # Seed 000: Cloud Run",
    );
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let token = github_token(&cloud, json!({})).await;
    refused(&cloud, "embulk-gcp-access", &token, "AccessDenied", 403).await;
    refused(&cloud, "denied-role", &token, "AccessDenied", 403).await;
    let checks = cloud.journal().pop().unwrap().checks;
    assert!(checks.iter().any(|c| c.detail.as_deref().is_some_and(|d| d.contains("explicitly denied by statement 1"))), "{checks:?}");
    refused(&cloud, "no-such-role", &token, "AccessDenied", 403).await;
}

#[tokio::test]
async fn an_unreachable_issuer_is_an_idp_communication_error() {
    let yaml = format!("{}\nissuers:\n  - name: github\n    unreachable: true\n", cloudid_mock::world::load::DEFAULT_WORLD_YAML);
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().start().await;
    let token = github_token(&cloud, json!({})).await;
    refused(&cloud, GITHUB_ROLE, &token, "IDPCommunicationError", 400).await;
}

#[tokio::test]
async fn an_oauth2_provider_id_is_rejected_by_that_provider_and_any_other_is_an_invalid_token() {
    let cloud = fixed_cloud().await;
    let token = github_token(&cloud, json!({})).await;
    let (s, body) = web_identity(&cloud, GITHUB_ROLE, &token, &[("ProviderId", "graph.facebook.com")]).await;
    assert_denied(&cloud, s, &body, "IDPRejectedClaim", 403);
    assert_eq!(tag(&body, "Message").unwrap(), "graph.facebook.com: graph.facebook.com responded with HTTP/1.1 400 Bad Request");
    let (s, body) = web_identity(&cloud, GITHUB_ROLE, "Atza|IQEBLjAsAhRFiXuWpUXuRvQ9PZL3GMFcYevydwIUFAHZwXZXX", &[("ProviderId", "www.amazon.com")]).await;
    assert_denied(&cloud, s, &body, "IDPRejectedClaim", 403);
    let (s, body) = web_identity(&cloud, GITHUB_ROLE, &token, &[("ProviderId", "token.actions.githubusercontent.com")]).await;
    assert_denied(&cloud, s, &body, "InvalidIdentityToken", 400);
    assert!(tag(&body, "Message").unwrap().contains("ProviderId is only for OAuth 2.0 access tokens"), "{body}");
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &token, &[]).await.0, 200, "the same token without ProviderId is good");
}

#[tokio::test]
async fn session_parameters_are_validated_by_the_server() {
    let cloud = fixed_cloud().await;
    let token = github_token(&cloud, json!({})).await;
    let (s, body) = web_identity(&cloud, GITHUB_ROLE, &token, &[("DurationSeconds", "7200")]).await;
    assert_denied(&cloud, s, &body, "ValidationError", 400);
    assert_eq!(tag(&body, "Message").unwrap(), "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
    let (s, body) = web_identity(&cloud, GITHUB_ROLE, &token, &[("DurationSeconds", "899")]).await;
    assert_denied(&cloud, s, &body, "ValidationError", 400);
    let arn = role_arn(GITHUB_ROLE);
    let (s, body) = post_form(&cloud, &[("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", &arn), ("RoleSessionName", "bad name!"), ("WebIdentityToken", &token)]).await;
    assert_denied(&cloud, s, &body, "ValidationError", 400);
    insta::assert_snapshot!("sts_validation_error", body);
    let (s, body) = post_form(&cloud, &[("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", &arn), ("WebIdentityToken", &token)]).await;
    assert_eq!((s, tag(&body, "Code").unwrap().as_str()), (400, "MissingParameter"));
    let (s, body) = post_form(&cloud, &[("Action", "ListRoles"), ("Version", "2011-06-15")]).await;
    assert_eq!((s, tag(&body, "Code").unwrap().as_str()), (400, "InvalidAction"));
    insta::assert_snapshot!("sts_invalid_action", body);
}

async fn session(cloud: &CloudId) -> aws_credential_types::Credentials {
    let token = github_token(cloud, json!({})).await;
    let (s, body) = web_identity(cloud, GITHUB_ROLE, &token, &[]).await;
    assert_eq!(s, 200);
    credentials_of(&body)
}

#[tokio::test]
async fn signed_calls_refuse_tampering_bad_scopes_skew_and_bad_credentials() {
    let cloud = fixed_cloud().await;
    let creds = session(&cloud).await;
    let now = to_system(cloud.clock().now());
    let gci = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];

    let mut tampered = sign_form(&cloud, &creds, &gci, "ap-northeast-1", "sts", now);
    tampered.headers.iter_mut().find(|(k, _)| k == "content-type").unwrap().1 = "application/x-www-form-urlencoded".into();
    let (s, body) = send_signed(&cloud, &tampered).await;
    assert_denied(&cloud, s, &body, "SignatureDoesNotMatch", 403);
    assert!(tag(&body, "Message").unwrap().starts_with("The request signature we calculated does not match the signature you provided."));

    let mut body_changed = sign_form(&cloud, &creds, &gci, "ap-northeast-1", "sts", now);
    body_changed.body = "Action=GetCallerIdentity&Version=2011-06-15&X=1".into();
    let (s, body) = send_signed(&cloud, &body_changed).await;
    assert_denied(&cloud, s, &body, "SignatureDoesNotMatch", 403);

    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &gci, "us-nowhere-9", "sts", now)).await;
    assert_denied(&cloud, s, &body, "SignatureDoesNotMatch", 403);
    assert_eq!(tag(&body, "Message").unwrap(), "Credential should be scoped to a valid region, not 'us-nowhere-9'. ");
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &gci, "ap-northeast-1", "s3", now)).await;
    assert_denied(&cloud, s, &body, "SignatureDoesNotMatch", 403);
    assert_eq!(tag(&body, "Message").unwrap(), "Credential should be scoped to correct service: 'sts'. ");

    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &gci, "ap-northeast-1", "sts", now - Duration::from_secs(16 * 60))).await;
    assert_denied(&cloud, s, &body, "SignatureDoesNotMatch", 403);
    assert_eq!(tag(&body, "Message").unwrap(), "Signature expired: 20261130T114400Z is now earlier than 20261130T114500Z (20261130T120000Z - 15 min.)");
    insta::assert_snapshot!("sts_signature_expired", body);
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &gci, "ap-northeast-1", "sts", now + Duration::from_secs(16 * 60))).await;
    assert_denied(&cloud, s, &body, "SignatureDoesNotMatch", 403);
    assert!(tag(&body, "Message").unwrap().starts_with("Signature not yet current: 20261130T121600Z is still later than"));
    assert_eq!(send_signed(&cloud, &sign_form(&cloud, &creds, &gci, "ap-northeast-1", "sts", now - Duration::from_secs(14 * 60))).await.0, 200);

    let no_token = aws_credential_types::Credentials::new(creds.access_key_id(), creds.secret_access_key(), None, None, "t");
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &no_token, &gci, "ap-northeast-1", "sts", now)).await;
    assert_denied(&cloud, s, &body, "InvalidClientTokenId", 403);
    assert_eq!(tag(&body, "Message").unwrap(), "The security token included in the request is invalid.");

    let unknown = aws_credential_types::Credentials::new("ASIAUNKNOWNKEY000000", "x".repeat(40), Some("t".into()), None, "t");
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &unknown, &gci, "ap-northeast-1", "sts", now)).await;
    assert_denied(&cloud, s, &body, "InvalidClientTokenId", 403);
    insta::assert_snapshot!("sts_invalid_client_token_id", body);

    let wrong_secret = aws_credential_types::Credentials::new(creds.access_key_id(), "y".repeat(40), creds.session_token().map(str::to_string), None, "t");
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &wrong_secret, &gci, "ap-northeast-1", "sts", now)).await;
    assert_denied(&cloud, s, &body, "SignatureDoesNotMatch", 403);

    let (s, body) = post_form(&cloud, &gci).await;
    assert_denied(&cloud, s, &body, "MissingAuthenticationToken", 403);

    cloud.clock().advance(Duration::from_secs(3601));
    let (s, body) = caller_identity(&cloud, &creds).await;
    assert_denied(&cloud, s, &body, "ExpiredToken", 400);
    assert_eq!(tag(&body, "Message").unwrap(), "The security token included in the request is expired");
}

#[tokio::test]
async fn get_access_key_info_reads_the_account_from_any_key_and_session_credentials_get_no_session_or_federation_token() {
    let cloud = CloudId::builder().world_yaml(&multi_account_world()).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let creds = session(&cloud).await;
    let now = to_system(cloud.clock().now());
    let info = |key: &str| vec![("Action", "GetAccessKeyInfo".to_string()), ("Version", "2011-06-15".to_string()), ("AccessKeyId", key.to_string())];
    let call = |form: Vec<(&'static str, String)>| {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sign_form(&cloud, &creds, &form, "ap-northeast-1", "sts", now)
    };
    let (s, body) = send_signed(&cloud, &call(info(creds.access_key_id()))).await;
    assert_eq!((s, tag(&body, "Account").as_deref()), (200, Some("123456789012")), "{body}");
    insta::assert_snapshot!("sts_get_access_key_info", body);
    let (s, body) = send_signed(&cloud, &call(info("ASIAY34FZKBOKMUTVV7A"))).await;
    assert_eq!((s, tag(&body, "Account").as_deref()), (200, Some("609629065308")), "a key of another account, never issued here: {body}");
    let form = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", "arn:aws:iam::210987654321:role/ci/deployer"), ("RoleSessionName", "deploy")];
    let deployer = credentials_of(&send_signed(&cloud, &sign_form(&cloud, &creds, &form, "ap-northeast-1", "sts", now)).await.1);
    let (_, body) = send_signed(&cloud, &call(info(deployer.access_key_id()))).await;
    assert_eq!(tag(&body, "Account").as_deref(), Some("210987654321"), "keys carry the account of the role they are for");
    let (s, body) = send_signed(&cloud, &call(info("ASIA"))).await;
    assert_denied(&cloud, s, &body, "ValidationError", 400);
    assert_eq!(tag(&body, "Message").unwrap(), "1 validation error detected: Value 'ASIA' at 'accessKeyId' failed to satisfy constraint: Member must have length greater than or equal to 16");

    for operation in ["GetSessionToken", "GetFederationToken"] {
        let mut form = vec![("Action", operation.to_string()), ("Version", "2011-06-15".to_string())];
        if operation == "GetFederationToken" {
            form.push(("Name", "ci".to_string()));
        }
        let (s, body) = send_signed(&cloud, &call(form)).await;
        assert_denied(&cloud, s, &body, "AccessDenied", 403);
        assert_eq!(tag(&body, "Message").unwrap(), format!("Cannot call {operation} with session credentials"));
        insta::assert_snapshot!(format!("sts_{operation}_with_session_credentials"), body);
    }
    let (s, body) = post_form(&cloud, &[("Action", "GetSessionToken"), ("Version", "2011-06-15")]).await;
    assert_denied(&cloud, s, &body, "MissingAuthenticationToken", 403);
}

async fn web_identity_token(cloud: &CloudId, creds: &aws_credential_types::Credentials, extra: &[(&str, &str)]) -> (u16, String) {
    let mut form = vec![("Action", "GetWebIdentityToken"), ("Version", "2011-06-15")];
    form.extend_from_slice(extra);
    send_signed(cloud, &sign_form(cloud, creds, &form, "ap-northeast-1", "sts", to_system(cloud.clock().now()))).await
}

async fn jwks(cloud: &CloudId, url: &str, host: Option<&str>) -> Vec<cloudid_mock::verify::jwt::PreparedKey> {
    let mut req = reqwest::Client::new().get(url);
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let doc: Value = req.send().await.unwrap().json().await.unwrap();
    let _ = cloud;
    doc["keys"].as_array().unwrap().iter().map(|k| cloudid_mock::verify::jwt::PreparedKey::new(serde_json::from_value(k.clone()).unwrap())).collect()
}

#[tokio::test]
async fn get_web_identity_token_signs_rs256_and_es384_tokens_that_the_accounts_issuer_verifies() {
    let cloud = CloudId::builder().world_yaml(&outbound_world()).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let creds = session(&cloud).await;
    let iss = cloudid_mock::world::issuers::aws_outbound_iss("123456789012");
    let host = iss.strip_prefix("https://").unwrap().to_string();
    assert!(host.ends_with(".tokens.sts.global.api.aws"), "{iss}");
    let by_path = jwks(&cloud, &format!("{}/issuers/aws-outbound-123456789012/.well-known/jwks.json", cloud.endpoint()), None).await;
    let by_host = jwks(&cloud, &format!("{}/.well-known/jwks.json", cloud.endpoint()), Some(&host)).await;
    assert_eq!(by_path.len(), 2, "an RSA and a P-384 key");
    assert_eq!(by_path.iter().map(|k| k.kid().to_string()).collect::<Vec<_>>(), by_host.iter().map(|k| k.kid().to_string()).collect::<Vec<_>>());
    let discovery: Value = reqwest::Client::new().get(format!("{}/.well-known/openid-configuration", cloud.endpoint())).header("host", &host).send().await.unwrap().json().await.unwrap();
    assert_eq!((discovery["issuer"].as_str(), discovery["jwks_uri"].as_str()), (Some(iss.as_str()), Some(format!("{iss}/.well-known/jwks.json").as_str())));

    let (s, body) =
        web_identity_token(&cloud, &creds, &[("Audience.member.1", "https://api.example.com"), ("SigningAlgorithm", "RS256"), ("Tags.member.1.Key", "job-id"), ("Tags.member.1.Value", "42")]).await;
    assert_eq!(s, 200, "{body}");
    insta::assert_snapshot!("sts_get_web_identity_token", body);
    let token = tag(&body, "WebIdentityToken").unwrap();
    let decoded = cloudid_mock::verify::jwt::decode(&token).unwrap();
    assert_eq!(decoded.header.alg, "RS256");
    decoded.verify(&by_host).expect("verifies with the published keys");
    let now = cloud.clock().now().unix_timestamp();
    let claims = Value::Object(decoded.claims.clone());
    assert_eq!(claims["iss"], iss.as_str());
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(claims["sub"], "arn:aws:iam::123456789012:role/GitHubActionsECRRole");
    assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(now), Some(now + 300)));
    assert_eq!(
        claims["https://sts.amazonaws.com/"],
        json!({"aws_account": "123456789012", "source_region": "ap-northeast-1", "principal_id": "arn:aws:iam::123456789012:role/GitHubActionsECRRole", "request_tags": {"job-id": "42"}})
    );
    let last = cloud.journal().pop().unwrap();
    assert_eq!(last.verdict, Verdict::Granted);
    assert_eq!(last.issued.as_ref().unwrap().token_fingerprint, cloudid_mock::fingerprint(&token));

    let (s, body) = web_identity_token(&cloud, &creds, &[("Audience.member.1", "a"), ("Audience.member.2", "b"), ("SigningAlgorithm", "ES384"), ("DurationSeconds", "60")]).await;
    assert_eq!(s, 200, "{body}");
    let decoded = cloudid_mock::verify::jwt::decode(&tag(&body, "WebIdentityToken").unwrap()).unwrap();
    assert_eq!(decoded.header.alg, "ES384");
    decoded.verify(&by_path).expect("the P-384 key verifies it");
    assert_eq!(Value::Object(decoded.claims.clone())["aud"], json!(["a", "b"]));
    assert!(cloudid_mock::verify::jwt::decode(&token).unwrap().verify(&by_path[1..]).is_err(), "the RS256 token does not verify with the P-384 key");
}

#[tokio::test]
async fn get_web_identity_token_is_refused_when_disabled_malformed_outliving_the_session_or_unsigned() {
    let cloud = CloudId::builder().world_yaml(&outbound_world()).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let creds = session(&cloud).await;
    let ok = [("Audience.member.1", "https://api.example.com"), ("SigningAlgorithm", "RS256")];
    for (extra, message) in [
        (vec![("SigningAlgorithm", "RS256")], "1 validation error detected: Value 'null' at 'audience' failed to satisfy constraint: Member must not be null"),
        (
            vec![("Audience.member.1", "x"), ("SigningAlgorithm", "HS256")],
            "1 validation error detected: Value 'HS256' at 'signingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RS256, ES384]",
        ),
        (
            vec![("Audience.member.1", "x"), ("SigningAlgorithm", "RS256"), ("DurationSeconds", "3601")],
            "1 validation error detected: Value '3601' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 3600",
        ),
        (
            vec![("Audience.member.1", "x"), ("SigningAlgorithm", "RS256"), ("DurationSeconds", "59")],
            "1 validation error detected: Value '59' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
        ),
        (
            vec![("Audience.member.1", "x"), ("SigningAlgorithm", "RS256"), ("DurationSeconds", "soon")],
            "1 validation error detected: Value 'soon' at 'durationSeconds' failed to satisfy constraint: Member must be an integer",
        ),
    ] {
        let (s, body) = web_identity_token(&cloud, &creds, &extra).await;
        assert_denied(&cloud, s, &body, "ValidationError", 400);
        assert_eq!(tag(&body, "Message").unwrap(), message);
    }
    let eleven: Vec<String> = (1..=11).map(|i| format!("Audience.member.{i}")).collect();
    let mut many: Vec<(&str, &str)> = eleven.iter().map(|k| (k.as_str(), "x")).collect();
    many.push(("SigningAlgorithm", "RS256"));
    let (s, body) = web_identity_token(&cloud, &creds, &many).await;
    assert_denied(&cloud, s, &body, "ValidationError", 400);

    cloud.clock().advance(Duration::from_secs(3600 - 100));
    let (s, body) = web_identity_token(&cloud, &creds, &ok).await;
    assert_denied(&cloud, s, &body, "SessionDurationEscalationException", 403);
    let (s, _) = web_identity_token(&cloud, &creds, &[ok[0], ok[1], ("DurationSeconds", "90")]).await;
    assert_eq!(s, 200, "a token inside the session's remaining 100 s is fine");
    let (s, body) = post_form(&cloud, &[("Action", "GetWebIdentityToken"), ("Version", "2011-06-15"), ok[0], ok[1]]).await;
    assert_denied(&cloud, s, &body, "MissingAuthenticationToken", 403);

    let disabled = fixed_cloud().await;
    let creds = session(&disabled).await;
    let (s, body) = web_identity_token(&disabled, &creds, &ok).await;
    assert_denied(&disabled, s, &body, "OutboundWebIdentityFederationDisabledException", 403);
    insta::assert_snapshot!("sts_get_web_identity_token_disabled", body);
    let (s, _) = reqwest::Client::new().get(format!("{}/issuers/aws-outbound-123456789012/.well-known/jwks.json", disabled.endpoint())).send().await.map(|r| (r.status().as_u16(), ())).unwrap();
    assert_eq!(s, 404, "no issuer for an account without outbound federation");
}

#[tokio::test]
async fn a_real_sts_host_pins_the_signing_region() {
    let cloud = fixed_cloud().await;
    let creds = session(&cloud).await;
    let gci = [("Action", "GetCallerIdentity"), ("Version", "2011-06-15")];
    let now = to_system(cloud.clock().now());
    for (host, region, ok) in [
        ("sts.amazonaws.com", "us-east-1", true),
        ("sts.amazonaws.com", "ap-northeast-1", false),
        ("sts.ap-northeast-1.amazonaws.com", "ap-northeast-1", true),
        ("sts.ap-northeast-1.amazonaws.com", "us-west-2", false),
    ] {
        let (status, body) = send_signed(&cloud, &sign_for_host(&creds, &gci, region, now, host)).await;
        assert_eq!(status == 200, ok, "{host} {region}: {body}");
    }
}

/// Signs as a client configured for the real STS host `host` would (the request still reaches
/// the test server; the Host header names the real host).
fn sign_for_host(creds: &aws_credential_types::Credentials, form: &[(&str, &str)], region: &str, now: std::time::SystemTime, host: &str) -> Signed {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let body = form_encode(form);
    let base = vec![("content-type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()), ("host".to_string(), host.to_string())];
    let identity = creds.clone().into();
    let params = aws_sigv4::sign::v4::SigningParams::builder().identity(&identity).region(region).name("sts").time(now).settings(SigningSettings::default()).build().unwrap().into();
    let signable = SignableRequest::new("POST", format!("https://{host}/"), base.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(body.as_bytes())).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers = base;
    for (k, v) in instructions.headers() {
        headers.push((k.to_ascii_lowercase(), v.to_string()));
    }
    Signed { headers, body }
}

#[tokio::test]
async fn assume_role_chains_from_a_session_capped_at_one_hour() {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace(
        "    # Seed 000: Cloud Run",
        "    - name: chained-reader\n      max_session_duration: 7200\n      trust_policy:\n        Statement:\n          - Effect: Allow\n            Principal: {AWS: arn:aws:iam::123456789012:role/GitHubActionsECRRole}\n            Action: sts:AssumeRole\n            Condition: {StringEquals: {sts:ExternalId: ext-123}}\n    # Seed 000: Cloud Run",
    );
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let creds = session(&cloud).await;
    let now = to_system(cloud.clock().now());
    let arn = role_arn("chained-reader");
    let ok = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", arn.as_str()), ("RoleSessionName", "chain"), ("ExternalId", "ext-123")];
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &ok, "ap-northeast-1", "sts", now)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(tag(&body, "Arn").unwrap(), "arn:aws:sts::123456789012:assumed-role/chained-reader/chain");
    insta::assert_snapshot!("sts_assume_role", body);
    let chained = credentials_of(&body);
    let (_, who) = caller_identity(&cloud, &chained).await;
    assert_eq!(tag(&who, "Arn").unwrap(), "arn:aws:sts::123456789012:assumed-role/chained-reader/chain");

    let wrong_ext = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", arn.as_str()), ("RoleSessionName", "chain"), ("ExternalId", "nope")];
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &wrong_ext, "ap-northeast-1", "sts", now)).await;
    assert_denied(&cloud, s, &body, "AccessDenied", 403);
    let long = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", arn.as_str()), ("RoleSessionName", "chain"), ("ExternalId", "ext-123"), ("DurationSeconds", "7200")];
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &long, "ap-northeast-1", "sts", now)).await;
    assert_denied(&cloud, s, &body, "ValidationError", 400);
    assert_eq!(tag(&body, "Message").unwrap(), "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.");
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &chained, &ok, "ap-northeast-1", "sts", now)).await;
    assert_denied(&cloud, s, &body, "AccessDenied", 403);
}

#[tokio::test]
async fn a_session_assumes_a_role_in_another_account_that_trusts_it_and_is_refused_by_one_that_does_not() {
    let cloud = CloudId::builder().world_yaml(&multi_account_world()).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let creds = session(&cloud).await;
    let now = to_system(cloud.clock().now());
    let assume = |arn: &'static str| [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", arn), ("RoleSessionName", "deploy")];
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &assume("arn:aws:iam::210987654321:role/ci/deployer"), "ap-northeast-1", "sts", now)).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(tag(&body, "Arn").unwrap(), "arn:aws:sts::210987654321:assumed-role/deployer/deploy");
    let role_id = tag(&body, "AssumedRoleId").unwrap();
    assert!(role_id.starts_with("AROA") && role_id.ends_with(":deploy"), "{role_id}");
    let (_, who) = caller_identity(&cloud, &credentials_of(&body)).await;
    assert_eq!(tag(&who, "Account").unwrap(), "210987654321");
    assert_eq!(tag(&who, "Arn").unwrap(), "arn:aws:sts::210987654321:assumed-role/deployer/deploy");
    assert_eq!(tag(&who, "UserId").unwrap(), role_id);

    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &assume("arn:aws:iam::210987654321:role/audit"), "ap-northeast-1", "sts", now)).await;
    assert_denied(&cloud, s, &body, "AccessDenied", 403);
    assert_eq!(
        tag(&body, "Message").unwrap(),
        "User: arn:aws:sts::123456789012:assumed-role/GitHubActionsECRRole/cloudid-test is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/audit"
    );
    let (s, body) = send_signed(&cloud, &sign_form(&cloud, &creds, &assume("arn:aws:iam::999999999999:role/deployer"), "ap-northeast-1", "sts", now)).await;
    assert_denied(&cloud, s, &body, "AccessDenied", 403);
}

#[tokio::test]
async fn a_web_identity_token_is_checked_against_the_oidc_providers_of_the_roles_account() {
    let cloud = CloudId::builder().world_yaml(&multi_account_world()).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let token = github_token(&cloud, json!({})).await;
    let arn = "arn:aws:iam::210987654321:role/gh-direct";
    let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", arn), ("RoleSessionName", "direct"), ("WebIdentityToken", token.as_str())];
    let (s, body) = post_form(&cloud, &form).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(tag(&body, "Provider").unwrap(), "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com");
    assert_eq!(tag(&body, "Arn").unwrap(), "arn:aws:sts::210987654321:assumed-role/gh-direct/direct");
    let google = mint(&cloud, "google", json!({"audience": "reply-bot.apps.googleusercontent.com"})).await;
    let arn = "arn:aws:iam::210987654321:role/google-builtin";
    let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", arn), ("RoleSessionName", "direct"), ("WebIdentityToken", google.as_str())];
    let (s, body) = post_form(&cloud, &form).await;
    assert_eq!(s, 200, "accounts.google.com needs no IAM provider: {body}");
    assert_eq!(tag(&body, "Provider").unwrap(), "accounts.google.com");
    let arn = "arn:aws:iam::333333333333:role/no-provider";
    let form = [("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", arn), ("RoleSessionName", "direct"), ("WebIdentityToken", token.as_str())];
    let (s, body) = post_form(&cloud, &form).await;
    assert_denied(&cloud, s, &body, "InvalidIdentityToken", 400);
    assert_eq!(tag(&body, "Message").unwrap(), "No OpenIDConnect provider found in your account for https://token.actions.githubusercontent.com", "the other accounts' providers do not count");
}

#[tokio::test]
async fn imds_and_container_credentials_sign_calls_as_their_roles() {
    let cloud = fixed_cloud().await;
    let c = reqwest::Client::new();
    let tok = c.put(format!("{}/latest/api/token", cloud.endpoint())).header("x-aws-ec2-metadata-token-ttl-seconds", "60").send().await.unwrap().text().await.unwrap();
    let doc: Value = serde_json::from_str(
        &c.get(format!("{}/latest/meta-data/iam/security-credentials/embulk-gcp-access", cloud.endpoint())).header("x-aws-ec2-metadata-token", tok).send().await.unwrap().text().await.unwrap(),
    )
    .unwrap();
    let creds = aws_credential_types::Credentials::new(doc["AccessKeyId"].as_str().unwrap(), doc["SecretAccessKey"].as_str().unwrap(), doc["Token"].as_str().map(str::to_string), None, "imds");
    let (_, who) = caller_identity(&cloud, &creds).await;
    assert_eq!(tag(&who, "Arn").unwrap(), "arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890");
    let doc: Value = c.get(format!("{}/v2/credentials/6f1c2a4e-8b3d-4e5f-9a70-1b2c3d4e5f60", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    let creds = aws_credential_types::Credentials::new(doc["AccessKeyId"].as_str().unwrap(), doc["SecretAccessKey"].as_str().unwrap(), doc["Token"].as_str().map(str::to_string), None, "ecs");
    let (_, who) = caller_identity(&cloud, &creds).await;
    assert_eq!(tag(&who, "Arn").unwrap(), "arn:aws:sts::123456789012:assumed-role/apprunner-bigquery-task/3f9a2b7c8d1e4f5a6b7c8d9e0f1a2b3c");
}

#[tokio::test]
async fn every_refusal_keeps_the_error_response_shape() {
    let yaml = format!("{}\nissuers:\n  - name: google\n    unreachable: true\n", cloudid_mock::world::load::DEFAULT_WORLD_YAML);
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let now = cloud.clock().now().unix_timestamp();
    let mut bodies = Vec::new();
    let wrong_iss = github_token(&cloud, json!({"iss": "https://evil.example"})).await;
    bodies.push(("InvalidIdentityToken", web_identity(&cloud, GITHUB_ROLE, &wrong_iss, &[]).await.1));
    let other_branch = github_token(&cloud, json!({"sub": "repo:acme/ecs-express-mode-api:ref:refs/heads/dev"})).await;
    bodies.push(("AccessDenied", web_identity(&cloud, GITHUB_ROLE, &other_branch, &[]).await.1));
    let expired = github_token(&cloud, json!({"exp": now - 600})).await;
    bodies.push(("ExpiredTokenException", web_identity(&cloud, GITHUB_ROLE, &expired, &[]).await.1));
    let google = mint(&cloud, "google", json!({"audience": "reply-bot.apps.googleusercontent.com"})).await;
    bodies.push(("IDPCommunicationError", web_identity(&cloud, GOOGLE_ROLE, &google, &[]).await.1));
    let token = github_token(&cloud, json!({})).await;
    bodies.push(("IDPRejectedClaim", web_identity(&cloud, GITHUB_ROLE, &token, &[("ProviderId", "graph.facebook.com")]).await.1));
    bodies.push(("MissingAuthenticationToken", post_form(&cloud, &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]).await.1));
    let creds = session(&cloud).await;
    cloud.clock().advance(Duration::from_secs(3601));
    bodies.push(("ExpiredToken", caller_identity(&cloud, &creds).await.1));
    for (code, body) in bodies {
        assert_eq!(tag(&body, "Code").as_deref(), Some(code), "{body}");
        insta::assert_snapshot!(format!("sts_error_{code}"), body);
    }
}

/// Issue 13, finding 6: `exp` = i64::MAX wrapped in `exp + leeway` and was answered with an
/// ExpiredTokenException that contradicted itself.
#[tokio::test]
async fn an_exp_past_the_calendar_is_an_invalid_token_not_an_expired_one() {
    let cloud = fixed_cloud().await;
    for exp in [json!(i64::MAX), json!(u64::MAX), json!(-1)] {
        let token = github_token(&cloud, json!({"exp": exp})).await;
        let (status, body) = web_identity(&cloud, GITHUB_ROLE, &token, &[]).await;
        assert_denied(&cloud, status, &body, "InvalidIdentityToken", 400);
        assert_eq!(tag(&body, "Message").as_deref(), Some("The exp claim of the token is not a valid date."), "exp {exp}");
    }
}

/// Issue 13, finding 7: RFC 7515 §4.1.11 — a `crit` extension the recipient does not understand
/// makes the token invalid.
#[tokio::test]
async fn a_token_with_an_unknown_critical_header_extension_is_an_invalid_token() {
    let cloud = fixed_cloud().await;
    let ok = github_token(&cloud, json!({})).await;
    let parts: Vec<&str> = ok.split('.').collect();
    let mut header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &sign_with_github_key(&header, &claims), &[]).await.0, 200, "re-signed without crit it passes");
    header["crit"] = json!(["exp"]);
    let (status, body) = web_identity(&cloud, GITHUB_ROLE, &sign_with_github_key(&header, &claims), &[]).await;
    assert_denied(&cloud, status, &body, "InvalidIdentityToken", 400);
    let checks = cloud.journal().pop().unwrap().checks;
    assert!(checks.iter().any(|c| c.name == "jwt.signature" && c.detail.as_deref().unwrap_or("").contains("critical header extension")), "{checks:?}");
}

/// Issue 13 (second attack): a role ARN names the role's path too; the same name under another
/// path is no role of this account.
#[tokio::test]
async fn a_role_arn_with_the_wrong_path_names_no_role() {
    let cloud = fixed_cloud().await;
    let token = github_token(&cloud, json!({})).await;
    for arn in ["arn:aws:iam::123456789012:role/some/path/GitHubActionsECRRole", "arn:aws:iam::123456789012:role/ci/GitHubActionsECRRole"] {
        let body = form_encode(&[("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", arn), ("RoleSessionName", "session"), ("WebIdentityToken", &token)]);
        let r = reqwest::Client::new().post(format!("{}/", cloud.endpoint())).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
        assert_denied(&cloud, status, &body, "AccessDenied", 403);
    }
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &token, &[]).await.0, 200, "the role at its own path still works");
}
