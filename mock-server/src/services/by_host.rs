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

/// Whether a `Host` value names loopback (`127.0.0.1`, `localhost`, `[::1]`, with any port).
fn is_loopback(host: &[u8]) -> bool {
    let name = match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host.starts_with(b"[") || host[..i].ends_with(b"]") => &host[..i],
        _ => host,
    };
    matches!(name, b"127.0.0.1" | b"localhost" | b"[::1]")
}

/// The middleware: claims requests for [`route`]'s hosts, passes every other one on; either way
/// the request's host is known to the journal.
pub(crate) async fn dispatch(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.headers().get(axum::http::header::HOST).is_some_and(|h| is_loopback(h.as_bytes())) {
        // cloudid's own port, named by loopback (the common case, and the hot path): every
        // service is served there, and the journal leaves the host out.
        return next.run(req).await;
    }
    let host = host_of(&req);
    let claimed = host.as_deref().and_then(route);
    crate::exchange::REQUEST_HOST
        .scope(host.clone(), async move {
            let class = host.as_deref().map_or(crate::hostnames::HostClass::Any, crate::hostnames::class);
            let (path, query) = (req.uri().path(), req.uri().query().unwrap_or(""));
            if !path.starts_with("/_cloudid/") && !crate::hostnames::serves(class, matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD), path, query) {
                let (method, path) = (req.method().clone(), path.to_string());
                let mut answer = crate::exchange::not_found(&method, &path);
                answer.1.checks.push(crate::journal::Check::fail("host.service", format!("{} does not serve {path}: the real one answers only its own service there", host.as_deref().unwrap_or(""))));
                return crate::exchange::serve!(shared, &crate::exchange::Unclaimed, &method, &path, answer);
            }
            match claimed {
                None => next.run(req).await,
                Some(HostRoute::ResourceManager) => super::resource_manager::serve(shared, req).await,
                Some(HostRoute::NotEmulated(cloud)) => {
                    // A world's issuer may live on an API host (a GKE cluster's on
                    // container.googleapis.com): its documents are served, the rest is not emulated.
                    let host = host.unwrap_or_default();
                    if req.method() == axum::http::Method::GET
                        && let Some(answer) = super::oidc_discovery::by_host(&shared, &host, req.uri().path())
                    {
                        let (method, path) = (req.method().clone(), req.uri().path().to_string());
                        return crate::exchange::serve!(shared, &super::oidc_discovery::Discovery, &method, &path, answer);
                    }
                    super::not_emulated::serve(shared, cloud, host, req).await
                }
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised_with_or_without_a_port() {
        for h in ["127.0.0.1", "127.0.0.1:8133", "localhost", "localhost:80", "[::1]", "[::1]:8133"] {
            assert!(is_loopback(h.as_bytes()), "{h}");
        }
        for h in ["169.254.169.254", "127.0.0.2", "sts.amazonaws.com:443", "[fd00:ec2::254]", "localhost.example"] {
            assert!(!is_loopback(h.as_bytes()), "{h}");
        }
    }
}
