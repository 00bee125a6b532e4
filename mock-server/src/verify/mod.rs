//! Pure verification: SigV4 signatures, JWTs, IAM trust policies. No HTTP types, no services, no
//! state — the part a security reviewer reads. Services call these with what they received.

pub mod cel;
pub mod iam_policy;
pub mod jwt;
pub mod sigv4;
