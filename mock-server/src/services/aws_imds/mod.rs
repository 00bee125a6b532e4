//! EC2 Instance Metadata Service (IMDSv1 and v2), as an instance sees it at 169.254.169.254.
//!
//! Routes: `PUT /latest/api/token`, `GET|HEAD /<version>/meta-data/…` and `/<version>/dynamic/…`.

pub(crate) mod errors;
pub(crate) mod token;
pub(crate) mod tree;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::any;

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Note, Verdict};
use crate::services::oidc_discovery::{unrouted, unrouted_slice};
use crate::world::model::{HttpEndpoint, HttpTokens};
use crate::world::{CredentialSource, IssuedCredential, WorldModel, WorldState};
use token::TokenCheck;
use tree::Node;

/// IMDS routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/latest", any(metadata))
        .route("/latest/", any(metadata))
        .route("/latest/{*rest}", any(metadata))
        .route("/{version}", any(metadata))
        .route("/{version}/", any(metadata))
        .route("/{version}/{*rest}", any(metadata))
}

/// `GET /`: the metadata versions.
pub(crate) fn list_versions(method: &Method) -> Answer {
    let note = Note::new("aws_imds", "ListVersions", Verdict::Served);
    if !matches!(*method, Method::GET | Method::HEAD) {
        return errors::refuse(note, StatusCode::METHOD_NOT_ALLOWED);
    }
    noted(text(tree::VERSIONS.join("\n"), None), note)
}

fn text(body: impl Into<axum::body::Body>, ttl: Option<i64>) -> Response {
    let mut response = Response::new(body.into());
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(header::SERVER, HeaderValue::from_static("EC2ws"));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    if let Some(ttl) = ttl {
        headers.insert(HeaderName::from_static(token::TTL_HEADER), HeaderValue::from(ttl));
    }
    response
}

async fn metadata(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let version = req.uri().path().trim_start_matches('/').split('/').next().unwrap_or("");
    let slice: &dyn Slice = if tree::is_version(version) { &Imds } else { unrouted_slice(req.method(), req.uri().path()) };
    crate::exchange::serve!(shared, slice, req.method(), req.uri().path(), answer(&shared, &req))
}

fn answer(shared: &Shared, req: &Request) -> Answer {
    let path = req.uri().path().trim_start_matches('/');
    let (version, rest) = path.split_once('/').unwrap_or((path, ""));
    if !tree::is_version(version) {
        return unrouted(shared, req);
    }
    let model = shared.model.clone();
    let Some(ec2) = model.aws.ec2.as_ref() else {
        let mut note = Note::new("aws_imds", "GetMetadata", Verdict::Error);
        note.checks.push(Check::fail("imds.instance", "this world has no EC2 instance"));
        return errors::refuse(note, StatusCode::NOT_FOUND);
    };
    if ec2.http_endpoint == HttpEndpoint::Disabled {
        let mut note = Note::new("aws_imds", "GetMetadata", Verdict::Error);
        note.checks.push(Check::fail("imds.endpoint.enabled", "http_endpoint: disabled"));
        return errors::refuse(note, StatusCode::FORBIDDEN);
    }
    if rest == "api/token" {
        if version != "latest" {
            let mut note = Note::new("aws_imds", "PutToken", Verdict::Error);
            note.checks.push(Check::fail("imds.token.path", format!("token requested under version {version}")));
            return errors::refuse(note, StatusCode::FORBIDDEN);
        }
        return token::put(shared, req.method(), req.headers());
    }
    let operation = if rest.contains("security-credentials") { "GetCredentials" } else { "GetMetadata" };
    let mut note = Note::new("aws_imds", operation, Verdict::Error);
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        note.checks.push(Check::fail("imds.method", format!("{} is not GET or HEAD", req.method())));
        return errors::refuse(note, StatusCode::METHOD_NOT_ALLOWED);
    }
    let node = tree::resolve(&model, ec2, rest);
    let now = shared.clock.now();
    let wants_credentials = matches!(node, Node::Credentials { .. } | Node::IamInfo);
    let (token_check, booted_at, last_modified, credentials) = {
        let mut state = shared.state();
        let check = token::check(&state, req.headers(), now);
        let admitted = matches!(check, TokenCheck::Valid(_)) || (check == TokenCheck::Missing && ec2.http_tokens == HttpTokens::Optional);
        let creds = (admitted && wants_credentials).then(|| {
            let (cred, rotated) = instance_credentials(&shared.model, &mut state, now);
            let body = match node {
                Node::Credentials { extended } => {
                    let kind = if extended { "imds.credentials-extended" } else { "imds.credentials" };
                    state.rendered(kind, &cred.access_key_id, || tree::credentials_document(&model, &cred, extended))
                }
                _ => tree::iam_info(&model, ec2, cred.issued_at).into(),
            };
            (cred, rotated, body)
        });
        (check, state.booted_at, state.booted_http_date.clone(), creds)
    };
    let ttl = match token_check {
        TokenCheck::Valid(left) => {
            note.checks.push(Check::pass("imds.token", "IMDSv2 session token valid"));
            Some(left)
        }
        TokenCheck::Missing if ec2.http_tokens == HttpTokens::Optional => {
            note.checks.push(Check::skip("imds.token", "IMDSv1 request allowed (http_tokens: optional)"));
            None
        }
        refused => {
            let why = match refused {
                TokenCheck::Missing => "no token and http_tokens: required",
                TokenCheck::Expired => "token expired",
                _ => "token was not issued by this instance",
            };
            note.checks.push(Check::fail("imds.token", why));
            return errors::refuse(note, StatusCode::UNAUTHORIZED);
        }
    };
    let mut response = match (node, credentials) {
        (Node::Missing, _) => {
            note.checks.push(Check::fail("imds.path", format!("nothing at /{version}/{rest}")));
            return errors::refuse(note, StatusCode::NOT_FOUND);
        }
        (Node::IdentityDocument, _) => {
            note.verdict = Verdict::Served;
            text(tree::identity_document(&model, ec2, booted_at), ttl)
        }
        (Node::Text(body), _) => {
            note.verdict = Verdict::Served;
            text(body, ttl)
        }
        (Node::IamInfo, Some((_, _, body))) => {
            note.verdict = Verdict::Served;
            text(body, ttl)
        }
        (Node::Credentials { .. }, Some((cred, rotated, body))) => {
            note.verdict = Verdict::Granted;
            note.principal = Some(cred.receipt.principal.clone());
            note.checks.push(Check::pass("imds.credentials", if rotated { "issued new credentials" } else { "current credentials" }));
            note.issued = Some(cred.receipt.clone());
            text(body, ttl)
        }
        (Node::IamInfo | Node::Credentials { .. }, None) => unreachable!("credentials are fetched for admitted requests"),
    };
    response.headers_mut().insert(header::LAST_MODIFIED, last_modified);
    noted(response, note)
}

/// The instance role's current credentials, rotated as real IMDS rotates them.
fn instance_credentials(model: &WorldModel, state: &mut WorldState, now: time::OffsetDateTime) -> (Arc<IssuedCredential>, bool) {
    let ec2 = model.aws.ec2.as_ref().expect("checked by caller");
    let profile = ec2.instance_profile.as_ref().expect("checked by tree");
    state.credentials.current(
        "imds",
        &mut state.rng,
        || model.role_session(&model.aws.account_id, &profile.role, &ec2.instance_id).expect("validated role"),
        CredentialSource::Imds,
        now,
        ec2.credentials.into(),
    )
}

/// IMDS as a slice of the exchange: faults answer with its XHTML error pages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Imds;

impl Slice for Imds {
    fn service(&self) -> Service {
        Service::AwsImds
    }

    fn fault_response(&self, status: axum::http::StatusCode, _request_id: &str) -> axum::response::Response {
        errors::page(status)
    }
}
