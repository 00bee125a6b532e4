//! Minting tokens from the world's issuers, shared by the control plane, the CLI and (later) the
//! GitHub and metadata endpoints.

use serde_json::{Map, Value};

use time::OffsetDateTime;

use super::{WorldModel, WorldState, tokens};

/// What to mint (the body of `POST /_cloudid/tokens/{issuer}`).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenRequest {
    /// `aud`; GitHub's default is the owner URL, Google requires one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Google: the service account (email); the world's default account when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Google: `full` adds the `google.compute_engine` claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Claims to set (or remove, with `null`) after the issuer's own.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub claims: Map<String, Value>,
    /// Header fields to set (or remove, with `null`) after `alg`, `kid`, `typ`: a hostile token
    /// for testing verifiers (`crit`, `jku`, `x5u`, `jwk`, `x5c`, another `kid`, …).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub header: Map<String, Value>,
    /// Claims repeated at the end of the payload's JSON text (a second `sub`, …).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub duplicates: Map<String, Value>,
    /// How to sign: `issuer` (default), `none`, `hs256-public-key`, `generated` (a key no
    /// JWKS publishes), `issuer:NAME` (another issuer's key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Mints a token from issuer `issuer` (`github`, `google`, or an extra issuer with a signing key).
pub fn mint(model: &WorldModel, state: &mut WorldState, now: OffsetDateTime, issuer: &str, req: &TokenRequest) -> Result<String, String> {
    let audience = req.audience.as_deref();
    let service_account = req.service_account.as_deref();
    let full = req.format.as_deref() == Some("full");
    let overrides = &req.claims;
    let jti = state.request_id();
    let mut claims = match issuer {
        "github" => {
            let job = tokens::github_job_with(&model.github, overrides);
            tokens::github_claims(&job, audience, now, &jti)
        }
        "google" => {
            let sa = match service_account {
                Some(email) => model.gcp.service_accounts.iter().find(|s| s.email == email),
                None => model.gcp.service_accounts.iter().find(|s| s.default),
            }
            .ok_or_else(|| format!("no service account {}", service_account.unwrap_or("(default)")))?;
            let audience = audience.ok_or("a Google ID token needs an audience")?;
            tokens::google_id_claims(&model.gcp, sa, audience, now, full)
        }
        other => {
            let i = state.issuers.by_name(other).ok_or_else(|| format!("no issuer named `{other}`"))?;
            let iat = now.unix_timestamp();
            serde_json::json!({"iss": i.iss, "aud": audience.unwrap_or("sts.amazonaws.com"), "sub": "cloudid", "iat": iat, "exp": iat + 3600, "jti": jti})
        }
    };
    tokens::apply_overrides(&mut claims, overrides);
    let own = state.issuers.by_name(issuer).and_then(|i| i.signer(now)).cloned();
    if req.header.is_empty() && req.duplicates.is_empty() && req.key.as_deref().is_none_or(|k| k == "issuer") {
        let key = own.ok_or_else(|| format!("issuer `{issuer}` has no signing key"))?;
        return Ok(key.sign(&claims, &Map::new()));
    }
    let choice: super::forge::KeyChoice = req.key.as_deref().unwrap_or("issuer").parse()?;
    let published: Vec<String> = state.issuers.all().iter().flat_map(|i| i.jwks(now)).filter_map(|k| k.kid).collect();
    let issuers = &state.issuers;
    super::forge::forge(&claims, &req.header, &req.duplicates, &choice, own.as_ref(), |name| match name {
        Some(n) => issuers.by_name(n).and_then(|i| i.signer(now)).cloned(),
        None => super::issuers::SigningKey::fixture("extra-issuer-1").filter(|k| !published.contains(&k.kid)).or_else(|| Some(super::issuers::SigningKey::generate())),
    })
}
