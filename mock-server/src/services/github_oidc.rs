//! The GitHub Actions OIDC token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`): a job presents the
//! runtime's bearer token and gets `{"value": <jwt>}` for the audience it asks.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::json;

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Issued, Note, Verdict};
use crate::world::tokens;

/// Path of the token endpoint (the URL's query carries `api-version=2.0`).
pub(crate) const PATH: &str = "/github/actions/idtoken";

/// The same endpoint at a path of the shape the Actions runtime hands jobs
/// (`https://pipelinesghubeus<N>.actions.githubusercontent.com/<runtime>/00000000-…/_apis/distributedtask/hubs/Actions/plans/<plan>/jobs/<job>/idtoken`),
/// which `cloudid exec --as github-actions` puts in `ACTIONS_ID_TOKEN_REQUEST_URL`.
pub(crate) const RUNTIME_PATH: &str = "/7mXFJgFIFVPQJTxX6rUYx1KXmDZ9YkPj3vJ1mjzYcXh4Ujv4Dd/00000000-0000-0000-0000-000000000000/_apis/distributedtask/hubs/Actions/plans/5b2c8f3e-1d4a-4e6b-9c7d-8e9f0a1b2c3d/jobs/8d7c6b5a-4e3f-4a2b-9c1d-0e9f8a7b6c5d/idtoken";

/// The token endpoint's routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route(PATH, any(handle)).route(RUNTIME_PATH, any(handle))
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &GithubOidc, req.method(), req.uri().path(), answer(&shared, &req))
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], json!({ "message": message }).to_string()).into_response()
}

/// A refusal of the token endpoint: its JSON `message`; 401 and 403 (no or a wrong bearer
/// token) deny, anything else rejects the request.
struct GithubError {
    status: StatusCode,
    message: &'static str,
}

impl crate::exchange::Refusal for GithubError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn code(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("error")
    }

    fn denies(&self) -> bool {
        matches!(self.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    }

    fn render(&self, _request_id: &str) -> Response {
        error(self.status, self.message)
    }
}

/// A refused answer: the verdict the refusal gives, and its body.
fn refuse(note: Note, status: StatusCode, message: &'static str) -> Answer {
    crate::exchange::Refusal::answer(&GithubError { status, message }, note, "")
}

use crate::percent::param;

fn answer(shared: &Shared, req: &Request) -> Answer {
    let mut note = Note::new("github_oidc", "GetIdToken", Verdict::Error);
    if req.method() != Method::GET {
        note.checks.push(Check::fail("github.method", format!("{} is not GET", req.method())));
        return refuse(note, StatusCode::METHOD_NOT_ALLOWED, "The requested resource does not support the HTTP method.");
    }
    let query = req.uri().query().unwrap_or("");
    match param(query, "api-version").as_deref() {
        Some("2.0") => note.checks.push(Check::passed("github.api_version")),
        other => {
            note.checks.push(Check::fail("github.api_version", format!("api-version {other:?}")));
            return refuse(note, StatusCode::BAD_REQUEST, "The api-version query parameter is required and must be 2.0.");
        }
    }
    let expected = shared.model.github.request_token.expose();
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let bearer = given.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")).map(|(_, t)| t.trim());
    match bearer {
        None => {
            note.checks.push(Check::fail("github.authorization", "no Authorization: Bearer token"));
            return refuse(note, StatusCode::UNAUTHORIZED, "Unauthorized: the request has no bearer token.");
        }
        Some(t) if t != expected => {
            note.checks.push(Check::fail("github.authorization", "bearer token is not the job's ACTIONS_ID_TOKEN_REQUEST_TOKEN"));
            return refuse(note, StatusCode::FORBIDDEN, "Forbidden: the bearer token is not valid for this job.");
        }
        Some(_) => note.checks.push(Check::passed("github.authorization")),
    }
    let audience = param(query, "audience").filter(|a| !a.is_empty());
    let now = shared.clock.now();
    let jti = shared.request_id();
    let claims = tokens::github_claims(&shared.model.github, audience.as_deref(), now, &jti);
    let key = shared.state().issuers.by_name("github").and_then(|i| i.active.clone());
    let Some(key) = key else {
        note.checks.push(Check::fail("github.issuer", "the github issuer has no signing key"));
        return refuse(note, StatusCode::INTERNAL_SERVER_ERROR, "no signing key");
    };
    let mut header = serde_json::Map::new();
    header.insert("x5t".into(), json!(key.x5t));
    let token = key.sign(&claims, &header);
    note.verdict = Verdict::Granted;
    let sub = claims["sub"].as_str().unwrap_or_default().to_string();
    note.principal = Some(sub.clone());
    let aud = claims["aud"].as_str().unwrap_or_default().to_string();
    note.checks.push(Check::pass("github.token", format!("aud {aud}, sub {sub}")));
    note.issued = Some(Arc::new(Issued::id_token(&token, &sub, &aud, now + time::Duration::seconds(300))));
    let body = json!({ "count": 1, "value": token });
    noted((StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response(), note)
}

/// The Actions token endpoint as a slice of the exchange: faults answer with its JSON `message`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GithubOidc;

impl Slice for GithubOidc {
    fn service(&self) -> Service {
        Service::GithubOidc
    }

    fn fault_response(&self, status: StatusCode, _request_id: &str) -> Response {
        error(status, status.canonical_reason().unwrap_or("error"))
    }
}
