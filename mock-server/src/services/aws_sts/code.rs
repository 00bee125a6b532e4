//! STS's error codes, as the service model and captured responses give them. Whether a refusal
//! is a denial (the request named an identity and it was refused) or an error (the request itself
//! was wrong) is decided here, by the code.

/// An STS error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
pub enum StsCode {
    /// `AccessDenied`.
    AccessDenied,
    /// `InvalidIdentityToken`.
    InvalidIdentityToken,
    /// `ExpiredTokenException`.
    ExpiredTokenException,
    /// `IDPRejectedClaim`.
    IDPRejectedClaim,
    /// `IDPCommunicationError`.
    IDPCommunicationError,
    /// `SignatureDoesNotMatch`.
    SignatureDoesNotMatch,
    /// `InvalidClientTokenId`.
    InvalidClientTokenId,
    /// `ExpiredToken`.
    ExpiredToken,
    /// `MissingAuthenticationToken`.
    MissingAuthenticationToken,
    /// `IncompleteSignature`.
    IncompleteSignature,
    /// `OutboundWebIdentityFederationDisabledException`.
    OutboundWebIdentityFederationDisabledException,
    /// `SessionDurationEscalationException`.
    SessionDurationEscalationException,
    /// `ValidationError`.
    ValidationError,
    /// `InvalidAction`.
    InvalidAction,
    /// `InvalidParameterValue`.
    InvalidParameterValue,
    /// `MalformedQueryString`.
    MalformedQueryString,
    /// `MissingAction`.
    MissingAction,
    /// `MissingParameter`.
    MissingParameter,
    /// `RequestEntityTooLarge`.
    RequestEntityTooLarge,
    /// `Throttling`.
    Throttling,
    /// `ServiceUnavailable`.
    ServiceUnavailable,
    /// `InternalFailure`.
    InternalFailure,
}

impl StsCode {
    /// The code as STS writes it in `<Code>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessDenied => "AccessDenied",
            Self::InvalidIdentityToken => "InvalidIdentityToken",
            Self::ExpiredTokenException => "ExpiredTokenException",
            Self::IDPRejectedClaim => "IDPRejectedClaim",
            Self::IDPCommunicationError => "IDPCommunicationError",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::ExpiredToken => "ExpiredToken",
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature => "IncompleteSignature",
            Self::OutboundWebIdentityFederationDisabledException => "OutboundWebIdentityFederationDisabledException",
            Self::SessionDurationEscalationException => "SessionDurationEscalationException",
            Self::ValidationError => "ValidationError",
            Self::InvalidAction => "InvalidAction",
            Self::InvalidParameterValue => "InvalidParameterValue",
            Self::MalformedQueryString => "MalformedQueryString",
            Self::MissingAction => "MissingAction",
            Self::MissingParameter => "MissingParameter",
            Self::RequestEntityTooLarge => "RequestEntityTooLarge",
            Self::Throttling => "Throttling",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::InternalFailure => "InternalFailure",
        }
    }

    /// Whether a refusal with this code denies an identity (journal verdict `denied`) rather
    /// than rejects a malformed request (`error`).
    pub fn denies(self) -> bool {
        matches!(
            self,
            Self::AccessDenied
                | Self::InvalidIdentityToken
                | Self::ExpiredTokenException
                | Self::IDPRejectedClaim
                | Self::IDPCommunicationError
                | Self::SignatureDoesNotMatch
                | Self::InvalidClientTokenId
                | Self::ExpiredToken
                | Self::MissingAuthenticationToken
                | Self::IncompleteSignature
                | Self::OutboundWebIdentityFederationDisabledException
                | Self::SessionDurationEscalationException
        )
    }

    /// The code AWS answers a SigV4 refusal with.
    pub(crate) fn of_sigv4(e: &crate::verify::sigv4::SigV4Error) -> Self {
        use crate::verify::sigv4::SigV4Error as E;
        match e {
            E::Missing => Self::MissingAuthenticationToken,
            E::Incomplete(_) => Self::IncompleteSignature,
            E::Scope(_) | E::Skewed(_) | E::Mismatch { .. } | E::PayloadHash => Self::SignatureDoesNotMatch,
            E::InvalidToken(_) => Self::InvalidClientTokenId,
            E::Expired => Self::ExpiredToken,
        }
    }
}

impl std::fmt::Display for StsCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigv4_refusals_map_to_the_codes_aws_answers_with() {
        use crate::verify::sigv4::SigV4Error as E;
        for e in [E::Missing, E::Incomplete(String::new()), E::Expired, E::PayloadHash] {
            assert_eq!(StsCode::of_sigv4(&e).as_str(), e.code(), "{e:?}");
            assert!(StsCode::of_sigv4(&e).denies());
        }
        assert!(!StsCode::ValidationError.denies());
        assert!(StsCode::AccessDenied.denies());
    }
}
