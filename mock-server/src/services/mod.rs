//! The emulated services. Each is a slice with its own router, request parsing, logic and errors
//! in the real service's shape; none reaches into another's state.

pub(crate) mod app_service_identity;
pub(crate) mod aws_container;
pub(crate) mod aws_imds;
pub(crate) mod aws_sts;
pub(crate) mod aws_task_metadata;
pub(crate) mod azure_imds;
pub(crate) mod by_host;
pub(crate) mod entra;
pub(crate) mod gcp_metadata;
pub(crate) mod github_oidc;
pub(crate) mod google_rpc;
pub(crate) mod google_sts;
pub(crate) mod iam_credentials;
pub(crate) mod kube_apiserver;
pub(crate) mod not_emulated;
pub(crate) mod oidc_discovery;
pub(crate) mod resource_manager;
pub(crate) mod service_account_keys;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::any;

use crate::exchange::Shared;
use crate::world::WorldModel;

/// Every service's routes, merged.
pub(crate) fn router(model: &WorldModel) -> Router<Arc<Shared>> {
    Router::new()
        .route("/", any(root))
        .merge(aws_imds::router())
        .merge(aws_container::router(model))
        .merge(aws_task_metadata::router())
        .merge(azure_imds::router())
        .merge(app_service_identity::router())
        .merge(entra::router())
        .merge(gcp_metadata::router())
        .merge(github_oidc::router())
        .merge(google_sts::router())
        .merge(iam_credentials::router())
        .merge(kube_apiserver::router())
        .merge(oidc_discovery::router())
        .merge(service_account_keys::router())
}

/// `/` is shared: STS (any POST, or a GET with `Action`), the GCP metadata server's ping
/// (a request with `Metadata-Flavor`), and IMDS's version list. The latter also carries
/// `Metadata-Flavor: Google`, which is all Go's GCE probe looks at.
async fn root(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if aws_sts::claims(&parts) {
        return aws_sts::serve(shared, Request::from_parts(parts, body)).await;
    }
    let has_gce = shared.model.gcp.default_account().is_some();
    let answer = || {
        if has_gce && gcp_metadata::is_ping(&parts.headers) {
            return gcp_metadata::ping();
        }
        let (mut response, note) = aws_imds::list_versions(&parts.method);
        if has_gce {
            response.headers_mut().insert("metadata-flavor", axum::http::HeaderValue::from_static("Google"));
        }
        (response, note)
    };
    crate::exchange::serve!(shared, &aws_imds::Imds, &parts.method, parts.uri.path(), answer())
}
