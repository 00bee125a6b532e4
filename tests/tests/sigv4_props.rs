//! Property tests of the SigV4 verifier against the real signer: any request aws-sigv4 signs
//! verifies; changing any signed part of it is refused.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use cloudid_mock::verify::sigv4::{self, KeyMaterial, Request, ScopeRule};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secret: String,
    region: &'static str,
    secs: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT"]),
        prop::collection::vec("[a-zA-Z0-9._~-]{1,8}", 0..4),
        prop::collection::vec(("[a-zA-Z0-9_]{1,6}", "[a-zA-Z0-9._~-]{0,6}"), 0..4),
        prop::collection::vec(("x-amz-meta-[a-z]{1,6}", "[a-zA-Z0-9]{1,4}( {1,3}[a-zA-Z0-9]{1,4}){0,2}"), 0..4),
        prop::collection::vec(any::<u8>(), 0..64),
        "[a-zA-Z0-9/+]{40}",
        prop::sample::select(vec!["us-east-1", "ap-northeast-1", "eu-west-3"]),
        1_600_000_000u64..1_900_000_000,
    )
        .prop_map(|(method, segs, query, headers, body, secret, region, secs)| {
            let mut seen = std::collections::HashSet::new();
            Case {
                method,
                path: format!("/{}", segs.join("/")),
                query: query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"),
                headers: headers.into_iter().filter(|(k, _)| seen.insert(k.clone())).collect(),
                body,
                secret,
                region,
                secs,
            }
        })
}

/// Signs `c` with aws-sigv4; the headers as sent.
fn signed(c: &Case) -> Vec<(String, String)> {
    let mut headers = vec![("host".to_string(), "sts.example.test".to_string())];
    headers.extend(c.headers.iter().cloned());
    let creds = Credentials::new("ASIAPROPTEST00000001", c.secret.clone(), Some("session-token".into()), None, "p");
    let identity = creds.into();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(c.secs);
    let params = v4::SigningParams::builder().identity(&identity).region(c.region).name("sts").time(time).settings(SigningSettings::default()).build().unwrap().into();
    let uri = if c.query.is_empty() { format!("https://sts.example.test{}", c.path) } else { format!("https://sts.example.test{}?{}", c.path, c.query) };
    let signable = SignableRequest::new(c.method, uri, headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(&c.body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    for (k, v) in instructions.headers() {
        headers.push((k.to_ascii_lowercase(), v.to_string()));
    }
    headers
}

fn verify(c: &Case, path: &str, query: &str, headers: &[(String, String)], body: &[u8]) -> Result<sigv4::Verified, sigv4::SigV4Error> {
    let req = Request { method: c.method, path, query, headers: headers.to_vec(), body };
    let region_ok = |r: &str| r == c.region;
    let rule = ScopeRule { service: "sts", region_ok: &region_ok };
    let now = time::OffsetDateTime::from_unix_timestamp(c.secs as i64).unwrap();
    sigv4::verify(&req, &rule, now, |_| Some(KeyMaterial { secret: c.secret.clone(), session_token: Some("session-token".into()), expires_at: None }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn whatever_aws_sigv4_signs_verifies(c in case()) {
        let headers = signed(&c);
        let v = verify(&c, &c.path, &c.query, &headers, &c.body);
        prop_assert!(v.is_ok(), "{:?}", v);
    }

    #[test]
    fn changing_any_signed_part_is_refused(c in case(), which in 0usize..100, flip in 0usize..1000) {
        let headers = signed(&c);
        let auth = sigv4::parse_authorization(&headers.iter().find(|(k, _)| k == "authorization").unwrap().1).unwrap();
        let signed_names: Vec<&String> = auth.signed_headers.iter().collect();
        let mut h = headers.clone();
        let (mut path, mut query, mut body) = (c.path.clone(), c.query.clone(), c.body.clone());
        match which % 5 {
            0 => {
                let name = signed_names[flip % signed_names.len()];
                for (k, v) in h.iter_mut() {
                    if k == name {
                        v.push('0');
                    }
                }
            }
            1 => path.push('x'),
            2 => query = if query.is_empty() { "a=1".into() } else { format!("{query}0") },
            3 => {
                if body.is_empty() { body.push(b'x') } else { let i = flip % body.len(); body[i] ^= 0x01 }
            }
            _ => {
                let auth_header = h.iter_mut().find(|(k, _)| k == "authorization").unwrap();
                let sig_at = auth_header.1.len() - 1 - (flip % 64);
                let mut bytes = auth_header.1.clone().into_bytes();
                bytes[sig_at] = if bytes[sig_at] == b'0' { b'1' } else { b'0' };
                auth_header.1 = String::from_utf8(bytes).unwrap();
            }
        }
        prop_assert!(verify(&c, &path, &query, &h, &body).is_err());
    }
}

/// Presigns `c` with aws-sigv4 (signature in the query, valid `expires` seconds); the query as
/// sent and the headers.
fn presigned(c: &Case, expires: u64) -> (String, Vec<(String, String)>) {
    use aws_sigv4::http_request::SignatureLocation;
    let mut headers = vec![("host".to_string(), "sts.example.test".to_string())];
    headers.extend(c.headers.iter().cloned());
    let creds = Credentials::new("ASIAPROPTEST00000001", c.secret.clone(), Some("session-token".into()), None, "p");
    let identity = creds.into();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(c.secs);
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(expires));
    let params = v4::SigningParams::builder().identity(&identity).region(c.region).name("sts").time(time).settings(settings).build().unwrap().into();
    let uri = if c.query.is_empty() { format!("https://sts.example.test{}", c.path) } else { format!("https://sts.example.test{}?{}", c.path, c.query) };
    let signable = SignableRequest::new(c.method, uri, headers.iter().map(|(k, v)| (k.as_str(), v.as_str())), SignableBody::Bytes(&c.body)).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut query = c.query.clone();
    for (k, v) in instructions.params() {
        let mut encoded = String::new();
        sigv4::uri_encode(v.as_bytes(), false, &mut encoded);
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("{k}={encoded}"));
    }
    (query, headers)
}

fn verify_at(c: &Case, query: &str, headers: &[(String, String)], body: &[u8], now: u64) -> Result<sigv4::Verified, sigv4::SigV4Error> {
    let req = Request { method: c.method, path: &c.path, query, headers: headers.to_vec(), body };
    let region_ok = |r: &str| r == c.region;
    let rule = ScopeRule { service: "sts", region_ok: &region_ok };
    let now = time::OffsetDateTime::from_unix_timestamp(now as i64).unwrap();
    sigv4::verify(&req, &rule, now, |_| Some(KeyMaterial { secret: c.secret.clone(), session_token: Some("session-token".into()), expires_at: None }))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn whatever_aws_sigv4_presigns_verifies_for_15_minutes_whatever_its_expiry(c in case(), expires in 1u64..604_800, at in 0u64..=900) {
        let (query, headers) = presigned(&c, expires);
        let v = verify_at(&c, &query, &headers, &c.body, c.secs + at);
        prop_assert!(v.is_ok(), "{} {:?}", query, v);
        let after = verify_at(&c, &query, &headers, &c.body, c.secs + 901);
        prop_assert!(matches!(&after, Err(sigv4::SigV4Error::Skewed(m)) if m.starts_with("Signature expired: ")), "{:?}", after);
    }

    #[test]
    fn changing_any_presigned_part_is_refused(c in case(), which in 0usize..4, flip in 0usize..1000) {
        let (mut query, mut headers) = presigned(&c, 900);
        let mut body = c.body.clone();
        match which {
            0 => headers[0].1.push('x'),
            1 => query = query.replacen("X-Amz-Date=", "X-Amz-Date=1", 1),
            2 => {
                if body.is_empty() { body.push(b'x') } else { let i = flip % body.len(); body[i] ^= 0x01 }
            }
            _ => {
                let at = query.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len() + flip % 64;
                let mut bytes = query.into_bytes();
                bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
                query = String::from_utf8(bytes).unwrap();
            }
        }
        prop_assert!(verify_at(&c, &query, &headers, &body, c.secs).is_err());
    }
}
