//! Token issuers: the emulated GitHub Actions and Google issuers (and any a world declares), their
//! signing keys, key rotation with a grace period, JWKS, and minting signed JWTs.
//!
//! Keys come from `fixtures/keys/` (compiled in), so start-up never generates RSA keys; a
//! rotation past the fixture keys generates one. Parsed key pairs are held, never re-parsed per
//! token.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::verify::jwt::{Jwk, PreparedKey};

/// `iss` of GitHub Actions tokens.
pub const GITHUB_ISS: &str = "https://token.actions.githubusercontent.com";
/// `iss` of Google ID tokens.
pub const GOOGLE_ISS: &str = "https://accounts.google.com";
/// The host suffix of AWS STS outbound identity federation issuers.
pub const AWS_OUTBOUND_HOST_SUFFIX: &str = crate::hostnames::AWS_OUTBOUND_HOST_SUFFIX;

/// The issuer URL AWS gives account `account_id` when outbound identity federation is enabled:
/// `https://<id>.tokens.sts.global.api.aws`, the id a UUID-shaped value stable per account.
pub fn aws_outbound_iss(account_id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("outbound:{account_id}").as_bytes());
    let h = crate::ids::hex(&digest.as_ref()[..16]);
    format!("https://{}-{}-{}-{}-{}{AWS_OUTBOUND_HOST_SUFFIX}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The issuer name (`/issuers/{name}/…`) of account `account_id`'s outbound federation issuer.
pub fn aws_outbound_name(account_id: &str) -> String {
    format!("aws-outbound-{account_id}")
}

macro_rules! fixture_key {
    ($name:literal) => {
        ($name, include_str!(concat!("../../../fixtures/keys/", $name, ".pem")), include_str!(concat!("../../../fixtures/keys/", $name, ".crt.pem")))
    };
}

/// Bundled keys: name, PKCS#8 PEM, and the self-signed certificate [`self_signed`] makes for the
/// key, stored so that start-up signs nothing (aws-lc seeds its random generator — ~35 ms of
/// jitter entropy — on the first RSA signature, and a certificate is one).
const FIXTURE_KEYS: &[(&str, &str, &str)] = &[
    fixture_key!("github-actions-1"),
    fixture_key!("github-actions-2"),
    fixture_key!("google-1"),
    fixture_key!("google-2"),
    fixture_key!("extra-issuer-1"),
    fixture_key!("aws-sts-1"),
    fixture_key!("kubernetes-1"),
    fixture_key!("kubernetes-2"),
    fixture_key!("kubernetes-3"),
    fixture_key!("entra-1"),
    fixture_key!("entra-app-1"),
];

/// The `'static` name of bundled fixture key `name`, if there is one.
pub fn fixture_name(name: &str) -> Option<&'static str> {
    FIXTURE_KEYS.iter().find(|(n, _, _)| *n == name).map(|(n, _, _)| *n)
}

/// The bundled key `name` as PEM text, and its certificate's: what a client is configured with
/// to sign client assertions (an app registration's certificate credential).
pub fn fixture_pem(name: &str) -> Option<(&'static str, &'static str)> {
    FIXTURE_KEYS.iter().find(|(n, _, _)| *n == name).map(|(_, key, cert)| (*key, *cert))
}

/// PKCS#8 DER from PEM text.
pub fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body.trim()).expect("fixture PEM is base64")
}

/// A self-signed certificate for the PKCS#8 key `der`, named after `kid`, valid 2026–2036.
fn self_signed(der: &[u8], kid: &str) -> Option<(Vec<u8>, String)> {
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.to_vec());
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).ok()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).ok()?;
    params.distinguished_name.push(rcgen::DnType::CommonName, format!("cloudid issuer key {kid}"));
    params.not_before = OffsetDateTime::from_unix_timestamp(1_767_225_600).ok()?;
    params.not_after = OffsetDateTime::from_unix_timestamp(2_082_758_400).ok()?;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(kid.as_bytes().get(..16)?));
    let cert = params.self_signed(&key).ok()?;
    Some((cert.der().to_vec(), cert.pem()))
}

/// One RSA signing key and its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    /// Key id (`kid`).
    pub kid: String,
    pair: Arc<RsaKeyPair>,
    /// The public half as a JWK.
    pub jwk: Jwk,
    /// The public half, parsed for verification.
    pub prepared: Arc<PreparedKey>,
    /// A self-signed X.509 certificate of the key (DER), as issuers publish in `x5c` and
    /// Google's v1 certs.
    pub cert_der: Arc<Vec<u8>>,
    /// The same certificate, PEM.
    pub cert_pem: Arc<String>,
    /// `x5t`: base64url SHA-1 of the certificate.
    pub x5t: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// The key of PKCS#8 `der`, with `cert` (DER, PEM) as its certificate, or one made now.
    fn from_pkcs8(der: &[u8], cert: Option<(Vec<u8>, String)>) -> Option<Self> {
        let pair = RsaKeyPair::from_pkcs8(der).ok()?;
        let mut key = Self::from_pair(pair);
        let (cert_der, cert_pem) = match cert {
            Some(c) => c,
            None => self_signed(der, &key.kid)?,
        };
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);
        key.x5t = URL_SAFE_NO_PAD.encode(sha1.as_ref());
        key.jwk.x5t = Some(key.x5t.clone());
        key.jwk.x5c = Some(vec![STANDARD.encode(&cert_der)]);
        key.prepared = Arc::new(PreparedKey::new(key.jwk.clone()));
        key.cert_der = Arc::new(cert_der);
        key.cert_pem = Arc::new(cert_pem);
        Some(key)
    }

    fn from_pair(pair: RsaKeyPair) -> Self {
        let public = pair.public_key();
        let n = public.modulus().big_endian_without_leading_zero().to_vec();
        let e = public.exponent().big_endian_without_leading_zero().to_vec();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &n);
        let kid = crate::ids::hex(digest.as_ref());
        let jwk = Jwk {
            kty: "RSA".into(),
            kid: Some(kid.clone()),
            alg: Some("RS256".into()),
            n: Some(URL_SAFE_NO_PAD.encode(&n)),
            e: Some(URL_SAFE_NO_PAD.encode(&e)),
            crv: None,
            x: None,
            y: None,
            x5t: None,
            x5c: None,
        };
        let prepared = Arc::new(PreparedKey::new(jwk.clone()));
        Self { kid, pair: Arc::new(pair), jwk, prepared, cert_der: Arc::default(), cert_pem: Arc::default(), x5t: String::new() }
    }

    /// The bundled fixture key `name` (see `fixtures/keys/README.md`).
    pub fn fixture(name: &str) -> Option<Self> {
        let (_, pem, cert) = FIXTURE_KEYS.iter().find(|(n, _, _)| *n == name)?;
        Self::from_pkcs8(&pem_to_der(pem), Some((pem_to_der(cert), cert.to_string())))
    }

    /// The same key named by its certificate's thumbprint: `kid` = `x5t`, as Entra ID names its keys.
    pub fn named_by_thumbprint(mut self) -> Self {
        self.kid = self.x5t.clone();
        self.jwk.kid = Some(self.x5t.clone());
        self.prepared = Arc::new(PreparedKey::new(self.jwk.clone()));
        self
    }

    /// A freshly generated 2048-bit key.
    pub fn generate() -> Self {
        use aws_lc_rs::encoding::AsDer;
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key generation");
        let der = pair.as_der().expect("PKCS#8 export");
        Self::from_pkcs8(der.as_ref(), None).expect("a generated key loads")
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER (what `-----BEGIN PUBLIC KEY-----` holds).
    pub fn public_spki_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
        let der: Result<PublicKeyX509Der<'static>, _> = self.pair.public_key().as_der();
        der.map(|d| d.as_ref().to_vec()).unwrap_or_default()
    }

    /// RSASSA-PKCS1-v1_5 SHA-256 signature of `data` (IAM `signBlob`).
    pub fn sign_bytes(&self, data: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), data, &mut sig).expect("RSA signing");
        sig
    }

    /// Signs `claims` as an RS256 JWT with this key; `extra_header` adds header fields.
    pub fn sign(&self, claims: &Value, extra_header: &Map<String, Value>) -> String {
        let mut header = Map::new();
        header.insert("alg".into(), json!("RS256"));
        header.insert("kid".into(), json!(self.kid));
        header.insert("typ".into(), json!("JWT"));
        header.extend(extra_header.clone());
        self.sign_with_header(claims, header)
    }

    /// Signs `claims` with RS256 under exactly `header` (which names the algorithm and key).
    pub fn sign_with_header(&self, claims: &Value, header: Map<String, Value>) -> String {
        let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut sig).expect("RSA signing");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

/// An issuer the server signs for or trusts.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// Short name (`github`, `google`, or the world's name for it).
    pub name: String,
    /// `iss` claim value.
    pub iss: String,
    /// The key new tokens are signed with (none for verify-only issuers).
    pub active: Option<SigningKey>,
    /// Keys retired by a rotation, still published until the instant given.
    pub retired: Vec<(SigningKey, OffsetDateTime)>,
    /// Public keys declared inline by the world (verify-only).
    pub static_keys: Vec<Arc<PreparedKey>>,
    /// Whether verifiers fail to reach this issuer's JWKS (`IDPCommunicationError`).
    pub unreachable: bool,
    /// A P-384 key it also signs with (ES384), published beside the RSA keys.
    pub es384: Option<super::ec_key::EcSigningKey>,
    /// A key schedule (a Kubernetes cluster's rotation), which then decides the signing key.
    pub schedule: Option<Schedule>,
    /// Decoy public keys published before the real ones (nothing signs with them).
    pub decoys: Vec<Arc<PreparedKey>>,
    /// The kind of Kubernetes cluster this issuer is, if it is one (its documents' shapes).
    pub cluster: Option<super::kubernetes::ClusterKind>,
    next_fixture: usize,
    fixtures: Vec<&'static str>,
}

impl Issuer {
    /// An issuer signing with the first of `fixtures`.
    pub fn signing(name: &str, iss: &str, fixtures: &[&'static str]) -> Self {
        Self {
            name: name.into(),
            iss: iss.into(),
            active: fixtures.first().and_then(|f| SigningKey::fixture(f)),
            retired: Vec::new(),
            static_keys: Vec::new(),
            unreachable: false,
            es384: None,
            schedule: None,
            decoys: Vec::new(),
            cluster: None,
            next_fixture: 1,
            fixtures: fixtures.to_vec(),
        }
    }

    /// A verify-only issuer with inline public keys.
    pub fn verify_only(name: &str, iss: &str, keys: Vec<Jwk>) -> Self {
        Self { static_keys: keys.into_iter().map(|k| Arc::new(PreparedKey::new(k))).collect(), ..Self::signing(name, iss, &[]) }
    }

    /// The key a token minted at `now` is signed with: the schedule's, else the active key.
    pub fn signer(&self, now: OffsetDateTime) -> Option<&SigningKey> {
        match &self.schedule {
            Some(s) => Some(s.current(now)),
            None => self.active.as_ref(),
        }
    }

    /// Every key a verifier may use at `now`: the active key (or the schedule's current and,
    /// during its overlap, previous key), retired keys in their grace period, and inline keys.
    pub fn keys(&self, now: OffsetDateTime) -> Vec<Arc<PreparedKey>> {
        let mut keys: Vec<Arc<PreparedKey>> = self.decoys.clone();
        match &self.schedule {
            Some(s) => keys.extend(s.published(now).into_iter().map(|k| k.prepared.clone())),
            None => keys.extend(self.active.iter().map(|k| k.prepared.clone())),
        }
        keys.extend(self.retired.iter().filter(|(_, until)| *until > now).map(|(k, _)| k.prepared.clone()));
        keys.extend(self.es384.iter().map(|k| k.prepared.clone()));
        keys.extend(self.static_keys.iter().cloned());
        keys
    }

    /// The AWS STS outbound identity federation issuer of account `account_id`
    /// (`GetWebIdentityToken`): RS256 and ES384 keys, `iss` its account's issuer URL.
    pub fn aws_outbound(account_id: &str) -> Self {
        Self { es384: Some(super::ec_key::EcSigningKey::fixture()), ..Self::signing(&aws_outbound_name(account_id), &aws_outbound_iss(account_id), &["aws-sts-1"]) }
    }

    /// The published JWKS at `now` (what `keys` verifies with).
    pub fn jwks(&self, now: OffsetDateTime) -> Vec<Jwk> {
        self.keys(now).iter().map(|k| k.jwk.clone()).collect()
    }

    /// Moves to a new signing key; the old one stays published for `grace`. All or nothing: when
    /// `now + grace` is past the calendar, or no key can be made, nothing changes and `None` is
    /// returned.
    pub fn rotate(&mut self, now: OffsetDateTime, grace: time::Duration) -> Option<&SigningKey> {
        let until = now.checked_add(grace)?;
        if let Some(schedule) = self.schedule.take() {
            self.active = Some(schedule.current(now).clone());
        }
        let next = match self.fixtures.get(self.next_fixture) {
            Some(f) => SigningKey::fixture(f)?,
            None => SigningKey::generate(),
        };
        self.next_fixture += 1;
        if let Some(old) = self.active.replace(next) {
            self.retired.push((old, until));
        }
        self.active.as_ref()
    }
}

/// `count` decoy RSA public keys for issuer `name` (moduli derived from the name, so runs repeat),
/// and, with `duplicate`, one more under that `kid`, first.
fn decoys(name: &str, count: usize, duplicate: Option<String>) -> Vec<Arc<PreparedKey>> {
    let key = |kid: String, i: usize| {
        let mut n = Vec::with_capacity(256);
        let mut block = 0u32;
        while n.len() < 256 {
            n.extend_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("decoy:{name}:{i}:{block}").as_bytes()).as_ref());
            block += 1;
        }
        n[0] |= 0x80;
        n[255] |= 1;
        let jwk = Jwk { kty: "RSA".into(), kid: Some(kid), alg: Some("RS256".into()), n: Some(URL_SAFE_NO_PAD.encode(&n)), e: Some("AQAB".into()), crv: None, x: None, y: None, x5t: None, x5c: None };
        Arc::new(PreparedKey::new(jwk))
    };
    let mut out: Vec<Arc<PreparedKey>> = duplicate.into_iter().map(|kid| key(kid, usize::MAX)).collect();
    out.extend((0..count.min(1000)).map(|i| key(format!("decoy-{i:04}"), i)));
    out
}

/// A signing-key schedule: key `i % keys.len()` signs during the `i`-th period of `every` from
/// `start`, and stays published `overlap` into the next.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// When the first period begins.
    pub start: OffsetDateTime,
    /// The length of a period (zero: the first key forever).
    pub every: time::Duration,
    /// How long a key outlives its period in the JWKS.
    pub overlap: time::Duration,
    /// The keys, in the order they take over.
    pub keys: Vec<SigningKey>,
}

impl Schedule {
    /// The period `now` falls in, and how far into it.
    fn period(&self, now: OffsetDateTime) -> (i128, time::Duration) {
        let since = (now - self.start).max(time::Duration::ZERO);
        if self.every <= time::Duration::ZERO {
            return (0, since);
        }
        let (total, every) = (since.whole_nanoseconds(), self.every.whole_nanoseconds());
        (total / every, time::Duration::nanoseconds(i64::try_from(total % every).unwrap_or(i64::MAX)))
    }

    fn key(&self, period: i128) -> &SigningKey {
        &self.keys[(period.rem_euclid(self.keys.len() as i128)) as usize]
    }

    /// The key signing at `now`.
    pub fn current(&self, now: OffsetDateTime) -> &SigningKey {
        self.key(self.period(now).0)
    }

    /// The keys published at `now`: the current one, and the previous one during the overlap.
    pub fn published(&self, now: OffsetDateTime) -> Vec<&SigningKey> {
        let (n, into) = self.period(now);
        let mut keys = vec![self.key(n)];
        if n > 0 && into < self.overlap {
            keys.push(self.key(n - 1));
        }
        keys
    }
}

impl IssuerAuthority {
    /// The issuers of `model` at `now`: the built-ins adjusted by, and extended with,
    /// `model.issuers`, one per Kubernetes cluster (its key schedule starting `now`), and two per
    /// Entra ID tenant (its v2.0 and v1.0 issuers, sharing Entra's key).
    pub fn from_model(model: &super::WorldModel, now: OffsetDateTime) -> Self {
        let mut outbound: Vec<Issuer> = model.aws.all_accounts().filter(|a| a.outbound_identity_federation).map(|a| Issuer::aws_outbound(a.account_id)).collect();
        let cluster_keys: Vec<SigningKey> =
            if model.kubernetes.clusters.is_empty() { Vec::new() } else { ["kubernetes-1", "kubernetes-2", "kubernetes-3"].iter().filter_map(|k| SigningKey::fixture(k)).collect() };
        for (i, c) in model.kubernetes.clusters.iter().enumerate() {
            let mut keys = cluster_keys.clone();
            let n = keys.len().max(1);
            keys.rotate_left(i % n);
            let mut issuer = Issuer::signing(&c.issuer_name(), &c.issuer_url(&model.aws.region, &model.gcp), &[]);
            issuer.active = keys.first().cloned();
            issuer.cluster = Some(c.kind);
            let secs = |s: u64| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX));
            issuer.schedule = Some(Schedule { start: now, every: secs(c.key_rotation.every_seconds), overlap: secs(c.key_rotation.overlap_seconds), keys });
            outbound.push(issuer);
        }
        let entra = SigningKey::fixture("entra-1").map(SigningKey::named_by_thumbprint);
        for t in &model.azure.tenants {
            for (name, iss) in [(t.issuer_name(), t.v2_iss()), (t.v1_issuer_name(), t.v1_iss())] {
                let mut issuer = Issuer::signing(&name, &iss, &[]);
                issuer.active = entra.clone();
                outbound.push(issuer);
            }
        }
        let mut auth = Self::new(outbound);
        for m in &model.issuers {
            let existing = auth.issuers.iter().position(|i| i.name == m.name);
            let mut issuer = match existing {
                Some(pos) => auth.issuers[pos].clone(),
                None => {
                    let iss = m.iss.clone().unwrap_or_default();
                    match m.signing_key.as_deref().and_then(fixture_name) {
                        Some(key) => Issuer::signing(&m.name, &iss, &[key]),
                        None => Issuer::verify_only(&m.name, &iss, vec![]),
                    }
                }
            };
            if let Some(iss) = &m.iss {
                issuer.iss = iss.clone();
            }
            issuer.static_keys.extend(m.jwks.iter().cloned().map(|k| Arc::new(PreparedKey::new(k))));
            issuer.unreachable = m.unreachable;
            issuer.decoys = decoys(&m.name, m.decoy_keys, m.duplicate_kid.then(|| issuer.active.as_ref().map(|k| k.kid.clone())).flatten());
            match existing {
                Some(pos) => auth.issuers[pos] = issuer,
                None => auth.issuers.push(issuer),
            }
        }
        auth
    }
}

/// The world's issuers.
#[derive(Debug, Clone)]
pub struct IssuerAuthority {
    issuers: Vec<Issuer>,
}

impl IssuerAuthority {
    /// The built-in issuers plus `extra`.
    pub fn new(extra: Vec<Issuer>) -> Self {
        let mut issuers = vec![Issuer::signing("github", GITHUB_ISS, &["github-actions-1", "github-actions-2"]), Issuer::signing("google", GOOGLE_ISS, &["google-1", "google-2"])];
        for e in extra {
            match issuers.iter_mut().find(|i| i.name == e.name) {
                Some(existing) => *existing = e,
                None => issuers.push(e),
            }
        }
        Self { issuers }
    }

    /// The issuer named `name`.
    pub fn by_name(&self, name: &str) -> Option<&Issuer> {
        self.issuers.iter().find(|i| i.name == name)
    }

    /// The issuer named `name`, mutably.
    pub fn by_name_mut(&mut self, name: &str) -> Option<&mut Issuer> {
        self.issuers.iter_mut().find(|i| i.name == name)
    }

    /// The issuer whose `iss` is `iss` (Google's bare `accounts.google.com` included).
    pub fn by_iss(&self, iss: &str) -> Option<&Issuer> {
        let iss = if iss == "accounts.google.com" { GOOGLE_ISS } else { iss };
        self.issuers.iter().find(|i| i.iss == iss)
    }

    /// Every issuer.
    pub fn all(&self) -> &[Issuer] {
        &self.issuers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::jwt;

    /// Rewrites `fixtures/keys/*.crt.pem` with `CLOUDID_UPDATE_FIXTURES=1`.
    #[test]
    fn stored_fixture_certificates_are_the_ones_their_keys_make() {
        for (name, pem, stored) in FIXTURE_KEYS {
            let der = pem_to_der(pem);
            let kid = SigningKey::from_pair(RsaKeyPair::from_pkcs8(&der).unwrap()).kid;
            let (cert_der, cert_pem) = self_signed(&der, &kid).unwrap();
            if std::env::var_os("CLOUDID_UPDATE_FIXTURES").is_some() {
                let path = format!("{}/../fixtures/keys/{name}.crt.pem", env!("CARGO_MANIFEST_DIR"));
                std::fs::write(path, &cert_pem).unwrap();
                continue;
            }
            assert_eq!(*stored, cert_pem, "fixtures/keys/{name}.crt.pem is stale: run with CLOUDID_UPDATE_FIXTURES=1");
            let key = SigningKey::fixture(name).unwrap();
            assert_eq!(*key.cert_der, cert_der);
            assert_eq!(key.jwk.x5c.as_deref(), Some(&[STANDARD.encode(&cert_der)][..]));
        }
    }

    #[test]
    fn minted_tokens_verify_against_the_published_keys_and_rotation_keeps_old_ones_for_the_grace_period() {
        let mut auth = IssuerAuthority::new(vec![]);
        let t0 = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20000);
        let github = auth.by_name("github").unwrap();
        let token = github.active.as_ref().unwrap().sign(&json!({"sub": "repo:a/b:ref:refs/heads/main"}), &Map::new());
        let decoded = jwt::decode(&token).unwrap();
        assert_eq!(decoded.header.kid.as_deref(), Some(github.active.as_ref().unwrap().kid.as_str()));
        assert!(decoded.verify(&github.keys(t0)).is_ok());

        let issuer = auth.by_name_mut("github").unwrap();
        let new_kid = issuer.rotate(t0, time::Duration::minutes(10)).unwrap().kid.clone();
        assert_ne!(Some(new_kid.as_str()), decoded.header.kid.as_deref());
        assert!(decoded.verify(&issuer.keys(t0 + time::Duration::minutes(9))).is_ok(), "old key still published");
        assert_eq!(decoded.verify(&issuer.keys(t0 + time::Duration::minutes(10))).unwrap_err(), jwt::JwtError::UnknownKey(decoded.header.kid.clone().unwrap()));
        let other = auth.by_name("google").unwrap();
        assert!(matches!(decoded.verify(&other.keys(t0)), Err(jwt::JwtError::UnknownKey(_))));
    }

    #[test]
    fn a_tampered_payload_does_not_verify() {
        let auth = IssuerAuthority::new(vec![]);
        let g = auth.by_name("google").unwrap();
        let token = g.active.as_ref().unwrap().sign(&json!({"sub": "1"}), &Map::new());
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(json!({"sub": "2"}).to_string());
        let forged = parts.join(".");
        assert_eq!(jwt::decode(&forged).unwrap().verify(&g.keys(OffsetDateTime::UNIX_EPOCH)).unwrap_err(), jwt::JwtError::BadSignature);
    }
}
