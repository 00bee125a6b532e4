//! `cloudid serve --proxy`: where namespaces are not allowed (macOS, a container without the
//! capability, Ubuntu's AppArmor restriction), an HTTP(S) forward proxy gives a workload the same
//! view as `cloudid exec`, through `HTTPS_PROXY`/`HTTP_PROXY` instead of the network:
//!
//! - `CONNECT` to a cloud host cloudid serves (STS, Google's APIs, GitHub's issuer, any other AWS
//!   or Google API host, port 443) is answered `200` and the tunnel is served by cloudid itself
//!   over TLS with its own CA — never forwarded;
//! - plain HTTP in absolute form to the metadata addresses (`http://169.254.169.254/…`,
//!   `169.254.170.2`, `169.254.170.23`, `metadata.google.internal`) is served;
//! - anything else is refused with `403` and a sentence saying so: the proxy forwards nothing.
//!
//! `cloudid env --proxy` prints the variables a workload needs: the proxy, `NO_PROXY`, and the CA
//! bundle for each runtime.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Whether a `CONNECT` to `host` is served (a real cloud host cloudid answers for).
fn tunnels_to(host: &str) -> bool {
    crate::hostnames::is_cloud_api(host) || crate::tls::HOSTS.contains(&host) || host.ends_with(".actions.githubusercontent.com") || host == "accounts.google.com"
}

/// The proxy in front of `router`: what the middleware needs.
#[derive(Clone)]
pub struct Proxy {
    router: Router,
    tls: tokio_rustls::TlsAcceptor,
    limits: crate::connections::Limits,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").finish_non_exhaustive()
    }
}

impl Proxy {
    /// A proxy serving `router`, with TLS tunnels terminated by `authority`.
    pub fn new(router: Router, authority: &crate::tls::Authority, limits: crate::connections::Limits) -> Self {
        Self { router, tls: authority.acceptor(), limits }
    }

    /// The router with the proxy in front: absolute-form and `CONNECT` requests are the proxy's,
    /// the rest go to `router` as before.
    pub fn wrap(self) -> Router {
        let inner = self.router.clone();
        inner.layer(axum::middleware::from_fn(move |req: Request, next: axum::middleware::Next| {
            let proxy = self.clone();
            async move { proxy.handle(req, next).await }
        }))
    }

    async fn handle(&self, mut req: Request, next: axum::middleware::Next) -> Response {
        if req.method() == Method::CONNECT {
            let Some(authority) = req.uri().authority().cloned() else {
                return refuse(StatusCode::BAD_REQUEST, "cloudid proxy: CONNECT needs host:port".into());
            };
            let host = authority.host().to_ascii_lowercase();
            if authority.port_u16() != Some(443) || !tunnels_to(&host) {
                return refuse(StatusCode::FORBIDDEN, format!("cloudid proxy: refused CONNECT to {authority}: it is not a cloud API host cloudid serves on port 443, and the proxy forwards nothing"));
            }
            let upgrade = hyper::upgrade::on(&mut req);
            let (router, tls, limits) = (self.router.clone(), self.tls.clone(), self.limits);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else { return };
                let io = hyper_util::rt::TokioIo::new(upgraded);
                match tokio::time::timeout(limits.header_timeout, tls.accept(io)).await {
                    Ok(Ok(stream)) => {
                        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
                        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                        crate::connections::serve_io(stream, peer, router, limits, stop).await;
                    }
                    Ok(Err(e)) => tracing::debug!("proxy: TLS handshake for {host} failed: {e}"),
                    Err(_) => tracing::debug!("proxy: TLS handshake for {host} timed out"),
                }
            });
            return StatusCode::OK.into_response();
        }
        if let Some(authority) = req.uri().authority().cloned() {
            let host = authority.host().to_ascii_lowercase();
            let port_ok = authority.port_u16().is_none_or(|p| p == 80);
            let plain = port_ok && (crate::hostnames::is_metadata_address(&host) || req.uri().scheme_str() == Some("http") && tunnels_to(&host));
            if !plain {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!("cloudid proxy: refused {} {}: not a metadata address or a host cloudid serves on port 80, and the proxy forwards nothing", req.method(), req.uri()),
                );
            }
            // RFC 9112 §3.2.2: for an absolute-form target, the URI's authority is the host.
            match authority.as_str().parse() {
                Ok(v) => {
                    req.headers_mut().insert(header::HOST, v);
                }
                Err(_) => return refuse(StatusCode::BAD_REQUEST, "cloudid proxy: the request's authority is not a valid Host".into()),
            }
            req.headers_mut().remove("proxy-connection");
            req.headers_mut().remove(header::PROXY_AUTHORIZATION);
        }
        next.run(req).await
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message + "\n").into_response()
}

/// The variables a workload needs to use the proxy at `endpoint` (`http://127.0.0.1:8133`), with
/// cloudid's CA in `ca` and the system bundle plus it in `bundle`.
pub fn client_env(endpoint: &str, ca: &std::path::Path, bundle: &std::path::Path) -> BTreeMap<String, String> {
    let endpoint = endpoint.trim_end_matches('/');
    let mut env = BTreeMap::new();
    for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] {
        env.insert(k.to_string(), endpoint.to_string());
    }
    for k in ["NO_PROXY", "no_proxy"] {
        env.insert(k.to_string(), "localhost,127.0.0.1,::1".to_string());
    }
    let bundle = bundle.display().to_string();
    for k in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"] {
        env.insert(k.to_string(), bundle.clone());
    }
    env.insert("NODE_EXTRA_CA_CERTS".into(), ca.display().to_string());
    env
}
