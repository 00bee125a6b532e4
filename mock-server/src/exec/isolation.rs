//! What stays outside the workload's view: the calling shell's cloud variables and the user's
//! own cloud configuration files.

use std::path::{Path, PathBuf};

use super::{ExecError, sandbox, setup};

/// Variables of the calling shell the workload does not get: every cloud's own (the platform
/// sets what it sets), proxies (nothing is reachable through them inside), CA overrides (set
/// anew), and cloudid's.
pub(crate) fn scrubbed(key: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "AWS_",
        "GOOGLE_",
        "GCE_",
        "GCLOUD_",
        "GCP_",
        "CLOUDSDK_",
        "BOTO_",
        "ACTIONS_",
        "GITHUB_",
        "GH_",
        "RUNNER_",
        "ECS_",
        "CLOUD_RUN_",
        "AZURE_",
        "ARM_",
        "IDENTITY_",
        "MSI_",
        "KUBECONFIG",
        "CLOUDID_",
    ];
    const EXACT: &[&str] = &[
        "CI",
        "SSH_AUTH_SOCK",
        "DOCKER_HOST",
        "K_SERVICE",
        "K_REVISION",
        "K_CONFIGURATION",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "GIT_SSL_CAINFO",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p)) || EXACT.iter().any(|e| key.eq_ignore_ascii_case(e))
}

/// The user's own cloud configuration, hidden (an empty, read-only directory or file over each):
/// under `$HOME` and under the home the password file names, as tools fall back to it.
pub(crate) fn hide_cloud_configuration(scratch: &Path) -> Result<(), ExecError> {
    const HIDDEN: &[&str] = &[".aws", ".config/gcloud", ".azure", ".boto", ".config/gh", ".docker", ".kube"];
    let mut homes: Vec<PathBuf> = std::env::var_os("HOME").map(PathBuf::from).into_iter().collect();
    let uid = rustix::process::getuid().as_raw().to_string();
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        homes.extend(passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() > 5 && f[2] == uid).map(|f| PathBuf::from(f[5])));
    }
    homes.sort();
    homes.dedup();
    for (i, target) in homes.iter().flat_map(|h| HIDDEN.iter().map(move |d| h.join(d))).enumerate() {
        let empty = scratch.join(format!("hidden-{i}"));
        if target.is_dir() {
            std::fs::create_dir(&empty).map_err(setup("creating the scratch directory"))?;
        } else if target.is_file() {
            std::fs::write(&empty, "").map_err(setup("creating the scratch directory"))?;
        } else {
            continue;
        }
        sandbox::overlay(&empty, &target)?;
    }
    Ok(())
}
