//! The control plane's Kubernetes part: `POST /_cloudid/kubernetes/token` mints a projected
//! service-account token as the kubelet asks kube-apiserver for one (`TokenRequest`), and with
//! `path` writes it there and keeps it fresh on the kubelet's schedule.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use crate::exchange::Shared;
use crate::world::projected::Projection;

/// The routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/_cloudid/kubernetes/token", post(token))
}

/// `POST /_cloudid/kubernetes/token` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequestBody {
    /// The cluster (default: the world's only or first one).
    #[serde(default)]
    cluster: Option<String>,
    namespace: String,
    service_account: String,
    /// Default: the service account's IRSA audience when it has a role annotation, else
    /// `https://kubernetes.default.svc` (what `kubectl create token` asks for).
    #[serde(default)]
    audience: Option<String>,
    /// Default: the IRSA annotation's, else 3600 (a projected volume's default).
    #[serde(default)]
    expiration_seconds: Option<u32>,
    /// A file to write the token to and keep fresh.
    #[serde(default)]
    path: Option<std::path::PathBuf>,
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

/// The projection a request asks for, defaults filled in from the world.
fn projection(shared: &Shared, req: &TokenRequestBody) -> Result<Projection, String> {
    let model = &shared.model;
    let cluster = match &req.cluster {
        Some(name) => crate::world::projected::cluster(model, name)?,
        None => model.kubernetes.clusters.first().ok_or("the world has no Kubernetes cluster (`kubernetes.clusters`)")?,
    };
    let sa = cluster.service_account(&req.namespace, &req.service_account);
    let irsa = sa.filter(|s| s.annotations.contains_key(crate::world::kubernetes::ROLE_ARN_ANNOTATION));
    let annotation = |k: &str| irsa.and_then(|s| s.annotations.get(k));
    let audience = req.audience.clone().or_else(|| irsa.map(|_| annotation(crate::world::kubernetes::AUDIENCE_ANNOTATION).cloned().unwrap_or_else(|| "sts.amazonaws.com".into())));
    let expiration = req.expiration_seconds.or_else(|| irsa.map(|_| annotation(crate::world::kubernetes::EXPIRATION_ANNOTATION).and_then(|e| e.parse().ok()).unwrap_or(86_400)));
    Ok(Projection {
        cluster: cluster.name.clone(),
        namespace: req.namespace.clone(),
        service_account: req.service_account.clone(),
        audience: audience.unwrap_or_else(|| "https://kubernetes.default.svc".into()),
        expiration_seconds: expiration.unwrap_or(3600),
    })
}

async fn token(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let req: TokenRequestBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("kubernetes token request: {e}")),
    };
    let p = match projection(&shared, &req) {
        Ok(p) => p,
        Err(e) => return bad_request(format!("kubernetes token request: {e}")),
    };
    if let Some(why) = req.path.as_deref().and_then(crate::world::kubelet::unfit_path) {
        return bad_request(format!("kubernetes token request: `path`: {why}"));
    }
    let minted = match &req.path {
        Some(path) => {
            let minted = shared.kubelet.mount(p.clone(), path.clone(), |p| shared.mint_projected(p));
            if minted.is_ok() {
                keep_fresh(Arc::downgrade(&shared));
            }
            minted
        }
        None => shared.mint_projected(&p),
    };
    match minted {
        Ok(m) => Json(json!({
            "token": m.token.expose(),
            "cluster": p.cluster,
            "audience": p.audience,
            "issued_at": m.iat,
            "expires_at": m.exp,
            "path": req.path,
        }))
        .into_response(),
        Err(e) => bad_request(format!("kubernetes token request: {e}")),
    }
}

/// Keeps the kubelet's mounted files fresh once a second for as long as the server lives (once
/// per server: later calls do nothing). Must run inside the server's runtime.
pub(crate) fn keep_fresh(shared: std::sync::Weak<Shared>) {
    if !shared.upgrade().is_some_and(|s| s.kubelet.start_ticking()) {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(shared) = shared.upgrade() else { return };
            shared.sync_kubelet();
        }
    });
}
