//! Issue 20's rough edges of the CLI, as a new user meets them: `cloudid env` names its endpoint
//! and can print one platform's variables, `cloudid token` finds the server `cloudid env` named,
//! and a GitHub token's job claims re-derive the claims that follow from them.

use std::collections::BTreeMap;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloudid_tests::{cloudid_binary, fixed_cloud};
use serde_json::Value;

fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(cloudid_binary()).args(args).env_remove("CLOUDID_ENDPOINT").envs(env.iter().copied()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn json_env(endpoint: &str, extra: &[&str]) -> BTreeMap<String, String> {
    let mut args = vec!["env", "--format", "json", "--endpoint", endpoint];
    args.extend(extra);
    let (ok, out, err) = run(&args, &[]);
    assert!(ok, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn env_names_its_endpoint_and_every_metadata_variable_the_google_clients_read() {
    let cloud = fixed_cloud().await;
    let env = json_env(&cloud.endpoint(), &[]);
    assert_eq!(env["CLOUDID_ENDPOINT"], cloud.endpoint());
    let authority = cloud.endpoint().trim_start_matches("http://").to_string();
    for var in ["GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT"] {
        assert_eq!(env[var], authority, "{var}");
    }
    assert!(env.contains_key("AWS_CONTAINER_CREDENTIALS_FULL_URI") && env.contains_key("AWS_EC2_METADATA_SERVICE_ENDPOINT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn env_as_a_platform_prints_that_platforms_variables_only() {
    let cloud = fixed_cloud().await;
    let ec2 = json_env(&cloud.endpoint(), &["--as", "ec2"]);
    assert!(ec2.contains_key("AWS_EC2_METADATA_SERVICE_ENDPOINT"));
    assert!(!ec2.keys().any(|k| k.starts_with("AWS_CONTAINER_") || k.starts_with("GCE_") || k.starts_with("ACTIONS_")), "{ec2:?}");
    let ecs = json_env(&cloud.endpoint(), &["--as", "ecs"]);
    assert!(ecs["AWS_CONTAINER_CREDENTIALS_FULL_URI"].contains("/v2/credentials/"), "{ecs:?}");
    assert!(!ecs.contains_key("AWS_EC2_METADATA_SERVICE_ENDPOINT") && !ecs.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN"), "{ecs:?}");
    let pod = json_env(&cloud.endpoint(), &["--as", "eks-pod-identity"]);
    assert!(pod["AWS_CONTAINER_CREDENTIALS_FULL_URI"].ends_with("/v1/credentials") && pod.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN"), "{pod:?}");
    let gce = json_env(&cloud.endpoint(), &["--as", "gce"]);
    assert!(gce.contains_key("GCE_METADATA_HOST") && !gce.contains_key("AWS_EC2_METADATA_SERVICE_ENDPOINT"), "{gce:?}");
    let gha = json_env(&cloud.endpoint(), &["--as", "github-actions"]);
    assert!(gha.contains_key("ACTIONS_ID_TOKEN_REQUEST_URL") && !gha.contains_key("GCE_METADATA_HOST"), "{gha:?}");
    let (ok, _, err) = run(&["env", "--endpoint", &cloud.endpoint(), "--as", "mainframe"], &[]);
    assert!(!ok && err.contains("possible values"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn token_reads_the_endpoint_that_env_exported() {
    let cloud = fixed_cloud().await;
    let (ok, token, err) = run(&["token", "github", "--audience", "sts.amazonaws.com"], &[("CLOUDID_ENDPOINT", &cloud.endpoint())]);
    assert!(ok, "{err}");
    assert_eq!(claims(&token)["aud"], "sts.amazonaws.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_claim_re_derives_the_claims_that_follow_from_it() {
    let cloud = fixed_cloud().await;
    let (ok, token, err) = run(&["token", "github", "--endpoint", &cloud.endpoint(), "--claim", "repository=octo-org/other"], &[]);
    assert!(ok, "{err}");
    let c = claims(&token);
    assert_eq!(c["sub"], "repo:octo-org/other:ref:refs/heads/main");
    assert_eq!(c["repository_owner"], "octo-org");
    assert_eq!(c["workflow_ref"], "octo-org/other/.github/workflows/deploy.yml@refs/heads/main");
    let default = claims(&run(&["token", "github", "--endpoint", &cloud.endpoint()], &[]).1);
    assert_ne!(c["repository_id"], default["repository_id"]);
    assert_ne!(c["repository_owner_id"], default["repository_owner_id"]);
    let (_, token, _) = run(&["token", "github", "--endpoint", &cloud.endpoint(), "--claim", "environment=production", "--claim", "ref=refs/tags/v1"], &[]);
    let c = claims(&token);
    assert_eq!((c["sub"].as_str(), c["ref_type"].as_str()), (Some("repo:acme/ecs-express-mode-api:environment:production"), Some("tag")));
    let (_, token, _) = run(&["token", "github", "--endpoint", &cloud.endpoint(), "--claim", "repository=octo-org/other", "--claim", "sub=custom"], &[]);
    assert_eq!(claims(&token)["sub"], "custom", "an explicit sub still wins");
    let (_, help, _) = run(&["token", "--help"], &[]);
    for name in ["repository", "repository_owner_id", "event_name", "environment", "runner_environment", "sub, repository_owner"] {
        assert!(help.contains(name), "--help lacks {name}");
    }
}
