//! Fault injection: rules set from scenarios and `POST /_cloudid/faults` make chosen requests
//! fail the way the real services fail — an error status with the service's own error body, added
//! latency, a hang, a dropped connection, a truncated or malformed body, a wrong content type.
//! Every request a fault hits is journaled with it.

use std::sync::Mutex;

use axum::http::{HeaderValue, Method, header};
use axum::response::Response;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::service::Service;

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Answer with this status and the service's real error body for it.
    Status {
        /// HTTP status.
        code: u16,
    },
    /// Answer normally, this many milliseconds late.
    Latency {
        /// Delay.
        ms: u64,
    },
    /// Hold the request this long (default 120 s: past any client timeout), then drop it.
    Hang {
        /// How long.
        #[serde(default = "long")]
        ms: u64,
    },
    /// Drop the connection without an answer.
    Reset,
    /// Send only the first half of the body.
    Truncate,
    /// Replace the body with something that is not what the client parses.
    Malformed,
    /// Answer normally but with this `Content-Type`.
    ContentType {
        /// The header value.
        value: String,
    },
    /// Answer normally but with the credentials' expiry moved to now + `seconds` (negative:
    /// already expired), as IMDS does during an outage (static stability) or just before rotation:
    /// AWS's `Expiration`, Google's `expires_in` and `expireTime`.
    ExpiresIn {
        /// Seconds from the server's now.
        seconds: i64,
    },
    /// Answer with a seeded mutation of the real body (a field removed, nulled, retyped, made
    /// huge, given a bad date; an extra field; broken JSON/XML) — for client-side fuzzing.
    Mutate {
        /// Which mutation (reproducible).
        seed: u64,
    },
}

fn long() -> u64 {
    120_000
}

/// Which requests a rule hits.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Service (`aws_imds`, `aws_container`, `aws_sts`, `gcp_metadata`, `github_oidc`,
    /// `google_sts`, `iam_credentials`, `oidc_discovery`, `service_account_keys`,
    /// `google_oauth2`, `cloudid`); another name is refused when the rule is added.
    #[serde(default)]
    pub service: Option<Service>,
    /// Path prefix.
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP method.
    #[serde(default)]
    pub method: Option<String>,
    /// Operation as the journal names it (`AssumeRoleWithWebIdentity`, `GetCredentials`,
    /// `GenerateAccessToken`…). Such a rule is judged once the service has answered (STS names its
    /// operation in the body), so a status, reset or hang replaces an answer already made.
    #[serde(default)]
    pub operation: Option<String>,
}

/// A fault rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Which requests.
    #[serde(default, rename = "match")]
    pub matches: Match,
    /// Fire on the n-th matching request (1-based) and the `times − 1` after it.
    #[serde(default)]
    pub nth: Option<u64>,
    /// How many matching requests it fires for (default: 1 with `nth`, else unlimited).
    #[serde(default)]
    pub times: Option<u64>,
    /// Fire with this probability (seeded, reproducible).
    #[serde(default)]
    pub probability: Option<f64>,
    /// Seconds from now before which the rule sleeps.
    #[serde(default)]
    pub after_seconds: Option<u64>,
    /// Seconds from now after which the rule stops.
    #[serde(default)]
    pub for_seconds: Option<u64>,
    /// What it does.
    pub action: Action,
}

/// The most fault rules the server holds at once.
pub const MAX_RULES: usize = 1_000;

/// The longest delay a latency or hang fault takes: one hour.
pub const MAX_DELAY_MS: u64 = 3_600_000;

impl Rule {
    /// Checks every number in the rule against its range: the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let span = |name: &str, v: Option<u64>| match v {
            Some(s) if s > crate::clock::MAX_SPAN_SECONDS => Err(format!("`{name}` {s} is over {} (ten years)", crate::clock::MAX_SPAN_SECONDS)),
            _ => Ok(()),
        };
        span("after_seconds", self.after_seconds)?;
        span("for_seconds", self.for_seconds)?;
        if self.nth == Some(0) {
            return Err("`nth` counts from 1".into());
        }
        if self.times == Some(0) {
            return Err("`times` 0 would never fire; remove the rule instead".into());
        }
        if let Some(p) = self.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("`probability` {p} is not between 0 and 1"));
        }
        match &self.action {
            Action::Status { code } if !(200..=599).contains(code) => Err(format!("`status.code` {code} is not an HTTP status between 200 and 599")),
            Action::Latency { ms } | Action::Hang { ms } if *ms > MAX_DELAY_MS => Err(format!("a delay of {ms} ms is over {MAX_DELAY_MS} (one hour)")),
            Action::ExpiresIn { seconds } if seconds.unsigned_abs() > crate::clock::MAX_SPAN_SECONDS => {
                Err(format!("`expires_in.seconds` {seconds} is beyond ±{} (ten years)", crate::clock::MAX_SPAN_SECONDS))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug)]
struct Armed {
    rule: Rule,
    id: usize,
    seen: u64,
    fired: u64,
    from: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
}

/// The server's fault rules.
#[derive(Debug)]
pub struct Faults {
    inner: Mutex<(Vec<Armed>, StdRng, usize)>,
    any: std::sync::atomic::AtomicBool,
}

/// Seed of the probability generator (reset with the rules).
const SEED: u64 = 0x000f_a017;

impl Default for Faults {
    fn default() -> Self {
        Self { inner: Mutex::new((Vec::new(), StdRng::seed_from_u64(SEED), 0)), any: Default::default() }
    }
}

/// A fault that hit a request.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Rule id (order of addition, from 1).
    pub id: usize,
    /// The action.
    pub action: Action,
}

impl Hit {
    /// How the journal names it.
    pub fn describe(&self) -> String {
        format!("fault #{}: {}", self.id, serde_json::to_string(&self.action).unwrap_or_default())
    }
}

impl Faults {
    /// Adds rules; the ids they got.
    pub fn add(&self, rules: Vec<Rule>, now: OffsetDateTime) -> Vec<usize> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut ids = Vec::new();
        for rule in rules {
            g.2 += 1;
            let id = g.2;
            let later = |at: OffsetDateTime, s: u64| at.saturating_add(time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX)));
            let from = rule.after_seconds.map(|s| later(now, s));
            let until = rule.for_seconds.map(|s| later(from.unwrap_or(now), s));
            g.0.push(Armed { rule, id, seen: 0, fired: 0, from, until });
            ids.push(id);
        }
        self.any.store(!g.0.is_empty(), std::sync::atomic::Ordering::Relaxed);
        ids
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *g = (Vec::new(), StdRng::seed_from_u64(SEED), 0);
        self.any.store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// The rules, as added.
    pub fn rules(&self) -> Vec<Rule> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.iter().map(|a| a.rule.clone()).collect()
    }

    /// The fault that hits this request, if any (first matching rule that fires).
    /// `operation` is `None` before the service answers (rules naming no operation) and the
    /// journal's operation after it (rules naming one).
    pub fn check(&self, service: Service, method: &Method, path: &str, operation: Option<&str>, now: OffsetDateTime) -> Option<Hit> {
        if !self.any.load(std::sync::atomic::Ordering::Relaxed) {
            return None;
        }
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (rules, rng, _) = &mut *g;
        for a in rules.iter_mut() {
            let m = &a.rule.matches;
            let matches = m.service.is_none_or(|s| s == service)
                && m.path.as_deref().is_none_or(|p| path.starts_with(p))
                && m.method.as_deref().is_none_or(|x| x.eq_ignore_ascii_case(method.as_str()))
                && m.operation.as_deref() == operation
                && a.from.is_none_or(|f| now >= f)
                && a.until.is_none_or(|u| now < u);
            if !matches {
                continue;
            }
            a.seen += 1;
            let times = a.rule.times.unwrap_or(if a.rule.nth.is_some() { 1 } else { u64::MAX });
            let due = a.rule.nth.is_none_or(|n| a.seen >= n) && a.fired < times;
            let lucky = a.rule.probability.is_none_or(|p| rng.random::<f64>() < p);
            if due && lucky {
                a.fired += 1;
                return Some(Hit { id: a.id, action: a.rule.action.clone() });
            }
        }
        None
    }
}

/// The mutation `seed` picks for `body`, and its description.
pub fn mutate(body: &[u8], seed: u64) -> (Vec<u8>, String) {
    let mut rng = StdRng::seed_from_u64(seed);
    let text = String::from_utf8_lossy(body).into_owned();
    if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(&text) {
        let keys: Vec<String> = map.keys().cloned().collect();
        let kind = rng.random_range(0..8u8);
        if keys.is_empty() || kind == 7 {
            let cut = text.len() * 2 / 3;
            return (text.as_bytes()[..cut].to_vec(), "broken JSON (cut at 2/3)".into());
        }
        let key = keys[rng.random_range(0..keys.len())].clone();
        let what = match kind {
            0 => {
                map.remove(&key);
                format!("removed `{key}`")
            }
            1 => {
                map.insert(key.clone(), serde_json::Value::Null);
                format!("`{key}` = null")
            }
            2 => {
                map.insert(key.clone(), serde_json::json!(12345));
                format!("`{key}` = a number")
            }
            3 => {
                map.insert(key.clone(), serde_json::Value::String("x".repeat(1 << 20)));
                format!("`{key}` = a 1 MiB string")
            }
            4 => {
                map.insert(key.clone(), serde_json::json!("2026-13-45T99:99:99Z"));
                format!("`{key}` = an impossible date")
            }
            5 => {
                map.insert(key.clone(), serde_json::json!(""));
                format!("`{key}` = empty string")
            }
            _ => {
                map.insert("CloudidExtraField".into(), serde_json::json!({"nested": [1, 2, 3]}));
                "an extra field".into()
            }
        };
        let out = serde_json::to_vec(&serde_json::Value::Object(map)).unwrap_or_default();
        return (out, what);
    }
    if text.trim_start().starts_with('<') {
        let elements: Vec<(usize, String)> = text.match_indices("</").map(|(i, _)| (i, text[i + 2..].split('>').next().unwrap_or("").to_string())).collect();
        let kind = rng.random_range(0..4u8);
        if elements.is_empty() || kind == 3 {
            return (text.as_bytes()[..text.len() / 2].to_vec(), "broken XML (cut in half)".into());
        }
        let (_, name) = &elements[rng.random_range(0..elements.len())];
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let (Some(a), Some(b)) = (text.find(&open), text.find(&close)) else { return (body.to_vec(), "unchanged".into()) };
        let out = match kind {
            0 => format!("{}{}", &text[..a], &text[b + close.len()..]),
            1 => format!("{}{open}{close}{}", &text[..a], &text[b + close.len()..]),
            _ => format!("{}{open}2026-13-45T99:99:99Z{close}{}", &text[..a], &text[b + close.len()..]),
        };
        let what = ["removed", "emptied", "bad date in"][kind as usize];
        return (out.into_bytes(), format!("{what} <{name}>"));
    }
    match rng.random_range(0..3u8) {
        0 => (Vec::new(), "empty body".into()),
        1 => ([body, b"\n"].concat(), "trailing newline".into()),
        _ => (vec![b'A'; 1 << 20], "1 MiB body".into()),
    }
}

/// `body` with its expiry moved to `at` (`seconds` from now): AWS's `Expiration` (JSON field or
/// XML element), Google's `expires_in` (OAuth token responses, the metadata server) and
/// `expireTime` (IAM Credentials).
pub fn with_expiration(body: &[u8], at: &str, seconds: i64) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str::<serde_json::Value>(&text) {
        let mut changed = false;
        for (key, value) in [("Expiration", serde_json::json!(at)), ("expireTime", serde_json::json!(at)), ("expires_in", serde_json::json!(seconds))] {
            if map.contains_key(key) {
                map.insert(key.into(), value);
                changed = true;
            }
        }
        return if changed { serde_json::to_vec_pretty(&serde_json::Value::Object(map)).unwrap_or_default() } else { body.to_vec() };
    }
    match (text.find("<Expiration>"), text.find("</Expiration>")) {
        (Some(a), Some(b)) => format!("{}<Expiration>{at}{}", &text[..a], &text[b..]).into_bytes(),
        _ => body.to_vec(),
    }
}

/// Applies a body-changing action to a finished response; the mutation applied, if any.
pub async fn reshape(action: &Action, response: Response, now: OffsetDateTime) -> (Response, Option<String>) {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
    let mut described = None;
    let new: Vec<u8> = match action {
        Action::Mutate { seed } => {
            let (b, what) = mutate(&bytes, *seed);
            described = Some(what);
            b
        }
        Action::Truncate => bytes[..bytes.len() / 2].to_vec(),
        Action::ExpiresIn { seconds } => {
            let at = crate::clock::iso8601(now.saturating_add(time::Duration::seconds(*seconds)));
            described = Some(format!("Expiration = {at}"));
            with_expiration(&bytes, &at, *seconds)
        }
        Action::Malformed => b"{\"Code\": \"Success\", \"AccessKeyId\": <<malformed>>".to_vec(),
        Action::ContentType { value } => {
            if let Ok(v) = HeaderValue::from_str(value) {
                parts.headers.insert(header::CONTENT_TYPE, v);
            }
            bytes.to_vec()
        }
        _ => bytes.to_vec(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    (Response::from_parts(parts, axum::body::Body::from(new)), described)
}

/// A response whose body fails at once, so the connection is dropped without an answer.
pub fn reset() -> Response {
    Response::new(axum::body::Body::from_stream(failing_body()))
}

fn failing_body() -> impl futures_core::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    struct Fail;
    impl futures_core::Stream for Fail {
        type Item = Result<axum::body::Bytes, std::io::Error>;
        fn poll_next(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fault: reset"))))
        }
    }
    Fail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: serde_json::Value) -> Rule {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_rule_naming_an_operation_is_judged_only_once_the_operation_is_known() {
        let f = Faults::default();
        let t = OffsetDateTime::UNIX_EPOCH;
        f.add(vec![rule(serde_json::json!({"match": {"service": "aws_sts", "operation": "AssumeRoleWithWebIdentity"}, "action": {"status": {"code": 400}}}))], t);
        assert!(f.check(Service::AwsSts, &Method::POST, "/", None, t).is_none(), "not before the service answers");
        assert!(f.check(Service::AwsSts, &Method::POST, "/", Some("GetCallerIdentity"), t).is_none());
        assert!(f.check(Service::AwsSts, &Method::POST, "/", Some("AssumeRoleWithWebIdentity"), t).is_some());
    }

    #[test]
    fn expires_in_moves_the_expiry_of_aws_and_google_answers_alike() {
        let at = "2026-11-30T12:04:00Z";
        let aws: serde_json::Value = serde_json::from_slice(&with_expiration(br#"{"Code":"Success","Expiration":"2026-11-30T18:00:00Z"}"#, at, 240)).unwrap();
        assert_eq!(aws["Expiration"], at);
        let oauth: serde_json::Value = serde_json::from_slice(&with_expiration(br#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#, at, 240)).unwrap();
        assert_eq!(oauth["expires_in"], 240);
        let iam: serde_json::Value = serde_json::from_slice(&with_expiration(br#"{"accessToken":"ya29.x","expireTime":"2026-11-30T13:00:00Z"}"#, at, 240)).unwrap();
        assert_eq!(iam["expireTime"], at);
        let xml = String::from_utf8(with_expiration(b"<Credentials><Expiration>2026-11-30T18:00:00Z</Expiration></Credentials>", at, 240)).unwrap();
        assert_eq!(xml, format!("<Credentials><Expiration>{at}</Expiration></Credentials>"));
        assert_eq!(with_expiration(br#"{"other":1}"#, at, 240), br#"{"other":1}"#);
    }

    #[test]
    fn nth_fires_once_on_the_nth_match_and_only_for_matching_requests() {
        let f = Faults::default();
        let t = OffsetDateTime::UNIX_EPOCH;
        f.add(vec![rule(serde_json::json!({"match": {"service": "aws_imds"}, "nth": 2, "action": {"status": {"code": 503}}}))], t);
        assert!(f.check(Service::AwsSts, &Method::POST, "/", None, t).is_none(), "STS does not match");
        assert!(f.check(Service::AwsImds, &Method::GET, "/latest/meta-data/", None, t).is_none());
        assert!(f.check(Service::AwsImds, &Method::GET, "/latest/meta-data/", None, t).is_some());
        assert!(f.check(Service::AwsImds, &Method::GET, "/latest/meta-data/", None, t).is_none());
    }

    #[test]
    fn mutations_are_reproducible_and_change_the_body() {
        let json = br#"{"AccessKeyId":"ASIA","SecretAccessKey":"s","Token":"t","Expiration":"2026-11-30T18:00:00Z"}"#;
        for seed in 0..32 {
            let (a, wa) = mutate(json, seed);
            let (b, wb) = mutate(json, seed);
            assert_eq!((a.clone(), wa.clone()), (b, wb));
            assert_ne!(a, json.to_vec(), "seed {seed}: {wa}");
        }
        let xml = b"<R>\n  <Credentials>\n    <AccessKeyId>A</AccessKeyId>\n  </Credentials>\n</R>\n";
        assert!((0..16).all(|s| mutate(xml, s).0 != xml.to_vec()));
    }

    #[test]
    fn windows_and_probabilities_are_honoured_reproducibly() {
        let t = OffsetDateTime::UNIX_EPOCH;
        let f = Faults::default();
        f.add(vec![rule(serde_json::json!({"after_seconds": 10, "for_seconds": 5, "action": "reset"}))], t);
        assert!(f.check(Service::Cloudid, &Method::GET, "/x", None, t).is_none());
        assert!(f.check(Service::Cloudid, &Method::GET, "/x", None, t + time::Duration::seconds(12)).is_some());
        assert!(f.check(Service::Cloudid, &Method::GET, "/x", None, t + time::Duration::seconds(16)).is_none());
        let run = || {
            let f = Faults::default();
            f.add(vec![rule(serde_json::json!({"probability": 0.5, "action": {"latency": {"ms": 1}}}))], t);
            (0..64).map(|_| f.check(Service::Cloudid, &Method::GET, "/x", None, t).is_some()).collect::<Vec<_>>()
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b, "seeded");
        assert!(a.iter().any(|x| *x) && a.iter().any(|x| !*x));
    }
}
