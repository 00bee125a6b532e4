//! TLS for the real host names: a local CA (generated with rcgen at start-up) and one server
//! certificate naming every host clients use — AWS STS, Google's APIs, GitHub's issuer, the
//! metadata addresses — so containers reach cloudid at the real names with no endpoint override,
//! trusting the CA through `SSL_CERT_FILE`, `AWS_CA_BUNDLE`, `REQUESTS_CA_BUNDLE`,
//! `NODE_EXTRA_CA_CERTS`.

use std::sync::Arc;

use axum::Router;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

/// Host names the server certificate covers (besides `localhost` and the link-local IPs).
pub const HOSTS: &[&str] = &[
    "sts.amazonaws.com",
    "*.sts.amazonaws.com",
    "sts.googleapis.com",
    "iamcredentials.googleapis.com",
    "oauth2.googleapis.com",
    "www.googleapis.com",
    "accounts.google.com",
    "token.actions.githubusercontent.com",
    "*.tokens.sts.global.api.aws",
    "metadata.google.internal",
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
    "localhost",
];

/// Where distributions keep the system CA bundle (Debian/Ubuntu, RHEL/Fedora, Alpine/macOS, SUSE).
pub const SYSTEM_BUNDLES: &[&str] =
    &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", "/etc/ssl/cert.pem", "/etc/ssl/ca-bundle.pem"];

/// The system bundle (the first of [`SYSTEM_BUNDLES`] that exists) with `ca_pem` appended: a
/// bundle that trusts the real roots and cloudid.
pub fn bundle_with_system_roots(ca_pem: &str) -> String {
    let mut bundle = SYSTEM_BUNDLES.iter().find_map(|p| std::fs::read_to_string(p).ok()).unwrap_or_default();
    if !bundle.is_empty() && !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str(ca_pem);
    bundle
}

/// A CA and the server certificate it signed.
pub struct Authority {
    /// The CA certificate, PEM (what clients trust).
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

fn regional_sts_hosts() -> Vec<String> {
    crate::services::aws_sts::signed::REGIONS.iter().map(|r| format!("sts.{r}.amazonaws.com")).collect()
}

impl Authority {
    /// A fresh CA and a server certificate for [`HOSTS`], every regional STS host, `127.0.0.1`,
    /// `169.254.169.254`, `169.254.170.2` and `extra` names.
    pub fn generate(extra: &[String]) -> Result<Self, String> {
        let err = |e: rcgen::Error| e.to_string();
        let ca_key = KeyPair::generate().map_err(err)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        ca.distinguished_name.push(DnType::CommonName, "cloudid local CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
        let issuer = rcgen::Issuer::from_params(&ca, &ca_key);

        let mut names: Vec<String> = HOSTS.iter().map(|h| h.to_string()).collect();
        names.extend(regional_sts_hosts());
        names.extend(extra.iter().cloned());
        let leaf_key = KeyPair::generate().map_err(err)?;
        let mut leaf = CertificateParams::new(names).map_err(err)?;
        for ip in ["127.0.0.1", "169.254.169.254", "169.254.170.2", "169.254.170.23"] {
            leaf.subject_alt_names.push(SanType::IpAddress(ip.parse().map_err(|e: std::net::AddrParseError| e.to_string())?));
        }
        leaf.distinguished_name.push(DnType::CommonName, "cloudid");
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(err)?;

        let chain = vec![leaf_cert.der().clone(), ca_cert.der().clone()];
        let key = pki_types::PrivateKeyDer::Pkcs8(pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| e.to_string())?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self { ca_pem: ca_cert.pem(), config: Arc::new(config) })
    }

    /// A fresh CA and a server certificate for every host name `world`'s workloads may reach
    /// cloudid by: the emulated hosts, the AWS and Google API hosts (by wildcard), and the
    /// world's upstreams and issuers.
    pub fn for_world(world: &crate::world::WorldModel) -> Result<Self, String> {
        Self::generate(&crate::cloud_hosts::certificate_names(world))
    }

    /// The acceptor for TLS connections under this authority's certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }

    /// Serves `router` over TLS on `listener` until the process ends, under `limits` (the TLS
    /// handshake must finish within the header timeout).
    pub async fn serve(&self, listener: TcpListener, router: Router, limits: crate::connections::Limits) {
        let acceptor = TlsAcceptor::from(self.config.clone());
        let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
        let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!("TLS connection limit ({}) reached: closing the connection from {peer}", limits.max_connections);
                continue;
            };
            let acceptor = acceptor.clone();
            let router = router.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => crate::connections::serve_io(tls, peer, router, limits, stop).await,
                    Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                    Err(_) => tracing::warn!("TLS handshake with {peer} not complete within {:?}: closed", limits.header_timeout),
                }
                drop(permit);
            });
        }
    }
}
