//! Trust-policy rules: the provider a policy names, the provider's URL, literal operators given
//! wildcards, GitHub `sub` patterns GitHub never sends, and Google's `aud`/`azp` keys.

use serde_json::Value;

use super::{Finding, Severity};
use crate::verify::iam_policy;
use crate::world::WorldModel;
use crate::world::model::AccountIam;

/// The issuers whose tokens GitHub, Google and the world's extra issuers sign.
fn issuer_urls(model: &WorldModel) -> Vec<String> {
    let mut urls = vec!["https://token.actions.githubusercontent.com".to_string(), "https://accounts.google.com".to_string()];
    urls.extend(model.issuers.iter().filter_map(|i| i.iss.clone()));
    urls
}

fn normalize(url: &str) -> String {
    let url = url.trim().trim_end_matches('/').to_ascii_lowercase();
    url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or(&url).to_string()
}

/// Every condition of a policy: (statement, operator, key, values).
fn conditions(policy: &Value) -> Vec<(usize, String, String, Vec<String>)> {
    let mut out = Vec::new();
    for (i, st) in iam_policy::statements(policy).unwrap_or_default().into_iter().enumerate() {
        let Some(Value::Object(ops)) = st.get("Condition") else { continue };
        for (op, block) in ops {
            let Value::Object(keys) = block else { continue };
            for (key, v) in keys {
                out.push((i, op.clone(), key.clone(), iam_policy::as_strings(v)));
            }
        }
    }
    out
}

/// The federated principals of the policy's Allow statements: (statement, name).
fn federated(policy: &Value) -> Vec<(usize, String)> {
    iam_policy::statements(policy)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter(|(_, st)| st.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .flat_map(|(i, st)| st.get("Principal").and_then(|p| p.get("Federated")).map(iam_policy::as_strings).unwrap_or_default().into_iter().map(move |n| (i, n)))
        .collect()
}

pub(super) fn lint(model: &WorldModel) -> Vec<Finding> {
    let mut out = Vec::new();
    let issuers = issuer_urls(model);
    for (k, account) in model.aws.all_accounts().enumerate() {
        let at = if k == 0 { "aws".to_string() } else { format!("aws.accounts[{}]", k - 1) };
        for (i, p) in account.oidc_providers.iter().enumerate() {
            if issuers.contains(&p.url) {
                continue;
            }
            if let Some(iss) = issuers.iter().find(|iss| normalize(iss) == normalize(&p.url)) {
                out.push(Finding {
                    code: "oidc-provider-url",
                    severity: Severity::Error,
                    at: format!("{at}.oidc_providers[{i}].url"),
                    message: format!("the provider's URL `{}` is not the tokens' iss `{iss}`", p.url),
                    why: "STS finds the provider by comparing the token's iss with the provider URL exactly (scheme, host, path and case); any difference answers InvalidIdentityToken \"No OpenIDConnect provider found in your account\"".into(),
                    fix: format!("create the provider with --url {iss}"),
                });
            }
        }
        for (r, role) in account.roles.iter().enumerate() {
            let Some(policy) = &role.trust_policy else { continue };
            let field = format!("{at}.roles[{r}].trust_policy");
            role_rules(model, &account, policy, &field, &mut out);
        }
    }
    out
}

fn role_rules(model: &WorldModel, account: &AccountIam<'_>, policy: &Value, field: &str, out: &mut Vec<Finding>) {
    for (i, name) in federated(policy) {
        let Some(rest) = name.strip_prefix("arn:aws:iam::") else { continue };
        let Some((acct, host_path)) = rest.split_once(":oidc-provider/") else { continue };
        if acct == account.account_id && account.oidc_providers.iter().any(|p| p.host_path() == host_path) {
            continue;
        }
        let near = account.oidc_providers.iter().find(|p| normalize(p.host_path()) == normalize(host_path));
        let (message, fix) = match near {
            _ if acct != account.account_id => (
                format!("statement {i} trusts a provider of account {acct}, not of the role's account {}", account.account_id),
                format!("name arn:aws:iam::{}:oidc-provider/{host_path}, and create that provider in this account", account.account_id),
            ),
            Some(p) => (
                format!("statement {i} names oidc-provider/{host_path}, but the account's provider is oidc-provider/{}", p.host_path()),
                format!("name arn:aws:iam::{acct}:oidc-provider/{}", p.host_path()),
            ),
            None => (
                format!("statement {i} names oidc-provider/{host_path}, which the account does not have"),
                format!("aws iam create-open-id-connect-provider --url https://{host_path} --client-id-list …"),
            ),
        };
        out.push(Finding {
            code: "unknown-oidc-provider",
            severity: Severity::Error,
            at: field.to_string(),
            message,
            why: "a web identity can assume the role only through a provider that exists in the role's own account; STS answers InvalidIdentityToken or AccessDenied otherwise".into(),
            fix,
        });
    }
    let conditions = conditions(policy);
    for (i, op, key, values) in &conditions {
        let base = op.rsplit(':').next().unwrap_or(op).trim_end_matches("IfExists");
        let literal = matches!(base, "StringEquals" | "StringNotEquals" | "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase");
        if literal && let Some(v) = values.iter().find(|v| v.contains('*') || v.contains('?')) {
            out.push(Finding {
                code: "literal-operator-with-wildcard",
                severity: Severity::Error,
                at: field.to_string(),
                message: format!("statement {i}: {op} {key} holds `{v}`, a wildcard pattern"),
                why: format!("{base} compares literally: `*` and `?` match only themselves, so no real token's value matches"),
                fix: format!("use {} for patterns", if base.contains("Not") { "StringNotLike" } else { "StringLike" }),
            });
        }
        let key_lower = key.to_ascii_lowercase();
        if key_lower.starts_with("token.actions.githubusercontent.com") && key_lower.ends_with(":sub") && model.github.sub_claim_keys.is_empty() {
            for v in values.iter().filter(|v| !v.contains("${")) {
                if let Some(why) = github_sub_problem(v) {
                    out.push(Finding {
                        code: "github-sub-format",
                        severity: Severity::Error,
                        at: field.to_string(),
                        message: format!("statement {i}: {key} pattern `{v}` {why}"),
                        why: "GitHub's sub is repo:OWNER/REPO: then ref:refs/heads/BRANCH, ref:refs/tags/TAG, environment:NAME or pull_request (docs: \"Example subject claims\"); a pattern of another shape matches no token".into(),
                        fix: "write e.g. repo:OWNER/REPO:ref:refs/heads/main, repo:OWNER/REPO:environment:production or repo:OWNER/REPO:*".into(),
                    });
                }
            }
        }
        if key_lower == "accounts.google.com:aud"
            && let Some(v) = values.iter().find(|v| !looks_like_azp(v))
        {
            out.push(Finding {
                code: "google-aud-is-azp",
                severity: Severity::Error,
                at: field.to_string(),
                message: format!("statement {i}: accounts.google.com:aud expects `{v}`, which looks like an audience"),
                why: "for Google tokens AWS's accounts.google.com:aud key is the token's azp — the service account's numeric unique id for tokens from a metadata server or Cloud Run — and accounts.google.com:oaud is the token's aud (IAM User Guide, \"Available keys for AWS web identity federation\")".into(),
                fix: format!("move `{v}` to accounts.google.com:oaud, and put the service account's unique id (gcloud iam service-accounts describe SA --format='value(uniqueId)') under accounts.google.com:aud"),
            });
        }
    }
    let keys: Vec<String> = conditions.iter().map(|c| c.2.to_ascii_lowercase()).collect();
    if keys.iter().any(|k| k == "accounts.google.com:oaud") && !keys.iter().any(|k| k == "accounts.google.com:aud") {
        out.push(Finding {
            code: "google-oaud-without-aud",
            severity: Severity::Warning,
            at: field.to_string(),
            message: "the policy checks accounts.google.com:oaud but not accounts.google.com:aud".into(),
            why: "oaud alone lets any Google identity that asks for that audience assume the role; AWS's documentation pairs it with accounts.google.com:aud (the azp)".into(),
            fix: "add StringEquals accounts.google.com:aud with the service account's unique id".into(),
        });
    }
}

/// A Google `azp`: a numeric id (service account) or an OAuth client id `NUMBER-ID.apps.googleusercontent.com`.
fn looks_like_azp(v: &str) -> bool {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    v.strip_suffix(".apps.googleusercontent.com").and_then(|id| id.split_once('-')).is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Why a `sub` pattern can never match a GitHub token of the default format, if it cannot.
fn github_sub_problem(pattern: &str) -> Option<&'static str> {
    if pattern == "*" {
        return None;
    }
    let Some(rest) = pattern.strip_prefix("repo:") else {
        return Some("lacks the repo: prefix every GitHub sub starts with");
    };
    let Some((repo, context)) = rest.split_once(':') else {
        return (!rest.ends_with('*')).then_some("names a repository but nothing after it (GitHub appends :ref:…, :environment:… or :pull_request)");
    };
    if !repo.contains('/') && !repo.contains('*') {
        return Some("names a repository without its owner (repo:OWNER/REPO:…)");
    }
    if context.starts_with('*') || context == "pull_request" || context.starts_with("environment:") || context.starts_with("job_workflow_ref:") {
        return None;
    }
    if let Some(r) = context.strip_prefix("ref:") {
        return (!(r.starts_with("refs/") || r.starts_with('*'))).then_some("names a ref without refs/heads/ or refs/tags/ (GitHub sends ref:refs/heads/BRANCH)");
    }
    if context.starts_with("refs/") {
        return Some("lacks ref: before refs/… (GitHub sends repo:OWNER/REPO:ref:refs/heads/BRANCH)");
    }
    Some("has a context GitHub never sends (it sends ref:refs/…, environment:NAME or pull_request)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_sub_patterns_are_judged_as_github_sends_them() {
        for ok in ["repo:acme/app:ref:refs/heads/main", "repo:acme/app:*", "repo:acme/*", "repo:acme/app:environment:prod", "repo:acme/app:pull_request", "repo:acme/app:ref:refs/tags/v*", "*"] {
            assert_eq!(github_sub_problem(ok), None, "{ok}");
        }
        for bad in ["acme/app:ref:refs/heads/main", "repo:acme/app:refs/heads/main", "repo:acme/app:ref:main", "repo:acme/app:branch:main", "repo:app:ref:refs/heads/main", "repo:acme/app"] {
            assert!(github_sub_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn an_azp_is_a_number_or_an_oauth_client_id() {
        assert!(looks_like_azp("104412345678901234567"));
        assert!(looks_like_azp("123456-abc123.apps.googleusercontent.com"));
        assert!(!looks_like_azp("reply-bot.apps.googleusercontent.com"));
        assert!(!looks_like_azp("https://sts.amazonaws.com"));
    }
}
