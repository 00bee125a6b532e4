//! The GCP metadata server (Compute Engine / Cloud Run), as a workload sees it at
//! `metadata.google.internal`: `/computeMetadata/v1/…` with `Metadata-Flavor: Google`, service
//! account access tokens and identity tokens, project and instance facts.

mod gke;
pub(crate) mod respond;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::any;
use serde_json::json;

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Issued, Note, Verdict};
use crate::world::model::{GcpModel, ServiceAccountModel};
use crate::world::{Rotation, tokens};

const ROOT: &str = "/computeMetadata/v1";

/// Routes under `/computeMetadata/`.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/computeMetadata", any(handle)).route("/computeMetadata/", any(handle)).route("/computeMetadata/{*rest}", any(handle))
}

/// Whether a `GET /` is the metadata server's ping (it carries `Metadata-Flavor`).
pub(crate) fn is_ping(headers: &HeaderMap) -> bool {
    headers.contains_key("metadata-flavor")
}

/// `GET /`: the ping Python google-auth sends (200 with `Metadata-Flavor: Google`).
pub(crate) fn ping() -> Answer {
    let mut note = Note::new("gcp_metadata", "Ping", Verdict::Served);
    note.checks.push(Check::passed("gce.ping"));
    noted(respond::text("computeMetadata/\n".into()), note)
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &Metadata, req.method(), req.uri().path(), answer(&shared, &req))
}

fn query_params(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

use crate::percent::decode_form as decode;

fn listing(items: &[&str]) -> String {
    items.iter().map(|i| format!("{i}\n")).collect()
}

fn answer(shared: &Shared, req: &Request) -> Answer {
    let path = req.uri().path();
    let mut note = Note::new("gcp_metadata", "GetMetadata", Verdict::Error);
    let model = shared.model.clone();
    if let Some((cluster, ksa)) = gke::workload(&model) {
        return gke::answer(shared, req, cluster, ksa);
    }
    let gcp = &model.gcp;
    let Some(default_sa) = gcp.default_account() else {
        note.checks.push(Check::fail("gce.instance", "this world has no metadata server (no default service account)"));
        return respond::refuse(note, respond::MdsError::NotFound(path.to_string()));
    };
    if req.headers().contains_key("x-forwarded-for") {
        note.checks.push(Check::fail("gce.no_forwarded_for", "request carried X-Forwarded-For"));
        return respond::refuse(note, respond::MdsError::Forwarded);
    }
    match req.headers().get("metadata-flavor").map(|v| v.as_bytes()) {
        Some(b"Google") => note.checks.push(Check::passed("gce.metadata_flavor")),
        Some(_) => {
            note.checks.push(Check::fail("gce.metadata_flavor", "Metadata-Flavor is not `Google`"));
            return respond::refuse(note, respond::MdsError::NotFound(path.to_string()));
        }
        None => {
            note.checks.push(Check::fail("gce.metadata_flavor", "missing Metadata-Flavor: Google"));
            return respond::refuse(note, respond::MdsError::MissingFlavor(path.to_string()));
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        note.checks.push(Check::fail("gce.method", format!("{} is not GET", req.method())));
        return respond::refuse(note, respond::MdsError::NotFound(path.to_string()));
    }
    let Some(rest) = path.strip_prefix(ROOT).filter(|r| r.is_empty() || r.starts_with('/')) else {
        if path.trim_end_matches('/') == "/computeMetadata" {
            note.verdict = Verdict::Served;
            return noted(respond::text(listing(&["v1/"])), note);
        }
        note.checks.push(Check::fail("gce.path", format!("nothing at {path}")));
        return respond::refuse(note, respond::MdsError::NotFound(path.to_string()));
    };
    let params = query_params(req.uri().query());
    let recursive = params.get("recursive").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let is_dir = rest.is_empty() || rest.ends_with('/');
    let key = rest.trim_matches('/');
    let host = req.headers().get("host").and_then(|h| h.to_str().ok()).unwrap_or("metadata.google.internal");

    let sa_of = |name: &str| attached(default_sa, name);
    let segments: Vec<&str> = if key.is_empty() { vec![] } else { key.split('/').collect() };
    let directory = |body: String| -> Option<(bool, String)> { Some((true, body)) };
    let value = |body: String| -> Option<(bool, String)> { Some((false, body)) };
    if let ["instance", "service-accounts", name, ..] = segments.as_slice()
        && sa_of(name).is_none()
    {
        let why = match gcp.account(name) {
            Some(other) => format!("{} is not attached to this instance (its account is {}); act as it through IAM Credentials", other.email, default_sa.email),
            None => format!("no service account `{name}` is attached to this instance (its account is {})", default_sa.email),
        };
        note.checks.push(Check::fail("gce.service_account", why));
        return respond::refuse(note, respond::MdsError::NotFound(path.to_string()));
    }

    if let ["instance", "service-accounts", name, leaf] = segments.as_slice()
        && let Some(sa) = sa_of(name)
        && !is_dir
    {
        match *leaf {
            "token" => return token(shared, sa, &params, note),
            "identity" => return identity(shared, gcp, sa, &params, note),
            _ => {}
        }
    }
    if recursive {
        let doc = match segments.as_slice() {
            [] => Some(full_tree(gcp, default_sa)),
            ["instance"] => Some(full_tree(gcp, default_sa)["instance"].clone()),
            ["project"] => Some(full_tree(gcp, default_sa)["project"].clone()),
            ["instance", "service-accounts", name] => sa_of(name).map(sa_json),
            ["instance", "service-accounts"] => Some(full_tree(gcp, default_sa)["instance"]["serviceAccounts"].clone()),
            _ => None,
        };
        if let Some(doc) = doc {
            note.verdict = Verdict::Served;
            return noted(respond::json(doc.to_string()), note);
        }
    }
    let found: Option<(bool, String)> = match segments.as_slice() {
        [] => directory(listing(&["instance/", "project/", "universe/"])),
        ["instance"] => directory(listing(&["attributes/", "hostname", "id", "name", "service-accounts/", "zone"])),
        ["instance", "attributes"] => directory(String::new()),
        ["instance", "hostname"] => value(format!("{}.{}.c.{}.internal", gcp.instance.name, gcp.zone, gcp.project_id)),
        ["instance", "id"] => value(gcp.instance.id.clone()),
        ["instance", "name"] => value(gcp.instance.name.clone()),
        ["instance", "zone"] => value(format!("projects/{}/zones/{}", gcp.project_number, gcp.zone)),
        ["instance", "region"] => gcp.instance.region.as_ref().and_then(|r| value(format!("projects/{}/regions/{r}", gcp.project_number))),
        ["instance", "service-accounts"] => {
            let mut items = vec!["default/".to_string()];
            items.extend(gcp.service_accounts.iter().filter(|s| s.default).map(|s| format!("{}/", s.email)));
            directory(items.iter().map(|i| format!("{i}\n")).collect())
        }
        ["instance", "service-accounts", name] => sa_of(name).and_then(|_| directory(listing(&["aliases", "email", "identity", "scopes", "token"]))),
        ["instance", "service-accounts", name, "aliases"] => sa_of(name).and_then(|_| value("default\n".into())),
        ["instance", "service-accounts", name, "email"] => sa_of(name).and_then(|sa| value(sa.email.clone())),
        ["instance", "service-accounts", name, "scopes"] => sa_of(name).and_then(|sa| value(listing(&sa.scopes.iter().map(String::as_str).collect::<Vec<_>>()))),
        ["project"] => directory(listing(&["attributes/", "numeric-project-id", "project-id"])),
        ["project", "attributes"] => directory(String::new()),
        ["project", "project-id"] => value(gcp.project_id.clone()),
        ["project", "numeric-project-id"] => value(gcp.project_number.clone()),
        ["universe"] => directory(listing(&["universe-domain"])),
        ["universe", "universe-domain"] => value("googleapis.com".into()),
        _ => None,
    };
    match found {
        None => {
            note.checks.push(Check::fail("gce.path", format!("nothing at {path}")));
            respond::refuse(note, respond::MdsError::NotFound(path.to_string()))
        }
        Some((true, _)) if !is_dir => {
            note.verdict = Verdict::Served;
            noted(respond::redirect(host, path, req.uri().query()), note)
        }
        Some((false, _)) if is_dir && !rest.is_empty() => {
            note.checks.push(Check::fail("gce.path", format!("{path} is a value, not a directory")));
            respond::refuse(note, respond::MdsError::NotFound(path.to_string()))
        }
        Some((_, body)) => {
            note.verdict = Verdict::Served;
            noted(respond::text(body), note)
        }
    }
}

/// The instance's service account if `name` names it: `default`, its email or its unique id.
/// A VM has one attached account; every other name is 404, as on GCE — impersonating another
/// account goes through IAM Credentials and its bindings, never through the metadata server.
fn attached<'a>(sa: &'a ServiceAccountModel, name: &str) -> Option<&'a ServiceAccountModel> {
    (name == "default" || name == sa.email || name == sa.unique_id).then_some(sa)
}

fn sa_json(sa: &ServiceAccountModel) -> serde_json::Value {
    json!({"aliases": ["default"], "email": sa.email, "scopes": sa.scopes})
}

fn full_tree(gcp: &GcpModel, default_sa: &ServiceAccountModel) -> serde_json::Value {
    let mut accounts = serde_json::Map::new();
    accounts.insert("default".into(), sa_json(default_sa));
    accounts.insert(default_sa.email.clone(), sa_json(default_sa));
    let mut tree = json!({
        "instance": {
            "attributes": {},
            "hostname": format!("{}.{}.c.{}.internal", gcp.instance.name, gcp.zone, gcp.project_id),
            "id": gcp.instance.id.parse::<u64>().unwrap_or(0),
            "name": gcp.instance.name,
            "serviceAccounts": accounts,
            "zone": format!("projects/{}/zones/{}", gcp.project_number, gcp.zone),
        },
        "project": {"attributes": {}, "numericProjectId": gcp.project_number.parse::<u64>().unwrap_or(0), "projectId": gcp.project_id},
        "universe": {"universeDomain": "googleapis.com"},
    });
    if let Some(r) = &gcp.instance.region {
        tree["instance"]["region"] = json!(format!("projects/{}/regions/{r}", gcp.project_number));
    }
    tree
}

/// `…/service-accounts/<sa>/token[?scopes=a,b]`: the same token until near expiry, as the real
/// metadata server caches it.
fn token(shared: &Shared, sa: &ServiceAccountModel, params: &HashMap<String, String>, mut note: Note) -> Answer {
    note.operation = "GetAccessToken";
    if let Some(s) = params.get("scopes").filter(|s| s.len() > crate::world::google_tokens::MAX_SCOPES_LEN) {
        note.checks.push(Check::fail("gce.token.scopes", format!("scopes is {} bytes, over {}", s.len(), crate::world::google_tokens::MAX_SCOPES_LEN)));
        return respond::refuse(note, respond::MdsError::BadRequest(format!("scopes parameter is too long: {} bytes, at most {}", s.len(), crate::world::google_tokens::MAX_SCOPES_LEN)));
    }
    let scopes: Vec<String> = match params.get("scopes") {
        Some(s) if !s.trim().is_empty() => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        _ => sa.scopes.clone(),
    };
    let now = shared.clock.now();
    let rotation = Rotation { lifetime: time::Duration::hours(1), refresh_before: time::Duration::minutes(5) };
    let slot = format!("{}|{}", sa.email, scopes.join(","));
    let (t, fresh) = {
        let mut state = shared.state();
        let state = &mut *state;
        state.google_tokens.current(&slot, &mut state.rng, &sa.email, scopes, now, rotation)
    };
    let expires_in = (t.expires_at - now).whole_seconds().max(0);
    note.verdict = Verdict::Granted;
    note.principal = Some(sa.email.clone());
    note.checks.push(Check::pass("gce.token", if fresh { "issued a new access token" } else { "current access token" }));
    note.issued = Some(t.receipt.clone());
    let body = json!({"access_token": t.token.expose(), "expires_in": expires_in, "token_type": "Bearer"});
    noted(respond::json(body.to_string()), note)
}

/// `…/service-accounts/<sa>/identity?audience=…[&format=full][&licenses=TRUE]`.
fn identity(shared: &Shared, gcp: &GcpModel, sa: &ServiceAccountModel, params: &HashMap<String, String>, mut note: Note) -> Answer {
    note.operation = "GetIdentityToken";
    let Some(audience) = params.get("audience").filter(|a| !a.is_empty()) else {
        note.checks.push(Check::fail("gce.identity.audience", "no audience"));
        return respond::refuse(note, respond::MdsError::BadRequest("non-empty audience parameter required".into()));
    };
    let format = params.get("format").map(String::as_str).unwrap_or("standard");
    if !matches!(format, "standard" | "full") {
        note.checks.push(Check::fail("gce.identity.format", format!("format `{format}`")));
        return respond::refuse(note, respond::MdsError::BadRequest("format must be one of: standard, full".into()));
    }
    let now = shared.clock.now();
    let mut claims = tokens::google_id_claims(gcp, sa, audience, now, format == "full");
    if format == "full" && params.get("licenses").is_some_and(|l| l.eq_ignore_ascii_case("true")) {
        claims["google"]["compute_engine"]["license_id"] = json!(["1000006", "5543610867827062957"]);
    }
    let token = {
        let state = shared.state();
        match state.issuers.by_name("google").and_then(|i| i.active.clone()) {
            Some(k) => k,
            None => {
                note.checks.push(Check::fail("gce.identity", "the google issuer has no signing key"));
                return respond::refuse(note, respond::MdsError::NotFound(format!("{ROOT}/instance/service-accounts/default/identity")));
            }
        }
    }
    .sign(&claims, &Default::default());
    note.verdict = Verdict::Granted;
    note.principal = Some(sa.email.clone());
    note.checks.push(Check::pass("gce.identity", format!("aud {audience}, format {format}")));
    note.issued = Some(Arc::new(Issued::id_token(&token, &sa.unique_id, audience, now + time::Duration::hours(1))));
    noted(respond::jwt(token), note)
}

/// The metadata server as a slice of the exchange: faults answer in its text, with its headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metadata;

impl Slice for Metadata {
    fn service(&self) -> Service {
        Service::GcpMetadata
    }

    fn fault_response(&self, status: axum::http::StatusCode, _request_id: &str) -> Response {
        use axum::response::IntoResponse;
        respond::stamp((status, [(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", status.canonical_reason().unwrap_or("error"))).into_response())
    }
}
