//! AWS STS (query protocol): `AssumeRoleWithWebIdentity` (unsigned), `AssumeRole`,
//! `GetCallerIdentity`, `GetAccessKeyInfo` and `GetWebIdentityToken` (SigV4-signed; `GetSessionToken` and
//! `GetFederationToken` refuse the session credentials every world key is), answered in STS's own XML. Form POST and GET query forms
//! answer the same.

pub(crate) mod code;
pub(crate) mod params;
pub(crate) mod session_tags;
pub(crate) mod signed;
pub(crate) mod web_identity;
pub(crate) mod web_token;
pub(crate) mod xml;

use crate::services::aws_sts::code::StsCode;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::request::Parts;
use axum::response::Response;

use crate::clock::iso8601;
use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Note, Verdict};
use crate::verify::sigv4;
use crate::world::IssuedCredential;
use xml::{Node, StsError};

/// The STS API version every request must name.
pub(crate) const VERSION: &str = "2011-06-15";

/// What a successful operation produced.
pub(crate) struct Outcome {
    /// The `…Result` children.
    pub result: Vec<Node>,
    /// Credentials it issued, if any.
    pub issued: Option<Arc<IssuedCredential>>,
    /// A token it issued (`GetWebIdentityToken`), as the journal names it.
    pub token: Option<Arc<crate::journal::Issued>>,
}

/// The `Arn` of a session: `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
pub(crate) fn principal_arn_of(cred: &IssuedCredential) -> String {
    cred.receipt.principal.clone()
}

/// Evaluates `policy` for `ctx` under each of `actions`; the first refusal ends it. A refusal's
/// check carries the policy's trace; a grant's carries it when the world asks to explain grants.
pub(crate) fn check_trust(policy: &serde_json::Value, ctx: &crate::verify::iam_policy::Context, actions: &[&str], explain_grants: bool, checks: &mut Vec<Check>) -> Result<(), String> {
    use crate::explain::Explanation;
    use crate::verify::iam_policy::{self, Decision};
    for action in actions {
        let mut c = ctx.clone();
        c.action = action.to_string();
        if !explain_grants && let Ok(Decision::Allow(i)) = iam_policy::decide(policy, &c) {
            checks.push(Check::pass("iam.trust_policy", format!("{action} allowed by statement {i}")));
            continue;
        }
        let evaluation = match iam_policy::evaluate(policy, &c) {
            Ok(e) => e,
            Err(e) => {
                checks.push(Check::fail("iam.trust_policy", e.to_string()));
                return Err(e.to_string());
            }
        };
        let explained = |check: Check| check.explained(Explanation::TrustPolicy(evaluation.trace.clone()));
        let why = match evaluation.decision {
            Decision::Allow(i) => {
                let check = Check::pass("iam.trust_policy", format!("{action} allowed by statement {i}"));
                checks.push(if explain_grants { explained(check) } else { check });
                continue;
            }
            Decision::ExplicitDeny(i) => format!("{action} explicitly denied by statement {i}"),
            Decision::ImplicitDeny => match first_failed_condition(&evaluation.trace) {
                Some(c) => format!("no statement allows {action}: {c}"),
                None => format!("no statement allows {action}"),
            },
        };
        checks.push(explained(Check::fail("iam.trust_policy", why.clone())));
        return Err(why);
    }
    Ok(())
}

/// The condition that kept the nearest statement from applying, in one line: the first Allow
/// statement whose principal and action matched.
fn first_failed_condition(trace: &crate::explain::PolicyTrace) -> Option<String> {
    let st = trace.statements.iter().find(|s| s.effect == "Allow" && s.principal_matched && s.action_matched)?;
    let c = st.conditions.iter().find(|c| !c.holds)?;
    let found = match &c.request_values {
        Some(v) => crate::explain::quoted(v, ", "),
        None => "no such key".into(),
    };
    Some(format!("statement {} condition {} {} expects {} but the request has {found}", st.index, c.operator, c.key, crate::explain::quoted(&c.policy_values, " or ")))
}

/// The global condition keys every STS request carries: `aws:CurrentTime`, `aws:EpochTime`,
/// `aws:SecureTransport` (STS answers only HTTPS), `aws:SourceIp` (the world's `aws.source_ip`)
/// and `aws:RequestedRegion` (the STS endpoint's region).
pub(crate) fn global_keys(ctx: crate::verify::iam_policy::Context, model: &crate::world::WorldModel, now: time::OffsetDateTime, region: &str) -> crate::verify::iam_policy::Context {
    ctx.key("aws:CurrentTime", vec![iso8601(now)])
        .key("aws:RequestedRegion", vec![region.to_string()])
        .key("aws:EpochTime", vec![now.unix_timestamp().to_string()])
        .key("aws:SecureTransport", vec!["true".into()])
        .key("aws:SourceIp", vec![model.aws.source_ip.clone()])
}

/// A session asked for: its name, its tags and how long it lasts.
pub(crate) struct NewSession<'a> {
    /// `RoleSessionName`.
    pub name: &'a str,
    /// Its session tags.
    pub tags: Vec<crate::world::SessionTag>,
    /// `DurationSeconds`.
    pub seconds: i64,
}

/// Checks the session's duration against the role's maximum, then issues it as a session of
/// `role` (of account `account_id`).
pub(crate) fn issue_session(
    shared: &Shared,
    account_id: &str,
    role: &crate::world::model::RoleModel,
    session: NewSession<'_>,
    now: time::OffsetDateTime,
    checks: &mut Vec<Check>,
) -> Result<Arc<IssuedCredential>, StsError> {
    let NewSession { name: session, tags, seconds } = session;
    if seconds > i64::from(role.max_session_duration) {
        checks.push(Check::fail("sts.duration", format!("{seconds} > MaxSessionDuration {}", role.max_session_duration)));
        return Err(StsError::new(400, StsCode::ValidationError, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."));
    }
    checks.push(Check::pass("sts.duration", seconds.to_string()));
    let mut principal = shared.model.role_session(account_id, &role.name, session).expect("role exists");
    principal.tags = tags;
    let mut state = shared.state();
    let state = &mut *state;
    Ok(state.credentials.issue(&mut state.rng, principal, crate::world::CredentialSource::Sts, now, time::Duration::seconds(seconds)))
}

/// The `<AssumedRoleUser>` element.
pub(crate) fn assumed_role_user(cred: &IssuedCredential) -> Node {
    Node::Element("AssumedRoleUser", vec![Node::Text("AssumedRoleId", cred.principal.user_id()), Node::Text("Arn", principal_arn_of(cred))])
}

/// The `<Credentials>` element.
pub(crate) fn credentials_node(cred: &IssuedCredential) -> Node {
    Node::Element(
        "Credentials",
        vec![
            Node::Text("AccessKeyId", cred.access_key_id.clone()),
            Node::Text("SecretAccessKey", cred.secret_access_key.expose().to_string()),
            Node::Text("SessionToken", cred.session_token.expose().to_string()),
            Node::Text("Expiration", iso8601(cred.expires_at)),
        ],
    )
}

/// Whether a request to `/` is for STS: any POST, or a GET naming an `Action`.
pub(crate) fn claims(parts: &Parts) -> bool {
    parts.method == axum::http::Method::POST || parts.uri.query().is_some_and(|q| q.split('&').any(|kv| kv.starts_with("Action=")))
}

/// Answers an STS request.
pub(crate) fn handle(shared: &Shared, parts: &Parts, body: &Bytes) -> Answer {
    let mut note = Note::new("aws_sts", "Unknown", Verdict::Error);
    let request_id = shared.request_id();
    let result = run(shared, parts, body, &mut note);
    let json = parts.headers.get(axum::http::header::ACCEPT).and_then(|a| a.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    match result {
        Ok((operation, outcome)) => {
            note.verdict = if outcome.issued.is_some() || outcome.token.is_some() { Verdict::Granted } else { Verdict::Served };
            note.issued = outcome.issued.as_ref().map(|cred| cred.receipt.clone()).or_else(|| outcome.token.clone());
            let response = if json { xml::success_json(operation, outcome.result, &request_id) } else { xml::success(operation, outcome.result, &request_id) };
            noted(response, note)
        }
        Err(e) => {
            use crate::exchange::Refusal;
            let detail = format!("{} {}", e.status().as_u16(), e.code());
            let (response, note) = crate::exchange::refused(note, &e, "sts.answer", detail, &request_id);
            (if json { e.json_response(&request_id) } else { response }, note)
        }
    }
}

fn run(shared: &Shared, parts: &Parts, body: &Bytes, note: &mut Note) -> Result<(&'static str, Outcome), StsError> {
    let query = parts.uri.query().unwrap_or("");
    let form = if parts.method == axum::http::Method::POST {
        let text = std::str::from_utf8(body).map_err(|_| StsError::new(400, StsCode::MalformedQueryString, "The request body is not valid UTF-8."))?;
        let mut p = params::parse_form(text)?;
        for (k, v) in params::parse_form(query)? {
            p.entry(k).or_insert(v);
        }
        p
    } else {
        params::parse_form(query)?
    };
    let action = form.get("Action").map(String::as_str).unwrap_or("");
    let operation: &'static str = match action {
        "AssumeRoleWithWebIdentity" => "AssumeRoleWithWebIdentity",
        "AssumeRole" => "AssumeRole",
        "GetCallerIdentity" => "GetCallerIdentity",
        "GetAccessKeyInfo" => "GetAccessKeyInfo",
        "GetSessionToken" => "GetSessionToken",
        "GetFederationToken" => "GetFederationToken",
        "GetWebIdentityToken" => "GetWebIdentityToken",
        "" => return Err(StsError::new(400, StsCode::MissingAction, "Missing Action")),
        other => return Err(StsError::new(400, StsCode::InvalidAction, format!("Could not find operation {other} for version {VERSION}"))),
    };
    note.operation = operation;
    match form.get("Version").map(String::as_str) {
        Some(VERSION) => {}
        Some(v) => return Err(StsError::new(400, StsCode::InvalidAction, format!("Could not find operation {operation} for version {v}"))),
        None => return Err(StsError::new(400, StsCode::MissingParameter, "The request must contain the parameter Version.")),
    }
    let now = shared.clock.now();
    if operation == "AssumeRoleWithWebIdentity" {
        let region = parts.headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).and_then(signed::host_region).unwrap_or("us-east-1");
        let out = web_identity::assume(shared, &form, now, region, &mut note.checks);
        if let Ok(o) = &out {
            note.principal = o.issued.as_ref().map(|c| principal_arn_of(c));
        }
        return out.map(|o| (operation, o));
    }
    let headers: Vec<(String, String)> = parts.headers.iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    let signed = sigv4::Request { method: parts.method.as_str(), path: parts.uri.path(), query, headers, body };
    let caller = signed::authenticate(&signed, shared, now, &mut note.checks)?;
    note.principal = Some(principal_arn_of(&caller));
    match operation {
        "GetCallerIdentity" => Ok((operation, signed::caller_identity(&caller))),
        "GetAccessKeyInfo" => signed::access_key_info(&form, &mut note.checks).map(|o| (operation, o)),
        "GetSessionToken" | "GetFederationToken" => Err(signed::refuse_session_credentials(operation, &mut note.checks)),
        "GetWebIdentityToken" => web_token::get(shared, &caller, &form, &signed, now, &mut note.checks).map(|o| (operation, o)),
        _ => {
            let presigned = form.get("X-Amz-Credential").and_then(|c| c.split('/').nth(2)).map(str::to_string);
            let region = signed.header("authorization").and_then(|a| sigv4::parse_authorization(a).ok()).map(|a| a.region).or(presigned).unwrap_or_default();
            signed::assume_role(shared, &caller, &form, now, &region, &mut note.checks).map(|o| (operation, o))
        }
    }
}

/// Reads the body and answers (the async edge of the service).
pub(crate) async fn serve(shared: Arc<Shared>, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await;
    crate::exchange::serve!(
        shared,
        &Sts,
        &parts.method,
        parts.uri.path(),
        match &bytes {
            Ok(bytes) => handle(&shared, &parts, bytes),
            Err(_) => {
                let rid = shared.request_id();
                let mut note = Note::new("aws_sts", "Unknown", Verdict::Error);
                note.checks.push(Check::fail("sts.body", "body unreadable or over 1 MiB"));
                noted(StsError::new(413, StsCode::RequestEntityTooLarge, "Request body too large").response(&rid), note)
            }
        }
    )
}

/// AWS STS as a slice of the exchange: faults answer with its XML `ErrorResponse`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sts;

impl Slice for Sts {
    fn service(&self) -> Service {
        Service::AwsSts
    }

    fn fault_response(&self, status: axum::http::StatusCode, request_id: &str) -> Response {
        let (c, m) = match status.as_u16() {
            400 | 429 => (code::StsCode::Throttling, "Rate exceeded"),
            503 => (code::StsCode::ServiceUnavailable, "Service is unable to handle request."),
            _ => (code::StsCode::InternalFailure, "The request processing has failed because of an unknown error, exception or failure."),
        };
        xml::StsError::new(status.as_u16(), c, m).response(request_id)
    }
}
