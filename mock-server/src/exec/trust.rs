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
        ("CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE", bundle),
        ("NODE_EXTRA_CA_CERTS", ca.display().to_string()),
    ]
}
