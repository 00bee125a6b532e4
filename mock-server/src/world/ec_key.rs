//! An ECDSA P-384 signing key (ES384), for issuers that sign with elliptic curves as well as RSA
//! (AWS STS `GetWebIdentityToken` offers RS256 and ES384).

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::verify::jwt::{Jwk, PreparedKey};

/// The bundled P-384 key (PKCS#8 PEM, made as `fixtures/keys/README.md` says).
const AWS_STS_ES384_1: &str = include_str!("../../../fixtures/keys/aws-sts-es384-1.pem");

/// A P-384 key pair with its public JWK.
#[derive(Clone)]
pub struct EcSigningKey {
    /// Key id (`kid`): hex SHA-1 of the public point.
    pub kid: String,
    pair: Arc<EcdsaKeyPair>,
    /// The public half as a JWK (`kty` EC, `crv` P-384, `alg` ES384).
    pub jwk: Jwk,
    /// The public half, parsed for verification.
    pub prepared: Arc<PreparedKey>,
}

impl std::fmt::Debug for EcSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcSigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl EcSigningKey {
    /// The bundled fixture P-384 key.
    pub fn fixture() -> Self {
        Self::from_pkcs8(&super::issuers::pem_to_der(AWS_STS_ES384_1)).expect("the bundled P-384 key loads")
    }

    /// The key of PKCS#8 `der`, if it is a P-384 key.
    pub fn from_pkcs8(der: &[u8]) -> Option<Self> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der).ok()?;
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = point.get(1..)?.split_at(48);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &point);
        let kid = crate::ids::hex(digest.as_ref());
        let jwk = Jwk {
            kty: "EC".into(),
            kid: Some(kid.clone()),
            alg: Some("ES384".into()),
            n: None,
            e: None,
            crv: Some("P-384".into()),
            x: Some(URL_SAFE_NO_PAD.encode(x)),
            y: Some(URL_SAFE_NO_PAD.encode(y)),
            x5t: None,
            x5c: None,
        };
        let prepared = Arc::new(PreparedKey::new(jwk.clone()));
        Some(Self { kid, pair: Arc::new(pair), jwk, prepared })
    }

    /// Signs `claims` as an ES384 JWT (`typ` JWT, this key's `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES384", "kid": self.kid, "typ": "JWT"});
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self.pair.sign(&SystemRandom::new(), signing_input.as_bytes()).expect("ECDSA signing");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_es384_token_verifies_with_the_published_key_and_not_once_tampered() {
        let key = EcSigningKey::fixture();
        let token = key.sign(&json!({"iss": "https://x.tokens.sts.global.api.aws", "sub": "s"}));
        let decoded = crate::verify::jwt::decode(&token).unwrap();
        assert_eq!(decoded.header.alg, "ES384");
        assert_eq!(decoded.verify(std::slice::from_ref(&key.prepared)).unwrap().kid(), key.kid);
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(json!({"iss": "https://x.tokens.sts.global.api.aws", "sub": "t"}).to_string());
        parts[1] = &other;
        assert!(crate::verify::jwt::decode(&parts.join(".")).unwrap().verify(std::slice::from_ref(&key.prepared)).is_err());
    }
}
