//! `GetWebIdentityToken` (AWS outbound identity federation): a signed JWT that stands for the
//! calling session's role, from the account's own issuer (`https://<id>.tokens.sts.global.api.aws`,
//! keys at `/.well-known/jwks.json`), for external services such as Google workload identity
//! federation. Claims as the IAM guide "Understanding token claims" shows them: `iss`, `aud`,
//! `sub` (the role ARN), `iat`, `exp`, `jti`, and under `https://sts.amazonaws.com/` the account,
//! the source region, the principal and the request tags.

use crate::services::aws_sts::code::StsCode;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::Outcome;
use super::params::{self, Validation};
use super::xml::{Node, StsError};
use crate::exchange::Shared;
use crate::journal::{Check, Issued};
use crate::verify::sigv4;
use crate::world::IssuedCredential;
use crate::world::issuers::aws_outbound_name;

/// Default token lifetime (seconds) when `DurationSeconds` is absent.
pub(crate) const DEFAULT_DURATION: i64 = 300;

/// The `member.N` values of list parameter `name`, in order (`N` from 1, no gaps).
fn members<'p>(p: &'p HashMap<String, String>, name: &str) -> Vec<&'p str> {
    (1..).map_while(|i| p.get(&format!("{name}.member.{i}")).map(String::as_str)).collect()
}

/// The SigV4 scope's region: where the token says it was requested (`source_region`).
fn scope_region<'r>(req: &'r sigv4::Request<'_>, p: &'r HashMap<String, String>) -> Option<&'r str> {
    let credential = match req.header("authorization") {
        Some(auth) => auth.split([',', ' ']).find_map(|part| part.strip_prefix("Credential="))?,
        None => p.get("X-Amz-Credential")?.as_str(),
    };
    credential.split('/').nth(2)
}

/// Runs the operation for the session `caller`.
pub(crate) fn get(shared: &Shared, caller: &IssuedCredential, p: &HashMap<String, String>, req: &sigv4::Request<'_>, now: OffsetDateTime, checks: &mut Vec<Check>) -> Result<Outcome, StsError> {
    let audiences = members(p, "Audience");
    let mut v = Validation::default();
    if audiences.is_empty() {
        v.fail("null", "audience", "Member must not be null");
    } else if audiences.len() > 10 {
        v.fail(&format!("[{} items]", audiences.len()), "audience", "Member must have length less than or equal to 10");
    }
    for a in &audiences {
        v.length(a, "audience.member", 1, 1000);
    }
    let algorithm = p.get("SigningAlgorithm").map(String::as_str);
    match algorithm {
        Some("RS256" | "ES384") => {}
        Some(other) => v.fail(other, "signingAlgorithm", "Member must satisfy enum value set: [RS256, ES384]"),
        None => v.fail("null", "signingAlgorithm", "Member must not be null"),
    }
    let seconds = params::duration_within(p, &mut v, 60, 3600).unwrap_or(DEFAULT_DURATION);
    let mut tags = Map::new();
    for i in 1..=51 {
        let (Some(key), value) = (p.get(&format!("Tags.member.{i}.Key")), p.get(&format!("Tags.member.{i}.Value"))) else { break };
        if i > 50 {
            v.fail("[more than 50 items]", "tags", "Member must have length less than or equal to 50");
            break;
        }
        v.length(key, "tags.member.key", 1, 128);
        v.length(value.map_or("", String::as_str), "tags.member.value", 0, 256);
        tags.insert(key.clone(), Value::String(value.cloned().unwrap_or_default()));
    }
    v.finish()?;
    checks.push(Check::passed("sts.params"));

    let account = caller.principal.account_id.as_str();
    let enabled = shared.model.aws.account(account).is_some_and(|a| a.outbound_identity_federation);
    if !enabled {
        checks.push(Check::fail("sts.outbound_federation", format!("outbound identity federation is not enabled for account {account}")));
        return Err(StsError::new(
            403,
            StsCode::OutboundWebIdentityFederationDisabledException,
            "The outbound web identity federation feature is not enabled for this account. To use this feature, you must first enable it through the AWS Management Console or API.",
        ));
    }
    checks.push(Check::pass("sts.outbound_federation", format!("account {account}")));
    let expires_at = now + time::Duration::seconds(seconds);
    if expires_at > caller.expires_at {
        checks.push(Check::fail("sts.duration", format!("{seconds} s would outlive the session (expires {})", crate::clock::iso8601(caller.expires_at))));
        return Err(StsError::new(
            403,
            StsCode::SessionDurationEscalationException,
            "The requested token duration would extend the session beyond its original expiration time. You cannot use this operation to extend the lifetime of a session beyond what was granted when the session was originally created.",
        ));
    }
    checks.push(Check::pass("sts.duration", seconds.to_string()));

    let issuer = shared.state().issuers.by_name(&aws_outbound_name(account)).cloned().expect("an enabled account has its issuer");
    let role_arn = caller.principal.role_arn();
    let jti = shared.request_id();
    let mut namespace = Map::new();
    namespace.insert("aws_account".into(), json!(account));
    namespace.insert("source_region".into(), json!(scope_region(req, p).unwrap_or_default()));
    namespace.insert("principal_id".into(), json!(role_arn));
    if !tags.is_empty() {
        namespace.insert("request_tags".into(), Value::Object(tags));
    }
    let aud = if audiences.len() == 1 { json!(audiences[0]) } else { json!(audiences) };
    let claims = json!({
        "iss": issuer.iss,
        "aud": aud,
        "sub": role_arn,
        "iat": now.unix_timestamp(),
        "exp": expires_at.unix_timestamp(),
        "jti": jti,
        "https://sts.amazonaws.com/": Value::Object(namespace),
    });
    let (token, kid) = match algorithm {
        Some("ES384") => {
            let key = issuer.es384.as_ref().expect("outbound issuers have a P-384 key");
            (key.sign(&claims), key.kid.clone())
        }
        _ => {
            let key = issuer.active.as_ref().expect("outbound issuers have an RSA key");
            (key.sign(&claims, &Map::new()), key.kid.clone())
        }
    };
    checks.push(Check::pass("sts.web_identity_token", format!("{} kid {kid} for {}", algorithm.unwrap_or_default(), audiences.join(" "))));
    let receipt = Arc::new(Issued::id_token(&token, &role_arn, audiences[0], expires_at));
    Ok(Outcome { result: vec![Node::Text("WebIdentityToken", token), Node::Text("Expiration", crate::clock::iso8601(expires_at))], issued: None, token: Some(receipt) })
}
