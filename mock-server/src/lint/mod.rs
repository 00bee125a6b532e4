//! `cloudid lint`: the misconfigurations people make in workload identity federation, found in
//! a world before anything runs — each with why it fails and the fix. Every rule is a small
//! named check ([`Finding::code`]) that cites the documentation it follows; the seeds' correct
//! configurations raise none.

mod aws;
mod google;

use serde::Serialize;

use crate::world::WorldModel;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The cloud refuses it, or every exchange it governs fails.
    Error,
    /// It works, but not as the author likely meant (too broad, fragile, or only by accident).
    Warning,
}

/// One misconfiguration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule, e.g. `google-aud-is-azp`.
    pub code: &'static str,
    /// How bad.
    pub severity: Severity,
    /// The world field it is about (`aws.roles[1].trust_policy`).
    pub at: String,
    /// What is wrong, naming the values.
    pub message: String,
    /// Why it fails.
    pub why: String,
    /// What to change.
    pub fix: String,
}

impl Finding {
    /// In words, under `file:line` when known.
    pub fn render(&self, location: &str) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!("{location}: {severity}[{}] {}\n  at {}\n  why: {}\n  fix: {}\n", self.code, self.message, self.at, self.why, self.fix)
    }
}

/// Every finding in `model`, in the order of the world file.
pub fn lint(model: &WorldModel) -> Vec<Finding> {
    let mut findings = aws::lint(model);
    findings.extend(google::lint(model));
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::load::{DEFAULT_WORLD_YAML, parse};

    fn codes(yaml: &str) -> Vec<&'static str> {
        lint(&parse("w.yaml", yaml).unwrap()).into_iter().map(|f| f.code).collect()
    }

    fn with(from: &str, to: &str) -> String {
        assert!(DEFAULT_WORLD_YAML.contains(from), "{from}");
        DEFAULT_WORLD_YAML.replacen(from, to, 1)
    }

    #[test]
    fn the_default_world_the_seeds_has_no_finding() {
        assert_eq!(codes(DEFAULT_WORLD_YAML), Vec::<&str>::new());
    }

    /// One mistake per row, each written into the default world, and the rule that must find it.
    #[test]
    fn each_rule_finds_the_mistake_it_names() {
        let rows: &[(&str, &str, &str)] = &[
            ("    - url: https://token.actions.githubusercontent.com\n", "    - url: https://Token.Actions.GithubUserContent.com\n", "oidc-provider-url"),
            ("oidc-provider/token.actions.githubusercontent.com\n", "oidc-provider/token.actions.githubusercontent.com/org\n", "unknown-oidc-provider"),
            ("token.actions.githubusercontent.com:aud: sts.amazonaws.com", "token.actions.githubusercontent.com:aud: sts.*", "literal-operator-with-wildcard"),
            ("repo:acme/ecs-express-mode-api:ref:refs/heads/main", "repo:acme/ecs-express-mode-api:refs/heads/main", "github-sub-format"),
            ("repo:acme/ecs-express-mode-api:ref:refs/heads/main", "acme/ecs-express-mode-api:*", "github-sub-format"),
            ("accounts.google.com:aud: \"104412345678901234567\"", "accounts.google.com:aud: reply-bot.apps.googleusercontent.com", "google-aud-is-azp"),
            ("                accounts.google.com:aud: \"104412345678901234567\"\n", "", "google-oaud-without-aud"),
            ("workloadIdentityPools/github-pool/attribute.repository/", "workloadIdentityPools/github-pool/attribute.repo/", "member-unmapped-attribute"),
            ("projects/314159265358/locations/global/workloadIdentityPools/your-pool/", "projects/acme-data/locations/global/workloadIdentityPools/your-pool/", "member-project"),
            ("workloadIdentityPools/your-pool/attribute", "workloadIdentityPools/their-pool/attribute", "member-unknown-pool"),
            (
                "            - principalSet://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/attribute.repository/acme/ecs-express-mode-api\n",
                "            - user:someone@example.com\n",
                "workload-identity-user-misplaced",
            ),
        ];
        for (from, to, code) in rows {
            let found = codes(&with(from, to));
            assert!(found.contains(code), "{code} not found after `{to}`: {found:?}");
        }
    }

    #[test]
    fn a_shared_issuer_provider_without_a_condition_is_found_in_a_model_built_without_the_loader() {
        let mut model = parse("w.yaml", DEFAULT_WORLD_YAML).unwrap();
        let pool = model.gcp.workload_identity_pools.iter_mut().find(|p| p.name == "github-pool").unwrap();
        pool.providers[0].attribute_condition = Some("true".into());
        let found: Vec<&str> = lint(&model).into_iter().map(|f| f.code).collect();
        assert_eq!(found, vec!["shared-issuer-without-condition"]);
    }

    #[test]
    fn a_sub_pattern_with_a_policy_variable_is_not_judged_by_its_shape() {
        let yaml = with("repo:acme/ecs-express-mode-api:ref:refs/heads/main", "repo:acme/${aws:RequestTag/repo}:ref:refs/heads/main");
        assert_eq!(codes(&yaml), Vec::<&str>::new());
    }

    #[test]
    fn a_finding_says_where_why_and_how_to_fix() {
        let yaml = with("accounts.google.com:aud: \"104412345678901234567\"", "accounts.google.com:aud: reply-bot.apps.googleusercontent.com");
        let f = lint(&parse("w.yaml", &yaml).unwrap()).into_iter().find(|f| f.code == "google-aud-is-azp").unwrap();
        assert_eq!((f.severity, f.at.as_str()), (Severity::Error, "aws.roles[1].trust_policy"));
        let words = f.render("w.yaml:26");
        assert!(words.starts_with("w.yaml:26: error[google-aud-is-azp]") && words.contains("why: ") && words.contains("fix: move"), "{words}");
    }
}
