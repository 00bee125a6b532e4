//! Microsoft Entra ID at `login.microsoftonline.com` (and `sts.windows.net`, which serves the
//! v1.0 issuer's documents): tenant discovery (`/{tenant}/v2.0/.well-known/openid-configuration`,
//! `/{tenant}/.well-known/openid-configuration`), the key sets (`/{tenant}/discovery/v2.0/keys`,
//! `/{tenant}/discovery/keys`), instance discovery (`/common/discovery/instance`, which MSAL
//! Python calls after every failed token request), and the token endpoint
//! (`POST /{tenant}/oauth2/v2.0/token`, [`token`]).
//!
//! A tenant is named by its GUID or its `NAME.onmicrosoft.com` domain; documents carry the GUID.
//! URLs in the documents are on the host the request named (`https://`: every client refuses a
//! plain-HTTP authority). Sources: docs/fidelity.md, "Entra ID".

mod error;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Note, Verdict};
use crate::world::azure::TenantModel;
pub(crate) use error::Aadsts;

/// The real host of Entra ID.
pub(crate) const HOST: &str = "login.microsoftonline.com";

use crate::hostnames::ENTRA_HOSTS as ALIASES;

/// The routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/common/discovery/instance", get(instance))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(|s, t, r| document(s, t, r, Doc::V2)))
        .route("/{tenant}/.well-known/openid-configuration", get(|s, t, r| document(s, t, r, Doc::V1)))
        .route("/{tenant}/discovery/v2.0/keys", get(|s, t, r| document(s, t, r, Doc::Keys)))
        .route("/{tenant}/discovery/keys", get(|s, t, r| document(s, t, r, Doc::Keys)))
        .route("/{tenant}/oauth2/v2.0/token", post(token::token))
}

/// Entra as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entra;

impl Slice for Entra {
    fn service(&self) -> Service {
        Service::Entra
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Doc {
    V2,
    V1,
    Keys,
}

/// The tenant `name` (a GUID or a domain) names, or the refusal Entra gives.
pub(crate) fn tenant<'a>(shared: &'a Shared, name: &str) -> Result<&'a TenantModel, Aadsts> {
    if let Some(t) = shared.model.azure.tenant(name) {
        return Ok(t);
    }
    let guid = crate::world::azure::is_guid(name);
    let domain = name.contains('.') && name.split('.').all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if is_multi_tenant(name) {
        return Err(Aadsts::new("invalid_request", 50_059, "No tenant-identifying information found in either the request or implied by any provided credentials."));
    }
    if guid || domain { Err(error::tenant_not_found(name)) } else { Err(error::bad_tenant(name)) }
}

/// Whether `name` is one of Entra's multi-tenant authorities, whose documents carry `{tenantid}`.
fn is_multi_tenant(name: &str) -> bool {
    matches!(name.to_ascii_lowercase().as_str(), "common" | "organizations" | "consumers")
}

/// `https://HOST` of the request (Entra's own host when the request named none).
fn origin(req: &Request) -> String {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or(HOST);
    format!("https://{host}")
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8"), (header::CACHE_CONTROL, "max-age=86400, private")], body.to_string()).into_response()
}

/// The answer for a refusal `why`, journaled under `check`.
pub(crate) fn refused(shared: &Shared, mut note: Note, check: &'static str, detail: String, why: &Aadsts, correlation: Option<&str>) -> Answer {
    note.checks.push(Check::fail(check, format!("{}: {detail}", why.headline().split(':').next().unwrap_or_default())));
    note.verdict = Verdict::Denied;
    let trace = shared.request_id();
    let correlation = correlation.map_or_else(|| shared.request_id(), str::to_string);
    noted(why.response(&trace, &correlation, shared.clock.now()), note)
}

async fn document(State(shared): State<Arc<Shared>>, Path(name): Path<String>, req: Request, doc: Doc) -> Response {
    crate::exchange::serve!(shared, &Entra, req.method(), req.uri().path(), answer_document(&shared, &name, &req, doc))
}

fn answer_document(shared: &Shared, name: &str, req: &Request, doc: Doc) -> Answer {
    let operation = match doc {
        Doc::V2 | Doc::V1 => "GetOpenIdConfiguration",
        Doc::Keys => "GetKeys",
    };
    let note = Note::new("entra", operation, Verdict::Error);
    if is_multi_tenant(name)
        && let Some(any) = shared.model.azure.tenants.first()
    {
        // The multi-tenant documents: `{tenantid}` where a tenant's id would be, Entra's shared keys.
        let mut template = any.clone();
        template.id = Some("{tenantid}".into());
        let mut note = note;
        note.checks.push(Check::pass("entra.tenant", format!("{name} (multi-tenant)")));
        return tenant_document(shared, &template, &name.to_ascii_lowercase(), req, doc, note);
    }
    let t = match tenant(shared, name) {
        Ok(t) => t,
        Err(why) if doc != Doc::Keys && why.code == 90_002 => {
            let why = Aadsts::new("invalid_tenant", why.code, why.text);
            return refused(shared, note, "entra.tenant", format!("no tenant `{name}` in the world"), &why, None);
        }
        Err(why) => return refused(shared, note, "entra.tenant", format!("no tenant `{name}` in the world"), &why, None),
    };
    let mut note = note;
    note.checks.push(Check::pass("entra.tenant", t.name.clone()));
    tenant_document(shared, t, &t.tenant_id(), req, doc, note)
}

/// Document `doc` of tenant `t`, its URLs under `/{path}/` (the tenant id, or `common`…).
fn tenant_document(shared: &Shared, t: &TenantModel, path: &str, req: &Request, doc: Doc, mut note: Note) -> Answer {
    note.verdict = Verdict::Served;
    let (o, tid) = (origin(req), t.tenant_id());
    let body = match doc {
        Doc::Keys => {
            let now = shared.clock.now();
            let state = shared.state();
            let keys: Vec<Value> = state
                .issuers
                .by_name(&t.issuer_name())
                .map(|i| i.jwks(now))
                .unwrap_or_default()
                .into_iter()
                .map(|k| {
                    let mut v = serde_json::to_value(&k).unwrap_or_default();
                    if let Some(m) = v.as_object_mut() {
                        m.remove("alg");
                        m.insert("use".into(), json!("sig"));
                        m.insert("issuer".into(), json!(format!("https://login.microsoftonline.com/{tid}/v2.0")));
                    }
                    v
                })
                .collect();
            json!({"keys": keys})
        }
        Doc::V2 | Doc::V1 => {
            // The two versions' documents share most fields; the v2.0 paths carry `v2.0/`.
            let (v, iss) = if doc == Doc::V2 { ("v2.0/", t.v2_iss()) } else { ("", t.v1_iss()) };
            let mut d = json!({
                "token_endpoint": format!("{o}/{path}/oauth2/{v}token"),
                "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
                "jwks_uri": format!("{o}/{path}/discovery/{v}keys"),
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "issuer": iss,
                "authorization_endpoint": format!("{o}/{path}/oauth2/{v}authorize"),
                "device_authorization_endpoint": format!("{o}/{path}/oauth2/{v}devicecode"),
                "http_logout_supported": true,
                "frontchannel_logout_supported": true,
                "end_session_endpoint": format!("{o}/{path}/oauth2/{v}logout"),
                "kerberos_endpoint": format!("{o}/{path}/kerberos"),
                "tenant_region_scope": "AS",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net"
            });
            let own = if doc == Doc::V2 {
                json!({
                    "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                    "request_uri_parameter_supported": false,
                    "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                    "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"]
                })
            } else {
                json!({
                    "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
                    "scopes_supported": ["openid"],
                    "microsoft_multi_refresh_token": true,
                    "check_session_iframe": format!("{o}/{path}/oauth2/checksession"),
                    "userinfo_endpoint": format!("{o}/{path}/openid/userinfo"),
                    "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"]
                })
            };
            if let (Some(d), Value::Object(own)) = (d.as_object_mut(), own) {
                d.extend(own);
            }
            d
        }
    };
    noted(json_response(StatusCode::OK, &body), note)
}

async fn instance(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &Entra, req.method(), req.uri().path(), answer_instance(&shared, &req))
}

/// Instance discovery: the public cloud's metadata for an authority on one of its hosts (or the
/// host the request came to), `invalid_instance` otherwise.
fn answer_instance(shared: &Shared, req: &Request) -> Answer {
    let mut note = Note::new("entra", "DiscoverInstance", Verdict::Error);
    let query = req.uri().query().unwrap_or("");
    let endpoint = crate::percent::param(query, "authorization_endpoint").unwrap_or_default();
    let own = origin(req);
    let rest = endpoint.strip_prefix("https://").unwrap_or_default();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let known = ALIASES.contains(&host.to_ascii_lowercase().as_str()) || format!("https://{host}") == own;
    if !known {
        let why = Aadsts::new("invalid_instance", 50_049, "Unknown or invalid instance.");
        return refused(shared, note, "entra.instance", format!("authorization_endpoint `{endpoint}` is not on an Entra host"), &why, None);
    }
    note.checks.push(Check::pass("entra.instance", host.to_string()));
    note.verdict = Verdict::Served;
    let tenant = path.split('/').next().filter(|t| !t.is_empty()).unwrap_or("common");
    let body = json!({
        "tenant_discovery_endpoint": format!("https://{host}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": crate::percent::param(query, "api-version").unwrap_or_else(|| "1.1".into()),
        "metadata": [
            {"preferred_network": "login.microsoftonline.com", "preferred_cache": "login.windows.net", "aliases": ALIASES},
            {"preferred_network": "login.partner.microsoftonline.cn", "preferred_cache": "login.partner.microsoftonline.cn", "aliases": ["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"]},
            {"preferred_network": "login.microsoftonline.us", "preferred_cache": "login.microsoftonline.us", "aliases": ["login.microsoftonline.us", "login.usgovcloudapi.net"]}
        ]
    });
    noted(json_response(StatusCode::OK, &body), note)
}
