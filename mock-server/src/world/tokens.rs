//! Claim sets of the tokens the emulated issuers mint: GitHub Actions OIDC tokens and Google ID
//! tokens, shaped as the real ones are (see `reference/wire-google-github.md` §1.6 and §6.3).

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::issuers::{GITHUB_ISS, GOOGLE_ISS};
use super::model::{GcpModel, GithubModel, ServiceAccountModel};

/// GitHub's `sub`: environment, pull request, or ref form — or the custom `sub_claim_keys` form.
pub fn github_sub(g: &GithubModel) -> String {
    let repo = &g.repository;
    let context = match (&g.environment, g.event_name.as_str()) {
        (Some(env), _) => format!("environment:{}", env.replace(':', "%3A")),
        (None, "pull_request" | "pull_request_target") => "pull_request".to_string(),
        (None, _) => format!("ref:{}", g.git_ref),
    };
    if g.sub_claim_keys.is_empty() {
        return format!("repo:{repo}:{context}");
    }
    let claims = github_context_claims(g);
    g.sub_claim_keys
        .iter()
        .map(|k| match k.as_str() {
            "repo" => format!("repo:{repo}"),
            "context" => context.clone(),
            other => format!("{other}:{}", claims.get(other).and_then(Value::as_str).unwrap_or("")),
        })
        .collect::<Vec<_>>()
        .join(":")
}

fn github_context_claims(g: &GithubModel) -> Map<String, Value> {
    let owner = g.repository.split('/').next().unwrap_or_default();
    let ref_type = if g.git_ref.starts_with("refs/tags/") { "tag" } else { "branch" };
    let workflow_ref = format!("{}/{}@{}", g.repository, g.workflow_path, g.git_ref);
    let mut m = Map::new();
    let mut put = |k: &str, v: &str| {
        m.insert(k.into(), Value::String(v.into()));
    };
    put("ref", &g.git_ref);
    put("sha", &g.sha);
    put("repository", &g.repository);
    put("repository_owner", owner);
    put("repository_owner_id", &g.repository_owner_id);
    put("run_id", &g.run_id);
    put("run_number", &g.run_number);
    put("run_attempt", &g.run_attempt);
    put("repository_visibility", &g.repository_visibility);
    put("repository_id", &g.repository_id);
    put("actor_id", &g.actor_id);
    put("actor", &g.actor);
    put("workflow", &g.workflow);
    put("head_ref", "");
    put("base_ref", "");
    put("event_name", &g.event_name);
    put("ref_protected", "false");
    put("ref_type", ref_type);
    put("workflow_ref", &workflow_ref);
    put("workflow_sha", &g.sha);
    put("job_workflow_ref", &workflow_ref);
    put("job_workflow_sha", &g.sha);
    put("runner_environment", &g.runner_environment);
    if let Some(env) = &g.environment {
        put("environment", env);
    }
    m
}

/// The job context claims a GitHub token's other claims derive from, which `--claim NAME=VALUE`
/// (and a mint request's `claims`) set on the job before the token is built — so `sub`,
/// `repository_owner`, `workflow_ref`, `ref_type` and the rest follow them.
pub const GITHUB_JOB_CLAIMS: &[&str] = &[
    "repository",
    "repository_id",
    "repository_owner_id",
    "repository_visibility",
    "ref",
    "sha",
    "workflow",
    "event_name",
    "environment",
    "actor",
    "actor_id",
    "run_id",
    "run_number",
    "run_attempt",
    "runner_environment",
];

/// A stable numeric id for a repository or owner named in an override (GitHub's ids are numbers).
fn derived_id(name: &str) -> String {
    (100_000_000 + crate::ids::stable_number(name) % 900_000_000).to_string()
}

/// `g` with the job context claims in `overrides` applied: a new repository gets its owner's
/// and its own ids derived unless given, so every claim stays consistent.
pub fn github_job_with(g: &GithubModel, overrides: &Map<String, Value>) -> GithubModel {
    let mut g = g.clone();
    let text = |k: &str| {
        overrides.get(k).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    if let Some(repo) = text("repository") {
        let old_owner = g.repository.split('/').next().unwrap_or_default().to_string();
        let new_owner = repo.split('/').next().unwrap_or_default().to_string();
        if repo != g.repository {
            g.repository_id = derived_id(&repo);
        }
        if new_owner != old_owner {
            g.repository_owner_id = derived_id(&new_owner);
        }
        g.repository = repo;
    }
    let fields: [(&str, &mut String); 13] = [
        ("repository_id", &mut g.repository_id),
        ("repository_owner_id", &mut g.repository_owner_id),
        ("repository_visibility", &mut g.repository_visibility),
        ("ref", &mut g.git_ref),
        ("sha", &mut g.sha),
        ("workflow", &mut g.workflow),
        ("event_name", &mut g.event_name),
        ("actor", &mut g.actor),
        ("actor_id", &mut g.actor_id),
        ("run_id", &mut g.run_id),
        ("run_number", &mut g.run_number),
        ("run_attempt", &mut g.run_attempt),
        ("runner_environment", &mut g.runner_environment),
    ];
    for (k, field) in fields {
        if let Some(v) = text(k) {
            *field = v;
        }
    }
    match overrides.get("environment") {
        Some(Value::Null) => g.environment = None,
        Some(_) => g.environment = text("environment"),
        None => {}
    }
    g
}

/// The claims of a GitHub Actions OIDC token for `audience` (default: the owner's URL).
pub fn github_claims(g: &GithubModel, audience: Option<&str>, now: OffsetDateTime, jti: &str) -> Value {
    let owner = g.repository.split('/').next().unwrap_or_default();
    let iat = now.unix_timestamp();
    let mut m = Map::new();
    m.insert("jti".into(), json!(jti));
    m.insert("sub".into(), json!(github_sub(g)));
    m.insert("aud".into(), json!(audience.map_or_else(|| format!("https://github.com/{owner}"), str::to_string)));
    m.extend(github_context_claims(g));
    m.insert("iss".into(), json!(GITHUB_ISS));
    m.insert("nbf".into(), json!(iat - 600));
    m.insert("exp".into(), json!(iat + 300));
    m.insert("iat".into(), json!(iat));
    Value::Object(m)
}

/// The claims of a Google ID token for service account `sa` and `audience`, as the metadata
/// server mints them (`format=full` adds `google.compute_engine`).
pub fn google_id_claims(gcp: &GcpModel, sa: &ServiceAccountModel, audience: &str, now: OffsetDateTime, full: bool) -> Value {
    let iat = now.unix_timestamp();
    let mut m = Map::new();
    m.insert("aud".into(), json!(audience));
    m.insert("azp".into(), json!(sa.unique_id));
    m.insert("email".into(), json!(sa.email));
    m.insert("email_verified".into(), json!(true));
    m.insert("exp".into(), json!(iat + 3600));
    if full {
        m.insert(
            "google".into(),
            json!({"compute_engine": {
                "instance_creation_timestamp": iat - 86_400,
                "instance_id": gcp.instance.id,
                "instance_name": gcp.instance.name,
                "project_id": gcp.project_id,
                "project_number": gcp.project_number.parse::<u64>().unwrap_or(0),
                "zone": gcp.zone,
            }}),
        );
    }
    m.insert("iat".into(), json!(iat));
    m.insert("iss".into(), json!(GOOGLE_ISS));
    m.insert("sub".into(), json!(sa.unique_id));
    Value::Object(m)
}

/// Merges `overrides` into `claims` (a `null` value removes the claim).
pub fn apply_overrides(claims: &mut Value, overrides: &Map<String, Value>) {
    if let Value::Object(m) = claims {
        for (k, v) in overrides {
            if v.is_null() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_sub_takes_the_documented_forms() {
        let mut g = GithubModel::default();
        assert_eq!(github_sub(&g), "repo:acme/ecs-express-mode-api:ref:refs/heads/main");
        g.event_name = "pull_request".into();
        assert_eq!(github_sub(&g), "repo:acme/ecs-express-mode-api:pull_request");
        g.environment = Some("Production:V1".into());
        assert_eq!(github_sub(&g), "repo:acme/ecs-express-mode-api:environment:Production%3AV1");
        g.environment = None;
        g.event_name = "push".into();
        g.git_ref = "refs/tags/v1.2.0".into();
        assert_eq!(github_sub(&g), "repo:acme/ecs-express-mode-api:ref:refs/tags/v1.2.0");
        g.sub_claim_keys = vec!["repo".into(), "context".into(), "job_workflow_ref".into()];
        assert_eq!(github_sub(&g), "repo:acme/ecs-express-mode-api:ref:refs/tags/v1.2.0:job_workflow_ref:acme/ecs-express-mode-api/.github/workflows/deploy.yml@refs/tags/v1.2.0");
    }

    #[test]
    fn github_tokens_live_five_minutes_and_were_valid_ten_minutes_before() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let c = github_claims(&GithubModel::default(), None, now, "j");
        assert_eq!(c["exp"], 1_800_000_300);
        assert_eq!(c["nbf"], 1_799_999_400);
        assert_eq!(c["aud"], "https://github.com/acme");
        assert_eq!(c["ref_type"], "branch");
        assert!(c["run_id"].is_string() && c["repository_id"].is_string());
    }
}
