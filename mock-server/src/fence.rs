//! The control plane's fence: what `/_cloudid/…` trusts.
//!
//! The control plane can reset the world, move the clock, inject faults, rotate keys and mint
//! tokens, so only the user's own tools may reach it:
//!
//! - **`Host`** must be an IP address (any: the one served, loopback, a container's), `localhost`,
//!   or a name allowed with `--allow-host` (a compose service name). A web page that rebinds its
//!   own DNS name to cloudid's address still sends its own name, and is refused — so it cannot
//!   read `/_cloudid/env` or the journal.
//! - **`Origin`**, when a browser sends one, must be the server itself (`http://` + the request's
//!   `Host`). A cross-origin `POST` — even a "simple" `text/plain` one a page can send without a
//!   preflight — is refused before it changes anything. `Sec-Fetch-Site: cross-site` is refused
//!   too.
//! - **A bearer token**, when the server was started with `--control-token` (or
//!   `CLOUDID_CONTROL_TOKEN`): every control-plane request but `/_cloudid/health` must carry
//!   `Authorization: Bearer <token>`.
//!
//! - **Never at a metadata address** (`169.254.169.254`, `169.254.170.2`, `169.254.170.23`,
//!   `fd00:ec2::254`, `fd00:ec2::23`, `metadata.google.internal`): workloads reach cloudid there
//!   (`cloudid exec`, the compose environment), and must not reach its controls (404).
//!
//! `GET /_cloudid/health` is always answered: it tells nothing and changes nothing, and health
//! checks reach servers by any name.
//!
//! The emulated endpoints are not fenced: the real ones answer any `Host` (the metadata servers
//! are reached by IP and by `metadata.google.internal`, issuers by their real names).

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::secret::Secret;

/// What the control plane trusts beyond IP-literal and `localhost` hosts.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Fence {
    /// Host names (no port) the control plane also answers, e.g. a compose service name.
    pub allowed_hosts: Vec<String>,
    /// The bearer token every control-plane request but health must carry, if set.
    pub token: Option<Secret>,
}

impl Fence {
    /// A fence that also allows `hosts` and requires `token` when given.
    pub fn new(allowed_hosts: Vec<String>, token: Option<String>) -> Self {
        Self { allowed_hosts: allowed_hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(), token: token.filter(|t| !t.is_empty()).map(Secret::new) }
    }

    /// `Ok` if a control-plane request to `path` with `headers` may proceed, else the refusal.
    pub fn admit(&self, path: &str, headers: &HeaderMap) -> Result<(), Refused> {
        if path == "/_cloudid/health" {
            return Ok(());
        }
        for name in [header::HOST, header::ORIGIN] {
            if headers.get_all(&name).iter().count() > 1 {
                return Err(refuse(StatusCode::BAD_REQUEST, format!("control plane: more than one {name} header")));
            }
        }
        let host = match headers.get(header::HOST).map(|h| h.to_str()) {
            Some(Err(_)) => return Err(refuse(StatusCode::FORBIDDEN, "control plane: the Host header is not text".into())),
            Some(Ok(h)) => Some(h),
            None => None,
        };
        if let Some(host) = host
            && crate::hostnames::is_metadata_address(&strip_port(host).to_ascii_lowercase())
        {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("control plane: not answered at the metadata address `{host}`, where workloads (cloudid exec, containers) reach cloudid; use the address cloudid listens on"),
            ));
        }
        if let Some(host) = host
            && !self.host_allowed(host)
        {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                format!("control plane: Host `{host}` is not an address of this server; only IP addresses, localhost and names given with --allow-host are answered (this stops DNS rebinding)"),
            ));
        }
        if headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site")) {
            return Err(refuse(StatusCode::FORBIDDEN, "control plane: refused a cross-site request from a web page (Sec-Fetch-Site: cross-site)".into()));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let own = host.is_some_and(|h| origin.eq_ignore_ascii_case(&format!("http://{h}")) || origin.eq_ignore_ascii_case(&format!("https://{h}")));
            if !own {
                return Err(refuse(StatusCode::FORBIDDEN, format!("control plane: refused a request from the web page at Origin `{origin}`; only the server's own origin may use the control plane")));
            }
        }
        if let Some(token) = &self.token {
            let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
            if !constant_time_eq(given.as_bytes(), token.expose().as_bytes()) {
                let why = if given.is_empty() { "no Authorization: Bearer token" } else { "the bearer token is not the control token" };
                return Err(refuse(StatusCode::UNAUTHORIZED, format!("control plane: {why}; this server was started with --control-token (CLOUDID_CONTROL_TOKEN)")));
            }
        }
        Ok(())
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host).to_ascii_lowercase();
        name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() || self.allowed_hosts.contains(&name)
    }
}

/// `host` without its `:port`, IPv6 brackets removed.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((ip, "")) => ip,
            Some((ip, port)) if port.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) => ip,
            _ => host,
        };
    }
    host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why the fence refused a request; renders as `{"error": …}` with its status (and a `Bearer`
/// challenge for a 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// 401 (no or wrong control token) or 403 (foreign host or origin).
    pub status: StatusCode,
    /// What was wrong, in words.
    pub message: String,
}

impl Refused {
    /// The status it answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let challenge = self.status == StatusCode::UNAUTHORIZED;
        let mut r = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if challenge {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer realm=\"cloudid control plane\""));
        }
        r
    }
}

fn refuse(status: StatusCode, message: String) -> Refused {
    tracing::warn!("{message}");
    Refused { status, message }
}

/// Whether listening on `addr` reaches beyond this machine (not loopback).
pub fn beyond_loopback(addr: &std::net::SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn ip_addresses_and_localhost_are_admitted_and_other_names_only_when_allowed() {
        let f = Fence::default();
        for host in ["127.0.0.1:8133", "[::1]:8133", "localhost:8133", "10.0.0.5:80"] {
            assert!(f.admit("/_cloudid/env", &headers(&[("host", host)])).is_ok(), "{host}");
        }
        for metadata in ["169.254.169.254", "169.254.170.2:80", "[fd00:ec2::254]", "metadata.google.internal"] {
            assert_eq!(f.admit("/_cloudid/tokens/github", &headers(&[("host", metadata)])).unwrap_err().status(), StatusCode::NOT_FOUND, "a workload's address: {metadata}");
        }
        assert_eq!(f.admit("/_cloudid/env", &headers(&[("host", "rebind.attacker.example:8133")])).unwrap_err().status(), StatusCode::FORBIDDEN);
        for host in ["[::1]evil.example", "[::1]:80x"] {
            assert!(f.admit("/_cloudid/env", &headers(&[("host", host)])).is_err(), "{host}");
        }
        let mut two = headers(&[("host", "127.0.0.1")]);
        two.append("host", "evil.example".parse().unwrap());
        assert_eq!(f.admit("/_cloudid/reset", &two).unwrap_err().status(), StatusCode::BAD_REQUEST);
        let compose = Fence::new(vec!["Cloudid".into()], None);
        assert!(compose.admit("/_cloudid/env", &headers(&[("host", "cloudid:8133")])).is_ok());
    }

    #[test]
    fn a_foreign_origin_is_refused_and_the_own_origin_admitted() {
        let f = Fence::default();
        let foreign = headers(&[("host", "127.0.0.1:8133"), ("origin", "https://evil.example")]);
        assert_eq!(f.admit("/_cloudid/reset", &foreign).unwrap_err().status(), StatusCode::FORBIDDEN);
        let null = headers(&[("host", "127.0.0.1:8133"), ("origin", "null")]);
        assert!(f.admit("/_cloudid/reset", &null).is_err());
        let own = headers(&[("host", "127.0.0.1:8133"), ("origin", "http://127.0.0.1:8133")]);
        assert!(f.admit("/_cloudid/reset", &own).is_ok());
        let cross = headers(&[("host", "127.0.0.1:8133"), ("sec-fetch-site", "cross-site")]);
        assert!(f.admit("/_cloudid/reset", &cross).is_err());
    }

    #[test]
    fn a_control_token_is_required_everywhere_but_health() {
        let f = Fence::new(vec![], Some("s3cret".into()));
        let none = headers(&[("host", "127.0.0.1")]);
        assert_eq!(f.admit("/_cloudid/clock", &none).unwrap_err().status(), StatusCode::UNAUTHORIZED);
        assert!(f.admit("/_cloudid/health", &none).is_ok());
        assert!(f.admit("/_cloudid/clock", &headers(&[("host", "127.0.0.1"), ("authorization", "Bearer wrong!")])).is_err());
        assert!(f.admit("/_cloudid/clock", &headers(&[("host", "127.0.0.1"), ("authorization", "Bearer s3cret")])).is_ok());
        assert!(!format!("{f:?}").contains("s3cret"), "the token never shows in Debug output");
    }
}
