//! IMDS error pages: EC2 answers errors with a small XHTML document, `Content-Type: text/html`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The XHTML error page EC2's metadata service sends for `status`.
pub(crate) fn page(status: StatusCode) -> Response {
    let title = format!("{} - {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"));
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n\
<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\
\t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n \
<head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n </body>\n</html>\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html"), (header::SERVER, "EC2ws")], body).into_response()
}

/// An IMDS refusal: its status and error page. 401 and 403 deny (no or a bad session token, a
/// disabled endpoint, a proxied token request); other statuses reject the request.
pub(crate) struct ImdsError(pub(crate) StatusCode);

impl crate::exchange::Refusal for ImdsError {
    fn status(&self) -> StatusCode {
        self.0
    }

    fn code(&self) -> &'static str {
        self.0.canonical_reason().unwrap_or("Error")
    }

    fn denies(&self) -> bool {
        matches!(self.0, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    }

    fn render(&self, _request_id: &str) -> Response {
        page(self.0)
    }
}

/// A refused answer: the verdict the status gives, and EC2's error page.
pub(crate) fn refuse(note: crate::journal::Note, status: StatusCode) -> crate::exchange::Answer {
    crate::exchange::Refusal::answer(&ImdsError(status), note, "")
}
