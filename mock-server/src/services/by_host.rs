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

/// Which cloud a non-emulated API host belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cloud {
    /// `*.amazonaws.com`, `*.api.aws`: SigV4-signed requests.
    Aws,
    /// `*.googleapis.com`: Bearer access tokens.
    Google,
}

/// Where a host's requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostRoute {
    /// Cloud Resource Manager.
    ResourceManager,
    /// A real API cloudid does not emulate: credentials verified, then refused or forwarded.
    NotEmulated(Cloud),
}

/// Google API hosts served by path (STS, IAM Credentials, OAuth 2.0, certificates, tokeninfo).
const GOOGLE_EMULATED: &[&str] = &["sts.googleapis.com", "iamcredentials.googleapis.com", "oauth2.googleapis.com", "www.googleapis.com"];

/// The route for `host` (lower case, no port), or `None` for the path router.
pub(crate) fn route(host: &str) -> Option<HostRoute> {
    if host == super::resource_manager::HOST {
        return Some(HostRoute::ResourceManager);
    }
    if let Some(_service) = host.strip_suffix(".googleapis.com") {
        return (!GOOGLE_EMULATED.contains(&host)).then_some(HostRoute::NotEmulated(Cloud::Google));
    }
    let aws = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".api.aws"))?;
    let first = aws.split('.').next().unwrap_or("");
    let emulated = matches!(first, "sts" | "sts-fips") || host.ends_with(crate::world::issuers::AWS_OUTBOUND_HOST_SUFFIX);
    (!emulated).then_some(HostRoute::NotEmulated(Cloud::Aws))
}

/// The host a request names: its `Host` header, else the authority of an absolute-form URI
/// (what a forward proxy receives); lower case, without the port.
pub(crate) fn host_of(req: &Request) -> Option<String> {
    let raw = req.headers().get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).or_else(|| req.uri().authority().map(|a| a.as_str()))?;
    let host = if raw.starts_with('[') { raw.split(']').next().map(|h| format!("{h}]")).unwrap_or_default() } else { raw.split(':').next().unwrap_or(raw).to_string() };
    Some(host.to_ascii_lowercase())
}

tokio::task_local! {
    /// The host the request being answered named, for the journal.
    pub(crate) static REQUEST_HOST: Option<String>;
}

/// The middleware: claims requests for [`route`]'s hosts, passes every other one on; either way
/// the request's host is known to the journal.
pub(crate) async fn dispatch(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let host = host_of(&req);
    let claimed = host.as_deref().filter(|h| h.contains(".googleapis.") || h.contains(".amazonaws.") || h.ends_with(".api.aws")).and_then(route);
    REQUEST_HOST
        .scope(host.clone(), async move {
            match claimed {
                None => next.run(req).await,
                Some(HostRoute::ResourceManager) => super::resource_manager::serve(shared, req).await,
                Some(HostRoute::NotEmulated(cloud)) => super::not_emulated::serve(shared, cloud, host.unwrap_or_default(), req).await,
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hosts_no_path_route_serves_are_claimed() {
        assert_eq!(route("cloudresourcemanager.googleapis.com"), Some(HostRoute::ResourceManager));
        assert_eq!(route("bigquery.googleapis.com"), Some(HostRoute::NotEmulated(Cloud::Google)));
        assert_eq!(route("dynamodb.ap-northeast-1.amazonaws.com"), Some(HostRoute::NotEmulated(Cloud::Aws)));
        assert_eq!(route("api.ecr.ap-northeast-1.amazonaws.com"), Some(HostRoute::NotEmulated(Cloud::Aws)));
        assert_eq!(route("s3.dualstack.us-east-1.amazonaws.com"), Some(HostRoute::NotEmulated(Cloud::Aws)));
        for served in ["sts.amazonaws.com", "sts.ap-northeast-1.amazonaws.com", "sts-fips.us-east-1.amazonaws.com", "sts.googleapis.com", "iamcredentials.googleapis.com", "oauth2.googleapis.com", "www.googleapis.com", "metadata.google.internal", "169.254.169.254", "localhost", "token.actions.githubusercontent.com"] {
            assert_eq!(route(served), None, "{served}");
        }
    }
}
