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
