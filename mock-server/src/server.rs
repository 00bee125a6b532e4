//! The one HTTP port: the control plane and every emulated service composed into one router,
//! and the unrouted fallback. The layers below it are in [`crate::exchange`].

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

pub(crate) use crate::exchange::{Shared, apply_clock_config};
use crate::{control, services};

/// The whole application: control plane plus every emulated service.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(control::router(shared.clone()))
        .merge(services::router(&shared.model))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), services::by_host::dispatch))
        .with_state(shared)
}

async fn fallback(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (method, path) = (req.method(), req.uri().path());
    if path.starts_with("/_cloudid") {
        let body = format!("cloudid: no control-plane endpoint at {method} {path}\n");
        return shared.dated((StatusCode::NOT_FOUND, body).into_response());
    }
    let slice = services::oidc_discovery::unrouted_slice(method, path);
    crate::exchange::serve!(shared, slice, method, path, services::oidc_discovery::unrouted(&shared, &req))
}
