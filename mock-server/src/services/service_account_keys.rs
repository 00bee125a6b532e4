//! The public keys of service accounts' system-managed keys, where Google publishes them:
//! `www.googleapis.com/service_accounts/v1/metadata/x509/EMAIL` (`{kid: PEM certificate}`) and
//! `/service_accounts/v1/jwk/EMAIL` (a JWKS). A verifier of a JWT made with IAM Credentials
//! `signJwt` fetches these, by the `keyId` the call returned. The paths are Google's own, so they
//! answer whatever the `Host`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Note, Verdict};

/// The key routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/service_accounts/v1/metadata/x509/{email}", get(x509)).route("/service_accounts/v1/jwk/{email}", get(jwk)).route("/service_accounts/v1/metadata/jwk/{email}", get(jwk))
}

#[derive(Clone, Copy)]
enum Form {
    X509,
    Jwk,
}

async fn x509(State(shared): State<Arc<Shared>>, Path(email): Path<String>, req: Request) -> Response {
    crate::exchange::serve!(shared, &Keys, req.method(), req.uri().path(), answer(&shared, &email, Form::X509))
}

async fn jwk(State(shared): State<Arc<Shared>>, Path(email): Path<String>, req: Request) -> Response {
    crate::exchange::serve!(shared, &Keys, req.method(), req.uri().path(), answer(&shared, &email, Form::Jwk))
}

fn answer(shared: &Shared, email: &str, form: Form) -> Answer {
    let operation = match form {
        Form::X509 => "GetServiceAccountCerts",
        Form::Jwk => "GetServiceAccountJwks",
    };
    let mut note = Note::new("service_account_keys", operation, Verdict::Served);
    let Some(sa) = shared.model.gcp.service_accounts.iter().find(|s| s.email == email) else {
        note.verdict = Verdict::Error;
        note.checks.push(Check::fail("sa_keys.account", format!("no service account {email}")));
        let body = json!({"error": {"code": 404, "message": format!("Service account {email} not found."), "status": "NOT_FOUND"}});
        return noted((StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.to_string()).into_response(), note);
    };
    let key = shared.sa_keys.key_for(&sa.email);
    note.principal = Some(sa.email.clone());
    note.checks.push(Check::pass("sa_keys.account", key.kid.clone()));
    let body = match form {
        Form::X509 => json!({ key.kid.clone(): key.cert_pem.as_str() }),
        Form::Jwk => {
            let mut k = json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": key.kid, "n": key.jwk.n, "e": key.jwk.e});
            if let Value::Object(m) = &mut k {
                m.retain(|_, v| !v.is_null());
            }
            json!({ "keys": [k] })
        }
    };
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.to_string()).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600, must-revalidate, no-transform"));
    noted(response, note)
}

/// The service accounts' published keys as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keys;

impl Slice for Keys {
    fn service(&self) -> Service {
        Service::ServiceAccountKeys
    }
}
