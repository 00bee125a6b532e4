//! The control plane's presigner: `POST /_cloudid/aws/presign` makes what a relying party that
//! proves AWS identities receives — a presigned `GetCallerIdentity` URL and the EKS token
//! (`k8s-aws-v1.` + base64url of the URL, `x-k8s-aws-id` signed) that `aws eks get-token` and
//! aws-iam-authenticator make — signed with credentials the world issues for a role session (the
//! EC2 instance's by default), so a verifier scenario needs no SDK to make one.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

use crate::exchange::Shared;
use crate::verify::sigv4;

/// The routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/_cloudid/aws/presign", post(presign))
}

/// `POST /_cloudid/aws/presign` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct PresignRequest {
    /// The STS host the URL names (default `sts.REGION.amazonaws.com` of the world's region).
    host: Option<String>,
    /// The `x-k8s-aws-id` to sign (default: none, a plain presigned URL).
    cluster_id: Option<String>,
    /// The role whose session signs (default: the EC2 instance profile's, else the first role).
    role: Option<String>,
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn presign(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let req: PresignRequest = if body.is_empty() {
        PresignRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => return bad_request(format!("presign: {e}")),
        }
    };
    let model = &shared.model;
    let role = req.role.clone().or_else(|| model.aws.ec2.as_ref().and_then(|e| e.instance_profile.as_ref()).map(|p| p.role.clone())).or_else(|| model.aws.roles.first().map(|r| r.name.clone()));
    let Some(principal) = role.as_deref().and_then(|r| model.role_session(&model.aws.account_id, r, "cloudid-presign")) else {
        return bad_request(format!("presign: no role `{}` in aws.roles", role.unwrap_or_default()));
    };
    let now = shared.clock.now();
    let cred = {
        let mut state = shared.state();
        let state = &mut *state;
        state.credentials.issue(&mut state.rng, principal, crate::world::CredentialSource::Sts, now, time::Duration::hours(1))
    };
    let region = model.aws.region.clone();
    let host = req.host.clone().unwrap_or_else(|| format!("sts.{region}.amazonaws.com"));
    let amz_date = sigv4::format_amz_date(now);
    let date = &amz_date[..8];
    let signed_headers = if req.cluster_id.is_some() { "host;x-k8s-aws-id" } else { "host" };
    let mut params = [
        ("Action".to_string(), "GetCallerIdentity".to_string()),
        ("Version".to_string(), "2011-06-15".to_string()),
        ("X-Amz-Algorithm".to_string(), sigv4::ALGORITHM.to_string()),
        ("X-Amz-Credential".to_string(), format!("{}/{date}/{region}/sts/aws4_request", cred.access_key_id)),
        ("X-Amz-Date".to_string(), amz_date.clone()),
        ("X-Amz-Expires".to_string(), "60".to_string()),
        ("X-Amz-Security-Token".to_string(), cred.session_token.expose().to_string()),
        ("X-Amz-SignedHeaders".to_string(), signed_headers.to_string()),
    ];
    params.sort();
    let encode = |s: &str| {
        let mut out = String::new();
        sigv4::uri_encode(s.as_bytes(), false, &mut out);
        out
    };
    let query = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&");
    let mut headers = vec![("host".to_string(), host.clone())];
    if let Some(id) = &req.cluster_id {
        headers.push(("x-k8s-aws-id".to_string(), id.clone()));
    }
    let names: Vec<String> = signed_headers.split(';').map(str::to_string).collect();
    let request = sigv4::Request { method: "GET", path: "/", query: &query, headers, body: b"" };
    let Ok(canonical) = sigv4::canonical_request(&request, &names, &sigv4::sha256_hex(b"")) else {
        return bad_request("presign: the request cannot be made canonical".into());
    };
    let string_to_sign = sigv4::string_to_sign(&amz_date, &format!("{date}/{region}/sts/aws4_request"), &canonical);
    let signature = sigv4::signature(cred.secret_access_key.expose(), date, &region, "sts", &string_to_sign);
    let url = format!("https://{host}/?{query}&X-Amz-Signature={signature}");
    let eks_token = format!("k8s-aws-v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&url));
    Json(json!({ "url": url, "eks_token": eks_token, "principal": cred.receipt.principal })).into_response()
}
