//! Routing by host name, before routing by path: a request that names a real cloud API host
//! cloudid does not serve by path — Cloud Resource Manager, or any other AWS or Google API — is
//! claimed here, so its paths never reach a service they collide with (DynamoDB's `POST /` is not
//! STS). Requests naming an IP address, `localhost`, the emulated hosts or anything else go on to
//! the path router unchanged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::exchange::Shared;
use crate::hostnames::{HostRoute, route};

/// The host a request names: its `Host` header, else the authority of an absolute-form URI
/// (what a forward proxy receives); lower case, without the port.
pub(crate) fn host_of(req: &Request) -> Option<String> {
    let raw = req.headers().get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).or_else(|| req.uri().authority().map(|a| a.as_str()))?;
    let host = if raw.starts_with('[') { raw.split(']').next().map(|h| format!("{h}]")).unwrap_or_default() } else { raw.split(':').next().unwrap_or(raw).to_string() };
    Some(host.to_ascii_lowercase())
}

/// The middleware: claims requests for [`route`]'s hosts, passes every other one on; either way
/// the request's host is known to the journal.
pub(crate) async fn dispatch(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let host = host_of(&req);
    let claimed = host.as_deref().filter(|h| h.contains(".googleapis.") || h.contains(".amazonaws.") || h.ends_with(".api.aws")).and_then(route);
    crate::exchange::REQUEST_HOST
        .scope(host.clone(), async move {
            match claimed {
                None => next.run(req).await,
                Some(HostRoute::ResourceManager) => super::resource_manager::serve(shared, req).await,
                Some(HostRoute::NotEmulated(cloud)) => super::not_emulated::serve(shared, cloud, host.unwrap_or_default(), req).await,
            }
        })
        .await
}
