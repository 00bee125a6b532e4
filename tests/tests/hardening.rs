//! Never more permissive, never down (issue 13): control-plane numbers out of range are 400 and
//! change nothing; the control plane refuses foreign hosts, foreign origins and missing tokens;
//! slow, endless and idle connections are cut, and one connection too many is answered 503; no
//! control-plane body and no time claim panics the server (property tests).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use cloudid_mock::{CloudId, Limits};
use cloudid_tests::fixed_cloud;
use proptest::prelude::*;
use reqwest::Client;
use serde_json::{Value, json};

async fn post(cloud: &CloudId, path: &str, body: &Value) -> (u16, Value) {
    let r = Client::new().post(format!("{}/_cloudid/{path}", cloud.endpoint())).json(body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn get(cloud: &CloudId, path: &str) -> Value {
    Client::new().get(format!("{}/_cloudid/{path}", cloud.endpoint())).send().await.unwrap().json().await.unwrap()
}

/// What a refused control-plane call must leave as it was.
async fn observable_state(cloud: &CloudId) -> Value {
    let issuers = get(cloud, "issuers").await;
    json!({"clock": get(cloud, "clock").await, "faults": get(cloud, "faults").await, "kids": issuers["issuers"].as_array().unwrap().iter().map(|i| i["kid"].clone()).collect::<Vec<_>>()})
}

#[tokio::test]
async fn control_plane_numbers_out_of_range_are_refused_and_change_nothing() {
    let cloud = fixed_cloud().await;
    let before = observable_state(&cloud).await;
    let refused: &[(&str, Value)] = &[
        ("faults", json!({"after_seconds": u64::MAX, "action": "reset"})),
        ("faults", json!({"for_seconds": u64::MAX, "action": "reset"})),
        ("faults", json!({"after_seconds": 1_000_000_000_000u64, "action": "reset"})),
        ("faults", json!({"action": {"expires_in": {"seconds": i64::MAX}}})),
        ("faults", json!({"action": {"expires_in": {"seconds": i64::MIN}}})),
        ("faults", json!({"action": {"latency": {"ms": u64::MAX}}})),
        ("faults", json!({"action": {"status": {"code": 99}}})),
        ("faults", json!({"action": {"status": {"code": 101}}})),
        ("faults", json!({"probability": 1.5, "action": "reset"})),
        ("faults", json!({"nth": 0, "action": "reset"})),
        ("faults", json!([{"action": "reset"}, {"after_seconds": u64::MAX, "action": "reset"}])),
        ("keys/rotate", json!({"issuer": "github", "grace_seconds": u64::MAX})),
        ("keys/rotate", json!({"issuer": "github", "grace_seconds": 1u64 << 40})),
        ("clock", json!({"advance_seconds": u64::MAX})),
        ("clock", json!({"set": "9999-12-31T23:00:00Z"})),
        ("clock", json!({"set": "1969-12-31T23:59:59Z"})),
        ("clock", json!({"set": "1999-12-31T23:59:59Z"})),
        ("clock", json!({"set": "2999-12-31T00:00:00Z", "advance_seconds": 86_400 * 2})),
    ];
    for (path, body) in refused {
        let (status, answer) = post(&cloud, path, body).await;
        assert_eq!(status, 400, "{path} {body}: {answer}");
        assert!(answer["error"].is_string(), "{answer}");
        assert_eq!(observable_state(&cloud).await, before, "{path} {body} changed something");
    }
    let r = Client::new().get(format!("{}/_cloudid/health", cloud.endpoint())).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) = post(&cloud, "tokens/github", &json!({})).await;
    assert_eq!(status, 200, "issuing still works");
}

/// Issue 13, finding 3: a huge grace panicked half-way, leaving the new key active, the old one
/// gone, and tokens signed a second earlier refused.
#[tokio::test]
async fn a_refused_rotation_keeps_the_old_key_and_tokens_signed_with_it_still_verify() {
    let cloud = fixed_cloud().await;
    let token = cloudid_tests::sts::github_token(&cloud, json!({})).await;
    let (status, _) = post(&cloud, "keys/rotate", &json!({"issuer": "github", "grace_seconds": u64::MAX / 2})).await;
    assert_eq!(status, 400);
    let (status, body) = cloudid_tests::sts::web_identity(&cloud, "GitHubActionsECRRole", &token, &[]).await;
    assert_eq!(status, 200, "{body}");
    let (status, rotated) = post(&cloud, "keys/rotate", &json!({"issuer": "github", "grace_seconds": cloudid_mock::clock::MAX_SPAN_SECONDS})).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(cloudid_tests::sts::web_identity(&cloud, "GitHubActionsECRRole", &token, &[]).await.0, 200, "within the grace period");
}

/// Issue 13, finding 3: the clock at the end of its range still issues (it panicked at 9999).
#[tokio::test]
async fn at_the_latest_instant_the_clock_allows_every_issuing_request_still_answers() {
    let cloud = fixed_cloud().await;
    let (status, _) = post(&cloud, "clock", &json!({"set": "2999-12-31T23:59:59Z"})).await;
    assert_eq!(status, 200);
    let (status, _) = post(&cloud, "clock", &json!({"advance_seconds": 1})).await;
    assert_eq!(status, 400, "no room past the end");
    let token = cloudid_tests::sts::github_token(&cloud, json!({})).await;
    let (status, body) = cloudid_tests::sts::web_identity(&cloud, "GitHubActionsECRRole", &token, &[]).await;
    assert_eq!(status, 200, "{body}");
    let r = Client::new().get(format!("{}/computeMetadata/v1/instance/service-accounts/default/token", cloud.endpoint())).header("metadata-flavor", "Google").send().await.unwrap();
    assert_eq!(r.status(), 200);
    cloud.clock().advance(Duration::from_secs(u64::MAX));
    assert_eq!(cloud.clock().now(), cloudid_mock::clock::LATEST, "the library clock stops at the end too");
}

#[tokio::test]
async fn a_web_page_cannot_drive_the_control_plane() {
    let cloud = fixed_cloud().await;
    let c = Client::new();
    c.get(format!("{}/latest/meta-data/", cloud.endpoint())).send().await.unwrap();
    let url = |p: &str| format!("{}/_cloudid/{p}", cloud.endpoint());
    for path in ["reset", "clock", "faults", "keys/rotate", "google/bindings/revoke", "tokens/github", "containers/rotate-token"] {
        let r = c.post(url(path)).header("origin", "https://evil.example").header("content-type", "text/plain").body(r#"{"advance_seconds": 60, "issuer": "github"}"#).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
        let why: Value = r.json().await.unwrap();
        assert!(why["error"].as_str().unwrap().contains("Origin `https://evil.example`"), "{why}");
    }
    assert_eq!(get(&cloud, "clock").await["now"], "2026-11-30T12:00:00Z");
    assert!(!cloud.journal().is_empty(), "reset was refused");
    let r = c.get(url("env")).header("host", "rebound.attacker.example").send().await.unwrap();
    assert_eq!(r.status(), 403, "DNS rebinding cannot read the environment");
    let own = c.post(url("clock")).header("origin", cloud.endpoint()).json(&json!({"advance_seconds": 60})).send().await.unwrap();
    assert_eq!(own.status(), 200, "the server's own origin is admitted");
    let service = c.get(format!("{}/latest/meta-data/", cloud.endpoint())).header("host", "169.254.169.254").send().await.unwrap();
    assert_ne!(service.status(), 403, "emulated endpoints are not fenced");
}

#[tokio::test]
async fn with_a_control_token_every_control_call_but_health_needs_it() {
    let fence = cloudid_mock::fence::Fence::new(vec![], Some("let-me-in".into()));
    let cloud = CloudId::builder().clock(cloudid_tests::fixed_clock()).fence(fence).start().await;
    let c = Client::new();
    let url = |p: &str| format!("{}/_cloudid/{p}", cloud.endpoint());
    assert_eq!(c.get(url("health")).send().await.unwrap().status(), 200);
    let r = c.get(url("journal")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(c.post(url("reset")).bearer_auth("guess").send().await.unwrap().status(), 401);
    assert_eq!(c.get(url("journal")).bearer_auth("let-me-in").send().await.unwrap().status(), 200);
}

/// Sends `head` a byte at a time, every `every`, until the server closes; how long it held on.
fn dribble(addr: std::net::SocketAddr, head: &[u8], every: Duration, give_up: Duration) -> Duration {
    let mut s = TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    for b in head.iter().cycle() {
        if s.write_all(&[*b]).is_err() || started.elapsed() > give_up {
            break;
        }
        std::thread::sleep(every);
    }
    started.elapsed()
}

fn short_limits() -> Limits {
    Limits::default().with_timeouts(Duration::from_millis(600), Duration::from_millis(600), Duration::from_millis(600))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_client_is_cut_off_at_the_header_timeout() {
    let cloud = CloudId::builder().limits(short_limits()).start().await;
    let addr = cloud.addr();
    let held =
        tokio::task::spawn_blocking(move || dribble(addr, b"GET /_cloudid/health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa", Duration::from_millis(50), Duration::from_secs(10))).await.unwrap();
    assert!(held < Duration::from_secs(5), "held for {held:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_that_never_ends_is_answered_408_at_the_body_timeout() {
    let cloud = CloudId::builder().limits(short_limits()).start().await;
    let addr = cloud.addr();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"POST / HTTP/1.1\r\nHost: sts.amazonaws.com\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nActio\r\n").unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(cloud.journal().iter().all(|e| e.issued.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let cloud = CloudId::builder().limits(short_limits()).start().await;
    let addr = cloud.addr();
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /_cloudid/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let started = Instant::now();
        while s.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(closed_after >= Duration::from_millis(400) && closed_after < Duration::from_secs(5), "closed after {closed_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_past_the_limit_is_answered_503_and_served_again_once_one_closes() {
    let cloud = CloudId::builder().limits(Limits::default().with_max_connections(3)).start().await;
    let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(cloud.addr()).unwrap()).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = cloud.addr();
    let fourth = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(b"GET /_cloudid/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap();
    assert!(fourth.starts_with("HTTP/1.1 503"), "{fourth}");
    assert!(fourth.contains("connection limit (3)"), "{fourth}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(Client::new().get(format!("{}/_cloudid/health", cloud.endpoint())).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_long_path_is_journaled_cut_to_its_field_limit() {
    let cloud = fixed_cloud().await;
    let path = format!("/{}", "a".repeat(60_000));
    let r = Client::new().get(format!("{}{path}", cloud.endpoint())).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let entry = cloud.journal().pop().unwrap();
    assert!(entry.path.len() <= cloudid_mock::journal::FIELD_LIMIT + 32, "{} bytes kept", entry.path.len());
    assert!(entry.path.ends_with("…[cut: 60001 bytes]"));
}

/// The control-plane endpoints that take a body, and the numbers that stress them.
fn control_body() -> impl Strategy<Value = (&'static str, Value)> {
    let number = prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(i64::MAX)),
        Just(json!(1e300)),
        Just(json!(-0.5)),
        (0u64..u64::MAX).prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!("12")),
        Just(json!(null)),
    ];
    let instant = prop_oneof![Just("9999-12-31T23:59:59Z"), Just("0001-01-01T00:00:00Z"), Just("2999-12-31T23:59:59Z"), Just("2026-11-30T12:00:00Z"), Just("not a date")];
    (0..8usize, number.clone(), number, instant).prop_map(|(which, a, b, at)| match which {
        0 => ("clock", json!({"advance_seconds": a})),
        1 => ("clock", json!({"set": at, "advance_seconds": a})),
        2 => ("keys/rotate", json!({"issuer": "google", "grace_seconds": a})),
        3 => ("faults", json!({"after_seconds": a, "for_seconds": b, "action": "reset"})),
        4 => ("faults", json!({"nth": a, "times": b, "probability": b, "action": {"latency": {"ms": a}}})),
        5 => ("faults", json!({"action": {"expires_in": {"seconds": a}}})),
        6 => ("faults", json!({"action": {"status": {"code": a}}})),
        _ => ("tokens/github", json!({"claims": {"exp": a, "iat": b}})),
    })
}

/// Any JSON value, a few levels deep, with the numbers and strings that break parsers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "[a-z_]{0,12}".prop_map(Value::from),
        Just(json!("9999-12-31T23:59:59Z")),
        Just(json!("github")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("issuer".to_string()),
                    Just("grace_seconds".to_string()),
                    Just("advance_seconds".to_string()),
                    Just("set".to_string()),
                    Just("action".to_string()),
                    Just("claims".to_string()),
                    Just("path".to_string()),
                    Just("member".to_string()),
                    "[a-z_]{1,10}".prop_map(String::from)
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const CONTROL_POSTS: &[&str] = &["reset", "clock", "tokens/github", "tokens/google", "keys/rotate", "containers/rotate-token", "google/bindings/revoke", "faults"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any JSON body to any control-plane POST: 200 or 400, never a panic or a dead server.
    #[test]
    fn any_json_to_any_control_plane_post_is_answered_200_or_400(which in 0..CONTROL_POSTS.len(), body in any_json()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let cloud = fixed_cloud().await;
            let path = CONTROL_POSTS[which];
            let before = observable_state(&cloud).await;
            let (status, answer) = post(&cloud, path, &body).await;
            prop_assert!(status == 200 || status == 400, "{} {}: {} {}", path, body, status, answer);
            if status == 400 {
                prop_assert!(answer["error"].is_string(), "{}", answer);
                prop_assert_eq!(observable_state(&cloud).await, before, "{} {}", path, body);
            }
            let health = Client::new().get(format!("{}/_cloudid/health", cloud.endpoint())).send().await.unwrap();
            prop_assert_eq!(health.status().as_u16(), 200);
            Ok(())
        })?;
    }

    /// No control-plane body panics the server; a refused one is 400 and changes nothing.
    #[test]
    fn no_control_plane_body_panics_the_server_and_a_refused_one_changes_nothing((path, body) in control_body()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let cloud = fixed_cloud().await;
            let before = observable_state(&cloud).await;
            let (status, answer) = post(&cloud, path, &body).await;
            prop_assert!(status == 200 || status == 400, "{} {}: {} {}", path, body, status, answer);
            if status == 400 {
                prop_assert_eq!(observable_state(&cloud).await, before, "{} {}", path, body);
            }
            if path == "faults" && status == 200 {
                Client::new().delete(format!("{}/_cloudid/faults", cloud.endpoint())).send().await.unwrap();
            }
            let health = Client::new().get(format!("{}/_cloudid/health", cloud.endpoint())).send().await.unwrap();
            prop_assert_eq!(health.status().as_u16(), 200);
            let token = cloudid_tests::sts::github_token(&cloud, json!({})).await;
            let (status, _) = cloudid_tests::sts::web_identity(&cloud, "GitHubActionsECRRole", &token, &[]).await;
            prop_assert!(status == 200 || status == 400 || status == 403, "the server still answers STS: {}", status);
            Ok(())
        })?;
    }

    /// No time claim panics either STS; a token is granted only when its times are valid.
    #[test]
    fn no_time_claim_panics_either_sts_and_only_valid_times_are_granted(
        iat in prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(1_800_000_000i64), Just(1_796_040_000i64 - 60), Just(1_796_040_000i64 - 60), Just(1_796_040_000i64 - 60), Just(1_796_040_000i64 + 250), Just(1_796_040_000i64 + 400)],
        exp in prop_oneof![any::<i64>(), Just(i64::MAX), Just(1_800_000_000i64), Just(1_796_040_000i64 + 600), Just(1_796_040_000i64 + 600), Just(1_796_040_000i64 + 600), Just(1_796_040_000i64 - 200), Just(1_796_040_000i64 - 400)],
        nbf in proptest::option::of(prop_oneof![any::<i64>(), Just(1_796_040_000i64 - 600), Just(1_796_040_000i64 + 250), Just(1_796_040_000i64 + 400)]),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let cloud = fixed_cloud().await;
            let now = cloud.clock().now().unix_timestamp();
            let mut claims = json!({"iat": iat, "exp": exp});
            if let Some(n) = nbf {
                claims["nbf"] = json!(n);
            }
            let token = cloudid_tests::sts::github_token(&cloud, claims.clone()).await;
            let (status, body) = cloudid_tests::sts::web_identity(&cloud, "GitHubActionsECRRole", &token, &[]).await;
            let in_calendar = |v: i64| (0..=253_402_300_799).contains(&v);
            let valid = in_calendar(exp) && in_calendar(iat) && nbf.is_none_or(in_calendar) && now < exp + 300 && iat <= now + 300 && nbf.is_none_or(|n| n <= now + 300);
            prop_assert!(status == 200 || status == 400, "{}: {}", claims, body);
            prop_assert_eq!(status == 200, valid, "{} at {}: {}", claims, now, body);
            let google = cloudid_tests::sts::mint(&cloud, "github", json!({"audience": "https://iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/providers/github", "claims": claims})).await;
            let form = cloudid_tests::sts::form_encode(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                ("audience", "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/github-pool/providers/github"),
                ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                ("subject_token", &google),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ]);
            let r = Client::new().post(format!("{}/v1/token", cloud.endpoint())).header("content-type", "application/x-www-form-urlencoded").body(form).send().await.unwrap();
            let google_status = r.status().as_u16();
            let google_valid = in_calendar(exp) && in_calendar(iat) && nbf.is_none_or(in_calendar) && exp > now && iat <= now + 300 && exp - iat <= 48 * 3600 && nbf.is_none_or(|n| n <= now + 300);
            prop_assert_eq!(google_status == 200, google_valid, "{} at {}: {}", claims, now, r.text().await.unwrap_or_default());
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn the_fault_rules_held_at_once_are_bounded() {
    let cloud = fixed_cloud().await;
    let many: Vec<Value> = (0..cloudid_mock::faults::MAX_RULES).map(|_| json!({"match": {"path": "/nowhere"}, "action": "reset"})).collect();
    assert_eq!(post(&cloud, "faults", &Value::Array(many)).await.0, 200);
    let (status, answer) = post(&cloud, "faults", &json!({"action": "reset"})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(get(&cloud, "faults").await["faults"].as_array().unwrap().len(), cloudid_mock::faults::MAX_RULES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_request_method_is_journaled_cut() {
    let cloud = fixed_cloud().await;
    let addr = cloud.addr();
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(format!("{} /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", "A".repeat(100_000)).as_bytes()).unwrap();
        let _ = s.read_to_end(&mut Vec::new());
    })
    .await
    .unwrap();
    let entry = cloud.journal().pop().unwrap();
    assert!(entry.method.len() < 64, "{} bytes of method kept", entry.method.len());
    assert!(entry.method.ends_with("-CUT-100000"), "{}", &entry.method);
}
