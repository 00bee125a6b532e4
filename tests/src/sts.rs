//! Helpers for STS tests: mint tokens through the control plane, call STS unsigned, sign calls
//! with the real aws-sigv4 signer, read STS XML.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use cloudid_mock::CloudId;
use serde_json::{Value, json};

/// The text of the first `<name>` element.
pub fn tag(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'"))
}

/// Mints a token from `issuer` through the control plane (`POST /_cloudid/tokens/{issuer}`);
/// `body` is the request as JSON.
pub async fn mint(cloud: &CloudId, issuer: &str, body: Value) -> String {
    let request: cloudid_mock::TokenRequest = serde_json::from_value(body).expect("a token request");
    cloud.control().mint(issuer, &request).await.expect("mint failed")
}

/// A GitHub Actions token for `sts.amazonaws.com`, with claim overrides.
pub async fn github_token(cloud: &CloudId, claims: Value) -> String {
    mint(cloud, "github", json!({"audience": "sts.amazonaws.com", "claims": claims})).await
}

/// The role ARN of `name` in the default world.
pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::123456789012:role/{name}")
}

/// An unsigned form POST to STS; (status, body).
pub async fn post_form(cloud: &CloudId, form: &[(&str, &str)]) -> (u16, String) {
    let body = form_encode(form);
    let r = reqwest::Client::new().post(format!("{}/", cloud.endpoint())).header("content-type", "application/x-www-form-urlencoded; charset=utf-8").body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `application/x-www-form-urlencoded`, spaces as `%20` as botocore writes them.
pub fn form_encode(form: &[(&str, &str)]) -> String {
    form.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    cloudid_mock::verify::sigv4::uri_encode(s.as_bytes(), false, &mut out);
    out
}

/// `AssumeRoleWithWebIdentity` for `role` with `token`; (status, body).
pub async fn web_identity(cloud: &CloudId, role: &str, token: &str, extra: &[(&str, &str)]) -> (u16, String) {
    let arn = role_arn(role);
    let mut form = vec![("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", arn.as_str()), ("RoleSessionName", "cloudid-test"), ("WebIdentityToken", token)];
    form.extend_from_slice(extra);
    post_form(cloud, &form).await
}

/// Temporary credentials parsed from an STS answer.
pub fn credentials_of(xml: &str) -> Credentials {
    Credentials::new(tag(xml, "AccessKeyId").expect("AccessKeyId"), tag(xml, "SecretAccessKey").expect("SecretAccessKey"), tag(xml, "SessionToken"), None, "cloudid-test")
}

/// A request signed by aws-sigv4, ready to send or tamper with.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Headers, signing headers included.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

/// Signs a form POST to `cloud` at `time` for `region`/`service` with aws-sigv4.
pub fn sign_form(cloud: &CloudId, creds: &Credentials, form: &[(&str, &str)], region: &str, service: &str, time: SystemTime) -> Signed {
    let body = form_encode(form);
    let host = cloud.addr().to_string();
    let base = vec![("content-type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()), ("host".to_string(), host)];
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder().identity(&identity).region(region).name(service).time(time).settings(SigningSettings::default()).build().unwrap().into();
    let signable = SignableRequest::new("POST", format!("{}/", cloud.endpoint()), base.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(body.as_bytes())).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut headers = base;
    for (k, v) in instructions.headers() {
        headers.push((k.to_ascii_lowercase(), v.to_string()));
    }
    Signed { headers, body }
}

/// Sends a signed request; (status, body).
pub async fn send_signed(cloud: &CloudId, s: &Signed) -> (u16, String) {
    let mut req = reqwest::Client::new().post(format!("{}/", cloud.endpoint())).body(s.body.clone());
    for (k, v) in &s.headers {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Signed `GetCallerIdentity` with `creds`, now, in the world's region.
pub async fn caller_identity(cloud: &CloudId, creds: &Credentials) -> (u16, String) {
    let s = sign_form(cloud, creds, &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")], "ap-northeast-1", "sts", to_system(cloud.clock().now()));
    send_signed(cloud, &s).await
}

/// A server-clock instant as `SystemTime`.
pub fn to_system(t: time::OffsetDateTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t.unix_timestamp() as u64)
}

/// The default world plus account `210987654321` — `deployer` trusts the seed-001 GitHub role of
/// the main account, `audit` trusts only its own account, `gh-direct` takes GitHub tokens through
/// that account's own OIDC provider, `google-builtin` Google tokens with no IAM provider — and
/// account `333333333333`, whose `no-provider` names a GitHub provider the account lacks.
pub fn multi_account_world() -> String {
    cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace(
        "\ngithub:\n",
        r#"
  accounts:
    - account_id: "210987654321"
      oidc_providers:
        - url: https://token.actions.githubusercontent.com
          client_ids: [sts.amazonaws.com]
      roles:
        - name: deployer
          path: /ci/
          trust_policy:
            Statement:
              - Effect: Allow
                Principal: {AWS: arn:aws:iam::123456789012:role/GitHubActionsECRRole}
                Action: sts:AssumeRole
        - name: audit
          trust_policy:
            Statement:
              - Effect: Allow
                Principal: {AWS: arn:aws:iam::210987654321:root}
                Action: sts:AssumeRole
        - name: gh-direct
          trust_policy:
            Statement:
              - Effect: Allow
                Principal: {Federated: arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com}
                Action: sts:AssumeRoleWithWebIdentity
                Condition: {StringLike: {"token.actions.githubusercontent.com:sub": "repo:acme/*"}}
        - name: google-builtin
          trust_policy:
            Statement:
              - Effect: Allow
                Principal: {Federated: accounts.google.com}
                Action: sts:AssumeRoleWithWebIdentity
                Condition: {StringEquals: {"accounts.google.com:oaud": reply-bot.apps.googleusercontent.com}}
    - account_id: "333333333333"
      roles:
        - name: no-provider
          trust_policy:
            Statement:
              - Effect: Allow
                Principal: {Federated: arn:aws:iam::333333333333:oidc-provider/token.actions.githubusercontent.com}
                Action: sts:AssumeRoleWithWebIdentity

github:
"#,
    )
}

/// The default world with outbound identity federation enabled for its account
/// (`GetWebIdentityToken`).
pub fn outbound_world() -> String {
    cloudid_mock::world::load::DEFAULT_WORLD_YAML.replacen("  region: ap-northeast-1\n", "  region: ap-northeast-1\n  outbound_identity_federation: true\n", 1)
}

/// Signs `claims` with the bundled GitHub Actions key under `header` (which may carry `crit`).
pub fn sign_with_github_key(header: &Value, claims: &Value) -> String {
    let pem = std::fs::read_to_string(crate::workspace_root().join("fixtures/keys/github-actions-1.pem")).unwrap();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD.decode(pem.lines().filter(|l| !l.starts_with("-----")).collect::<String>()).unwrap();
    let pair = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let input = format!("{}.{}", b64(header), b64(claims));
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), input.as_bytes(), &mut sig).unwrap();
    format!("{input}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig))
}
