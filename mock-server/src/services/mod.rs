//! The emulated services. Each is a slice with its own router, request parsing, logic and errors
//! in the real service's shape; none reaches into another's state.

pub mod aws_container;
pub mod aws_imds;

use std::sync::Arc;

use axum::Router;

use crate::server::Shared;
use crate::world::WorldModel;

/// Every service's routes, merged.
pub fn router(model: &WorldModel) -> Router<Arc<Shared>> {
    Router::new().merge(aws_imds::router()).merge(aws_container::router(model))
}
