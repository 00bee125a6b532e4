//! STS's XML: `<OpResponse><OpResult>…</OpResult><ResponseMetadata><RequestId>` for answers,
//! `<ErrorResponse><Error><Type><Code><Message></Error><RequestId>` for errors.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The STS XML namespace.
pub(crate) const NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Appends `s` to `out`, escaped for an XML element (quotes stay literal, as in AWS's messages).
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    let mut rest = s;
    while let Some(i) = rest.find(['&', '<', '>']) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            _ => "&gt;",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

/// `s` escaped for an XML element (quotes stay literal, as in AWS's messages).
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

/// A tree of result elements.
pub(crate) enum Node {
    /// `<name>text</name>`.
    Text(&'static str, String),
    /// `<name>children</name>`.
    Element(&'static str, Vec<Node>),
}

fn render(node: &Node, depth: usize, out: &mut String) {
    let pad = |out: &mut String| (0..depth).for_each(|_| out.push_str("  "));
    let tag = |out: &mut String, close: bool, name: &str| {
        out.push_str(if close { "</" } else { "<" });
        out.push_str(name);
        out.push('>');
    };
    pad(out);
    match node {
        Node::Text(name, text) => {
            tag(out, false, name);
            push_escaped(out, text);
            tag(out, true, name);
        }
        Node::Element(name, children) => {
            tag(out, false, name);
            out.push('\n');
            for c in children {
                render(c, depth + 1, out);
            }
            pad(out);
            tag(out, true, name);
        }
    }
    out.push('\n');
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// A successful answer to `operation`.
pub(crate) fn success(operation: &str, result: Vec<Node>, request_id: &str) -> Response {
    let mut body = String::with_capacity(2048);
    for part in ["<", operation, "Response xmlns=\"", NS, "\">\n  <", operation, "Result>\n"] {
        body.push_str(part);
    }
    for n in &result {
        render(n, 2, &mut body);
    }
    for part in ["  </", operation, "Result>\n  <ResponseMetadata>\n    <RequestId>", request_id, "</RequestId>\n  </ResponseMetadata>\n</", operation, "Response>\n"] {
        body.push_str(part);
    }
    xml_response(StatusCode::OK, body, request_id)
}

fn to_json(node: &Node) -> (&'static str, serde_json::Value) {
    match node {
        Node::Text(name, text) => (name, serde_json::Value::String(text.clone())),
        Node::Element(name, children) => (
            name,
            serde_json::Value::Object(
                children
                    .iter()
                    .map(|c| {
                        let (k, v) = to_json(c);
                        (k.to_string(), v)
                    })
                    .collect(),
            ),
        ),
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value, request_id: &str) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// A successful answer to `operation` as STS gives it to `Accept: application/json`: the XML's
/// nesting as JSON objects (what aws-iam-authenticator reads).
pub(crate) fn success_json(operation: &str, result: Vec<Node>, request_id: &str) -> Response {
    let result: serde_json::Map<String, serde_json::Value> = result
        .iter()
        .map(|n| {
            let (k, v) = to_json(n);
            (k.to_string(), v)
        })
        .collect();
    let body = serde_json::json!({ format!("{operation}Response"): { format!("{operation}Result"): result, "ResponseMetadata": {"RequestId": request_id} } });
    json_response(StatusCode::OK, &body, request_id)
}

/// An STS error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsError {
    /// HTTP status.
    pub status: StatusCode,
    /// Error code, e.g. `InvalidIdentityToken`; whether it denies is the code's to say.
    pub code: super::code::StsCode,
    /// Message.
    pub message: String,
}

impl StsError {
    /// An error with this status, code and message.
    pub fn new(status: u16, code: super::code::StsCode, message: impl Into<String>) -> Self {
        Self { status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), code, message: message.into() }
    }

    /// The error as STS gives it to `Accept: application/json`.
    pub fn json_response(&self, request_id: &str) -> Response {
        let kind = if self.status.is_server_error() { "Receiver" } else { "Sender" };
        let body = serde_json::json!({"Error": {"Code": self.code.as_str(), "Message": self.message, "Type": kind}, "RequestId": request_id});
        json_response(self.status, &body, request_id)
    }

    /// The `ErrorResponse` document.
    pub fn response(&self, request_id: &str) -> Response {
        let kind = if self.status.is_server_error() { "Receiver" } else { "Sender" };
        let body = format!(
            "<ErrorResponse xmlns=\"{NS}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
            self.code,
            esc(&self.message)
        );
        xml_response(self.status, body, request_id)
    }
}

impl crate::exchange::Refusal for StsError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn code(&self) -> &'static str {
        self.code.as_str()
    }

    fn denies(&self) -> bool {
        self.code.denies()
    }

    fn render(&self, request_id: &str) -> Response {
        self.response(request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_text_escapes_markup_and_keeps_quotes_and_other_text() {
        assert_eq!(esc(r#"a<b>&c"d'é"#), r#"a&lt;b&gt;&amp;c"d'é"#);
        assert_eq!(esc("&&"), "&amp;&amp;");
        assert_eq!(esc("plain"), "plain");
        assert_eq!(esc(""), "");
    }
}
