//! EC2 IMDS over HTTP: the v2 token dance, every refusal with its real status, the metadata tree,
//! credential rotation, and the exact bodies (snapshots).

use std::time::Duration;

use cloudid_mock::{CloudId, Verdict};
use cloudid_tests::fixed_cloud;
use reqwest::{Client, Method, Response};

const TTL: &str = "x-aws-ec2-metadata-token-ttl-seconds";
const TOKEN: &str = "x-aws-ec2-metadata-token";
const CREDS: &str = "/latest/meta-data/iam/security-credentials/";

async fn token(c: &Client, cloud: &CloudId) -> String {
    let r = c.put(format!("{}/latest/api/token", cloud.endpoint())).header(TTL, "21600").send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

async fn get(c: &Client, cloud: &CloudId, path: &str, tok: Option<&str>) -> Response {
    let mut req = c.get(format!("{}{path}", cloud.endpoint()));
    if let Some(t) = tok {
        req = req.header(TOKEN, t);
    }
    req.send().await.unwrap()
}

/// Status, the headers clients look at, and the body, for snapshots.
async fn shape(r: Response) -> String {
    let mut out = format!("{}\n", r.status().as_u16());
    for h in ["content-type", "server", TTL, "date", "last-modified"] {
        if let Some(v) = r.headers().get(h) {
            out.push_str(&format!("{h}: {}\n", v.to_str().unwrap()));
        }
    }
    out.push('\n');
    out.push_str(&r.text().await.unwrap());
    out
}

#[tokio::test]
async fn the_v2_token_dance_yields_the_instance_role_credentials() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let put = c.put(format!("{}/latest/api/token", cloud.endpoint())).header(TTL, "300").send().await.unwrap();
    assert_eq!(put.headers()[TTL], "300", "Rust aws-config needs the TTL echoed");
    assert!(put.headers().contains_key("date"));
    let tok = put.text().await.unwrap();
    assert_eq!(tok.len(), 56);

    let list = get(&c, &cloud, CREDS, Some(&tok)).await;
    assert_eq!(list.headers()[TTL], "300");
    let role = list.text().await.unwrap();
    assert_eq!(role, "embulk-gcp-access", "no trailing newline: clients put it straight into the next URL");

    let creds = get(&c, &cloud, &format!("{CREDS}{role}"), Some(&tok)).await;
    assert_eq!(creds.status(), 200);
    let doc: serde_json::Value = serde_json::from_str(&creds.text().await.unwrap()).unwrap();
    assert_eq!(doc["Code"], "Success");
    assert_eq!(doc["Type"], "AWS-HMAC");
    assert_eq!(doc["Expiration"], "2026-11-30T18:00:00Z");
    let akid = doc["AccessKeyId"].as_str().unwrap();
    assert!(akid.starts_with("ASIA") && akid.len() == 20);

    let journal = cloud.journal();
    let ops: Vec<_> = journal.iter().map(|e| e.operation.as_str()).collect();
    assert_eq!(ops, ["PutToken", "GetCredentials", "GetCredentials"]);
    let last = journal.last().unwrap();
    assert_eq!(last.verdict, Verdict::Granted);
    assert_eq!(last.principal.as_deref(), Some("arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890"));
    let issued = last.issued.as_ref().unwrap();
    assert_eq!(issued.access_key_id.as_deref(), Some(akid));
    assert_eq!(issued.secret_fingerprint, Some(cloudid_mock::fingerprint(doc["SecretAccessKey"].as_str().unwrap())));
    assert_eq!(issued.token_fingerprint, cloudid_mock::fingerprint(doc["Token"].as_str().unwrap()));
    let journal_text = serde_json::to_string(&journal).unwrap();
    assert!(!journal_text.contains(doc["SecretAccessKey"].as_str().unwrap()), "secrets never enter the journal");
    assert!(!journal_text.contains(&tok), "IMDS tokens never enter the journal");
}

#[tokio::test]
async fn a_token_less_request_is_refused_when_tokens_are_required() {
    let cloud = fixed_cloud().await;
    let r = get(&Client::new(), &cloud, CREDS, None).await;
    assert_eq!(r.status(), 401);
    insta::assert_snapshot!("imds_401", shape(r).await);
    let e = &cloud.journal()[0];
    assert_eq!(e.verdict, Verdict::Denied);
    assert!(e.issued.is_none());
}

#[tokio::test]
async fn imds_v1_is_served_when_tokens_are_optional() {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("http_tokens: required", "http_tokens: optional");
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().start().await;
    let c = Client::new();
    let r = get(&c, &cloud, CREDS, None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get(TTL).is_none());
    let r = get(&c, &cloud, &format!("{CREDS}embulk-gcp-access"), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cloud.journal()[1].verdict, Verdict::Granted);
    let bad = get(&c, &cloud, CREDS, Some("AQAEAnot-a-token")).await;
    assert_eq!(bad.status(), 401, "an invalid token is refused even when v1 is allowed");
}

#[tokio::test]
async fn token_ttls_outside_one_to_21600_seconds_are_a_bad_request() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    for ttl in [None, Some("0"), Some("21601"), Some("-5"), Some("abc")] {
        let mut req = c.put(format!("{}/latest/api/token", cloud.endpoint()));
        if let Some(t) = ttl {
            req = req.header(TTL, t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 400, "ttl {ttl:?}");
        if ttl == Some("0") {
            insta::assert_snapshot!("imds_400", shape(r).await);
        }
    }
    for ttl in ["1", "21600"] {
        let r = c.put(format!("{}/latest/api/token", cloud.endpoint())).header(TTL, ttl).send().await.unwrap();
        assert_eq!(r.status(), 200, "ttl {ttl}");
    }
    assert!(cloud.journal()[..5].iter().all(|e| e.verdict == Verdict::Error));
}

#[tokio::test]
async fn a_token_put_through_a_proxy_is_forbidden() {
    let cloud = fixed_cloud().await;
    let r = Client::new().put(format!("{}/latest/api/token", cloud.endpoint())).header(TTL, "60").header("X-Forwarded-For", "10.0.0.9").send().await.unwrap();
    assert_eq!(r.status(), 403);
    insta::assert_snapshot!("imds_403", shape(r).await);
    assert_eq!(cloud.journal()[0].verdict, Verdict::Denied);
}

#[tokio::test]
async fn wrong_methods_and_versioned_token_paths_are_refused() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let r = c.get(format!("{}/latest/api/token", cloud.endpoint())).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let tok = token(&c, &cloud).await;
    let r = c.request(Method::POST, format!("{}{CREDS}", cloud.endpoint())).header(TOKEN, &tok).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = c.put(format!("{}/2021-03-23/api/token", cloud.endpoint())).header(TTL, "60").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let r = c.put(format!("{}/latest/api/token", cloud.endpoint())).header(TTL, "60").send().await.unwrap();
    let tok = r.text().await.unwrap();
    assert_eq!(get(&c, &cloud, CREDS, Some(&tok)).await.status(), 200);
    cloud.clock().advance(Duration::from_secs(61));
    assert_eq!(get(&c, &cloud, CREDS, Some(&tok)).await.status(), 401);
    cloud.reset();
    assert_eq!(get(&c, &cloud, CREDS, Some(&tok)).await.status(), 401, "a reset forgets every token");
}

#[tokio::test]
async fn credentials_rotate_before_they_come_near_expiry() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let creds = |cloud: &CloudId| {
        let c = c.clone();
        let url = format!("{}{CREDS}embulk-gcp-access", cloud.endpoint());
        async move {
            let tok = c.put(url.replace(CREDS, "/latest/api/token").replace("embulk-gcp-access", "")).header(TTL, "21600").send().await.unwrap().text().await.unwrap();
            let body = c.get(&url).header(TOKEN, tok).send().await.unwrap().text().await.unwrap();
            serde_json::from_str::<serde_json::Value>(&body).unwrap()
        }
    };
    let first = creds(&cloud).await;
    cloud.clock().advance(Duration::from_secs(4 * 3600));
    let same = creds(&cloud).await;
    assert_eq!(first["AccessKeyId"], same["AccessKeyId"], "2 h left: still the same set");
    cloud.clock().advance(Duration::from_secs(3600 + 1));
    let rotated = creds(&cloud).await;
    assert_ne!(first["AccessKeyId"], rotated["AccessKeyId"], "under 1 h left: rotated");
    assert_eq!(rotated["LastUpdated"], "2026-11-30T17:00:01Z");
    assert_eq!(rotated["Expiration"], "2026-11-30T23:00:01Z");
}

#[tokio::test]
async fn the_extended_path_adds_the_account_id_and_can_be_switched_off() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let tok = token(&c, &cloud).await;
    let ext = "/latest/meta-data/iam/security-credentials-extended/";
    assert_eq!(get(&c, &cloud, ext, Some(&tok)).await.text().await.unwrap(), "embulk-gcp-access");
    let doc: serde_json::Value = serde_json::from_str(&get(&c, &cloud, &format!("{ext}embulk-gcp-access"), Some(&tok)).await.text().await.unwrap()).unwrap();
    assert_eq!(doc["AccountId"], "123456789012");

    let mut world = cloudid_mock::world::default_world();
    world.aws.ec2.as_mut().unwrap().extended_credentials_api = false;
    let legacy = CloudId::builder().world(world).start().await;
    let tok = token(&c, &legacy).await;
    assert_eq!(get(&c, &legacy, ext, Some(&tok)).await.status(), 404, "SDKs fall back to the legacy path on 404");
}

#[tokio::test]
async fn the_metadata_tree_answers_what_sdks_ask_and_404s_the_rest() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let tok = token(&c, &cloud).await;
    let text = |p: &'static str| {
        let (c, t) = (c.clone(), tok.clone());
        let url = format!("{}{p}", cloud.endpoint());
        async move { c.get(url).header(TOKEN, t).send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(text("/latest/meta-data/placement/region").await, "ap-northeast-1");
    assert_eq!(text("/latest/meta-data/placement/availability-zone").await, "ap-northeast-1a");
    assert_eq!(text("/latest/meta-data/placement/availability-zone/").await, "ap-northeast-1a");
    assert_eq!(text("/latest/meta-data/instance-id").await, "i-0a1b2c3d4e5f67890");
    assert_eq!(text("/2021-03-23/meta-data/instance-id").await, "i-0a1b2c3d4e5f67890");
    assert_eq!(text("/latest/meta-data/iam/security-credentials").await, "embulk-gcp-access");
    let listing = text("/latest/meta-data/").await;
    assert!(listing.contains("iam/") && listing.contains("placement/") && !listing.ends_with('\n'));
    let r = get(&c, &cloud, "/latest/meta-data/nothing-here", Some(&tok)).await;
    assert_eq!(r.status(), 404);
    insta::assert_snapshot!("imds_404", shape(r).await);
    let r = get(&c, &cloud, "/latest/meta-data/iam/security-credentials/some-other-role", Some(&tok)).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn response_bodies_keep_their_real_shapes() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let put = c.put(format!("{}/latest/api/token", cloud.endpoint())).header(TTL, "21600").send().await.unwrap();
    let put_shape = shape(put).await;
    let tok = put_shape.rsplit('\n').next().unwrap().to_string();
    insta::assert_snapshot!("imds_token", put_shape);
    for (name, path) in [
        ("imds_role_list", CREDS),
        ("imds_credentials", "/latest/meta-data/iam/security-credentials/embulk-gcp-access"),
        ("imds_credentials_extended", "/latest/meta-data/iam/security-credentials-extended/embulk-gcp-access"),
        ("imds_iam_info", "/latest/meta-data/iam/info"),
        ("imds_identity_document", "/latest/dynamic/instance-identity/document"),
        ("imds_meta_data_listing", "/latest/meta-data/"),
    ] {
        let r = get(&c, &cloud, path, Some(&tok)).await;
        insta::assert_snapshot!(name, shape(r).await);
    }
}

#[tokio::test]
async fn a_disabled_endpoint_forbids_everything() {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("http_tokens: required", "http_tokens: required\n    http_endpoint: disabled");
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().start().await;
    let c = Client::new();
    let r = c.put(format!("{}/latest/api/token", cloud.endpoint())).header(TTL, "60").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(get(&c, &cloud, CREDS, None).await.status(), 403);
}
