//! Token issuers over HTTP: the GitHub Actions token endpoint, the GCP metadata server, discovery
//! and keys (by path and by real host), key rotation, and their refusals.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudid_mock::{CloudId, Verdict};
use cloudid_tests::fixed_cloud;
use reqwest::{Client, Response};
use serde_json::{Value, json};

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn header(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap()
}

async fn actions_token(cloud: &CloudId, audience: Option<&str>, bearer: Option<&str>) -> Response {
    let env = cloud.env();
    let mut url = env["ACTIONS_ID_TOKEN_REQUEST_URL"].clone();
    if let Some(a) = audience {
        url.push_str(&format!("&audience={a}"));
    }
    let mut req = Client::new().get(url).header("accept", "application/json");
    if let Some(b) = bearer {
        req = req.header("authorization", b);
    }
    req.send().await.unwrap()
}

fn redact(mut v: Value) -> Value {
    for k in ["jti"] {
        if v.get(k).is_some() {
            v[k] = json!("[jti]");
        }
    }
    v
}

#[tokio::test]
async fn the_actions_endpoint_mints_a_github_token_with_the_real_claims() {
    let cloud = fixed_cloud().await;
    let bearer = format!("Bearer {}", cloud.env()["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]);
    let r = actions_token(&cloud, Some("sts.amazonaws.com"), Some(&bearer)).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let jwt = body["value"].as_str().unwrap();
    let c = claims(jwt);
    assert_eq!(c["iss"], "https://token.actions.githubusercontent.com");
    assert_eq!(c["aud"], "sts.amazonaws.com");
    assert_eq!(c["sub"], "repo:acme/ecs-express-mode-api:ref:refs/heads/main");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
    assert_eq!(c["iat"].as_i64().unwrap() - c["nbf"].as_i64().unwrap(), 600);
    let h = header(jwt);
    assert_eq!(h["alg"], "RS256");
    assert!(h["x5t"].is_string() && h["kid"].is_string());
    insta::assert_json_snapshot!("github_token_claims", redact(c));
    let default_aud = actions_token(&cloud, None, Some("bearer cloudid-actions-runtime-token")).await;
    let default_aud: Value = default_aud.json().await.unwrap();
    assert_eq!(claims(default_aud["value"].as_str().unwrap())["aud"], "https://github.com/acme", "the default audience is the owner's URL");
    let journal = cloud.journal();
    assert!(journal.iter().all(|e| e.verdict == Verdict::Granted && e.service == "github_oidc"));
}

#[tokio::test]
async fn the_actions_endpoint_refuses_a_missing_or_wrong_bearer_a_missing_api_version_and_other_methods() {
    let cloud = fixed_cloud().await;
    let none = actions_token(&cloud, Some("sts.amazonaws.com"), None).await;
    assert_eq!(none.status(), 401);
    assert!(none.json::<Value>().await.unwrap()["message"].is_string());
    let wrong = actions_token(&cloud, Some("sts.amazonaws.com"), Some("Bearer not-the-token")).await;
    assert_eq!(wrong.status(), 403);
    let basic = actions_token(&cloud, Some("sts.amazonaws.com"), Some("Basic Y2xvdWRpZA==")).await;
    assert_eq!(basic.status(), 401);
    let no_version = Client::new().get(format!("{}/github/actions/idtoken?audience=x", cloud.endpoint())).header("authorization", "Bearer cloudid-actions-runtime-token").send().await.unwrap();
    assert_eq!(no_version.status(), 400);
    let post =
        Client::new().post(format!("{}/github/actions/idtoken?api-version=2.0&audience=x", cloud.endpoint())).header("authorization", "Bearer cloudid-actions-runtime-token").send().await.unwrap();
    assert_eq!(post.status(), 405, "the token endpoint is GET only");
    let journal = cloud.journal();
    assert_eq!(journal.len(), 5);
    assert!(journal.iter().all(|e| e.issued.is_none()), "nothing minted");
    assert_eq!(journal.iter().filter(|e| e.verdict == Verdict::Denied).count(), 3);
}

async fn mds(cloud: &CloudId, path: &str) -> Response {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().get(format!("{}{path}", cloud.endpoint())).header("Metadata-Flavor", "Google").send().await.unwrap()
}

#[tokio::test]
async fn the_metadata_server_requires_its_flavor_header_and_refuses_proxies() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let url = format!("{}/computeMetadata/v1/instance/service-accounts/default/token", cloud.endpoint());
    let missing = c.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 403);
    assert_eq!(missing.headers()["metadata-flavor"], "Google");
    let text = missing.text().await.unwrap();
    assert!(text.contains("Missing Metadata-Flavor:Google header."), "{text}");
    insta::assert_snapshot!("gce_403_missing_flavor", text);
    let proxied = c.get(&url).header("Metadata-Flavor", "Google").header("X-Forwarded-For", "10.1.1.1").send().await.unwrap();
    assert_eq!(proxied.status(), 403);
    let ident = mds(&cloud, "/computeMetadata/v1/instance/service-accounts/default/identity").await;
    assert_eq!(ident.status(), 400);
    assert_eq!(ident.text().await.unwrap(), "non-empty audience parameter required\n");
    let journal = cloud.journal();
    assert!(journal.iter().all(|e| e.issued.is_none()));
}

#[tokio::test]
async fn the_metadata_server_serves_tokens_identities_and_facts() {
    let cloud = fixed_cloud().await;
    let ping = Client::new().get(format!("{}/", cloud.endpoint())).header("metadata-flavor", "Google").send().await.unwrap();
    assert_eq!((ping.status().as_u16(), ping.headers()["metadata-flavor"].to_str().unwrap()), (200, "Google"));
    let t = mds(&cloud, "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https://www.googleapis.com/auth/cloud-platform").await;
    assert_eq!(t.headers()["content-type"], "application/json");
    let tok: Value = t.json().await.unwrap();
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 3600);
    assert!(tok["access_token"].as_str().unwrap().starts_with("ya29."));
    cloud.clock().advance(Duration::from_secs(600));
    let again: Value = mds(&cloud, "/computeMetadata/v1/instance/service-accounts/default/token").await.json().await.unwrap();
    assert_eq!(again["access_token"], tok["access_token"], "the metadata server re-serves its cached token");
    assert_eq!(again["expires_in"], 3000);
    let issued = cloud.journal().iter().filter_map(|e| e.issued.clone()).next().unwrap();
    assert_eq!(issued.principal, "reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com");
    assert_eq!(issued.token_fingerprint, cloudid_mock::fingerprint(tok["access_token"].as_str().unwrap()));

    let id = mds(&cloud, "/computeMetadata/v1/instance/service-accounts/default/identity?audience=https://example.com&format=full&licenses=TRUE").await.text().await.unwrap();
    let c = claims(&id);
    assert_eq!(c["iss"], "https://accounts.google.com");
    assert_eq!(c["sub"], "104412345678901234567");
    assert_eq!(c["azp"], "104412345678901234567");
    assert_eq!(c["google"]["compute_engine"]["project_number"], 314159265358u64);
    assert!(c["google"]["compute_engine"]["license_id"].is_array());
    insta::assert_json_snapshot!("google_id_token_claims_full", c);
    let standard = claims(&mds(&cloud, "/computeMetadata/v1/instance/service-accounts/default/identity?audience=x").await.text().await.unwrap());
    assert!(standard.get("google").is_none());

    let text = |p: &'static str| {
        let cloud = &cloud;
        async move { mds(cloud, p).await.text().await.unwrap() }
    };
    assert_eq!(text("/computeMetadata/v1/project/project-id").await, "acme-data");
    assert_eq!(text("/computeMetadata/v1/project/numeric-project-id").await, "314159265358");
    assert_eq!(text("/computeMetadata/v1/instance/zone").await, "projects/314159265358/zones/asia-northeast1-a");
    assert_eq!(text("/computeMetadata/v1/universe/universe-domain").await, "googleapis.com");
    assert_eq!(text("/computeMetadata/v1/instance/service-accounts/default/email").await, "reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com");
    let rec: Value = mds(&cloud, "/computeMetadata/v1/instance/service-accounts/default/?recursive=true").await.json().await.unwrap();
    assert_eq!(rec, json!({"aliases": ["default"], "email": "reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com", "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}));
    let redirect = mds(&cloud, "/computeMetadata/v1/instance").await;
    assert_eq!(redirect.status(), 301);
    assert_eq!(redirect.headers()["location"].to_str().unwrap(), format!("http://{}/computeMetadata/v1/instance/", cloud.addr()));
    let listing = mds(&cloud, "/computeMetadata/v1/instance/").await.text().await.unwrap();
    assert!(listing.contains("service-accounts/\n"));
    let missing = mds(&cloud, "/computeMetadata/v1/instance/nothing").await;
    assert_eq!(missing.status(), 404);
    insta::assert_snapshot!("gce_404", missing.text().await.unwrap());
}

#[tokio::test]
async fn discovery_and_keys_are_served_by_path_and_by_the_real_host() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let by_path: Value = c.get(format!("{}/issuers/github/.well-known/openid-configuration", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    assert_eq!(by_path["issuer"], "https://token.actions.githubusercontent.com");
    assert_eq!(by_path["jwks_uri"], format!("http://{}/issuers/github/jwks", cloud.addr()));
    let by_host: Value = c.get(format!("{}/.well-known/openid-configuration", cloud.endpoint())).header("host", "token.actions.githubusercontent.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(by_host["jwks_uri"], "https://token.actions.githubusercontent.com/.well-known/jwks");
    insta::assert_json_snapshot!("github_discovery", by_host);
    let jwks: Value = c.get(format!("{}/.well-known/jwks", cloud.endpoint())).header("host", "token.actions.githubusercontent.com").send().await.unwrap().json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!((key["kty"].as_str(), key["alg"].as_str()), (Some("RSA"), Some("RS256")));
    assert!(key["x5c"][0].is_string() && key["x5t"].is_string());
    insta::assert_json_snapshot!("github_jwks", jwks);
    let google: Value = c.get(format!("{}/.well-known/openid-configuration", cloud.endpoint())).header("host", "accounts.google.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(google["jwks_uri"], "https://www.googleapis.com/oauth2/v3/certs");
    insta::assert_json_snapshot!("google_discovery", google);
    let v3 = c.get(format!("{}/oauth2/v3/certs", cloud.endpoint())).header("host", "www.googleapis.com").send().await.unwrap();
    assert!(v3.headers()["cache-control"].to_str().unwrap().contains("max-age"));
    let v3: Value = v3.json().await.unwrap();
    let v1: Value = c.get(format!("{}/oauth2/v1/certs", cloud.endpoint())).header("host", "www.googleapis.com").send().await.unwrap().json().await.unwrap();
    let kid = v3["keys"][0]["kid"].as_str().unwrap();
    assert!(v1[kid].as_str().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    let issuers: Value = c.get(format!("{}/_cloudid/issuers", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = issuers["issuers"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["github", "google", "k8s-acme-eks", "k8s-acme-gke", "k8s-acme-aks", "entra-acme", "entra-acme-v1"]);
}

#[tokio::test]
async fn after_a_rotation_new_tokens_use_the_new_key_and_old_ones_verify_only_during_the_grace_period() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let old = cloudid_tests::sts::github_token(&cloud, json!({})).await;
    let old_kid = header(&old)["kid"].as_str().unwrap().to_string();
    let r: Value = c.post(format!("{}/_cloudid/keys/rotate", cloud.endpoint())).json(&json!({"issuer": "github", "grace_seconds": 600})).send().await.unwrap().json().await.unwrap();
    let new_kid = r["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    let new = cloudid_tests::sts::github_token(&cloud, json!({})).await;
    assert_eq!(header(&new)["kid"], new_kid.as_str());
    let jwks: Value = c.get(format!("{}/issuers/github/jwks", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
    assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()], "the old key stays published during the grace period");
    cloud.clock().advance(Duration::from_secs(290));
    let (status, _) = cloudid_tests::sts::web_identity(&cloud, "GitHubActionsECRRole", &old, &[]).await;
    assert_eq!(status, 200, "an old token verifies during the grace period");
    cloud.clock().advance(Duration::from_secs(320));
    let jwks: Value = c.get(format!("{}/issuers/github/jwks", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let mut body = claims(&old);
    let now = cloud.clock().now().unix_timestamp();
    body["iat"] = json!(now);
    body["exp"] = json!(now + 300);
    let signed_by_old = cloudid_mock::world::issuers::SigningKey::fixture("github-actions-1").unwrap().sign(&body, &Default::default());
    let (status, xml) = cloudid_tests::sts::web_identity(&cloud, "GitHubActionsECRRole", &signed_by_old, &[]).await;
    assert_eq!(status, 400, "after the grace period a token signed by the old key fails: {xml}");
    assert!(xml.contains("InvalidIdentityToken"));
}

#[tokio::test]
async fn cloudid_token_and_the_control_plane_refuse_what_they_cannot_mint() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let r = c.post(format!("{}/_cloudid/tokens/google", cloud.endpoint())).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "a Google ID token needs an audience");
    let r = c.post(format!("{}/_cloudid/tokens/nobody", cloud.endpoint())).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = c.post(format!("{}/_cloudid/keys/rotate", cloud.endpoint())).json(&json!({"issuer": "nobody"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_metadata_server_refuses_other_methods_unknown_formats_and_is_absent_without_a_default_account() {
    let cloud = fixed_cloud().await;
    let base = "/computeMetadata/v1/instance/service-accounts/default/identity";
    let post = Client::new().post(format!("{}{base}?audience=x", cloud.endpoint())).header("Metadata-Flavor", "Google").send().await.unwrap();
    assert_eq!(post.status(), 404, "the metadata server has no POST: it answers 404 as for an unknown path");
    let odd = mds(&cloud, &format!("{base}?audience=x&format=compact")).await;
    assert_eq!(odd.status(), 400);
    assert_eq!(odd.text().await.unwrap(), "format must be one of: standard, full\n");
    let journal = cloud.journal();
    assert!(journal.iter().all(|e| e.issued.is_none()), "{journal:#?}");
    let failed: Vec<&str> = journal.iter().flat_map(|e| e.checks.iter().filter(|c| c.outcome == cloudid_mock::Outcome::Fail).map(|c| c.name.as_ref())).collect();
    assert_eq!(failed, ["gce.method", "gce.identity.format"]);

    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("default: true", "default: false");
    let bare = CloudId::builder().world_yaml(&yaml).unwrap().start().await;
    let r = mds(&bare, "/computeMetadata/v1/instance/service-accounts/default/token").await;
    assert_eq!(r.status(), 404, "no default service account, no metadata server");
    assert!(bare.journal()[0].checks.iter().any(|c| c.name == "gce.instance" && c.outcome == cloudid_mock::Outcome::Fail));
}

/// Issue 13, finding 2: the metadata server served tokens for any service account of the world,
/// a way around the impersonation bindings. A VM has one attached account.
#[tokio::test]
async fn the_metadata_server_serves_only_the_attached_account_and_404s_every_other() {
    let cloud = fixed_cloud().await;
    let base = "/computeMetadata/v1/instance/service-accounts";
    for name in ["deployer@acme-data.iam.gserviceaccount.com", "102718281828459045235", "nobody@acme-data.iam.gserviceaccount.com"] {
        for leaf in ["token", "identity?audience=https://example.com", "email", "scopes", "aliases", ""] {
            let r = mds(&cloud, &format!("{base}/{name}/{leaf}")).await;
            assert_eq!(r.status(), 404, "{name}/{leaf}");
            assert!(r.text().await.unwrap().contains("<title>Error 404 (Not Found)!!1</title>"), "Google's 404 page");
            let entry = cloud.journal().pop().unwrap();
            assert!(entry.issued.is_none());
            let why = entry.checks.iter().find(|c| c.name == "gce.service_account").and_then(|c| c.detail.as_deref()).unwrap_or_default();
            assert!(why.contains("attached to this instance"), "{why}");
        }
        let r = mds(&cloud, &format!("{base}/{name}/?recursive=true")).await;
        assert_eq!(r.status(), 404, "{name}/?recursive=true");
    }
    let attached = ["default", "reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com", "104412345678901234567"];
    for name in attached {
        let r = mds(&cloud, &format!("{base}/{name}/token")).await;
        assert_eq!(r.status(), 200, "{name}");
        let email = mds(&cloud, &format!("{base}/{name}/email")).await.text().await.unwrap();
        assert_eq!(email, "reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com");
    }
}

/// Issue 13, finding 8: @actions/core sends the audience UTF-8 percent-encoded.
#[tokio::test]
async fn a_non_ascii_audience_arrives_as_the_characters_it_encodes() {
    let cloud = fixed_cloud().await;
    let bearer = format!("Bearer {}", cloud.env()["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]);
    let r = actions_token(&cloud, Some("https%3A%2F%2Fexample.com%2Fcaf%C3%A9%2F%E6%97%A5%E6%9C%AC"), Some(&bearer)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(claims(v["value"].as_str().unwrap())["aud"], "https://example.com/café/日本");
}

#[tokio::test]
async fn an_oversized_scopes_parameter_is_a_bad_request() {
    let cloud = fixed_cloud().await;
    let r = mds(&cloud, &format!("/computeMetadata/v1/instance/service-accounts/default/token?scopes={}", "s".repeat(5000))).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("scopes parameter is too long"));
    assert!(cloud.journal().pop().unwrap().issued.is_none());
}

/// Issue 13 (second attack): `/computeMetadata/v1instance/…` and `…/token/` are no paths of the
/// metadata server.
#[tokio::test]
async fn near_miss_metadata_paths_are_not_found() {
    let cloud = fixed_cloud().await;
    for path in [
        "/computeMetadata/v1instance/service-accounts/default/token",
        "/computeMetadata/v1/instance/service-accounts/default/token/",
        "/computeMetadata/v1/instance/service-accounts/default/identity/?audience=x",
    ] {
        let r = mds(&cloud, path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(cloud.journal().pop().unwrap().issued.is_none());
    }
}
