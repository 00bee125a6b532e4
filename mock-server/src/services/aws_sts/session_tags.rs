//! Session tags, as the IAM User Guide's "Passing session tags in AWS STS" describes them: a web
//! identity token's `https://aws.amazon.com/tags` claim (`principal_tags`, `transitive_tag_keys`)
//! or `AssumeRole`'s `Tags.member.N.Key`/`.Value` and `TransitiveTagKeys.member.N`. They need
//! `sts:TagSession` in the trust policy, appear to it as `aws:RequestTag/K` and `aws:TagKeys`,
//! and ride on the session (transitive ones into chained sessions).

use std::collections::HashMap;

use serde_json::Value;

use super::code::StsCode;
use super::xml::StsError;
use crate::verify::iam_policy::Context;
use crate::world::SessionTag;

/// At most this many session tags per session.
const MAX_TAGS: usize = 50;

fn invalid(msg: String) -> StsError {
    StsError::new(400, StsCode::InvalidParameterValue, msg)
}

fn check(tags: &[SessionTag]) -> Result<(), StsError> {
    if tags.len() > MAX_TAGS {
        return Err(invalid(format!("The number of session tags ({}) exceeds the limit of {MAX_TAGS}.", tags.len())));
    }
    let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 || t.value.chars().count() > 256 {
            return Err(invalid(format!("Session tag key `{}` must be 1 … 128 characters and its value at most 256.", t.key)));
        }
        if !t.key.chars().all(allowed) || !t.value.chars().all(allowed) {
            return Err(invalid(format!("Session tag `{}` may hold only letters, digits, spaces and _ . : / = + - @ in its key and value (value `{}`).", t.key, t.value)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = tags.iter().find(|t| !seen.insert(t.key.to_ascii_lowercase())) {
        return Err(invalid(format!("Duplicate tag keys found. Please note that Tag keys are case insensitive: {}", dup.key)));
    }
    Ok(())
}

/// The tags a web identity token asks for, from its `https://aws.amazon.com/tags` claim.
pub(crate) fn from_claim(claim: Option<&Value>) -> Result<Vec<SessionTag>, StsError> {
    let Some(claim) = claim else { return Ok(Vec::new()) };
    let bad = || StsError::new(400, StsCode::InvalidIdentityToken, "The https://aws.amazon.com/tags claim must hold principal_tags (key to a list of one string) and optional transitive_tag_keys.");
    let principal = claim.get("principal_tags").and_then(Value::as_object).ok_or_else(bad)?;
    let transitive: Vec<&str> = match claim.get("transitive_tag_keys") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().map(|k| k.as_str().ok_or_else(bad)).collect::<Result<_, _>>()?,
        Some(_) => return Err(bad()),
    };
    if let Some(t) = transitive.iter().find(|t| !principal.keys().any(|k| k.eq_ignore_ascii_case(t))) {
        return Err(StsError::new(400, StsCode::InvalidIdentityToken, format!("The transitive tag key `{t}` is not among the token's principal_tags.")));
    }
    let mut tags = Vec::with_capacity(principal.len());
    for (key, v) in principal {
        let value = match v {
            Value::Array(a) if a.len() == 1 => a[0].as_str().ok_or_else(bad)?,
            Value::String(s) => s.as_str(),
            _ => return Err(bad()),
        };
        tags.push(SessionTag { key: key.clone(), value: value.to_string(), transitive: transitive.iter().any(|t| t.eq_ignore_ascii_case(key)) });
    }
    check(&tags)?;
    Ok(tags)
}

/// The tags an `AssumeRole` call asks for, from its query parameters.
pub(crate) fn from_params(p: &HashMap<String, String>) -> Result<Vec<SessionTag>, StsError> {
    let transitive: Vec<&String> = (1..).map_while(|n| p.get(&format!("TransitiveTagKeys.member.{n}"))).collect();
    let mut tags = Vec::new();
    for n in 1.. {
        let (Some(key), value) = (p.get(&format!("Tags.member.{n}.Key")), p.get(&format!("Tags.member.{n}.Value"))) else { break };
        tags.push(SessionTag { key: key.clone(), value: value.cloned().unwrap_or_default(), transitive: transitive.iter().any(|t| t.eq_ignore_ascii_case(key)) });
    }
    if let Some(t) = transitive.iter().find(|t| !tags.iter().any(|tag| tag.key.eq_ignore_ascii_case(t))) {
        return Err(invalid(format!("The transitive tag key `{t}` is not among the session tags.")));
    }
    check(&tags)?;
    Ok(tags)
}

/// The trust policy's view of the tags asked for: `aws:RequestTag/K`, `aws:TagKeys`,
/// `sts:TransitiveTagKeys`.
pub(crate) fn request_keys(mut ctx: Context, tags: &[SessionTag]) -> Context {
    if tags.is_empty() {
        return ctx;
    }
    for t in tags {
        ctx = ctx.key(&format!("aws:RequestTag/{}", t.key), vec![t.value.clone()]);
    }
    ctx = ctx.key("aws:TagKeys", tags.iter().map(|t| t.key.clone()).collect());
    let transitive: Vec<String> = tags.iter().filter(|t| t.transitive).map(|t| t.key.clone()).collect();
    if !transitive.is_empty() {
        ctx = ctx.key("sts:TransitiveTagKeys", transitive);
    }
    ctx
}

/// The caller's tags as `aws:PrincipalTag/K`.
pub(crate) fn principal_keys(mut ctx: Context, tags: &[SessionTag]) -> Context {
    for t in tags {
        ctx = ctx.key(&format!("aws:PrincipalTag/{}", t.key), vec![t.value.clone()]);
    }
    ctx
}

/// A chained session's tags: the caller's transitive tags, then the ones asked for (which may
/// not override a transitive one).
pub(crate) fn chained(caller: &[SessionTag], asked: Vec<SessionTag>) -> Result<Vec<SessionTag>, StsError> {
    let inherited: Vec<SessionTag> = caller.iter().filter(|t| t.transitive).cloned().collect();
    if let Some(t) = asked.iter().find(|a| inherited.iter().any(|i| i.key.eq_ignore_ascii_case(&a.key))) {
        return Err(invalid(format!("The session tag `{}` is transitive from the calling session and cannot be set again.", t.key)));
    }
    let all: Vec<SessionTag> = inherited.into_iter().chain(asked).collect();
    check(&all)?;
    Ok(all)
}
