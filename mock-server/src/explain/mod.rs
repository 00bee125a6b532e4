//! Explanations: why a request was refused (or granted), as plain data the journal keeps and the
//! harness shows, and as words a person reads once ([`Explanation::render`]).
//!
//! These are the bottom types of the verifying side: the IAM policy evaluator, the token checks,
//! the SigV4 verifier and Google's federation each fill one in; nothing here knows them.

pub mod federation;
pub mod policy;
pub mod signature;
pub mod token;

use serde::{Deserialize, Serialize};

pub use federation::{AttributeTrace, BindingTrace, FederationTrace};
pub use policy::{ConditionTrace, PolicyDecision, PolicyTrace, StatementTrace};
pub use signature::SignatureTrace;
pub use token::TokenTrace;

/// The structured reason behind one check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Explanation {
    /// An IAM trust policy's evaluation, statement by statement and condition by condition.
    TrustPolicy(PolicyTrace),
    /// A token's header field or claim, expected against found.
    Token(TokenTrace),
    /// A SigV4 signature: what the server built and what the client signed.
    Signature(SignatureTrace),
    /// Google's federation: the subject token's claims, the mapped attributes, the condition and
    /// the members compared for a binding.
    Federation(FederationTrace),
}

impl Explanation {
    /// The explanation in words, one fact per line, indented by two spaces.
    pub fn render(&self) -> String {
        match self {
            Self::TrustPolicy(t) => t.render(),
            Self::Token(t) => t.render(),
            Self::Signature(t) => t.render(),
            Self::Federation(t) => t.render(),
        }
    }
}

/// `values` as a person reads them: `"a"`, `"a" or "b"`, `(none)`.
pub(crate) fn quoted(values: &[String], joiner: &str) -> String {
    match values.len() {
        0 => "(no value)".into(),
        _ => values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(joiner),
    }
}
