//! Container credentials over HTTP: the Pod Identity agent (the cluster pod's projected token,
//! or a world's fixed token) and the ECS agent (`/v2/credentials/<id>`), with every refusal in the
//! agent's own shape.

use cloudid_mock::Verdict;
use cloudid_tests::fixed_cloud;
use reqwest::{Client, Response};

const ECS_PATH: &str = "/v2/credentials/6f1c2a4e-8b3d-4e5f-9a70-1b2c3d4e5f60";

async fn shape(r: Response) -> String {
    let mut out = format!("{}\n", r.status().as_u16());
    if let Some(v) = r.headers().get("content-type") {
        out.push_str(&format!("content-type: {}\n", v.to_str().unwrap()));
    }
    out.push('\n');
    out.push_str(&r.text().await.unwrap());
    out
}

/// The default world with the Pod Identity agent of a world that fixes the pod's token (an
/// `aws.containers` entry), instead of its cluster's projected tokens.
async fn fixed_token_cloud() -> cloudid_mock::CloudId {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace(
        "  containers:\n",
        "  containers:\n    - agent: pod_identity\n      path: /v1/credentials\n      role: apprunner-bigquery-task\n      session_name: eks-acme-apprunner-bigquery-task\n      auth_token: eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDpiaWdxdWVyeSJ9.Zml4ZWQ\n",
    );
    cloudid_mock::CloudId::builder().world_yaml(&yaml).unwrap().clock(cloudid_tests::fixed_clock()).start().await
}

#[tokio::test]
async fn the_pod_identity_agent_serves_the_associated_role_for_the_pods_projected_token() {
    let cloud = fixed_cloud().await;
    let env = cloud.env();
    let r = Client::new().get(&env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]).header("Authorization", &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = shape(r).await;
    let doc: serde_json::Value = serde_json::from_str(body.split("\n\n").nth(1).unwrap()).unwrap();
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["AccessKeyId", "AccountId", "Expiration", "SecretAccessKey", "Token"], "the agent's fields: no RoleArn");
    assert_eq!(doc["AccountId"], "123456789012");
    let e = &cloud.journal()[0];
    assert_eq!(e.verdict, Verdict::Granted);
    assert_eq!(e.issued.as_ref().unwrap().access_key_id.as_deref(), doc["AccessKeyId"].as_str());
    let principal = e.principal.as_deref().unwrap();
    assert!(principal.starts_with("arn:aws:sts::123456789012:assumed-role/apprunner-bigquery-task/eks-acme-eks-bigquery-"), "eks-CLUSTER-POD-UUID, each cut to 10: {principal}");
    let check = |name: &str| e.checks.iter().find(|c| c.name == name).map(|c| c.outcome);
    assert_eq!(check("eks_auth.token"), Some(cloudid_mock::Outcome::Pass));
    assert_eq!(check("eks_auth.association"), Some(cloudid_mock::Outcome::Pass));
    assert_eq!(check("iam.trust_policy"), Some(cloudid_mock::Outcome::Pass));
}

#[tokio::test]
async fn the_pod_identity_agent_refuses_another_clusters_token_an_unassociated_account_and_an_expired_token() {
    let cloud = fixed_cloud().await;
    let url = cloud.env()["AWS_CONTAINER_CREDENTIALS_FULL_URI"].clone();
    let control = cloud.control();
    let mint = |ns: &str, sa: &str, aud: &str| serde_json::json!({"namespace": ns, "service_account": sa, "audience": aud});
    let c = Client::new();
    let unassociated = control.kubernetes_token(&mint("ci", "other", "pods.eks.amazonaws.com")).await.unwrap()["token"].as_str().unwrap().to_string();
    let r = c.get(&url).header("Authorization", &unassociated).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let text = r.text().await.unwrap();
    assert!(text.contains("(ResourceNotFoundException): ") && text.contains("ci") && text.ends_with(", fault: client\n"), "{text}");
    let wrong_audience = control.kubernetes_token(&mint("default", "bigquery", "sts.amazonaws.com")).await.unwrap()["token"].as_str().unwrap().to_string();
    let r = c.get(&url).header("Authorization", &wrong_audience).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("(InvalidTokenException)"));
    let gke = control.kubernetes_token(&serde_json::json!({"cluster": "acme-gke", "namespace": "analytics", "service_account": "bigquery", "audience": "pods.eks.amazonaws.com"})).await.unwrap();
    let r = c.get(&url).header("Authorization", gke["token"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(r.status(), 400, "another cluster's token");
    let good = cloud.env()["AWS_CONTAINER_AUTHORIZATION_TOKEN"].clone();
    control.advance_clock(86_401).await.unwrap();
    let r = c.get(&url).header("Authorization", &good).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.text().await.unwrap(), "Service account token failed basic claim validations: token is expired\n");
    let journal = cloud.journal();
    assert_eq!(journal.len(), 4);
    assert!(journal.iter().all(|e| e.verdict == Verdict::Denied && e.issued.is_none()), "{journal:#?}");
}

#[tokio::test]
async fn the_pod_identity_endpoint_serves_the_task_role_for_the_right_fixed_token() {
    let cloud = fixed_token_cloud().await;
    let env = cloud.env();
    let r = Client::new().get(&env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]).header("Authorization", &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body = shape(r).await;
    insta::assert_snapshot!("container_pod_identity_credentials", body);
    let doc: serde_json::Value = serde_json::from_str(body.split("\n\n").nth(1).unwrap()).unwrap();
    assert_eq!(doc["AccountId"], "123456789012");
    let e = &cloud.journal()[0];
    assert_eq!(e.verdict, Verdict::Granted);
    assert_eq!(e.issued.as_ref().unwrap().access_key_id.as_deref(), doc["AccessKeyId"].as_str());
    assert_eq!(e.principal.as_deref(), Some("arn:aws:sts::123456789012:assumed-role/apprunner-bigquery-task/eks-acme-apprunner-bigquery-task"));
}

#[tokio::test]
async fn the_pod_identity_agent_refuses_missing_malformed_and_wrong_tokens() {
    let cloud = fixed_cloud().await;
    let url = cloud.env()["AWS_CONTAINER_CREDENTIALS_FULL_URI"].clone();
    let c = Client::new();
    let missing = c.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    insta::assert_snapshot!("container_pod_identity_missing_token", shape(missing).await);
    let malformed = c.get(&url).header("Authorization", "not-a-jwt").send().await.unwrap();
    assert_eq!(malformed.status(), 400);
    insta::assert_snapshot!("container_pod_identity_malformed_token", shape(malformed).await);
    let wrong = c.get(&url).header("Authorization", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln").send().await.unwrap();
    assert_eq!(wrong.status(), 400);
    let text = wrong.text().await.unwrap();
    assert!(text.contains("(InvalidTokenException)") && text.ends_with(", fault: client\n"), "{text}");
    let bearer = c.get(&url).header("Authorization", format!("Bearer {}", cloud.env()["AWS_CONTAINER_AUTHORIZATION_TOKEN"])).send().await.unwrap();
    assert_eq!(bearer.status(), 400, "the token is sent raw; a Bearer prefix is a different token");
    let journal = cloud.journal();
    assert_eq!(journal.len(), 4);
    assert!(journal.iter().all(|e| e.verdict == Verdict::Denied && e.issued.is_none()));
}

#[tokio::test]
async fn the_ecs_agent_serves_a_task_by_id_and_rejects_unknown_ids() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let ok = c.get(format!("{}{ECS_PATH}", cloud.endpoint())).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    insta::assert_snapshot!("container_ecs_credentials", shape(ok).await);
    let unknown = c.get(format!("{}/v2/credentials/00000000-0000-0000-0000-000000000000", cloud.endpoint())).send().await.unwrap();
    assert_eq!(unknown.status(), 400);
    insta::assert_snapshot!("container_ecs_unknown_id", shape(unknown).await);
    let no_id = c.get(format!("{}/v2/credentials/", cloud.endpoint())).send().await.unwrap();
    assert_eq!(no_id.status(), 400);
    assert_eq!(no_id.json::<serde_json::Value>().await.unwrap()["code"], "NoIdInRequest");
    let verdicts: Vec<_> = cloud.journal().iter().map(|e| e.verdict).collect();
    assert_eq!(verdicts, [Verdict::Granted, Verdict::Error, Verdict::Error]);
}

#[tokio::test]
async fn an_ecs_task_with_a_token_refuses_requests_without_it() {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML
        .replace("      session_name: 3f9a2b7c8d1e4f5a6b7c8d9e0f1a2b3c", "      session_name: 3f9a2b7c8d1e4f5a6b7c8d9e0f1a2b3c\n      auth_token: s3cr3t-task-token");
    let cloud = cloudid_mock::CloudId::builder().world_yaml(&yaml).unwrap().start().await;
    let c = Client::new();
    let url = format!("{}{ECS_PATH}", cloud.endpoint());
    assert_eq!(c.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(c.get(&url).header("Authorization", "nope").send().await.unwrap().status(), 403);
    assert_eq!(c.get(&url).header("Authorization", "s3cr3t-task-token").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn container_credentials_are_reused_until_rotation() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let url = format!("{}{ECS_PATH}", cloud.endpoint());
    let a: serde_json::Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    let b: serde_json::Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(a["AccessKeyId"], b["AccessKeyId"]);
    cloud.clock().advance(std::time::Duration::from_secs(5 * 3600 + 1));
    let d: serde_json::Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    assert_ne!(a["AccessKeyId"], d["AccessKeyId"]);
}

#[tokio::test]
async fn a_rotated_fixed_pod_token_replaces_the_old_one_which_is_then_refused() {
    let cloud = fixed_token_cloud().await;
    let before = cloud.env();
    let url = before["AWS_CONTAINER_CREDENTIALS_FULL_URI"].clone();
    let c = Client::new();
    let rotated: serde_json::Value = c.post(format!("{}/_cloudid/containers/rotate-token", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    let new = rotated["token"].as_str().unwrap();
    assert_ne!(new, before["AWS_CONTAINER_AUTHORIZATION_TOKEN"]);
    assert_eq!(new.split('.').count(), 3, "still shaped as a service-account JWT");
    assert_eq!(cloud.env()["AWS_CONTAINER_AUTHORIZATION_TOKEN"], new, "env gives the current token");
    let old = c.get(&url).header("Authorization", &before["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).send().await.unwrap();
    assert_eq!(old.status(), 400);
    assert!(old.text().await.unwrap().contains("(InvalidTokenException)"));
    assert_eq!(c.get(&url).header("Authorization", new).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn rotating_the_token_of_a_container_without_one_is_a_clear_error_and_changes_nothing() {
    let cloud = fixed_token_cloud().await;
    let before = cloud.env();
    let r = Client::new().post(format!("{}/_cloudid/containers/rotate-token", cloud.endpoint())).body(format!(r#"{{"path": "{ECS_PATH}"}}"#)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], format!("container token rotation: no container with an authorization token at {ECS_PATH}"));
    assert_eq!(cloud.env(), before);
}

#[tokio::test]
async fn both_agents_refuse_other_methods_than_get_in_their_own_shape_and_issue_nothing() {
    let cloud = fixed_token_cloud().await;
    let env = cloud.env();
    let c = Client::new();
    let ecs = c.post(format!("{}{ECS_PATH}", cloud.endpoint())).send().await.unwrap();
    assert_eq!(shape(ecs).await, "405\ncontent-type: application/json\n\n{\"HTTPErrorCode\":405,\"code\":\"InvalidRequest\",\"message\":\"Invalid request method\"}");
    let pod = c.put(&env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]).header("Authorization", &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).send().await.unwrap();
    assert_eq!(shape(pod).await, "405\ncontent-type: text/plain; charset=utf-8\n\nMethod Not Allowed\n");
    let journal = cloud.journal();
    assert_eq!(journal.len(), 2);
    for e in &journal {
        assert!(e.issued.is_none() && e.checks.iter().any(|c| c.name == "container.method" && c.outcome == cloudid_mock::Outcome::Fail), "{e:#?}");
    }
}

#[tokio::test]
async fn pod_identity_session_tags_are_what_the_trust_policy_sees_and_what_the_session_carries() {
    let only_default = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace(
        "                - pods.eks.amazonaws.com\n            Action:\n              - sts:AssumeRole\n              - sts:TagSession\n",
        "                - pods.eks.amazonaws.com\n            Action:\n              - sts:AssumeRole\n              - sts:TagSession\n            Condition:\n              StringEquals:\n                aws:RequestTag/kubernetes-namespace: analytics\n",
    );
    assert_ne!(only_default, cloudid_mock::world::load::DEFAULT_WORLD_YAML, "the edit applies");
    let cloud = cloudid_mock::CloudId::builder().world_yaml(&only_default).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let env = cloud.env();
    let r = Client::new().get(&env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]).header("Authorization", &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(text.contains("(AccessDeniedException): Unauthorized Exception! EKS does not have permissions to assume the associated role., fault: client"), "{text}");
    let e = &cloud.journal()[0];
    let trust = e.checks.iter().find(|c| c.name == "iam.trust_policy").unwrap();
    assert!(trust.detail.as_deref().unwrap_or_default().contains("aws:RequestTag/kubernetes-namespace"), "{trust:#?}");

    let tag_roles = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace(
        "  oidc_providers:\n",
        "    - name: default-namespace-only\n      trust_policy:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {AWS: arn:aws:iam::123456789012:role/apprunner-bigquery-task}\n            Action: [sts:AssumeRole, sts:TagSession]\n            Condition: {StringEquals: {aws:PrincipalTag/kubernetes-namespace: default, aws:PrincipalTag/eks-cluster-name: acme-eks}}\n    - name: analytics-only\n      trust_policy:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {AWS: arn:aws:iam::123456789012:role/apprunner-bigquery-task}\n            Action: [sts:AssumeRole, sts:TagSession]\n            Condition: {StringEquals: {aws:PrincipalTag/kubernetes-namespace: analytics}}\n  oidc_providers:\n",
    );
    let cloud = cloudid_mock::CloudId::builder().world_yaml(&tag_roles).unwrap().start().await;
    let env = cloud.env();
    let doc: serde_json::Value =
        Client::new().get(&env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]).header("Authorization", &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]).send().await.unwrap().json().await.unwrap();
    let creds = aws_credential_types::Credentials::new(doc["AccessKeyId"].as_str().unwrap(), doc["SecretAccessKey"].as_str().unwrap(), doc["Token"].as_str().map(str::to_string), None, "pod");
    let now = cloudid_tests::sts::to_system(cloud.clock().now());
    let assume = |role: &'static str| [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", role), ("RoleSessionName", "chained")];
    let ok = cloudid_tests::sts::sign_form(&cloud, &creds, &assume("arn:aws:iam::123456789012:role/default-namespace-only"), "ap-northeast-1", "sts", now);
    let (status, body) = cloudid_tests::sts::send_signed(&cloud, &ok).await;
    assert_eq!(status, 200, "the session carries the pod's tags as principal tags: {body}");
    let denied = cloudid_tests::sts::sign_form(&cloud, &creds, &assume("arn:aws:iam::123456789012:role/analytics-only"), "ap-northeast-1", "sts", now);
    assert_eq!(cloudid_tests::sts::send_signed(&cloud, &denied).await.0, 403);
}
