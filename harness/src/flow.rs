//! Flows: what a client needs (environment, files, arguments) to perform each one against a
//! running server. Everything comes from the server's public surface: `env()`, its control plane.

use std::collections::BTreeMap;

use cloudid_mock::CloudId;
use cloudid_mock::cred_config::{self, Source};
use serde_json::{Value, json};

/// What a client run gets.
#[derive(Debug, Default)]
pub struct Prepared {
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Placeholder values for the profile's command.
    pub vars: BTreeMap<String, String>,
    /// Files that must live as long as the run.
    pub files: Vec<tempfile::NamedTempFile>,
    /// Under `cloudid exec`: the platform and the pod's Kubernetes service account
    /// (`NAMESPACE/NAME`), when the flow runs in a cluster.
    pub pod: Option<(&'static str, String)>,
}

/// A projected service-account token of the world's clusters for `service_account`
/// (`NAMESPACE/NAME`): in a file the server keeps fresh as the kubelet does (`refresh`), or written
/// once. The file and the token.
async fn projected(cloud: &CloudId, service_account: &str, audience: Option<&str>, expiration: Option<u64>, refresh: bool) -> Result<(tempfile::NamedTempFile, String), String> {
    let (namespace, name) = service_account.split_once('/').ok_or_else(|| format!("service_account `{service_account}` is not NAMESPACE/NAME"))?;
    let cluster =
        cloud.world().kubernetes.clusters.iter().find(|c| c.service_account(namespace, name).is_some()).ok_or_else(|| format!("no cluster of the world has the service account {service_account}"))?;
    let f = file("")?;
    let mut request = json!({"cluster": cluster.name, "namespace": namespace, "service_account": name, "audience": audience, "expiration_seconds": expiration});
    if refresh {
        request["path"] = json!(f.path());
    }
    let answer = cloud.control().kubernetes_token(&request).await.map_err(|e| format!("projected token: {e}"))?;
    let token = answer["token"].as_str().unwrap_or_default().to_string();
    if !refresh {
        std::fs::write(f.path(), &token).map_err(|e| e.to_string())?;
    }
    Ok((f, token))
}

/// The service account `param` names, else the first of the world's EKS clusters that `fits`.
fn eks_service_account(
    cloud: &CloudId,
    param: Option<&str>,
    fits: impl Fn(&cloudid_mock::world::kubernetes::ClusterModel, &cloudid_mock::world::kubernetes::ServiceAccount) -> bool,
) -> Option<String> {
    if let Some(p) = param {
        return Some(p.to_string());
    }
    let world = cloud.world();
    world
        .kubernetes
        .clusters
        .iter()
        .filter(|c| c.kind == cloudid_mock::world::kubernetes::ClusterKind::Eks)
        .find_map(|c| c.service_accounts.iter().find(|sa| fits(c, sa)).map(|sa| format!("{}/{}", sa.namespace, sa.name)))
}

fn param<'a>(params: &'a BTreeMap<String, Value>, k: &str, default: &'a str) -> &'a str {
    params.get(k).and_then(Value::as_str).unwrap_or(default)
}

async fn mint(cloud: &CloudId, issuer: &str, audience: &str, claims: &Value) -> Result<String, String> {
    let claims = claims.as_object().cloned().unwrap_or_default();
    let request = cloudid_mock::TokenRequest { audience: Some(audience.to_string()), claims, ..Default::default() };
    cloud.control().mint(issuer, &request).await.map_err(|e| format!("minting failed: {e}"))
}

fn file(contents: &str) -> Result<tempfile::NamedTempFile, String> {
    let f = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(f.path(), contents).map_err(|e| e.to_string())?;
    Ok(f)
}

fn pick(all: &BTreeMap<String, String>, keys: &[&str]) -> BTreeMap<String, String> {
    keys.iter().filter_map(|k| all.get(*k).map(|v| (k.to_string(), v.clone()))).collect()
}

/// The issuer and request the verifier flow mints with, from `CLOUDID_VERIFIER_MINT`.
pub fn verifier_mint(text: &str) -> Result<(String, cloudid_mock::TokenRequest), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let issuer = v["issuer"].as_str().unwrap_or("github").to_string();
    let request = serde_json::from_value(v["request"].clone()).map_err(|e| e.to_string())?;
    Ok((issuer, request))
}

/// `claims` with every `"now"`, `"now+N"` or `"now-N"` string replaced by that NumericDate on
/// `now` (the server's clock), so a scenario can ask for times relative to the run.
fn relative_times(claims: serde_json::Map<String, Value>, now: i64) -> serde_json::Map<String, Value> {
    claims
        .into_iter()
        .map(|(k, v)| {
            let relative = v.as_str().and_then(|s| s.strip_prefix("now")).and_then(|rest| match rest {
                "" => Some(0),
                r => r.strip_prefix('+').map_or_else(|| r.strip_prefix('-').and_then(|n| n.parse::<i64>().ok()).map(|n| -n), |n| n.parse::<i64>().ok()),
            });
            (k, relative.map_or(v, |d| Value::from(now + d)))
        })
        .collect()
}

/// The `iss` of the world's issuer `name` (`github`, `google`, `k8s-CLUSTER`, or an extra one).
fn issuer_url(world: &cloudid_mock::world::WorldModel, name: &str) -> Option<String> {
    match name {
        "github" => Some(cloudid_mock::world::issuers::GITHUB_ISS.to_string()),
        "google" => Some(cloudid_mock::world::issuers::GOOGLE_ISS.to_string()),
        _ => world
            .kubernetes
            .clusters
            .iter()
            .find(|c| c.issuer_name() == name)
            .map(|c| c.issuer_url(&world.aws.region, &world.gcp))
            .or_else(|| world.issuers.iter().find(|i| i.name == name).and_then(|i| i.iss.clone())),
    }
}

/// Prepares `flow` with `params` against `cloud`.
pub async fn prepare(cloud: &CloudId, flow: crate::params::Flow, params: &BTreeMap<String, Value>) -> Result<Prepared, crate::HarnessError> {
    prepare_inner(cloud, flow, params).await.map_err(|why| crate::HarnessError::Prepare { flow, why })
}

async fn prepare_inner(cloud: &CloudId, flow: crate::params::Flow, params: &BTreeMap<String, Value>) -> Result<Prepared, String> {
    use crate::params::Flow;
    let all = cloud.env();
    let e = cloud.endpoint();
    let mut p = Prepared::default();
    let claims = params.get("token_claims").cloned().unwrap_or(json!({}));
    match flow {
        Flow::AwsImds => {
            p.env = pick(&all, &["AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION"]);
        }
        Flow::AwsVerifier => {
            let request = json!({"cluster_id": param(params, "cluster_id", "acme-eks"), "host": params.get("host")});
            let answer = cloud.control().presign(&request).await.map_err(|err| format!("presigning failed: {err}"))?;
            let mut token = answer["eks_token"].as_str().unwrap_or_default().to_string();
            if params.get("tamper").and_then(Value::as_bool) == Some(true) {
                // The last signature digit changed: the URL still parses, the signature fails.
                use base64::Engine;
                let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let url = String::from_utf8(engine.decode(token.trim_start_matches("k8s-aws-v1.")).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
                let flipped = if url.ends_with('0') { format!("{}1", &url[..url.len() - 1]) } else { format!("{}0", &url[..url.len() - 1]) };
                token = format!("k8s-aws-v1.{}", engine.encode(flipped));
            }
            let f = file(&token)?;
            p.env.insert("CLOUDID_TOKEN_FILE".into(), f.path().display().to_string());
            p.env.insert("CLOUDID_VERIFIER_CLUSTER_ID".into(), param(params, "accept_cluster_id", "acme-eks").to_string());
            p.env.insert("CLOUDID_VERIFIER_STS_ENDPOINT".into(), e.clone());
            p.files.push(f);
        }
        Flow::Verifier => {
            // The verifier is configured as a relying party would be (issuer, audience, JWKS URL)
            // and handed a token minted as the scenario says — hostile or not.
            let issuer = param(params, "issuer", "github");
            let object = |k: &str| params.get(k).and_then(Value::as_object).cloned().unwrap_or_default();
            let request = cloudid_mock::TokenRequest {
                audience: Some(param(params, "audience", "cloudid-verifier").to_string()),
                claims: relative_times(object("token_claims"), cloud.clock().now().unix_timestamp()),
                header: object("token_header"),
                duplicates: object("token_duplicates"),
                key: params.get("token_key").and_then(Value::as_str).map(str::to_string),
                ..Default::default()
            };
            let token = cloud.control().mint(issuer, &request).await.map_err(|e| format!("minting failed: {e}"))?;
            let f = file(&token)?;
            let iss = issuer_url(cloud.world(), issuer).ok_or_else(|| format!("no issuer named `{issuer}`"))?;
            p.env.insert("CLOUDID_TOKEN_FILE".into(), f.path().display().to_string());
            p.env.insert("CLOUDID_VERIFIER_ISSUER".into(), param(params, "accept_issuer", &iss).to_string());
            p.env.insert("CLOUDID_VERIFIER_AUDIENCE".into(), param(params, "accept_audience", "cloudid-verifier").to_string());
            p.env.insert("CLOUDID_VERIFIER_JWKS_URL".into(), format!("{e}/issuers/{issuer}/jwks"));
            p.env.insert("CLOUDID_VERIFIER_MINT".into(), json!({"issuer": issuer, "request": request}).to_string());
            p.files.push(f);
        }
        Flow::AzureManagedIdentity => {
            // A VM's IMDS (Python and Node let AZURE_POD_IDENTITY_AUTHORITY_HOST move it) or App
            // Service's identity endpoint, as the platform sets it.
            match param(params, "platform", "vm") {
                "app-service" => {
                    let header = cloudid_mock::world::azure::AzureModel::identity_header(cloud.world().seed);
                    p.env.insert("IDENTITY_ENDPOINT".into(), format!("{e}{}", cloudid_mock::APP_SERVICE_IDENTITY_PATH));
                    p.env.insert("IDENTITY_HEADER".into(), param(params, "identity_header", &header).to_string());
                }
                _ => {
                    p.env.insert("AZURE_POD_IDENTITY_AUTHORITY_HOST".into(), e.clone());
                }
            }
            if let Some(id) = params.get("client_id").and_then(Value::as_str) {
                p.env.insert("AZURE_CLIENT_ID".into(), id.to_string());
            }
            p.vars.insert("scope".into(), param(params, "scope", "https://management.azure.com/.default").into());
        }
        Flow::EntraToken => {
            // The variables an application's DefaultAzureCredential reads: AKS's webhook-injected
            // workload identity, a GitHub job's token in a file, or a secret or certificate.
            let world = cloud.world();
            let tenant = world.azure.home_tenant().ok_or("the world has no Azure tenant (azure.tenants)")?;
            let tenant_id = param(params, "tenant", &tenant.tenant_id()).to_string();
            let deployer = tenant.applications.first().map(|a| a.client_id()).unwrap_or_default();
            let source = param(params, "source", "aks");
            p.vars.insert("scope".into(), param(params, "scope", "https://management.azure.com/.default").into());
            if source == "aks" {
                let annotation = cloudid_mock::world::azure::AKS_CLIENT_ID_ANNOTATION;
                let sa = params.get("service_account").and_then(Value::as_str).map(str::to_string).or_else(|| {
                    world.kubernetes.clusters.iter().find_map(|c| c.service_accounts.iter().find(|sa| sa.annotations.contains_key(annotation)).map(|sa| format!("{}/{}", sa.namespace, sa.name)))
                });
                let sa = sa.ok_or_else(|| format!("the world has no service account with the {annotation} annotation"))?;
                let (ns, name) = sa.split_once('/').unwrap_or_default();
                let annotated = world.kubernetes.clusters.iter().find_map(|c| c.service_account(ns, name)).and_then(|s| s.annotations.get(annotation).cloned());
                let client_id = params.get("client_id").and_then(Value::as_str).map(str::to_string).or(annotated).unwrap_or_default();
                let (f, _) = projected(cloud, &sa, Some(param(params, "audience", cloudid_mock::world::azure::FIC_AUDIENCE)), Some(3600), true).await?;
                p.env.insert("AZURE_FEDERATED_TOKEN_FILE".into(), f.path().display().to_string());
                p.env.insert("AZURE_CLIENT_ID".into(), client_id);
                p.files.push(f);
                p.pod = Some(("aks", sa));
            } else {
                p.env.insert("AZURE_CLIENT_ID".into(), param(params, "client_id", &deployer).to_string());
            }
            p.env.insert("AZURE_TENANT_ID".into(), tenant_id);
            match source {
                "github" => {
                    let token = mint(cloud, "github", param(params, "audience", cloudid_mock::world::azure::FIC_AUDIENCE), &claims).await?;
                    let f = file(&token)?;
                    p.env.insert("AZURE_FEDERATED_TOKEN_FILE".into(), f.path().display().to_string());
                    p.files.push(f);
                }
                "secret" => {
                    let secret = tenant.applications.first().and_then(|a| a.secrets.first()).map(|s| s.value.expose().to_string()).unwrap_or_default();
                    p.env.insert("AZURE_CLIENT_SECRET".into(), param(params, "client_secret", &secret).to_string());
                }
                "certificate" => {
                    let (key, cert) = cloudid_mock::world::issuers::fixture_pem("entra-app-1").ok_or("no bundled certificate key entra-app-1")?;
                    let f = file(&format!("{key}{cert}"))?;
                    p.env.insert("AZURE_CLIENT_CERTIFICATE_PATH".into(), f.path().display().to_string());
                    p.files.push(f);
                }
                _ => {}
            }
        }
        Flow::AwsContainer => {
            p.env = pick(&all, &["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION"]);
            let cluster_agent = p.env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some_and(|u| u.ends_with(cloudid_mock::env::POD_IDENTITY_PATH))
                && cloud.world().kubernetes.first_association().is_some()
                && !cloud.world().aws.containers.iter().any(|c| c.path == cloudid_mock::env::POD_IDENTITY_PATH);
            let refresh = params.get("token_refresh").and_then(Value::as_bool) != Some(false);
            let token_file = params.get("token_file").and_then(Value::as_bool) == Some(true);
            if cluster_agent {
                // The pod's projected token for pods.eks.amazonaws.com, as EKS mounts it.
                let sa = eks_service_account(cloud, params.get("service_account").and_then(Value::as_str), |c, sa| c.association(&sa.namespace, &sa.name).is_some()).unwrap_or_default();
                let expiration = params.get("token_expiration_seconds").and_then(Value::as_u64).or(Some(86_400));
                let (f, token) = projected(cloud, &sa, Some(cloudid_mock::world::kubernetes::POD_IDENTITY_AUDIENCE), expiration, refresh && token_file).await?;
                p.env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), token);
                p.pod = Some(("eks-pod-identity", sa));
                if token_file {
                    p.env.remove("AWS_CONTAINER_AUTHORIZATION_TOKEN");
                    p.env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(), f.path().display().to_string());
                    p.files.push(f);
                }
            }
            if let Some(t) = params.get("container_token").and_then(Value::as_str) {
                p.env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), t.to_string());
            }
            if token_file && !cluster_agent {
                // As EKS Pod Identity mounts it: the token in a file the SDK reads on each fetch.
                let token = p.env.remove("AWS_CONTAINER_AUTHORIZATION_TOKEN").unwrap_or_default();
                let f = file(&token)?;
                p.env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(), f.path().display().to_string());
                p.files.push(f);
            }
            p.env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
        }
        Flow::AwsWebIdentity if param(params, "issuer", "github") == "eks" => {
            // IRSA: the pod identity webhook's variables and the kubelet's token file.
            let annotation = cloudid_mock::world::kubernetes::ROLE_ARN_ANNOTATION;
            let sa = eks_service_account(cloud, params.get("service_account").and_then(Value::as_str), |_, sa| sa.annotations.contains_key(annotation))
                .ok_or("the world has no EKS service account with an IRSA role annotation")?;
            let refresh = params.get("token_refresh").and_then(Value::as_bool) != Some(false);
            let (f, _) = projected(cloud, &sa, Some(param(params, "audience", "sts.amazonaws.com")), params.get("token_expiration_seconds").and_then(Value::as_u64), refresh).await?;
            let role_arn = match params.get("role").and_then(Value::as_str) {
                Some(role) => format!("arn:aws:iam::123456789012:role/{role}"),
                None => {
                    let (ns, name) = sa.split_once('/').unwrap_or_default();
                    let world = cloud.world();
                    let found = world.kubernetes.clusters.iter().find_map(|c| c.service_account(ns, name)).and_then(|s| s.annotations.get(annotation).cloned());
                    found.ok_or_else(|| format!("{sa} has no {annotation} annotation: give `role`"))?
                }
            };
            p.env = pick(&all, &["AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION"]);
            p.env.insert("AWS_ROLE_ARN".into(), role_arn);
            p.env.insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), f.path().display().to_string());
            p.env.insert("AWS_STS_REGIONAL_ENDPOINTS".into(), "regional".into());
            if let Some(name) = params.get("session_name").and_then(Value::as_str) {
                p.env.insert("AWS_ROLE_SESSION_NAME".into(), name.to_string());
            }
            p.env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
            p.files.push(f);
            p.pod = Some(("eks-irsa", sa));
        }
        Flow::AwsWebIdentity => {
            let issuer = param(params, "issuer", "github");
            let (default_aud, default_role) =
                if issuer == "google" { ("reply-bot.apps.googleusercontent.com", "reply-bot-cloudrun-workload-identity-staging") } else { ("sts.amazonaws.com", "GitHubActionsECRRole") };
            let token = mint(cloud, issuer, param(params, "audience", default_aud), &claims).await?;
            let f = file(&token)?;
            p.env = pick(&all, &["AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION"]);
            p.env.insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), f.path().display().to_string());
            p.env.insert("AWS_ROLE_ARN".into(), format!("arn:aws:iam::123456789012:role/{}", param(params, "role", default_role)));
            p.env.insert("AWS_ROLE_SESSION_NAME".into(), param(params, "session_name", "cloudid-scenario").to_string());
            p.env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
            p.files.push(f);
        }
        Flow::AwsRoleChain => {
            // A shared config file as a pipeline or an instance writes it: profile `target` assumes
            // `target_role_arn` (AssumeRole signed with the source session) from either profile
            // `source`, which assumes `role` with a GitHub token file (`source: web-identity`, the
            // default), or the instance's own credentials (`source: ec2`, `credential_source =
            // Ec2InstanceMetadata`).
            let target = format!(
                "[profile target]\nrole_arn = {}\nrole_session_name = {}\n",
                param(params, "target_role_arn", "arn:aws:iam::210987654321:role/ci/deployer"),
                param(params, "session_name", "cloudid-scenario"),
            );
            let source = param(params, "source", "web-identity");
            let mut config = match source {
                "ec2" => format!("{target}credential_source = Ec2InstanceMetadata\n"),
                "web-identity" => {
                    let token = mint(cloud, "github", param(params, "audience", "sts.amazonaws.com"), &claims).await?;
                    let token_file = file(&token)?;
                    let source = format!(
                        "[profile source]\nrole_arn = arn:aws:iam::123456789012:role/{}\nweb_identity_token_file = {}\nrole_session_name = cloudid-source\n\n",
                        param(params, "role", "GitHubActionsECRRole"),
                        token_file.path().display(),
                    );
                    p.files.push(token_file);
                    format!("{source}{target}source_profile = source\n")
                }
                other => return Err(format!("aws-role-chain: unknown source `{other}` (web-identity, ec2)")),
            };
            if let Some(ext) = params.get("external_id").and_then(Value::as_str) {
                config.push_str(&format!("external_id = {ext}\n"));
            }
            if let Some(n) = params.get("duration_seconds").and_then(Value::as_u64) {
                config.push_str(&format!("duration_seconds = {n}\n"));
            }
            let config_file = file(&config)?;
            p.env = pick(&all, &["AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION"]);
            if source == "ec2" {
                p.env.extend(pick(&all, &["AWS_EC2_METADATA_SERVICE_ENDPOINT"]));
            } else {
                p.env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
            }
            p.env.insert("AWS_CONFIG_FILE".into(), config_file.path().display().to_string());
            p.env.insert("AWS_PROFILE".into(), "target".into());
            p.files.push(config_file);
        }
        Flow::GcpMetadata => {
            p.env = pick(&all, &["GCE_METADATA_HOST", "GCE_METADATA_IP", "GOOGLE_CLOUD_PROJECT"]);
            p.vars.insert("audience".into(), param(params, "audience", "https://reply-bot.example").into());
            p.vars.insert("certs_url".into(), format!("{e}/issuers/{}/certs", param(params, "certs_issuer", "google")));
            p.vars.insert("jwks_url".into(), format!("{e}/issuers/{}/jwks", param(params, "certs_issuer", "google")));
        }
        Flow::GithubOidc => {
            p.env = pick(&all, &["ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"]);
            if let Some(t) = params.get("request_token").and_then(Value::as_str) {
                p.env.insert("ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(), t.to_string());
            }
            p.vars.insert("audience".into(), param(params, "audience", "sts.amazonaws.com").into());
            p.vars.insert("jwks_url".into(), format!("{e}/issuers/github/jwks"));
        }
        Flow::GoogleExternalAccount => {
            let provider = param(params, "provider", "projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool/providers/embulk-aws-access-provider").to_string();
            let sa = params.get("service_account").and_then(Value::as_str);
            let source = match param(params, "source", "aws") {
                "aws" => Source::Aws { imdsv2: params.get("imdsv2").and_then(Value::as_bool).unwrap_or(true) },
                "github-url" => {
                    let aud = format!("https://iam.googleapis.com/{provider}");
                    let base = all.get("ACTIONS_ID_TOKEN_REQUEST_URL").ok_or("the world serves no GitHub Actions token endpoint")?;
                    let bearer = all.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN").cloned().unwrap_or_default();
                    let audience = param(params, "audience", &aud);
                    let mut url = base.clone();
                    url.push_str("&audience=");
                    cloudid_mock::verify::sigv4::uri_encode(audience.as_bytes(), true, &mut url);
                    Source::Url { url, headers: vec![("Authorization".into(), format!("bearer {bearer}"))], json_field: Some("value".into()) }
                }
                _ => {
                    let aud = format!("https://iam.googleapis.com/{provider}");
                    let token = mint(cloud, "github", param(params, "audience", &aud), &claims).await?;
                    let f = file(&token)?;
                    let s = Source::File { path: f.path().display().to_string(), json_field: None };
                    p.files.push(f);
                    s
                }
            };
            let doc = cred_config::build(&provider, sa, &source, &e)?;
            let f = file(&doc.to_string())?;
            p.vars.insert("cred_config".into(), f.path().display().to_string());
            p.vars.insert("tokeninfo_url".into(), format!("{e}/oauth2/v3/tokeninfo"));
            p.files.push(f);
            p.env = pick(&all, &["GOOGLE_CLOUD_PROJECT"]);
            p.env.insert("GOOGLE_APPLICATION_CREDENTIALS".into(), p.vars["cred_config"].clone());
        }
        Flow::GoogleAwsSupplier => {
            let provider = param(params, "provider", "projects/314159265358/locations/global/workloadIdentityPools/your-pool/providers/your-provider");
            let sa = param(params, "service_account", "bigquery-reader@acme-data.iam.gserviceaccount.com");
            p.env = pick(&all, &["AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_REGION", "GOOGLE_CLOUD_PROJECT"]);
            p.env.insert("AWS_EC2_METADATA_DISABLED".into(), "true".into());
            p.vars.insert("audience".into(), format!("//iam.googleapis.com/{provider}"));
            p.vars.insert("token_url".into(), format!("{e}/v1/token"));
            p.vars.insert("impersonation_url".into(), format!("{e}/v1/projects/-/serviceAccounts/{sa}:generateAccessToken"));
            p.vars.insert("tokeninfo_url".into(), format!("{e}/oauth2/v3/tokeninfo"));
            p.vars.insert("region".into(), all.get("AWS_REGION").cloned().unwrap_or_default());
        }
    }
    if let Some(n) = params.get("repeat").and_then(Value::as_u64) {
        p.env.insert("CLOUDID_REPEAT".into(), n.to_string());
    }
    if let Some(ms) = params.get("pause_ms").and_then(Value::as_u64) {
        p.env.insert("CLOUDID_REPEAT_PAUSE_MS".into(), ms.to_string());
    }
    if params.get("refetch").and_then(Value::as_bool) == Some(true) {
        p.env.insert("CLOUDID_REFETCH".into(), "1".into());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_relative_claims_become_numeric_dates_and_others_stay() {
        let claims = json!({"exp": "now+30", "nbf": "now-600", "iat": "now", "sub": "nowhere", "aud": "x", "n": 5}).as_object().cloned().unwrap();
        let out = relative_times(claims, 1_000_000);
        assert_eq!(Value::Object(out), json!({"exp": 1_000_030, "nbf": 999_400, "iat": 1_000_000, "sub": "nowhere", "aud": "x", "n": 5}));
    }
}
