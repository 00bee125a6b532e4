//! The credential authority: issues AWS temporary credentials and remembers each one (who holds
//! it, until when), so that signed requests made with them can later be verified.

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use time::OffsetDateTime;

use crate::ids;
use crate::journal::Issued;
use crate::secret::Secret;

/// Where an issued credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialSource {
    /// EC2 instance metadata (instance profile role).
    Imds,
    /// A container credential endpoint (task or pod role).
    Container,
    /// An STS operation.
    Sts,
}

/// The identity an issued credential stands for: an assumed-role session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Account owning the role.
    pub account_id: String,
    /// Role name (no path).
    pub role_name: String,
    /// IAM path of the role.
    pub role_path: String,
    /// Role id (`AROA…`).
    pub role_id: String,
    /// Session name (instance id, task id, or the caller's `RoleSessionName`).
    pub session_name: String,
    /// Session tags (`aws:PrincipalTag/*` for what the session does next).
    pub tags: Vec<SessionTag>,
}

/// A session tag: from a web identity token's `https://aws.amazon.com/tags` claim or
/// `AssumeRole`'s `Tags`; a transitive one passes on to chained sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
    /// Whether it is in `TransitiveTagKeys`.
    pub transitive: bool,
}

impl Principal {
    /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`.
    pub fn arn(&self) -> String {
        format!("arn:aws:sts::{}:assumed-role/{}/{}", self.account_id, self.role_name, self.session_name)
    }

    /// `AROA…:SESSION`, the `UserId` GetCallerIdentity reports.
    pub fn user_id(&self) -> String {
        format!("{}:{}", self.role_id, self.session_name)
    }

    /// `arn:aws:iam::ACCT:role/PATH/ROLE`.
    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role{}{}", self.account_id, self.role_path, self.role_name)
    }
}

/// One issued set of temporary credentials.
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    /// `ASIA…` access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token.
    pub session_token: Secret,
    /// Who holds it.
    pub principal: Principal,
    /// Which endpoint issued it.
    pub source: CredentialSource,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it stops being valid.
    pub expires_at: OffsetDateTime,
    /// How the journal names it (no secrets), computed once at issue.
    pub receipt: Arc<Issued>,
}

/// Lifetime and rotation threshold for a credential slot.
#[derive(Debug, Clone, Copy)]
pub struct Rotation {
    /// Lifetime of a newly issued credential.
    pub lifetime: time::Duration,
    /// Issue a new one once the current one has less than this left.
    pub refresh_before: time::Duration,
}

/// Every credential the world has issued (up to a capacity), and the current one of each
/// endpoint.
#[derive(Debug)]
pub struct CredentialAuthority {
    by_key: HashMap<String, Arc<IssuedCredential>>,
    /// Access key ids in the order they were issued, each with its expiry (Unix nanoseconds), so
    /// that making room scans one compact sequence instead of every credential.
    order: std::collections::VecDeque<(i128, String)>,
    current: HashMap<String, String>,
    capacity: usize,
}

impl Default for CredentialAuthority {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

/// How many issued credentials are remembered by default; past it, expired ones are forgotten
/// first, then the oldest (a later signed call with a forgotten key gets `InvalidClientTokenId`).
pub const DEFAULT_CAPACITY: usize = 20_000;

impl CredentialAuthority {
    /// An authority remembering at most `capacity` credentials.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { by_key: HashMap::new(), order: Default::default(), current: HashMap::new(), capacity: capacity.max(16) }
    }

    fn make_room(&mut self, now: OffsetDateTime) {
        if self.by_key.len() < self.capacity {
            return;
        }
        let now = now.unix_timestamp_nanos();
        let Self { by_key, order, current, capacity } = self;
        let live: std::collections::HashSet<&str> = current.values().map(String::as_str).collect();
        order.retain(|(expires_at, key)| {
            let keep = *expires_at > now || live.contains(key.as_str());
            if !keep {
                by_key.remove(key);
            }
            keep
        });
        let target = *capacity - *capacity / 10;
        let mut spared = Vec::new();
        while by_key.len() > target {
            let Some(oldest) = order.pop_front() else { break };
            if live.contains(oldest.1.as_str()) {
                spared.push(oldest);
            } else {
                by_key.remove(&oldest.1);
            }
        }
        for entry in spared.into_iter().rev() {
            order.push_front(entry);
        }
    }

    /// Issues a new credential for `principal`, valid from `now` for `lifetime`.
    pub fn issue(&mut self, rng: &mut StdRng, principal: Principal, source: CredentialSource, now: OffsetDateTime, lifetime: time::Duration) -> Arc<IssuedCredential> {
        let access_key_id = ids::temporary_access_key_id(rng, &principal.account_id);
        let secret_access_key = Secret::new(ids::secret_access_key(rng));
        let session_token = Secret::new(ids::session_token(rng));
        let expires_at = now + lifetime;
        let receipt = Arc::new(Issued {
            kind: crate::journal::IssuedKind::AwsCredentials,
            access_key_id: Some(access_key_id.clone()),
            secret_fingerprint: Some(secret_access_key.fingerprint()),
            token_fingerprint: session_token.fingerprint(),
            expiration: crate::clock::iso8601(expires_at),
            principal: principal.arn(),
            scopes: Vec::new(),
        });
        let cred = Arc::new(IssuedCredential { access_key_id, secret_access_key, session_token, principal, source, issued_at: now, expires_at, receipt });
        self.make_room(now);
        self.order.push_back((expires_at.unix_timestamp_nanos(), cred.access_key_id.clone()));
        self.by_key.insert(cred.access_key_id.clone(), cred.clone());
        cred
    }

    /// The current credential of the endpoint called `slot`, issuing a new one when there is none
    /// or the current one is within `rotation.refresh_before` of expiry. The second value says
    /// whether this call issued it.
    pub fn current(&mut self, slot: &str, rng: &mut StdRng, principal: impl FnOnce() -> Principal, source: CredentialSource, now: OffsetDateTime, rotation: Rotation) -> (Arc<IssuedCredential>, bool) {
        if let Some(existing) = self.current.get(slot).and_then(|k| self.by_key.get(k))
            && existing.expires_at - now > rotation.refresh_before
        {
            return (existing.clone(), false);
        }
        let cred = self.issue(rng, principal(), source, now, rotation.lifetime);
        self.current.insert(slot.to_string(), cred.access_key_id.clone());
        (cred, true)
    }

    /// The credential with this access key id, if the world issued it (expired or not).
    pub fn lookup(&self, access_key_id: &str) -> Option<Arc<IssuedCredential>> {
        self.by_key.get(access_key_id).cloned()
    }

    /// How many credentials have been issued.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether none have been issued.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use time::macros::datetime;

    fn principal() -> Principal {
        Principal {
            account_id: "123456789012".into(),
            role_name: "r".into(),
            role_path: "/".into(),
            role_id: ids::stable_id("AROA", "r"),
            session_name: "i-0123456789abcdef0".into(),
            tags: Vec::new(),
        }
    }

    fn rotation() -> Rotation {
        Rotation { lifetime: time::Duration::hours(6), refresh_before: time::Duration::hours(1) }
    }

    #[test]
    fn the_current_credential_is_reused_until_it_nears_expiry() {
        let mut auth = CredentialAuthority::default();
        let mut rng = StdRng::seed_from_u64(1);
        let t0 = datetime!(2026-11-30 00:00 UTC);
        let (a, new_a) = auth.current("ec2", &mut rng, principal, CredentialSource::Imds, t0, rotation());
        let (b, new_b) = auth.current("ec2", &mut rng, principal, CredentialSource::Imds, t0 + time::Duration::hours(4), rotation());
        assert!(new_a && !new_b);
        assert_eq!(a.access_key_id, b.access_key_id);
        let (c, new_c) = auth.current("ec2", &mut rng, principal, CredentialSource::Imds, t0 + time::Duration::minutes(5 * 60 + 1), rotation());
        assert!(new_c);
        assert_ne!(a.access_key_id, c.access_key_id);
        assert_eq!(c.expires_at, t0 + time::Duration::minutes(5 * 60 + 1) + time::Duration::hours(6));
        assert_eq!(auth.len(), 2);
        assert!(auth.lookup(&a.access_key_id).is_some(), "rotated credentials are still remembered");
    }

    #[test]
    fn past_capacity_expired_then_oldest_credentials_are_forgotten_but_current_ones_kept() {
        let mut auth = CredentialAuthority::with_capacity(16);
        let mut rng = StdRng::seed_from_u64(2);
        let t0 = datetime!(2026-11-30 00:00 UTC);
        let (current, _) = auth.current("ec2", &mut rng, principal, CredentialSource::Imds, t0, rotation());
        let first = auth.issue(&mut rng, principal(), CredentialSource::Sts, t0, time::Duration::hours(1));
        for _ in 0..40 {
            auth.issue(&mut rng, principal(), CredentialSource::Sts, t0, time::Duration::hours(1));
        }
        assert!(auth.len() <= 16);
        assert!(auth.lookup(&current.access_key_id).is_some(), "an endpoint's current credential is never forgotten");
        assert!(auth.lookup(&first.access_key_id).is_none(), "the oldest go first");
    }

    #[test]
    fn past_capacity_expired_credentials_go_before_older_live_ones() {
        let mut auth = CredentialAuthority::with_capacity(16);
        let mut rng = StdRng::seed_from_u64(3);
        let t0 = datetime!(2026-11-30 00:00 UTC);
        let (current, _) = auth.current("ec2", &mut rng, principal, CredentialSource::Imds, t0, rotation());
        let old_live = auth.issue(&mut rng, principal(), CredentialSource::Sts, t0, time::Duration::hours(1));
        let short: Vec<_> = (0..14).map(|_| auth.issue(&mut rng, principal(), CredentialSource::Sts, t0, time::Duration::minutes(1))).collect();
        assert_eq!(auth.len(), 16);
        let newest = auth.issue(&mut rng, principal(), CredentialSource::Sts, t0 + time::Duration::minutes(2), time::Duration::hours(1));
        assert_eq!(auth.len(), 3, "only the 14 expired ones were forgotten");
        for key in [&current.access_key_id, &old_live.access_key_id, &newest.access_key_id] {
            assert!(auth.lookup(key).is_some(), "{key} is live and stays");
        }
        assert!(short.iter().all(|c| auth.lookup(&c.access_key_id).is_none()));
    }

    #[test]
    fn principals_render_real_arns() {
        let p = principal();
        assert_eq!(p.arn(), "arn:aws:sts::123456789012:assumed-role/r/i-0123456789abcdef0");
        assert_eq!(p.role_arn(), "arn:aws:iam::123456789012:role/r");
        assert!(p.user_id().starts_with("AROA") && p.user_id().ends_with(":i-0123456789abcdef0"));
    }
}
