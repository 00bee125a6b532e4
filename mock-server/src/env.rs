//! The environment a client needs to reach a running server (`cloudid env`, [`crate::CloudId::env`]).

use std::collections::BTreeMap;

use crate::world::WorldModel;
use crate::world::model::{ContainerAgent, ContainerModel};

/// Variables pointing unmodified AWS and Google clients at the server at `endpoint`
/// (e.g. `http://127.0.0.1:8133`, no trailing slash).
pub fn client_env(model: &WorldModel, endpoint: &str) -> BTreeMap<String, String> {
    let endpoint = endpoint.trim_end_matches('/');
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("CLOUDID_ENDPOINT", endpoint.to_string());
    set("AWS_REGION", model.aws.region.clone());
    set("AWS_ENDPOINT_URL_STS", format!("{endpoint}/"));
    set("AWS_DEFAULT_REGION", model.aws.region.clone());
    if model.aws.ec2.is_some() {
        set("AWS_EC2_METADATA_SERVICE_ENDPOINT", format!("{endpoint}/"));
    }
    let authority = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    if !model.gcp.project_id.is_empty() {
        set("GOOGLE_CLOUD_PROJECT", model.gcp.project_id.clone());
    }
    if model.gcp.default_account().is_some() {
        set("GCE_METADATA_HOST", authority.to_string());
        set("GCE_METADATA_IP", authority.to_string());
        set("GCE_METADATA_ROOT", authority.to_string());
    }
    if model.azure.vm.is_some() {
        set("AZURE_POD_IDENTITY_AUTHORITY_HOST", endpoint.to_string());
    }
    set("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{endpoint}{}?api-version=2.0", crate::services::github_oidc::PATH));
    set("ACTIONS_ID_TOKEN_REQUEST_TOKEN", model.github.request_token.expose().to_string());
    match env_container(model) {
        Some(c) if c.auth_token.is_some() || model.kubernetes.first_association().is_none() => {
            set("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{endpoint}{}", c.path));
            if let Some(token) = &c.auth_token {
                set("AWS_CONTAINER_AUTHORIZATION_TOKEN", token.expose().to_string());
            }
        }
        _ if model.kubernetes.first_association().is_some() => set("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{endpoint}{POD_IDENTITY_PATH}")),
        _ => {}
    }
    env
}

/// Where the EKS Pod Identity agent of the world's clusters answers.
pub const POD_IDENTITY_PATH: &str = "/v1/credentials";

/// The projection of the world's first Pod Identity association: its service account's token
/// for `pods.eks.amazonaws.com`, a day long, as EKS mounts it.
pub fn pod_identity_projection(model: &WorldModel) -> Option<crate::world::projected::Projection> {
    let (cluster, a) = model.kubernetes.first_association()?;
    Some(crate::world::projected::Projection {
        cluster: cluster.name.clone(),
        namespace: a.namespace.clone(),
        service_account: a.service_account.clone(),
        audience: crate::world::kubernetes::POD_IDENTITY_AUDIENCE.into(),
        expiration_seconds: 86_400,
    })
}

/// A platform whose variables alone `cloudid env --as` prints, so a credential chain finds that
/// platform's source first (with every variable set, every AWS chain takes the container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EnvPlatform {
    /// EC2: the instance metadata service.
    Ec2,
    /// ECS, Fargate, App Runner: the ECS agent's container credentials.
    Ecs,
    /// EKS Pod Identity: the agent's container credentials with its token.
    EksPodIdentity,
    /// Compute Engine or Cloud Run: the metadata server.
    Gce,
    /// GitHub Actions: the runtime's OIDC token request variables.
    GithubActions,
    /// An Azure VM: `AZURE_POD_IDENTITY_AUTHORITY_HOST`, which moves the Azure IMDS for the Python
    /// and Node SDKs (the Rust SDK has no such setting: use `cloudid exec --as azure-vm`).
    AzureVm,
    /// App Service, Functions, Container Apps: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`.
    AppService,
}

/// `env` cut to the variables `platform`'s workloads have (and `CLOUDID_ENDPOINT`, the region
/// and the STS endpoint, which every platform's clients use).
pub fn for_platform(model: &WorldModel, endpoint: &str, mut env: BTreeMap<String, String>, platform: EnvPlatform) -> BTreeMap<String, String> {
    let common = ["CLOUDID_ENDPOINT", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_STS"];
    let own: &[&str] = match platform {
        EnvPlatform::Ec2 => &["AWS_EC2_METADATA_SERVICE_ENDPOINT"],
        EnvPlatform::Ecs | EnvPlatform::EksPodIdentity => &["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"],
        EnvPlatform::Gce => &["GCE_METADATA_HOST", "GCE_METADATA_IP", "GCE_METADATA_ROOT", "GOOGLE_CLOUD_PROJECT"],
        EnvPlatform::GithubActions => &["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"],
        EnvPlatform::AzureVm => &["AZURE_POD_IDENTITY_AUTHORITY_HOST"],
        EnvPlatform::AppService => &[],
    };
    env.retain(|k, _| common.contains(&k.as_str()) || own.contains(&k.as_str()));
    let endpoint = endpoint.trim_end_matches('/');
    if platform == EnvPlatform::AppService && model.azure.app_service.is_some() {
        env.insert("IDENTITY_ENDPOINT".into(), format!("{endpoint}{}", crate::services::app_service_identity::PATH));
        env.insert("IDENTITY_HEADER".into(), crate::world::azure::AzureModel::identity_header(model.seed));
    }
    let container = |agent: ContainerAgent| model.aws.containers.iter().find(|c| c.agent == agent);
    let chosen = match platform {
        EnvPlatform::Ecs => container(ContainerAgent::Ecs),
        EnvPlatform::EksPodIdentity => container(ContainerAgent::PodIdentity),
        _ => None,
    };
    if matches!(platform, EnvPlatform::Ecs | EnvPlatform::EksPodIdentity) {
        let cluster_token = env.remove("AWS_CONTAINER_AUTHORIZATION_TOKEN").filter(|_| chosen.is_none() && platform == EnvPlatform::EksPodIdentity);
        env.remove("AWS_CONTAINER_CREDENTIALS_FULL_URI");
        if let Some(c) = chosen {
            env.insert("AWS_CONTAINER_CREDENTIALS_FULL_URI".into(), format!("{endpoint}{}", c.path));
            if let Some(t) = &c.auth_token {
                env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), t.expose().to_string());
            }
        } else if platform == EnvPlatform::EksPodIdentity && model.kubernetes.first_association().is_some() {
            env.insert("AWS_CONTAINER_CREDENTIALS_FULL_URI".into(), format!("{endpoint}{POD_IDENTITY_PATH}"));
            env.extend(cluster_token.map(|t| ("AWS_CONTAINER_AUTHORIZATION_TOKEN".to_string(), t)));
        }
    }
    env
}

/// The container endpoint `cloudid env` points clients at: the first one requiring a token
/// (Pod Identity), else the first ECS agent.
pub fn env_container(model: &WorldModel) -> Option<&ContainerModel> {
    model.aws.containers.iter().find(|c| c.auth_token.is_some()).or_else(|| model.aws.containers.iter().find(|c| c.agent == ContainerAgent::Ecs))
}

/// Output formats of `cloudid env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `export NAME='value'` lines for `eval "$(cloudid env)"`.
    Sh,
    /// One JSON object.
    Json,
    /// `NAME=value` lines for `--env-file` and dotenv loaders.
    Dotenv,
}

/// Renders `env` in `format`.
pub fn render(env: &BTreeMap<String, String>, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(env).unwrap_or_default() + "\n",
        Format::Dotenv => env.iter().map(|(k, v)| format!("{k}={v}\n")).collect(),
        Format::Sh => env.iter().map(|(k, v)| format!("export {k}={}\n", sh_quote(v))).collect(),
    }
}

fn sh_quote(v: &str) -> String {
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b)) { v.to_string() } else { format!("'{}'", v.replace('\'', "'\\''")) }
}

/// The environment pointing clients at the running server `shared` at `endpoint`: the world's,
/// with the container authorization token as it is now (rotated or not).
pub fn live_client_env(shared: &crate::exchange::Shared, endpoint: &str) -> BTreeMap<String, String> {
    let mut env = client_env(&shared.model, endpoint);
    if let Some(t) = env_container(&shared.model).and_then(|c| shared.container_token(c)) {
        env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), t.expose().to_string());
    } else if env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some_and(|u| u.ends_with(POD_IDENTITY_PATH))
        && let Some(token) = current_pod_token(shared)
    {
        env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), token.expose().to_string());
    }
    env
}

/// The projected token the world's Pod Identity pod has mounted now: the one minted last, until
/// the kubelet's rule says it is due, then a new one (as its file would hold).
pub fn current_pod_token(shared: &crate::exchange::Shared) -> Option<crate::secret::Secret> {
    let now = shared.clock.now().unix_timestamp();
    let held = shared.state().container_tokens.get(POD_IDENTITY_PATH).cloned();
    if let Some(t) = held
        && let Ok(d) = crate::verify::jwt::decode(t.expose())
        && let (Some(iat), Some(exp)) = (d.claims.get("iat").and_then(serde_json::Value::as_i64), d.claims.get("exp").and_then(serde_json::Value::as_i64))
        && !crate::world::projected::refresh_due(iat, exp, now)
    {
        return Some(t);
    }
    rotate_pod_token(shared)
}

/// Mints the Pod Identity pod's next projected token and makes it the current one (the old one
/// stays valid until it expires, as Kubernetes tokens do).
pub fn rotate_pod_token(shared: &crate::exchange::Shared) -> Option<crate::secret::Secret> {
    let minted = shared.mint_projected(&pod_identity_projection(&shared.model)?).ok()?;
    shared.state().container_tokens.insert(POD_IDENTITY_PATH.to_string(), minted.token.clone());
    Some(minted.token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_world_points_every_aws_client_at_the_server() {
        let env = client_env(&crate::world::default_world(), "http://127.0.0.1:8133/");
        assert_eq!(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], "http://127.0.0.1:8133/");
        assert_eq!(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], "http://127.0.0.1:8133/v1/credentials");
        assert!(!env.contains_key("AWS_CONTAINER_AUTHORIZATION_TOKEN"), "the pod's projected token is minted by the running server");
        assert_eq!(env["AWS_REGION"], "ap-northeast-1");
        assert_eq!(env["AWS_DEFAULT_REGION"], "ap-northeast-1");
        assert_eq!(env["AWS_ENDPOINT_URL_STS"], "http://127.0.0.1:8133/");
        assert_eq!(env["GCE_METADATA_HOST"], "127.0.0.1:8133");
        assert_eq!(env["GCE_METADATA_IP"], "127.0.0.1:8133");
        assert_eq!(env["GOOGLE_CLOUD_PROJECT"], "acme-data");
        assert_eq!(env["ACTIONS_ID_TOKEN_REQUEST_URL"], "http://127.0.0.1:8133/github/actions/idtoken?api-version=2.0");
        assert_eq!(env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"], "cloudid-actions-runtime-token");
    }

    #[test]
    fn sh_output_quotes_what_needs_quoting() {
        let mut env = BTreeMap::new();
        env.insert("A".to_string(), "http://x:1/".to_string());
        env.insert("B".to_string(), "it's".to_string());
        assert_eq!(render(&env, Format::Sh), "export A=http://x:1/\nexport B='it'\\''s'\n");
        assert_eq!(render(&env, Format::Dotenv), "A=http://x:1/\nB=it's\n");
    }
}
