//! Evaluating an exchange offline (`cloudid explain`): a token, or claims signed on the spot by
//! the world's own issuer, put through the very code that answers `AssumeRoleWithWebIdentity` or
//! Google STS (and IAM Credentials' `generateAccessToken` after it) — with no server, no socket
//! and no client — and every check's verdict and explanation reported in words.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::exchange::{Answer, Shared};
use crate::journal::{Check, Outcome, Verdict};
use crate::world::WorldModel;

/// What to evaluate the subject against.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Target {
    /// An IAM role, by ARN: `AssumeRoleWithWebIdentity`.
    Role(String),
    /// A workload identity provider (`projects/N/locations/global/workloadIdentityPools/P/providers/X`,
    /// or `P/X`), and optionally the service account to impersonate after the exchange.
    Provider {
        /// The provider.
        name: String,
        /// The service account (email) whose `generateAccessToken` follows.
        service_account: Option<String>,
    },
}

/// What is presented.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Subject {
    /// A token (JWT) as a client would send it.
    Token(String),
    /// Claims, signed by the world's issuer for their `iss` (`iat`/`exp` filled in when absent).
    Claims(Map<String, Value>),
}

/// One request of the evaluation and what the service decided.
#[derive(Debug, Clone)]
pub struct Step {
    /// `aws_sts AssumeRoleWithWebIdentity`, `google_sts ExchangeToken`…
    pub request: String,
    /// The decision.
    pub verdict: Verdict,
    /// The answer a client would get: status and error code or what was issued.
    pub answer: String,
    /// The checks, in order, with their explanations.
    pub checks: Vec<Check>,
}

/// The evaluation.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was presented, in a line.
    pub subject: String,
    /// Each request, in order; the last decided.
    pub steps: Vec<Step>,
}

impl Report {
    /// Whether every step granted.
    pub fn granted(&self) -> bool {
        self.steps.iter().all(|s| s.verdict == Verdict::Granted)
    }

    /// Whether a step was refused as a malformed request (a bad role ARN, a bad parameter)
    /// rather than an identity denied: bad input, not a verdict.
    pub fn malformed(&self) -> bool {
        self.steps.iter().any(|s| s.verdict == Verdict::Error)
    }

    /// In words: each step, its checks, and under each explained check its explanation.
    pub fn render(&self) -> String {
        let mut out = format!("{}\n", self.subject);
        for step in &self.steps {
            let verdict = match step.verdict {
                Verdict::Granted => "GRANTED",
                Verdict::Denied => "DENIED",
                Verdict::Served => "served",
                Verdict::Error => "ERROR",
            };
            out.push_str(&format!("\n{} — {verdict}: {}\n", step.request, step.answer));
            for c in &step.checks {
                let mark = match c.outcome {
                    Outcome::Pass => "pass",
                    Outcome::Fail => "FAIL",
                    Outcome::Skip => "skip",
                };
                out.push_str(&format!("  {mark} {}{}\n", c.name, c.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default()));
                if let Some(x) = &c.explanation {
                    for line in x.render().lines() {
                        out.push_str(&format!("    {line}\n"));
                    }
                }
            }
        }
        out
    }
}

/// Evaluates `subject` against `target` in `model` at `now`.
pub async fn explain(model: WorldModel, target: &Target, subject: &Subject, now: OffsetDateTime) -> Result<Report, String> {
    let mut model = model;
    model.explain_grants = true;
    let clock = Clock::frozen_at(now);
    let shared = Shared::new(model, clock);
    let (token, shown) = match subject {
        Subject::Token(t) => (t.trim().to_string(), "the token given".to_string()),
        Subject::Claims(claims) => (sign(&shared, claims.clone(), now)?, "the claims given, signed by the world's issuer".to_string()),
    };
    let claims = crate::verify::jwt::decode(&token).map(|d| Value::Object(d.claims.clone()).to_string()).unwrap_or_else(|_| "(not a JWT)".into());
    let mut report = Report { subject: format!("Presenting {shown}: {claims}"), steps: Vec::new() };
    match target {
        Target::Role(arn) => {
            let body = form(&[("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", arn), ("RoleSessionName", "cloudid-explain"), ("WebIdentityToken", &token)]);
            let parts = Request::post("/").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(()).map_err(|e| e.to_string())?.into_parts().0;
            let answer = crate::services::aws_sts::handle(&shared, &parts, &Bytes::from(body));
            report.steps.push(step("aws_sts AssumeRoleWithWebIdentity", answer).await);
        }
        Target::Provider { name, service_account } => {
            let audience = provider_audience(&shared.model, name)?;
            let subject_type = if token.contains('.') { "urn:ietf:params:oauth:token-type:jwt" } else { "urn:ietf:params:aws:token-type:aws4_request" };
            let body = form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("audience", &format!("//iam.googleapis.com/{audience}")),
                ("scope", "https://www.googleapis.com/auth/cloud-platform"),
                ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                ("subject_token_type", subject_type),
                ("subject_token", &token),
            ]);
            let answer = crate::services::google_sts::exchange(&shared, "POST", "application/x-www-form-urlencoded", body.as_bytes());
            let (exchange, body) = step_with_body("google_sts ExchangeToken", answer).await;
            let access = serde_json::from_str::<Value>(&body).ok().and_then(|v| v.get("access_token").and_then(Value::as_str).map(str::to_string));
            report.steps.push(exchange);
            if let (Some(email), Some(access)) = (service_account, access) {
                let mut headers = HeaderMap::new();
                headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {access}")).map_err(|e| e.to_string())?);
                let body = br#"{"scope":["https://www.googleapis.com/auth/cloud-platform"]}"#;
                let answer = crate::services::iam_credentials::answer(&shared, "-", &format!("{email}:generateAccessToken"), &headers, body);
                report.steps.push(step("iam_credentials GenerateAccessToken", answer).await);
            }
        }
    }
    Ok(report)
}

/// `name` as a provider resource name of this world's project.
fn provider_audience(model: &WorldModel, name: &str) -> Result<String, String> {
    let name = name.trim_start_matches("//iam.googleapis.com/");
    if name.starts_with("projects/") {
        return Ok(name.to_string());
    }
    let (pool, provider) = name.split_once('/').ok_or_else(|| format!("`{name}` is neither projects/N/locations/global/workloadIdentityPools/P/providers/X nor POOL/PROVIDER"))?;
    Ok(format!("projects/{}/locations/global/workloadIdentityPools/{pool}/providers/{provider}", model.gcp.project_number))
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        crate::verify::sigv4::uri_encode(v.as_bytes(), false, &mut out);
    }
    out
}

/// Signs `claims` with the active key of the world's issuer for their `iss`.
fn sign(shared: &Arc<Shared>, mut claims: Map<String, Value>, now: OffsetDateTime) -> Result<String, String> {
    let iss = claims.get("iss").and_then(Value::as_str).ok_or("the claims need an `iss`: the issuer whose key signs them")?.to_string();
    let lookup = if iss == "accounts.google.com" { "https://accounts.google.com".to_string() } else { iss.clone() };
    let t = now.unix_timestamp();
    claims.entry("iat").or_insert(Value::from(t));
    claims.entry("exp").or_insert(Value::from(t + 300));
    let state = shared.state();
    let issuer = state
        .issuers
        .by_iss(&lookup)
        .ok_or_else(|| format!("the world has no issuer with iss `{iss}` (its issuers: {})", state.issuers.all().iter().map(|i| i.iss.as_str()).collect::<Vec<_>>().join(", ")))?;
    let key = issuer.active.as_ref().ok_or_else(|| format!("the world only verifies tokens of `{iss}` (it has its public keys, not a signing key): give --token"))?;
    Ok(key.sign(&Value::Object(claims), &Map::new()))
}

async fn step(request: &str, answer: Answer) -> Step {
    step_with_body(request, answer).await.0
}

async fn step_with_body(request: &str, (response, note): Answer) -> (Step, String) {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let answer = if status.is_success() {
        match note.issued.as_deref() {
            Some(i) => format!("{} issues credentials for {}", status.as_u16(), i.principal),
            None => status.as_u16().to_string(),
        }
    } else {
        format!("{} {}", status.as_u16(), error_words(&body))
    };
    (Step { request: request.to_string(), verdict: note.verdict, answer, checks: note.checks }, body)
}

/// The error code and message of an STS XML, OAuth JSON or `google.rpc.Status` body.
fn error_words(body: &str) -> String {
    let tag = |name: &str| body.split(&format!("<{name}>")).nth(1).and_then(|r| r.split(&format!("</{name}>")).next()).map(str::to_string);
    if let (Some(code), Some(message)) = (tag("Code"), tag("Message")) {
        return format!("{code}: {message}");
    }
    match serde_json::from_str::<Value>(body) {
        Ok(v) if v.get("error_description").is_some() => format!("{}: {}", v["error"].as_str().unwrap_or_default(), v["error_description"].as_str().unwrap_or_default()),
        Ok(v) if v.pointer("/error/status").is_some() => format!("{}: {}", v["error"]["status"].as_str().unwrap_or_default(), v["error"]["message"].as_str().unwrap_or_default()),
        _ => body.trim().to_string(),
    }
}
