//! Issue 16: every refusal explained — the journal's explanations of real refusals (snapshots of
//! the attack table's), `cloudid explain` on the seeds' broken configurations, `cloudid lint`,
//! worlds that reference the users' own files, and the condition keys and session tags a trust
//! policy sees.

use std::process::Command;

use cloudid_mock::explain::Explanation;
use cloudid_mock::{CloudId, Outcome};
use cloudid_tests::sts::*;
use cloudid_tests::{cloudid_binary, fixed_cloud, workspace_root};
use serde_json::json;

const GITHUB_ROLE: &str = "GitHubActionsECRRole";

/// The explanation of the last journal entry's failing check, in words.
fn last_refusal_words(cloud: &CloudId) -> String {
    let entry = cloud.journal().pop().expect("a journal entry");
    let failed = entry.checks.iter().find(|c| c.outcome == Outcome::Fail && c.explanation.is_some()).unwrap_or_else(|| panic!("no explained failure in {:?}", entry.checks));
    format!("{} {}\n{}", failed.name, failed.detail.as_deref().unwrap_or(""), failed.explanation.as_ref().unwrap().render())
}

fn cli(args: &[&str]) -> (i32, String) {
    let out = Command::new(cloudid_binary()).args(args).current_dir(workspace_root()).output().expect("cloudid runs");
    (out.status.code().unwrap_or(-1), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test]
async fn the_attack_tables_trust_policy_refusals_are_explained_condition_by_condition() {
    let cloud = fixed_cloud().await;
    for (name, sub) in [
        ("another-repository", "repo:acme/other-repo:ref:refs/heads/main"),
        ("another-branch", "repo:acme/ecs-express-mode-api:ref:refs/heads/feature"),
        ("a-pull-request", "repo:acme/ecs-express-mode-api:pull_request"),
    ] {
        let t = github_token(&cloud, json!({ "sub": sub })).await;
        let (status, _) = web_identity(&cloud, GITHUB_ROLE, &t, &[]).await;
        assert_eq!(status, 403);
        insta::assert_snapshot!(format!("explained_trust_policy_{name}"), last_refusal_words(&cloud));
    }
    let aud = github_token(&cloud, json!({"aud": "https://github.com/acme"})).await;
    web_identity(&cloud, GITHUB_ROLE, &aud, &[]).await;
    insta::assert_snapshot!("explained_wrong_audience", last_refusal_words(&cloud));
    let evil = github_token(&cloud, json!({"iss": "https://evil.example"})).await;
    web_identity(&cloud, GITHUB_ROLE, &evil, &[]).await;
    insta::assert_snapshot!("explained_unknown_issuer", last_refusal_words(&cloud));
}

#[tokio::test]
async fn a_journaled_refusal_carries_the_structured_trace_with_both_values() {
    let cloud = fixed_cloud().await;
    let t = github_token(&cloud, json!({"sub": "repo:acme/ecs-express-mode-api:ref:refs/heads/feature"})).await;
    web_identity(&cloud, GITHUB_ROLE, &t, &[]).await;
    let entry = cloud.journal().pop().unwrap();
    let check = entry.checks.iter().find(|c| c.name == "iam.trust_policy").unwrap();
    let Some(Explanation::TrustPolicy(trace)) = check.explanation.as_deref() else { panic!("{check:?}") };
    let failed = trace.statements[0].conditions.iter().find(|c| !c.holds).unwrap();
    assert_eq!(failed.key, "token.actions.githubusercontent.com:sub");
    assert_eq!(failed.policy_values, vec!["repo:acme/ecs-express-mode-api:ref:refs/heads/main".to_string()]);
    assert_eq!(failed.request_values, Some(vec!["repo:acme/ecs-express-mode-api:ref:refs/heads/feature".to_string()]));
    let json = serde_json::to_value(&entry).unwrap();
    assert_eq!(
        json.pointer("/checks").and_then(|c| c.as_array()).and_then(|c| c.iter().find(|c| c["name"] == "iam.trust_policy")).and_then(|c| c.pointer("/explanation/kind")),
        Some(&json!("trust_policy"))
    );
}

#[tokio::test]
async fn grants_are_explained_only_when_the_world_asks() {
    let cloud = fixed_cloud().await;
    let t = github_token(&cloud, json!({})).await;
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &t, &[]).await.0, 200);
    assert!(cloud.journal().pop().unwrap().checks.iter().all(|c| c.explanation.is_none()));
    let yaml = format!("explain_grants: true\n{}", cloudid_mock::world::load::DEFAULT_WORLD_YAML);
    let cloud = CloudId::builder().world_yaml(&yaml).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
    let t = github_token(&cloud, json!({})).await;
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &t, &[]).await.0, 200);
    let entry = cloud.journal().pop().unwrap();
    let check = entry.checks.iter().find(|c| c.name == "iam.trust_policy").unwrap();
    assert!(check.explanation.as_ref().unwrap().render().contains("allowed by statement 0"));
}

#[tokio::test]
async fn a_signature_mismatch_shows_the_servers_canonical_request_without_the_session_token() {
    let cloud = fixed_cloud().await;
    let t = github_token(&cloud, json!({})).await;
    let creds = credentials_of(&web_identity(&cloud, GITHUB_ROLE, &t, &[]).await.1);
    let now = to_system(cloud.clock().now());
    let mut signed = sign_form(&cloud, &creds, &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")], "ap-northeast-1", "sts", now);
    signed.body = "Action=GetCallerIdentity&Version=2011-06-15&Extra=1".into();
    let (status, body) = send_signed(&cloud, &signed).await;
    assert_eq!(status, 403);
    assert!(!body.contains("Canonical String"), "STS does not show the canonical request: {body}");
    let words = last_refusal_words(&cloud);
    assert!(words.contains("canonical request:") && words.contains("POST") && words.contains("string to sign:"), "{words}");
    assert!(words.contains("x-amz-security-token:<session token"), "{words}");
    assert!(!words.contains(creds.session_token().unwrap()), "the session token never appears");
}

#[tokio::test]
async fn a_google_attribute_condition_refusal_shows_the_assertion_the_attributes_and_the_result() {
    let cloud = fixed_cloud().await;
    let aud = "https://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/providers/github";
    let t = github_token(&cloud, json!({"aud": aud, "repository_owner": "evil", "repository": "evil/app"})).await;
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("audience", "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/providers/github"),
        ("scope", "https://www.googleapis.com/auth/cloud-platform"),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("subject_token", &t),
    ];
    let response = reqwest::Client::new().post(format!("{}/v1/token", cloud.endpoint())).header("content-type", "application/x-www-form-urlencoded").body(form_encode(&form)).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let words = last_refusal_words(&cloud);
    assert!(words.contains("attribute condition assertion.repository_owner == 'acme'") && words.contains("evaluates to false"), "{words}");
    assert!(words.contains("repository_owner = \"evil\"") && words.contains("attribute.repository = \"evil/app\""), "{words}");
}

#[test]
fn explain_names_the_sub_condition_when_seed_001s_policy_allows_another_branch() {
    let claims = r#"{"iss":"https://token.actions.githubusercontent.com","aud":"sts.amazonaws.com","sub":"repo:acme/ecs-express-mode-api:ref:refs/heads/main"}"#;
    let role = "arn:aws:iam::123456789012:role/GitHubActionsECRRole";
    let (code, out) = cli(&["explain", "--world", "fixtures/configs/seed-001-other-branch/world.yaml", "--role", role, "--claims", claims, "--at", "2026-12-03T00:00:00Z"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("condition StringLike token.actions.githubusercontent.com:sub: FAILS"), "{out}");
    assert!(out.contains("policy expects \"repo:acme/ecs-express-mode-api:ref:refs/heads/develop\""), "{out}");
    assert!(out.contains("request has    \"repo:acme/ecs-express-mode-api:ref:refs/heads/main\""), "{out}");
    let (code, out) = cli(&["explain", "--world", "fixtures/configs/seed-001/world.yaml", "--role", role, "--claims", claims, "--at", "2026-12-03T00:00:00Z"]);
    assert_eq!(code, 0, "the seed's own trust-policy.json grants: {out}");
    assert!(out.contains("GRANTED") && out.contains("allowed by statement 0"), "{out}");
    let (code, out) = cli(&["lint", "--world", "fixtures/configs/seed-001-other-branch/world.yaml"]);
    assert_eq!((code, out.trim_end().ends_with("no findings")), (0, true), "a valid policy for another branch is not a lint finding: {out}");
}

#[test]
fn seed_000s_aud_azp_mix_up_is_found_by_lint_and_named_by_explain() {
    let (code, out) = cli(&["lint", "--world", "fixtures/configs/seed-000-aud-azp/world.yaml"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("fixtures/configs/seed-000-aud-azp/world.yaml:") && out.contains("error[google-aud-is-azp]"), "{out}");
    assert!(out.contains("fix: move `reply-bot.apps.googleusercontent.com` to accounts.google.com:oaud"), "{out}");
    let claims = r#"{"iss":"https://accounts.google.com","aud":"reply-bot.apps.googleusercontent.com","azp":"104412345678901234567","sub":"104412345678901234567"}"#;
    let (code, out) =
        cli(&["explain", "--world", "fixtures/configs/seed-000-aud-azp/world.yaml", "--role", "arn:aws:iam::123456789012:role/reply-bot-cloudrun-workload-identity-staging", "--claims", claims]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("condition StringEquals accounts.google.com:aud: FAILS"), "{out}");
    assert!(out.contains("policy expects \"reply-bot.apps.googleusercontent.com\"") && out.contains("request has    \"104412345678901234567\""), "{out}");
    assert!(out.contains(":aud is the token's azp and :oaud its aud"), "{out}");
}

#[test]
fn lint_finds_nothing_in_the_default_world_and_the_seeds_own_files() {
    for world in [None, Some("fixtures/configs/seed-001/world.yaml"), Some("fixtures/configs/seed-002-gcloud/world.yaml")] {
        let mut args = vec!["lint"];
        if let Some(w) = world {
            args.extend(["--world", w]);
        }
        let (code, out) = cli(&args);
        assert_eq!(code, 0, "{world:?}: {out}");
    }
}

#[test]
fn explain_refuses_bad_input_with_a_clear_error() {
    let (code, out) = cli(&["explain", "--role", "arn:aws:iam::123456789012:role/x", "--claims", "{not json"]);
    assert_eq!(code, 2);
    assert!(out.contains("--claims is not JSON"), "{out}");
    let (code, out) = cli(&["explain", "--role", "arn:aws:iam::123456789012:role/x", "--claims", r#"{"iss":"https://nobody.example"}"#]);
    assert_eq!(code, 2);
    assert!(out.contains("the world has no issuer with iss `https://nobody.example`"), "{out}");
    let (code, _) = cli(&["explain", "--claims", "{}"]);
    assert_eq!(code, 2, "a target is required");
}

#[test]
fn worlds_read_the_users_own_files_and_refuse_broken_ones_with_the_field_and_line() {
    let seed_002 = cloudid_mock::world::load_file(&workspace_root().join("fixtures/configs/seed-002-gcloud/world.yaml")).unwrap();
    let provider = &seed_002.gcp.workload_identity_pools[0].providers[0];
    assert_eq!(provider.attribute_mapping.get("attribute.aws_role").map(String::as_str), Some("assertion.arn.extract('assumed-role/{role}/')"));
    assert_eq!(seed_002.gcp.service_accounts[0].bindings[0].role, "roles/iam.workloadIdentityUser");
    let seed_001 = cloudid_mock::world::load_file(&workspace_root().join("fixtures/configs/seed-001/world.yaml")).unwrap();
    let from_file = seed_001.aws.roles[0].trust_policy.as_ref().unwrap();
    let default = cloudid_mock::world::load::default_world();
    assert_eq!(Some(from_file), default.aws.roles.iter().find(|r| r.name == GITHUB_ROLE).and_then(|r| r.trust_policy.as_ref()));

    let dir = std::env::temp_dir().join(format!("cloudid-world-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let world = "aws:\n  account_id: \"123456789012\"\n  region: ap-northeast-1\n  roles:\n    - name: r\n      trust_policy_file: policy.json\n";
    std::fs::write(dir.join("world.yaml"), world).unwrap();
    let err = cloudid_mock::world::load_file(&dir.join("world.yaml")).unwrap_err();
    assert_eq!((err.field.as_str(), err.line), ("aws.roles[0].trust_policy_file", Some(6)), "{err}");
    assert!(err.message.contains("cannot read"), "{err}");
    std::fs::write(dir.join("policy.json"), r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}"#).unwrap();
    let err = cloudid_mock::world::load_file(&dir.join("world.yaml")).unwrap_err();
    assert!(err.message.contains("MalformedPolicyDocument: Has prohibited field Resource"), "{err}");
    std::fs::write(dir.join("policy.json"), "{\"Statement\": [\n  oops\n]}").unwrap();
    let err = cloudid_mock::world::load_file(&dir.join("world.yaml")).unwrap_err();
    assert!(err.message.contains("is not JSON: line 2"), "{err}");
    let flag = "aws:\n  account_id: \"123456789012\"\n  region: ap-northeast-1\ngcp:\n  project_number: \"1\"\n  workload_identity_pools:\n    - name: p\n      providers:\n        - name: x\n          aws: {account_id: \"123456789012\"}\n          attribute_mapping: \"google.subject\"\n";
    let err = cloudid_mock::world::load::parse("flag.yaml", flag).unwrap_err();
    assert!(err.message.contains("is not KEY=EXPRESSION"), "{err}");
    let text_refs = cloudid_mock::world::load::parse("inline", world).unwrap_err();
    assert!(text_refs.message.contains("cannot reference files"), "{text_refs}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_provider_for_a_shared_issuer_without_a_condition_is_refused_as_google_refuses_it() {
    let yaml = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("          attribute_condition: assertion.repository_owner == 'acme'\n", "");
    let err = cloudid_mock::world::load::parse("w.yaml", &yaml).unwrap_err();
    assert!(err.field.ends_with("attribute_condition"), "{err}");
    assert!(err.message.starts_with("The attribute condition must reference one of the provider's claims."), "{err}");
}

#[tokio::test]
async fn trust_policies_see_time_source_ip_and_session_tags_and_tags_need_tag_session() {
    let policy = |condition: &str, actions: &str| {
        cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace(
            "    # Seed 000: Cloud Run",
            &format!("    - name: conditional\n      trust_policy:\n        Statement:\n          - Effect: Allow\n            Principal: {{Federated: arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com}}\n            Action: {actions}\n            Condition: {condition}\n    # Seed 000: Cloud Run"),
        )
    };
    let cases = [
        ("{DateLessThan: {aws:CurrentTime: '2030-01-01T00:00:00Z'}, IpAddress: {aws:SourceIp: 198.51.100.0/24}, Bool: {aws:SecureTransport: 'true'}}", "sts:AssumeRoleWithWebIdentity", json!({}), 200),
        ("{DateGreaterThan: {aws:CurrentTime: '2030-01-01T00:00:00Z'}}", "sts:AssumeRoleWithWebIdentity", json!({}), 403),
        ("{NotIpAddress: {aws:SourceIp: 198.51.100.0/24}}", "sts:AssumeRoleWithWebIdentity", json!({}), 403),
        ("{StringEquals: {aws:RequestTag/team: platform}}", "[sts:AssumeRoleWithWebIdentity, sts:TagSession]", json!({"https://aws.amazon.com/tags": {"principal_tags": {"team": ["platform"]}}}), 200),
        ("{StringEquals: {aws:RequestTag/team: platform}}", "[sts:AssumeRoleWithWebIdentity, sts:TagSession]", json!({"https://aws.amazon.com/tags": {"principal_tags": {"team": ["other"]}}}), 403),
        (
            "{StringLike: {token.actions.githubusercontent.com:sub: 'repo:acme/*'}}",
            "sts:AssumeRoleWithWebIdentity",
            json!({"https://aws.amazon.com/tags": {"principal_tags": {"team": ["platform"]}}}),
            403,
        ),
        (
            "{ForAllValues:StringEquals: {aws:TagKeys: [team]}}",
            "[sts:AssumeRoleWithWebIdentity, sts:TagSession]",
            json!({"https://aws.amazon.com/tags": {"principal_tags": {"team": ["a"], "cost": ["b"]}}}),
            403,
        ),
    ];
    for (condition, actions, claims, expected) in cases {
        let cloud = CloudId::builder().world_yaml(&policy(condition, actions)).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
        let t = github_token(&cloud, claims.clone()).await;
        let (status, body) = web_identity(&cloud, "conditional", &t, &[]).await;
        assert_eq!(status, expected, "{condition} / {actions} / {claims}: {body}");
        if expected == 403 {
            assert!(last_refusal_words(&cloud).contains("FAILS") || claims.get("https://aws.amazon.com/tags").is_some(), "{condition}");
        }
    }
}

#[test]
fn the_seeds_own_files_import_into_the_default_worlds_identity_configuration() {
    let out = std::env::temp_dir().join(format!("cloudid-imported-{}.yaml", std::process::id()));
    let mut args = vec!["world", "import"];
    args.extend(cloudid_tests::SEED_CONFIG_FILES);
    let out_arg = out.display().to_string();
    args.extend(["--out", &out_arg]);
    let (code, report) = cli(&args);
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("aws_iam_policy.cloudrun_dynamodb_access: aws_iam_policy is not part of identity federation"), "{report}");
    assert!(report.contains("policy_arn — unknown until apply"), "{report}");
    let imported = cloudid_mock::world::load_file(&out).unwrap();
    let default = cloudid_mock::world::load::default_world();
    for role in &imported.aws.roles {
        let original = default.aws.roles.iter().find(|r| r.name == role.name).unwrap();
        assert_eq!(role.trust_policy, original.trust_policy, "{}", role.name);
    }
    for p in &imported.aws.oidc_providers {
        let original = default.aws.oidc_providers.iter().find(|o| o.url == p.url).unwrap();
        assert_eq!(p.client_ids, original.client_ids, "{}", p.url);
    }
    for pool in &imported.gcp.workload_identity_pools {
        for provider in &pool.providers {
            let (_, original) = default.gcp.provider(&pool.name, &provider.name).unwrap();
            assert_eq!((&provider.attribute_mapping, &provider.attribute_condition), (&original.attribute_mapping, &original.attribute_condition), "{}", provider.name);
        }
    }
    for sa in imported.gcp.service_accounts.iter().filter(|s| !s.bindings.is_empty()) {
        // The default world binds more than the seeds do (a GKE pod); every seed member is there.
        let original = default.gcp.account(&sa.email).unwrap();
        for b in &sa.bindings {
            let same_role: Vec<&String> = original.bindings.iter().filter(|o| o.role == b.role).flat_map(|o| &o.members).collect();
            for m in &b.members {
                assert!(same_role.contains(&m), "{}: {} {m} is not in the default world", sa.email, b.role);
            }
        }
    }
    let (code, lint) = cli(&["lint", "--world", &out_arg]);
    assert_eq!(code, 0, "{lint}");
    let google = r#"{"iss":"https://accounts.google.com","aud":"reply-bot.apps.googleusercontent.com","azp":"104412345678901234567","sub":"104412345678901234567"}"#;
    let (code, words) = cli(&["explain", "--world", &out_arg, "--role", "arn:aws:iam::123456789012:role/reply-bot-cloudrun-workload-identity-staging", "--claims", google]);
    assert_eq!(code, 0, "seed 000's token is exchanged on the imported world: {words}");
    let github = r#"{"iss":"https://token.actions.githubusercontent.com","aud":"sts.amazonaws.com","sub":"repo:acme/ecs-express-mode-api:ref:refs/heads/main"}"#;
    let (code, words) = cli(&["explain", "--world", &out_arg, "--role", "arn:aws:iam::123456789012:role/GitHubActionsECRRole", "--claims", github]);
    assert_eq!(code, 0, "seed 001's token is exchanged on the imported world: {words}");
    std::fs::remove_file(&out).ok();
}

#[test]
fn a_terraform_plan_with_values_unknown_until_apply_imports_with_placeholders_and_says_so() {
    let plan = json!({
        "format_version": "1.2",
        "planned_values": {"root_module": {"resources": [
            {"address": "aws_iam_role.deploy", "mode": "managed", "type": "aws_iam_role", "name": "deploy", "values": {"name": "deploy", "max_session_duration": 3600}},
            {"address": "google_service_account.ci", "mode": "managed", "type": "google_service_account", "name": "ci", "values": {"account_id": "ci", "project": "acme-data"}},
            {"address": "google_iam_workload_identity_pool.gh", "mode": "managed", "type": "google_iam_workload_identity_pool", "name": "gh", "values": {"workload_identity_pool_id": "gh"}},
            {"address": "google_iam_workload_identity_pool_provider.gh", "mode": "managed", "type": "google_iam_workload_identity_pool_provider", "name": "gh",
             "values": {"workload_identity_pool_provider_id": "github", "attribute_mapping": {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"}, "attribute_condition": "assertion.repository_owner == 'acme'", "oidc": [{"issuer_uri": "https://token.actions.githubusercontent.com", "allowed_audiences": []}], "aws": [], "saml": [], "x509": []}},
            {"address": "google_service_account_iam_member.wif", "mode": "managed", "type": "google_service_account_iam_member", "name": "wif", "values": {"role": "roles/iam.workloadIdentityUser"}},
            {"address": "google_storage_bucket.artifacts", "mode": "managed", "type": "google_storage_bucket", "name": "artifacts", "values": {"name": "acme-artifacts"}}
        ]}},
        "resource_changes": [
            {"address": "aws_iam_role.deploy", "change": {"actions": ["create"], "after_unknown": {"assume_role_policy": true, "arn": true}}},
            {"address": "google_service_account.ci", "change": {"actions": ["create"], "after_unknown": {"email": true, "unique_id": true}}},
            {"address": "google_iam_workload_identity_pool_provider.gh", "change": {"actions": ["create"], "after_unknown": {"workload_identity_pool_id": true}}},
            {"address": "google_service_account_iam_member.wif", "change": {"actions": ["create"], "after_unknown": {"member": true, "service_account_id": true}}}
        ],
        "configuration": {"root_module": {"resources": [
            {"address": "google_iam_workload_identity_pool_provider.gh", "expressions": {"workload_identity_pool_id": {"references": ["google_iam_workload_identity_pool.gh.workload_identity_pool_id", "google_iam_workload_identity_pool.gh"]}}},
            {"address": "google_service_account_iam_member.wif", "expressions": {"service_account_id": {"references": ["google_service_account.ci.name", "google_service_account.ci"]}}}
        ]}}
    });
    let dir = std::env::temp_dir().join(format!("cloudid-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("plan.json"), plan.to_string()).unwrap();
    let out = dir.join("world.yaml");
    let (code, report) = cli(&["world", "import", &dir.join("plan.json").display().to_string(), "--out", &out.display().to_string()]);
    assert_eq!(code, 0, "{report}");
    for said in [
        "aws_iam_role.deploy.assume_role_policy — unknown until apply; the role is imported without a trust policy",
        "google_service_account.ci.unique_id — unknown until apply; 1",
        "google_service_account_iam_member.wif: its member is unknown until apply",
        "google_storage_bucket is not part of identity federation",
        "gcp.project_number — unknown until apply",
        "provider gh/github",
    ] {
        assert!(report.contains(said), "`{said}` missing from:\n{report}");
    }
    let world = cloudid_mock::world::load_file(&out).unwrap();
    assert!(world.aws.roles[0].trust_policy.is_none());
    assert_eq!(world.gcp.service_accounts[0].email, "ci@acme-data.iam.gserviceaccount.com");
    assert_eq!(world.gcp.workload_identity_pools[0].providers[0].attribute_condition.as_deref(), Some("assertion.repository_owner == 'acme'"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn import_refuses_what_it_cannot_read_and_writes_nothing() {
    let (code, out) = cli(&["world", "import", "fixtures/configs/seed-002-gcloud/policy.json"]);
    assert_eq!(code, 2);
    assert!(out.contains("give it as EMAIL=fixtures/configs/seed-002-gcloud/policy.json"), "{out}");
    let (code, out) = cli(&["world", "import", "fixtures/configs/seed-001/world.yaml"]);
    assert_eq!(code, 2);
    assert!(out.contains("not JSON: line 1"), "{out}");
}

#[tokio::test]
async fn assume_role_sees_the_callers_arn_external_id_region_and_transitive_tags() {
    let chained = |condition: &str| {
        cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace(
            "    # Seed 000: Cloud Run",
            &format!("    - name: chained\n      trust_policy:\n        Statement:\n          - Effect: Allow\n            Principal: {{AWS: arn:aws:iam::123456789012:root}}\n            Action: [sts:AssumeRole, sts:TagSession]\n            Condition: {condition}\n    # Seed 000: Cloud Run"),
        )
    };
    let tagged = json!({"https://aws.amazon.com/tags": {"principal_tags": {"team": ["platform"]}, "transitive_tag_keys": ["team"]}});
    let github_role_with_tags = |yaml: String| {
        yaml.replace(
            "            Action: sts:AssumeRoleWithWebIdentity\n            Condition:\n              StringEquals:\n                token.actions.githubusercontent.com:aud",
            "            Action: [sts:AssumeRoleWithWebIdentity, sts:TagSession]\n            Condition:\n              StringEquals:\n                token.actions.githubusercontent.com:aud",
        )
    };
    let cases = [
        (
            "{ArnLike: {aws:PrincipalArn: 'arn:aws:iam::123456789012:role/GitHub*'}, StringEquals: {sts:ExternalId: ext-1234, aws:RequestedRegion: ap-northeast-1, aws:PrincipalType: AssumedRole}}",
            json!({}),
            200,
        ),
        ("{ArnLike: {aws:PrincipalArn: 'arn:aws:iam::123456789012:role/Other*'}}", json!({}), 403),
        ("{StringEquals: {sts:ExternalId: another}}", json!({}), 403),
        ("{StringEquals: {aws:PrincipalTag/team: platform}}", tagged.clone(), 200),
        ("{StringEquals: {aws:PrincipalTag/team: platform}}", json!({}), 403),
        ("{DateLessThan: {aws:TokenIssueTime: '2000-01-01T00:00:00Z'}}", json!({}), 403),
    ];
    for (condition, claims, expected) in cases {
        let cloud = CloudId::builder().world_yaml(&github_role_with_tags(chained(condition))).unwrap().clock(cloudid_tests::fixed_clock()).start().await;
        let t = github_token(&cloud, claims.clone()).await;
        let (status, body) = web_identity(&cloud, GITHUB_ROLE, &t, &[]).await;
        assert_eq!(status, 200, "{body}");
        let creds = credentials_of(&body);
        let form = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", "arn:aws:iam::123456789012:role/chained"), ("RoleSessionName", "next"), ("ExternalId", "ext-1234")];
        let signed = sign_form(&cloud, &creds, &form, "ap-northeast-1", "sts", to_system(cloud.clock().now()));
        let (status, body) = send_signed(&cloud, &signed).await;
        assert_eq!(status, expected, "{condition} with {claims}: {body}");
        if expected == 403 {
            assert!(last_refusal_words(&cloud).contains("FAILS"), "{condition}");
        }
    }
}

#[tokio::test]
async fn an_expired_token_is_explained_with_both_instants() {
    let cloud = fixed_cloud().await;
    let now = cloud.clock().now().unix_timestamp();
    let t = github_token(&cloud, json!({"exp": now - 301})).await;
    assert_eq!(web_identity(&cloud, GITHUB_ROLE, &t, &[]).await.0, 400);
    insta::assert_snapshot!("explained_expired_token", last_refusal_words(&cloud));
}

#[tokio::test]
async fn explain_reads_a_token_file_and_verifies_it_against_the_worlds_keys() {
    let cloud = fixed_cloud().await;
    let at = cloudid_mock::clock::iso8601(cloud.clock().now());
    let dir = std::env::temp_dir().join(format!("cloudid-explain-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.jwt");
    std::fs::write(&good, github_token(&cloud, json!({})).await).unwrap();
    let role = "arn:aws:iam::123456789012:role/GitHubActionsECRRole";
    let (code, out) = cli(&["explain", "--role", role, "--token", &good.display().to_string(), "--at", &at]);
    assert_eq!(code, 0, "{out}");
    let mut token = github_token(&cloud, json!({})).await.into_bytes();
    let i = token.len() - 10;
    token[i] = if token[i] == b'A' { b'B' } else { b'A' };
    let token = String::from_utf8(token).unwrap();
    let tampered = dir.join("tampered.jwt");
    std::fs::write(&tampered, token).unwrap();
    let (code, out) = cli(&["explain", "--role", role, "--token", &tampered.display().to_string(), "--at", &at]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL jwt.signature"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

/// From the independent attack on issue 16's change.
#[test]
fn what_the_attack_found_is_refused_with_a_clear_error() {
    let (code, out) = cli(&["explain", "--role", "not-an-arn", "--claims", r#"{"iss":"https://token.actions.githubusercontent.com","aud":"sts.amazonaws.com","sub":"x"}"#]);
    assert_eq!(code, 2, "a malformed request is bad input, not a refusal: {out}");
    let dir = std::env::temp_dir().join(format!("cloudid-attack-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let world = "aws:\n  account_id: \"123456789012\"\n  region: ap-northeast-1\n  roles:\n    - name: r\n      trust_policy_file: policy.json\n";
    std::fs::write(dir.join("world.yaml"), world).unwrap();
    let cases = [
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"a":"b"},"StringEquals":{"c":"d"}}}]}"#,
            "`StringEquals` appears twice",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"DateLessThan":{"aws:CurrentTime":"2026-12-03T00:00:0é"}}}]}"#,
            "is not a date",
        ),
        (r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotLike":{"a":{"b":"c"}}}}]}"#, "non-empty list"),
    ];
    for (policy, why) in cases {
        std::fs::write(dir.join("policy.json"), policy).unwrap();
        let (code, out) = cli(&["lint", "--world", &dir.join("world.yaml").display().to_string()]);
        assert_eq!(code, 2, "{out}");
        assert!(out.contains(why), "`{why}` not in: {out}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn session_tags_with_characters_aws_refuses_are_refused() {
    let cloud = fixed_cloud().await;
    for (tags, why) in [
        (json!({"principal_tags": {"repo": ["*"]}}), "may hold only letters"),
        (json!({"principal_tags": {"te*m": ["a"]}}), "may hold only letters"),
        (json!({"principal_tags": {"team": ["a"]}, "transitive_tag_keys": ["cost"]}), "not among the token's principal_tags"),
    ] {
        let t = github_token(&cloud, json!({"https://aws.amazon.com/tags": tags})).await;
        let (status, body) = web_identity(&cloud, GITHUB_ROLE, &t, &[]).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(why), "{body}");
    }
}
