//! The trace of a token check: which header field or claim failed, what was expected and what
//! the token carried.

use serde::{Deserialize, Serialize};

/// One header field or claim, expected against found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTrace {
    /// `header.alg`, `header.kid`, `iss`, `aud`, `exp`, `sub`…
    pub field: String,
    /// What the verifier accepts, in words or values.
    pub expected: String,
    /// What the token carried (`None`: the field is absent).
    pub found: Option<String>,
}

impl TokenTrace {
    /// A trace for `field`.
    pub fn new(field: impl Into<String>, expected: impl Into<String>, found: Option<String>) -> Self {
        Self { field: field.into(), expected: expected.into(), found }
    }

    /// In words.
    pub fn render(&self) -> String {
        let found = self.found.as_deref().unwrap_or("(absent)");
        format!("  token field {}\n    expected {}\n    found    {found}\n", self.field, self.expected)
    }
}

impl From<TokenTrace> for super::Explanation {
    fn from(t: TokenTrace) -> Self {
        Self::Token(t)
    }
}
