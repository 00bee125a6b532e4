//! Exec mode: every client run under `cloudid exec`, with its SDK's defaults and no endpoint
//! settings at all. The harness's server stays the one the scenario talks to — the client's
//! namespace relays to it (`cloudid exec --server`) — so steps, faults and the journal work as
//! in endpoint mode; what changes is how the client finds cloudid: at the platform's real
//! addresses and the real host names, with the platform's variables.
//!
//! A flow's URLs (certificates, JWKS, token and impersonation endpoints, the ones inside
//! credential files) are rewritten to the real hosts; a run that would still need the harness
//! server's own address (a custom issuer has no real host) is skipped, saying why.

use std::collections::BTreeMap;

use crate::flow::Prepared;
use crate::params::Flow;

/// How client programs reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Endpoint settings (`AWS_EC2_METADATA_SERVICE_ENDPOINT`, `GCE_METADATA_HOST`, URLs on the server).
    #[default]
    Endpoints,
    /// `cloudid exec`: the real addresses and host names, no settings.
    Exec,
}

impl Mode {
    /// `endpoints` or `exec`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Endpoints => "endpoints",
            Self::Exec => "exec",
        }
    }
}

/// Paths on the server and the real URL a client uses for each.
const REAL: &[(&str, &str)] = &[
    ("/issuers/google/certs", "https://www.googleapis.com/oauth2/v1/certs"),
    ("/issuers/google/jwks", "https://www.googleapis.com/oauth2/v3/certs"),
    ("/issuers/github/jwks", "https://token.actions.githubusercontent.com/.well-known/jwks"),
    ("/oauth2/v3/tokeninfo", "https://www.googleapis.com/oauth2/v3/tokeninfo"),
    ("/v1/token", "https://sts.googleapis.com/v1/token"),
    ("/v1/introspect", "https://sts.googleapis.com/v1/introspect"),
    ("/v1/projects/", "https://iamcredentials.googleapis.com/v1/projects/"),
    ("/latest/", "http://169.254.169.254/latest/"),
    ("/computeMetadata/", "http://metadata.google.internal/computeMetadata/"),
    ("/github/actions/idtoken", "https://pipelinesghubeus1.actions.githubusercontent.com/github/actions/idtoken"),
];

/// Variables that only point clients at the server: exec mode drops them (the platform has its own).
const ENDPOINT_VARIABLES: &[&str] = &[
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_ENDPOINT_URL_STS",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "GCE_METADATA_HOST",
    "GCE_METADATA_IP",
    "GOOGLE_CLOUD_PROJECT",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "IDENTITY_ENDPOINT",
];

fn rewrite(text: &str, endpoint: &str) -> String {
    let mut out = text.to_string();
    for (path, real) in REAL {
        out = out.replace(&format!("{endpoint}{path}"), real);
    }
    out
}

/// A client run under `cloudid exec`: the command prefix, and the world file it names.
#[derive(Debug)]
pub struct Wrapped {
    /// `cloudid exec -q --server … --world … --as … [--unset …]`, to which `--env` pairs, `--`
    /// and the client's command are appended.
    pub prefix: Vec<String>,
    /// The scenario's world, for the platform's variables.
    pub world_file: tempfile::NamedTempFile,
}

impl Wrapped {
    /// The whole command for `argv` with `env`.
    pub fn command(&self, env: &BTreeMap<String, String>, argv: &[String]) -> Vec<String> {
        let mut out = self.prefix.clone();
        for (k, v) in env {
            out.push("--env".into());
            out.push(format!("{k}={v}"));
        }
        out.push("--".into());
        out.extend(argv.iter().cloned());
        out
    }
}

/// Rewrites `prepared` (its variables, environment and credential files) for exec mode and
/// picks the platform; `Err` says why the run cannot be made without endpoint settings.
pub fn wrap(cloudid: &str, endpoint: &str, world_yaml: &str, flow: Flow, prepared: &mut Prepared) -> Result<Wrapped, String> {
    let endpoint = endpoint.trim_end_matches('/');
    for v in prepared.vars.values_mut() {
        *v = rewrite(v, endpoint);
    }
    for f in &prepared.files {
        let Ok(text) = std::fs::read_to_string(f.path()) else { continue };
        if text.contains(endpoint) {
            std::fs::write(f.path(), rewrite(&text, endpoint)).map_err(|e| e.to_string())?;
        }
    }
    let world = cloudid_mock::world::parse("<scenario world>", world_yaml).map_err(|e| e.to_string())?;
    let full_uri = prepared.env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI").cloned().unwrap_or_default();
    let container_platform = || {
        let pod = world.aws.containers.iter().any(|c| c.agent == cloudid_mock::world::model::ContainerAgent::PodIdentity && full_uri.ends_with(&c.path))
            || (full_uri.ends_with(cloudid_mock::env::POD_IDENTITY_PATH) && world.kubernetes.first_association().is_some());
        if pod { "eks-pod-identity" } else { "ecs" }
    };
    let credential_file_is_aws = prepared.vars.get("cred_config").and_then(|p| std::fs::read_to_string(p).ok()).is_some_and(|t| t.contains("\"aws1\""));
    let gke = world.kubernetes.workload().filter(|(c, _)| c.kind == cloudid_mock::world::kubernetes::ClusterKind::Gke).map(|(_, sa)| format!("{}/{}", sa.namespace, sa.name));
    let service_account = prepared.pod.as_ref().map(|(_, sa)| sa.clone()).or(gke.clone());
    let platform = match flow {
        _ if prepared.pod.is_some() => prepared.pod.as_ref().map_or("ec2", |(p, _)| *p),
        Flow::GcpMetadata if gke.is_some() => "gke",
        Flow::AwsImds => "ec2",
        Flow::AwsContainer | Flow::GoogleAwsSupplier => container_platform(),
        Flow::AwsRoleChain if prepared.env.contains_key("AWS_EC2_METADATA_SERVICE_ENDPOINT") => "ec2",
        Flow::GcpMetadata => "gce",
        Flow::GoogleExternalAccount if credential_file_is_aws => "ec2",
        Flow::AwsWebIdentity | Flow::AwsRoleChain | Flow::GithubOidc | Flow::GoogleExternalAccount => "github-actions",
        Flow::AzureManagedIdentity if prepared.env.contains_key("IDENTITY_ENDPOINT") => "app-service",
        Flow::AzureManagedIdentity => "azure-vm",
        Flow::EntraToken => "github-actions",
        Flow::Verifier | Flow::AwsVerifier => return Err("a verifier is a relying party given its issuer's URLs: it runs with endpoint settings only".into()),
    };
    prepared.env.retain(|k, _| !ENDPOINT_VARIABLES.contains(&k.as_str()));
    let mut prefix: Vec<String> = ["exec", "-q", "--server", endpoint].iter().map(|s| s.to_string()).collect();
    prefix.insert(0, cloudid.to_string());
    if prepared.env.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN") && !prepared.env.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        prefix.extend(["--unset".to_string(), "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".to_string()]);
    }
    if let Some((k, v)) = prepared.env.iter().chain(prepared.vars.iter()).find(|(_, v)| v.contains(endpoint)) {
        return Err(format!("exec mode: `{k}` = `{v}` is on the harness's server, and no real host name serves it"));
    }
    let world_file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(world_file.path(), world_yaml).map_err(|e| e.to_string())?;
    prefix.extend(["--world".to_string(), world_file.path().display().to_string(), "--as".to_string(), platform.to_string()]);
    if let Some(sa) = service_account {
        prefix.extend(["--service-account".to_string(), sa]);
    }
    Ok(Wrapped { prefix, world_file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_become_the_real_ones_and_others_stay() {
        let e = "http://127.0.0.1:9";
        assert_eq!(rewrite("http://127.0.0.1:9/v1/token", e), "https://sts.googleapis.com/v1/token");
        assert_eq!(rewrite("http://127.0.0.1:9/latest/api/token", e), "http://169.254.169.254/latest/api/token");
        assert_eq!(rewrite("http://127.0.0.1:9/issuers/github/jwks", e), "https://token.actions.githubusercontent.com/.well-known/jwks");
        assert_eq!(rewrite("http://127.0.0.1:9/issuers/partner/jwks", e), "http://127.0.0.1:9/issuers/partner/jwks");
    }
}
