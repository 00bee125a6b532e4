//! The metadata server's response shapes: its headers on every answer, Google's HTML error pages,
//! and the directory redirect.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Adds the headers the real metadata server sends on every response.
pub(crate) fn stamp(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("metadata-flavor", HeaderValue::from_static("Google"));
    h.insert(header::SERVER, HeaderValue::from_static("Metadata Server for VM"));
    h.insert("x-xss-protection", HeaderValue::from_static("0"));
    h.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
    r
}

/// A plain value (`application/text`, as the metadata server labels values).
pub(crate) fn text(body: String) -> Response {
    stamp((StatusCode::OK, [(header::CONTENT_TYPE, "application/text")], body).into_response())
}

/// A JSON document (`application/json`: Python google-auth only decodes JSON with this type).
pub(crate) fn json(body: String) -> Response {
    stamp((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A JWT (identity endpoint).
pub(crate) fn jwt(body: String) -> Response {
    stamp((StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

/// 403 for a request without `Metadata-Flavor: Google`.
pub(crate) fn missing_flavor(path: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 403 (Forbidden)!!1</title>\n  <p><b>403.</b> <ins>That\u{2019}s an error.</ins>\n  <p>Your client does not have permission to get URL <code>{path}</code> from this server. Missing Metadata-Flavor:Google header. <ins>That\u{2019}s all we know.</ins>\n"
    );
    stamp((StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/html; charset=UTF-8")], body).into_response())
}

/// 403 for a proxied request (`X-Forwarded-For`).
pub(crate) fn forwarded() -> Response {
    stamp((StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/html; charset=UTF-8")], "Forbidden\n").into_response())
}

/// Google's 404 page.
pub(crate) fn not_found(path: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 404 (Not Found)!!1</title>\n  <p><b>404.</b> <ins>That\u{2019}s an error.</ins>\n  <p>The requested URL <code>{path}</code> was not found on this server.  <ins>That\u{2019}s all we know.</ins>\n"
    );
    stamp((StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/html; charset=UTF-8")], body).into_response())
}

/// 400 with a plain message (e.g. a missing audience).
pub(crate) fn bad_request(message: &str) -> Response {
    stamp((StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{message}\n")).into_response())
}

/// 301 to the directory form of `path` (trailing slash), keeping the query.
pub(crate) fn redirect(host: &str, path: &str, query: Option<&str>) -> Response {
    let location = match query {
        Some(q) => format!("http://{host}{path}/?{q}"),
        None => format!("http://{host}{path}/"),
    };
    let mut r = (StatusCode::MOVED_PERMANENTLY, [(header::CONTENT_TYPE, "text/html; charset=UTF-8")], format!("<a href=\"{path}/\">Moved Permanently</a>.\n\n")).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    stamp(r)
}

/// A metadata-server refusal, in its own shapes: Google's HTML 404 and 403 pages, the proxy
/// refusal, a plain 400. The 403s deny (no `Metadata-Flavor`, a proxied request); the rest reject
/// the request.
pub(crate) enum MdsError {
    /// 404 for `path`.
    NotFound(String),
    /// 403: no `Metadata-Flavor: Google` on `path`.
    MissingFlavor(String),
    /// 403: `X-Forwarded-For`.
    Forwarded,
    /// 400 with a message.
    BadRequest(String),
}

impl crate::exchange::Refusal for MdsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MissingFlavor(_) | Self::Forwarded => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn code(&self) -> &'static str {
        self.status().canonical_reason().unwrap_or("Error")
    }

    fn denies(&self) -> bool {
        matches!(self, Self::MissingFlavor(_) | Self::Forwarded)
    }

    fn render(&self, _request_id: &str) -> Response {
        match self {
            Self::NotFound(path) => not_found(path),
            Self::MissingFlavor(path) => missing_flavor(path),
            Self::Forwarded => forwarded(),
            Self::BadRequest(message) => bad_request(message),
        }
    }
}

/// A refused answer: the verdict the refusal gives, and its page.
pub(crate) fn refuse(note: crate::journal::Note, e: MdsError) -> crate::exchange::Answer {
    crate::exchange::Refusal::answer(&e, note, "")
}
