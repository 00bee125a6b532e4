//! The EKS Pod Identity agent for the world's clusters (`/v1/credentials`): the pod's projected
//! token (audience `pods.eks.amazonaws.com`) is checked as the agent checks it (present, a JWT,
//! within its times), then as EKS Auth's `AssumeRoleForPodIdentity` does (issued and signed by the
//! cluster, for that audience, by a service account with an association), then the role's trust
//! policy decides for `pods.eks.amazonaws.com` with the six session tags EKS adds.
//!
//! Errors as the agent writes them (`pkg/errors/errors.go`): Go's `http.Error` text; EKS Auth's
//! as `[REQUEST-ID]: (CODE): MESSAGE, fault: client` with EKS Auth's status (AccessDenied and
//! InvalidToken 400, ResourceNotFound 404).

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{StatusCode, header};

use super::{ContainerError, refuse};
use crate::exchange::{Answer, Shared, noted};
use crate::journal::{Check, Note, Verdict};
use crate::verify::iam_policy::{Context, Principal};
use crate::world::kubernetes::POD_IDENTITY_AUDIENCE;
use crate::world::sa_token::{self, Refused};
use crate::world::{CredentialSource, IssuedCredential, SessionTag};

/// The path the agent serves.
pub(crate) const PATH: &str = "/v1/credentials";

/// Whether the world's clusters need the agent: an EKS cluster with an association.
pub(crate) fn serves(model: &crate::world::WorldModel) -> bool {
    model.kubernetes.clusters.iter().any(|c| !c.pod_identity_associations.is_empty())
}

fn agent(status: StatusCode, message: String) -> ContainerError {
    ContainerError::Agent { status, message, denial: true }
}

fn eks_auth(shared: &Shared, status: StatusCode, code: &str, message: &str) -> ContainerError {
    agent(status, format!("[{}]: ({code}): {message}, fault: client", shared.request_id()))
}

/// The cluster this node's agent belongs to (EKS Auth checks the token against it): the
/// workload's EKS cluster, else the first with an association.
fn agent_cluster(model: &crate::world::WorldModel) -> Option<&str> {
    let workload = model.kubernetes.workload().filter(|(c, _)| c.kind == crate::world::kubernetes::ClusterKind::Eks).map(|(c, _)| c.name.as_str());
    workload.or_else(|| model.kubernetes.first_association().map(|(c, _)| c.name.as_str()))
}

/// The agent's answer to `req`.
pub(crate) fn answer(shared: &Shared, req: &Request) -> Answer {
    let mut note = Note::new("aws_container", "GetCredentials", Verdict::Error);
    let token = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Err((check, e)) = basic_checks(shared, token) {
        note.checks.push(check);
        return refuse(note, e);
    }
    note.checks.push(Check::pass("container.authorization", "a JWT within its times"));
    let now = shared.clock.now();
    let audiences = [POD_IDENTITY_AUDIENCE.to_string()];
    let verified = {
        let state = shared.state();
        sa_token::verify(&shared.model, &state.issuers, token, now, Some(&audiences), 0).map(|v| (v.cluster.name.clone(), v.namespace, v.service_account, v.pod, v.jti))
    };
    let (cluster_name, namespace, service_account, pod, jti) = match verified {
        Ok(v) => v,
        Err(why) => {
            note.checks.push(Check::fail("eks_auth.token", why.to_string()));
            let e = match why {
                Refused::Expired(exp) => {
                    let message = format!(
                        "The token included in the request is expired: current date/time {} must be before the expiration date/time {}.",
                        crate::clock::iso8601(now),
                        crate::clock::iso8601(time::OffsetDateTime::from_unix_timestamp(exp).unwrap_or(now))
                    );
                    eks_auth(shared, StatusCode::BAD_REQUEST, "ExpiredTokenException", &message)
                }
                _ => eks_auth(shared, StatusCode::BAD_REQUEST, "InvalidTokenException", "The service account token is invalid"),
            };
            return refuse(note, e);
        }
    };
    let model = &shared.model;
    let own = agent_cluster(model);
    if own != Some(cluster_name.as_str()) {
        note.checks.push(Check::fail("eks_auth.token", format!("a token of cluster {cluster_name}; this node's agent is in cluster {}", own.unwrap_or("(none)"))));
        return refuse(note, eks_auth(shared, StatusCode::BAD_REQUEST, "InvalidTokenException", "The service account token is invalid"));
    }
    note.checks.push(Check::pass("eks_auth.token", format!("system:serviceaccount:{namespace}:{service_account} of cluster {cluster_name}")));
    let cluster = model.kubernetes.clusters.iter().find(|c| c.name == cluster_name).expect("verified against this cluster");
    let Some(association) = cluster.association(&namespace, &service_account) else {
        note.checks.push(Check::fail("eks_auth.association", format!("no Pod Identity association for {namespace}/{service_account} in cluster {cluster_name}")));
        let message = format!("No Pod Identity Association found for service account {service_account} in namespace {namespace} of cluster {cluster_name}");
        return refuse(note, eks_auth(shared, StatusCode::NOT_FOUND, "ResourceNotFoundException", &message));
    };
    note.checks.push(Check::pass("eks_auth.association", format!("{namespace}/{service_account} → role {}", association.role)));
    let Some(role) = model.aws.roles.iter().find(|r| r.name == association.role) else {
        return refuse(note, eks_auth(shared, StatusCode::BAD_REQUEST, "AccessDeniedException", "Unauthorized Exception! EKS does not have permissions to assume the associated role."));
    };
    let (pod_name, pod_uid) = pod.unwrap_or_default();
    let region = cluster.region.clone().unwrap_or_else(|| model.aws.region.clone());
    let cluster_arn = format!("arn:aws:eks:{region}:{}:cluster/{cluster_name}", model.aws.account_id);
    let tag = |key: &str, value: &str| SessionTag { key: key.into(), value: value.into(), transitive: true };
    let tags = vec![
        tag("eks-cluster-arn", &cluster_arn),
        tag("eks-cluster-name", &cluster_name),
        tag("kubernetes-namespace", &namespace),
        tag("kubernetes-service-account", &service_account),
        tag("kubernetes-pod-name", &pod_name),
        tag("kubernetes-pod-uid", &pod_uid),
    ];
    let ctx = Context::new(Principal::Service("pods.eks.amazonaws.com".into()), "sts:AssumeRole");
    let ctx = crate::services::aws_sts::session_tags::request_keys(crate::services::aws_sts::global_keys(ctx, model, now, &region), &tags);
    let policy = role.trust_policy.clone().unwrap_or(serde_json::Value::Null);
    if crate::services::aws_sts::check_trust(&policy, &ctx, &["sts:AssumeRole", "sts:TagSession"], model.explain_grants, &mut note.checks).is_err() {
        return refuse(note, eks_auth(shared, StatusCode::BAD_REQUEST, "AccessDeniedException", "Unauthorized Exception! EKS does not have permissions to assume the associated role."));
    }
    let cut = |s: &str| s.chars().take(10).collect::<String>();
    let uuid = crate::ids::stable_uuid(&format!("pod-identity:{}", jti.as_deref().unwrap_or(token)));
    let session = format!("eks-{}-{}-{uuid}", cut(&cluster_name), cut(&pod_name));
    let cred = credentials(shared, &format!("pod-identity:{}", jti.as_deref().unwrap_or(token)), &association.role, &session, tags, association.credentials.into());
    note.verdict = Verdict::Granted;
    note.principal = Some(cred.receipt.principal.clone());
    note.checks.push(Check::pass("container.credentials", "credentials for the association's role"));
    note.issued = Some(cred.receipt.clone());
    noted(super::document(true, &cred), note)
}

/// What golang-jwt (the agent's parser) says of a token that does not parse.
fn jwt_parse_error(token: &str) -> &'static str {
    use base64::Engine;
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return "token contains an invalid number of segments";
    }
    let decode = |p: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok();
    match (decode(parts[0]), decode(parts[1])) {
        (None, _) => "could not base64 decode header",
        (Some(h), _) if serde_json::from_slice::<serde_json::Value>(&h).is_err() => "could not JSON decode header",
        (_, None) => "could not base64 decode claim",
        _ => "could not JSON decode claim",
    }
}

/// The agent's own checks before it calls EKS Auth: a token, a JWT, within its times.
fn basic_checks(shared: &Shared, token: &str) -> Result<(), (Check, ContainerError)> {
    let refused = |message: &str| agent(StatusCode::BAD_REQUEST, message.to_string());
    if token.is_empty() {
        return Err((Check::fail("container.authorization", "missing Authorization"), refused("Service account token cannot be empty")));
    }
    let decoded = match crate::verify::jwt::decode(token) {
        Ok(d) => d,
        Err(e) => {
            let message = format!("Service account token cannot be parsed: token is malformed: {}", jwt_parse_error(token));
            return Err((Check::fail("container.authorization", format!("Authorization is not a JWT: {e}")), refused(&message)));
        }
    };
    let now = shared.clock.now().unix_timestamp();
    let rules = crate::verify::jwt::TimeRules { require_iat: false, exp_leeway: 0, early_leeway: 0, max_lifetime: None };
    match decoded.check_times(now, &rules) {
        Err(crate::verify::jwt::TimeFailure::Expired { exp }) => {
            Err((Check::fail("container.token.times", format!("exp {exp} is before now {now}")), refused("Service account token failed basic claim validations: token is expired")))
        }
        Err(crate::verify::jwt::TimeFailure::NotYetValid { nbf }) => {
            Err((Check::fail("container.token.times", format!("nbf {nbf} is after now {now}")), refused("Service account token failed basic claim validations: token is not valid yet")))
        }
        _ => Ok(()),
    }
}

fn credentials(shared: &Shared, slot: &str, role: &str, session: &str, tags: Vec<SessionTag>, rotation: crate::world::Rotation) -> Arc<IssuedCredential> {
    let now = shared.clock.now();
    let model = &shared.model;
    let mut state = shared.state();
    let state = &mut *state;
    let principal = || {
        let mut p = model.role_session(&model.aws.account_id, role, session).expect("validated role");
        p.tags = tags;
        p
    };
    state.credentials.current(slot, &mut state.rng, principal, CredentialSource::Container, now, rotation).0
}
