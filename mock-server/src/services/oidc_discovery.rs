//! Discovery documents, JWKS and Google's v1 certificate map for every issuer the world knows.
//!
//! Reachable by path on the one port (`/issuers/{name}/.well-known/openid-configuration`,
//! `/issuers/{name}/jwks`, `/issuers/{name}/certs`) and, when the request names the real host,
//! at the real paths (`token.actions.githubusercontent.com/.well-known/jwks`,
//! `www.googleapis.com/oauth2/v3/certs`, `<id>.tokens.sts.global.api.aws/.well-known/jwks.json`,
//! …), so verifiers configured for production work.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::exchange::{Answer, Service, Shared, Slice, Unclaimed, not_found, noted};
use crate::journal::{Check, Note, Verdict};
use crate::world::issuers::{AWS_OUTBOUND_HOST_SUFFIX, GITHUB_ISS, GOOGLE_ISS, Issuer};
use crate::world::kubernetes::ClusterKind;

/// Discovery and key routes by path.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/issuers/{name}/.well-known/openid-configuration", get(discovery_by_path))
        .route("/issuers/{name}/jwks", get(jwks_by_path))
        .route("/issuers/{name}/.well-known/jwks", get(jwks_by_path))
        .route("/issuers/{name}/.well-known/jwks.json", get(jwks_by_path))
        .route("/issuers/{name}/certs", get(certs_by_path))
}

/// What a document is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doc {
    /// `/.well-known/openid-configuration`.
    Discovery,
    /// The JWKS.
    Jwks,
    /// Google's v1 `{kid: PEM certificate}` map.
    Certs,
}

fn json_response(body: Value) -> Response {
    let mut r = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600, must-revalidate, no-transform"));
    r
}

fn jwks_doc(issuer: &Issuer, shared: &Shared) -> Value {
    let keys = issuer.jwks(shared.clock.now());
    if issuer.cluster.is_none() {
        return json!({ "keys": keys });
    }
    // kube-apiserver and EKS publish bare RSA keys marked for signing: no certificate.
    let keys: Vec<Value> = keys.iter().map(|k| json!({"use": "sig", "kty": k.kty, "kid": k.kid, "alg": k.alg, "n": k.n, "e": k.e})).collect();
    json!({ "keys": keys })
}

/// Where a cluster issuer's keys are: EKS `…/keys`, GKE `…/jwks`, kube-apiserver
/// `…/openid/v1/jwks`.
pub(crate) fn cluster_jwks_path(kind: ClusterKind) -> &'static str {
    match kind {
        ClusterKind::Eks => "/keys",
        ClusterKind::Gke => "/jwks",
        ClusterKind::Generic => "/openid/v1/jwks",
    }
}

/// A cluster issuer's discovery document, in its platform's shape.
fn cluster_discovery(issuer: &Issuer, kind: ClusterKind, jwks_uri: &str) -> Value {
    match kind {
        ClusterKind::Eks => json!({
            "issuer": issuer.iss,
            "jwks_uri": jwks_uri,
            "authorization_endpoint": "urn:kubernetes:programmatic_authorization",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "claims_supported": ["sub", "iss"],
            "id_token_signing_alg_values_supported": ["RS256"]
        }),
        ClusterKind::Gke => json!({
            "issuer": issuer.iss,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_supported": ["iss", "sub", "kubernetes.io"],
            "grant_types": ["urn:kubernetes:grant_type:programmatic_authorization"]
        }),
        ClusterKind::Generic => json!({
            "issuer": issuer.iss,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"]
        }),
    }
}

fn certs_doc(issuer: &Issuer, shared: &Shared) -> Value {
    let now = shared.clock.now();
    let mut m = serde_json::Map::new();
    let keys = issuer.active.iter().chain(issuer.retired.iter().filter(|(_, until)| *until > now).map(|(k, _)| k));
    for k in keys {
        m.insert(k.kid.clone(), Value::String(k.cert_pem.as_str().to_string()));
    }
    Value::Object(m)
}

fn discovery_doc(issuer: &Issuer, jwks_uri: &str) -> Value {
    if let Some(kind) = issuer.cluster {
        return cluster_discovery(issuer, kind, jwks_uri);
    }
    if issuer.iss == GOOGLE_ISS {
        json!({
            "issuer": issuer.iss,
            "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
            "token_endpoint": "https://oauth2.googleapis.com/token",
            "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
            "revocation_endpoint": "https://oauth2.googleapis.com/revoke",
            "jwks_uri": jwks_uri,
            "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": ["aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "picture", "sub"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
        })
    } else if issuer.iss == GITHUB_ISS {
        json!({
            "issuer": issuer.iss,
            "jwks_uri": jwks_uri,
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "repository", "repository_id", "repository_owner", "repository_owner_id", "run_id", "run_number", "run_attempt", "actor", "actor_id", "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref", "event_name", "ref_type", "environment", "environment_node_id", "job_workflow_ref", "job_workflow_sha", "repository_visibility", "runner_environment"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"]
        })
    } else if issuer.iss.ends_with(AWS_OUTBOUND_HOST_SUFFIX) {
        json!({
            "issuer": issuer.iss,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES384"]
        })
    } else {
        json!({
            "issuer": issuer.iss,
            "jwks_uri": jwks_uri,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "RS384", "RS512", "ES256", "ES384"]
        })
    }
}

/// Serves `doc` of `issuer`; `jwks_uri` is where the discovery document sends verifiers.
pub(crate) fn serve(shared: &Shared, issuer: &Issuer, doc: Doc, jwks_uri: &str) -> Answer {
    let operation = match doc {
        Doc::Discovery => "GetDiscovery",
        Doc::Jwks => "GetJwks",
        Doc::Certs => "GetCerts",
    };
    let mut note = Note::new("oidc_discovery", operation, Verdict::Served);
    note.principal = Some(issuer.iss.clone());
    if issuer.unreachable {
        note.verdict = Verdict::Error;
        note.checks.push(Check::fail("oidc.reachable", "issuer marked unreachable in the world"));
        return noted((StatusCode::SERVICE_UNAVAILABLE, "issuer unreachable\n").into_response(), note);
    }
    let body = match doc {
        Doc::Discovery => discovery_doc(issuer, jwks_uri),
        Doc::Jwks => jwks_doc(issuer, shared),
        Doc::Certs => certs_doc(issuer, shared),
    };
    noted(json_response(body), note)
}

fn unknown_issuer(name: &str) -> Answer {
    let mut note = Note::new("oidc_discovery", "GetDiscovery", Verdict::Error);
    note.checks.push(Check::fail("oidc.issuer", format!("no issuer named `{name}`")));
    noted((StatusCode::NOT_FOUND, format!("no issuer named `{name}`\n")).into_response(), note)
}

fn by_path(shared: &Shared, name: &str, doc: Doc, req: &Request) -> Answer {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let issuer = shared.state().issuers.by_name(name).cloned();
    match issuer {
        Some(i) => serve(shared, &i, doc, &format!("http://{host}/issuers/{name}/jwks")),
        None => unknown_issuer(name),
    }
}

async fn discovery_by_path(State(shared): State<Arc<Shared>>, Path(name): Path<String>, req: Request) -> Response {
    crate::exchange::serve!(shared, &Discovery, req.method(), req.uri().path(), by_path(&shared, &name, Doc::Discovery, &req))
}

async fn jwks_by_path(State(shared): State<Arc<Shared>>, Path(name): Path<String>, req: Request) -> Response {
    crate::exchange::serve!(shared, &Discovery, req.method(), req.uri().path(), by_path(&shared, &name, Doc::Jwks, &req))
}

async fn certs_by_path(State(shared): State<Arc<Shared>>, Path(name): Path<String>, req: Request) -> Response {
    crate::exchange::serve!(shared, &Discovery, req.method(), req.uri().path(), by_path(&shared, &name, Doc::Certs, &req))
}

/// The document a request to a real issuer host asks for, if any: `Host` names an issuer (or
/// Google's key host) and the path is one of its documents.
pub(crate) fn by_host(shared: &Shared, host: &str, path: &str) -> Option<Answer> {
    let host = host.split(':').next().unwrap_or(host);
    let state = shared.state();
    if host == "www.googleapis.com" {
        let google = state.issuers.by_iss(GOOGLE_ISS)?.clone();
        drop(state);
        let doc = match path {
            "/oauth2/v3/certs" => Doc::Jwks,
            "/oauth2/v1/certs" => Doc::Certs,
            _ => return None,
        };
        return Some(serve(shared, &google, doc, "https://www.googleapis.com/oauth2/v3/certs"));
    }
    let base_of = |i: &Issuer| i.iss.strip_prefix("https://").and_then(|r| r.split_once('/').map(|(_, p)| format!("/{p}"))).unwrap_or_default();
    let issuer = state
        .issuers
        .all()
        .iter()
        .find(|i| i.iss.strip_prefix("https://").and_then(|r| r.split('/').next()) == Some(host) && path.strip_prefix(base_of(i).as_str()).is_some_and(|r| r.starts_with('/')))?
        .clone();
    drop(state);
    let base = base_of(&issuer);
    let rest = path.strip_prefix(base.as_str())?;
    let aws = issuer.iss.ends_with(AWS_OUTBOUND_HOST_SUFFIX);
    if let Some(kind) = issuer.cluster {
        let jwks = cluster_jwks_path(kind);
        let jwks_uri = format!("{}{jwks}", issuer.iss);
        let doc = match rest {
            "/.well-known/openid-configuration" => Doc::Discovery,
            r if r == jwks => Doc::Jwks,
            _ => return None,
        };
        return Some(serve(shared, &issuer, doc, &jwks_uri));
    }
    let jwks_uri = match () {
        _ if issuer.iss == GOOGLE_ISS => "https://www.googleapis.com/oauth2/v3/certs".to_string(),
        _ if aws => format!("{}/.well-known/jwks.json", issuer.iss),
        _ => format!("{}/.well-known/jwks", issuer.iss),
    };
    let doc = match rest {
        "/.well-known/openid-configuration" => Doc::Discovery,
        "/.well-known/jwks.json" if aws => Doc::Jwks,
        "/.well-known/jwks" if issuer.iss != GOOGLE_ISS && !aws => Doc::Jwks,
        _ => return None,
    };
    Some(serve(shared, &issuer, doc, &jwks_uri))
}

/// Issuer documents and keys as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Discovery;

impl Slice for Discovery {
    fn service(&self) -> Service {
        Service::OidcDiscovery
    }
}

/// The slice a request no route claims is served as: issuer documents at their real paths, else
/// cloudid's own 404.
pub(crate) fn unrouted_slice(method: &axum::http::Method, path: &str) -> &'static dyn Slice {
    match Service::of_unrouted(method, path) {
        Service::OidcDiscovery => &Discovery,
        _ => &Unclaimed,
    }
}

/// The answer for a path no route claims: an issuer document if `Host` names a real issuer,
/// else 404.
pub(crate) fn unrouted(shared: &Shared, req: &Request) -> Answer {
    let (method, path) = (req.method(), req.uri().path());
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    by_host(shared, host, path).unwrap_or_else(|| not_found(method, path))
}
