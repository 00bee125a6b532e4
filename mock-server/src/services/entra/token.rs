//! The token endpoint, `POST /{tenant}/oauth2/v2.0/token`, for the client credentials grant as
//! confidential clients use it: with a client secret (in the body or HTTP Basic), with a
//! certificate's client assertion (`x5t` or `x5t#S256`, RS256 or PS256, `aud` the token
//! endpoint), or with a federated assertion from another issuer (workload identity federation:
//! an app's or user-assigned identity's federated identity credential matched exactly and
//! case-sensitively on issuer, then subject, then audience; the token verified against its
//! issuer's keys; lifetime at most 25 hours).
//!
//! Checks run in order — tenant, client, scope, client authentication — and each refusal is the
//! AADSTS error Entra gives ([`super::error`]).

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use super::Aadsts;
use super::error::{missing, seven_digits, unknown_client, unknown_resource};
use crate::exchange::{Answer, Shared, noted};
use crate::journal::{Check, Issued, IssuedKind, Note, Verdict};
use crate::verify::jwt;
use crate::world::azure::{ApplicationModel, FederatedCredentialModel, Identity, TenantModel};
use crate::world::entra_tokens::{self, ClientAuth};

/// The client assertion type of RFC 7523.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long a client-credentials token lives (`expires_in`).
pub(crate) const LIFETIME: i64 = 3599;
/// The longest lifetime (`exp` − `iat`) Entra takes in a federated assertion: 1 day 1 hour.
pub(crate) const MAX_FEDERATED_LIFETIME: i64 = 25 * 3600;
/// Clock skew allowed on assertion times.
pub(crate) const SKEW: i64 = 300;

pub(super) async fn token(State(shared): State<Arc<Shared>>, Path(tenant): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let req = Request::from_parts(parts, axum::body::Body::empty());
    crate::exchange::serve!(shared, &super::Entra, req.method(), req.uri().path(), answer(&shared, &tenant, &req, &body))
}

/// The form's parameters, decoded; raw spaces, `|` and `,` (older msal-node) pass as they are.
fn form(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let decode = crate::percent::decode_form;
    text.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').map_or_else(|| (decode(p), String::new()), |(k, v)| (decode(k), decode(v)))).collect()
}

/// Everything the checks need to say who asked and how to answer.
struct Ctx<'a> {
    shared: &'a Shared,
    note: Note,
    correlation: Option<String>,
}

impl Ctx<'_> {
    fn refuse(self, check: &'static str, detail: String, why: &Aadsts) -> Answer {
        super::refused(self.shared, self.note, check, detail, why, self.correlation.as_deref())
    }
}

fn answer(shared: &Shared, tenant_name: &str, req: &Request, body: &[u8]) -> Answer {
    // Entra reads only a form body: anything else leaves it without parameters.
    let is_form = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let params = if is_form { form(body) } else { Vec::new() };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let correlation = req.headers().get("client-request-id").and_then(|v| v.to_str().ok()).map(str::to_string).or_else(|| get("client-request-id").map(str::to_string));
    let correlation = correlation.filter(|c| crate::world::azure::is_guid(c));
    let mut cx = Ctx { shared, note: Note::new("entra", "GetToken", Verdict::Error), correlation };
    if let Some((dup, _)) = params.iter().enumerate().find(|(i, (k, _))| params[..*i].iter().any(|(o, _)| o == k)).map(|(_, p)| p) {
        let why = Aadsts::new("invalid_request", 9_000_411, format!("The request is not properly formatted. The parameter '{dup}' is duplicated."));
        return cx.refuse("entra.request", format!("`{dup}` appears twice in the form"), &why);
    }
    let tenant = match super::tenant(shared, tenant_name) {
        Ok(t) => t,
        Err(why) => return cx.refuse("entra.tenant", format!("no tenant `{tenant_name}` in the world"), &why),
    };
    cx.note.checks.push(Check::pass("entra.tenant", tenant.name.clone()));
    let Some(grant) = get("grant_type") else {
        return cx.refuse("entra.request", "no grant_type".into(), &missing("grant_type"));
    };
    if grant != "client_credentials" {
        let why = Aadsts::new("unsupported_grant_type", 70_003, format!("The app requested an unsupported grant type '{grant}'."));
        return cx.refuse("entra.request", format!("grant_type `{grant}`: cloudid's Entra serves the client credentials grant"), &why);
    }
    let basic = basic_credentials(req);
    let methods = usize::from(basic.is_some()) + usize::from(get("client_secret").is_some()) + usize::from(get("client_assertion").is_some());
    let basic_mismatch = basic.as_ref().zip(get("client_id")).is_some_and(|((id, _), body)| !id.eq_ignore_ascii_case(body));
    if methods > 1 || basic_mismatch {
        let why = Aadsts::new("invalid_request", 9_002_313, "Invalid request. Request is malformed or invalid.");
        return cx.refuse("entra.request", "more than one way of authenticating the client (RFC 6749 2.3: use one), or a Basic client id that is not the body's".into(), &why);
    }
    let Some(client_id) = get("client_id").map(str::to_string).or_else(|| basic.as_ref().map(|(id, _)| id.clone())) else {
        return cx.refuse("entra.request", "no client_id".into(), &missing("client_id"));
    };
    let azure = &shared.model.azure;
    let Some((identity, app, fics)) = azure.client(tenant, &client_id) else {
        return cx.refuse("entra.client", format!("no application or managed identity with client id `{client_id}` in tenant `{}`", tenant.name), &unknown_client(&client_id, &tenant.tenant_id()));
    };
    cx.note.checks.push(Check::pass("entra.client", format!("{:?} `{}`", identity.kind, identity.name)));
    cx.note.principal = Some(identity.object_id.clone());
    let Some(scope) = get("scope") else {
        return cx.refuse("entra.scope", "no scope".into(), &missing("scope"));
    };
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let resource = match scopes.as_slice() {
        [one] => match one.strip_suffix("/.default") {
            Some(r) => r,
            None => {
                let why = Aadsts::new(
                    "invalid_scope",
                    1_002_012,
                    format!(
                        "The provided value for scope {one} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                );
                return cx.refuse("entra.scope", format!("`{one}` does not end in /.default"), &why);
            }
        },
        _ => {
            let why = Aadsts::new(
                "invalid_scope",
                70_011,
                format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
            );
            return cx.refuse("entra.scope", format!("{} scopes: the client credentials grant takes one resource's /.default", scopes.len()), &why);
        }
    };
    let Some(res) = entra_tokens::resource(tenant, resource) else {
        return cx.refuse("entra.scope", format!("`{resource}` is neither an Azure API nor an application ID URI of tenant `{}`", tenant.name), &unknown_resource(resource, &tenant.tenant_id()));
    };
    cx.note.checks.push(Check::pass("entra.scope", format!("v{} token for {}", res.version, res.audience())));
    let auth = match (get("client_assertion"), get("client_secret").map(str::to_string).or(basic.map(|(_, s)| s))) {
        (Some(assertion), _) => {
            if get("client_assertion_type") != Some(JWT_BEARER) {
                let why = Aadsts::new("invalid_request", 9_002_313, "Invalid request. Request is malformed or invalid.");
                return cx.refuse("entra.assertion", format!("client_assertion_type is `{}`, not {JWT_BEARER}", get("client_assertion_type").unwrap_or("")), &why);
            }
            match assertion_auth(&mut cx, tenant, &identity, app, fics, assertion, req) {
                Ok(a) => a,
                Err((check, detail, why)) => return cx.refuse(check, detail, &why),
            }
        }
        (None, Some(secret)) => match secret_auth(shared, &identity, app, &secret) {
            Ok(()) => {
                cx.note.checks.push(Check::passed("entra.secret"));
                ClientAuth::Secret
            }
            Err((detail, why)) => return cx.refuse("entra.secret", detail, &why),
        },
        (None, None) => {
            let why = Aadsts::new("invalid_client", 7_000_218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
            return cx.refuse("entra.request", "neither client_secret nor client_assertion".into(), &why);
        }
    };
    let now = shared.clock.now();
    let minted = { entra_tokens::mint(&mut shared.state(), tenant, &identity, &res, auth, LIFETIME, now) };
    let Some(t) = minted else {
        cx.note.checks.push(Check::fail("entra.token", format!("tenant `{}` has no signing key", tenant.name)));
        return noted((StatusCode::INTERNAL_SERVER_ERROR, "").into_response(), cx.note);
    };
    let expires_at = time::OffsetDateTime::from_unix_timestamp(t.expires_on).unwrap_or(now);
    cx.note.issued = Some(Arc::new(Issued::jwt(IssuedKind::AzureAccessToken, &t.jwt, &identity.object_id, &res.audience(), expires_at)));
    cx.note.verdict = Verdict::Granted;
    let body = json!({"token_type": "Bearer", "expires_in": LIFETIME, "ext_expires_in": LIFETIME, "access_token": t.jwt});
    let response =
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json; charset=utf-8"), (header::CACHE_CONTROL, "no-store, no-cache"), (header::PRAGMA, "no-cache")], body.to_string()).into_response();
    noted(response, cx.note)
}

/// `client_id:client_secret` from HTTP Basic (RFC 6749 §2.3.1: each form-urlencoded).
fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = raw.split_once(':')?;
    Some((crate::percent::decode_form(id), crate::percent::decode_form(secret)))
}

fn secret_auth(shared: &Shared, identity: &Identity, app: Option<&ApplicationModel>, secret: &str) -> Result<(), (String, Aadsts)> {
    let invalid = || {
        Aadsts::new(
            "invalid_client",
            7_000_215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                identity.client_id
            ),
        )
    };
    let Some(app) = app else {
        return Err((format!("`{}` is a managed identity: it has no client secrets", identity.name), invalid()));
    };
    let now = shared.clock.now();
    let matched = app.secrets.iter().find(|s| aws_lc_rs::constant_time::verify_slices_are_equal(s.value.expose().as_bytes(), secret.as_bytes()).is_ok());
    let Some(found) = matched else {
        return Err((format!("the secret matches none of the {} secrets of `{}`", app.secrets.len(), app.name), invalid()));
    };
    if found.expires.as_deref().and_then(|e| crate::clock::parse_rfc3339(e).ok()).is_some_and(|e| e <= now) {
        let why = Aadsts::new(
            "invalid_client",
            7_000_222,
            format!(
                "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                identity.client_id
            ),
        );
        return Err((format!("the secret expired at {}", found.expires.as_deref().unwrap_or_default()), why));
    }
    Ok(())
}

type Refusal = (&'static str, String, Aadsts);

/// A refusal: the check that failed, what the journal says, what Entra answers.
fn deny(check: &'static str, detail: String, why: Aadsts) -> Refusal {
    (check, detail, why)
}

/// A NumericDate claim, integer or (as MSAL Python sends) fractional; `None` when absent, not a
/// number, or not a date between 1970 and 9999 (so time arithmetic cannot overflow).
fn numeric(decoded: &jwt::Decoded, name: &str) -> Option<i64> {
    let v = decoded.claims.get(name)?;
    let t = v.as_i64().or_else(|| v.as_f64().filter(|f| f.is_finite() && (0.0..=jwt::LATEST_NUMERIC_DATE as f64).contains(f)).map(|f| f as i64))?;
    (0..=jwt::LATEST_NUMERIC_DATE).contains(&t).then_some(t)
}

/// Bytes of a thumbprint header, base64url or standard, padded or not.
fn thumbprint(value: &str) -> Option<Vec<u8>> {
    let trimmed = value.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(trimmed).or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed)).ok()
}

fn assertion_auth(
    cx: &mut Ctx<'_>,
    tenant: &TenantModel,
    identity: &Identity,
    app: Option<&ApplicationModel>,
    fics: &[FederatedCredentialModel],
    assertion: &str,
    req: &Request,
) -> Result<ClientAuth, Refusal> {
    let decoded =
        jwt::decode(assertion).map_err(|e| deny("entra.assertion", format!("the assertion is not a JWT: {e}"), Aadsts::new("invalid_request", 50_027, "JWT token is invalid or malformed.")))?;
    let iss = decoded.str_claim("iss").unwrap_or_default().to_string();
    let sub = decoded.str_claim("sub").unwrap_or_default().to_string();
    if iss.eq_ignore_ascii_case(&identity.client_id) && sub.eq_ignore_ascii_case(&identity.client_id) {
        certificate_assertion(cx, tenant, identity, app, &decoded, req)
    } else {
        federated_assertion(cx, identity, fics, &decoded, &iss, &sub)
    }
}

/// A client assertion's time window: `exp` not past and `nbf` not ahead (with [`SKEW`]).
fn assertion_times(decoded: &jwt::Decoded, now: i64) -> Result<(), Refusal> {
    let (nbf, exp) = (numeric(decoded, "nbf"), numeric(decoded, "exp"));
    let inside = exp.is_some_and(|e| now < e + SKEW) && nbf.is_none_or(|n| n <= now + SKEW);
    if inside {
        return Ok(());
    }
    let text = format!(
        "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        seven_digits(now),
        seven_digits(nbf.unwrap_or(0)),
        seven_digits(exp.unwrap_or(0))
    );
    Err(deny("entra.assertion.times", format!("now {now}, nbf {nbf:?}, exp {exp:?} (±{SKEW} s)"), Aadsts::new("invalid_client", 700_024, text)))
}

fn certificate_assertion(cx: &mut Ctx<'_>, tenant: &TenantModel, identity: &Identity, app: Option<&ApplicationModel>, decoded: &jwt::Decoded, req: &Request) -> Result<ClientAuth, Refusal> {
    let named = decoded.header.x5t.as_deref().map(|t| (t, false)).or(decoded.header.x5t_s256.as_deref().map(|t| (t, true)));
    let given = named.and_then(|(t, sha256)| thumbprint(t).map(|b| (b, sha256)));
    let hex = given.as_ref().map(|(b, _)| crate::ids::hex(b).to_uppercase()).unwrap_or_default();
    let not_registered = |detail: String| {
        let text = format!(
            "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{hex}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/{}']",
            identity.client_id, identity.client_id
        );
        deny("entra.assertion.key", detail, Aadsts::new("invalid_client", 700_027, text))
    };
    let Some((bytes, sha256)) = given else {
        return Err(not_registered("the client assertion names no certificate (x5t or x5t#S256)".into()));
    };
    let certs = app.map(|a| a.certificates.as_slice()).unwrap_or_default();
    let key = certs.iter().filter_map(|name| crate::world::issuers::SigningKey::fixture(name)).find(|k| {
        let alg = if sha256 { &aws_lc_rs::digest::SHA256 } else { &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY };
        aws_lc_rs::digest::digest(alg, &k.cert_der).as_ref() == bytes.as_slice()
    });
    let Some(key) = key else {
        return Err(not_registered(format!("thumbprint {hex} is none of the {} certificates of `{}`", certs.len(), identity.name)));
    };
    cx.note.checks.push(Check::pass("entra.assertion.key", format!("certificate {hex} of `{}`", identity.name)));
    let mut jwk = key.jwk.clone();
    jwk.alg = None;
    jwk.kid = decoded.header.kid.clone();
    let prepared = jwt::PreparedKey::new(jwk);
    decoded.verify_allowing(std::slice::from_ref(&prepared), &["RS256", "PS256"]).map_err(|e| {
        let text = format!("Client assertion failed signature validation. [Reason - Key was found, but use of the key to verify the signature failed., Thumbprint of key used by client: '{hex}']");
        deny("entra.assertion.signature", format!("{e}"), Aadsts::new("invalid_client", 700_027, text))
    })?;
    cx.note.checks.push(Check::pass("entra.assertion.signature", format!("{} with certificate {hex}", decoded.header.alg)));
    let tid = tenant.tenant_id();
    let own = super::origin(req);
    let aud_ok = decoded.audiences().iter().any(|a| {
        let a = a.trim_end_matches('/');
        [super::HOST.to_string(), own.trim_start_matches("https://").to_string()]
            .iter()
            .any(|host| [tid.as_str(), tenant.domain().as_str()].iter().any(|t| ["oauth2/v2.0/token", "oauth2/token"].iter().any(|p| a.eq_ignore_ascii_case(&format!("https://{host}/{t}/{p}")))))
    });
    if !aud_ok {
        let text = "Client assertion audience claim does not match Realm issuer. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .";
        return Err(deny("entra.assertion.audience", format!("aud {:?} is not this tenant's token endpoint", decoded.audiences()), Aadsts::new("invalid_client", 700_023, text)));
    }
    cx.note.checks.push(Check::passed("entra.assertion.audience"));
    assertion_times(decoded, cx.shared.clock.now().unix_timestamp())?;
    cx.note.checks.push(Check::passed("entra.assertion.times"));
    Ok(ClientAuth::Certificate)
}

fn federated_assertion(cx: &mut Ctx<'_>, identity: &Identity, fics: &[FederatedCredentialModel], decoded: &jwt::Decoded, iss: &str, sub: &str) -> Result<ClientAuth, Refusal> {
    let shared = cx.shared;
    let model = &shared.model;
    let entra_issued = model.azure.tenants.iter().any(|t| iss == t.v1_iss() || iss == t.v2_iss());
    if entra_issued {
        return Err(deny("entra.federation", format!("`{iss}` is an Entra issuer"), Aadsts::new("invalid_request", 700_222, "AAD-issued tokens may not be used for federated identity flows.")));
    }
    let aud_text = decoded.audiences().join(",");
    let no_match = |code: u32, detail: String| {
        let text = match code {
            700_211 => format!(
                "No matching federated identity record found for presented assertion issuer '{iss}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
            700_213 => format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
            _ => format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{aud_text}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"
            ),
        };
        deny("entra.federation", detail, Aadsts::new("invalid_client", code, text))
    };
    let by_issuer: Vec<&FederatedCredentialModel> = fics.iter().filter(|f| f.issuer == iss).collect();
    if by_issuer.is_empty() {
        let known: Vec<&str> = fics.iter().map(|f| f.issuer.as_str()).collect();
        return Err(no_match(700_211, format!("no federated credential of `{}` has issuer `{iss}` (exact, case-sensitive; it has {known:?})", identity.name)));
    }
    let by_subject: Vec<&&FederatedCredentialModel> = by_issuer.iter().filter(|f| f.subject == sub).collect();
    if by_subject.is_empty() {
        let known: Vec<&str> = by_issuer.iter().map(|f| f.subject.as_str()).collect();
        return Err(no_match(700_213, format!("no federated credential of `{}` for `{iss}` has subject `{sub}` (exact, case-sensitive; it has {known:?})", identity.name)));
    }
    let Some(fic) = by_subject.iter().find(|f| f.audiences.iter().any(|a| decoded.audiences().contains(&a.as_str()))) else {
        return Err(no_match(70_021, format!("the assertion's audience {:?} is not the credential's {:?}", decoded.audiences(), by_subject[0].audiences)));
    };
    cx.note.checks.push(Check::pass("entra.federation", format!("federated credential `{}` of `{}`", fic.name, identity.name)));
    let now = shared.clock.now();
    let keys = shared.state().issuers.by_iss(iss).map(|i| (i.unreachable, i.keys(now)));
    let Some((false, keys)) = keys else {
        return Err(deny(
            "entra.assertion.signature",
            format!("the keys of `{iss}` cannot be fetched (not a world issuer, or unreachable)"),
            Aadsts::new("invalid_request", 90_061, "Request to External OIDC endpoint failed."),
        ));
    };
    if let Err(e) = decoded.verify(&keys) {
        let why = match &e {
            jwt::JwtError::UnknownKey(kid) => Aadsts::new(
                "invalid_client",
                7_000_272,
                format!(
                    "The certificate with identifier {kid} used to sign the federated credential could not be found in the metadata of identity provider {iss}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token."
                ),
            ),
            _ => Aadsts::new(
                "invalid_client",
                7_000_274,
                format!("Key was found, but use of the key to verify the signature failed. Signature validation of the federated credential issued by {iss} failed."),
            ),
        };
        return Err(deny("entra.assertion.signature", e.to_string(), why));
    }
    cx.note.checks.push(Check::pass("entra.assertion.signature", format!("{} kid {}", decoded.header.alg, decoded.header.kid.as_deref().unwrap_or(""))));
    let t = now.unix_timestamp();
    let (iat, exp) = (numeric(decoded, "iat"), numeric(decoded, "exp"));
    if iat.is_none() || exp.zip(iat).is_some_and(|(e, i)| e - i > MAX_FEDERATED_LIFETIME) || iat.is_some_and(|i| i > t + SKEW) {
        let text = format!("External OIDC Provider token must have a lifetime of less than or equal to 1.01:00:00. Token issued at {}. Token expires on {}.", iat.unwrap_or(0), exp.unwrap_or(0));
        return Err(deny(
            "entra.assertion.times",
            format!("iat {iat:?}, exp {exp:?}: iat is required, not ahead of now, and the lifetime at most {MAX_FEDERATED_LIFETIME} s"),
            Aadsts::new("invalid_request", 70_023, text),
        ));
    }
    assertion_times(decoded, t)?;
    cx.note.checks.push(Check::passed("entra.assertion.times"));
    Ok(ClientAuth::Certificate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_decode_from_base64url_or_standard_padded_or_not() {
        let bytes = vec![0xfb, 0xff, 0x01, 0x02, 0x03];
        for text in ["-_8BAgM", "+/8BAgM=", "-_8BAgM="] {
            assert_eq!(thumbprint(text), Some(bytes.clone()), "{text}");
        }
    }

    #[test]
    fn form_values_with_raw_spaces_and_bars_pass_as_they_are() {
        let f = form(b"scope=https%3A%2F%2Fvault.azure.net%2F.default&x-client-current-telemetry=5|771,2,,,|,&a=b c");
        assert_eq!(f[0].1, "https://vault.azure.net/.default");
        assert_eq!(f[1].1, "5|771,2,,,|,");
        assert_eq!(f[2].1, "b c");
    }
}
