//! IAM Credentials (`/v1/projects/-/serviceAccounts/{email or id}:{method}`):
//! `generateAccessToken`, `generateIdToken`, `signJwt`, `signBlob`, for a caller whose Bearer
//! token the world issued and whose principal holds a role on the service account. Errors are
//! `google.rpc.Status` JSON. Also `oauth2/v3/tokeninfo`, so clients can prove a token works.

use crate::explain::{BindingTrace, Explanation, FederationTrace};
use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::google_rpc::{RpcError, rpc_fault};
use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::journal::{Check, Issued, Note, Verdict};
use crate::world::google_tokens::AccessToken;
use crate::world::model::ServiceAccountModel;

/// IAM Credentials and tokeninfo routes.
pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new().route("/v1/projects/{project}/serviceAccounts/{target}", post(handle)).route("/oauth2/v3/tokeninfo", any(tokeninfo)).route("/tokeninfo", any(tokeninfo))
}

/// A refused answer: the verdict the error's status gives, and its body.
fn refuse(note: Note, e: RpcError) -> Answer {
    crate::exchange::Refusal::answer(&e, note, "")
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.to_string()).into_response()
}

async fn handle(State(shared): State<Arc<Shared>>, Path((project, target)): Path<(String, String)>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    crate::exchange::serve!(shared, &IamCredentials, &parts.method, parts.uri.path(), answer(&shared, &project, &target, &parts.headers, &bytes))
}

/// Whether `member` names the caller.
fn member_matches(member: &str, caller: &AccessToken) -> bool {
    if let Some(fed) = &caller.federation {
        let base = format!("//iam.googleapis.com/{}", fed.pool);
        if let Some(rest) = member.strip_prefix("principal:") {
            return rest == format!("{base}/subject/{}", fed.subject);
        }
        if let Some(rest) = member.strip_prefix("principalSet:").and_then(|r| r.strip_prefix(base.as_str())) {
            if rest == "/*" {
                return true;
            }
            if let Some(attr) = rest.strip_prefix("/attribute.") {
                return attr.split_once('/').is_some_and(|(name, value)| fed.attributes.get(name).is_some_and(|v| v == value));
            }
            if let Some(group) = rest.strip_prefix("/group/") {
                return fed.attributes.get("groups").is_some_and(|g| g.split(',').any(|x| x == group));
            }
        }
        return false;
    }
    member == format!("serviceAccount:{}", caller.principal) || member == format!("user:{}", caller.principal)
}

/// `sa`'s binding members for `role` still in force (not revoked while running).
fn members<'a>(sa: &'a ServiceAccountModel, role: &'a str, members: &'a [String], revoked: &'a HashSet<(String, String, String)>) -> impl Iterator<Item = &'a String> {
    members.iter().filter(move |m| revoked.is_empty() || !revoked.contains(&(sa.email.clone(), role.to_string(), (*m).clone())))
}

/// The roles that hold `permission` on a service account (IAM's predefined roles reference):
/// Workload Identity User holds `getAccessToken` and `getOpenIdToken` (for federated principals)
/// but not `signJwt` or `signBlob`; Service Account Token Creator holds all four.
fn roles_granting(permission: &str, federated: bool) -> &'static [&'static str] {
    match permission {
        "iam.serviceAccounts.getAccessToken" | "iam.serviceAccounts.getOpenIdToken" if federated => &["roles/iam.workloadIdentityUser", "roles/iam.serviceAccountTokenCreator"],
        _ => &["roles/iam.serviceAccountTokenCreator"],
    }
}

/// Who the caller is, as members name it: its `principal://` (or `serviceAccount:`) identifier
/// and the `principalSet://` sets it belongs to.
fn caller_identifiers(caller: &AccessToken) -> Vec<String> {
    let Some(fed) = &caller.federation else {
        return vec![format!("serviceAccount:{}", caller.principal), format!("user:{}", caller.principal)];
    };
    let base = format!("//iam.googleapis.com/{}", fed.pool);
    let mut ids = vec![format!("principal:{base}/subject/{}", fed.subject), format!("principalSet:{base}/*")];
    ids.extend(fed.attributes.iter().map(|(k, v)| format!("principalSet:{base}/attribute.{k}/{v}")));
    ids
}

/// The binding of `sa` compared member by member with `caller`, for the refusal's explanation.
fn binding_trace(sa: &ServiceAccountModel, caller: &AccessToken, permission: &str, revoked: &HashSet<(String, String, String)>) -> BindingTrace {
    let roles = roles_granting(permission, caller.federation.is_some());
    let members = sa
        .bindings
        .iter()
        .filter(|b| roles.contains(&b.role.as_str()))
        .flat_map(|b| members(sa, &b.role, &b.members, revoked).map(|m| (format!("{} {m}", b.role), member_matches(m, caller))))
        .collect();
    BindingTrace { service_account: sa.email.clone(), role: roles.join(" or "), caller: caller_identifiers(caller), members }
}

/// Whether `caller` holds a role granting `permission` on `sa`.
fn allowed(sa: &ServiceAccountModel, caller: &AccessToken, permission: &str, revoked: &HashSet<(String, String, String)>) -> Option<String> {
    let roles = roles_granting(permission, caller.federation.is_some());
    sa.bindings.iter().filter(|b| roles.contains(&b.role.as_str())).find_map(|b| members(sa, &b.role, &b.members, revoked).find(|m| member_matches(m, caller)).map(|m| format!("{} via {m}", b.role)))
}

pub(crate) fn answer(shared: &Shared, project: &str, target: &str, headers: &axum::http::HeaderMap, body: &[u8]) -> Answer {
    let (sa_ref, method) = target.rsplit_once(':').unwrap_or((target, ""));
    let (operation, permission) = match method {
        "generateAccessToken" => ("GenerateAccessToken", "iam.serviceAccounts.getAccessToken"),
        "generateIdToken" => ("GenerateIdToken", "iam.serviceAccounts.getOpenIdToken"),
        "signJwt" => ("SignJwt", "iam.serviceAccounts.signJwt"),
        "signBlob" => ("SignBlob", "iam.serviceAccounts.signBlob"),
        _ => {
            let note = Note::new("iam_credentials", "Unknown", Verdict::Error);
            return refuse(note, RpcError::new(404, "NOT_FOUND", format!("Method not found: {method}"), None));
        }
    };
    let mut note = Note::new("iam_credentials", operation, Verdict::Error);
    if project != "-" {
        note.checks.push(Check::fail("iam.resource", format!("`projects/{project}/…`: the project must be the wildcard `-`")));
        let message =
            format!("Invalid form of account ID projects/{project}/serviceAccounts/{}. Should be [Gaia ID |Email |Unique ID |] of the account", target.rsplit_once(':').map_or(target, |(sa, _)| sa));
        return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", message, None));
    }
    let now = shared.clock.now();
    let caller = match super::google_rpc::bearer_caller(shared, headers) {
        Ok(c) => c,
        Err((why, e)) => {
            note.checks.push(Check::fail("iam.caller", why));
            return refuse(note, e);
        }
    };
    note.principal = Some(caller.principal.clone());
    note.checks.push(Check::pass("iam.caller", caller.principal.clone()));
    let denied = |note: &mut Note, why: String| {
        note.checks.push(Check::fail("iam.permission", why));
        RpcError::new(403, "PERMISSION_DENIED", format!("Permission '{permission}' denied on resource (or it may not exist)."), Some(permission))
    };
    let gcp = &shared.model.gcp;
    let Some(sa) = gcp.account(sa_ref) else {
        let r = denied(&mut note, format!("no service account {sa_ref}"));
        return refuse(note, r);
    };
    let req: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            note.checks.push(Check::fail("iam.request", "body is not a JSON object"));
            return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", None));
        }
    };
    let delegates: Vec<String> = req.get("delegates").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default();
    let mut chain: Vec<&ServiceAccountModel> = Vec::new();
    for d in &delegates {
        let id = d.rsplit('/').next().unwrap_or(d);
        match gcp.account(id) {
            Some(x) => chain.push(x),
            None => {
                let r = denied(&mut note, format!("delegate {d} does not exist"));
                return refuse(note, r);
            }
        }
    }
    chain.push(sa);
    let revoked = shared.state().revoked_bindings.clone();
    let Some(grant) = allowed(chain[0], &caller, permission, &revoked) else {
        let needs = roles_granting(permission, caller.federation.is_some()).join(" or ");
        let r = denied(&mut note, format!("{} holds no role granting {permission} on {} (it needs {needs})", caller.principal, chain[0].email));
        let trace = FederationTrace { binding: Some(binding_trace(chain[0], &caller, permission, &revoked)), ..FederationTrace::default() };
        if let Some(last) = note.checks.last_mut() {
            *last = last.clone().explained(Explanation::Federation(trace));
        }
        return refuse(note, r);
    };
    for pair in chain.windows(2) {
        let link = format!("serviceAccount:{}", pair[0].email);
        if !pair[1].bindings.iter().any(|b| b.role == "roles/iam.serviceAccountTokenCreator" && members(pair[1], &b.role, &b.members, &revoked).any(|m| *m == link)) {
            let r = denied(&mut note, format!("delegate {} may not act as {}", pair[0].email, pair[1].email));
            return refuse(note, r);
        }
    }
    note.checks.push(Check::pass("iam.permission", grant));
    match method {
        "generateAccessToken" => generate_access_token(shared, sa, &req, now, note),
        "generateIdToken" => generate_id_token(shared, sa, &req, now, note),
        "signJwt" => sign_jwt(shared, sa, &req, now, note),
        _ => sign_blob(shared, sa, &req, note),
    }
}

/// `generateAccessToken`: an access token for the account, with the requested scopes and
/// lifetime (1 s … 3600 s).
fn generate_access_token(shared: &Shared, sa: &ServiceAccountModel, req: &Value, now: time::OffsetDateTime, mut note: Note) -> Answer {
    let scope: Vec<String> = req.get("scope").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default();
    if scope.is_empty() {
        note.checks.push(Check::fail("iam.request", "no scope"));
        return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", "Scope required.", None));
    }
    let len = scope.iter().map(|s| s.len() + 1).sum::<usize>();
    if len > crate::world::google_tokens::MAX_SCOPES_LEN {
        note.checks.push(Check::fail("iam.request", format!("scopes are {len} bytes")));
        return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", format!("The requested scopes are {len} bytes long; at most {} are accepted.", crate::world::google_tokens::MAX_SCOPES_LEN), None));
    }
    let lifetime = match req.get("lifetime").and_then(Value::as_str) {
        None => 3600,
        Some(l) => match l.strip_suffix('s').and_then(|n| n.parse::<f64>().ok()) {
            Some(n) if (1.0..=3600.0).contains(&n) => n as i64,
            _ => {
                note.checks.push(Check::fail("iam.request", format!("lifetime {l}")));
                return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", "The lifetime must be between 1s and 3600s.", None));
            }
        },
    };
    let token = {
        let mut state = shared.state();
        let state = &mut *state;
        state.google_tokens.issue(&mut state.rng, &sa.email, scope, now, time::Duration::seconds(lifetime))
    };
    note.verdict = Verdict::Granted;
    note.issued = Some(token.receipt.clone());
    noted(ok(json!({"accessToken": token.token.expose(), "expireTime": crate::clock::iso8601(token.expires_at)})), note)
}

/// `generateIdToken`: a Google ID token for the account, signed by Google's OIDC key, as
/// IAM Credentials issues them.
fn generate_id_token(shared: &Shared, sa: &ServiceAccountModel, req: &Value, now: time::OffsetDateTime, mut note: Note) -> Answer {
    let Some(audience) = req.get("audience").and_then(Value::as_str).filter(|a| !a.is_empty()) else {
        note.checks.push(Check::fail("iam.request", "no audience"));
        return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", "Audience required.", None));
    };
    let iat = now.unix_timestamp();
    let mut claims = json!({"aud": audience, "azp": sa.unique_id, "exp": iat + 3600, "iat": iat, "iss": crate::world::issuers::GOOGLE_ISS, "sub": sa.unique_id});
    if req.get("includeEmail").and_then(Value::as_bool) == Some(true) {
        claims["email"] = json!(sa.email);
        claims["email_verified"] = json!(true);
    }
    let Some(key) = shared.state().issuers.by_name("google").and_then(|i| i.active.clone()) else {
        return refuse(note, RpcError::new(500, "INTERNAL", "no signing key", None));
    };
    let token = key.sign(&claims, &Default::default());
    note.verdict = Verdict::Granted;
    note.issued = Some(Arc::new(Issued::id_token(&token, &sa.unique_id, audience, now + time::Duration::hours(1))));
    noted(ok(json!({ "token": token })), note)
}

/// `signJwt`: the payload signed with the account's own key (never an issuer's).
fn sign_jwt(shared: &Shared, sa: &ServiceAccountModel, req: &Value, now: time::OffsetDateTime, mut note: Note) -> Answer {
    let Some(Value::Object(mut payload)) = req.get("payload").and_then(Value::as_str).and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        note.checks.push(Check::fail("iam.request", "payload is not a JSON object"));
        return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", "Payload must be a JSON object.", None));
    };
    if let Err(why) = sign_jwt_expiry(&mut payload, now.unix_timestamp()) {
        note.checks.push(Check::fail("iam.request", why.clone()));
        return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", why, None));
    }
    let key = shared.sa_keys.key_for(&sa.email);
    note.checks.push(Check::pass("iam.sign", format!("{}'s own key {}", sa.email, key.kid)));
    note.verdict = Verdict::Served;
    noted(ok(json!({"keyId": key.kid, "signedJwt": key.sign(&Value::Object(payload), &Default::default())})), note)
}

/// `signBlob`: the bytes signed with the account's own key.
fn sign_blob(shared: &Shared, sa: &ServiceAccountModel, req: &Value, mut note: Note) -> Answer {
    let Some(payload) = req.get("payload").and_then(Value::as_str).and_then(|p| STANDARD.decode(p).ok()) else {
        note.checks.push(Check::fail("iam.request", "payload is not base64"));
        return refuse(note, RpcError::new(400, "INVALID_ARGUMENT", "Payload must be base64.", None));
    };
    let key = shared.sa_keys.key_for(&sa.email);
    note.checks.push(Check::pass("iam.sign", format!("{}'s own key {}", sa.email, key.kid)));
    note.verdict = Verdict::Served;
    noted(ok(json!({"keyId": key.kid, "signedBlob": STANDARD.encode(key.sign_bytes(&payload))})), note)
}

/// `signJwt`'s rule for `exp` (IAM Credentials reference): an integer timestamp not in the past
/// and at most 12 hours ahead; added, one hour ahead, when the payload has none.
fn sign_jwt_expiry(payload: &mut serde_json::Map<String, Value>, now: i64) -> Result<(), String> {
    const MAX_AHEAD: i64 = 12 * 3600;
    match payload.get("exp") {
        None => {
            payload.insert("exp".into(), json!(now + 3600));
            Ok(())
        }
        Some(v) => match v.as_i64() {
            Some(exp) if exp < now => Err(format!("The exp claim {exp} is in the past.")),
            Some(exp) if exp - now > MAX_AHEAD => Err(format!("The exp claim {exp} is more than 12 hours in the future.")),
            Some(_) => Ok(()),
            None => Err("The exp claim must be an integer timestamp.".into()),
        },
    }
}

async fn tokeninfo(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap_or_default();
    let from_query = parts.uri.query().unwrap_or("").split('&').find_map(|kv| kv.strip_prefix("access_token=").map(str::to_string));
    let from_body = std::str::from_utf8(&bytes).ok().and_then(|b| b.split('&').find_map(|kv| kv.strip_prefix("access_token=").map(str::to_string)));
    let from_header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::to_string);
    let token = from_query.or(from_body).or(from_header).unwrap_or_default();
    crate::exchange::serve!(shared, &TokenInfo, &parts.method, parts.uri.path(), tokeninfo_answer(&shared, &token))
}

fn tokeninfo_answer(shared: &Shared, token: &str) -> Answer {
    let now = shared.clock.now();
    let mut note = Note::new("google_oauth2", "TokenInfo", Verdict::Error);
    let found = shared.state().google_tokens.lookup(token).filter(|t| t.expires_at > now);
    let response = match found {
        None => {
            note.verdict = Verdict::Denied;
            note.checks.push(Check::fail("tokeninfo", "unknown or expired token"));
            (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "application/json; charset=UTF-8")], json!({"error": "invalid_token", "error_description": "Invalid Value"}).to_string()).into_response()
        }
        Some(t) => {
            note.verdict = Verdict::Served;
            note.principal = Some(t.principal.clone());
            note.checks.push(Check::pass("tokeninfo", t.principal.clone()));
            let sa = shared.model.gcp.account(&t.principal);
            let mut body = json!({
                "azp": sa.map(|s| s.unique_id.clone()).unwrap_or_else(|| t.principal.clone()),
                "aud": sa.map(|s| s.unique_id.clone()).unwrap_or_else(|| t.principal.clone()),
                "scope": t.scopes().join(" "),
                "exp": t.expires_at.unix_timestamp().to_string(),
                "expires_in": (t.expires_at - now).whole_seconds().to_string(),
                "access_type": "online",
            });
            if let Some(sa) = sa {
                body["email"] = json!(sa.email);
                body["email_verified"] = json!("true");
            } else if let Some(f) = &t.federation {
                body["sub"] = json!(f.subject);
            }
            ok(body)
        }
    };
    noted(response, note)
}

/// IAM Credentials as a slice of the exchange: faults answer with `google.rpc.Status` JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IamCredentials;

impl Slice for IamCredentials {
    fn service(&self) -> Service {
        Service::IamCredentials
    }

    fn fault_response(&self, status: StatusCode, _request_id: &str) -> Response {
        rpc_fault(status)
    }
}

/// Google's `tokeninfo` as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenInfo;

impl Slice for TokenInfo {
    fn service(&self) -> Service {
        Service::GoogleOauth2
    }
}
