//! The trace of a SigV4 check, as S3 shows it on `SignatureDoesNotMatch` (STS does not): the
//! canonical request and string to sign the server built from what arrived, and the headers the
//! client signed. The session token inside is replaced by its fingerprint.

use serde::{Deserialize, Serialize};

/// What the server computed for a signed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureTrace {
    /// The canonical request, as the server built it.
    pub canonical_request: String,
    /// The string to sign, as the server built it.
    pub string_to_sign: String,
    /// The headers the client listed in `SignedHeaders`.
    pub signed_headers: Vec<String>,
    /// The credential scope the client named (`date/region/service/aws4_request`).
    pub scope: String,
}

impl SignatureTrace {
    /// In words.
    pub fn render(&self) -> String {
        let indent = |text: &str| text.lines().map(|l| format!("      {l}\n")).collect::<String>();
        format!(
            "  signature: the server's computation, to compare with the client's (botocore logs it at DEBUG)\n    signed headers {}\n    scope {}\n    canonical request:\n{}    string to sign:\n{}",
            self.signed_headers.join(";"),
            self.scope,
            indent(&self.canonical_request),
            indent(&self.string_to_sign)
        )
    }
}
