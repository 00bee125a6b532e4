//! The Azure Instance Metadata Service at 169.254.169.254, beside EC2's IMDS and Google's
//! metadata server (told apart by path: `/metadata/…`): the managed identity token endpoint
//! (`/metadata/identity/oauth2/token`), the instance document (`/metadata/instance`), and
//! `/metadata/identity/info` and `/metadata/versions`, for the world's `azure.vm`.
//!
//! Requests must carry `Metadata: true` and no `X-Forwarded-For`, name a known `api-version`
//! and, for a token, a `resource`; the identity is the one `client_id`, `object_id` or
//! `msi_res_id` names, else the system-assigned one, else the only user-assigned one. Every
//! refusal is a 400 in IMDS's `{"error", "error_description"}` shape, as IMDS answers design-time
//! errors (clients retry 404, 410, 429 and 5xx). Tokens are Entra's v1.0 managed-identity tokens,
//! living 24 hours (the machine's `token_lifetime_seconds`), every field of the answer a string (the Rust SDK requires `expires_on` as
//! one). Sources: docs/fidelity.md, "Azure IMDS".

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Issued, IssuedKind, Note, Verdict};
use crate::world::azure::{Selector, Unpicked, VM_PROVIDER};
use crate::world::entra_tokens::{self, ClientAuth};

/// The routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/metadata/identity/oauth2/token", any(token))
        // msal-node appends a slash when AZURE_POD_IDENTITY_AUTHORITY_HOST moves the endpoint, and
        // AAD Pod Identity's NMI (what that variable was for) serves both forms.
        .route("/metadata/identity/oauth2/token/", any(token))
        .route("/metadata/identity/info", any(info))
        .route("/metadata/instance", any(instance))
        .route("/metadata/instance/{*rest}", any(instance))
        .route("/metadata/versions", any(versions))
}

/// The Azure IMDS as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AzureImds;

impl Slice for AzureImds {
    fn service(&self) -> Service {
        Service::AzureImds
    }
}

/// IMDS API versions, newest first (the instance metadata documentation's list).
const VERSIONS: &[&str] = &[
    "2025-04-07",
    "2024-07-17",
    "2024-03-15",
    "2023-11-15",
    "2023-07-01",
    "2021-12-13",
    "2021-11-15",
    "2021-11-01",
    "2021-10-01",
    "2021-08-01",
    "2021-05-01",
    "2021-03-01",
    "2021-02-01",
    "2021-01-01",
    "2020-12-01",
    "2020-10-01",
    "2020-09-01",
    "2020-07-15",
    "2020-06-01",
    "2019-11-01",
    "2019-08-15",
    "2019-08-01",
    "2019-06-04",
    "2019-06-01",
    "2019-04-30",
    "2019-03-11",
    "2019-02-01",
    "2018-10-01",
    "2018-04-02",
    "2018-02-01",
    "2017-12-01",
    "2017-10-01",
    "2017-08-01",
    "2017-04-02",
    "2017-03-01",
];

/// The first version serving `/metadata/identity`.
const FIRST_IDENTITY_VERSION: &str = "2018-02-01";

fn json_answer(status: StatusCode, body: &Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response()
}

/// A refusal in the identity endpoint's shape.
fn refuse(mut note: Note, check: &'static str, detail: String, error: &str, description: &str) -> Answer {
    note.checks.push(Check::fail(check, detail));
    note.verdict = Verdict::Denied;
    noted(json_answer(StatusCode::BAD_REQUEST, &json!({"error": error, "error_description": description})), note)
}

/// The query's parameters in order, decoded.
fn params(query: Option<&str>) -> Vec<(String, String)> {
    let decode = crate::percent::decode_form;
    query.unwrap_or("").split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').map_or_else(|| (decode(p), String::new()), |(k, v)| (decode(k), decode(v)))).collect()
}

fn get<'a>(params: &'a [(String, String)], k: &str) -> Option<&'a str> {
    params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The checks every IMDS request passes first: GET, `Metadata: true`, no `X-Forwarded-For`,
/// no repeated parameter, a known `api-version` (at least `min`).
fn gate(mut note: Note, method: &Method, headers: &HeaderMap, params: &[(String, String)], min: &str) -> Result<Note, Box<Answer>> {
    let fail = |mut note: Note, check: Check, body: Value, status| {
        note.checks.push(check);
        note.verdict = Verdict::Denied;
        Err(Box::new(noted(json_answer(status, &body), note)))
    };
    if method != Method::GET {
        return fail(
            note,
            Check::fail("azure_imds.method", format!("{method} is not GET")),
            json!({"error": "method_not_allowed", "error_description": "The following HTTP verbs are currently supported: GET"}),
            StatusCode::METHOD_NOT_ALLOWED,
        );
    }
    let metadata = headers.get("metadata").and_then(|v| v.to_str().ok());
    if !metadata.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        let why = metadata.map_or_else(|| "no Metadata header (a probe, or a client that is not an IMDS client)".to_string(), |v| format!("Metadata is `{v}`, not `true`"));
        return fail(note, Check::fail("azure_imds.metadata_header", why), json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}), StatusCode::BAD_REQUEST);
    }
    note.checks.push(Check::passed("azure_imds.metadata_header"));
    if headers.contains_key("x-forwarded-for") {
        return fail(
            note,
            Check::fail("azure_imds.no_forwarded_for", "the request carries X-Forwarded-For: IMDS refuses requests that came through a proxy"),
            json!({"error": "invalid_request", "error_description": "Request contains X-Forwarded-For header"}),
            StatusCode::BAD_REQUEST,
        );
    }
    if let Some((dup, _)) = params.iter().enumerate().find(|(i, (k, _))| params[..*i].iter().any(|(o, _)| o == k)).map(|(_, p)| p) {
        return fail(
            note,
            Check::fail("azure_imds.query", format!("`{dup}` is repeated: IMDS rejects duplicate query parameter names")),
            json!({"error": "invalid_request", "error_description": format!("Duplicate query parameter '{dup}'")}),
            StatusCode::BAD_REQUEST,
        );
    }
    let version = get(params, "api-version");
    if !version.is_some_and(|v| VERSIONS.contains(&v) && v >= min) {
        let why = version.map_or_else(|| "no api-version".to_string(), |v| format!("api-version `{v}` is not one IMDS serves here (from {min}; newest {})", VERSIONS[0]));
        return fail(
            note,
            Check::fail("azure_imds.api_version", why),
            json!({"error": "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds", "newest-versions": &VERSIONS[..3]}),
            StatusCode::BAD_REQUEST,
        );
    }
    note.checks.push(Check::passed("azure_imds.api_version"));
    Ok(note)
}

async fn token(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &AzureImds, req.method(), req.uri().path(), issue(&shared, &req))
}

fn issue(shared: &Shared, req: &Request) -> Answer {
    let params = params(req.uri().query());
    let mut note = match gate(Note::new("azure_imds", "GetManagedIdentityToken", Verdict::Error), req.method(), req.headers(), &params, FIRST_IDENTITY_VERSION) {
        Ok(n) => n,
        Err(refused) => return *refused,
    };
    let azure = &shared.model.azure;
    let (Some(vm), Some(tenant)) = (azure.vm.as_ref(), azure.home_tenant()) else {
        return refuse(note, "azure_imds.identity", "the world has no azure.vm: this machine has no managed identity".into(), "invalid_request", "Identity not found");
    };
    let Some(resource) = get(&params, "resource").filter(|r| !r.is_empty()) else {
        return refuse(note, "azure_imds.resource", "no resource parameter".into(), "invalid_request", "Required query variable 'resource' is missing");
    };
    let selectors: Vec<Selector> = params
        .iter()
        .filter_map(|(k, v)| match k.as_str() {
            "client_id" => Some(Selector::ClientId(v.clone())),
            "object_id" => Some(Selector::ObjectId(v.clone())),
            "msi_res_id" | "mi_res_id" => Some(Selector::ResourceId(v.clone())),
            _ => None,
        })
        .collect();
    if selectors.len() > 1 {
        return refuse(
            note,
            "azure_imds.identity",
            "more than one of client_id, object_id and msi_res_id".into(),
            "invalid_request",
            "Only one of client_id, object_id or msi_res_id may be specified",
        );
    }
    let identity = match azure.pick(vm, VM_PROVIDER, selectors.first()) {
        Ok(i) => i,
        Err(Unpicked::NotFound) => {
            let why = match selectors.first() {
                Some(s) => format!("no identity attached to VM `{}` matches {s:?}", vm.name),
                None => format!("VM `{}` has no system-assigned and no user-assigned identity", vm.name),
            };
            return refuse(note, "azure_imds.identity", why, "invalid_request", "Identity not found");
        }
        Err(Unpicked::Ambiguous) => {
            return refuse(
                note,
                "azure_imds.identity",
                format!("VM `{}` has {} user-assigned identities and no system-assigned one; the request names none", vm.name, vm.user_assigned.len()),
                "invalid_request",
                "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
            );
        }
    };
    note.checks.push(Check::pass("azure_imds.identity", format!("{:?} `{}` ({})", identity.kind, identity.name, identity.client_id)));
    note.principal = Some(identity.object_id.clone());
    let Some(res) = entra_tokens::resource(tenant, resource) else {
        let (trace, correlation) = (shared.request_id(), shared.request_id());
        let stamp = crate::clock::iso8601(shared.clock.now()).replace('T', " ");
        let text = format!(
            "AADSTS500011: The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant. Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}",
            tenant.name
        );
        return refuse(note, "azure_imds.resource", format!("`{resource}` is neither an Azure API nor an application ID URI of tenant `{}`", tenant.name), "invalid_resource", &text);
    };
    note.checks.push(Check::pass("azure_imds.resource", format!("v{} token for {}", res.version, res.audience())));
    let now = shared.clock.now();
    let minted = { entra_tokens::mint(&mut shared.state(), tenant, &identity, &res, ClientAuth::Certificate, i64::from(vm.token_lifetime_seconds), now) };
    let Some(t) = minted else {
        note.checks.push(Check::fail("azure_imds.token", format!("tenant `{}` has no signing key", tenant.name)));
        return noted(json_answer(StatusCode::INTERNAL_SERVER_ERROR, &json!({"error": "unknown", "error_description": "Failed to retrieve token from the Active directory"})), note);
    };
    let expires_at = time::OffsetDateTime::from_unix_timestamp(t.expires_on).unwrap_or(now);
    note.issued = Some(Arc::new(Issued::jwt(IssuedKind::AzureAccessToken, &t.jwt, &identity.object_id, &res.audience(), expires_at)));
    note.verdict = Verdict::Granted;
    let body = json!({
        "access_token": t.jwt,
        "client_id": identity.client_id,
        "expires_in": (t.expires_on - now.unix_timestamp()).to_string(),
        "expires_on": t.expires_on.to_string(),
        "ext_expires_in": (i64::from(vm.token_lifetime_seconds) - 1).to_string(),
        "not_before": t.not_before.to_string(),
        "resource": resource,
        "token_type": "Bearer",
    });
    noted(json_answer(StatusCode::OK, &body), note)
}

async fn info(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &AzureImds, req.method(), req.uri().path(), info_answer(&shared, &req))
}

fn info_answer(shared: &Shared, req: &Request) -> Answer {
    let params = params(req.uri().query());
    let mut note = match gate(Note::new("azure_imds", "GetIdentityInfo", Verdict::Error), req.method(), req.headers(), &params, FIRST_IDENTITY_VERSION) {
        Ok(n) => n,
        Err(refused) => return *refused,
    };
    let Some(tenant) = shared.model.azure.home_tenant().filter(|_| shared.model.azure.vm.is_some()) else {
        return refuse(note, "azure_imds.identity", "the world has no azure.vm".into(), "invalid_request", "Identity not found");
    };
    note.verdict = Verdict::Served;
    noted(json_answer(StatusCode::OK, &json!({"tenantId": tenant.tenant_id()})), note)
}

async fn versions(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let mut note = Note::new("azure_imds", "GetVersions", Verdict::Served);
    note.checks.push(Check::passed("azure_imds.path"));
    let mut listed: Vec<&str> = VERSIONS.to_vec();
    listed.reverse();
    let answer = noted(json_answer(StatusCode::OK, &json!({"apiVersions": listed})), note);
    crate::exchange::serve!(shared, &AzureImds, req.method(), req.uri().path(), answer)
}

async fn instance(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &AzureImds, req.method(), req.uri().path(), instance_answer(&shared, &req))
}

/// The instance document (the 2021-02-01 schema: every primitive a string).
fn document(shared: &Shared) -> Option<Value> {
    let azure = &shared.model.azure;
    let vm = azure.vm.as_ref()?;
    let sub = azure.subscription();
    let vm_id = crate::world::azure::guid(&format!("vm-id:{}", vm.name));
    Some(json!({
        "compute": {
            "azEnvironment": "AzurePublicCloud",
            "customData": "",
            "evictionPolicy": "",
            "isHostCompatibilityLayerVm": "false",
            "licenseType": "",
            "location": vm.location,
            "name": vm.name,
            "offer": "ubuntu-24_04-lts",
            "osProfile": {"adminUsername": "azureuser", "computerName": vm.name, "disablePasswordAuthentication": "true"},
            "osType": "Linux",
            "placementGroupId": "",
            "plan": {"name": "", "product": "", "publisher": ""},
            "platformFaultDomain": "0",
            "platformUpdateDomain": "0",
            "priority": "",
            "provider": "Microsoft.Compute",
            "publicKeys": [],
            "publisher": "canonical",
            "resourceGroupName": vm.resource_group,
            "resourceId": vm.resource_id(&sub, VM_PROVIDER),
            "securityProfile": {"secureBootEnabled": "true", "virtualTpmEnabled": "true"},
            "sku": "server",
            "storageProfile": {"dataDisks": [], "imageReference": {"id": "", "offer": "ubuntu-24_04-lts", "publisher": "canonical", "sku": "server", "version": "latest"}},
            "subscriptionId": sub,
            "tags": "",
            "tagsList": [],
            "userData": "",
            "version": "24.04.202511050",
            "vmId": vm_id,
            "vmScaleSetName": "",
            "vmSize": "Standard_B2s",
            "zone": ""
        },
        "network": {"interface": [{"ipv4": {"ipAddress": [{"privateIpAddress": "10.0.0.4", "publicIpAddress": ""}], "subnet": [{"address": "10.0.0.0", "prefix": "24"}]}, "ipv6": {"ipAddress": []}, "macAddress": "000D3A1B2C3D"}]}
    }))
}

fn instance_answer(shared: &Shared, req: &Request) -> Answer {
    let params = params(req.uri().query());
    let mut note = match gate(Note::new("azure_imds", "GetInstanceMetadata", Verdict::Error), req.method(), req.headers(), &params, VERSIONS[VERSIONS.len() - 1]) {
        Ok(n) => n,
        Err(refused) => return *refused,
    };
    let Some(doc) = document(shared) else {
        note.checks.push(Check::fail("azure_imds.path", "the world has no azure.vm"));
        return noted(json_answer(StatusCode::NOT_FOUND, &json!({"error": "Not found"})), note);
    };
    let rest = req.uri().path().trim_start_matches("/metadata/instance").trim_matches('/');
    let mut node = &doc;
    for segment in rest.split('/').filter(|s| !s.is_empty()) {
        let next = match node {
            Value::Object(m) => m.get(segment),
            Value::Array(a) => segment.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        let Some(next) = next else {
            note.checks.push(Check::fail("azure_imds.path", format!("no `{segment}` under /metadata/instance/{rest}")));
            return noted(json_answer(StatusCode::NOT_FOUND, &json!({"error": "Not found"})), note);
        };
        node = next;
    }
    note.checks.push(Check::passed("azure_imds.path"));
    let text = get(&params, "format") == Some("text");
    let leaf = !node.is_object() && !node.is_array();
    note.verdict = Verdict::Served;
    match (leaf, text) {
        (true, true) => noted((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], node.as_str().unwrap_or_default().to_string()).into_response(), note),
        (true, false) => {
            note.checks.push(Check::fail("azure_imds.path", "a leaf needs format=text"));
            note.verdict = Verdict::Denied;
            noted(json_answer(StatusCode::BAD_REQUEST, &json!({"error": "Bad request. Query parameter 'format' must be 'text' for leaf nodes. For more information refer to aka.ms/azureimds"})), note)
        }
        _ => noted(json_answer(StatusCode::OK, node), note),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_keep_their_order_and_repeats() {
        let p = params(Some("api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net&resource=x"));
        assert_eq!(p.len(), 3);
        assert_eq!(get(&p, "resource"), Some("https://vault.azure.net"));
    }

    #[test]
    fn versions_are_listed_newest_first_and_identity_starts_in_2018() {
        assert!(VERSIONS.windows(2).all(|w| w[0] > w[1]));
        assert!(VERSIONS.contains(&FIRST_IDENTITY_VERSION) && VERSIONS.contains(&"2019-08-01"));
    }
}
