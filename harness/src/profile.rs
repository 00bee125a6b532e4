//! Client profiles: which flows a client program supports and the command that runs each.
//! Bundled profiles live in `fixtures/clients/profiles.yaml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One client profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// What the client is.
    #[serde(default)]
    pub description: String,
    /// Flow → command (with `{placeholders}`).
    pub flows: BTreeMap<crate::params::Flow, Vec<String>>,
    /// Flows this client can run only under `cloudid exec` (it ignores endpoint settings or
    /// refuses non-Google URLs there), with why; with endpoint settings those rows are skipped
    /// and say so.
    #[serde(default)]
    pub exec_only: BTreeMap<crate::params::Flow, String>,
}

/// The profiles file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profiles {
    /// Name → profile.
    pub profiles: BTreeMap<String, Profile>,
}

/// Where the client programs and their interpreters are.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `fixtures/clients`.
    pub clients: PathBuf,
    /// Python with the pinned client packages.
    pub python: String,
    /// Node.
    pub node: String,
    /// The Rust aws-config client binary.
    pub rust_aws_config_client: String,
    /// The Rust google-cloud-auth client binary.
    pub rust_google_auth_client: String,
    /// The Rust azure_identity client binary.
    pub rust_azure_identity_client: String,
    /// The Rust jsonwebtoken verifier binary.
    pub rust_jwt_verifier: String,
    /// The Go aws-sdk-go-v2 client binary (built by `scripts/setup-clients` into `target/go`).
    pub go_aws_client: String,
    /// The Go golang.org/x/oauth2/google client binary.
    pub go_google_client: String,
    /// The AWS CLI (Debian's `awscli`).
    pub aws_cli: String,
}

impl Tools {
    /// From the environment (`CLOUDID_PYTHON`, `CLOUDID_NODE`, `CLOUDID_RUST_AWS_CONFIG_CLIENT`,
    /// `CLOUDID_RUST_GOOGLE_AUTH_CLIENT`, `CLOUDID_RUST_JWT_VERIFIER`, …) with `root` the workspace.
    pub fn from_env(root: &Path) -> Self {
        let env = |k: &str, d: String| std::env::var(k).unwrap_or(d);
        Self {
            clients: root.join("fixtures/clients"),
            python: env("CLOUDID_PYTHON", "python3".into()),
            node: env("CLOUDID_NODE", "node".into()),
            rust_aws_config_client: env("CLOUDID_RUST_AWS_CONFIG_CLIENT", root.join("target/debug/rust-aws-config-client").display().to_string()),
            rust_google_auth_client: env("CLOUDID_RUST_GOOGLE_AUTH_CLIENT", root.join("target/debug/rust-google-auth-client").display().to_string()),
            rust_azure_identity_client: env("CLOUDID_RUST_AZURE_IDENTITY_CLIENT", root.join("target/debug/rust-azure-identity-client").display().to_string()),
            rust_jwt_verifier: env("CLOUDID_RUST_JWT_VERIFIER", root.join("target/debug/rust-jwt-verifier").display().to_string()),
            go_aws_client: env("CLOUDID_GO_AWS_CLIENT", root.join("target/go/aws-sdk-v2").display().to_string()),
            go_google_client: env("CLOUDID_GO_GOOGLE_CLIENT", root.join("target/go/oauth2-google").display().to_string()),
            aws_cli: env("CLOUDID_AWS_CLI", "/usr/bin/aws".into()),
        }
    }
}

/// Loads a profiles file.
pub fn load(path: &Path) -> Result<Profiles, crate::HarnessError> {
    let config = |message: String| crate::HarnessError::Config { file: path.to_path_buf(), message };
    let text = std::fs::read_to_string(path).map_err(|e| config(e.to_string()))?;
    let de = yaml_serde::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let p = e.path().to_string();
        config(format!("field `{p}`: {}", e.into_inner()))
    })
}

/// Expands `{placeholders}` in `command` from the tools and the flow's `vars`.
pub fn expand(command: &[String], tools: &Tools, vars: &BTreeMap<String, String>) -> Result<Vec<String>, crate::HarnessError> {
    command
        .iter()
        .map(|part| {
            let mut out = part.replace("{clients}", &tools.clients.display().to_string());
            let verifiers = tools.clients.parent().map(|f| f.join("verifiers")).unwrap_or_default();
            out = out.replace("{verifiers}", &verifiers.display().to_string());
            out = out.replace("{python}", &tools.python).replace("{node}", &tools.node).replace("{rust-aws-config-client}", &tools.rust_aws_config_client);
            out = out.replace("{rust-google-auth-client}", &tools.rust_google_auth_client).replace("{rust-jwt-verifier}", &tools.rust_jwt_verifier);
            out = out.replace("{rust-azure-identity-client}", &tools.rust_azure_identity_client);
            out = out.replace("{go-aws-client}", &tools.go_aws_client).replace("{go-google-client}", &tools.go_google_client).replace("{aws-cli}", &tools.aws_cli);
            for (k, v) in vars {
                out = out.replace(&format!("{{{k}}}"), v);
            }
            if out.contains('{') && out.contains('}') && !out.starts_with('{') {
                return Ok(out);
            }
            if out.starts_with('{') && out.ends_with('}') {
                return Err(crate::HarnessError::Placeholder { placeholder: out });
            }
            Ok(out)
        })
        .collect()
}
