//! Google OAuth access tokens: opaque `ya29.` strings, each remembered with the principal and
//! scopes it stands for, so later services (IAM Credentials, resource calls) can accept them as
//! Bearer tokens.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::RngCore;
use rand::rngs::StdRng;
use time::OffsetDateTime;

use crate::journal::{Issued, IssuedKind};
use crate::secret::Secret;

/// One issued access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub token: Secret,
    /// Who it acts as (a service account email, or a federated principal).
    pub principal: String,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it expires.
    pub expires_at: OffsetDateTime,
    /// How the journal names it.
    pub receipt: Arc<Issued>,
    /// For a federated token: the pool, subject and mapped attributes it carries.
    pub federation: Option<Federation>,
}

/// What a federated (Google STS) token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Federation {
    /// `projects/N/locations/global/workloadIdentityPools/P`.
    pub pool: String,
    /// `google.subject`.
    pub subject: String,
    /// Mapped `attribute.*` values (without the `attribute.` prefix).
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// Issued access tokens and the current one per (account, scopes).
#[derive(Debug, Default)]
pub struct GoogleTokenAuthority {
    by_token: HashMap<String, Arc<AccessToken>>,
    order: VecDeque<String>,
    current: HashMap<String, String>,
}

const CAPACITY: usize = 20_000;
/// How many (account, scopes) slots the metadata server remembers a current token for; past it,
/// slots whose token is gone are forgotten, then the rest (a forgotten slot just issues anew).
const SLOTS: usize = 4_096;

/// The longest scope text (scopes joined by their separators) a token may be asked with; longer
/// is refused by each service in its own shape. Real scope lists are a few hundred bytes.
pub const MAX_SCOPES_LEN: usize = 4_096;

impl AccessToken {
    /// Granted OAuth scopes (held once, in the receipt).
    pub fn scopes(&self) -> &[String] {
        &self.receipt.scopes
    }
}

impl GoogleTokenAuthority {
    /// Issues a token for `principal` with `scopes`, valid `lifetime` from `now`.
    pub fn issue(&mut self, rng: &mut StdRng, principal: &str, scopes: Vec<String>, now: OffsetDateTime, lifetime: time::Duration) -> Arc<AccessToken> {
        self.issue_with(rng, principal, scopes, now, lifetime, None)
    }

    /// Issues a token that may carry a federation.
    pub fn issue_with(&mut self, rng: &mut StdRng, principal: &str, scopes: Vec<String>, now: OffsetDateTime, lifetime: time::Duration, federation: Option<Federation>) -> Arc<AccessToken> {
        let mut raw = [0u8; 96];
        rng.fill_bytes(&mut raw);
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let body: String = raw.iter().map(|b| ALPHABET[(*b & 63) as usize] as char).collect();
        let token = Secret::new(format!("ya29.c.{body}"));
        let expires_at = now + lifetime;
        let receipt = Arc::new(Issued {
            kind: IssuedKind::GoogleAccessToken,
            access_key_id: None,
            secret_fingerprint: None,
            token_fingerprint: token.fingerprint(),
            expiration: crate::clock::iso8601(expires_at),
            principal: principal.to_string(),
            scopes,
        });
        let t = Arc::new(AccessToken { token, principal: principal.to_string(), issued_at: now, expires_at, receipt, federation });
        if self.by_token.len() >= CAPACITY {
            self.by_token.retain(|_, t| t.expires_at > now);
            self.order.retain(|k| self.by_token.contains_key(k));
            while self.by_token.len() >= CAPACITY - CAPACITY / 10 {
                let Some(old) = self.order.pop_front() else { break };
                self.by_token.remove(&old);
            }
        }
        self.order.push_back(t.token.expose().to_string());
        self.by_token.insert(t.token.expose().to_string(), t.clone());
        t
    }

    /// The metadata server's behaviour: re-serve the same token for `slot` until it is within
    /// `refresh_before` of expiry, then issue a new one.
    pub fn current(&mut self, slot: &str, rng: &mut StdRng, principal: &str, scopes: Vec<String>, now: OffsetDateTime, rotation: super::Rotation) -> (Arc<AccessToken>, bool) {
        if let Some(t) = self.current.get(slot).and_then(|k| self.by_token.get(k))
            && t.expires_at - now > rotation.refresh_before
        {
            return (t.clone(), false);
        }
        let t = self.issue(rng, principal, scopes, now, rotation.lifetime);
        if self.current.len() >= SLOTS {
            self.current.retain(|_, token| self.by_token.get(token).is_some_and(|t| t.expires_at > now));
            if self.current.len() >= SLOTS {
                self.current.clear();
            }
        }
        self.current.insert(slot.to_string(), t.token.expose().to_string());
        (t, true)
    }

    /// The token, if this world issued it (expired or not).
    pub fn lookup(&self, token: &str) -> Option<Arc<AccessToken>> {
        self.by_token.get(token).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use time::macros::datetime;

    #[test]
    fn the_current_token_slots_stay_bounded_however_many_scope_sets_are_asked_for() {
        let mut a = GoogleTokenAuthority::default();
        let mut rng = StdRng::seed_from_u64(4);
        let t0 = datetime!(2026-11-30 00:00 UTC);
        let r = crate::world::Rotation { lifetime: time::Duration::hours(1), refresh_before: time::Duration::minutes(5) };
        for i in 0..(3 * SLOTS) {
            a.current(&format!("sa|scope-{i}"), &mut rng, "sa@p.iam.gserviceaccount.com", vec![format!("scope-{i}")], t0, r);
        }
        assert!(a.current.len() <= SLOTS, "{} slots kept", a.current.len());
        assert!(a.by_token.len() <= CAPACITY);
    }

    #[test]
    fn the_metadata_server_reserves_a_token_until_near_expiry() {
        let mut a = GoogleTokenAuthority::default();
        let mut rng = StdRng::seed_from_u64(3);
        let t0 = datetime!(2026-11-30 00:00 UTC);
        let r = crate::world::Rotation { lifetime: time::Duration::hours(1), refresh_before: time::Duration::minutes(5) };
        let (x, new_x) = a.current("sa|s", &mut rng, "sa@p.iam.gserviceaccount.com", vec!["s".into()], t0, r);
        let (y, new_y) = a.current("sa|s", &mut rng, "sa@p.iam.gserviceaccount.com", vec!["s".into()], t0 + time::Duration::minutes(50), r);
        let (z, _) = a.current("sa|s", &mut rng, "sa@p.iam.gserviceaccount.com", vec!["s".into()], t0 + time::Duration::minutes(56), r);
        assert!(new_x && !new_y);
        assert_eq!(x.token, y.token);
        assert_ne!(x.token, z.token);
        assert!(x.token.expose().starts_with("ya29."));
        assert_eq!(a.lookup(x.token.expose()).unwrap().principal, "sa@p.iam.gserviceaccount.com");
    }
}
