//! A string that never shows itself in `Debug` or logs.

use std::fmt;

/// A secret value (secret access key, session token, bearer token). `Debug` prints a redaction;
/// read the value with [`Secret::expose`] only where it goes on the wire.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, one-way fingerprint (`sha256:` + 12 hex digits) that lets a journal or a test
    /// say which secret was issued without revealing it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

/// The fingerprint [`Secret::fingerprint`] gives, for a value held as a plain string.
pub fn fingerprint(value: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    format!("sha256:{}", crate::ids::hex(&digest.as_ref()[..6]))
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<redacted {}>)", self.fingerprint())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_contains_the_secret() {
        let s = Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        let shown = format!("{s:?}");
        assert!(!shown.contains("wJalr"), "{shown}");
        assert!(shown.contains("redacted"));
        assert_eq!(s.fingerprint(), fingerprint(s.expose()));
        assert_eq!(s.fingerprint().len(), "sha256:".len() + 12);
    }
}
