//! The control plane: health, journal, reset, clock and env, and its refusals.

use cloudid_tests::fixed_cloud;
use reqwest::Client;
use serde_json::{Value, json};

#[tokio::test]
async fn health_answers_ok_and_is_not_journaled() {
    let cloud = fixed_cloud().await;
    let r = Client::new().get(format!("{}/_cloudid/health", cloud.endpoint())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"status": "ok"}));
    assert!(cloud.journal().is_empty());
}

#[tokio::test]
async fn the_clock_can_be_read_advanced_set_and_frozen() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let url = format!("{}/_cloudid/clock", cloud.endpoint());
    let now: Value = c.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(now, json!({"now": "2026-11-30T12:00:00Z", "frozen": true}));
    let moved: Value = c.post(&url).json(&json!({"advance_seconds": 3000})).send().await.unwrap().json().await.unwrap();
    assert_eq!(moved["now"], "2026-11-30T12:50:00Z");
    let set: Value = c.post(&url).json(&json!({"set": "2027-01-01T00:00:00Z"})).send().await.unwrap().json().await.unwrap();
    assert_eq!(set["now"], "2027-01-01T00:00:00Z");
    let r = c.post(format!("{}/latest/api/token", cloud.endpoint())).send().await.unwrap();
    assert_eq!(r.headers()["date"], "Fri, 01 Jan 2027 00:00:00 GMT", "Date comes from the server clock");
}

#[tokio::test]
async fn a_bad_clock_change_is_refused_and_changes_nothing() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let url = format!("{}/_cloudid/clock", cloud.endpoint());
    for body in [json!({"advance_seconds": -5}), json!({"set": "yesterday"}), json!({"warp": 1}), json!({})] {
        let r = c.post(&url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let err: Value = r.json().await.unwrap();
        assert!(err["error"].as_str().unwrap().starts_with("clock change"), "{err}");
    }
    assert_eq!(cloudid_mock::clock::iso8601(cloud.clock().now()), "2026-11-30T12:00:00Z");
}

#[tokio::test]
async fn reset_forgets_issued_credentials_and_empties_the_journal() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    let ecs = format!("{}/v2/credentials/6f1c2a4e-8b3d-4e5f-9a70-1b2c3d4e5f60", cloud.endpoint());
    let before: Value = c.get(&ecs).send().await.unwrap().json().await.unwrap();
    let journal: Value = c.get(format!("{}/_cloudid/journal", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    assert_eq!(journal["dropped"], 0);
    assert_eq!(journal["entries"].as_array().unwrap().len(), 1);
    assert_eq!(journal["entries"][0]["service"], "aws_container");
    let r = c.post(format!("{}/_cloudid/reset", cloud.endpoint())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(cloud.journal().is_empty());
    let after: Value = c.get(&ecs).send().await.unwrap().json().await.unwrap();
    assert_eq!(before["AccessKeyId"], after["AccessKeyId"], "same seed, same world: the same first credential");
}

#[tokio::test]
async fn env_names_the_server_as_the_caller_reached_it() {
    let cloud = fixed_cloud().await;
    let env: Value = Client::new().get(format!("{}/_cloudid/env", cloud.endpoint())).send().await.unwrap().json().await.unwrap();
    let expected: Value = serde_json::to_value(cloud.env()).unwrap();
    assert_eq!(env, expected);
    assert_eq!(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], format!("{}/", cloud.endpoint()));
}

#[tokio::test]
async fn unknown_paths_get_a_404_naming_the_path() {
    let cloud = fixed_cloud().await;
    let r = Client::new().get(format!("{}/nothing/here", cloud.endpoint())).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "cloudid: no emulated endpoint at GET /nothing/here\n");
    assert_eq!(cloud.journal()[0].verdict, cloudid_mock::Verdict::Error);
}

#[tokio::test]
async fn the_typed_control_client_drives_every_control_plane_call() {
    let cloud = fixed_cloud().await;
    let control = cloud.control();
    control.health().await.unwrap();
    assert_eq!(control.advance_clock(60).await.unwrap(), "2026-11-30T12:01:00Z");
    assert_eq!(control.set_clock("2027-01-01T00:00:00Z").await.unwrap(), "2027-01-01T00:00:00Z");
    let ids = control.add_fault_values(json!({"match": {"service": "aws_imds"}, "nth": 5, "action": "reset"})).await.unwrap();
    assert_eq!(ids, vec![1]);
    control.clear_faults().await.unwrap();
    let kid = control.rotate_key("github", 60).await.unwrap();
    assert_eq!(kid.len(), 40);
    let roles = control
        .revoke_binding(
            "deployer@acme-data.iam.gserviceaccount.com",
            "principalSet://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/attribute.repository/acme/ecs-express-mode-api",
            None,
        )
        .await
        .unwrap();
    assert_eq!(roles, vec!["roles/iam.workloadIdentityUser".to_string()]);
    let old = cloud.env()["AWS_CONTAINER_AUTHORIZATION_TOKEN"].clone();
    let new = control.rotate_container_token(None).await.unwrap();
    assert_ne!(old, new);
    assert_eq!(control.env().await.unwrap()["AWS_CONTAINER_AUTHORIZATION_TOKEN"], new);
    let token = control.mint("github", &cloudid_mock::TokenRequest { audience: Some("sts.amazonaws.com".into()), ..Default::default() }).await.unwrap();
    assert_eq!(token.split('.').count(), 3);
    control.reset().await.unwrap();
    assert!(control.journal().await.unwrap().entries.is_empty());
    match control.rotate_key("nobody", 60).await {
        Err(cloudid_mock::ControlError::Refused { status: 400, message }) => assert_eq!(message, "rotation: no issuer named `nobody`"),
        other => panic!("{other:?}"),
    }
    let nothing = cloudid_mock::ControlClient::new("http://127.0.0.1:9").unwrap();
    assert!(matches!(nothing.health().await, Err(cloudid_mock::ControlError::Unreachable { .. })));
    assert!(matches!(cloudid_mock::ControlClient::new("https://x"), Err(cloudid_mock::ControlError::BadEndpoint(_))));
}
