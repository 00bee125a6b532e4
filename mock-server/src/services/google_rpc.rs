//! Google's API error shape, `google.rpc.Status` JSON (`{"error": {"code", "message", "status",
//! "details"}}`), shared by every emulated Google API that is not an OAuth endpoint.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A `google.rpc.Status` error, as Google's APIs answer (IAM Credentials, Cloud Resource Manager, any API that refuses a caller): HTTP status, canonical status name,
/// message, and for a permission refusal the `ErrorInfo` naming the permission. Whether it denies
/// an identity is the status name's to say (`UNAUTHENTICATED`, `PERMISSION_DENIED`).
#[derive(Debug, Clone)]
pub(crate) struct RpcError {
    code: u16,
    status: &'static str,
    message: String,
    permission: Option<&'static str>,
}

impl RpcError {
    pub(crate) fn new(code: u16, status: &'static str, message: impl Into<String>, permission: Option<&'static str>) -> Self {
        Self { code, status, message: message.into(), permission }
    }
}

impl crate::exchange::Refusal for RpcError {
    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST)
    }

    fn code(&self) -> &'static str {
        self.status
    }

    fn denies(&self) -> bool {
        matches!(self.status, "UNAUTHENTICATED" | "PERMISSION_DENIED")
    }

    fn render(&self, _request_id: &str) -> Response {
        let mut err = json!({"code": self.code, "message": self.message, "status": self.status});
        if let Some(p) = self.permission {
            err["details"] = json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED", "domain": "iam.googleapis.com", "metadata": {"permission": p}}]);
        }
        (self.status(), [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], json!({ "error": err }).to_string()).into_response()
    }
}

/// The `google.rpc.Status` error Google's APIs answer with when they fail with `status` (quota,
/// unavailable, internal), for fault injection.
pub(crate) fn rpc_fault(status: StatusCode) -> Response {
    let (s, m) = match status.as_u16() {
        429 => ("RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Token exchange requests' and limit 'Token exchange requests per minute'."),
        503 => ("UNAVAILABLE", "The service is currently unavailable."),
        _ => ("INTERNAL", "Internal error encountered."),
    };
    crate::exchange::Refusal::render(&RpcError::new(status.as_u16(), s, m, None), "")
}

/// Google's words for a request without credentials.
const MISSING: &str = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";
/// Google's words for credentials it does not accept (unknown, expired, revoked).
const INVALID: &str = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// The access token a request's `Authorization: Bearer` carries, if this world issued it and it
/// has not expired; else why not (for the journal) and Google's 401.
pub(crate) fn bearer_caller(shared: &crate::exchange::Shared, headers: &axum::http::HeaderMap) -> Result<std::sync::Arc<crate::world::google_tokens::AccessToken>, (String, RpcError)> {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' ')).filter(|(s, _)| s.eq_ignore_ascii_case("bearer")).map(|(_, t)| t.trim());
    let Some(bearer) = bearer else {
        return Err(("no Authorization: Bearer header".into(), RpcError::new(401, "UNAUTHENTICATED", MISSING, None)));
    };
    let invalid = |why: String| (why, RpcError::new(401, "UNAUTHENTICATED", INVALID, None));
    match shared.state().google_tokens.lookup(bearer) {
        None => Err(invalid("the Bearer token is not one this world issued".into())),
        Some(t) if t.expires_at <= shared.clock.now() => Err(invalid(format!("the Bearer token of {} expired at {}", t.principal, crate::clock::iso8601(t.expires_at)))),
        Some(t) => Ok(t),
    }
}
