//! The control plane under `/_cloudid/`: health, journal, reset, clock, env. JSON in and out;
//! a bad request gets 400 with `{"error": …}` and changes nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::clock;
use crate::exchange::Shared;
use crate::world::mint::TokenRequest;

/// Control plane routes; their responses carry `Date` from the server clock too.
pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/_cloudid/health", get(health))
        .route("/_cloudid/journal", get(journal))
        .route("/_cloudid/reset", post(reset))
        .route("/_cloudid/clock", get(read_clock).post(move_clock))
        .route("/_cloudid/env", get(env))
        .route("/_cloudid/tokens/{issuer}", post(mint))
        .route("/_cloudid/keys/rotate", post(rotate))
        .route("/_cloudid/containers/rotate-token", post(rotate_container_token))
        .route("/_cloudid/google/bindings/revoke", post(revoke_binding))
        .route("/_cloudid/issuers", get(issuers))
        .route("/_cloudid/faults", get(list_faults).post(add_faults).delete(clear_faults))
        .merge(crate::kube_control::router())
        .merge(crate::presign_control::router())
        .layer(axum::middleware::from_fn_with_state(shared.clone(), fenced))
        .layer(axum::middleware::map_response_with_state(shared, stamp_date))
}

/// Refuses what the fence does not admit (foreign `Host` or `Origin`, a missing control token)
/// before any handler runs, so a refused request changes nothing.
async fn fenced(State(shared): State<Arc<Shared>>, req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match shared.fence.admit(req.uri().path(), req.headers()) {
        Ok(()) => next.run(req).await,
        Err(refusal) => refusal.into_response(),
    }
}

async fn stamp_date(State(shared): State<Arc<Shared>>, response: Response) -> Response {
    shared.dated(response)
}

fn bad_request(message: impl Into<String>) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message.into() }))).into_response()
}

async fn health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn journal(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.journal.snapshot()).into_response()
}

async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    shared.reset();
    Json(json!({ "status": "reset" })).into_response()
}

fn clock_state(shared: &Shared) -> Response {
    Json(json!({ "now": clock::iso8601(shared.clock.now()), "frozen": shared.clock.is_frozen() })).into_response()
}

async fn read_clock(State(shared): State<Arc<Shared>>) -> Response {
    clock_state(&shared)
}

/// `POST /_cloudid/clock` body: any one of `advance_seconds`, `set` (RFC 3339), `freeze` (bool).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockChange {
    #[serde(default)]
    advance_seconds: Option<u64>,
    #[serde(default)]
    set: Option<String>,
    #[serde(default)]
    freeze: Option<bool>,
}

async fn move_clock(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let change: ClockChange = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(format!("clock change: {e}")),
    };
    let set = match change.set.as_deref().map(clock::parse_rfc3339) {
        Some(Err(e)) => return bad_request(format!("clock change: `set` is not RFC 3339: {e}")),
        Some(Ok(t)) => Some(t),
        None => None,
    };
    if change.advance_seconds.is_none() && set.is_none() && change.freeze.is_none() {
        return bad_request("clock change: give one of `advance_seconds`, `set`, `freeze`");
    }
    if set.is_some_and(|at| !clock::in_range(at)) {
        return bad_request(format!(
            "clock change: `set` {} is outside the clock's range, {} … {}",
            change.set.as_deref().unwrap_or_default(),
            clock::iso8601(clock::EARLIEST),
            clock::iso8601(clock::LATEST)
        ));
    }
    if let Some(secs) = change.advance_seconds {
        let from = set.unwrap_or_else(|| shared.clock.now());
        let room = (clock::LATEST - from).whole_seconds().max(0) as u64;
        if secs > room {
            return bad_request(format!("clock change: `advance_seconds` {secs} would move the clock past {}; at most {room} from {}", clock::iso8601(clock::LATEST), clock::iso8601(from)));
        }
    }
    if let Some(at) = set {
        shared.clock.set(at);
    }
    if let Some(secs) = change.advance_seconds {
        shared.clock.advance(Duration::from_secs(secs));
    }
    match change.freeze {
        Some(true) => {
            let now = shared.clock.now();
            shared.clock.freeze_at(now);
        }
        Some(false) => shared.clock.unfreeze(),
        None => {}
    }
    shared.sync_kubelet();
    clock_state(&shared)
}

async fn env(State(shared): State<Arc<Shared>>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    if uri.query() == Some("mode=proxy") {
        return match shared.proxy_env.get() {
            Some(env) => Json(env).into_response(),
            None => bad_request("env: this server is not a proxy; start it with `cloudid serve --proxy`"),
        };
    }
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return bad_request("env: the request has no Host header");
    };
    let endpoint = format!("http://{host}");
    let all = crate::env::live_client_env(&shared, &endpoint);
    match uri.query().and_then(|q| q.strip_prefix("as=")) {
        None => Json(all).into_response(),
        Some(name) => match <crate::env::EnvPlatform as clap::ValueEnum>::from_str(name, false) {
            Ok(platform) => {
                let mut env = crate::env::for_platform(&shared.model, &endpoint, all, platform);
                if platform == crate::env::EnvPlatform::EksPodIdentity
                    && let Some(c) = shared.model.aws.containers.iter().find(|c| c.agent == crate::world::model::ContainerAgent::PodIdentity)
                    && let Some(t) = shared.container_token(c)
                {
                    env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), t.expose().to_string());
                }
                Json(env).into_response()
            }
            Err(_) => bad_request(format!("env: `{name}` is not a platform (ec2, ecs, eks-pod-identity, gce, github-actions)")),
        },
    }
}

/// A JSON request body that may be left out (then the defaults): the request, or the error
/// message naming `what` for a 400.
fn optional_body<T: Default + serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, String> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("{what}: {e}"))
}

async fn mint(State(shared): State<Arc<Shared>>, axum::extract::Path(issuer): axum::extract::Path<String>, body: axum::body::Bytes) -> Response {
    let req: TokenRequest = match optional_body(&body, "token request") {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let now = shared.clock.now();
    let minted = crate::world::mint::mint(&shared.model, &mut shared.state(), now, &issuer, &req);
    match minted {
        Ok(token) => Json(json!({ "token": token })).into_response(),
        Err(e) => bad_request(e),
    }
}

/// `POST /_cloudid/keys/rotate` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    issuer: String,
    #[serde(default = "default_grace")]
    grace_seconds: u64,
}

fn default_grace() -> u64 {
    3600
}

async fn rotate(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let req: RotateRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("rotation: {e}")),
    };
    let Some(grace) = clock::span(req.grace_seconds) else {
        return bad_request(format!("rotation: `grace_seconds` {} is over the most the control plane takes, {}", req.grace_seconds, clock::MAX_SPAN_SECONDS));
    };
    let now = shared.clock.now();
    let mut state = shared.state();
    let Some(issuer) = state.issuers.by_name_mut(&req.issuer) else {
        return bad_request(format!("rotation: no issuer named `{}`", req.issuer));
    };
    if issuer.active.is_none() {
        return bad_request(format!("rotation: issuer `{}` has no signing key (verify-only)", req.issuer));
    }
    let kid = issuer.rotate(now, grace).map(|k| k.kid.clone());
    Json(json!({ "issuer": req.issuer, "kid": kid, "previous_valid_until": clock::iso8601(now + grace) })).into_response()
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ContainerRotateRequest {
    /// The container's path; the one `cloudid env` points at when absent.
    #[serde(default)]
    path: Option<String>,
}

/// Rotates a container's authorization token, as the kubelet rotates a pod's projected
/// service-account token: the old one is refused from now on, the new one is answered.
async fn rotate_container_token(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let req: ContainerRotateRequest = match optional_body(&body, "container token rotation") {
        Ok(r) => r,
        Err(e) => return bad_request(e),
    };
    let container = match &req.path {
        Some(p) => shared.model.aws.containers.iter().find(|c| &c.path == p),
        None => crate::env::env_container(&shared.model),
    }
    .filter(|c| c.auth_token.is_some());
    if container.is_none() && req.path.as_deref().is_none_or(|p| p == crate::env::POD_IDENTITY_PATH) && crate::env::pod_identity_projection(&shared.model).is_some() {
        // The world's clusters: the kubelet's rotation, a new projected token (the old one stays
        // valid until it expires, as Kubernetes tokens do).
        return match crate::env::rotate_pod_token(&shared) {
            Some(t) => Json(json!({ "path": crate::env::POD_IDENTITY_PATH, "token": t.expose() })).into_response(),
            None => bad_request("container token rotation: the pod's token cannot be minted"),
        };
    }
    let Some(container) = container else {
        return bad_request(format!("container token rotation: no container with an authorization token at {}", req.path.as_deref().unwrap_or("any path")));
    };
    let mut state = shared.state();
    let n: u64 = rand::Rng::random(&mut state.rng);
    let old = state.container_tokens.get(&container.path).or(container.auth_token.as_ref()).map(|t| t.expose().to_string()).unwrap_or_default();
    let head = old.rsplit_once('.').map_or(old.as_str(), |(h, _)| h);
    let signature = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, format!("cloudid-rotated-{n:016x}"));
    let token = crate::secret::Secret::new(format!("{head}.{signature}"));
    state.container_tokens.insert(container.path.clone(), token.clone());
    Json(json!({ "path": container.path, "token": token.expose() })).into_response()
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeRequest {
    /// The service account's email.
    service_account: String,
    /// The member (`principalSet://…`, `serviceAccount:…`) to remove.
    member: String,
    /// Only from this role; from every role holding the member when absent.
    #[serde(default)]
    role: Option<String>,
}

/// Removes a member from a service account's IAM bindings, as `gcloud iam service-accounts
/// remove-iam-policy-binding` does: impersonation through it is refused from now on.
async fn revoke_binding(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let req: RevokeRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("binding revocation: {e}")),
    };
    let Some(sa) = shared.model.gcp.account(&req.service_account) else {
        return bad_request(format!("binding revocation: no service account {}", req.service_account));
    };
    let roles: Vec<&str> = sa.bindings.iter().filter(|b| req.role.as_deref().is_none_or(|r| r == b.role) && b.members.contains(&req.member)).map(|b| b.role.as_str()).collect();
    if roles.is_empty() {
        return bad_request(format!("binding revocation: {} holds no {} on {}", req.member, req.role.as_deref().unwrap_or("role"), sa.email));
    }
    let mut state = shared.state();
    for role in &roles {
        state.revoked_bindings.insert((sa.email.clone(), role.to_string(), req.member.clone()));
    }
    Json(json!({ "service_account": sa.email, "member": req.member, "revoked_roles": roles })).into_response()
}

async fn issuers(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let list: Vec<_> = shared
        .state()
        .issuers
        .all()
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "iss": i.iss,
                "discovery": format!("http://{host}/issuers/{}/.well-known/openid-configuration", i.name),
                "jwks": format!("http://{host}/issuers/{}/jwks", i.name),
                "certs": format!("http://{host}/issuers/{}/certs", i.name),
                "kid": i.active.as_ref().map(|k| k.kid.clone()),
                "signs": i.active.is_some(),
                "unreachable": i.unreachable,
            })
        })
        .collect();
    Json(json!({ "issuers": list })).into_response()
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Response {
    Json(json!({ "faults": shared.faults.rules() })).into_response()
}

/// `POST /_cloudid/faults`: one rule or an array of rules; answers their ids.
async fn add_faults(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad_request(format!("faults: {e}")),
    };
    let list = match value {
        serde_json::Value::Array(a) => a,
        one => vec![one],
    };
    if shared.faults.rules().len() + list.len() > crate::faults::MAX_RULES {
        return bad_request(format!("faults: at most {} rules at once; clear some first", crate::faults::MAX_RULES));
    }
    let mut rules = Vec::new();
    for (i, v) in list.into_iter().enumerate() {
        match serde_json::from_value::<crate::faults::Rule>(v).map_err(|e| e.to_string()).and_then(|r| r.validate().map(|()| r)) {
            Ok(r) => rules.push(r),
            Err(e) => return bad_request(format!("faults[{i}]: {e}")),
        }
    }
    let ids = shared.faults.add(rules, shared.clock.now());
    Json(json!({ "ids": ids })).into_response()
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Response {
    shared.faults.clear();
    Json(json!({ "status": "cleared" })).into_response()
}
