//! A cluster's API server, the parts relying parties use: its OIDC discovery document and keys
//! (`/.well-known/openid-configuration`, `/openid/v1/jwks`) and `TokenReview`
//! (`POST /apis/authentication.k8s.io/v1/tokenreviews`), which Vault's kubernetes auth method and
//! other verifiers call. By path on the one port under `/clusters/{name}/…`.
//!
//! TokenReview as kube-apiserver answers it (`pkg/registry/authentication/tokenreview`): the
//! review echoed with `status` filled in — `authenticated`, the service account as a user
//! (`system:serviceaccount:NS:NAME`, its uid, groups, and the pod and node as `extra`), the
//! audiences it was accepted for — or `authenticated: false` with `error`. The caller must
//! present a valid bearer token of the cluster (kube-apiserver answers 401 `Unauthorized`
//! otherwise); RBAC (`system:auth-delegator`) is not modelled.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Note, Verdict};
use crate::world::sa_token::{self, Refused};

/// The routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/clusters/{name}/.well-known/openid-configuration", get(discovery))
        .route("/clusters/{name}/openid/v1/jwks", get(jwks))
        .route("/clusters/{name}/apis/authentication.k8s.io/v1/tokenreviews", post(token_review))
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// A Kubernetes `Status` failure object.
fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    json_response(code, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()}))
}

fn unknown_cluster(name: &str, operation: &'static str) -> Answer {
    let mut note = Note::new("kube_apiserver", operation, Verdict::Error);
    note.checks.push(Check::fail("kube.cluster", format!("no cluster named `{name}` in the world")));
    noted(status(StatusCode::NOT_FOUND, "NotFound", &format!("the world has no cluster named \"{name}\"")), note)
}

fn document(shared: &Shared, name: &str, jwks_doc: bool, req: &Request) -> Answer {
    let operation = if jwks_doc { "GetJwks" } else { "GetDiscovery" };
    let Some(cluster) = shared.model.kubernetes.clusters.iter().find(|c| c.name == name) else {
        return unknown_cluster(name, operation);
    };
    let issuer = shared.state().issuers.by_name(&cluster.issuer_name()).cloned();
    let Some(issuer) = issuer else {
        return unknown_cluster(name, operation);
    };
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let jwks_uri = format!("http://{host}/clusters/{name}/openid/v1/jwks");
    let doc = if jwks_doc { super::oidc_discovery::Doc::Jwks } else { super::oidc_discovery::Doc::Discovery };
    let mut generic = issuer;
    generic.cluster = Some(crate::world::kubernetes::ClusterKind::Generic);
    super::oidc_discovery::serve(shared, &generic, doc, &jwks_uri)
}

async fn discovery(State(shared): State<Arc<Shared>>, Path(name): Path<String>, req: Request) -> Response {
    crate::exchange::serve!(shared, &KubeApiserver, req.method(), req.uri().path(), document(&shared, &name, false, &req))
}

async fn jwks(State(shared): State<Arc<Shared>>, Path(name): Path<String>, req: Request) -> Response {
    crate::exchange::serve!(shared, &KubeApiserver, req.method(), req.uri().path(), document(&shared, &name, true, &req))
}

async fn token_review(State(shared): State<Arc<Shared>>, Path(name): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    crate::exchange::serve!(shared, &KubeApiserver, &parts.method, parts.uri.path(), review(&shared, &name, &parts.headers, &body))
}

/// A string list as Go's `%q` prints it: `["a" "b"]`.
fn go_quoted(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| serde_json::Value::String(i.clone()).to_string()).collect::<Vec<_>>().join(" "))
}

/// kube-apiserver's clock-skew allowance on `exp` and `nbf` (go-jose's default leeway).
const LEEWAY: i64 = 60;

/// The token of an `Authorization: Bearer …` header, as Kubernetes' bearer-token authenticator
/// reads it: the scheme in any case, the second space-separated part.
fn bearer(headers: &axum::http::HeaderMap) -> &str {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut parts = value.splitn(3, ' ');
    match (parts.next(), parts.next()) {
        (Some(scheme), Some(token)) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => "",
    }
}

/// The error text kube-apiserver's service-account authenticator gives for `why`
/// (`pkg/serviceaccount/jwt.go`, `claims.go`), after the loopback-token authenticator's
/// `invalid bearer token`, joined as the union authenticator joins errors (`[a, b]`).
pub(crate) fn authenticator_error(why: &Refused) -> String {
    let inner = match why {
        // Both authenticators in the chain say the same, and the aggregate drops the duplicate.
        Refused::Malformed(_) | Refused::UnknownIssuer(_) => return "invalid bearer token".into(),
        Refused::UnknownKey(_) => "invalid signature, no keys found".to_string(),
        Refused::Signature(_) => "square/go-jose: error in cryptographic primitive".to_string(),
        Refused::Expired(_) => "service account token has expired".to_string(),
        Refused::NotYetValid(_) => "service account token is not valid yet".to_string(),
        Refused::Times(_) | Refused::Claims(_) => "service account token claims could not be validated".to_string(),
        Refused::Audience(have, want) => format!("token audiences {} is invalid for the target audiences {}", go_quoted(have), go_quoted(want)),
        Refused::NoServiceAccount(ns, sa) => format!("serviceaccounts \"{sa}\" not found in namespace \"{ns}\""),
        Refused::Invalidated(why) => why.clone(),
    };
    format!("[invalid bearer token, {inner}]")
}

fn review(shared: &Shared, name: &str, headers: &axum::http::HeaderMap, body: &[u8]) -> Answer {
    let mut note = Note::new("kube_apiserver", "CreateTokenReview", Verdict::Error);
    let model = &shared.model;
    let Some(cluster) = model.kubernetes.clusters.iter().find(|c| c.name == name) else {
        return unknown_cluster(name, "CreateTokenReview");
    };
    let now = shared.clock.now();
    let api_audiences = vec![cluster.issuer_url(&model.aws.region, &model.gcp), "https://kubernetes.default.svc".to_string()];
    let caller = bearer(headers);
    let caller_ok = {
        let state = shared.state();
        sa_token::verify(model, &state.issuers, caller, now, Some(&api_audiences), LEEWAY).map(|v| v.cluster.name == cluster.name)
    };
    match caller_ok {
        Ok(true) => note.checks.push(Check::passed("kube.caller")),
        other => {
            let why = match other {
                Err(e) => e.to_string(),
                _ => "a token of another cluster".to_string(),
            };
            note.checks.push(Check::fail("kube.caller", format!("the caller's bearer token is not one of this cluster's: {why}")));
            note.verdict = Verdict::Denied;
            return noted(status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized"), note);
        }
    }
    let review: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            note.checks.push(Check::fail("kube.request", "the body is not a JSON object"));
            return noted(status(StatusCode::BAD_REQUEST, "BadRequest", "the server rejected our request due to an error in our request"), note);
        }
    };
    if review.get("kind").and_then(Value::as_str) != Some("TokenReview") || review.get("apiVersion").and_then(Value::as_str) != Some("authentication.k8s.io/v1") {
        note.checks.push(Check::fail("kube.request", "kind is not TokenReview of authentication.k8s.io/v1"));
        return noted(status(StatusCode::BAD_REQUEST, "BadRequest", "the API version in the data (kind TokenReview, apiVersion authentication.k8s.io/v1) is required"), note);
    }
    if let Some(ns) = review.pointer("/metadata/namespace").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        note.checks.push(Check::fail("kube.request", format!("metadata.namespace `{ns}` is set (TokenReview is cluster-scoped)")));
        return noted(status(StatusCode::BAD_REQUEST, "BadRequest", &format!("namespace is not allowed on this type: {ns}")), note);
    }
    let spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    let token = spec.get("token").and_then(Value::as_str).unwrap_or_default();
    if token.is_empty() {
        note.checks.push(Check::fail("kube.request", "spec.token is empty"));
        return noted(status(StatusCode::BAD_REQUEST, "BadRequest", "token is required for TokenReview in authentication"), note);
    }
    note.checks.push(Check::passed("kube.request"));
    let requested: Vec<String> = spec.get("audiences").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default();
    let audiences = if requested.is_empty() { api_audiences } else { requested.clone() };
    let verified = {
        let state = shared.state();
        sa_token::verify(model, &state.issuers, token, now, Some(&audiences), LEEWAY).map(|v| (v.cluster.name.clone(), v.namespace, v.service_account, v.sa_uid, v.pod, v.node, v.jti, v.audiences))
    };
    let mut out = json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": spec});
    match verified {
        Ok((c, namespace, sa, uid, pod, node, jti, have)) if c == cluster.name => {
            let mut extra = serde_json::Map::new();
            if let Some(jti) = jti {
                extra.insert("authentication.kubernetes.io/credential-id".into(), json!([format!("JTI={jti}")]));
            }
            if let Some((n, u)) = node {
                extra.insert("authentication.kubernetes.io/node-name".into(), json!([n]));
                extra.insert("authentication.kubernetes.io/node-uid".into(), json!([u]));
            }
            if let Some((n, u)) = pod {
                extra.insert("authentication.kubernetes.io/pod-name".into(), json!([n]));
                extra.insert("authentication.kubernetes.io/pod-uid".into(), json!([u]));
            }
            let username = crate::world::kubernetes::subject(&namespace, &sa);
            let accepted: Vec<&String> = have.iter().filter(|a| audiences.contains(a)).collect();
            out["status"] = json!({
                "authenticated": true,
                "user": {"username": username, "uid": uid, "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{namespace}"), "system:authenticated"], "extra": extra},
                "audiences": accepted
            });
            note.checks.push(Check::pass("kube.token", username.clone()));
            note.principal = Some(username);
            note.verdict = Verdict::Granted;
        }
        other => {
            let why = match other {
                Err(e) => e,
                Ok(_) => Refused::UnknownIssuer("another cluster".into()),
            };
            note.checks.push(Check::fail("kube.token", why.to_string()));
            out["status"] = json!({"user": {}, "error": authenticator_error(&why)});
            note.verdict = Verdict::Denied;
        }
    }
    noted(json_response(StatusCode::CREATED, &out), note)
}

/// The API server as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KubeApiserver;

impl Slice for KubeApiserver {
    fn service(&self) -> Service {
        Service::KubeApiserver
    }
}
