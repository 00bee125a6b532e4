//! The App Service (and Functions, Container Apps) managed identity endpoint: what
//! `IDENTITY_ENDPOINT` (`http://localhost:42356/msi/token` here, as Container Apps has it) and
//! `IDENTITY_HEADER` point an app at, protocol `2019-08-01`, for the world's `azure.app_service`.
//!
//! A request must carry `X-IDENTITY-HEADER` equal to the platform's `IDENTITY_HEADER`, name
//! `api-version=2019-08-01` and a `resource`, and at most one of `client_id`, `principal_id`
//! (`object_id`) and `mi_res_id`; no id means the system-assigned identity. The answer is
//! `{access_token, expires_on, resource, token_type, client_id}`, `expires_on` an epoch-seconds
//! string; errors are `{statusCode, message, correlationId}`, a resource Entra does not know a
//! 500 as App Service gives it. Sources: docs/fidelity.md, "App Service identity endpoint".

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Issued, IssuedKind, Note, Verdict};
use crate::world::azure::{APP_SERVICE_PROVIDER, AzureModel, Selector, Unpicked};
use crate::world::entra_tokens::{self, ClientAuth};

/// The endpoint's path.
pub const PATH: &str = "/msi/token";

/// The route.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route(PATH, any(token))
}

/// The App Service identity endpoint as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppServiceIdentity;

impl Slice for AppServiceIdentity {
    fn service(&self) -> Service {
        Service::AppServiceIdentity
    }
}

async fn token(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &AppServiceIdentity, req.method(), req.uri().path(), answer(&shared, &req))
}

fn error(shared: &Shared, mut note: Note, check: &'static str, status: StatusCode, detail: String, message: &str) -> Answer {
    note.checks.push(Check::fail(check, detail));
    note.verdict = if status.is_server_error() { Verdict::Error } else { Verdict::Denied };
    let body = json!({"statusCode": status.as_u16(), "message": message, "correlationId": shared.request_id()});
    noted((status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response(), note)
}

fn answer(shared: &Shared, req: &Request) -> Answer {
    let mut note = Note::new("app_service_identity", "GetManagedIdentityToken", Verdict::Error);
    let azure = &shared.model.azure;
    let (Some(app), Some(tenant)) = (azure.app_service.as_ref(), azure.home_tenant()) else {
        return error(shared, note, "app_service.identity", StatusCode::NOT_FOUND, "the world has no azure.app_service".into(), "No managed identity endpoint is configured for this app.");
    };
    if req.method() != Method::GET {
        return error(shared, note, "app_service.method", StatusCode::METHOD_NOT_ALLOWED, format!("{} is not GET", req.method()), "The requested resource does not support this method.");
    }
    let expected = AzureModel::identity_header(shared.model.seed);
    let given = req.headers().get("x-identity-header").and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        let why = if given.is_some() { "X-IDENTITY-HEADER is not this app's IDENTITY_HEADER" } else { "no X-IDENTITY-HEADER (the value of IDENTITY_HEADER)" };
        return error(shared, note, "app_service.identity_header", StatusCode::UNAUTHORIZED, why.into(), "Unauthorized: X-IDENTITY-HEADER is missing or not this app's IDENTITY_HEADER.");
    }
    note.checks.push(Check::passed("app_service.identity_header"));
    let params: Vec<(String, String)> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or_else(|| (crate::percent::decode_form(p), String::new()), |(k, v)| (crate::percent::decode_form(k), crate::percent::decode_form(v))))
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("api-version") != Some("2019-08-01") {
        let why = get("api-version").map_or_else(|| "no api-version".to_string(), |v| format!("api-version `{v}`: this endpoint speaks 2019-08-01"));
        return error(shared, note, "app_service.api_version", StatusCode::BAD_REQUEST, why, "The api-version is missing or not supported. Use api-version=2019-08-01.");
    }
    let Some(resource) = get("resource").filter(|r| !r.is_empty()) else {
        return error(shared, note, "app_service.resource", StatusCode::BAD_REQUEST, "no resource parameter".into(), "The resource parameter is missing.");
    };
    let selectors: Vec<Selector> = params
        .iter()
        .filter_map(|(k, v)| match k.as_str() {
            "client_id" => Some(Selector::ClientId(v.clone())),
            "principal_id" | "object_id" => Some(Selector::ObjectId(v.clone())),
            "mi_res_id" => Some(Selector::ResourceId(v.clone())),
            _ => None,
        })
        .collect();
    if selectors.len() > 1 {
        return error(
            shared,
            note,
            "app_service.identity",
            StatusCode::BAD_REQUEST,
            "more than one identity parameter".into(),
            "Only one of client_id, principal_id, object_id or mi_res_id may be specified.",
        );
    }
    let identity = match azure.pick(app, APP_SERVICE_PROVIDER, selectors.first()) {
        Ok(i) => i,
        Err(Unpicked::NotFound | Unpicked::Ambiguous) if selectors.is_empty() => {
            return error(shared, note, "app_service.identity", StatusCode::BAD_REQUEST, format!("app `{}` has no system-assigned identity", app.name), "No Managed Identity found for the app.");
        }
        Err(_) => {
            return error(
                shared,
                note,
                "app_service.identity",
                StatusCode::BAD_REQUEST,
                format!("no identity attached to app `{}` matches {:?}", app.name, selectors[0]),
                "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.",
            );
        }
    };
    note.checks.push(Check::pass("app_service.identity", format!("{:?} `{}` ({})", identity.kind, identity.name, identity.client_id)));
    note.principal = Some(identity.object_id.clone());
    let Some(res) = entra_tokens::resource(tenant, resource) else {
        return error(
            shared,
            note,
            "app_service.resource",
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("`{resource}` is neither an Azure API nor an application ID URI of tenant `{}` (Entra: AADSTS500011; App Service says only this)", tenant.name),
            "An unexpected error occured while fetching the AAD Token.",
        );
    };
    let now = shared.clock.now();
    let minted = { entra_tokens::mint(&mut shared.state(), tenant, &identity, &res, ClientAuth::Certificate, i64::from(app.token_lifetime_seconds), now) };
    let Some(t) = minted else {
        return error(shared, note, "app_service.resource", StatusCode::INTERNAL_SERVER_ERROR, "the tenant has no signing key".into(), "An unexpected error occured while fetching the AAD Token.");
    };
    note.checks.push(Check::pass("app_service.resource", format!("v{} token for {}", res.version, res.audience())));
    let expires_at = time::OffsetDateTime::from_unix_timestamp(t.expires_on).unwrap_or(now);
    note.issued = Some(Arc::new(Issued::jwt(IssuedKind::AzureAccessToken, &t.jwt, &identity.object_id, &res.audience(), expires_at)));
    note.verdict = Verdict::Granted;
    let body = json!({"access_token": t.jwt, "expires_on": t.expires_on.to_string(), "resource": resource, "token_type": "Bearer", "client_id": identity.client_id});
    noted((StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response(), note)
}
