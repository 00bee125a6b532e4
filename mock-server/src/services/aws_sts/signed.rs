//! Signed operations: the SigV4 check every one of them passes (against the credentials the
//! world issued), `GetCallerIdentity`, `GetAccessKeyInfo`, the refusal of `GetSessionToken` and
//! `GetFederationToken` with session credentials, and `AssumeRole` (role chaining).

use crate::services::aws_sts::code::StsCode;
use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

use super::params::{self, Validation};
use super::xml::{Node, StsError};
use super::{Outcome, principal_arn_of};
use crate::exchange::Shared;
use crate::journal::Check;
use crate::verify::iam_policy::{Context, Principal};
use crate::verify::sigv4::{self, ScopeRule};
use crate::world::IssuedCredential;

pub(crate) use crate::hostnames::REGIONS;

/// The region a real STS host name implies: `sts.amazonaws.com` is us-east-1, `sts.R.amazonaws.com` is R.
pub(crate) fn host_region(host: &str) -> Option<&str> {
    let host = host.split(':').next().unwrap_or(host);
    if host == "sts.amazonaws.com" {
        return Some("us-east-1");
    }
    host.strip_prefix("sts.")?.strip_suffix(".amazonaws.com").filter(|r| REGIONS.contains(r))
}

/// Verifies a signed STS request; the credential that signed it on success.
pub(crate) fn authenticate(req: &sigv4::Request<'_>, shared: &Shared, now: OffsetDateTime, checks: &mut Vec<Check>) -> Result<std::sync::Arc<IssuedCredential>, StsError> {
    let host_region = req.header("host").and_then(host_region).map(str::to_string);
    let region_ok = |r: &str| match &host_region {
        Some(h) => r == h,
        None => REGIONS.contains(&r),
    };
    let rule = ScopeRule { service: "sts", region_ok: &region_ok };
    match shared.verify_sigv4(req, &rule, now) {
        Ok((v, cred)) => {
            checks.push(Check::pass("sigv4.signature", format!("{} signed {} in {}", v.access_key_id, v.signed_headers.join(";"), v.region)));
            Ok(cred)
        }
        Err(e) => {
            let check = Check::fail("sigv4.signature", e.journal_detail());
            checks.push(match e.explanation() {
                Some(x) => check.explained(x),
                None => check,
            });
            let status = match e {
                sigv4::SigV4Error::Incomplete(_) | sigv4::SigV4Error::Expired => 400,
                _ => 403,
            };
            Err(StsError::new(status, StsCode::of_sigv4(&e), e.sts_message()))
        }
    }
}

/// `GetCallerIdentity`.
pub(crate) fn caller_identity(caller: &IssuedCredential) -> Outcome {
    Outcome {
        result: vec![Node::Text("Arn", principal_arn_of(caller)), Node::Text("UserId", caller.principal.user_id()), Node::Text("Account", caller.principal.account_id.clone())],
        issued: None,
        token: None,
    }
}

/// `GetAccessKeyInfo`: the account any access key id carries, decoded from the id itself as STS
/// does (so it answers for keys of other accounts, and for keys that were never issued).
pub(crate) fn access_key_info(p: &HashMap<String, String>, checks: &mut Vec<Check>) -> Result<Outcome, StsError> {
    let key = params::required(p, "AccessKeyId")?;
    let mut v = Validation::default();
    v.length(key, "accessKeyId", 16, 128);
    if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        v.fail(key, "accessKeyId", "Member must satisfy regular expression pattern: [\\w]*");
    }
    v.finish()?;
    checks.push(Check::passed("sts.params"));
    let Some(account) = crate::ids::access_key_account(key) else {
        checks.push(Check::fail("sts.access_key", format!("{key} is not an access key id of the current format")));
        return Err(StsError::new(400, StsCode::InvalidParameterValue, "The access key ID is not valid."));
    };
    checks.push(Check::pass("sts.access_key", format!("account {account}")));
    Ok(Outcome { result: vec![Node::Text("Account", account)], issued: None, token: None })
}

/// `GetSessionToken` and `GetFederationToken` need an IAM user's long-term keys; every key a world
/// issues is a role session's, which STS refuses with `AccessDenied`.
pub(crate) fn refuse_session_credentials(operation: &str, checks: &mut Vec<Check>) -> StsError {
    checks.push(Check::fail("sts.long_term_credentials", format!("{operation} needs an IAM user's long-term keys; the caller holds session credentials")));
    StsError::new(403, StsCode::AccessDenied, format!("Cannot call {operation} with session credentials"))
}

/// `AssumeRole`, from the session `caller`.
pub(crate) fn assume_role(shared: &Shared, caller: &IssuedCredential, p: &HashMap<String, String>, now: OffsetDateTime, region: &str, checks: &mut Vec<Check>) -> Result<Outcome, StsError> {
    let model = &*shared.model;
    let role_arn = params::required(p, "RoleArn")?;
    let session = params::required(p, "RoleSessionName")?;
    let mut v = Validation::default();
    params::session_params(p, &mut v);
    let duration = params::duration(p, &mut v);
    if let Some(ext) = p.get("ExternalId") {
        v.length(ext, "externalId", 2, 1224);
    }
    v.finish()?;
    checks.push(Check::passed("sts.params"));
    let denied = || StsError::new(403, StsCode::AccessDenied, format!("User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}", principal_arn_of(caller)));
    let Some((account, role)) = params::world_role(model, role_arn, checks) else {
        return Err(denied());
    };
    let who = Principal::Aws { role_arn: caller.principal.role_arn(), session_arn: principal_arn_of(caller), account: caller.principal.account_id.clone() };
    let asked = super::session_tags::from_params(p)?;
    let mut ctx = Context::new(who, "sts:AssumeRole")
        .key("sts:RoleSessionName", vec![session.to_string()])
        .key("aws:PrincipalArn", vec![caller.principal.role_arn()])
        .key("aws:PrincipalAccount", vec![caller.principal.account_id.clone()])
        .key("aws:PrincipalType", vec!["AssumedRole".into()])
        .key("aws:userid", vec![caller.principal.user_id()])
        .key("aws:TokenIssueTime", vec![crate::clock::iso8601(caller.issued_at)]);
    ctx = super::global_keys(ctx, model, now, region);
    ctx = super::session_tags::request_keys(ctx, &asked);
    ctx = super::session_tags::principal_keys(ctx, &caller.principal.tags);
    let tags = super::session_tags::chained(&caller.principal.tags, asked)?;
    if let Some(ext) = p.get("ExternalId") {
        ctx = ctx.key("sts:ExternalId", vec![ext.clone()]);
    }
    if let Some(si) = p.get("SourceIdentity") {
        ctx = ctx.key("sts:SourceIdentity", vec![si.clone()]);
    }
    let mut actions = vec!["sts:AssumeRole"];
    if p.keys().any(|k| k.starts_with("Tags.member.") || k.starts_with("TransitiveTagKeys.member.")) {
        actions.push("sts:TagSession");
    }
    if p.contains_key("SourceIdentity") {
        actions.push("sts:SetSourceIdentity");
    }
    let policy = role.trust_policy.as_ref().unwrap_or(&Value::Null);
    super::check_trust(policy, &ctx, &actions, model.explain_grants, checks).map_err(|_| denied())?;
    let seconds = duration.unwrap_or(3600);
    if seconds > 3600 {
        checks.push(Check::fail("sts.duration", format!("{seconds} s requested by a role session (chaining caps at 1 h)")));
        return Err(StsError::new(400, StsCode::ValidationError, "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."));
    }
    let cred = super::issue_session(shared, account.account_id, role, super::NewSession { name: session, tags, seconds }, now, checks)?;
    let mut result = vec![super::assumed_role_user(&cred), super::credentials_node(&cred)];
    if let Some(si) = p.get("SourceIdentity") {
        result.push(Node::Text("SourceIdentity", si.clone()));
    }
    Ok(Outcome { result, issued: Some(cred), token: None })
}
