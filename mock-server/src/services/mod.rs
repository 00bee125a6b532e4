//! The emulated services. Each is a slice with its own router, request parsing, logic and errors
//! in the real service's shape; none reaches into another's state.

pub mod aws_container;
pub mod aws_imds;
pub mod aws_sts;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;

use crate::server::Shared;
use crate::world::WorldModel;

/// Every service's routes, merged.
pub fn router(model: &WorldModel) -> Router<Arc<Shared>> {
    Router::new().route("/", any(root)).merge(aws_imds::router()).merge(aws_container::router(model))
}

/// `/` is shared: STS (any POST, or a GET with `Action`) and IMDS's version list.
async fn root(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if aws_sts::claims(&parts) {
        return aws_sts::serve(shared, Request::from_parts(parts, body)).await;
    }
    shared.finish(&parts.method, parts.uri.path(), aws_imds::list_versions(&parts.method))
}
