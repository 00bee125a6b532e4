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

/// Requests a real host does not serve (IMDS paths at an STS host, STS at the IMDS address).
#[derive(Debug, Clone, Copy)]
struct Elsewhere;

impl crate::exchange::Slice for Elsewhere {
    fn service(&self) -> crate::exchange::Service {
        crate::exchange::Service::Cloudid
    }
}

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
            let class = host.as_deref().map_or(crate::hostnames::HostClass::Any, crate::hostnames::class);
            let (path, query) = (req.uri().path(), req.uri().query().unwrap_or(""));
            if !path.starts_with("/_cloudid/") && !crate::hostnames::serves(class, matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD), path, query) {
                let (method, path) = (req.method().clone(), path.to_string());
                let mut answer = crate::exchange::not_found(&method, &path);
                answer.1.checks.push(crate::journal::Check::fail("host.service", format!("{} does not serve {path}: the real one answers only its own service there", host.as_deref().unwrap_or(""))));
                return crate::exchange::serve!(shared, &Elsewhere, &method, &path, answer);
            }
            match claimed {
                None => next.run(req).await,
                Some(HostRoute::ResourceManager) => super::resource_manager::serve(shared, req).await,
                Some(HostRoute::NotEmulated(cloud)) => super::not_emulated::serve(shared, cloud, host.unwrap_or_default(), req).await,
            }
        })
        .await
}
