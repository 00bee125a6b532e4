//! `AssumeRoleWithWebIdentity`: the token is verified as AWS verifies it — provider registered
//! for `iss`, audience in its client-id list, algorithm and key, signature, times — then the
//! role's trust policy decides, then the session parameters.

use crate::services::aws_sts::code::StsCode;
use std::collections::HashMap;

use serde_json::Value;
use time::OffsetDateTime;

use super::Outcome;
use super::params::{self, Validation};
use super::xml::{Node, StsError};
use crate::exchange::Shared;
use crate::explain::TokenTrace;
use crate::journal::Check;
use crate::verify::iam_policy::{Context, Principal};
use crate::verify::jwt;

/// STS's grace for clock skew on `exp` (IAM: "a five-minute window beyond the expiration time").
pub(crate) const EXP_LEEWAY: i64 = 300;
const ACTION: &str = "sts:AssumeRoleWithWebIdentity";

fn invalid(msg: impl Into<String>) -> StsError {
    StsError::new(400, StsCode::InvalidIdentityToken, msg)
}

/// The OAuth 2.0 providers STS accepts an access token from (`ProviderId`).
pub(crate) const OAUTH2_PROVIDERS: &[&str] = &["www.amazon.com", "graph.facebook.com"];

/// The answer to a `ProviderId` call. STS hands an OAuth 2.0 access token to the provider named
/// to validate; no world has Login with Amazon or Facebook users, so the provider rejects every
/// token, as `graph.facebook.com` answers a token it did not issue: `IDPRejectedClaim` (403),
/// message as STS words it. Any other `ProviderId` is not an OAuth 2.0 provider STS knows.
fn oauth2_provider(provider_id: &str, checks: &mut Vec<Check>) -> StsError {
    if OAUTH2_PROVIDERS.contains(&provider_id) {
        checks.push(Check::fail("sts.provider_id", format!("{provider_id} rejects the access token: the world has no users of it")));
        return StsError::new(403, StsCode::IDPRejectedClaim, format!("{provider_id}: {provider_id} responded with HTTP/1.1 400 Bad Request"));
    }
    checks.push(Check::fail("sts.provider_id", format!("`{provider_id}` is not an OAuth 2.0 provider STS accepts ({})", OAUTH2_PROVIDERS.join(", "))));
    invalid("ProviderId is only for OAuth 2.0 access tokens from www.amazon.com or graph.facebook.com; it must not be given for an OpenID Connect ID token.")
}

/// Runs the operation; checks go into `checks`. The world's lock is held only to read the
/// issuer's keys and to issue credentials, never while verifying.
pub(crate) fn assume(shared: &Shared, p: &HashMap<String, String>, now: OffsetDateTime, region: &str, checks: &mut Vec<Check>) -> Result<Outcome, StsError> {
    let model = &shared.model;
    let role_arn = params::required(p, "RoleArn")?;
    let session = params::required(p, "RoleSessionName")?;
    let token = params::required(p, "WebIdentityToken")?;
    let mut v = Validation::default();
    params::session_params(p, &mut v);
    v.length(token.trim_end(), "webIdentityToken", 4, 20000);
    let duration = params::duration(p, &mut v);
    if let Some(pid) = p.get("ProviderId") {
        v.length(pid, "providerId", 4, 2048);
    }
    v.finish()?;
    checks.push(Check::passed("sts.params"));

    let denied = || StsError::new(403, StsCode::AccessDenied, format!("Not authorized to perform {ACTION}"));
    let Some((account, role)) = params::world_role(model, role_arn, checks) else {
        return Err(denied());
    };
    checks.push(Check::pass("sts.role", role_arn.to_string()));
    if let Some(provider_id) = p.get("ProviderId") {
        return Err(oauth2_provider(provider_id, checks));
    }

    let decoded = jwt::decode(token).map_err(|e| {
        checks.push(Check::fail("jwt.decode", e.to_string()));
        invalid("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
    })?;
    checks.push(Check::passed("jwt.decode"));
    let iss = decoded.str_claim("iss").unwrap_or_default().to_string();
    let iss_url = if iss == "accounts.google.com" { "https://accounts.google.com".to_string() } else { iss.clone() };
    let provider = account.oidc_providers.iter().find(|pr| pr.url == iss_url);
    let builtin_google = provider.is_none() && iss_url == "https://accounts.google.com";
    let (federated, key_prefix, client_ids) = match provider {
        Some(pr) => (format!("arn:aws:iam::{}:oidc-provider/{}", account.account_id, pr.host_path()), pr.host_path().to_string(), Some(&pr.client_ids)),
        None if builtin_google => ("accounts.google.com".to_string(), "accounts.google.com".to_string(), None),
        None => {
            let urls: Vec<&str> = account.oidc_providers.iter().map(|p| p.url.as_str()).collect();
            let expected = if urls.is_empty() {
                "an issuer with an IAM OIDC provider in the account (it has none)".to_string()
            } else {
                format!("one of the account's IAM OIDC provider URLs: {}", urls.join(", "))
            };
            checks.push(Check::fail("jwt.provider", format!("no IAM OIDC provider for iss `{iss}`")).explained(TokenTrace::new("iss", expected, Some(iss.clone())).into()));
            return Err(invalid(format!("No OpenIDConnect provider found in your account for {iss}")));
        }
    };
    checks.push(Check::pass("jwt.provider", federated.clone()));

    let audiences = decoded.audiences();
    let audience = match client_ids {
        Some(ids) => match decoded.audience_in(ids) {
            Some(a) => a.to_string(),
            None => {
                let trace = TokenTrace::new("aud", format!("one of the provider's client ids (audiences): {}", ids.join(", ")), Some(audiences.join(", ")));
                checks.push(Check::fail("jwt.audience", format!("aud {audiences:?} not in the provider's client ids {ids:?}")).explained(trace.into()));
                return Err(invalid("Incorrect token audience"));
            }
        },
        None => audiences.first().map(|a| a.to_string()).unwrap_or_default(),
    };
    checks.push(Check::pass("jwt.audience", audience.clone()));

    check_signature(shared, &decoded, &iss_url, now, checks)?;

    check_times(&decoded, now, checks)?;
    let Some(sub) = decoded.str_claim("sub").map(str::to_string) else {
        checks.push(Check::fail("jwt.claims", "no sub claim").explained(TokenTrace::new("sub", "a subject", None).into()));
        return Err(invalid("The token has no subject (sub) claim."));
    };

    let tags = super::session_tags::from_claim(decoded.claims.get("https://aws.amazon.com/tags"))?;
    let (ctx, actions, source_identity) = trust_context(&decoded, &federated, &key_prefix, &iss_url, &audiences, &sub, session);
    let ctx = super::session_tags::request_keys(super::global_keys(ctx, model, now, region), &tags);
    let policy = role.trust_policy.as_ref().unwrap_or(&Value::Null);
    super::check_trust(policy, &ctx, &actions, model.explain_grants, checks).map_err(|_| denied())?;
    let cred = super::issue_session(shared, account.account_id, role, super::NewSession { name: session, tags, seconds: duration.unwrap_or(3600) }, now, checks)?;
    let mut result =
        vec![Node::Text("Audience", audience), super::assumed_role_user(&cred), Node::Text("Provider", federated), super::credentials_node(&cred), Node::Text("SubjectFromWebIdentityToken", sub)];
    if let Some(si) = source_identity {
        result.push(Node::Text("SourceIdentity", si));
    }
    Ok(Outcome { result, issued: Some(cred), token: None })
}

/// `jwt.signature`: the issuer's keys are reachable, and the token's `alg`, `kid`, signature and
/// header verify against them.
fn check_signature(shared: &Shared, decoded: &jwt::Decoded, iss_url: &str, now: OffsetDateTime, checks: &mut Vec<Check>) -> Result<(), StsError> {
    let issuer_keys = shared.state().issuers.by_iss(iss_url).map(|i| (i.unreachable, i.keys(now)));
    let key_unreachable = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";
    let Some((unreachable, keys)) = issuer_keys else {
        checks.push(Check::fail("jwt.signature", format!("no keys known for {iss_url}")));
        return Err(StsError::new(400, StsCode::IDPCommunicationError, key_unreachable));
    };
    if unreachable {
        checks.push(Check::fail("jwt.signature", format!("the JWKS of {iss_url} is unreachable (world: unreachable)")));
        return Err(StsError::new(400, StsCode::IDPCommunicationError, key_unreachable));
    }
    match decoded.verify(&keys) {
        Ok(k) => checks.push(Check::pass("jwt.signature", format!("{} kid {}", decoded.header.alg, k.kid()))),
        Err(e) => {
            let kids: Vec<&str> = keys.iter().map(|k| k.kid()).collect();
            let trace = match &e {
                jwt::JwtError::UnknownKey(kid) => Some(TokenTrace::new("header.kid", format!("one of the issuer's published key ids: {}", kids.join(", ")), Some(kid.clone()))),
                jwt::JwtError::UnsupportedAlgorithm(alg) => Some(TokenTrace::new("header.alg", "RS256, RS384, RS512, ES256, ES384 or ES512", Some(alg.clone()))),
                jwt::JwtError::BadSignature => Some(TokenTrace::new(
                    "signature",
                    format!("made by the issuer's key {}", decoded.header.kid.as_deref().unwrap_or("(no kid)")),
                    Some("a signature that key does not verify: the token was altered or signed by another key".into()),
                )),
                _ => None,
            };
            let check = Check::fail("jwt.signature", e.to_string());
            checks.push(match trace {
                Some(t) => check.explained(t.into()),
                None => check,
            });
            return Err(match e {
                jwt::JwtError::UnknownKey(_) => invalid(key_unreachable),
                jwt::JwtError::UnsupportedAlgorithm(_) | jwt::JwtError::KeyMismatch { .. } => {
                    invalid("The ID Token provided is not signed with a supported algorithm (RS256, RS384, RS512, ES256, ES384, ES512).")
                }
                _ => invalid("The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request."),
            });
        }
    }
    Ok(())
}

/// `jwt.times`: integer `exp` (required), `nbf` and `iat` within the calendar, with IAM's
/// five-minute leeway.
fn check_times(decoded: &jwt::Decoded, now: OffsetDateTime, checks: &mut Vec<Check>) -> Result<(), StsError> {
    let t = now.unix_timestamp();
    let rules = jwt::TimeRules { require_iat: false, exp_leeway: EXP_LEEWAY, early_leeway: EXP_LEEWAY, max_lifetime: None };
    let checked = decoded.check_times(t, &rules);
    let trace = checked.as_ref().err().map(|f| f.trace(t, &rules));
    let (detail, refusal) = match checked {
        Ok(times) => {
            checks.push(Check::pass("jwt.times", format!("exp {}, now {t}", times.exp)));
            return Ok(());
        }
        Err(jwt::TimeFailure::Claim(name, e @ jwt::JwtError::TimeOutOfRange(..))) => (e.to_string(), invalid(format!("The {name} claim of the token is not a valid date."))),
        Err(jwt::TimeFailure::Claim(name, e)) => (e.to_string(), invalid(format!("Timestamps in the token must be formatted as either an integer or a long integer: {name}"))),
        Err(jwt::TimeFailure::Missing(_)) => ("no exp claim".to_string(), invalid("The token has no expiration (exp) claim.")),
        Err(jwt::TimeFailure::Expired { exp }) => (
            format!("exp {exp} + {EXP_LEEWAY}s leeway is before now {t}"),
            StsError::new(400, StsCode::ExpiredTokenException, format!("Token expired: current date/time {t} must be before the expiration date/time {exp}")),
        ),
        Err(jwt::TimeFailure::NotYetValid { nbf }) => {
            (format!("nbf {nbf} is after now {t}"), invalid(format!("Token is not yet valid: current date/time {t} is before the not-before date/time {nbf}")))
        }
        Err(jwt::TimeFailure::IssuedInFuture { iat } | jwt::TimeFailure::TooLong { iat, .. }) => {
            (format!("iat {iat} is in the future (now {t})"), invalid(format!("Token issued in the future: current date/time {t}, issued at {iat}")))
        }
    };
    let check = Check::fail("jwt.times", detail);
    checks.push(match trace {
        Some(t) => check.explained(t.into()),
        None => check,
    });
    Err(refusal)
}

/// The trust policy's context for this token: the principal, the provider's condition keys
/// (`:sub`, `:aud` — for Google `azp`, with `:oaud` the audience — `:email`, `:amr`), the session
/// name, and the actions to authorize (`sts:SetSourceIdentity`, `sts:TagSession` when the token
/// asks for them); with the source identity, if any.
fn trust_context(decoded: &jwt::Decoded, federated: &str, key_prefix: &str, iss_url: &str, audiences: &[&str], sub: &str, session: &str) -> (Context, Vec<&'static str>, Option<String>) {
    let mut ctx = Context::new(Principal::Federated(federated.to_string()), ACTION).key(&format!("{key_prefix}:sub"), vec![sub.to_string()]).key("sts:RoleSessionName", vec![session.to_string()]);
    let aud_values: Vec<String> = audiences.iter().map(|a| a.to_string()).collect();
    if iss_url == "https://accounts.google.com" {
        let azp = decoded.str_claim("azp").map(str::to_string);
        let meaning = format!("for accounts.google.com, :aud is the token's azp and :oaud its aud; this token's aud is {}", crate::explain::quoted(&aud_values, ", "));
        ctx = ctx.key(&format!("{key_prefix}:aud"), azp.map_or_else(|| aud_values.clone(), |a| vec![a])).key(&format!("{key_prefix}:oaud"), aud_values).note(&format!("{key_prefix}:aud"), meaning);
        if let Some(email) = decoded.str_claim("email") {
            ctx = ctx.key(&format!("{key_prefix}:email"), vec![email.to_string()]);
        }
    } else {
        ctx = ctx.key(&format!("{key_prefix}:aud"), aud_values);
    }
    if let Some(amr) = decoded.claims.get("amr") {
        let values = match amr {
            Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            Value::String(s) => vec![s.clone()],
            _ => vec![],
        };
        ctx = ctx.key(&format!("{key_prefix}:amr"), values);
    }
    let source_identity = decoded.str_claim("https://aws.amazon.com/source_identity").map(str::to_string);
    let mut actions = vec![ACTION];
    if source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
        ctx = ctx.key("sts:SourceIdentity", vec![source_identity.clone().unwrap_or_default()]);
    }
    if decoded.claims.contains_key("https://aws.amazon.com/tags") {
        actions.push("sts:TagSession");
    }
    (ctx, actions, source_identity)
}
