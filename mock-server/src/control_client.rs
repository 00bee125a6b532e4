//! A typed client for the control plane (`/_cloudid/…`) of a running server — in this process
//! ([`crate::CloudId::control`]) or elsewhere ([`ControlClient::new`]). The `cloudid` command,
//! the harness and the tests all drive servers through it, so each control-plane call is written
//! once, with its types.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudid_mock::ControlError> {
//! let control = cloudid_mock::ControlClient::new("http://127.0.0.1:8133")?;
//! control.advance_clock(3000).await?;
//! let token = control.mint("github", &cloudid_mock::TokenRequest { audience: Some("sts.amazonaws.com".into()), ..Default::default() }).await?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::faults::Rule;
use crate::journal::JournalSnapshot;
use crate::secret::Secret;
use crate::world::mint::TokenRequest;

/// Why a control-plane call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The endpoint is not an `http://host:port` URL.
    #[error("`{0}`: only http:// endpoints are supported")]
    BadEndpoint(String),
    /// Nothing answered (or the connection broke).
    #[error("cannot reach cloudid at {endpoint}: {why} (is `cloudid serve` running?)")]
    Unreachable {
        /// The endpoint tried.
        endpoint: String,
        /// What went wrong.
        why: String,
    },
    /// The server refused the call, saying why.
    #[error("{message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The server's `error`, or the body.
        message: String,
    },
    /// The server answered something that is not what this call returns.
    #[error("unexpected answer from {endpoint}: {why}")]
    Unexpected {
        /// The endpoint.
        endpoint: String,
        /// What did not fit.
        why: String,
    },
}

/// A client for one server's control plane.
#[derive(Debug, Clone)]
pub struct ControlClient {
    endpoint: String,
    authority: String,
    token: Option<Secret>,
    timeout: Duration,
}

impl ControlClient {
    /// A client for the server at `endpoint` (`http://host:port`, a trailing slash allowed). It
    /// sends the control token from `CLOUDID_CONTROL_TOKEN` when that is set.
    pub fn new(endpoint: &str) -> Result<Self, ControlError> {
        let trimmed = endpoint.trim_end_matches('/');
        let authority = trimmed.strip_prefix("http://").filter(|a| !a.is_empty() && !a.contains('/')).ok_or_else(|| ControlError::BadEndpoint(endpoint.to_string()))?;
        let token = std::env::var("CLOUDID_CONTROL_TOKEN").ok().filter(|t| !t.is_empty()).map(Secret::new);
        Ok(Self { endpoint: trimmed.to_string(), authority: authority.to_string(), token, timeout: Duration::from_secs(10) })
    }

    /// This client with `token` as the control token (`--control-token`).
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(Secret::new(token));
        self
    }

    /// The server's base URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `GET /_cloudid/health`: `Ok` when the server is ready.
    pub async fn health(&self) -> Result<(), ControlError> {
        self.call::<Value>("GET", "health", None).await.map(|_| ())
    }

    /// `GET /_cloudid/env`: the environment a client needs, naming the server as reached here.
    pub async fn env(&self) -> Result<BTreeMap<String, String>, ControlError> {
        self.call("GET", "env", None).await
    }

    /// `GET /_cloudid/env?as=PLATFORM`: only that platform's variables (`ec2`, `ecs`,
    /// `eks-pod-identity`, `gce`, `github-actions`).
    pub async fn platform_env(&self, platform: &str) -> Result<BTreeMap<String, String>, ControlError> {
        self.call("GET", &format!("env?as={platform}"), None).await
    }

    /// `GET /_cloudid/env?mode=proxy`: the variables a workload needs to use a `--proxy` server.
    pub async fn proxy_env(&self) -> Result<BTreeMap<String, String>, ControlError> {
        self.call("GET", "env?mode=proxy", None).await
    }

    /// `GET /_cloudid/journal`.
    pub async fn journal(&self) -> Result<JournalSnapshot, ControlError> {
        self.call("GET", "journal", None).await
    }

    /// `POST /_cloudid/reset`: back to the world as loaded.
    pub async fn reset(&self) -> Result<(), ControlError> {
        self.call::<Value>("POST", "reset", None).await.map(|_| ())
    }

    /// Moves the server's clock forward by `seconds`; the new time (RFC 3339).
    pub async fn advance_clock(&self, seconds: u64) -> Result<String, ControlError> {
        self.clock(json!({ "advance_seconds": seconds })).await
    }

    /// Sets the server's clock to `at` (RFC 3339); the new time.
    pub async fn set_clock(&self, at: &str) -> Result<String, ControlError> {
        self.clock(json!({ "set": at })).await
    }

    /// Freezes (`true`) or releases (`false`) the server's clock; the time it shows.
    pub async fn freeze_clock(&self, frozen: bool) -> Result<String, ControlError> {
        self.clock(json!({ "freeze": frozen })).await
    }

    async fn clock(&self, body: Value) -> Result<String, ControlError> {
        let v: Value = self.call("POST", "clock", Some(body)).await?;
        v["now"].as_str().map(str::to_string).ok_or_else(|| self.unexpected("no `now` in the clock's answer"))
    }

    /// Adds fault rules; their ids.
    pub async fn add_faults(&self, rules: &[Rule]) -> Result<Vec<usize>, ControlError> {
        self.add_fault_values(serde_json::to_value(rules).unwrap_or_default()).await
    }

    /// Adds fault rules given as JSON (one rule or an array, as scenario files write them).
    pub async fn add_fault_values(&self, rules: Value) -> Result<Vec<usize>, ControlError> {
        let v: Value = self.call("POST", "faults", Some(rules)).await?;
        serde_json::from_value(v["ids"].clone()).map_err(|e| self.unexpected(&e.to_string()))
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), ControlError> {
        self.call::<Value>("DELETE", "faults", None).await.map(|_| ())
    }

    /// Rotates `issuer`'s signing key, keeping the old one published for `grace_seconds`; the
    /// new key id.
    pub async fn rotate_key(&self, issuer: &str, grace_seconds: u64) -> Result<String, ControlError> {
        let v: Value = self.call("POST", "keys/rotate", Some(json!({ "issuer": issuer, "grace_seconds": grace_seconds }))).await?;
        v["kid"].as_str().map(str::to_string).ok_or_else(|| self.unexpected("no `kid` in the rotation's answer"))
    }

    /// Mints a token from `issuer` (`github`, `google`, or an extra issuer of the world).
    pub async fn mint(&self, issuer: &str, request: &TokenRequest) -> Result<String, ControlError> {
        let v: Value = self.call("POST", &format!("tokens/{issuer}"), Some(serde_json::to_value(request).unwrap_or_default())).await?;
        v["token"].as_str().map(str::to_string).ok_or_else(|| self.unexpected("no `token` in the answer"))
    }

    /// Removes `member` from `service_account`'s IAM bindings (from `role` only, when given);
    /// the roles it was removed from.
    pub async fn revoke_binding(&self, service_account: &str, member: &str, role: Option<&str>) -> Result<Vec<String>, ControlError> {
        let v: Value = self.call("POST", "google/bindings/revoke", Some(json!({ "service_account": service_account, "member": member, "role": role }))).await?;
        serde_json::from_value(v["revoked_roles"].clone()).map_err(|e| self.unexpected(&e.to_string()))
    }

    /// Rotates a container's authorization token (the one `env` names when `path` is `None`);
    /// the new token.
    pub async fn rotate_container_token(&self, path: Option<&str>) -> Result<String, ControlError> {
        let v: Value = self.call("POST", "containers/rotate-token", Some(json!({ "path": path }))).await?;
        v["token"].as_str().map(str::to_string).ok_or_else(|| self.unexpected("no `token` in the answer"))
    }

    /// Mints a projected service-account token (`POST /_cloudid/kubernetes/token`): `request`
    /// names `namespace`, `service_account` and optionally `cluster`, `audience`,
    /// `expiration_seconds` and `path` (a file the server writes and keeps fresh as the kubelet
    /// does). The answer: `token`, `cluster`, `audience`, `issued_at`, `expires_at`, `path`.
    pub async fn kubernetes_token(&self, request: &Value) -> Result<Value, ControlError> {
        self.call("POST", "kubernetes/token", Some(request.clone())).await
    }

    /// Presigns a `GetCallerIdentity` (`POST /_cloudid/aws/presign`: `host`, `cluster_id`,
    /// `role`); the answer: `url`, `eks_token`, `principal`.
    pub async fn presign(&self, request: &Value) -> Result<Value, ControlError> {
        self.call("POST", "aws/presign", Some(request.clone())).await
    }

    fn unexpected(&self, why: &str) -> ControlError {
        ControlError::Unexpected { endpoint: self.endpoint.clone(), why: why.to_string() }
    }

    /// One call: `method /_cloudid/{path}` with a JSON body, its JSON answer.
    async fn call<T: DeserializeOwned>(&self, method: &str, path: &str, body: Option<Value>) -> Result<T, ControlError> {
        let unreachable = |why: String| ControlError::Unreachable { endpoint: self.endpoint.clone(), why };
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(&self.authority).await.map_err(|e| unreachable(e.to_string()))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.map_err(|e| unreachable(e.to_string()))?;
            tokio::spawn(conn);
            let mut req = axum::http::Request::builder()
                .method(method)
                .uri(format!("/_cloudid/{path}"))
                .header("host", &self.authority)
                .header("accept", "application/json")
                .header("content-type", "application/json");
            if let Some(t) = &self.token {
                req = req.header("authorization", format!("Bearer {}", t.expose()));
            }
            let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
            let req = req.body(Full::new(body)).map_err(|e| unreachable(e.to_string()))?;
            let resp = sender.send_request(req).await.map_err(|e| unreachable(e.to_string()))?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map_err(|e| unreachable(e.to_string()))?.to_bytes();
            Ok::<_, ControlError>((status, bytes))
        };
        let (status, bytes) = tokio::time::timeout(self.timeout, exchange).await.map_err(|_| unreachable(format!("no answer within {:?}", self.timeout)))??;
        if status != 200 {
            let message = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{} answered {status}: {}", self.endpoint, String::from_utf8_lossy(&bytes).trim()));
            return Err(ControlError::Refused { status, message });
        }
        serde_json::from_slice(&bytes).map_err(|e| self.unexpected(&e.to_string()))
    }
}
