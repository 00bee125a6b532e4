//! AWS Signature Version 4 (header form), verified the way AWS verifies it: the canonical request
//! is rebuilt from what was received — method, raw path (normalised, double-encoded: every service
//! but S3), query, exactly the headers `SignedHeaders` lists, the payload hash — and the signature
//! recomputed with the secret of the access key it names.
//!
//! The canonicalisation is our own rather than aws-sigv4's: a verifier must canonicalise the
//! header set the *client* chose (each SDK signs a different one), while aws-sigv4's signer picks
//! its own. It is checked against the AWS SigV4 test suite and against requests aws-sigv4 signs.

use std::fmt::Write as _;

use aws_lc_rs::{digest, hmac};
use time::OffsetDateTime;

/// The only algorithm STS accepts in the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far `x-amz-date` may be from the server clock: 15 minutes either way.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// A received request, as the verifier needs it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as received on the wire (still percent-encoded).
    pub path: &'a str,
    /// Query string as received, without `?`.
    pub query: &'a str,
    /// Headers: lower-case names, values as received; repeated names allowed.
    pub headers: Vec<(String, String)>,
    /// Exact body bytes.
    pub body: &'a [u8],
}

impl Request<'_> {
    /// The values of header `name` (lower-case), in order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id.
    pub access_key_id: String,
    /// Scope date, `YYYYMMDD`.
    pub date: String,
    /// Scope region.
    pub region: String,
    /// Scope service.
    pub service: String,
    /// Scope terminator (must be `aws4_request`).
    pub terminator: String,
    /// Signed header names, as listed.
    pub signed_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// What the server knows of an access key.
#[derive(Debug, Clone)]
pub struct KeyMaterial {
    /// The secret access key.
    pub secret: String,
    /// The session token temporary credentials must present.
    pub session_token: Option<String>,
    /// When the credentials expire.
    pub expires_at: Option<OffsetDateTime>,
}

/// A request whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The access key that signed it.
    pub access_key_id: String,
    /// Scope region.
    pub region: String,
    /// Signed header names.
    pub signed_headers: Vec<String>,
}

/// Why a signature was refused; each maps to one of AWS's error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header (`MissingAuthenticationToken`).
    #[error("Request is missing Authentication Token")]
    Missing,
    /// The header is malformed or lacks a part (`IncompleteSignature`).
    #[error("{0}")]
    Incomplete(String),
    /// Scope (date, region, service, terminator) is wrong (`SignatureDoesNotMatch`).
    #[error("{0}")]
    Scope(String),
    /// `x-amz-date` too far from the server clock (`SignatureDoesNotMatch`).
    #[error("{0}")]
    Skewed(String),
    /// The access key is unknown, or its session token is missing or wrong (`InvalidClientTokenId`).
    #[error("The security token included in the request is invalid.")]
    InvalidToken(String),
    /// The credentials have expired (`ExpiredToken`).
    #[error("The security token included in the request is expired")]
    Expired,
    /// `x-amz-content-sha256` does not match the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHash,
    /// The signature does not match (`SignatureDoesNotMatch`).
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
    )]
    Mismatch {
        /// What the server computed.
        canonical_request: String,
        /// What the server signed.
        string_to_sign: String,
    },
}

impl SigV4Error {
    /// AWS's error code for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationToken",
            Self::Incomplete(_) => "IncompleteSignature",
            Self::Scope(_) | Self::Skewed(_) | Self::Mismatch { .. } | Self::PayloadHash => "SignatureDoesNotMatch",
            Self::InvalidToken(_) => "InvalidClientTokenId",
            Self::Expired => "ExpiredToken",
        }
    }

    /// The message STS answers with: the error's words, but for a mismatch without the
    /// canonical request and string to sign (S3 shows them; STS does not).
    pub fn sts_message(&self) -> String {
        match self {
            Self::Mismatch { .. } => {
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
                    .to_string()
            }
            other => other.to_string(),
        }
    }

    /// For a mismatch, what the server computed, so the client's own (botocore logs its canonical
    /// request at DEBUG) can be compared line by line; the session token is fingerprinted.
    pub fn explanation(&self) -> Option<crate::explain::Explanation> {
        let Self::Mismatch { canonical_request, string_to_sign } = self else { return None };
        let redacted: Vec<String> = canonical_request
            .lines()
            .map(|l| match l.strip_prefix("x-amz-security-token:") {
                Some(token) => format!("x-amz-security-token:<session token {}>", crate::secret::fingerprint(token)),
                None => l.to_string(),
            })
            .collect();
        let lines: Vec<&str> = canonical_request.lines().collect();
        let signed_headers = lines.len().checked_sub(2).and_then(|i| lines.get(i)).map(|l| l.split(';').map(str::to_string).collect()).unwrap_or_default();
        let scope = string_to_sign.lines().nth(2).unwrap_or_default().to_string();
        Some(crate::explain::Explanation::Signature(crate::explain::SignatureTrace { canonical_request: redacted.join("\n"), string_to_sign: string_to_sign.clone(), signed_headers, scope }))
    }

    /// What the journal says of this refusal: the service's words, but for a mismatch (whose
    /// message carries the whole canonical request) a short phrase, and for an unknown key why.
    pub fn journal_detail(&self) -> String {
        match self {
            Self::Mismatch { .. } => "signature does not match".to_string(),
            Self::InvalidToken(why) => why.clone(),
            other => other.to_string(),
        }
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigV4Error> {
    let value = value.trim();
    let (algorithm, rest) = value.split_once(' ').unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::Incomplete(format!("Unsupported AWS 'algorithm': '{algorithm}'")));
    }
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((k, v)) = part.split_once('=') else {
            return Err(SigV4Error::Incomplete(format!("'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'.")));
        };
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    for (name, v) in [("Credential", credential), ("Signature", signature), ("SignedHeaders", signed)] {
        if v.is_none() {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    if !missing.is_empty() {
        return Err(SigV4Error::Incomplete(format!("{} Authorization={value}", missing.join(" "))));
    }
    let credential = credential.unwrap_or_default();
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope.iter().any(|s| s.is_empty()) {
        return Err(SigV4Error::Incomplete(format!(
            "Credential should be scoped to a valid region, not ''. Credential='{credential}' is not of the form <AccessKeyId>/<YYYYMMDD>/<region>/<service>/aws4_request."
        )));
    }
    let signature = signature.unwrap_or_default();
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(SigV4Error::Incomplete(format!("Signature '{signature}' is not 64 lower-case hexadecimal digits.")));
    }
    Ok(Authorization {
        access_key_id: scope[0].to_string(),
        date: scope[1].to_string(),
        region: scope[2].to_string(),
        service: scope[3].to_string(),
        terminator: scope[4].to_string(),
        signed_headers: signed.unwrap_or_default().split(';').map(str::to_string).collect(),
        signature: signature.to_string(),
    })
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// URI-encodes every byte but the unreserved ones (and `/` when `keep_slash`).
pub fn uri_encode(input: &[u8], keep_slash: bool, out: &mut String) {
    for &b in input {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    crate::percent::decode_bytes(s, crate::percent::Plus::Literal)
}

/// The canonical URI of a non-S3 request: dot segments removed, empty segments collapsed, then
/// the (already encoded) path encoded again.
pub fn canonical_uri(raw_path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in raw_path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(raw_path.len() + 8);
    out.push('/');
    for (i, seg) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        uri_encode(seg.as_bytes(), false, &mut out);
    }
    let last = raw_path.rsplit('/').next().unwrap_or("");
    let directory = raw_path.ends_with('/') || last == "." || last == "..";
    if directory && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The canonical query string: names and values decoded, re-encoded, sorted.
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(&percent_decode(k), false, &mut ek);
            uri_encode(&percent_decode(v), false, &mut ev);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn canonical_header_value(values: &[&str]) -> String {
    values.iter().map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>().join(",")
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    crate::ids::hex(digest::digest(&digest::SHA256, data).as_ref())
}

/// The canonical request for `req` over `signed_headers`, with `payload_hash`.
pub fn canonical_request(req: &Request<'_>, signed_headers: &[String], payload_hash: &str) -> Result<String, SigV4Error> {
    let mut out = String::with_capacity(512);
    out.push_str(req.method);
    out.push('\n');
    out.push_str(&canonical_uri(req.path));
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in signed_headers {
        let values: Vec<&str> = req.header_values(name).collect();
        if values.is_empty() {
            return Err(SigV4Error::Incomplete(format!("Header '{name}' is listed in SignedHeaders but absent from the request.")));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&canonical_header_value(&values));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// The string to sign.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()))
}

/// The hex signature of `string_to_sign` with the key derived from `secret` for the scope.
pub fn signature(secret: &str, date: &str, region: &str, service: &str, string_to_sign: &str) -> String {
    let mac = |key: &[u8], data: &str| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes());
    let k_date = mac(format!("AWS4{secret}").as_bytes(), date);
    let k_region = mac(k_date.as_ref(), region);
    let k_service = mac(k_region.as_ref(), service);
    let k_signing = mac(k_service.as_ref(), "aws4_request");
    crate::ids::hex(mac(k_signing.as_ref(), string_to_sign).as_ref())
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    let date = time::Date::from_calendar_date(n(0..4)? as i32, time::Month::try_from(n(4..6)? as u8).ok()?, n(6..8)? as u8).ok()?;
    let t = time::Time::from_hms(n(9..11)? as u8, n(11..13)? as u8, n(13..15)? as u8).ok()?;
    Some(date.with_time(t).assume_utc())
}

/// Formats `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(t: OffsetDateTime) -> String {
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute(), t.second())
}

/// What the caller requires of the scope.
pub struct ScopeRule<'a> {
    /// Service name, e.g. `sts`.
    pub service: &'a str,
    /// Whether a region is acceptable here.
    pub region_ok: &'a dyn Fn(&str) -> bool,
}

/// The query parameters of a presigned request, decoded.
fn query_params(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (String::from_utf8_lossy(&percent_decode(k)).into_owned(), String::from_utf8_lossy(&percent_decode(v)).into_owned())
        })
        .collect()
}

/// Verifies a presigned request (SigV4 in the query: `X-Amz-Algorithm`, `X-Amz-Credential`,
/// `X-Amz-Date`, `X-Amz-SignedHeaders`, `X-Amz-Signature`, and `X-Amz-Security-Token` for
/// temporary credentials): the same scope, window, key, token and signature checks as the header
/// form, over the query without `X-Amz-Signature`. STS, unlike S3, does not read `X-Amz-Expires`:
/// a presigned request is good for 15 minutes either side of `X-Amz-Date`, whatever it says
/// (aws-iam-authenticator sent `X-Amz-Expires=0` for years).
fn verify_presigned(req: &Request<'_>, rule: &ScopeRule<'_>, now: OffsetDateTime, lookup: impl FnOnce(&str) -> Option<KeyMaterial>) -> Result<Verified, SigV4Error> {
    let params = query_params(req.query);
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    if get("X-Amz-Algorithm") != Some(ALGORITHM) {
        return Err(SigV4Error::Missing);
    }
    let required = ["X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders"];
    let missing: Vec<String> = required.iter().filter(|n| get(n).is_none()).map(|n| format!("'{n}'")).collect();
    if !missing.is_empty() {
        return Err(SigV4Error::Incomplete(format!("AWS query-string parameters must include {}. Re-examine the query-string parameters.", missing.join(", "))));
    }
    let credential = get("X-Amz-Credential").unwrap_or_default();
    let signed = get("X-Amz-SignedHeaders").unwrap_or_default();
    let given = get("X-Amz-Signature").unwrap_or_default();
    let header = format!("{ALGORITHM} Credential={credential}, SignedHeaders={signed}, Signature={given}");
    let auth = parse_authorization(&header)?;
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::Incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into()));
    }
    let amz_date = get("X-Amz-Date").unwrap_or_default().to_string();
    let request_time = parse_amz_date(&amz_date).ok_or_else(|| SigV4Error::Incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'.")))?;
    check_scope(&auth, &amz_date, rule)?;
    check_window(request_time, &amz_date, now)?;
    let key = check_key(&auth, get("X-Amz-Security-Token").or_else(|| req.header("x-amz-security-token")), now, lookup)?;
    let unsigned_query = req.query.split('&').filter(|p| !p.starts_with("X-Amz-Signature=")).collect::<Vec<_>>().join("&");
    let payload_hash = match get("X-Amz-Content-Sha256") {
        Some(h) => h.to_string(),
        None => sha256_hex(req.body),
    };
    check_signature(&Request { query: &unsigned_query, ..req.clone() }, auth, &amz_date, &key, &payload_hash)
}

/// The key checks both forms share: the access key is one the server knows, the session token
/// presented is its own, and the credentials have not expired.
fn check_key(auth: &Authorization, presented_token: Option<&str>, now: OffsetDateTime, lookup: impl FnOnce(&str) -> Option<KeyMaterial>) -> Result<KeyMaterial, SigV4Error> {
    let key = lookup(&auth.access_key_id).ok_or_else(|| SigV4Error::InvalidToken(format!("unknown access key {}", auth.access_key_id)))?;
    if let Some(expected) = &key.session_token {
        match presented_token {
            None => return Err(SigV4Error::InvalidToken("temporary credentials used without their session token".into())),
            Some(t) if t != expected => return Err(SigV4Error::InvalidToken("session token does not belong to this access key".into())),
            Some(_) => {}
        }
    }
    if key.expires_at.is_some_and(|exp| exp <= now) {
        return Err(SigV4Error::Expired);
    }
    Ok(key)
}

/// The signature check both forms share: `req` made canonical over the signed headers and
/// `payload_hash`, signed with `key` for the scope, compared in constant time with `auth`'s.
fn check_signature(req: &Request<'_>, auth: Authorization, amz_date: &str, key: &KeyMaterial, payload_hash: &str) -> Result<Verified, SigV4Error> {
    let canonical = canonical_request(req, &auth.signed_headers, payload_hash)?;
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let sts = string_to_sign(amz_date, &scope, &canonical);
    let expected = signature(&key.secret, &auth.date, &auth.region, &auth.service, &sts);
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(SigV4Error::Mismatch { canonical_request: canonical, string_to_sign: sts });
    }
    Ok(Verified { access_key_id: auth.access_key_id, region: auth.region, signed_headers: auth.signed_headers })
}

/// The 15 minutes either side of the server's clock a signed request may carry as its date.
fn check_window(request_time: OffsetDateTime, amz_date: &str, now: OffsetDateTime) -> Result<(), SigV4Error> {
    if request_time < now - MAX_SKEW {
        return Err(SigV4Error::Skewed(format!("Signature expired: {amz_date} is now earlier than {} ({} - 15 min.)", format_amz_date(now - MAX_SKEW), format_amz_date(now))));
    }
    if request_time > now + MAX_SKEW {
        return Err(SigV4Error::Skewed(format!("Signature not yet current: {amz_date} is still later than {} ({} + 15 min.)", format_amz_date(now + MAX_SKEW), format_amz_date(now))));
    }
    Ok(())
}

/// The scope checks both forms share: date, region, service, terminator.
fn check_scope(auth: &Authorization, amz_date: &str, rule: &ScopeRule<'_>) -> Result<(), SigV4Error> {
    if !amz_date.starts_with(&auth.date) {
        return Err(SigV4Error::Scope(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{amz_date}'.",
            auth.date,
            &amz_date[..8]
        )));
    }
    if !(rule.region_ok)(&auth.region) {
        return Err(SigV4Error::Scope(format!("Credential should be scoped to a valid region, not '{}'. ", auth.region)));
    }
    if auth.service != rule.service {
        return Err(SigV4Error::Scope(format!("Credential should be scoped to correct service: '{}'. ", rule.service)));
    }
    if auth.terminator != "aws4_request" {
        return Err(SigV4Error::Scope("Credential should be scoped with a valid terminator: 'aws4_request', not '".to_string() + &auth.terminator + "'. "));
    }
    Ok(())
}

/// Verifies `req`'s signature, in the `Authorization` header or, presigned, in the query.
/// `lookup` gives what the server knows of an access key.
pub fn verify(req: &Request<'_>, rule: &ScopeRule<'_>, now: OffsetDateTime, lookup: impl FnOnce(&str) -> Option<KeyMaterial>) -> Result<Verified, SigV4Error> {
    if req.header("authorization").is_none() && req.query.split('&').any(|p| p.starts_with("X-Amz-Algorithm=") || p.starts_with("X-Amz-Signature=") || p.starts_with("X-Amz-Credential=")) {
        return verify_presigned(req, rule, now, lookup);
    }
    let header = req.header("authorization").ok_or(SigV4Error::Missing)?;
    let auth = parse_authorization(header)?;
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(SigV4Error::Incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into()));
    }
    let (amz_date, date_header) = match (req.header("x-amz-date"), req.header("date")) {
        (Some(d), _) => (d.trim().to_string(), "x-amz-date"),
        (None, Some(d)) => {
            let t = httpdate::parse_http_date(d.trim()).map_err(|_| SigV4Error::Incomplete(format!("Date header '{d}' is not an HTTP date.")))?;
            let t = OffsetDateTime::from(t);
            (format_amz_date(t), "date")
        }
        (None, None) => {
            return Err(SigV4Error::Incomplete(format!("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization={header}")));
        }
    };
    if !auth.signed_headers.iter().any(|h| h == date_header) {
        return Err(SigV4Error::Incomplete(format!("'{date_header}' must be a 'SignedHeader' in the AWS Authorization.")));
    }
    let request_time = parse_amz_date(&amz_date).ok_or_else(|| SigV4Error::Incomplete(format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'.")))?;
    check_scope(&auth, &amz_date, rule)?;
    check_window(request_time, &amz_date, now)?;
    let key = check_key(&auth, req.header("x-amz-security-token"), now, lookup)?;
    let body_hash = sha256_hex(req.body);
    let payload_hash = match req.header("x-amz-content-sha256") {
        Some(h) if h != body_hash => return Err(SigV4Error::PayloadHash),
        _ => body_hash,
    };
    check_signature(req, auth, &amz_date, &key, &payload_hash)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_parse_with_or_without_spaces() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        )
        .unwrap();
        assert_eq!(a.access_key_id, "AKID");
        assert_eq!(a.signed_headers, ["host", "x-amz-date"]);
        let b = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request,SignedHeaders=host;x-amz-date,Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        )
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn incomplete_authorization_headers_say_what_is_missing() {
        let e = parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request").unwrap_err();
        assert_eq!(e.code(), "IncompleteSignature");
        assert!(e.to_string().contains("requires 'Signature' parameter") && e.to_string().contains("requires 'SignedHeaders' parameter"), "{e}");
        assert_eq!(parse_authorization("AWS4-HMAC-SHA1 Credential=a").unwrap_err().to_string(), "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'");
    }

    #[test]
    fn paths_are_normalised_then_encoded_twice() {
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("//example//"), "/example/");
        assert_eq!(canonical_uri("/example/.."), "/");
        assert_eq!(canonical_uri("/a/./b/../c"), "/a/c");
        assert_eq!(canonical_uri("/A/."), "/A/", "a trailing dot segment leaves a directory (RFC 3986 5.2.4)");
        assert_eq!(canonical_uri("/A/b/.."), "/A/");
        assert_eq!(canonical_uri("/path/with%20space"), "/path/with%2520space");
    }

    #[test]
    fn queries_are_sorted_and_encoded() {
        assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(canonical_query("Param1=value1&Param2"), "Param1=value1&Param2=");
        assert_eq!(canonical_query("k=a%20b&k2=~_"), "k=a%20b&k2=~_");
        assert_eq!(canonical_query("k=a+b"), "k=a%2Bb");
    }

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert!(parse_amz_date("2015-08-30T12:36:00Z").is_none());
        assert!(parse_amz_date("20151330T123600Z").is_none());
    }
}
