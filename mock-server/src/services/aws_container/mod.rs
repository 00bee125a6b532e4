//! Container credentials: the ECS agent (`/v2/credentials/<id>`, as ECS, Fargate and App Runner
//! tasks reach it) and the EKS Pod Identity agent (`/v1/credentials` with a token): a world's
//! fixed token here, its clusters' projected tokens in [`pod_identity`].

mod pod_identity;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Note, Verdict};
use crate::world::model::{ContainerAgent, ContainerModel};
use crate::world::{CredentialSource, IssuedCredential, WorldModel};

/// Container credential routes: the ECS agent's prefix plus each Pod Identity path of the world.
pub(crate) fn router(model: &WorldModel) -> Router<Arc<Shared>> {
    let mut router = Router::new().route("/v2/credentials", any(handle)).route("/v2/credentials/", any(handle)).route("/v2/credentials/{*id}", any(handle));
    for c in &model.aws.containers {
        if c.agent == ContainerAgent::PodIdentity {
            router = router.route(&c.path, any(handle));
        }
    }
    if pod_identity::serves(model) && !model.aws.containers.iter().any(|c| c.path == pod_identity::PATH) {
        router = router.route(pod_identity::PATH, any(handle));
    }
    router
}

fn ecs_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "code": code, "message": message, "HTTPErrorCode": status.as_u16() });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// The Pod Identity agent answers errors with Go's `http.Error`: plain text and a newline.
fn agent_error(status: StatusCode, message: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8"), (header::HeaderName::from_static("x-content-type-options"), "nosniff")], format!("{message}\n")).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    crate::exchange::serve!(shared, &Container, req.method(), req.uri().path(), answer(&shared, &req))
}

fn answer(shared: &Shared, req: &Request) -> Answer {
    let path = req.uri().path();
    let mut note = Note::new("aws_container", "GetCredentials", Verdict::Error);
    let container = shared.model.aws.containers.iter().find(|c| c.path == path);
    let agent = container.map_or(ContainerAgent::Ecs, |c| c.agent);
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        note.checks.push(Check::fail("container.method", format!("{} is not GET", req.method())));
        let e = match agent {
            ContainerAgent::Ecs => ContainerError::Ecs { status: StatusCode::METHOD_NOT_ALLOWED, code: "InvalidRequest", message: "Invalid request method", denial: false },
            ContainerAgent::PodIdentity => ContainerError::Agent { status: StatusCode::METHOD_NOT_ALLOWED, message: "Method Not Allowed".into(), denial: false },
        };
        return refuse(note, e);
    }
    if container.is_none() && path == pod_identity::PATH && pod_identity::serves(&shared.model) {
        return pod_identity::answer(shared, req);
    }
    let Some(container) = container else {
        let id = path.trim_start_matches("/v2/credentials").trim_start_matches('/');
        let (code, message) = if id.is_empty() { ("NoIdInRequest", "CredentialsV2Request: No ID in the request") } else { ("InvalidIdInRequest", "CredentialsV2Request: Credentials not found") };
        note.checks.push(Check::fail("container.id", format!("no task credentials at {path}")));
        return refuse(note, ContainerError::Ecs { status: StatusCode::BAD_REQUEST, code, message, denial: false });
    };
    note.checks.push(Check::passed("container.id"));
    if let Err((detail, e)) = check_token(container, req.headers(), shared) {
        note.checks.push(Check::fail("container.authorization", detail));
        return refuse(note, e);
    }
    note.checks.push(match container.auth_token {
        Some(_) => Check::pass("container.authorization", "Authorization matches the world's token"),
        None => Check::skip("container.authorization", "no token required"),
    });
    let (cred, rotated) = credentials(shared, container);
    note.verdict = Verdict::Granted;
    note.principal = Some(cred.receipt.principal.clone());
    note.checks.push(Check::pass("container.credentials", if rotated { "issued new credentials" } else { "current credentials" }));
    note.issued = Some(cred.receipt.clone());
    noted(document(container.agent == ContainerAgent::PodIdentity, &cred), note)
}

/// A refusal of either agent, in that agent's shape: the ECS agent's JSON
/// (`code`/`message`/`HTTPErrorCode`) or the Pod Identity agent's Go `http.Error` text. Whether it
/// denies is the variant's: a token refusal denies even when the agent answers 400.
pub(super) enum ContainerError {
    /// The ECS agent's JSON error.
    Ecs { status: StatusCode, code: &'static str, message: &'static str, denial: bool },
    /// The Pod Identity agent's text error.
    Agent { status: StatusCode, message: String, denial: bool },
}

impl crate::exchange::Refusal for ContainerError {
    fn status(&self) -> StatusCode {
        match self {
            Self::Ecs { status, .. } | Self::Agent { status, .. } => *status,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Ecs { code, .. } => code,
            Self::Agent { .. } => "AgentError",
        }
    }

    fn denies(&self) -> bool {
        match self {
            Self::Ecs { denial, .. } | Self::Agent { denial, .. } => *denial,
        }
    }

    fn render(&self, _request_id: &str) -> Response {
        match self {
            Self::Ecs { status, code, message, .. } => ecs_error(*status, code, message),
            Self::Agent { status, message, .. } => agent_error(*status, message),
        }
    }
}

/// A refused answer: the verdict the refusal gives, and its body.
pub(super) fn refuse(note: Note, e: ContainerError) -> Answer {
    crate::exchange::Refusal::answer(&e, note, "")
}

fn check_token(container: &ContainerModel, headers: &HeaderMap, shared: &Shared) -> Result<(), (&'static str, ContainerError)> {
    let Some(expected) = shared.container_token(container) else {
        return Ok(());
    };
    let given = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()).unwrap_or_default();
    let refuse = |detail: &'static str, e: ContainerError| Err((detail, e));
    let agent = |message: String| ContainerError::Agent { status: StatusCode::BAD_REQUEST, message, denial: true };
    match container.agent {
        ContainerAgent::PodIdentity => {
            if given.is_empty() {
                return refuse("missing Authorization", agent("Service account token cannot be empty".into()));
            }
            if given.split(|b| *b == b'.').count() != 3 {
                return refuse("Authorization is not a JWT", agent("Service account token cannot be parsed: token is malformed: token contains an invalid number of segments".into()));
            }
            if given != expected.expose().as_bytes() {
                let rid = shared.request_id();
                let message = format!("[{rid}]: (InvalidTokenException): The service account token is invalid, fault: client");
                return refuse("Authorization does not match the pod's token", agent(message));
            }
        }
        ContainerAgent::Ecs => {
            if given.is_empty() {
                return refuse(
                    "missing Authorization",
                    ContainerError::Ecs { status: StatusCode::UNAUTHORIZED, code: "InvalidAuthorizationToken", message: "CredentialsV2Request: Authorization header is missing", denial: true },
                );
            }
            if given != expected.expose().as_bytes() {
                return refuse(
                    "Authorization does not match",
                    ContainerError::Ecs { status: StatusCode::FORBIDDEN, code: "InvalidAuthorizationToken", message: "CredentialsV2Request: Authorization token is invalid", denial: true },
                );
            }
        }
    }
    Ok(())
}

fn credentials(shared: &Shared, container: &ContainerModel) -> (Arc<IssuedCredential>, bool) {
    let now = shared.clock.now();
    let model = &shared.model;
    let mut state = shared.state();
    let state = &mut *state;
    state.credentials.current(
        &format!("container:{}", container.path),
        &mut state.rng,
        || model.role_session(&model.aws.account_id, &container.role, &container.session_name).expect("validated role"),
        CredentialSource::Container,
        now,
        container.credentials.into(),
    )
}

/// The credentials document; the Pod Identity agent's (`pod_identity`) carries `AccountId`.
pub(super) fn document(pod_identity: bool, cred: &IssuedCredential) -> Response {
    let mut body = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        body.insert(k.to_string(), serde_json::Value::String(v));
    };
    if !pod_identity {
        put("RoleArn", cred.principal.role_arn());
    }
    put("AccessKeyId", cred.access_key_id.clone());
    put("SecretAccessKey", cred.secret_access_key.expose().to_string());
    put("Token", cred.session_token.expose().to_string());
    if pod_identity {
        put("AccountId", cred.principal.account_id.clone());
    }
    put("Expiration", cred.receipt.expiration.clone());
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], serde_json::Value::Object(body).to_string()).into_response()
}

/// The container credentials agents as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Container;

impl Slice for Container {
    fn service(&self) -> Service {
        Service::AwsContainer
    }
}
