//! Kubernetes clusters over HTTP: their issuers at the real hosts, key rotation on the cluster's
//! schedule, projected token files the kubelet rewrites, TokenReview, and the GKE metadata
//! server — each refusal in the real component's words.

use cloudid_tests::fixed_cloud;
use reqwest::Client;
use serde_json::{Value, json};

const EKS_HOST: &str = "oidc.eks.ap-northeast-1.amazonaws.com";
const EKS_ID: &str = "5E1D8C2A9B3F4E6D7A8C9B0E1F2D3C4B";
const GKE_ISSUER_PATH: &str = "/v1/projects/acme-data/locations/asia-northeast1/clusters/acme-gke";

async fn get(cloud: &cloudid_mock::CloudId, host: &str, path: &str) -> reqwest::Response {
    Client::new().get(format!("{}{path}", cloud.endpoint())).header("host", host).send().await.unwrap()
}

async fn token(cloud: &cloudid_mock::CloudId, request: Value) -> String {
    cloud.control().kubernetes_token(&request).await.unwrap()["token"].as_str().unwrap().to_string()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn each_cluster_publishes_its_discovery_and_keys_at_its_clouds_host() {
    let cloud = fixed_cloud().await;
    let eks: Value = get(&cloud, EKS_HOST, &format!("/id/{EKS_ID}/.well-known/openid-configuration")).await.json().await.unwrap();
    insta::assert_json_snapshot!("eks_discovery", eks);
    assert_eq!(eks["jwks_uri"], format!("https://{EKS_HOST}/id/{EKS_ID}/keys"));
    let keys: Value = get(&cloud, EKS_HOST, &format!("/id/{EKS_ID}/keys")).await.json().await.unwrap();
    let key = &keys["keys"][0];
    assert_eq!((key["use"].as_str(), key["kty"].as_str(), key["alg"].as_str()), (Some("sig"), Some("RSA"), Some("RS256")));
    assert!(key.get("x5c").is_none(), "cluster keys carry no certificate");
    let gke: Value = get(&cloud, "container.googleapis.com", &format!("{GKE_ISSUER_PATH}/.well-known/openid-configuration")).await.json().await.unwrap();
    assert_eq!(gke["jwks_uri"], format!("https://container.googleapis.com{GKE_ISSUER_PATH}/jwks"));
    let gke_keys: Value = get(&cloud, "container.googleapis.com", &format!("{GKE_ISSUER_PATH}/jwks")).await.json().await.unwrap();
    assert_ne!(kids(&keys), kids(&gke_keys), "each cluster signs with its own key");
    let other = get(&cloud, "container.googleapis.com", "/v1/projects/acme-data/locations/asia-northeast1/clusters").await;
    assert_eq!(other.status(), 401, "the rest of the GKE API is the not-emulated path: credentials first");
    assert_eq!(cloud.journal().last().unwrap().service, "not_emulated");
    let by_path: Value = Client::new().get(format!("{}/clusters/acme-eks/.well-known/openid-configuration", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    assert_eq!(by_path["issuer"], format!("https://{EKS_HOST}/id/{EKS_ID}"));
    assert_eq!(by_path["jwks_uri"], format!("{}/clusters/acme-eks/openid/v1/jwks", cloud.endpoint()));
}

#[tokio::test]
async fn the_cluster_key_rotates_every_seven_days_and_the_old_key_is_published_one_day_more() {
    let cloud = fixed_cloud().await;
    let path = format!("/id/{EKS_ID}/keys");
    let first = kids(&get(&cloud, EKS_HOST, &path).await.json().await.unwrap());
    assert_eq!(first.len(), 1);
    cloud.control().advance_clock(7 * 86_400 + 60).await.unwrap();
    let during = kids(&get(&cloud, EKS_HOST, &path).await.json().await.unwrap());
    assert_eq!(during.len(), 2, "new key and the retired one: {during:?}");
    assert!(during.contains(&first[0]));
    let fresh = token(&cloud, json!({"namespace": "ci", "service_account": "ecr-pusher"})).await;
    let header: Value = serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, fresh.split('.').next().unwrap()).unwrap()).unwrap();
    assert_ne!(header["kid"], first[0], "new tokens are signed with the new key");
    assert_eq!(header.as_object().unwrap().len(), 2, "alg and kid only: {header}");
    cloud.control().advance_clock(86_400).await.unwrap();
    let after = kids(&get(&cloud, EKS_HOST, &path).await.json().await.unwrap());
    assert_eq!(after, vec![header["kid"].as_str().unwrap().to_string()]);
}

#[tokio::test]
async fn the_kubelet_rewrites_a_mounted_token_after_80_percent_of_its_life() {
    let cloud = fixed_cloud().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    let answer = cloud.control().kubernetes_token(&json!({"namespace": "ci", "service_account": "ecr-pusher", "expiration_seconds": 600, "path": file})).await.unwrap();
    let first = std::fs::read_to_string(&file).unwrap();
    assert_eq!(first, answer["token"].as_str().unwrap());
    assert_eq!(answer["audience"], "sts.amazonaws.com", "the IRSA annotation's default audience");
    cloud.control().advance_clock(480).await.unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first, "not yet due at 80%");
    cloud.control().advance_clock(1).await.unwrap();
    let second = std::fs::read_to_string(&file).unwrap();
    assert_ne!(second, first, "rewritten past 80%");
    let claims = |t: &str| -> Value { serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, t.split('.').nth(1).unwrap()).unwrap()).unwrap() };
    let (a, b) = (claims(&first), claims(&second));
    assert_eq!(b["iat"].as_i64().unwrap() - a["iat"].as_i64().unwrap(), 481);
    assert_ne!(a["jti"], b["jti"]);
    assert_eq!(b["sub"], "system:serviceaccount:ci:ecr-pusher");
    assert_eq!(b["kubernetes.io"]["namespace"], "ci");
    for k in ["pod", "node", "serviceaccount"] {
        assert!(b["kubernetes.io"][k]["uid"].as_str().is_some_and(|u| u.len() == 36), "{k}: {b}");
    }
    let refused = cloud.control().kubernetes_token(&json!({"namespace": "ci", "service_account": "ecr-pusher", "expiration_seconds": 599})).await;
    assert!(refused.is_err_and(|e| e.to_string().contains("less than 600")));
    let missing = cloud.control().kubernetes_token(&json!({"namespace": "ci", "service_account": "nobody"})).await;
    assert!(missing.is_err_and(|e| e.to_string().contains("serviceaccounts \\\"nobody\\\" not found") || e.to_string().contains("not found")));
}

async fn review(cloud: &cloudid_mock::CloudId, caller: &str, body: Value) -> (u16, Value) {
    let r = Client::new().post(format!("{}/clusters/acme-eks/apis/authentication.k8s.io/v1/tokenreviews", cloud.endpoint())).bearer_auth(caller).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn token_review(token: &str, audiences: &[&str]) -> Value {
    json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "spec": {"token": token, "audiences": audiences}})
}

#[tokio::test]
async fn token_review_authenticates_the_clusters_tokens_and_refuses_others_in_kube_apiservers_words() {
    let cloud = fixed_cloud().await;
    let caller = token(&cloud, json!({"namespace": "default", "service_account": "bigquery"})).await;
    let irsa = token(&cloud, json!({"namespace": "ci", "service_account": "ecr-pusher"})).await;
    let (status, ok) = review(&cloud, &caller, token_review(&irsa, &["sts.amazonaws.com"])).await;
    assert_eq!(status, 201);
    let s = &ok["status"];
    assert_eq!(s["authenticated"], true);
    assert_eq!(s["user"]["username"], "system:serviceaccount:ci:ecr-pusher");
    assert_eq!(s["user"]["groups"], json!(["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"]));
    assert!(s["user"]["extra"]["authentication.kubernetes.io/credential-id"][0].as_str().unwrap().starts_with("JTI="));
    assert!(s["user"]["extra"]["authentication.kubernetes.io/pod-name"][0].as_str().unwrap().starts_with("ecr-pusher-"));
    assert_eq!(s["audiences"], json!(["sts.amazonaws.com"]));

    let (status, wrong_aud) = review(&cloud, &caller, token_review(&irsa, &["vault"])).await;
    assert_eq!(status, 201);
    assert_eq!(wrong_aud["status"], json!({"user": {}, "error": "[invalid bearer token, token audiences [\"sts.amazonaws.com\"] is invalid for the target audiences [\"vault\"]]"}));
    let (_, garbage) = review(&cloud, &caller, token_review("not-a-token", &[])).await;
    assert_eq!(garbage["status"]["error"], "invalid bearer token");
    let gke = token(&cloud, json!({"cluster": "acme-gke", "namespace": "analytics", "service_account": "bigquery", "audience": "vault"})).await;
    let (_, other_cluster) = review(&cloud, &caller, token_review(&gke, &["vault"])).await;
    assert_eq!(other_cluster["status"]["error"], "invalid bearer token", "another cluster's issuer is not this API server's");

    let (status, empty) = review(&cloud, &caller, token_review("", &[])).await;
    assert_eq!((status, empty["message"].as_str()), (400, Some("token is required for TokenReview in authentication")));
    let (status, unauthorized) = review(&cloud, "nope", token_review(&irsa, &[])).await;
    assert_eq!(status, 401);
    assert_eq!(unauthorized, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401}));

    cloud.control().advance_clock(3661).await.unwrap();
    let fresh_caller = token(&cloud, json!({"namespace": "default", "service_account": "bigquery"})).await;
    let (_, expired) = review(&cloud, &fresh_caller, token_review(&caller, &[])).await;
    assert_eq!(expired["status"]["error"], "[invalid bearer token, service account token has expired]");
    let verdicts: Vec<_> = cloud.journal().iter().filter(|e| e.operation == "CreateTokenReview").map(|e| e.verdict).collect();
    use cloudid_mock::Verdict::{Denied, Error, Granted};
    assert_eq!(verdicts, [Granted, Denied, Denied, Denied, Error, Denied, Denied], "an empty review is a bad request, not a denial");
}

async fn metadata(cloud: &cloudid_mock::CloudId, path: &str, flavor: bool) -> (u16, String) {
    let mut r = Client::new().get(format!("{}/computeMetadata/v1/{path}", cloud.endpoint()));
    if flavor {
        r = r.header("Metadata-Flavor", "Google");
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn gke_pod(service_account: &str) -> cloudid_mock::CloudId {
    let mut world = cloudid_mock::world::default_world();
    world.kubernetes.workload = Some(cloudid_mock::world::kubernetes::WorkloadRef { cluster: "acme-gke".into(), namespace: "analytics".into(), service_account: service_account.into() });
    cloudid_mock::CloudId::builder().world(world).clock(cloudid_tests::fixed_clock()).start().await
}

#[tokio::test]
async fn the_gke_metadata_server_answers_for_the_pods_kubernetes_service_account() {
    let linked = gke_pod("bigquery").await;
    assert_eq!(metadata(&linked, "instance/service-accounts/default/email", true).await, (200, "bigquery-reader@acme-data.iam.gserviceaccount.com".into()));
    let (status, body) = metadata(&linked, "instance/service-accounts/default/token", true).await;
    assert_eq!(status, 200);
    let t: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(linked.journal().last().unwrap().principal.as_deref(), Some("bigquery-reader@acme-data.iam.gserviceaccount.com"));
    assert!(t["access_token"].as_str().is_some_and(|a| !a.is_empty()));
    assert_eq!(metadata(&linked, "instance/attributes/", true).await, (200, "cluster-location\ncluster-name\ncluster-uid\n".into()));
    assert_eq!(metadata(&linked, "instance/attributes/cluster-name", true).await, (200, "acme-gke".into()));
    assert_eq!(metadata(&linked, "instance/attributes/kube-env", true).await.0, 404);
    assert_eq!(metadata(&linked, "project/project-id", false).await, (403, "GKE Metadata Server encountered an error: Missing required header \"Metadata-Flavor\": \"Google\"\n".into()));

    let direct = gke_pod("direct").await;
    assert_eq!(metadata(&direct, "instance/service-accounts/default/email", true).await, (200, "acme-data.svc.id.goog".into()));
    assert_eq!(metadata(&direct, "instance/service-accounts/default/token", true).await.0, 200);
    assert_eq!(
        direct.journal().last().unwrap().principal.as_deref(),
        Some("principal://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/acme-data.svc.id.goog/subject/ns/analytics/sa/direct")
    );
    let (status, body) = metadata(&direct, "instance/service-accounts/default/identity?audience=x", true).await;
    assert_eq!(status, 404);
    assert!(body.starts_with("Your Kubernetes service account (analytics/direct) is not annotated with a target Google service account"), "{body}");

    let unbound = gke_pod("unbound").await;
    let (status, body) = metadata(&unbound, "instance/service-accounts/default/token", true).await;
    assert_eq!(status, 403);
    assert!(body.starts_with("Unable to generate access token; IAM returned 403 Forbidden: Permission 'iam.serviceAccounts.getAccessToken' denied on resource"), "{body}");
    let e = unbound.journal().last().unwrap().clone();
    assert_eq!(e.verdict, cloudid_mock::Verdict::Denied);
    assert!(e.checks.iter().any(|c| c.name == "gke.binding" && c.outcome == cloudid_mock::Outcome::Fail));
}

#[test]
fn a_broken_cluster_in_a_world_file_is_named_with_its_field() {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("\n# Azure:", "    - name: acme-eks\n      kind: eks\n\n# Azure:");
    let e = cloudid_mock::world::parse("w.yaml", &yaml).unwrap_err();
    assert_eq!(e.field, "kubernetes.clusters[3].name");
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("          role: apprunner-bigquery-task\n    - name: acme-gke", "          role: NoSuchRole\n    - name: acme-gke");
    let e = cloudid_mock::world::parse("w.yaml", &yaml).unwrap_err();
    assert_eq!(e.field, "kubernetes.clusters[0].pod_identity_associations[0].role");
    assert!(e.message.contains("no role named `NoSuchRole`"), "{}", e.message);
}

#[tokio::test]
async fn token_review_wants_an_api_audience_caller_and_refuses_tokens_of_recreated_objects() {
    let cloud = fixed_cloud().await;
    let api = token(&cloud, json!({"namespace": "default", "service_account": "bigquery"})).await;
    let pod_identity = token(&cloud, json!({"namespace": "default", "service_account": "bigquery", "audience": "pods.eks.amazonaws.com"})).await;
    let irsa = token(&cloud, json!({"namespace": "ci", "service_account": "ecr-pusher"})).await;
    let (status, _) = review(&cloud, &pod_identity, token_review(&irsa, &["sts.amazonaws.com"])).await;
    assert_eq!(status, 401, "a caller's token must be for the API server");
    let r = Client::new()
        .post(format!("{}/clusters/acme-eks/apis/authentication.k8s.io/v1/tokenreviews", cloud.endpoint()))
        .header("authorization", format!("bearer {api} trailing"))
        .json(&token_review(&irsa, &["sts.amazonaws.com"]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "the scheme in any case, the second part the token");

    let recreated = cloudid_mock::world::load::DEFAULT_WORLD_YAML
        .replace("        - namespace: ci\n          name: ecr-pusher\n", "        - namespace: ci\n          name: ecr-pusher\n          uid: 11111111-2222-4333-8444-555555555555\n");
    let other = cloudid_mock::CloudId::builder().world_yaml(&recreated).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let caller = token(&other, json!({"namespace": "default", "service_account": "bigquery"})).await;
    let (_, stale) = review(&other, &caller, token_review(&irsa, &["sts.amazonaws.com"])).await;
    let error = stale["status"]["error"].as_str().unwrap();
    assert!(error.starts_with("[invalid bearer token, service account UID (11111111-2222-4333-8444-555555555555) does not match claim ("), "{error}");

    cloud.control().advance_clock(3600 + 30).await.unwrap();
    let fresh = token(&cloud, json!({"namespace": "default", "service_account": "bigquery"})).await;
    let (_, within_leeway) = review(&cloud, &fresh, token_review(&api, &[])).await;
    assert_eq!(within_leeway["status"]["authenticated"], true, "go-jose allows a minute past exp");
}

#[tokio::test]
async fn the_gke_metadata_server_refuses_proxied_requests_and_other_methods_and_token_paths_are_confined() {
    let pod = gke_pod("bigquery").await;
    let r = Client::new()
        .get(format!("{}/computeMetadata/v1/instance/service-accounts/default/token", pod.endpoint()))
        .header("Metadata-Flavor", "Google")
        .header("X-Forwarded-For", "1.2.3.4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = Client::new().post(format!("{}/computeMetadata/v1/instance/service-accounts/default/token", pod.endpoint())).header("Metadata-Flavor", "Google").send().await.unwrap();
    assert_eq!(r.status(), 405);

    let dir = tempfile::tempdir().unwrap();
    let precious = dir.path().join("precious.conf");
    std::fs::write(&precious, "setting = 1\n").unwrap();
    for (path, why) in [(json!("relative-token"), "not an absolute path"), (json!(precious), "holds something other than a token"), (json!(dir.path()), "not a regular file")] {
        let e = pod.control().kubernetes_token(&json!({"namespace": "ci", "service_account": "ecr-pusher", "cluster": "acme-eks", "path": path})).await.unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "setting = 1\n", "left alone");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
}
