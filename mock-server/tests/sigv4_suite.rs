//! The AWS SigV4 test suite, replayed through cloudid's verifier: every signed request verifies,
//! the canonical request matches AWS's byte for byte, and any change to a signed part is refused.

use std::path::{Path, PathBuf};

use cloudid_mock::verify::sigv4::{self, KeyMaterial, Request, ScopeRule, SigV4Error};

struct Case {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    secret: String,
    token: Option<String>,
    region: String,
    service: String,
    now: time::OffsetDateTime,
    canonical: String,
}

fn load(dir: &Path) -> Case {
    let ctx: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).unwrap()).unwrap();
    let raw = std::fs::read_to_string(dir.join("header-signed-request.txt")).unwrap();
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let target = request_line.strip_prefix(request_line.split(' ').next().unwrap()).unwrap().trim().trim_end_matches(" HTTP/1.1");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            let last = headers.last_mut().unwrap();
            last.1 = format!("{} {}", last.1, line.trim());
        } else {
            let (k, v) = line.split_once(':').unwrap();
            headers.push((k.to_ascii_lowercase(), v.to_string()));
        }
    }
    Case {
        name: dir.file_name().unwrap().to_string_lossy().into(),
        method: request_line.split(' ').next().unwrap().to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.as_bytes().to_vec(),
        secret: ctx["credentials"]["secret_access_key"].as_str().unwrap().into(),
        token: ctx["credentials"]["token"].as_str().map(str::to_string),
        region: ctx["region"].as_str().unwrap().into(),
        service: ctx["service"].as_str().unwrap().into(),
        now: cloudid_mock::clock::parse_rfc3339(ctx["timestamp"].as_str().unwrap()).unwrap(),
        canonical: std::fs::read_to_string(dir.join("header-canonical-request.txt")).unwrap(),
    }
}

fn cases() -> Vec<Case> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs.iter().map(|d| load(d)).collect()
}

fn check(c: &Case, headers: &[(String, String)], body: &[u8], path: &str, query: &str) -> Result<sigv4::Verified, SigV4Error> {
    let req = Request { method: &c.method, path, query, headers: headers.to_vec(), body };
    let region = c.region.clone();
    let region_ok = move |r: &str| r == region;
    let rule = ScopeRule { service: &c.service, region_ok: &region_ok };
    sigv4::verify(&req, &rule, c.now, |_| Some(KeyMaterial { secret: c.secret.clone(), session_token: c.token.clone(), expires_at: None }))
}

#[test]
fn every_suite_request_verifies_and_canonicalises_as_aws_does() {
    let cases = cases();
    assert!(cases.len() >= 30, "the suite is present");
    for c in &cases {
        let verified = check(c, &c.headers, &c.body, &c.path, &c.query).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        assert_eq!(verified.access_key_id, "AKIDEXAMPLE", "{}", c.name);
        let req = Request { method: &c.method, path: &c.path, query: &c.query, headers: c.headers.clone(), body: &c.body };
        let auth = sigv4::parse_authorization(req.header("authorization").unwrap()).unwrap();
        let payload = req.header("x-amz-content-sha256").map(str::to_string).unwrap_or_else(|| sigv4::sha256_hex(&c.body));
        assert_eq!(sigv4::canonical_request(&req, &auth.signed_headers, &payload).unwrap(), c.canonical, "{}", c.name);
    }
}

#[test]
fn changing_any_signed_header_value_is_refused() {
    for c in cases() {
        let auth = sigv4::parse_authorization(&c.headers.iter().find(|(k, _)| k == "authorization").unwrap().1).unwrap();
        for name in auth.signed_headers.iter().filter(|h| *h != "x-amz-date") {
            let mut headers = c.headers.clone();
            for (k, v) in headers.iter_mut() {
                if k == name {
                    v.push('x');
                }
            }
            let err = check(&c, &headers, &c.body, &c.path, &c.query).unwrap_err();
            let expected = if name == "x-amz-security-token" { "InvalidClientTokenId" } else { "SignatureDoesNotMatch" };
            assert_eq!(err.code(), expected, "{} with {name} changed: {err:?}", c.name);
        }
    }
}

#[test]
fn changing_the_path_query_or_body_is_refused() {
    for c in cases() {
        assert!(check(&c, &c.headers, &c.body, &format!("{}x", c.path), &c.query).is_err(), "{} path", c.name);
        assert!(check(&c, &c.headers, &c.body, &c.path, &format!("{}&extra=1", c.query)).is_err(), "{} query", c.name);
        let mut body = c.body.clone();
        body.push(b'!');
        assert!(check(&c, &c.headers, &body, &c.path, &c.query).is_err(), "{} body", c.name);
    }
}
