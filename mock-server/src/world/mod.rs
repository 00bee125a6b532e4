//! The world: the typed model loaded from YAML, and the live state derived from it (issued
//! credentials, IMDS session tokens, the seeded generator).

pub mod azure;
pub mod credentials;
pub mod ec_key;
pub mod entra_tokens;
pub mod expiring;
pub mod forge;
pub mod google_tokens;
pub mod import;
pub mod issuers;
pub mod kubelet;
pub mod kubernetes;
pub mod load;
pub mod mint;
pub mod model;
pub mod projected;
mod referenced;
pub mod sa_keys;
pub mod sa_token;
pub mod strict_json;
pub mod tokens;

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;

pub use credentials::{CredentialAuthority, CredentialSource, IssuedCredential, Principal, Rotation, SessionTag};
pub use load::{WorldError, default_world, load_file, parse};
pub use model::WorldModel;

use crate::ids;

/// Live state of a world: everything that changes while the server runs. `reset` rebuilds it
/// from the model.
#[derive(Debug)]
pub struct WorldState {
    /// Seeded generator for ids and secrets.
    pub rng: StdRng,
    /// Issued AWS credentials.
    pub credentials: CredentialAuthority,
    /// Google OAuth access tokens.
    pub google_tokens: google_tokens::GoogleTokenAuthority,
    /// Token issuers and their current keys.
    pub issuers: issuers::IssuerAuthority,
    /// Live IMDSv2 session tokens and their expiry.
    pub imds_tokens: expiring::ExpiringTokens,
    /// When this state began (the instance's launch time, as IMDS reports it).
    pub booted_at: OffsetDateTime,
    /// Response bodies rendered from a credential, by kind, so a hot endpoint renders each
    /// credential once: kind → (access key id, body).
    pub rendered: HashMap<&'static str, (String, axum::body::Bytes)>,
    /// `booted_at` as an HTTP date (IMDS `Last-Modified`), formatted once.
    pub booted_http_date: axum::http::HeaderValue,
    /// Container authorization tokens rotated while running (path → token), as the kubelet
    /// rotates a pod's projected service-account token; they replace the world's.
    pub container_tokens: HashMap<String, crate::secret::Secret>,
    /// IAM binding members removed while running: (service account email, role, member).
    pub revoked_bindings: std::collections::HashSet<(String, String, String)>,
}

impl WorldState {
    /// Fresh state for `model`.
    pub fn new(model: &WorldModel, now: OffsetDateTime) -> Self {
        Self {
            booted_at: now,
            rendered: HashMap::new(),
            container_tokens: HashMap::new(),
            revoked_bindings: std::collections::HashSet::new(),
            booted_http_date: axum::http::HeaderValue::from_str(&crate::clock::http_date(now)).unwrap_or_else(|_| axum::http::HeaderValue::from_static("")),
            rng: StdRng::seed_from_u64(model.seed),
            credentials: CredentialAuthority::with_capacity(model.credential_capacity),
            issuers: issuers::IssuerAuthority::from_model(model, now),
            google_tokens: google_tokens::GoogleTokenAuthority::default(),
            imds_tokens: Default::default(),
        }
    }

    /// The body of `kind` for credential `access_key_id`, rendered by `render` on first use.
    pub fn rendered(&mut self, kind: &'static str, access_key_id: &str, render: impl FnOnce() -> String) -> axum::body::Bytes {
        if let Some((key, body)) = self.rendered.get(kind)
            && key == access_key_id
        {
            return body.clone();
        }
        let body = axum::body::Bytes::from(render());
        self.rendered.insert(kind, (access_key_id.to_string(), body.clone()));
        body
    }

    /// A new id from the world's generator (UUID form).
    pub fn request_id(&mut self) -> String {
        ids::request_id(&mut self.rng)
    }
}

impl WorldModel {
    /// The principal of a session of role `role` of account `account_id` named `session`, or
    /// `None` if the world has no such role.
    pub fn role_session(&self, account_id: &str, role: &str, session: &str) -> Option<Principal> {
        let account = self.aws.account(account_id)?;
        let r = account.roles.iter().find(|r| r.name == role)?;
        let role_id = if account.is_main(&self.aws) { ids::stable_id("AROA", &r.name) } else { ids::stable_id("AROA", &format!("{account_id}:{}", r.name)) };
        Some(Principal { account_id: account_id.to_string(), role_name: r.name.clone(), role_path: r.path.clone(), role_id, session_name: session.to_string(), tags: Vec::new() })
    }
}

impl From<model::CredentialPolicy> for Rotation {
    fn from(p: model::CredentialPolicy) -> Self {
        Rotation { lifetime: time::Duration::seconds(i64::from(p.lifetime_seconds)), refresh_before: time::Duration::seconds(i64::from(p.refresh_before_seconds)) }
    }
}
