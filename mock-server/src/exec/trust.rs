//! Trusting cloudid's CA inside the namespace, system-wide: the system CA bundle, wherever the
//! distribution keeps it, is overlaid with a copy that has the CA appended, and the variables the
//! common runtimes read point at that copy too (Python `requests` and botocore carry their own
//! bundles; Node reads only its built-in roots and `NODE_EXTRA_CA_CERTS`).

use std::path::{Path, PathBuf};

/// The existing system bundle files to overlay (a symlinked one once, by its target).
pub(crate) fn overlay_targets() -> Vec<PathBuf> {
    let mut targets: Vec<PathBuf> = crate::tls::SYSTEM_BUNDLES.iter().map(Path::new).filter(|p| p.is_file()).filter_map(|p| p.canonicalize().ok()).collect();
    targets.sort();
    targets.dedup();
    targets
}

/// The variables pointing runtimes at `bundle` (system roots and cloudid's CA) and `ca` (the CA
/// alone, for Node's extra certificates).
pub(crate) fn env(bundle: &Path, ca: &Path) -> Vec<(&'static str, String)> {
    let bundle = bundle.display().to_string();
    vec![
        ("SSL_CERT_FILE", bundle.clone()),
        ("REQUESTS_CA_BUNDLE", bundle.clone()),
        ("AWS_CA_BUNDLE", bundle.clone()),
        ("CURL_CA_BUNDLE", bundle.clone()),
        ("GIT_SSL_CAINFO", bundle.clone()),
        ("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", bundle.clone()),
        ("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", bundle),
        ("NODE_EXTRA_CA_CERTS", ca.display().to_string()),
    ]
}

/// Where JDKs keep their trust store (Debian's shared one, and each installed JDK's).
pub(crate) fn java_trust_stores() -> Vec<PathBuf> {
    let mut candidates = vec![PathBuf::from("/etc/ssl/certs/java/cacerts"), PathBuf::from("/etc/pki/java/cacerts")];
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        candidates.push(Path::new(&home).join("lib/security/cacerts"));
    }
    if let Ok(jvms) = std::fs::read_dir("/usr/lib/jvm") {
        candidates.extend(jvms.flatten().map(|j| j.path().join("lib/security/cacerts")));
    }
    let mut stores: Vec<PathBuf> = candidates.into_iter().filter(|p| p.is_file()).filter_map(|p| p.canonicalize().ok()).collect();
    stores.sort();
    stores.dedup();
    stores
}

/// A Java trust store (JKS, password `changeit`, as the JDK's own) holding every certificate of
/// the PEM `bundle`: what Java programs trust when it overlays the JDK's `cacerts`.
///
/// The JKS layout: magic `FEEDFEED`, version 2, the entry count, then per trusted certificate its
/// tag (2), alias, timestamp, type `X.509` and DER; last, SHA-1 over the password (UTF-16BE),
/// the words "Mighty Aphrodite" and everything before.
pub(crate) fn java_trust_store(bundle: &str) -> Vec<u8> {
    use base64::Engine;
    let ders: Vec<Vec<u8>> = bundle
        .split("-----BEGIN CERTIFICATE-----")
        .skip(1)
        .filter_map(|block| block.split("-----END CERTIFICATE-----").next())
        .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64.split_whitespace().collect::<String>()).ok())
        .collect();
    let utf = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    };
    let mut out = Vec::new();
    out.extend_from_slice(&0xFEED_FEEDu32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&(ders.len() as u32).to_be_bytes());
    for (i, der) in ders.iter().enumerate() {
        out.extend_from_slice(&2u32.to_be_bytes());
        utf(&mut out, &format!("cert-{i}"));
        out.extend_from_slice(&0u64.to_be_bytes());
        utf(&mut out, "X.509");
        out.extend_from_slice(&(der.len() as u32).to_be_bytes());
        out.extend_from_slice(der);
    }
    let mut keyed: Vec<u8> = "changeit".encode_utf16().flat_map(u16::to_be_bytes).collect();
    keyed.extend_from_slice(b"Mighty Aphrodite");
    keyed.extend_from_slice(&out);
    out.extend_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &keyed).as_ref());
    out
}
