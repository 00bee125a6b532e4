//! The services a workload touches around authentication, reached by their real host names on
//! the one port: Cloud Resource Manager's project lookup, the ECS task metadata endpoint, and any
//! other AWS or Google API (credentials verified, then refused as not emulated or forwarded) —
//! each answer and refusal in the real service's shape, snapshot-tested.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use cloudid_mock::{CloudId, Verdict};
use cloudid_tests::fixed_cloud;
use cloudid_tests::sts::form_encode;
use reqwest::Client;
use serde_json::{Value, json};

const CRM: &str = "cloudresourcemanager.googleapis.com";
const GITHUB: &str = "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/providers/github";

/// The metadata server's token for the attached account, with `scopes`.
async fn sa_token(cloud: &CloudId, scopes: &str) -> String {
    let url = format!("{}/computeMetadata/v1/instance/service-accounts/default/token?scopes={scopes}", cloud.endpoint());
    let b: Value = Client::new().get(url).header("metadata-flavor", "Google").send().await.unwrap().json().await.unwrap();
    b["access_token"].as_str().unwrap().to_string()
}

/// A federated token of the GitHub pool (no service account).
async fn federated_token(cloud: &CloudId) -> String {
    let jwt = cloudid_tests::sts::mint(cloud, "github", json!({"audience": GITHUB.replacen("//", "https://", 1)})).await;
    let body = form_encode(&[
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("audience", GITHUB),
        ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("subject_token", &jwt),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
    ]);
    let b: Value = Client::new().post(format!("{}/v1/token", cloud.endpoint())).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap().json().await.unwrap();
    b["access_token"].as_str().unwrap().to_string()
}

async fn get(cloud: &CloudId, host: &str, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut r = Client::new().get(format!("{}{path}", cloud.endpoint())).header("host", host);
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn last_check(cloud: &CloudId) -> (String, Verdict, Option<String>) {
    let e = cloud.journal().pop().unwrap();
    let failed = e.checks.iter().find(|c| c.outcome == cloudid_mock::Outcome::Fail).map(|c| c.name.to_string());
    (e.service, e.verdict, failed)
}

#[tokio::test]
async fn resource_manager_answers_a_service_account_of_the_project_by_number_or_id_in_v1_and_v3() {
    let cloud = fixed_cloud().await;
    let token = sa_token(&cloud, "https://www.googleapis.com/auth/cloud-platform").await;
    let (s, v1) = get(&cloud, CRM, "/v1/projects/314159265358", Some(&token)).await;
    assert_eq!(s, 200, "{v1}");
    insta::assert_json_snapshot!("crm_v1_project", v1);
    let (s, by_id) = get(&cloud, CRM, "/v1/projects/acme-data", Some(&token)).await;
    assert_eq!((s, &by_id), (200, &v1));
    let (s, v3) = get(&cloud, CRM, "/v3/projects/acme-data", Some(&token)).await;
    assert_eq!(s, 200, "{v3}");
    insta::assert_json_snapshot!("crm_v3_project", v3);
    let entry = cloud.journal().pop().unwrap();
    assert_eq!(
        (entry.service.as_str(), entry.host.as_deref(), entry.principal.as_deref()),
        ("cloud_resource_manager", Some(CRM), Some("reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com"))
    );
}

#[tokio::test]
async fn resource_manager_refuses_no_token_a_foreign_token_a_narrow_scope_a_federated_caller_and_another_project() {
    let cloud = fixed_cloud().await;
    let (s, b) = get(&cloud, CRM, "/v1/projects/314159265358", None).await;
    assert_eq!(s, 401);
    insta::assert_json_snapshot!("crm_missing_credentials", b);
    assert_eq!(last_check(&cloud), ("cloud_resource_manager".into(), Verdict::Denied, Some("google.caller".into())));
    let (s, b) = get(&cloud, CRM, "/v1/projects/314159265358", Some("ya29.not-issued-here")).await;
    assert_eq!((s, b["error"]["status"].as_str()), (401, Some("UNAUTHENTICATED")));
    assert!(b["error"]["message"].as_str().unwrap().starts_with("Request had invalid authentication credentials."));
    let narrow = sa_token(&cloud, "https://www.googleapis.com/auth/devstorage.read_only").await;
    let (s, b) = get(&cloud, CRM, "/v1/projects/314159265358", Some(&narrow)).await;
    assert_eq!((s, b["error"]["message"].as_str()), (403, Some("Request had insufficient authentication scopes.")));
    assert_eq!(last_check(&cloud).2.as_deref(), Some("google.scope"));
    let federated = federated_token(&cloud).await;
    let (s, b) = get(&cloud, CRM, "/v1/projects/314159265358", Some(&federated)).await;
    assert_eq!(s, 403, "a federated principal holds no project role in the world");
    insta::assert_json_snapshot!("crm_permission_denied", b);
    assert_eq!(last_check(&cloud), ("cloud_resource_manager".into(), Verdict::Denied, Some("crm.permission".into())));
    let token = sa_token(&cloud, "https://www.googleapis.com/auth/cloud-platform").await;
    let (s, other) = get(&cloud, CRM, "/v1/projects/someone-elses", Some(&token)).await;
    assert_eq!((s, other["error"]["status"].as_str()), (403, Some("PERMISSION_DENIED")), "an unknown project is refused like a forbidden one");
    assert_eq!(last_check(&cloud).2.as_deref(), Some("crm.project"));
    cloud.clock().advance(std::time::Duration::from_secs(7200));
    let (s, _) = get(&cloud, CRM, "/v1/projects/314159265358", Some(&token)).await;
    assert_eq!(s, 401, "an expired token is refused");
}

#[tokio::test]
async fn the_ecs_task_metadata_endpoint_describes_the_worlds_task_and_nothing_else() {
    let cloud = fixed_cloud().await;
    let path = "/v4/3f9a2b7c8d1e4f5a6b7c8d9e0f1a2b3c-1012648430";
    let (s, task) = get(&cloud, "169.254.170.2", &format!("{path}/task"), None).await;
    assert_eq!(s, 200, "{task}");
    insta::assert_json_snapshot!("ecs_task_metadata_v4_task", task);
    let (s, container) = get(&cloud, "169.254.170.2", path, None).await;
    assert_eq!((s, &container), (200, &task["Containers"][0]));
    let (s, _) = get(&cloud, "169.254.170.2", "/v4/another-task-1/task", None).await;
    assert_eq!(s, 404);
}

fn redact_request_id(xml: &str) -> String {
    match (xml.find("<RequestId>"), xml.find("</RequestId>")) {
        (Some(a), Some(b)) => format!("{}<RequestId>[id]{}", &xml[..a], &xml[b..]),
        _ => xml.to_string(),
    }
}

fn sign_json(creds: &Credentials, host: &str, target: &str, body: &str, region: &str, service: &str) -> Vec<(String, String)> {
    let url = format!("https://{host}/");
    let base = [("host".to_string(), host.to_string()), ("x-amz-target".to_string(), target.to_string()), ("content-type".to_string(), "application/x-amz-json-1.0".to_string())];
    let identity = creds.clone().into();
    let params = v4::SigningParams::builder().identity(&identity).region(region).name(service).time(SystemTime::now()).settings(SigningSettings::default()).build().unwrap().into();
    let signable = SignableRequest::new("POST", url, base.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(body.as_bytes())).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    base.into_iter().chain(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string()))).collect()
}

async fn imds_credentials(cloud: &CloudId) -> Credentials {
    let c = Client::new();
    let tok = c.put(format!("{}/latest/api/token", cloud.endpoint())).header("x-aws-ec2-metadata-token-ttl-seconds", "60").send().await.unwrap().text().await.unwrap();
    let doc: Value =
        c.get(format!("{}/latest/meta-data/iam/security-credentials/embulk-gcp-access", cloud.endpoint())).header("x-aws-ec2-metadata-token", tok).send().await.unwrap().json().await.unwrap();
    Credentials::new(doc["AccessKeyId"].as_str().unwrap(), doc["SecretAccessKey"].as_str().unwrap(), doc["Token"].as_str().map(str::to_string), None, "imds")
}

#[tokio::test]
async fn another_aws_api_is_refused_in_its_own_protocols_shape_and_says_it_is_not_emulated_once_the_signature_holds() {
    let cloud = CloudId::start().await;
    let c = Client::new();
    let host = "dynamodb.ap-northeast-1.amazonaws.com";
    let unsigned = c.post(format!("{}/", cloud.endpoint())).header("host", host).header("x-amz-target", "DynamoDB_20120810.ListTables").body("{}").send().await.unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    insta::assert_json_snapshot!("not_emulated_aws_json_missing_token", unsigned.json::<Value>().await.unwrap());
    let query = c
        .post(format!("{}/", cloud.endpoint()))
        .header("host", "sqs.ap-northeast-1.amazonaws.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=ListQueues")
        .send()
        .await
        .unwrap();
    assert_eq!(query.status().as_u16(), 403);
    insta::assert_snapshot!("not_emulated_aws_query_missing_token", redact_request_id(&query.text().await.unwrap()));
    let creds = imds_credentials(&cloud).await;
    let body = "{}";
    let mut req = c.post(format!("{}/", cloud.endpoint())).body(body);
    for (k, v) in sign_json(&creds, host, "DynamoDB_20120810.ListTables", body, "ap-northeast-1", "dynamodb") {
        req = req.header(k, v);
    }
    let signed = req.send().await.unwrap();
    assert_eq!(signed.status().as_u16(), 501);
    let b: Value = signed.json().await.unwrap();
    assert_eq!(b["__type"], "com.amazon.coral.service#NotImplemented");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("cloudid does not emulate dynamodb.ap-northeast-1.amazonaws.com; the request's credentials are valid (they are arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/"),
        "{b}"
    );
    let entry = cloud.journal().pop().unwrap();
    assert_eq!((entry.service.as_str(), entry.host.as_deref(), entry.verdict), ("not_emulated", Some(host), Verdict::Error));
    assert!(entry.principal.unwrap().starts_with("arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/"));
    let mut wrong_region = c.post(format!("{}/", cloud.endpoint())).body(body);
    for (k, v) in sign_json(&creds, host, "DynamoDB_20120810.ListTables", body, "us-east-1", "dynamodb") {
        wrong_region = wrong_region.header(k, v);
    }
    let refused = wrong_region.send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 400, "a signature scoped to another region than the host's is refused");
    assert_eq!(refused.json::<Value>().await.unwrap()["__type"], "com.amazon.coral.service#InvalidSignatureException");
    let mut wrong_service = c.post(format!("{}/", cloud.endpoint())).body(body);
    for (k, v) in sign_json(&creds, host, "DynamoDB_20120810.ListTables", body, "ap-northeast-1", "s3") {
        wrong_service = wrong_service.header(k, v);
    }
    let refused = wrong_service.send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 400, "a signature for another service is refused");
    let b: Value = refused.json().await.unwrap();
    assert_eq!(b["message"], "Credential should be scoped to correct service: 'dynamodb'. ", "{b}");
}

#[tokio::test]
async fn another_google_api_needs_a_token_of_this_world_and_then_says_it_is_not_emulated() {
    let cloud = fixed_cloud().await;
    let (s, b) = get(&cloud, "bigquery.googleapis.com", "/bigquery/v2/projects/acme-data/datasets", None).await;
    assert_eq!((s, b["error"]["status"].as_str()), (401, Some("UNAUTHENTICATED")));
    let narrow = sa_token(&cloud, "https://www.googleapis.com/auth/userinfo.email").await;
    let (s, b) = get(&cloud, "bigquery.googleapis.com", "/bigquery/v2/projects/acme-data/datasets", Some(&narrow)).await;
    assert_eq!((s, b["error"]["message"].as_str()), (403, Some("Request had insufficient authentication scopes.")), "a token without a scope for the API is refused");
    let bigquery = sa_token(&cloud, "https://www.googleapis.com/auth/bigquery.readonly").await;
    let (s, _) = get(&cloud, "bigquery.googleapis.com", "/bigquery/v2/projects/acme-data/datasets", Some(&bigquery)).await;
    assert_eq!(s, 501, "the API's own scope family is enough");
    let token = sa_token(&cloud, "https://www.googleapis.com/auth/cloud-platform").await;
    let (s, b) = get(&cloud, "bigquery.googleapis.com", "/bigquery/v2/projects/acme-data/datasets", Some(&token)).await;
    assert_eq!(s, 501);
    insta::assert_json_snapshot!("not_emulated_google", b);
}
