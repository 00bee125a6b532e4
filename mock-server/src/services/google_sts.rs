//! Google STS `POST /v1/token`: token exchange for workload identity federation. AWS subject
//! tokens are verified with the same SigV4 verifier AWS STS uses (against the credentials the
//! world issued); OIDC subject tokens with the world's issuer keys. Then the provider's attribute
//! mapping and condition decide, and a federated access token is issued.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::explain::{AttributeTrace, Explanation, FederationTrace, TokenTrace};
use crate::journal::{Check, Note, Verdict};
use crate::verify::cel::Expr;
use crate::verify::{jwt, sigv4};
use crate::world::google_tokens::Federation;
use crate::world::model::{DEFAULT_AWS_MAPPING, ProviderModel};

/// The token exchange grant.
pub(crate) const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The access-token token type.
pub(crate) const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// AWS signed-request subject tokens.
pub(crate) const AWS4: &str = "urn:ietf:params:aws:token-type:aws4_request";

/// `POST /v1/token`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/v1/token", any(handle)).route("/v1/introspect", axum::routing::post(introspect))
}

/// `POST /v1/introspect` (RFC 7662), the `token_info_url` of credential files.
async fn introspect(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap_or_default();
    crate::exchange::serve!(shared, &GoogleSts, &parts.method, parts.uri.path(), introspect_answer(&shared, &bytes))
}

fn introspect_answer(shared: &Shared, bytes: &[u8]) -> Answer {
    let form = fields("application/x-www-form-urlencoded", bytes).unwrap_or_default();
    let now = shared.clock.now();
    let token = form.get("token").and_then(|t| shared.state().google_tokens.lookup(t)).filter(|t| t.expires_at > now);
    let mut note = Note::new("google_sts", "Introspect", Verdict::Served);
    let body = match token {
        Some(t) => {
            note.principal = Some(t.principal.clone());
            let (sub, client_id) = match &t.federation {
                Some(f) => (t.principal.clone(), f.pool.clone()),
                None => {
                    let id = shared.model.gcp.account(&t.principal).map(|a| a.unique_id.clone()).unwrap_or_else(|| t.principal.clone());
                    (id.clone(), id)
                }
            };
            json!({
                "active": true,
                "client_id": client_id,
                "exp": t.expires_at.unix_timestamp(),
                "iat": t.issued_at.unix_timestamp(),
                "iss": "https://sts.googleapis.com",
                "scope": t.scopes().join(" "),
                "sub": sub,
                "token_type": "Bearer",
                "username": t.principal,
            })
        }
        None => json!({"active": false}),
    };
    let response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response();
    noted(response, note)
}

/// An OAuth error: `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    /// The OAuth error code.
    pub error: OAuthCode,
    /// The description.
    pub description: String,
}

/// The OAuth 2.0 error codes Google STS answers with (RFC 6749 §5.2, RFC 8693 §2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OAuthCode {
    /// `invalid_request`: the request itself is malformed.
    InvalidRequest,
    /// `invalid_client`.
    InvalidClient,
    /// `invalid_grant`: the subject token is refused.
    InvalidGrant,
    /// `unauthorized_client`: the attribute condition refused the credential.
    UnauthorizedClient,
    /// `invalid_target`: no such (enabled) pool or provider.
    InvalidTarget,
    /// `invalid_scope`.
    InvalidScope,
}

impl OAuthCode {
    /// The code as written in `error`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidScope => "invalid_scope",
        }
    }

    /// Whether this refusal denies an identity (rather than rejects a malformed request).
    pub(crate) fn denies(self) -> bool {
        matches!(self, Self::InvalidGrant | Self::UnauthorizedClient | Self::InvalidTarget)
    }
}

fn oauth(error: OAuthCode, description: impl Into<String>) -> OAuthError {
    OAuthError { error, description: description.into() }
}

impl OAuthError {
    fn response(&self) -> Response {
        let status = crate::exchange::Refusal::status(self);
        let body = json!({"error": self.error.as_str(), "error_description": self.description});
        (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response()
    }
}

impl crate::exchange::Refusal for OAuthError {
    fn status(&self) -> StatusCode {
        if self.error == OAuthCode::InvalidClient { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST }
    }

    fn code(&self) -> &'static str {
        self.error.as_str()
    }

    fn denies(&self) -> bool {
        self.error.denies()
    }

    fn render(&self, _request_id: &str) -> Response {
        self.response()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    crate::exchange::serve!(shared, &GoogleSts, &parts.method, parts.uri.path(), exchange(&shared, parts.method.as_str(), &content_type, &bytes))
}

use crate::percent::decode_form as form_decode;
use crate::world::google_tokens::MAX_SCOPES_LEN;

/// The request fields, from a form (snake_case) or JSON (camelCase) body.
fn fields(content_type: &str, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    if content_type.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).map_err(|e| oauth(OAuthCode::InvalidRequest, format!("Invalid JSON payload received. {e}")))?;
        let obj = v.as_object().ok_or_else(|| oauth(OAuthCode::InvalidRequest, "Invalid JSON payload received. Expected an object."))?;
        let mut out = HashMap::new();
        for (k, v) in obj {
            let snake = match k.as_str() {
                "grantType" => "grant_type",
                "requestedTokenType" => "requested_token_type",
                "subjectToken" => "subject_token",
                "subjectTokenType" => "subject_token_type",
                other => other,
            };
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(snake.to_string(), text);
        }
        return Ok(out);
    }
    let text = std::str::from_utf8(body).map_err(|_| oauth(OAuthCode::InvalidRequest, "The request body is not valid UTF-8."))?;
    Ok(text
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (form_decode(k), form_decode(v))
        })
        .collect())
}

/// `//iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/X` →
/// (N, P, X). The `https:` form is accepted too.
pub fn parse_audience(audience: &str) -> Option<(&str, &str, &str)> {
    let rest = audience.strip_prefix("//iam.googleapis.com/").or_else(|| audience.strip_prefix("https://iam.googleapis.com/"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["projects", n, "locations", "global", "workloadIdentityPools", p, "providers", x] if !n.is_empty() && !p.is_empty() && !x.is_empty() => Some((n, p, x)),
        _ => None,
    }
}

pub(crate) fn exchange(shared: &Shared, method: &str, content_type: &str, body: &[u8]) -> Answer {
    let mut note = Note::new("google_sts", "ExchangeToken", Verdict::Error);
    match run(shared, method, content_type, body, &mut note) {
        Ok(response) => noted(response, note),
        Err(e) => {
            use crate::exchange::Refusal;
            let detail = format!("{}: {}", e.code(), e.description);
            crate::exchange::refused(note, &e, "sts.answer", detail, "")
        }
    }
}

fn run(shared: &Shared, method: &str, content_type: &str, body: &[u8], note: &mut Note) -> Result<Response, OAuthError> {
    if method != "POST" {
        return Err(oauth(OAuthCode::InvalidRequest, "The request must be a POST."));
    }
    let f = fields(content_type, body)?;
    let get = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    if get("grant_type") != Some(GRANT) {
        return Err(oauth(OAuthCode::InvalidRequest, format!("Invalid value for \"grant_type\". Expected \"{GRANT}\".")));
    }
    if let Some(t) = get("requested_token_type")
        && t != ACCESS_TOKEN
    {
        return Err(oauth(OAuthCode::InvalidRequest, format!("Invalid value for \"requested_token_type\": {t}")));
    }
    if let Some(scope) = get("scope")
        && scope.len() > MAX_SCOPES_LEN
    {
        note.checks.push(Check::fail("google_sts.scope", format!("scope is {} bytes, over {MAX_SCOPES_LEN}", scope.len())));
        return Err(oauth(OAuthCode::InvalidScope, format!("The requested scope is {} bytes long; at most {MAX_SCOPES_LEN} are accepted.", scope.len())));
    }
    let audience = get("audience").unwrap_or("");
    let Some((number, pool_id, provider_id)) = parse_audience(audience) else {
        return Err(oauth(
            OAuthCode::InvalidRequest,
            "Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.",
        ));
    };
    let subject_token = get("subject_token").ok_or_else(|| oauth(OAuthCode::InvalidRequest, "Missing required parameter: \"subject_token\"."))?;
    let subject_type = get("subject_token_type").ok_or_else(|| oauth(OAuthCode::InvalidRequest, "Missing required parameter: \"subject_token_type\"."))?;
    let target = || {
        oauth(
            OAuthCode::InvalidTarget,
            "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.",
        )
    };
    let gcp = &shared.model.gcp;
    if number != gcp.project_number {
        note.checks.push(Check::fail("google_sts.audience", format!("project {number} is not this world's")));
        return Err(target());
    }
    let Some((pool, provider)) = gcp.provider(pool_id, provider_id) else {
        note.checks.push(Check::fail("google_sts.audience", format!("no provider {pool_id}/{provider_id}")));
        return Err(target());
    };
    if pool.disabled || provider.disabled {
        note.checks.push(Check::fail("google_sts.audience", format!("{pool_id}/{provider_id} is disabled")));
        return Err(target());
    }
    note.checks.push(Check::pass("google_sts.audience", format!("{pool_id}/{provider_id}")));
    let now = shared.clock.now();
    let (assertion, cap) = match (subject_type, &provider.aws, &provider.oidc) {
        (AWS4, Some(aws), _) => aws_assertion(shared, subject_token, audience, &aws.account_id, now, note)?,
        ("urn:ietf:params:oauth:token-type:jwt" | "urn:ietf:params:oauth:token-type:id_token", _, Some(oidc)) => {
            oidc_assertion(shared, subject_token, audience, &oidc.issuer_uri, &oidc.allowed_audiences, now, note)?
        }
        (t, _, _) => {
            note.checks.push(Check::fail("google_sts.subject_token_type", format!("{t} does not fit this provider")));
            return Err(oauth(OAuthCode::InvalidRequest, format!("Invalid value for \"subject_token_type\": {t} is not supported by the provider.")));
        }
    };
    let pool_resource = format!("projects/{number}/locations/global/workloadIdentityPools/{pool_id}");
    let (subject, attributes) =
        map(shared, audience.strip_prefix("//iam.googleapis.com/").or_else(|| audience.strip_prefix("https://iam.googleapis.com/")).unwrap_or(audience), provider, &assertion, note)?;
    let scope: Vec<String> = get("scope").unwrap_or("https://www.googleapis.com/auth/cloud-platform").split_whitespace().map(str::to_string).collect();
    let lifetime = time::Duration::hours(1).min(cap);
    let principal = format!("principal://iam.googleapis.com/{pool_resource}/subject/{subject}");
    let token = {
        let mut state = shared.state();
        let state = &mut *state;
        state.google_tokens.issue_with(&mut state.rng, &principal, scope, now, lifetime, Some(Federation { pool: pool_resource, subject, attributes }))
    };
    note.verdict = Verdict::Granted;
    note.principal = Some(principal);
    note.issued = Some(token.receipt.clone());
    let body = json!({
        "access_token": token.token.expose(),
        "issued_token_type": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": lifetime.whole_seconds(),
    });
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response())
}

/// Decodes the AWS subject token (URL-encoded JSON of a signed `GetCallerIdentity`), checks its
/// target resource and URL, verifies its signature; the assertion is the caller's identity.
fn aws_assertion(shared: &Shared, token: &str, audience: &str, account: &str, now: time::OffsetDateTime, note: &mut Note) -> Result<(Value, time::Duration), OAuthError> {
    let decoded = form_decode(token);
    let v: Value = serde_json::from_str(&decoded).map_err(|e| {
        note.checks.push(Check::fail("aws.subject_token", format!("not JSON: {e}")));
        oauth(OAuthCode::InvalidGrant, format!("Invalid format of AWS credentials:{e}"))
    })?;
    let bad = |m: &str| oauth(OAuthCode::InvalidGrant, format!("Invalid AWS subject token: {m}"));
    let url = v["url"].as_str().ok_or_else(|| bad("no url"))?;
    let method = v["method"].as_str().ok_or_else(|| bad("no method"))?;
    let mut headers: Vec<(String, String)> = Vec::new();
    match &v["headers"] {
        Value::Array(list) => {
            for h in list {
                let (Some(k), Some(val)) = (h["key"].as_str(), h["value"].as_str()) else { return Err(bad("headers must be {key, value} pairs")) };
                headers.push((k.to_ascii_lowercase(), val.to_string()));
            }
        }
        Value::Object(map) => {
            for (k, val) in map {
                headers.push((k.to_ascii_lowercase(), val.as_str().unwrap_or_default().to_string()));
            }
        }
        _ => return Err(bad("no headers")),
    }
    let body = v.get("body").or_else(|| v.get("data")).and_then(Value::as_str).unwrap_or("").to_string();
    let target = headers.iter().find(|(k, _)| k == "x-goog-cloud-target-resource").map(|(_, v)| v.clone()).unwrap_or_default();
    let https_form = audience.replacen("//", "https://", 1);
    if target != audience && target != https_form {
        note.checks.push(Check::fail("aws.target_resource", format!("x-goog-cloud-target-resource `{target}` is not the audience")));
        return Err(oauth(OAuthCode::InvalidGrant, "The x-goog-cloud-target-resource header of the AWS subject token does not match the audience."));
    }
    note.checks.push(Check::passed("aws.target_resource"));
    let rest = url.strip_prefix("https://").ok_or_else(|| bad("the GetCallerIdentity URL must be https"))?;
    let (authority, path_query) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let host_ok = authority == "sts.amazonaws.com" || (authority.starts_with("sts.") && authority.ends_with(".amazonaws.com"));
    let mut q: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    q.sort_unstable();
    if method != "POST" || !host_ok || !(path.is_empty() || path == "/") || q != ["Action=GetCallerIdentity", "Version=2011-06-15"] {
        note.checks.push(Check::fail("aws.request", format!("{method} {url} is not a GetCallerIdentity call to STS")));
        return Err(bad("the signed request must be POST https://sts[.region].amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"));
    }
    if headers.iter().find(|(k, _)| k == "host").map(|(_, h)| h.as_str()) != Some(authority) {
        headers.retain(|(k, _)| k != "host");
        headers.push(("host".into(), authority.to_string()));
    }
    note.checks.push(Check::passed("aws.request"));
    let req = sigv4::Request { method, path, query, headers, body: body.as_bytes() };
    let host_region = crate::services::aws_sts::signed::host_region(authority).map(str::to_string);
    let region_ok = |r: &str| host_region.as_deref() == Some(r);
    let rule = sigv4::ScopeRule { service: "sts", region_ok: &region_ok };
    let cred = match shared.verify_sigv4(&req, &rule, now) {
        Ok((_, cred)) => cred,
        Err(e) => {
            let check = Check::fail("sigv4.signature", e.code());
            note.checks.push(match e.explanation() {
                Some(x) => check.explained(x),
                None => check,
            });
            return Err(oauth(OAuthCode::InvalidGrant, format!("Received invalid AWS response of type {} with error message: {}", e.code(), e.sts_message())));
        }
    };
    note.checks.push(Check::pass("sigv4.signature", cred.access_key_id.clone()));
    // Google's wording for this refusal is not on record (no capture found); the message is ours.
    if cred.principal.account_id != account {
        note.checks.push(Check::fail("aws.account", format!("{} is not the provider's account {account}", cred.principal.account_id)));
        return Err(oauth(OAuthCode::InvalidGrant, format!("The AWS account {} is not the account {account} of the provider.", cred.principal.account_id)));
    }
    let assertion = json!({"arn": cred.receipt.principal, "account": cred.principal.account_id, "userid": cred.principal.user_id()});
    Ok((assertion, cred.expires_at - now))
}

/// Verifies an OIDC subject token; the assertion is its claims.
#[allow(clippy::too_many_arguments)]
fn oidc_assertion(shared: &Shared, token: &str, audience: &str, issuer_uri: &str, allowed: &[String], now: time::OffsetDateTime, note: &mut Note) -> Result<(Value, time::Duration), OAuthError> {
    let decoded = jwt::decode(token).map_err(|e| {
        note.checks.push(Check::fail("jwt.decode", e.to_string()));
        oauth(OAuthCode::InvalidGrant, "The subject token is not a valid JWT.")
    })?;
    let iss = decoded.str_claim("iss").unwrap_or_default();
    if iss != issuer_uri {
        note.checks.push(
            Check::fail("jwt.issuer", format!("iss `{iss}` is not the provider's `{issuer_uri}`"))
                .explained(TokenTrace::new("iss", format!("the provider's issuer URI {issuer_uri}"), Some(iss.to_string())).into()),
        );
        return Err(oauth(OAuthCode::InvalidGrant, format!("The issuer in ID Token {iss} does not match the expected ones: {issuer_uri}.")));
    }
    let keys = shared.state().issuers.by_iss(iss).map(|i| (i.unreachable, i.keys(now)));
    let Some((false, keys)) = keys else {
        note.checks.push(Check::fail("jwt.signature", "issuer keys unreachable"));
        return Err(oauth(OAuthCode::InvalidGrant, "Error connecting to the given credential's issuer."));
    };
    if !matches!(decoded.header.alg.as_str(), "RS256" | "ES256") {
        note.checks.push(Check::fail("jwt.signature", format!("alg {}", decoded.header.alg)).explained(TokenTrace::new("header.alg", "RS256 or ES256", Some(decoded.header.alg.clone())).into()));
        return Err(oauth(OAuthCode::InvalidGrant, format!("Invalid ID Token: unsupported algorithm {}.", decoded.header.alg)));
    }
    decoded.verify(&keys).map_err(|e| {
        note.checks.push(Check::fail("jwt.signature", e.to_string()));
        match e {
            jwt::JwtError::UnsupportedCritical(_) => oauth(OAuthCode::InvalidGrant, "Invalid ID Token: the JWT header lists critical extensions (crit) that are not supported."),
            _ => oauth(OAuthCode::InvalidGrant, "Invalid JWT signature."),
        }
    })?;
    note.checks.push(Check::passed("jwt.signature"));
    let canonical = [audience.to_string(), audience.replacen("//", "https://", 1)];
    let accepted: Vec<&String> = if allowed.is_empty() { canonical.iter().collect() } else { allowed.iter().collect() };
    let auds = decoded.audiences();
    if decoded.audience_in(&accepted).is_none() {
        let expected = format!(
            "one of the provider's allowed audiences{}: {}",
            if allowed.is_empty() { " (none set: its resource name)" } else { "" },
            accepted.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
        );
        note.checks.push(Check::fail("jwt.audience", format!("aud {auds:?}")).explained(TokenTrace::new("aud", expected, Some(auds.join(", "))).into()));
        return Err(oauth(
            OAuthCode::InvalidGrant,
            format!("The audience in ID Token [{}] does not match the expected audience {}.", auds.join(","), accepted.first().map(|s| s.as_str()).unwrap_or("")),
        ));
    }
    note.checks.push(Check::passed("jwt.audience"));
    let t = now.unix_timestamp();
    let rules = jwt::TimeRules { require_iat: true, exp_leeway: 0, early_leeway: 300, max_lifetime: Some(48 * 3600) };
    let claim = |name: &str| decoded.time_claim(name).ok().flatten().unwrap_or_default();
    let checked = decoded.check_times(t, &rules);
    let trace = checked.as_ref().err().map(|f| f.trace(t, &rules));
    let refusal = match checked {
        Ok(times) => {
            note.checks.push(Check::passed("jwt.times"));
            return Ok((Value::Object(decoded.claims.clone()), time::Duration::seconds(times.exp - t)));
        }
        Err(jwt::TimeFailure::Claim(name, e)) if name == "nbf" || matches!(e, jwt::JwtError::TimeOutOfRange(..)) => (e.to_string(), format!("Invalid ID Token: {e}.")),
        Err(jwt::TimeFailure::Claim(..) | jwt::TimeFailure::Missing(_)) => ("iat and exp are required integers".to_string(), "The ID Token must carry integer iat and exp claims.".to_string()),
        Err(jwt::TimeFailure::Expired { exp }) => (format!("exp {exp} <= now {t}"), format!("ID Token issued at {} is stale to sign-in.", claim("iat"))),
        Err(jwt::TimeFailure::NotYetValid { nbf }) => (format!("nbf {nbf} is after now {t}"), format!("The ID Token is not valid before {nbf}.")),
        Err(jwt::TimeFailure::IssuedInFuture { iat } | jwt::TimeFailure::TooLong { iat, .. }) => {
            (format!("iat {iat}, exp {}, now {t}", claim("exp")), "The ID Token's iat is in the future or its lifetime exceeds 48 hours.".to_string())
        }
    };
    let check = Check::fail("jwt.times", refusal.0);
    note.checks.push(match trace {
        Some(t) => check.explained(t.into()),
        None => check,
    });
    Err(oauth(OAuthCode::InvalidGrant, refusal.1))
}

/// Applies the provider's mapping (or the AWS default) and condition. A refusal's check carries
/// the [`FederationTrace`]: the assertion, each mapped attribute, the condition and its result.
fn map(shared: &Shared, provider_name: &str, provider: &ProviderModel, assertion: &Value, note: &mut Note) -> Result<(String, BTreeMap<String, String>), OAuthError> {
    let mapping: Vec<(String, String)> = if provider.attribute_mapping.is_empty() && provider.aws.is_some() {
        DEFAULT_AWS_MAPPING.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    } else {
        provider.attribute_mapping.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let mut trace = FederationTrace::default();
    let explained = |mut trace: FederationTrace| {
        trace.provider = provider_name.to_string();
        trace.assertion = assertion.as_object().map(|o| o.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()).unwrap_or_default();
        trace.condition = provider.attribute_condition.clone();
        Explanation::Federation(trace)
    };
    let vars = BTreeMap::from([("assertion", assertion.clone())]);
    let mut subject = None;
    let mut attributes = BTreeMap::new();
    for (key, expr) in &mapping {
        let value = Expr::compile(expr).and_then(|e| e.eval_string(&vars));
        trace.attributes.push(AttributeTrace { name: key.clone(), expression: expr.clone(), value: value.clone().map_err(|e| e.to_string()) });
        let value = match value {
            Ok(v) => v,
            Err(e) => {
                note.checks.push(Check::fail("mapping", e.to_string()).explained(explained(trace)));
                return Err(oauth(OAuthCode::InvalidGrant, format!("The attribute mapping for {key} could not be evaluated.")));
            }
        };
        match key.strip_prefix("attribute.") {
            Some(name) => {
                attributes.insert(name.to_string(), value);
            }
            None if key == "google.subject" => subject = Some(value),
            None => {}
        }
    }
    let Some(subject) = subject.filter(|s| !s.is_empty()) else {
        note.checks.push(Check::fail("mapping", "google.subject is empty or unmapped").explained(explained(trace)));
        return Err(oauth(OAuthCode::InvalidGrant, "The mapped attribute google.subject must not be empty."));
    };
    if subject.len() > 127 {
        note.checks.push(Check::fail("mapping", format!("google.subject is {} bytes", subject.len())).explained(explained(trace)));
        return Err(oauth(OAuthCode::InvalidGrant, "The size of mapped attribute google.subject exceeds the 127 bytes limit"));
    }
    note.checks.push(Check::pass("mapping", format!("google.subject {subject}")));
    if let Some(condition) = &provider.attribute_condition {
        let attr_json: serde_json::Map<String, Value> = attributes.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let vars = BTreeMap::from([("assertion", assertion.clone()), ("google", json!({"subject": subject})), ("attribute", Value::Object(attr_json))]);
        let holds = Expr::compile(condition).and_then(|e| e.eval_bool(&vars));
        trace.condition_result = Some(match &holds {
            Ok(b) => b.to_string(),
            Err(e) => format!("an error: {e}"),
        });
        match holds {
            Ok(true) => {
                let check = Check::pass("condition", condition.clone());
                note.checks.push(if shared.model.explain_grants { check.explained(explained(trace)) } else { check });
            }
            Ok(false) => {
                note.checks.push(Check::fail("condition", format!("{condition} evaluates to false")).explained(explained(trace)));
                return Err(oauth(OAuthCode::UnauthorizedClient, "The given credential is rejected by the attribute condition."));
            }
            Err(e) => {
                note.checks.push(Check::fail("condition", format!("{condition} fails: {e}")).explained(explained(trace)));
                return Err(oauth(OAuthCode::UnauthorizedClient, "The given credential is rejected by the attribute condition."));
            }
        }
    }
    Ok((subject, attributes))
}

/// Google STS as a slice of the exchange: faults answer with `google.rpc.Status` JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GoogleSts;

impl Slice for GoogleSts {
    fn service(&self) -> Service {
        Service::GoogleSts
    }

    fn fault_response(&self, status: StatusCode, _request_id: &str) -> Response {
        crate::services::google_rpc::rpc_fault(status)
    }
}
