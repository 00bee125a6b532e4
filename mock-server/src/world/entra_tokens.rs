//! Entra ID access tokens for app-only identities (app registrations and managed identities), as
//! Entra issues them: v1.0 (`iss` `https://sts.windows.net/TID/`, `appid`, `x5t` in the header) or
//! v2.0 (`iss` `https://login.microsoftonline.com/TID/v2.0`, `azp`), by the resource's
//! `accessTokenAcceptedVersion`; `iat` and `nbf` five minutes back, as Entra backdates them.
//!
//! Which APIs tokens can be for: Azure's first-party resources (ARM, Graph, Storage, Key Vault,
//! …) and the tenant's app registrations by application ID URI or client id.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::azure::{Identity, IdentityKind, TenantModel};

/// Azure's first-party APIs tokens are commonly requested for (v1.0 tokens).
pub const FIRST_PARTY: &[&str] = &[
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://graph.microsoft.com",
    "https://storage.azure.com",
    "https://vault.azure.net",
    "https://database.windows.net",
    "https://ossrdbms-aad.database.windows.net",
    "https://cognitiveservices.azure.com",
    "https://eventhubs.azure.net",
    "https://servicebus.azure.net",
    "https://monitor.azure.com",
    "https://api.loganalytics.io",
    "https://dev.azure.com",
    "https://containerregistry.azure.net",
    "https://redis.azure.com",
    "https://kusto.kusto.windows.net",
    // The AKS Entra server application (kubelogin).
    "6dae42f8-4368-4678-94ff-3960e28e3630",
];

/// The API a token is requested for, as the tenant knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// `aud` of v1.0 tokens: the resource as requested.
    pub requested: String,
    /// The API's app registration client id (v2.0 tokens' `aud`), when it is the tenant's own.
    pub client_id: Option<String>,
    /// 1 or 2.
    pub version: u8,
}

impl Resource {
    /// `aud` of a token for this resource.
    pub fn audience(&self) -> String {
        match (&self.client_id, self.version) {
            (Some(id), 2) => id.clone(),
            _ => self.requested.clone(),
        }
    }
}

/// The resource `requested` (an App ID URI, a first-party API's URL, or a client id) names in
/// `tenant`, or `None` when the tenant has no such resource principal (AADSTS500011).
pub fn resource(tenant: &TenantModel, requested: &str) -> Option<Resource> {
    let trimmed = requested.strip_suffix('/').unwrap_or(requested);
    if trimmed.is_empty() || trimmed.ends_with('/') {
        return None;
    }
    if FIRST_PARTY.iter().any(|r| r.eq_ignore_ascii_case(trimmed)) {
        return Some(Resource { requested: requested.to_string(), client_id: None, version: 1 });
    }
    let app = tenant.applications.iter().find(|a| a.identifier_uris.iter().any(|u| u.trim_end_matches('/') == trimmed) || a.client_id().eq_ignore_ascii_case(trimmed))?;
    Some(Resource { requested: requested.to_string(), client_id: Some(app.client_id()), version: app.access_token_version.unwrap_or(1) })
}

/// How the client proved itself: `appidacr` / `azpacr` (0 public, 1 secret, 2 certificate or
/// managed identity; a federated assertion counts as 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client secret.
    Secret,
    /// A certificate, a federated assertion, or a managed identity.
    Certificate,
}

/// One issued access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The JWT.
    pub jwt: String,
    /// `iat` and `nbf` (Unix seconds).
    pub not_before: i64,
    /// `exp` (Unix seconds).
    pub expires_on: i64,
}

/// How far back Entra dates `iat` and `nbf`.
pub const BACKDATE_SECONDS: i64 = 300;

/// Opaque token-id text in Entra's alphabet (base64url), `n` characters from `rng`.
fn opaque(rng: &mut StdRng, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..n).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// Mints a token for `identity` of `tenant` for `resource`, living `lifetime` seconds from `now`,
/// signed by the tenant's issuer of the resource's version (from `state`'s issuers, its ids from
/// `state`'s generator); `None` if that issuer has no key.
pub fn mint(state: &mut super::WorldState, tenant: &TenantModel, identity: &Identity, resource: &Resource, auth: ClientAuth, lifetime: i64, now: OffsetDateTime) -> Option<AccessToken> {
    let v2 = resource.version == 2;
    let super::WorldState { issuers, rng, .. } = state;
    let issuer = issuers.by_name(&if v2 { tenant.issuer_name() } else { tenant.v1_issuer_name() })?;
    let key = issuer.signer(now)?;
    let t = now.unix_timestamp();
    let (not_before, expires_on) = (t - BACKDATE_SECONDS, t + lifetime);
    let tid = tenant.tenant_id();
    let acr = match auth {
        ClientAuth::Secret => "1",
        ClientAuth::Certificate => "2",
    };
    let mut claims = Map::new();
    let mut put = |k: &str, v: Value| {
        claims.insert(k.into(), v);
    };
    put("aud", json!(resource.audience()));
    put("iss", json!(issuer.iss));
    put("iat", json!(not_before));
    put("nbf", json!(not_before));
    put("exp", json!(expires_on));
    put("aio", json!(opaque(rng, 56)));
    if v2 {
        put("azp", json!(identity.client_id));
        put("azpacr", json!(acr));
    } else {
        put("appid", json!(identity.client_id));
        put("appidacr", json!(acr));
        put("idp", json!(issuer.iss));
    }
    put("idtyp", json!("app"));
    put("oid", json!(identity.object_id));
    put("rh", json!(format!("1.{}.", opaque(rng, 54))));
    put("sub", json!(identity.object_id));
    put("tid", json!(tid));
    put("uti", json!(opaque(rng, 22)));
    put("ver", json!(if v2 { "2.0" } else { "1.0" }));
    if identity.kind != IdentityKind::Application
        && let Some(id) = &identity.resource_id
    {
        put("xms_mirid", json!(id));
    }
    put("xms_tcdt", json!(tenant_created(&tid).to_string()));
    let mut header = Map::new();
    if !v2 {
        header.insert("x5t".into(), json!(key.x5t));
    }
    Some(AccessToken { jwt: key.sign(&Value::Object(claims), &header), not_before, expires_on })
}

/// A tenant's creation time (`xms_tcdt`), derived from its id: some day in 2015–2024.
fn tenant_created(tid: &str) -> i64 {
    1_420_070_400 + i64::try_from(crate::ids::stable_number(tid) % (10 * 365 * 86_400)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::jwt;

    fn tenant() -> TenantModel {
        yaml_serde::from_str("name: acme\napplications:\n  - {name: api, identifier_uris: ['api://acme-api'], access_token_version: 2}\n  - {name: legacy, identifier_uris: ['api://legacy']}\n")
            .unwrap()
    }

    #[test]
    fn resources_are_first_party_apis_or_the_tenants_apps_and_nothing_else() {
        let t = tenant();
        assert_eq!(resource(&t, "https://management.azure.com/").unwrap().audience(), "https://management.azure.com/");
        let api = resource(&t, "api://acme-api").unwrap();
        assert_eq!((api.version, api.audience()), (2, t.applications[0].client_id()));
        assert_eq!(resource(&t, "api://legacy/").unwrap().audience(), "api://legacy/", "v1.0 tokens carry the resource as requested");
        assert_eq!(resource(&t, "api://nobody"), None);
        assert_eq!(resource(&t, ""), None);
        assert_eq!(resource(&t, "https://vault.azure.net//"), None, "one trailing slash at most");
    }

    #[test]
    fn minted_tokens_carry_entras_claims_and_verify_against_the_tenants_keys() {
        let mut model = crate::world::default_world();
        model.azure.tenants = vec![tenant()];
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_500);
        let mut state = crate::world::WorldState::new(&model, now);
        let t = &model.azure.tenants[0];
        let id = t.applications[1].identity();
        let v1 = mint(&mut state, t, &id, &resource(t, "https://vault.azure.net").unwrap(), ClientAuth::Secret, 3599, now).unwrap();
        let d = jwt::decode(&v1.jwt).unwrap();
        assert_eq!(d.str_claim("iss"), Some(t.v1_iss().as_str()));
        assert_eq!((d.str_claim("appid"), d.str_claim("appidacr"), d.str_claim("ver")), (Some(id.client_id.as_str()), Some("1"), Some("1.0")));
        assert_eq!(d.claims["nbf"], json!(now.unix_timestamp() - 300));
        assert!(d.verify(&state.issuers.by_iss(&t.v1_iss()).unwrap().keys(now)).is_ok());
        let v2 = mint(&mut state, t, &id, &resource(t, "api://acme-api").unwrap(), ClientAuth::Certificate, 3599, now).unwrap();
        let d = jwt::decode(&v2.jwt).unwrap();
        assert_eq!((d.str_claim("iss"), d.str_claim("azpacr"), d.str_claim("appid")), (Some(t.v2_iss().as_str()), Some("2"), None));
        assert_eq!(d.header.kid.as_deref(), Some(state.issuers.by_name(&t.issuer_name()).unwrap().active.as_ref().unwrap().x5t.as_str()), "Entra names keys by thumbprint");
    }
}
