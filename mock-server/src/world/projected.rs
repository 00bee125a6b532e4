//! Projected service-account tokens as the kubelet asks kube-apiserver for them
//! (`TokenRequest`), and the kubelet's rule for when a mounted one is rewritten.
//!
//! Claims as kube-apiserver 1.30+ makes them (`pkg/serviceaccount/claims.go`): `aud`, `exp`,
//! `iat`, `iss`, `jti`, `nbf`, `sub` and the private `kubernetes.io` claim with the namespace,
//! the service account, the pod and the node it runs on. The header is `alg` and `kid` only.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::kubernetes::{ClusterModel, subject};
use super::{WorldModel, WorldState};

/// What one projected volume asks for: whose token, for which audience, how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// The cluster's name.
    pub cluster: String,
    /// The service account's namespace.
    pub namespace: String,
    /// The service account's name.
    pub service_account: String,
    /// The audience (`aud`).
    pub audience: String,
    /// `expirationSeconds`.
    pub expiration_seconds: u32,
}

/// A minted projected token and its times.
#[derive(Debug, Clone)]
pub struct Minted {
    /// The JWT.
    pub token: crate::secret::Secret,
    /// `iat` (Unix seconds).
    pub iat: i64,
    /// `exp` (Unix seconds).
    pub exp: i64,
}

/// The kubelet's shortest and default `expirationSeconds` for a projected token.
pub const MIN_EXPIRATION: u32 = 600;

/// The cluster `name` of `model`, or why not.
pub fn cluster<'m>(model: &'m WorldModel, name: &str) -> Result<&'m ClusterModel, String> {
    model.kubernetes.clusters.iter().find(|c| c.name == name).ok_or_else(|| {
        let names: Vec<&str> = model.kubernetes.clusters.iter().map(|c| c.name.as_str()).collect();
        format!("no Kubernetes cluster named `{name}` (the world has: {})", if names.is_empty() { "none".to_string() } else { names.join(", ") })
    })
}

/// The claims of `p`'s token issued at `now` with id `jti`.
pub fn claims(model: &WorldModel, c: &ClusterModel, p: &Projection, now: OffsetDateTime, jti: &str) -> Result<Value, String> {
    let sa =
        c.service_account(&p.namespace, &p.service_account).ok_or_else(|| format!("serviceaccounts \"{}\" not found in namespace \"{}\" of cluster `{}`", p.service_account, p.namespace, c.name))?;
    let pod = c.pod(sa, &model.aws.region);
    let iat = now.unix_timestamp();
    Ok(json!({
        "aud": [p.audience],
        "exp": iat + i64::from(p.expiration_seconds),
        "iat": iat,
        "iss": c.issuer_url(&model.aws.region, &model.gcp),
        "jti": jti,
        "kubernetes.io": {
            "namespace": sa.namespace,
            "node": {"name": pod.node, "uid": pod.node_uid},
            "pod": {"name": pod.name, "uid": pod.uid},
            "serviceaccount": {"name": sa.name, "uid": c.sa_uid(sa)}
        },
        "nbf": iat,
        "sub": subject(&sa.namespace, &sa.name)
    }))
}

/// Mints `p`'s token at `now`, signed with the cluster's current key.
pub fn mint(model: &WorldModel, state: &mut WorldState, now: OffsetDateTime, p: &Projection) -> Result<Minted, String> {
    let c = cluster(model, &p.cluster)?;
    if p.expiration_seconds < MIN_EXPIRATION {
        return Err(format!("expirationSeconds {} is less than {MIN_EXPIRATION} (the API server's minimum)", p.expiration_seconds));
    }
    let jti = crate::ids::stable_uuid(&format!("jti:{}:{}", rand::Rng::random::<u64>(&mut state.rng), now.unix_timestamp_nanos()));
    let body = claims(model, c, p, now, &jti)?;
    let key = state.issuers.by_name(&c.issuer_name()).and_then(|i| i.signer(now)).ok_or_else(|| format!("cluster `{}` has no signing key", c.name))?;
    let mut header = Map::new();
    header.insert("alg".into(), json!("RS256"));
    header.insert("kid".into(), json!(key.kid));
    let token = key.sign_with_header(&body, header);
    let iat = now.unix_timestamp();
    Ok(Minted { token: crate::secret::Secret::new(token), iat, exp: iat + i64::from(p.expiration_seconds) })
}

/// The kubelet's rule (`pkg/kubelet/token/token_manager.go`, `requiresRefresh`): a token is
/// fetched again once it is older than 24 hours or within 20% of its lifetime of expiring — that
/// is, after 80% of it. (The kubelet adds up to 10 s of jitter; cloudid does not, so runs repeat.)
pub fn refresh_due(iat: i64, exp: i64, now: i64) -> bool {
    const MAX_TTL: i64 = 24 * 3600;
    let ttl = exp - iat;
    now > iat + MAX_TTL || now > exp - ttl * 20 / 100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_refreshed_after_80_percent_of_its_life_or_a_day() {
        assert!(!refresh_due(0, 3600, 2880));
        assert!(refresh_due(0, 3600, 2881));
        assert!(!refresh_due(0, 86_400, 69_120));
        assert!(refresh_due(0, 86_400, 69_121));
        assert!(refresh_due(0, 7 * 86_400, 86_401), "a week-long token is refreshed after a day");
        assert!(!refresh_due(0, 7 * 86_400, 86_400));
    }
}
