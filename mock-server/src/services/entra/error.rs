//! Entra ID's error answers: `{error, error_description, error_codes, timestamp, trace_id,
//! correlation_id, error_uri}`, the description `AADSTSnnnn: text Trace ID: … Correlation ID: …
//! Timestamp: …` separated by single spaces as Entra has written them since 2024 (no `\r\n`: the
//! Rust SDK borrows the description and cannot when it holds escapes); `invalid_client` is a 401,
//! everything else a 400.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One AADSTS refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Aadsts {
    /// The OAuth error (`invalid_client`, `invalid_request`, …).
    pub(crate) error: &'static str,
    /// The AADSTS number.
    pub(crate) code: u32,
    /// The text after `AADSTSnnnn: `.
    pub(crate) text: String,
}

impl Aadsts {
    /// A refusal `error` with AADSTS `code` and `text`.
    pub(crate) fn new(error: &'static str, code: u32, text: impl Into<String>) -> Self {
        Self { error, code, text: text.into() }
    }

    /// The HTTP status Entra gives it.
    pub(crate) fn status(&self) -> StatusCode {
        if self.error == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST }
    }

    /// `AADSTSnnnn: text`.
    pub(crate) fn headline(&self) -> String {
        format!("AADSTS{}: {}", self.code, self.text)
    }

    /// The answer, with `trace` and `correlation` ids and `now` as Entra stamps it.
    pub(crate) fn response(&self, trace: &str, correlation: &str, now: time::OffsetDateTime) -> Response {
        let stamp = crate::clock::iso8601(now).replace('T', " ");
        let body = json!({
            "error": self.error,
            "error_description": format!("{} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}", self.headline()),
            "error_codes": [self.code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let mut response =
            (self.status(), [(header::CONTENT_TYPE, "application/json; charset=utf-8"), (header::CACHE_CONTROL, "no-store, no-cache"), (header::PRAGMA, "no-cache")], body.to_string()).into_response();
        if let Ok(v) = HeaderValue::from_str(trace) {
            response.headers_mut().insert("x-ms-request-id", v);
        }
        response
    }
}

/// AADSTS900144: a required parameter is missing.
pub(crate) fn missing(name: &str) -> Aadsts {
    Aadsts::new("invalid_request", 900_144, format!("The request body must contain the following parameter: '{name}'."))
}

/// AADSTS90002: no such tenant.
pub(crate) fn tenant_not_found(tenant: &str) -> Aadsts {
    Aadsts::new(
        "invalid_request",
        90_002,
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ),
    )
}

/// AADSTS900023: not a tenant identifier at all.
pub(crate) fn bad_tenant(tenant: &str) -> Aadsts {
    Aadsts::new("invalid_request", 900_023, format!("Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid external domain."))
}

/// AADSTS700016: no such application in the tenant.
pub(crate) fn unknown_client(client_id: &str, tenant: &str) -> Aadsts {
    Aadsts::new(
        "unauthorized_client",
        700_016,
        format!(
            "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        ),
    )
}

/// AADSTS500011: no such resource principal in the tenant.
pub(crate) fn unknown_resource(resource: &str, tenant: &str) -> Aadsts {
    Aadsts::new(
        "invalid_resource",
        500_011,
        format!(
            "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
        ),
    )
}

/// `2025-08-29T05:47:32.0000000Z`: an instant as AADSTS700024 prints it.
pub(crate) fn seven_digits(t: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(t).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{}.0000000Z", crate::clock::iso8601(at).trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_is_a_401_and_the_rest_400_with_trace_words_after_single_spaces() {
        let e = Aadsts::new("invalid_client", 7_000_215, "Invalid client secret provided.");
        let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        let r = e.response("t-1", "c-1", now);
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["x-ms-request-id"], "t-1");
        assert_eq!(missing("scope").status(), StatusCode::BAD_REQUEST);
        assert_eq!(seven_digits(0), "1970-01-01T00:00:00.0000000Z");
    }
}
