//! EC2 Instance Metadata Service (IMDSv1 and v2), as an instance sees it at 169.254.169.254.
//!
//! Routes: `PUT /latest/api/token`, `GET|HEAD /<version>/meta-data/…` and `/<version>/dynamic/…`.

pub mod errors;
pub mod token;
pub mod tree;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::clock::http_date;
use crate::journal::{Check, Issued, Note, Verdict};
use crate::server::{Shared, noted};
use crate::world::model::{HttpEndpoint, HttpTokens};
use crate::world::{CredentialSource, IssuedCredential};
use token::TokenCheck;
use tree::Node;

/// IMDS routes.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/", any(root))
        .route("/latest", any(metadata))
        .route("/latest/", any(metadata))
        .route("/latest/{*rest}", any(metadata))
        .route("/{version}", any(metadata))
        .route("/{version}/", any(metadata))
        .route("/{version}/{*rest}", any(metadata))
}

async fn root(req: Request) -> Response {
    let mut note = Note::new("aws_imds", "ListVersions", Verdict::Served);
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        note.verdict = Verdict::Error;
        return noted(errors::page(StatusCode::METHOD_NOT_ALLOWED), note);
    }
    noted(text(tree::VERSIONS.join("\n"), None), note)
}

fn text(body: String, ttl: Option<i64>) -> Response {
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain"), (header::SERVER, "EC2ws"), (header::ACCEPT_RANGES, "none")],
        body,
    )
        .into_response();
    if let Some(ttl) = ttl
        && let Ok(v) = HeaderValue::from_str(&ttl.to_string())
    {
        response.headers_mut().insert(HeaderName::from_static(token::TTL_HEADER), v);
    }
    response
}

fn issued(cred: &IssuedCredential) -> Issued {
    Issued {
        access_key_id: cred.access_key_id.clone(),
        secret_fingerprint: cred.secret_access_key.fingerprint(),
        token_fingerprint: cred.session_token.fingerprint(),
        expiration: crate::clock::iso8601(cred.expires_at),
        arn: cred.principal.arn(),
    }
}

async fn metadata(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let (version, rest) = path.split_once('/').unwrap_or((path, ""));
    if !tree::is_version(version) {
        let body = format!("cloudid: no emulated endpoint at {} {}\n", req.method(), req.uri().path());
        return noted(
            (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response(),
            Note::new("cloudid", "NotFound", Verdict::Error),
        );
    }
    let model = shared.model.clone();
    let Some(ec2) = model.aws.ec2.as_ref() else {
        let mut note = Note::new("aws_imds", "GetMetadata", Verdict::Error);
        note.checks.push(Check::fail("imds.instance", "this world has no EC2 instance".to_string()));
        return noted(errors::page(StatusCode::NOT_FOUND), note);
    };
    if ec2.http_endpoint == HttpEndpoint::Disabled {
        let mut note = Note::new("aws_imds", "GetMetadata", Verdict::Denied);
        note.checks.push(Check::fail("imds.endpoint.enabled", "http_endpoint: disabled".to_string()));
        return noted(errors::page(StatusCode::FORBIDDEN), note);
    }
    if rest == "api/token" {
        if version != "latest" {
            let mut note = Note::new("aws_imds", "PutToken", Verdict::Denied);
            note.checks.push(Check::fail("imds.token.path", format!("token requested under version {version}")));
            return noted(errors::page(StatusCode::FORBIDDEN), note);
        }
        return token::put(&shared, req.method(), req.headers());
    }
    let operation = if rest.contains("security-credentials") { "GetCredentials" } else { "GetMetadata" };
    let mut note = Note::new("aws_imds", operation, Verdict::Error);
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        note.checks.push(Check::fail("imds.method", format!("{} is not GET or HEAD", req.method())));
        return noted(errors::page(StatusCode::METHOD_NOT_ALLOWED), note);
    }
    let now = shared.clock.now();
    let ttl = match token::check(&shared, req.headers(), now) {
        TokenCheck::Valid(left) => {
            note.checks.push(Check::pass("imds.token", "IMDSv2 session token valid".to_string()));
            Some(left)
        }
        TokenCheck::Missing if ec2.http_tokens == HttpTokens::Optional => {
            note.checks.push(Check::skip("imds.token", "IMDSv1 request allowed (http_tokens: optional)".to_string()));
            None
        }
        refused => {
            let why = match refused {
                TokenCheck::Missing => "no token and http_tokens: required",
                TokenCheck::Expired => "token expired",
                _ => "token was not issued by this instance",
            };
            note.verdict = Verdict::Denied;
            note.checks.push(Check::fail("imds.token", why.to_string()));
            return noted(errors::page(StatusCode::UNAUTHORIZED), note);
        }
    };
    let response = match tree::resolve(&model, ec2, rest) {
        Node::Missing => {
            note.checks.push(Check::fail("imds.path", format!("nothing at /{version}/{rest}")));
            return noted(errors::page(StatusCode::NOT_FOUND), note);
        }
        Node::IdentityDocument => {
            let booted = shared.state().booted_at;
            note.verdict = Verdict::Served;
            text(tree::identity_document(&model, ec2, booted), ttl)
        }
        Node::Text(body) => {
            note.verdict = Verdict::Served;
            text(body, ttl)
        }
        Node::IamInfo => {
            let cred = instance_credentials(&shared, now).0;
            note.verdict = Verdict::Served;
            text(tree::iam_info(&model, ec2, cred.issued_at), ttl)
        }
        Node::Credentials { extended } => {
            let (cred, rotated) = instance_credentials(&shared, now);
            note.verdict = Verdict::Granted;
            note.principal = Some(cred.principal.arn());
            note.checks.push(Check::pass(
                "imds.credentials",
                format!("{} ({})", if rotated { "issued new credentials" } else { "current credentials" }, crate::clock::iso8601(cred.expires_at)),
            ));
            note.issued = Some(issued(&cred));
            text(tree::credentials_document(&model, &cred, extended), ttl)
        }
    };
    let mut response = response;
    if let Ok(v) = HeaderValue::from_str(&http_date(shared.state().booted_at)) {
        response.headers_mut().insert(header::LAST_MODIFIED, v);
    }
    noted(response, note)
}

/// The instance role's current credentials, rotated as real IMDS rotates them.
fn instance_credentials(shared: &Shared, now: time::OffsetDateTime) -> (IssuedCredential, bool) {
    let model = &shared.model;
    let ec2 = model.aws.ec2.as_ref().expect("checked by caller");
    let profile = ec2.instance_profile.as_ref().expect("checked by tree");
    let mut state = shared.state();
    let state = &mut *state;
    state.credentials.current(
        "imds",
        &mut state.rng,
        || model.role_session(&profile.role, &ec2.instance_id).expect("validated role"),
        CredentialSource::Imds,
        now,
        ec2.credentials.into(),
    )
}
