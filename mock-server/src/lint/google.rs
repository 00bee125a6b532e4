//! Workload identity federation rules: providers for shared public issuers without an attribute
//! condition, `principalSet` members naming attributes no provider maps or pools that do not
//! exist, and `roles/iam.workloadIdentityUser` granted where it cannot apply.

use super::{Finding, Severity};
use crate::world::WorldModel;
use crate::world::model::{PoolModel, SHARED_ISSUERS};

/// The attributes a pool's providers map (an AWS provider without a mapping gets Google's default).
fn mapped(pool: &PoolModel) -> Vec<String> {
    pool.providers
        .iter()
        .flat_map(|p| {
            if p.attribute_mapping.is_empty() && p.aws.is_some() {
                crate::world::model::DEFAULT_AWS_MAPPING.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>()
            } else {
                p.attribute_mapping.keys().cloned().collect()
            }
        })
        .collect()
}

pub(super) fn lint(model: &WorldModel) -> Vec<Finding> {
    let mut out = Vec::new();
    let gcp = &model.gcp;
    for (i, pool) in gcp.workload_identity_pools.iter().enumerate() {
        for (j, p) in pool.providers.iter().enumerate() {
            let Some(oidc) = &p.oidc else { continue };
            let shared = SHARED_ISSUERS.contains(&oidc.issuer_uri.trim_end_matches('/'));
            let references_claims = p.attribute_condition.as_deref().is_some_and(|c| c.contains("assertion.") || c.contains("attribute.") || c.contains("assertion["));
            if shared && !references_claims {
                out.push(Finding {
                    code: "shared-issuer-without-condition",
                    severity: Severity::Error,
                    at: format!("gcp.workload_identity_pools[{i}].providers[{j}].attribute_condition"),
                    message: format!("provider {}/{} trusts {} without an attribute condition on its claims", pool.name, p.name, oidc.issuer_uri),
                    why: "every organization shares this issuer, so without a condition any of its repositories or projects could federate into the pool; Google refuses such a provider: \"The attribute condition must reference one of the provider's claims\"".into(),
                    fix: "--attribute-condition=\"assertion.repository_owner == 'YOUR-ORG'\" (GitHub), or a condition on the claim that names your organization".into(),
                });
            }
        }
    }
    for (s, sa) in gcp.service_accounts.iter().enumerate() {
        for (b, binding) in sa.bindings.iter().enumerate() {
            for member in &binding.members {
                let at = format!("gcp.service_accounts[{s}].bindings[{b}].members");
                if binding.role == "roles/iam.workloadIdentityUser" && (member.starts_with("user:") || (member.starts_with("serviceAccount:") && !member.contains(".svc.id.goog["))) {
                    out.push(Finding {
                        code: "workload-identity-user-misplaced",
                        severity: Severity::Warning,
                        at: at.clone(),
                        message: format!("{} holds roles/iam.workloadIdentityUser on {}", member, sa.email),
                        why: "Workload Identity User lets federated principals (principal://, principalSet://, GKE's PROJECT.svc.id.goog[NS/KSA]) act as the service account; a user or another service account gets no token from it".into(),
                        fix: format!("grant {member} roles/iam.serviceAccountTokenCreator instead"),
                    });
                }
                if let Some(problem) = principal_problem(model, member) {
                    out.push(Finding { code: problem.0, severity: Severity::Error, at, message: problem.1, why: problem.2, fix: problem.3 });
                }
            }
        }
    }
    out
}

/// What is wrong with a `principal://`/`principalSet://` member: (code, message, why, fix).
fn principal_problem(model: &WorldModel, member: &str) -> Option<(&'static str, String, String, String)> {
    let rest = member.strip_prefix("principalSet://iam.googleapis.com/").or_else(|| member.strip_prefix("principal://iam.googleapis.com/"))?;
    let gcp = &model.gcp;
    let parts: Vec<&str> = rest.splitn(7, '/').collect();
    let (number, pool_name) = match parts.as_slice() {
        ["projects", n, "locations", "global", "workloadIdentityPools", pool, ..] => (*n, *pool),
        _ => {
            return Some((
                "member-format",
                format!("`{member}` is not projects/NUMBER/locations/global/workloadIdentityPools/POOL/…"),
                "IAM matches members by their exact resource name".into(),
                "copy the member from gcloud iam workload-identity-pools describe POOL --format='value(name)'".into(),
            ));
        }
    };
    if number != gcp.project_number {
        return Some((
            "member-project",
            format!("`{member}` names project {number}; the pool's project number is {}", gcp.project_number),
            "principal identifiers use the project NUMBER; an id or another project's number matches no one".into(),
            format!("use projects/{}/…", gcp.project_number),
        ));
    }
    let Some(pool) = gcp.workload_identity_pools.iter().find(|p| p.name == pool_name) else {
        return Some((
            "member-unknown-pool",
            format!("`{member}` names pool {pool_name}, which does not exist"),
            "no federated identity can come from a pool that does not exist".into(),
            "name an existing pool".into(),
        ));
    };
    let attribute = parts.get(6).and_then(|tail| tail.strip_prefix("attribute.")).and_then(|a| a.split_once('/')).map(|(name, _)| name);
    let attribute = attribute.or_else(|| if parts.len() == 6 { parts[5].strip_prefix("attribute.").and_then(|a| a.split_once('/')).map(|(n, _)| n) } else { None });
    let name = attribute?;
    let maps = mapped(pool);
    if maps.iter().any(|m| m == &format!("attribute.{name}")) {
        return None;
    }
    Some((
        "member-unmapped-attribute",
        format!("`{member}` matches on attribute.{name}, which no provider of pool {pool_name} maps"),
        format!(
            "a principalSet by attribute matches only identities whose mapped attribute.{name} equals the value; the pool's providers map {}",
            if maps.is_empty() { "nothing".into() } else { maps.join(", ") }
        ),
        format!("add attribute.{name}=assertion.… to the provider's --attribute-mapping, or match an attribute it maps"),
    ))
}
