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
