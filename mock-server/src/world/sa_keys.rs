//! Service accounts' system-managed keys: the keys IAM Credentials `signJwt` and `signBlob` sign
//! with, published where Google publishes them (`/service_accounts/v1/metadata/x509/EMAIL`,
//! `/service_accounts/v1/jwk/EMAIL`).
//!
//! Each service account has its own key, never an issuer's: a JWT a caller signs as a service
//! account carries that account's `kid`, which is not among `accounts.google.com`'s keys, so no
//! verifier of Google ID tokens accepts it (IAM Credentials reference: these methods sign "using a
//! service account's system-managed private key"). Keys are made on first use — RSA key
//! generation costs tens of milliseconds, and most worlds never sign as an account — and live as
//! long as the server, as Google's do; a reset keeps them.

use std::collections::HashMap;
use std::sync::Mutex;

use super::issuers::SigningKey;

/// The system-managed keys of the world's service accounts, made on first use.
#[derive(Debug, Default)]
pub struct ServiceAccountKeys {
    keys: Mutex<HashMap<String, SigningKey>>,
}

impl ServiceAccountKeys {
    /// The key of the service account `email`, made now if it has none yet.
    pub fn key_for(&self, email: &str) -> SigningKey {
        if let Some(k) = self.lock().get(email) {
            return k.clone();
        }
        let made = SigningKey::generate();
        self.lock().entry(email.to_string()).or_insert(made).clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SigningKey>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_account_has_its_own_stable_key() {
        let keys = ServiceAccountKeys::default();
        let a = keys.key_for("a@p.iam.gserviceaccount.com");
        let b = keys.key_for("b@p.iam.gserviceaccount.com");
        assert_ne!(a.kid, b.kid, "two accounts never share a key");
        assert_eq!(keys.key_for("a@p.iam.gserviceaccount.com").kid, a.kid, "the same key on every use");
        assert_eq!(a.kid.len(), 40, "key ids are 40 hex digits, as Google's are");
    }
}
