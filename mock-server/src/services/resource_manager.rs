//! Cloud Resource Manager's project lookup, the one call of it a workload makes around
//! authentication: `google.auth.default()` (and every Google client library through it) asks
//! `GET https://cloudresourcemanager.googleapis.com/v1/projects/{number}` for the project id of
//! an `external_account` credential before anything else.
//!
//! Served at the real host only (`cloudresourcemanager.googleapis.com`): `GET /v1/projects/{id
//! or number}` and `GET /v3/projects/{id or number}`. The caller's Bearer token must be one this
//! world issued, not expired, with a scope that reads projects, and must act as a service
//! account of the project (the world grants federated principals no project role, so their
//! lookup is refused as Google refuses one without `resourcemanager.projects.get`). An unknown
//! project gets the same 403 as a forbidden one: Google does not tell which.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::google_rpc::{RpcError, bearer_caller, rpc_fault};
use crate::exchange::{Answer, Service, Shared, Slice, noted, refused};
use crate::journal::{Check, Note, Verdict};

/// Scopes that allow reading a project (any of them).
const SCOPES: &[&str] = &[
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/cloud-platform.read-only",
    "https://www.googleapis.com/auth/cloudplatformprojects",
    "https://www.googleapis.com/auth/cloudplatformprojects.readonly",
];

/// Cloud Resource Manager as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ResourceManager;

impl Slice for ResourceManager {
    fn service(&self) -> Service {
        Service::ResourceManager
    }

    fn fault_response(&self, status: StatusCode, _request_id: &str) -> Response {
        rpc_fault(status)
    }
}

/// Serves a request that named `cloudresourcemanager.googleapis.com`.
pub(crate) async fn serve(shared: Arc<Shared>, req: Request) -> Response {
    crate::exchange::serve!(shared, &ResourceManager, req.method(), req.uri().path(), answer(&shared, &req))
}

fn answer(shared: &Shared, req: &Request) -> Answer {
    let path = req.uri().path();
    let (version, project) = match path.strip_prefix("/v1/projects/").map(|p| ("v1", p)).or_else(|| path.strip_prefix("/v3/projects/").map(|p| ("v3", p))) {
        Some((v, p)) if !p.is_empty() && !p.contains('/') && !p.contains(':') => (v, p),
        _ => {
            let note = Note::new("cloud_resource_manager", "Unknown", Verdict::Error);
            let message = format!("cloudid emulates only GET /v1/projects/{{id}} and GET /v3/projects/{{id}} of Cloud Resource Manager, not {} {path}", req.method());
            {
                let e = RpcError::new(404, "NOT_FOUND", message.clone(), None);
                return refused(note, &e, "crm.method", message.clone(), "");
            }
        }
    };
    let mut note = Note::new("cloud_resource_manager", "GetProject", Verdict::Error);
    if req.method() != Method::GET {
        let message = format!("cloudid emulates only GET of a project, not {}", req.method());
        {
            let e = RpcError::new(405, "UNIMPLEMENTED", message.clone(), None);
            return refused(note, &e, "crm.method", message.clone(), "");
        }
    }
    let caller = match bearer_caller(shared, req.headers()) {
        Ok(c) => c,
        Err((why, e)) => return refused(note, &e, "google.caller", why, ""),
    };
    note.principal = Some(caller.principal.clone());
    note.checks.push(Check::pass("google.caller", caller.principal.clone()));
    let scopes = caller.scopes();
    if !scopes.iter().any(|s| SCOPES.contains(&s.as_str())) {
        let why = format!("the token's scopes ({}) include none that reads projects (cloud-platform, cloud-platform.read-only)", scopes.join(" "));
        {
            let e = RpcError::new(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.", None);
            return refused(note, &e, "google.scope", why, "");
        }
    }
    note.checks.push(Check::passed("google.scope"));
    let gcp = &shared.model.gcp;
    let denied = RpcError::new(
        403,
        "PERMISSION_DENIED",
        format!("Permission 'resourcemanager.projects.get' denied on resource '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."),
        None,
    );
    if project != gcp.project_id && project != gcp.project_number {
        let why = format!("the world has no project {project} (it has {} = {})", gcp.project_id, gcp.project_number);
        {
            let e = denied;
            return refused(note, &e, "crm.project", why, "");
        }
    }
    let member_of_project = gcp.account(&caller.principal).is_some_and(|sa| sa.email.ends_with(&format!("@{}.iam.gserviceaccount.com", gcp.project_id)));
    if !member_of_project {
        let why = format!(
            "{} holds no role on project {}: the world gives federated principals no project role, so resourcemanager.projects.get is denied; impersonate a service account of the project",
            caller.principal, gcp.project_id
        );
        {
            let e = denied;
            return refused(note, &e, "crm.permission", why, "");
        }
    }
    note.checks.push(Check::pass("crm.permission", format!("{} may read project {}", caller.principal, gcp.project_id)));
    note.verdict = Verdict::Served;
    let body = if version == "v1" {
        json!({"projectNumber": gcp.project_number, "projectId": gcp.project_id, "lifecycleState": "ACTIVE", "name": gcp.project_id, "createTime": "2024-04-01T00:00:00.000Z"})
    } else {
        json!({"name": format!("projects/{}", gcp.project_number), "projectId": gcp.project_id, "state": "ACTIVE", "displayName": gcp.project_id, "createTime": "2024-04-01T00:00:00.000Z", "etag": format!("W/\"{}\"", gcp.project_number)})
    };
    noted((StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.to_string()).into_response(), note)
}
