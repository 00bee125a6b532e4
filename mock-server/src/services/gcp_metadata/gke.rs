//! The GKE metadata server, as a pod with Workload Identity Federation for GKE sees it at
//! 169.254.169.254: it answers for the pod's Kubernetes service account (the world's
//! `kubernetes.workload` on a GKE cluster), not for the node's VM.
//!
//! - `…/service-accounts/default/email`: the annotated Google service account
//!   (`iam.gke.io/gcp-service-account`), else the pool `PROJECT_ID.svc.id.goog`.
//! - `…/token`: annotated, the Google service account's token if it grants the Kubernetes
//!   service account `roles/iam.workloadIdentityUser` (else IAM's 403, as GKE words it);
//!   unannotated, a federated token for `principal://…/PROJECT_ID.svc.id.goog/subject/ns/NS/sa/SA`.
//! - `…/identity`: only for an annotated account (else 404 with GKE's text).
//! - `instance/attributes/` holds `cluster-location`, `cluster-name`, `cluster-uid` only.
//!
//! Errors are GKE's plain text (`GKE Metadata Server encountered an error: …`), not the VM's
//! HTML pages.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::respond;
use crate::exchange::{Answer, Shared, noted};
use crate::journal::{Check, Issued, Note, Verdict};
use crate::world::google_tokens::Federation;
use crate::world::kubernetes::{ClusterKind, ClusterModel, GKE_ANNOTATION, ServiceAccount};
use crate::world::model::GcpModel;
use crate::world::{Rotation, tokens};

/// The pod the metadata server answers for, if the world's workload runs on a GKE cluster.
pub(crate) fn workload(model: &crate::world::WorldModel) -> Option<(&ClusterModel, &ServiceAccount)> {
    model.kubernetes.workload().filter(|(c, _)| c.kind == ClusterKind::Gke)
}

fn stamp(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("metadata-flavor", HeaderValue::from_static("Google"));
    h.insert(header::SERVER, HeaderValue::from_static("GKE Metadata Server"));
    r
}

fn text(body: String) -> Response {
    stamp((StatusCode::OK, [(header::CONTENT_TYPE, "application/text")], body).into_response())
}

/// A refusal of the GKE metadata server: plain text with its status.
struct GkeError {
    status: StatusCode,
    body: String,
    denial: bool,
}

impl crate::exchange::Refusal for GkeError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn code(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    fn denies(&self) -> bool {
        self.denial
    }

    fn render(&self, _request_id: &str) -> Response {
        stamp((self.status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::HeaderName::from_static("x-content-type-options"), "nosniff")], self.body.clone()).into_response())
    }
}

fn refuse(note: Note, status: StatusCode, body: String, denial: bool) -> Answer {
    crate::exchange::Refusal::answer(&GkeError { status, body, denial }, note, "")
}

fn not_found(note: Note) -> Answer {
    refuse(note, StatusCode::NOT_FOUND, "Not Found\n".into(), false)
}

/// The workload pool of the project: `PROJECT_ID.svc.id.goog`.
fn pool(gcp: &GcpModel) -> String {
    format!("{}.svc.id.goog", gcp.project_id)
}

/// The pod's identity as IAM names it, and the sets it belongs to.
fn members(gcp: &GcpModel, sa: &ServiceAccount) -> Vec<String> {
    let base = format!("//iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/{}", gcp.project_number, pool(gcp));
    vec![
        format!("serviceAccount:{}[{}/{}]", pool(gcp), sa.namespace, sa.name),
        format!("principal:{base}/subject/ns/{}/sa/{}", sa.namespace, sa.name),
        format!("principalSet:{base}/namespace/{}", sa.namespace),
        format!("principalSet:{base}/*"),
    ]
}

/// The metadata server's answer for the pod.
pub(crate) fn answer(shared: &Shared, req: &Request, cluster: &ClusterModel, ksa: &ServiceAccount) -> Answer {
    let path = req.uri().path();
    let mut note = Note::new("gcp_metadata", "GetMetadata", Verdict::Error);
    let gcp = &shared.model.gcp;
    if req.headers().contains_key("x-forwarded-for") {
        note.checks.push(Check::fail("gce.no_forwarded_for", "request carried X-Forwarded-For"));
        return refuse(note, StatusCode::FORBIDDEN, "GKE Metadata Server encountered an error: request carried X-Forwarded-For\n".into(), true);
    }
    if req.headers().get("metadata-flavor").map(|v| v.as_bytes()) != Some(b"Google") {
        note.checks.push(Check::fail("gce.metadata_flavor", "missing Metadata-Flavor: Google"));
        return refuse(note, StatusCode::FORBIDDEN, "GKE Metadata Server encountered an error: Missing required header \"Metadata-Flavor\": \"Google\"\n".into(), true);
    }
    note.checks.push(Check::passed("gce.metadata_flavor"));
    if !matches!(*req.method(), axum::http::Method::GET | axum::http::Method::HEAD) {
        note.checks.push(Check::fail("gce.method", format!("{} is not GET", req.method())));
        return refuse(note, StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n".into(), false);
    }
    let Some(rest) = path.strip_prefix("/computeMetadata/v1").filter(|r| r.is_empty() || r.starts_with('/')) else {
        note.checks.push(Check::fail("gce.path", format!("nothing at {path}")));
        return not_found(note);
    };
    let params = super::query_params(req.uri().query());
    let recursive = params.get("recursive").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let gsa_email = ksa.annotations.get(GKE_ANNOTATION);
    let email = gsa_email.cloned().unwrap_or_else(|| pool(gcp));
    let segments: Vec<&str> = rest.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let location = cluster.issuer_url(&shared.model.aws.region, gcp).split("/locations/").nth(1).and_then(|r| r.split('/').next()).unwrap_or_default().to_string();
    let scopes = ["https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/userinfo.email"];
    let names = |name: &str| name == "default" || name == email;
    if let ["instance", "service-accounts", name, ..] = segments.as_slice()
        && !names(name)
    {
        note.checks.push(Check::fail("gce.service_account", format!("the pod's account is {email}, not {name}")));
        return not_found(note);
    }
    let listing = |items: &[&str]| items.iter().map(|i| format!("{i}\n")).collect::<String>();
    let body = match segments.as_slice() {
        [] => listing(&["instance/", "project/"]),
        ["instance"] => listing(&["attributes/", "hostname", "id", "service-accounts/", "zone"]),
        ["instance", "attributes"] => listing(&["cluster-location", "cluster-name", "cluster-uid"]),
        ["instance", "attributes", "cluster-location"] => location.clone(),
        ["instance", "attributes", "cluster-name"] => cluster.name.clone(),
        ["instance", "attributes", "cluster-uid"] => crate::ids::stable_uuid(&format!("cluster:{}", cluster.name)).replace('-', ""),
        ["instance", "hostname"] => format!("{}.{}.c.{}.internal", cluster.pod(ksa, &shared.model.aws.region).node, gcp.zone, gcp.project_id),
        ["instance", "id"] => (crate::ids::stable_number(&cluster.pod(ksa, &shared.model.aws.region).node) % 9_000_000_000_000_000_000 + 1_000_000_000_000_000_000).to_string(),
        ["instance", "zone"] => format!("projects/{}/zones/{}", gcp.project_number, gcp.zone),
        ["instance", "service-accounts"] => format!("default/\n{email}/\n"),
        ["instance", "service-accounts", _] if recursive => {
            note.verdict = Verdict::Served;
            return noted(stamp(respond::json(json!({"aliases": ["default"], "email": email, "scopes": scopes}).to_string())), note);
        }
        ["instance", "service-accounts", _] => listing(&["aliases", "email", "identity", "scopes", "token"]),
        ["instance", "service-accounts", _, "aliases"] => "default\n".into(),
        ["instance", "service-accounts", _, "email"] => email.clone(),
        ["instance", "service-accounts", _, "scopes"] => listing(&scopes),
        ["instance", "service-accounts", _, "token"] => return token(shared, ksa, gsa_email, &params, note),
        ["instance", "service-accounts", _, "identity"] => return identity(shared, ksa, gsa_email, &params, note),
        ["project"] => listing(&["numeric-project-id", "project-id"]),
        ["project", "project-id"] => gcp.project_id.clone(),
        ["project", "numeric-project-id"] => gcp.project_number.clone(),
        _ => {
            note.checks.push(Check::fail("gce.path", format!("the GKE metadata server has nothing at {path}")));
            return not_found(note);
        }
    };
    note.verdict = Verdict::Served;
    noted(text(body), note)
}

/// Whether the Google service account `gsa` grants the pod `roles/iam.workloadIdentityUser`.
fn bound(shared: &Shared, gsa: &crate::world::model::ServiceAccountModel, ksa: &ServiceAccount) -> Option<String> {
    let ours = members(&shared.model.gcp, ksa);
    let revoked = shared.state().revoked_bindings.clone();
    gsa.bindings
        .iter()
        .filter(|b| matches!(b.role.as_str(), "roles/iam.workloadIdentityUser" | "roles/iam.serviceAccountTokenCreator"))
        .find_map(|b| b.members.iter().filter(|m| !revoked.contains(&(gsa.email.clone(), b.role.clone(), (*m).clone()))).find(|m| ours.contains(m)).map(|m| format!("{} via {m}", b.role)))
}

/// The annotated account, checked as the GKE metadata server's call to IAM is: it exists and
/// grants the pod Workload Identity User. Its model, or the refusal.
fn impersonable<'m>(shared: &'m Shared, ksa: &ServiceAccount, email: &str, note: &mut Note) -> Result<&'m crate::world::model::ServiceAccountModel, (StatusCode, String)> {
    let Some(gsa) = shared.model.gcp.account(email) else {
        note.checks.push(Check::fail("gke.binding", format!("{email} does not exist")));
        return Err((StatusCode::NOT_FOUND, format!("Unable to generate access token; IAM returned 404 Not Found: Not found; Gaia id not found for email {email}\n")));
    };
    match bound(shared, gsa, ksa) {
        Some(via) => {
            note.checks.push(Check::pass("gke.binding", via));
            Ok(gsa)
        }
        None => {
            let member = format!("serviceAccount:{}[{}/{}]", pool(&shared.model.gcp), ksa.namespace, ksa.name);
            note.checks.push(Check::fail("gke.binding", format!("{email} does not grant roles/iam.workloadIdentityUser to {member}")));
            Err((
                StatusCode::FORBIDDEN,
                "Unable to generate access token; IAM returned 403 Forbidden: Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).\nThis error could be caused by a missing IAM policy binding on the target IAM service account.\nFor more information, refer to the Workload Identity documentation:\n\thttps://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#authenticating_to\n\n".into(),
            ))
        }
    }
}

fn token(shared: &Shared, ksa: &ServiceAccount, gsa_email: Option<&String>, params: &HashMap<String, String>, mut note: Note) -> Answer {
    note.operation = "GetAccessToken";
    let gcp = &shared.model.gcp;
    let scopes: Vec<String> = match params.get("scopes") {
        Some(s) if !s.trim().is_empty() => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
        _ => vec!["https://www.googleapis.com/auth/cloud-platform".into()],
    };
    let (principal, federation) = match gsa_email {
        Some(email) => match impersonable(shared, ksa, email, &mut note) {
            Ok(gsa) => (gsa.email.clone(), None),
            Err((status, body)) => return refuse(note, status, body, true),
        },
        None => {
            let pool_path = format!("projects/{}/locations/global/workloadIdentityPools/{}", gcp.project_number, pool(gcp));
            let subject = format!("ns/{}/sa/{}", ksa.namespace, ksa.name);
            (format!("principal://iam.googleapis.com/{pool_path}/subject/{subject}"), Some(Federation { pool: pool_path, subject, attributes: Default::default() }))
        }
    };
    let now = shared.clock.now();
    let rotation = Rotation { lifetime: time::Duration::hours(1), refresh_before: time::Duration::seconds(225) };
    let slot = format!("gke|{}/{}|{}", ksa.namespace, ksa.name, scopes.join(","));
    let (t, fresh) = {
        let mut state = shared.state();
        let state = &mut *state;
        match federation {
            Some(f) => {
                let t = state.google_tokens.issue_with(&mut state.rng, &principal, scopes, now, rotation.lifetime, Some(f));
                (t, true)
            }
            None => state.google_tokens.current(&slot, &mut state.rng, &principal, scopes, now, rotation),
        }
    };
    let expires_in = (t.expires_at - now).whole_seconds().max(0);
    note.verdict = Verdict::Granted;
    note.principal = Some(principal);
    note.checks.push(Check::pass("gce.token", if fresh { "issued a new access token" } else { "current access token" }));
    note.issued = Some(t.receipt.clone());
    let body = json!({"access_token": t.token.expose(), "expires_in": expires_in, "token_type": "Bearer"});
    noted(stamp(respond::json(body.to_string())), note)
}

fn identity(shared: &Shared, ksa: &ServiceAccount, gsa_email: Option<&String>, params: &HashMap<String, String>, mut note: Note) -> Answer {
    note.operation = "GetIdentityToken";
    let Some(email) = gsa_email else {
        note.checks.push(Check::fail("gce.identity", "the Kubernetes service account names no Google service account (iam.gke.io/gcp-service-account)"));
        let body = format!(
            "Your Kubernetes service account ({}/{}) is not annotated with a target Google service account, which is a requirement for retrieving Identity Tokens using Workload Identity.\nPlease add the iam.gke.io/gcp-service-account=[GSA_NAME]@[PROJECT_ID] annotation to your Kubernetes service account.\nRefer to https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity\n",
            ksa.namespace, ksa.name
        );
        return refuse(note, StatusCode::NOT_FOUND, body, false);
    };
    let Some(audience) = params.get("audience").filter(|a| !a.is_empty()) else {
        note.checks.push(Check::fail("gce.identity.audience", "no audience"));
        return refuse(note, StatusCode::BAD_REQUEST, "non-empty audience parameter required\n".into(), false);
    };
    let gsa = match impersonable(shared, ksa, email, &mut note) {
        Ok(gsa) => gsa,
        Err((status, body)) => return refuse(note, status, body, true),
    };
    let now = shared.clock.now();
    let claims = tokens::google_id_claims(&shared.model.gcp, gsa, audience, now, false);
    let key = shared.state().issuers.by_name("google").and_then(|i| i.active.clone());
    let Some(key) = key else {
        note.checks.push(Check::fail("gce.identity", "the google issuer has no signing key"));
        return not_found(note);
    };
    let token = key.sign(&claims, &Default::default());
    note.verdict = Verdict::Granted;
    note.principal = Some(gsa.email.clone());
    note.checks.push(Check::pass("gce.identity", format!("aud {audience}")));
    note.issued = Some(Arc::new(Issued::id_token(&token, &gsa.unique_id, audience, now + time::Duration::hours(1))));
    noted(stamp(respond::jwt(token)), note)
}
