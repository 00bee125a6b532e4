//! Verifying a projected service-account token as a cluster's relying parties do (kube-apiserver's
//! TokenReview, the EKS Pod Identity agent and EKS Auth, the GKE metadata server): issued by one of
//! the world's clusters, signed by a key that cluster publishes now, within its times, for an
//! expected audience, naming a service account that exists.

use time::OffsetDateTime;

use super::WorldModel;
use super::issuers::IssuerAuthority;
use super::kubernetes::ClusterModel;
use crate::verify::jwt;

/// Who a verified token names.
#[derive(Debug, Clone)]
pub struct Verified<'m> {
    /// The cluster that issued it.
    pub cluster: &'m ClusterModel,
    /// The namespace.
    pub namespace: String,
    /// The service account's name.
    pub service_account: String,
    /// The service account's uid in the token.
    pub sa_uid: String,
    /// The pod's name and uid, if the token is bound to one.
    pub pod: Option<(String, String)>,
    /// The node's name and uid, if the token carries them.
    pub node: Option<(String, String)>,
    /// `jti`.
    pub jti: Option<String>,
    /// The token's audiences.
    pub audiences: Vec<String>,
    /// `exp`.
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// Not a JWT.
    Malformed(String),
    /// No cluster of the world issued it (its `iss`).
    UnknownIssuer(String),
    /// The token's `kid` is none the cluster publishes now (retired past its overlap, or never).
    UnknownKey(String),
    /// The signature does not verify against the cluster's published keys.
    Signature(String),
    /// `exp` has passed (the time it passed).
    Expired(i64),
    /// `nbf` is still ahead.
    NotYetValid(i64),
    /// Time claims missing or not numbers.
    Times(String),
    /// None of the expected audiences (the token's, the expected).
    Audience(Vec<String>, Vec<String>),
    /// Claims a service-account token must have are missing.
    Claims(String),
    /// The service account does not exist (namespace, name).
    NoServiceAccount(String, String),
    /// The objects the token is bound to are not the ones that exist now (a service account or
    /// pod deleted and made again): kube-apiserver's words.
    Invalidated(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "not a JWT: {why}"),
            Self::UnknownIssuer(iss) => write!(f, "iss `{iss}` is not the issuer of any cluster in the world"),
            Self::UnknownKey(kid) => write!(f, "key `{kid}` is not among the cluster's published keys"),
            Self::Signature(why) => write!(f, "signature: {why}"),
            Self::Expired(exp) => write!(f, "expired at {exp}"),
            Self::NotYetValid(nbf) => write!(f, "not valid before {nbf}"),
            Self::Times(why) => write!(f, "time claims: {why}"),
            Self::Audience(have, want) => write!(f, "aud {have:?} holds none of {want:?}"),
            Self::Claims(why) => write!(f, "claims: {why}"),
            Self::NoServiceAccount(ns, sa) => write!(f, "service account {ns}/{sa} does not exist"),
            Self::Invalidated(why) => write!(f, "bound to objects that no longer exist: {why}"),
        }
    }
}

/// Verifies `token` at `now` against the world's clusters; `audiences`, when given, must share
/// one value with the token's. `leeway` seconds of clock skew are allowed on `exp` and `nbf`.
pub fn verify<'m>(model: &'m WorldModel, issuers: &IssuerAuthority, token: &str, now: OffsetDateTime, audiences: Option<&[String]>, leeway: i64) -> Result<Verified<'m>, Refused> {
    let decoded = jwt::decode(token).map_err(|e| Refused::Malformed(e.to_string()))?;
    let iss = decoded.str_claim("iss").unwrap_or_default().to_string();
    let cluster = model.kubernetes.clusters.iter().find(|c| c.issuer_url(&model.aws.region, &model.gcp) == iss).ok_or_else(|| Refused::UnknownIssuer(iss.clone()))?;
    let keys = issuers.by_name(&cluster.issuer_name()).map(|i| i.keys(now)).unwrap_or_default();
    decoded.verify(&keys).map_err(|e| match e {
        jwt::JwtError::UnknownKey(kid) => Refused::UnknownKey(kid),
        e => Refused::Signature(e.to_string()),
    })?;
    let t = now.unix_timestamp();
    let rules = jwt::TimeRules { require_iat: false, exp_leeway: leeway, early_leeway: leeway, max_lifetime: None };
    let times = decoded.check_times(t, &rules).map_err(|f| match f {
        jwt::TimeFailure::Expired { exp } => Refused::Expired(exp),
        jwt::TimeFailure::NotYetValid { nbf } => Refused::NotYetValid(nbf),
        other => Refused::Times(format!("{other:?}")),
    })?;
    let have: Vec<String> = decoded.audiences().iter().map(|a| a.to_string()).collect();
    if let Some(want) = audiences
        && !have.iter().any(|a| want.contains(a))
    {
        return Err(Refused::Audience(have, want.to_vec()));
    }
    let private = decoded.claims.get("kubernetes.io").ok_or_else(|| Refused::Claims("no kubernetes.io claim".into()))?;
    let text = |v: &serde_json::Value, path: &[&str]| path.iter().try_fold(v, |v, k| v.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    let namespace = text(private, &["namespace"]).ok_or_else(|| Refused::Claims("no kubernetes.io.namespace".into()))?;
    let service_account = text(private, &["serviceaccount", "name"]).ok_or_else(|| Refused::Claims("no kubernetes.io.serviceaccount.name".into()))?;
    if decoded.str_claim("sub") != Some(super::kubernetes::subject(&namespace, &service_account).as_str()) {
        return Err(Refused::Claims("sub is not system:serviceaccount:NAMESPACE:NAME of the kubernetes.io claim".into()));
    }
    let sa = cluster.service_account(&namespace, &service_account).ok_or_else(|| Refused::NoServiceAccount(namespace.clone(), service_account.clone()))?;
    let pair = |k: &str| Some((text(private, &[k, "name"])?, text(private, &[k, "uid"])?));
    let sa_uid = cluster.sa_uid(sa);
    if let Some(claimed) = text(private, &["serviceaccount", "uid"]).filter(|u| *u != sa_uid) {
        return Err(Refused::Invalidated(format!("service account UID ({sa_uid}) does not match claim ({claimed})")));
    }
    if let Some((name, uid)) = pair("pod") {
        let pod = cluster.pod(sa, &model.aws.region);
        if name != pod.name {
            return Err(Refused::Invalidated(format!("pods \"{name}\" not found")));
        }
        if uid != pod.uid {
            return Err(Refused::Invalidated(format!("pod UID ({}) does not match claim ({uid})", pod.uid)));
        }
    }
    Ok(Verified { cluster, sa_uid, namespace, service_account, pod: pair("pod"), node: pair("node"), jti: decoded.str_claim("jti").map(str::to_string), audiences: have, exp: times.exp })
}
