//! JSON Web Tokens (compact JWS): decoding and signature verification against a JWK.
//!
//! Only asymmetric algorithms are accepted — RS256/384/512 and ES256/384 — as AWS STS and Google
//! STS accept them. `none` and every HMAC algorithm are refused before any key is looked at, so a
//! token can never be "verified" with a public key used as an HMAC secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    /// Not three base64url parts of JSON, or a claim of the wrong type.
    #[error("malformed token: {0}")]
    Malformed(String),
    /// `alg` is `none`, HMAC or unknown.
    #[error("unsupported algorithm `{0}`")]
    UnsupportedAlgorithm(String),
    /// No key with the token's `kid` (or none without a `kid`).
    #[error("no key `{0}` in the issuer's key set")]
    UnknownKey(String),
    /// The key's type does not fit the algorithm.
    #[error("key `{kid}` cannot verify {alg}")]
    KeyMismatch {
        /// Key id.
        kid: String,
        /// Algorithm.
        alg: String,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The header lists critical extensions (`crit`) this verifier does not understand, so the
    /// token must be refused (RFC 7515 §4.1.11).
    #[error("critical header extension {0} is not understood (RFC 7515 §4.1.11)")]
    UnsupportedCritical(String),
    /// A NumericDate claim is an integer but no date a calendar holds (before 1970 or after
    /// 9999).
    #[error("`{0}` is {1}, which is not a date between 1970 and 9999")]
    TimeOutOfRange(String, i64),
}

/// How a verifier judges a token's times: the one time check AWS STS and Google STS share, each
/// with its own rules (and its own words for the failures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRules {
    /// Whether `iat` is required (Google) or optional (AWS).
    pub require_iat: bool,
    /// Seconds past `exp` a token is still accepted (AWS: 300; Google: 0).
    pub exp_leeway: i64,
    /// Seconds before `nbf` and `iat` a token is already accepted.
    pub early_leeway: i64,
    /// The longest `exp − iat` accepted, if any (Google: 48 hours).
    pub max_lifetime: Option<i64>,
}

/// Why a token's times are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFailure {
    /// The NumericDate claim named is not an integer, or no date (the error says which).
    Claim(&'static str, JwtError),
    /// A required claim is absent.
    Missing(&'static str),
    /// Now is at or past `exp` (plus the leeway).
    Expired {
        /// `exp`.
        exp: i64,
    },
    /// Now is before `nbf` (less the leeway).
    NotYetValid {
        /// `nbf`.
        nbf: i64,
    },
    /// `iat` is after now (plus the leeway).
    IssuedInFuture {
        /// `iat`.
        iat: i64,
    },
    /// `exp − iat` is over the maximum lifetime.
    TooLong {
        /// `iat`.
        iat: i64,
        /// `exp`.
        exp: i64,
    },
}

impl TimeFailure {
    /// The failure as the claim expected against found, at `now` under `rules`, with the
    /// instants in words (UTC).
    pub fn trace(&self, now: i64, rules: &TimeRules) -> crate::explain::TokenTrace {
        use crate::explain::TokenTrace;
        let at = |t: i64| time::OffsetDateTime::from_unix_timestamp(t).map(crate::clock::iso8601).unwrap_or_else(|_| "out of range".into());
        let when = |t: i64| format!("{t} ({})", at(t));
        match self {
            Self::Claim(name, e) => TokenTrace::new(*name, "an integer NumericDate within the calendar", Some(e.to_string())),
            Self::Missing(name) => TokenTrace::new(*name, "present (an integer NumericDate)", None),
            Self::Expired { exp } => TokenTrace::new("exp", format!("after now {} less {} s of leeway", when(now), rules.exp_leeway), Some(when(*exp))),
            Self::NotYetValid { nbf } => TokenTrace::new("nbf", format!("at or before now {} plus {} s of leeway", when(now), rules.early_leeway), Some(when(*nbf))),
            Self::IssuedInFuture { iat } => TokenTrace::new("iat", format!("at or before now {} plus {} s of leeway", when(now), rules.early_leeway), Some(when(*iat))),
            Self::TooLong { iat, exp } => {
                TokenTrace::new("exp", format!("at most {} s after iat {}", rules.max_lifetime.unwrap_or_default(), when(*iat)), Some(format!("{} ({} s after iat)", when(*exp), exp - iat)))
            }
        }
    }
}

/// A token's times, once they passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    /// `exp`.
    pub exp: i64,
    /// `iat`, if present.
    pub iat: Option<i64>,
    /// `nbf`, if present.
    pub nbf: Option<i64>,
}

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z. With every claim between 0 and this,
/// and the clock within its range, time arithmetic on claims cannot overflow.
pub const LATEST_NUMERIC_DATE: i64 = 253_402_300_799;

/// The JOSE header fields that matter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// Signing algorithm.
    pub alg: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Token type.
    #[serde(default)]
    pub typ: Option<String>,
    /// Critical extensions the recipient must understand (`crit`); none are, so any refuses
    /// the token — `null` included (present is present).
    #[serde(default, deserialize_with = "present")]
    pub crit: Option<Value>,
    /// Certificate thumbprint, SHA-1 (`x5t`), as client assertions name their key.
    #[serde(default)]
    pub x5t: Option<String>,
    /// Certificate thumbprint, SHA-256 (`x5t#S256`).
    #[serde(default, rename = "x5t#S256")]
    pub x5t_s256: Option<String>,
}

/// `Some` whenever the field is present, even as `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A decoded, not yet verified, token.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Its header.
    pub header: Header,
    /// Its claims.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// A public key from a JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Jwk {
    /// `RSA` or `EC`.
    pub kty: String,
    /// Key id.
    #[serde(default)]
    pub kid: Option<String>,
    /// Algorithm the key is for, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// RSA modulus (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC curve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Certificate thumbprint (base64url SHA-1), where the issuer publishes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5t: Option<String>,
    /// Certificate chain (standard base64 DER), where the issuer publishes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x5c: Option<Vec<String>>,
}

/// A JWK made ready for verification: its public key parsed once, for each algorithm it fits.
pub struct PreparedKey {
    /// The key as published.
    pub jwk: Jwk,
    parsed: Vec<(&'static str, aws_lc_rs::signature::ParsedPublicKey)>,
}

impl std::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedKey").field("kid", &self.jwk.kid).finish_non_exhaustive()
    }
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
}

fn der_integer(value: &[u8], out: &mut Vec<u8>) {
    let trimmed: &[u8] = match value.iter().position(|b| *b != 0) {
        Some(i) => &value[i..],
        None => &[0],
    };
    let pad = trimmed[0] & 0x80 != 0;
    out.push(0x02);
    der_len(trimmed.len() + usize::from(pad), out);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(trimmed);
}

/// PKCS#1 `RSAPublicKey` DER of modulus `n` and exponent `e`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    der_integer(n, &mut body);
    der_integer(e, &mut body);
    let mut out = vec![0x30];
    der_len(body.len(), &mut out);
    out.extend(body);
    out
}

impl PreparedKey {
    /// Parses `jwk` for the algorithms its type allows; an unusable key verifies nothing.
    pub fn new(jwk: Jwk) -> Self {
        use aws_lc_rs::signature::{self as sig, ParsedPublicKey};
        let mut parsed = Vec::new();
        let b = |v: &Option<String>| v.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
        match jwk.kty.as_str() {
            "RSA" => {
                if let (Some(n), Some(e)) = (b(&jwk.n), b(&jwk.e)) {
                    let der = rsa_public_key_der(&n, &e);
                    let algs: [(&'static str, &'static sig::RsaParameters); 4] = [
                        ("RS256", &sig::RSA_PKCS1_2048_8192_SHA256),
                        ("RS384", &sig::RSA_PKCS1_2048_8192_SHA384),
                        ("RS512", &sig::RSA_PKCS1_2048_8192_SHA512),
                        ("PS256", &sig::RSA_PSS_2048_8192_SHA256),
                    ];
                    for (alg, params) in algs {
                        if let Ok(k) = ParsedPublicKey::new(params, &der) {
                            parsed.push((alg, k));
                        }
                    }
                }
            }
            "EC" => {
                if let (Some(x), Some(y)) = (b(&jwk.x), b(&jwk.y)) {
                    let mut point = vec![0x04];
                    point.extend(x);
                    point.extend(y);
                    let fit: Option<(&'static str, &'static sig::EcdsaVerificationAlgorithm)> = match jwk.crv.as_deref() {
                        Some("P-256") => Some(("ES256", &sig::ECDSA_P256_SHA256_FIXED)),
                        Some("P-384") => Some(("ES384", &sig::ECDSA_P384_SHA384_FIXED)),
                        _ => None,
                    };
                    if let Some((alg, params)) = fit
                        && let Ok(k) = ParsedPublicKey::new(params, &point)
                    {
                        parsed.push((alg, k));
                    }
                }
            }
            _ => {}
        }
        if let Some(only) = jwk.alg.clone() {
            parsed.retain(|(a, _)| *a == only);
        }
        Self { jwk, parsed }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        self.jwk.kid.as_deref().unwrap_or_default()
    }
}

/// Algorithms a token may be signed with.
pub const ACCEPTED_ALGS: &[&str] = &["RS256", "RS384", "RS512", "ES256", "ES384"];

fn b64(part: &str, what: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed(format!("{what} is not base64url")))
}

/// Splits and decodes a compact JWS. Trailing ASCII whitespace (a token file's newline) is
/// ignored, as STS ignores it.
pub fn decode(token: &str) -> Result<Decoded, JwtError> {
    let token = token.trim_end_matches([' ', '\n', '\r', '\t']);
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Malformed("a JWT has three dot-separated parts".into()));
    };
    let header: Header = serde_json::from_slice(&b64(h, "header")?).map_err(|e| JwtError::Malformed(format!("header is not a JOSE header: {e}")))?;
    let claims: Map<String, Value> = serde_json::from_slice(&b64(c, "payload")?).map_err(|e| JwtError::Malformed(format!("payload is not a JSON object: {e}")))?;
    let signature = b64(s, "signature")?;
    Ok(Decoded { header, claims, signing_input: format!("{h}.{c}"), signature })
}

impl Decoded {
    /// Checks the algorithm and the signature against `keys` (selected by `kid`; when a set
    /// repeats a `kid`, each candidate is tried in turn).
    pub fn verify<'k, K: std::borrow::Borrow<PreparedKey>>(&self, keys: &'k [K]) -> Result<&'k PreparedKey, JwtError> {
        self.verify_allowing(keys, ACCEPTED_ALGS)
    }

    /// [`Decoded::verify`] with `algs` the accepted algorithms instead of [`ACCEPTED_ALGS`]
    /// (Entra takes PS256 client assertions too).
    pub fn verify_allowing<'k, K: std::borrow::Borrow<PreparedKey>>(&self, keys: &'k [K], algs: &[&str]) -> Result<&'k PreparedKey, JwtError> {
        let alg = self.header.alg.as_str();
        if !algs.contains(&alg) {
            return Err(JwtError::UnsupportedAlgorithm(alg.to_string()));
        }
        if let Some(crit) = &self.header.crit {
            return Err(JwtError::UnsupportedCritical(crit.to_string()));
        }
        let kid = self.header.kid.clone().unwrap_or_default();
        let mut candidates = keys.iter().map(|k| k.borrow()).filter(|k| k.kid() == kid).peekable();
        if candidates.peek().is_none() {
            return Err(JwtError::UnknownKey(kid));
        }
        let mut failure = JwtError::BadSignature;
        for key in candidates {
            let Some((_, parsed)) = key.parsed.iter().find(|(a, _)| *a == alg) else {
                failure = JwtError::KeyMismatch { kid: kid.clone(), alg: alg.to_string() };
                continue;
            };
            if parsed.verify_sig(self.signing_input.as_bytes(), &self.signature).is_ok() {
                return Ok(key);
            }
            failure = JwtError::BadSignature;
        }
        Err(failure)
    }

    /// A string claim.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A NumericDate claim; `Err` if present but not an integer (STS requires integers), or an
    /// integer outside 0 … [`LATEST_NUMERIC_DATE`].
    pub fn time_claim(&self, name: &str) -> Result<Option<i64>, JwtError> {
        let Some(v) = self.claims.get(name) else { return Ok(None) };
        let Some(n) = v.as_i64() else {
            return Err(match v.as_u64() {
                Some(big) => JwtError::TimeOutOfRange(name.to_string(), i64::try_from(big).unwrap_or(i64::MAX)),
                None => JwtError::Malformed(format!("`{name}` must be an integer NumericDate")),
            });
        };
        if !(0..=LATEST_NUMERIC_DATE).contains(&n) {
            return Err(JwtError::TimeOutOfRange(name.to_string(), n));
        }
        Ok(Some(n))
    }

    /// Checks `exp`, `nbf` and `iat` against `now` (Unix seconds) under `rules`. Every claim is
    /// first read as a date (0 … [`LATEST_NUMERIC_DATE`]), so the arithmetic cannot overflow.
    pub fn check_times(&self, now: i64, rules: &TimeRules) -> Result<Times, TimeFailure> {
        let claim = |name: &'static str| self.time_claim(name).map_err(|e| TimeFailure::Claim(name, e));
        let exp = claim("exp")?;
        let nbf = claim("nbf")?;
        let iat = claim("iat")?;
        let exp = exp.ok_or(TimeFailure::Missing("exp"))?;
        if rules.require_iat && iat.is_none() {
            return Err(TimeFailure::Missing("iat"));
        }
        if now >= exp + rules.exp_leeway {
            return Err(TimeFailure::Expired { exp });
        }
        if let Some(nbf) = nbf
            && nbf > now + rules.early_leeway
        {
            return Err(TimeFailure::NotYetValid { nbf });
        }
        if let Some(iat) = iat {
            if iat > now + rules.early_leeway {
                return Err(TimeFailure::IssuedInFuture { iat });
            }
            if rules.max_lifetime.is_some_and(|max| exp - iat > max) {
                return Err(TimeFailure::TooLong { iat, exp });
            }
        }
        Ok(Times { exp, iat, nbf })
    }

    /// The first of the token's audiences that `accepted` holds: the audience check both STS
    /// make (against the provider's client ids, or its allowed audiences).
    pub fn audience_in<S: AsRef<str>>(&self, accepted: &[S]) -> Option<&str> {
        self.audiences().into_iter().find(|a| accepted.iter().any(|x| x.as_ref() == *a))
    }

    /// The audiences: `aud` as a string or an array of strings.
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn three_parts_of_json_are_required() {
        assert!(matches!(decode("a.b"), Err(JwtError::Malformed(_))));
        assert!(matches!(decode("a.b.c.d"), Err(JwtError::Malformed(_))));
        assert!(matches!(decode("!!.e30.c2ln"), Err(JwtError::Malformed(_))));
        let t = format!("{}.{}.", enc(&serde_json::json!({"alg":"RS256"})), enc(&serde_json::json!({"sub":"x"})));
        let d = decode(&format!("{t}\n")).expect("a trailing newline is tolerated");
        assert_eq!(d.str_claim("sub"), Some("x"));
    }

    #[test]
    fn none_and_hmac_are_refused_before_any_key_is_used() {
        let key = Jwk { kty: "oct".into(), kid: Some("k".into()), alg: None, n: None, e: None, crv: None, x: None, y: None, x5t: None, x5c: None };
        for alg in ["none", "HS256", "HS512", "PS256"] {
            let t = format!("{}.{}.c2ln", enc(&serde_json::json!({"alg": alg, "kid": "k"})), enc(&serde_json::json!({})));
            assert_eq!(decode(&t).unwrap().verify(&[PreparedKey::new(key.clone())]).unwrap_err(), JwtError::UnsupportedAlgorithm(alg.into()));
        }
    }

    #[test]
    fn numeric_dates_outside_the_calendar_are_refused_not_wrapped() {
        for (v, expect) in [
            (serde_json::json!(i64::MAX), JwtError::TimeOutOfRange("exp".into(), i64::MAX)),
            (serde_json::json!(u64::MAX), JwtError::TimeOutOfRange("exp".into(), i64::MAX)),
            (serde_json::json!(-(1i64 << 62)), JwtError::TimeOutOfRange("exp".into(), -(1i64 << 62))),
            (serde_json::json!(LATEST_NUMERIC_DATE + 1), JwtError::TimeOutOfRange("exp".into(), LATEST_NUMERIC_DATE + 1)),
        ] {
            let t = format!("{}.{}.c2ln", enc(&serde_json::json!({"alg":"RS256"})), enc(&serde_json::json!({"exp": v})));
            assert_eq!(decode(&t).unwrap().time_claim("exp"), Err(expect));
        }
        let t = format!("{}.{}.c2ln", enc(&serde_json::json!({"alg":"RS256"})), enc(&serde_json::json!({"exp": LATEST_NUMERIC_DATE})));
        assert_eq!(decode(&t).unwrap().time_claim("exp"), Ok(Some(LATEST_NUMERIC_DATE)));
    }

    #[test]
    fn a_critical_header_extension_refuses_the_token_before_any_key_is_used() {
        for crit in [serde_json::json!(["http://example.invalid/must-understand"]), serde_json::json!(["exp"]), serde_json::json!([]), serde_json::json!("b64"), Value::Null] {
            let t = format!("{}.{}.c2ln", enc(&serde_json::json!({"alg":"RS256","kid":"k","crit": crit})), enc(&serde_json::json!({})));
            assert!(matches!(decode(&t).unwrap().verify::<PreparedKey>(&[]), Err(JwtError::UnsupportedCritical(_))), "crit {crit}");
        }
    }

    #[test]
    fn numeric_dates_must_be_integers() {
        let t = format!("{}.{}.c2ln", enc(&serde_json::json!({"alg":"RS256"})), enc(&serde_json::json!({"exp":"soon","iat":1.5,"nbf":3})));
        let d = decode(&t).unwrap();
        assert!(d.time_claim("exp").is_err());
        assert!(d.time_claim("iat").is_err());
        assert_eq!(d.time_claim("nbf"), Ok(Some(3)));
        assert_eq!(d.time_claim("missing"), Ok(None));
    }
}
