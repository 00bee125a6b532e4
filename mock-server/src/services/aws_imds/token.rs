//! IMDSv2 session tokens: `PUT /latest/api/token` and the check every later request passes.

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::IntoResponse as _;
use time::OffsetDateTime;

use super::errors;
use crate::exchange::{Answer, Shared, noted};
use crate::ids;
use crate::journal::{Check, Note, Verdict};
use crate::world::WorldState;

/// Header carrying the requested (and granted) token lifetime.
pub(crate) const TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// Header carrying the token on metadata requests.
pub(crate) const TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";
/// Longest token lifetime EC2 grants: six hours.
pub(crate) const MAX_TTL: u32 = 21_600;

/// `PUT /latest/api/token`.
pub(crate) fn put(shared: &Shared, method: &Method, headers: &HeaderMap) -> Answer {
    let mut note = Note::new("aws_imds", "PutToken", Verdict::Error);
    if method != Method::PUT {
        note.checks.push(Check::fail("imds.token.method", format!("{method} is not PUT")));
        return errors::refuse(note, StatusCode::METHOD_NOT_ALLOWED);
    }
    if headers.contains_key("x-forwarded-for") {
        note.checks.push(Check::fail("imds.token.no_forwarded_for", "PUT carried X-Forwarded-For"));
        return errors::refuse(note, StatusCode::FORBIDDEN);
    }
    note.checks.push(Check::passed("imds.token.no_forwarded_for"));
    let ttl = match parse_ttl(headers) {
        Ok(ttl) => ttl,
        Err(why) => {
            note.checks.push(Check::fail("imds.token.ttl", why));
            return errors::refuse(note, StatusCode::BAD_REQUEST);
        }
    };
    note.checks.push(Check::pass("imds.token.ttl", ttl.to_string()));
    let now = shared.clock.now();
    let token = {
        let mut state = shared.state();
        let token = ids::imds_token(&mut state.rng);
        state.imds_tokens.insert(token.clone(), now + time::Duration::seconds(i64::from(ttl)), now);
        token
    };
    note.verdict = Verdict::Granted;
    let response = (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain".to_string()), (header::SERVER, "EC2ws".to_string()), (header::HeaderName::from_static(TTL_HEADER), ttl.to_string())], token)
        .into_response();
    noted(response, note)
}

fn parse_ttl(headers: &HeaderMap) -> Result<u32, String> {
    let raw = headers.get(TTL_HEADER).ok_or_else(|| format!("missing {TTL_HEADER}"))?.to_str().map_err(|_| format!("{TTL_HEADER} is not text"))?;
    let ttl: u32 = raw.trim().parse().map_err(|_| format!("`{raw}` is not an integer"))?;
    if ttl == 0 || ttl > MAX_TTL {
        return Err(format!("{ttl} is outside 1 … {MAX_TTL}"));
    }
    Ok(ttl)
}

/// What the token header of a metadata request amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// A live token with this many seconds left.
    Valid(i64),
    /// No token header.
    Missing,
    /// A token this server never issued (or issued before a reset).
    Unknown,
    /// A token past its TTL.
    Expired,
}

/// Checks the token header of a metadata request against the live tokens.
pub(crate) fn check(state: &WorldState, headers: &HeaderMap, now: OffsetDateTime) -> TokenCheck {
    let Some(value) = headers.get(TOKEN_HEADER) else {
        return TokenCheck::Missing;
    };
    let Ok(token) = value.to_str() else {
        return TokenCheck::Unknown;
    };
    match state.imds_tokens.get(token) {
        None => TokenCheck::Unknown,
        Some(exp) if exp <= now => TokenCheck::Expired,
        Some(exp) => TokenCheck::Valid((exp - now).whole_seconds().max(1)),
    }
}
