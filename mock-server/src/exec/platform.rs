//! The platforms a workload can run "on" under `cloudid exec`: what each one's environment holds
//! (exactly the variables the real platform sets, nothing of cloudid's), which metadata
//! addresses answer there, and which of the world's endpoints exist on it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use std::path::Path;

use super::{ExecError, setup};
use crate::world::WorldModel;
use crate::world::kubernetes::{AUDIENCE_ANNOTATION, ClusterKind, ClusterModel, EXPIRATION_ANNOTATION, POD_IDENTITY_AUDIENCE, ROLE_ARN_ANNOTATION, ServiceAccount, WorkloadRef};
use crate::world::model::ContainerAgent;
use crate::world::projected::Projection;

/// A platform preset (`--as`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[non_exhaustive]
pub enum Platform {
    /// An EC2 instance: IMDS at 169.254.169.254 and fd00:ec2::254; no variables.
    Ec2,
    /// An ECS (Fargate) task: the ECS agent at 169.254.170.2, `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`,
    /// the task metadata v4 endpoint and the region variables.
    Ecs,
    /// An EKS pod with Pod Identity: the agent at 169.254.170.23 and fd00:ec2::23,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` and `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (the
    /// pod's projected token, kept fresh as the kubelet does).
    EksPodIdentity,
    /// An EKS pod with IAM roles for service accounts: `AWS_ROLE_ARN`,
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` (the projected token, kept fresh), `AWS_STS_REGIONAL_ENDPOINTS`
    /// and the region variables, as the pod identity webhook injects them.
    EksIrsa,
    /// A GKE pod with Workload Identity: the GKE metadata server at 169.254.169.254 and
    /// `metadata.google.internal`, answering for the pod's Kubernetes service account.
    Gke,
    /// A Compute Engine VM: the metadata server at 169.254.169.254 and `metadata.google.internal`; no variables.
    Gce,
    /// A Cloud Run service: the metadata server, `K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`, `PORT`.
    CloudRun,
    /// A Cloud Run job: the metadata server and the `CLOUD_RUN_JOB`/`CLOUD_RUN_EXECUTION`/`CLOUD_RUN_TASK_*` variables.
    CloudRunJob,
    /// A GitHub Actions job: `ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN` and the `GITHUB_*` context of the world's job.
    GithubActions,
    /// An Azure VM: the Azure IMDS at 169.254.169.254 answering for `azure.vm`'s managed
    /// identities; no variables.
    AzureVm,
    /// An App Service (or Functions, Container Apps) app: `IDENTITY_ENDPOINT` at
    /// `http://127.0.0.1:42356/msi/token`, `IDENTITY_HEADER`, and `WEBSITE_*`, for `azure.app_service`.
    AppService,
    /// An AKS pod with workload identity: `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`,
    /// `AZURE_FEDERATED_TOKEN_FILE` (the pod's projected token for `api://AzureADTokenExchange`,
    /// kept fresh) and `AZURE_AUTHORITY_HOST`, as the workload identity webhook injects them.
    Aks,
}

/// Where the App Service identity endpoint listens inside the namespace.
pub(crate) const APP_SERVICE_PORT: u16 = 42356;
use crate::world::azure::{AKS_CLIENT_ID_ANNOTATION, AKS_EXPIRATION_ANNOTATION, AKS_TENANT_ID_ANNOTATION};

/// The address of EC2's IMDS and of Google's metadata server.
pub(crate) const METADATA_V4: &str = "169.254.169.254";
/// IMDS's IPv6 address (Nitro instances; `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`).
pub(crate) const IMDS_V6: &str = "fd00:ec2::254";
/// The ECS agent's address.
pub(crate) const ECS_AGENT: &str = "169.254.170.2";
/// The EKS Pod Identity agent's IPv4 address.
pub(crate) const POD_IDENTITY_V4: &str = "169.254.170.23";
/// The EKS Pod Identity agent's IPv6 address.
pub(crate) const POD_IDENTITY_V6: &str = "fd00:ec2::23";
/// Where the emulated API host names (STS, Google's APIs, GitHub's issuer) point inside.
pub(crate) const API_ADDRESS: &str = "127.100.0.1";
pub(crate) use crate::cloud_hosts::ACTIONS_HOST;

impl Platform {
    /// The name `--as` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ec2 => "ec2",
            Self::Ecs => "ecs",
            Self::EksPodIdentity => "eks-pod-identity",
            Self::EksIrsa => "eks-irsa",
            Self::Gke => "gke",
            Self::Gce => "gce",
            Self::CloudRun => "cloud-run",
            Self::CloudRunJob => "cloud-run-job",
            Self::GithubActions => "github-actions",
            Self::AzureVm => "azure-vm",
            Self::AppService => "app-service",
            Self::Aks => "aks",
        }
    }

    /// The platform a world describes when `--as` is not given: its EC2 instance, else its ECS
    /// task, else its Pod Identity agent, else its Google VM, else a GitHub Actions job.
    pub fn of_world(world: &WorldModel) -> Self {
        let agent = |a: ContainerAgent| world.aws.containers.iter().any(|c| c.agent == a);
        if world.aws.ec2.is_some() {
            Self::Ec2
        } else if agent(ContainerAgent::Ecs) {
            Self::Ecs
        } else if agent(ContainerAgent::PodIdentity) || world.kubernetes.first_association().is_some() {
            Self::EksPodIdentity
        } else if world.gcp.default_account().is_some() {
            Self::Gce
        } else if world.azure.vm.is_some() {
            Self::AzureVm
        } else {
            Self::GithubActions
        }
    }

    /// Whether the platform is Google's (its metadata server at `metadata.google.internal`).
    pub(crate) fn is_google(self) -> bool {
        matches!(self, Self::Gce | Self::CloudRun | Self::CloudRunJob | Self::Gke)
    }

    /// The cluster kind this platform's pods run on, if it is a Kubernetes one.
    fn cluster_kind(self) -> Option<ClusterKind> {
        match self {
            Self::EksIrsa | Self::EksPodIdentity => Some(ClusterKind::Eks),
            Self::Gke => Some(ClusterKind::Gke),
            Self::Aks => Some(ClusterKind::Generic),
            _ => None,
        }
    }

    /// Whether `sa` of `cluster` can be this platform's workload: on the right kind of cluster,
    /// with what the platform needs (an IRSA role annotation, a Pod Identity association).
    fn fits(self, cluster: &ClusterModel, sa: &ServiceAccount) -> bool {
        Some(cluster.kind) == self.cluster_kind()
            && match self {
                Self::EksIrsa => sa.annotations.contains_key(ROLE_ARN_ANNOTATION),
                Self::EksPodIdentity => cluster.association(&sa.namespace, &sa.name).is_some(),
                Self::Aks => sa.annotations.contains_key(AKS_CLIENT_ID_ANNOTATION),
                _ => true,
            }
    }

    /// The world with its workload chosen for this platform: the service account `requested`
    /// (`NAMESPACE/NAME`, searched in every cluster of the platform's kind) or the first that
    /// fits; for other platforms, none. A requested account that does not fit is an error.
    pub fn select_workload(self, mut world: WorldModel, requested: Option<&str>) -> Result<WorldModel, String> {
        let Some(kind) = self.cluster_kind() else {
            world.kubernetes.workload = None;
            return match requested {
                Some(_) => Err(format!("--service-account is for the Kubernetes platforms (eks-irsa, eks-pod-identity, gke), not {self}")),
                None => Ok(world),
            };
        };
        if self == Self::EksPodIdentity && requested.is_none() && world.aws.containers.iter().any(|c| c.agent == ContainerAgent::PodIdentity) {
            return Ok(world);
        }
        let wanted = match requested {
            Some(r) => Some(r.split_once('/').ok_or_else(|| format!("--service-account `{r}` is not NAMESPACE/NAME"))?),
            None => None,
        };
        let found = world
            .kubernetes
            .clusters
            .iter()
            .filter(|c| c.kind == kind)
            .find_map(|c| c.service_accounts.iter().find(|sa| wanted.is_none_or(|(ns, n)| sa.namespace == ns && sa.name == n) && (wanted.is_some() || self.fits(c, sa))).map(|sa| (c, sa)));
        let Some((cluster, sa)) = found else {
            return Err(match wanted {
                Some((ns, n)) => format!("no service account {ns}/{n} in the world's {kind:?} clusters"),
                None => self.missing(&world).unwrap_or_else(|| "the world has no workload for it".into()),
            });
        };
        // An explicitly named account need not fit: it is still a pod — one the IRSA webhook
        // left alone (no AWS_ROLE_ARN; give it with --env), or one whose Pod Identity association
        // was deleted after it started (the agent then answers 404).
        world.kubernetes.workload = Some(WorkloadRef { cluster: cluster.name.clone(), namespace: sa.namespace.clone(), service_account: sa.name.clone() });
        Ok(world)
    }

    /// The projected token the workload's pod has mounted, if the platform mounts one.
    pub fn projection(self, world: &WorldModel) -> Option<Projection> {
        let (cluster, sa) = world.kubernetes.workload()?;
        let (audience, expiration) = match self {
            Self::EksIrsa => (
                sa.annotations.get(AUDIENCE_ANNOTATION).cloned().unwrap_or_else(|| "sts.amazonaws.com".into()),
                sa.annotations.get(EXPIRATION_ANNOTATION).and_then(|e| e.parse().ok()).unwrap_or(86_400),
            ),
            Self::EksPodIdentity => (POD_IDENTITY_AUDIENCE.to_string(), 86_400),
            Self::Aks => (crate::world::azure::FIC_AUDIENCE.to_string(), sa.annotations.get(AKS_EXPIRATION_ANNOTATION).and_then(|e| e.parse().ok()).unwrap_or(3600)),
            _ => return None,
        };
        Some(Projection { cluster: cluster.name.clone(), namespace: sa.namespace.clone(), service_account: sa.name.clone(), audience, expiration_seconds: expiration })
    }

    /// Why the world cannot host this platform, if it cannot.
    pub fn missing(self, world: &WorldModel) -> Option<String> {
        let agent = |a: ContainerAgent| world.aws.containers.iter().any(|c| c.agent == a);
        match self {
            Self::Ec2 if world.aws.ec2.is_none() => Some("the world has no EC2 instance (`aws.ec2`)".into()),
            Self::Ecs if !agent(ContainerAgent::Ecs) => Some("the world has no ECS task (an `aws.containers` entry with `agent: ecs`)".into()),
            Self::EksPodIdentity if !agent(ContainerAgent::PodIdentity) && world.kubernetes.first_association().is_none() => {
                Some("the world has no Pod Identity association (in an EKS cluster's `pod_identity_associations`, or an `aws.containers` entry with `agent: pod_identity`)".into())
            }
            Self::EksIrsa | Self::Gke if !world.kubernetes.clusters.iter().any(|c| c.service_accounts.iter().any(|sa| self.fits(c, sa))) => Some(match self {
                Self::EksIrsa => format!("the world has no EKS service account with the {ROLE_ARN_ANNOTATION} annotation (`kubernetes.clusters`)"),
                _ => "the world has no GKE cluster with a service account (`kubernetes.clusters` with `kind: gke`)".into(),
            }),
            p if p.is_google() && world.gcp.default_account().is_none() => Some("the world has no attached service account (`default: true` in `gcp.service_accounts`)".into()),
            Self::AzureVm if world.azure.vm.is_none() => Some("the world has no Azure VM (`azure.vm`)".into()),
            Self::AppService if world.azure.app_service.is_none() => Some("the world has no App Service app (`azure.app_service`)".into()),
            Self::Aks if !world.kubernetes.clusters.iter().any(|c| c.service_accounts.iter().any(|sa| self.fits(c, sa))) => {
                Some(format!("the world has no cluster service account with the {AKS_CLIENT_ID_ANNOTATION} annotation (`kubernetes.clusters`)"))
            }
            _ => None,
        }
    }

    /// The world as this platform sees it: only its own metadata endpoints exist (a task has no
    /// IMDS, an EC2 instance no ECS agent, an AWS workload no Google metadata server).
    pub fn shape(self, mut world: WorldModel) -> WorldModel {
        if self != Self::Ec2 {
            world.aws.ec2 = None;
        }
        let keep = match self {
            Self::Ecs => Some(ContainerAgent::Ecs),
            Self::EksPodIdentity => Some(ContainerAgent::PodIdentity),
            _ => None,
        };
        world.aws.containers.retain(|c| Some(c.agent) == keep);
        world.aws.containers.truncate(1);
        if !self.is_google() {
            for sa in &mut world.gcp.service_accounts {
                sa.default = false;
            }
        }
        if self != Self::AzureVm {
            world.azure.vm = None;
        }
        if self != Self::AppService {
            world.azure.app_service = None;
        }
        if matches!(self, Self::CloudRun | Self::CloudRunJob) && world.gcp.instance.region.is_none() {
            world.gcp.instance.region = world.gcp.zone.rsplit_once('-').map(|(r, _)| r.to_string());
        }
        world
    }

    /// The metadata addresses that answer on this platform (port 80, plain HTTP).
    pub fn metadata_addresses(self) -> Vec<IpAddr> {
        let list: &[&str] = match self {
            Self::Ec2 => &[METADATA_V4, IMDS_V6],
            Self::Ecs => &[ECS_AGENT],
            Self::EksPodIdentity => &[POD_IDENTITY_V4, POD_IDENTITY_V6],
            Self::Gce | Self::CloudRun | Self::CloudRunJob | Self::Gke | Self::AzureVm => &[METADATA_V4],
            Self::GithubActions | Self::EksIrsa | Self::AppService | Self::Aks => &[],
        };
        list.iter().filter_map(|a| a.parse().ok()).collect()
    }

    /// The variables the platform sets. `token_file` is where the Pod Identity token was written.
    pub fn env(self, world: &WorldModel, token_file: &std::path::Path) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        let region = &world.aws.region;
        match self {
            Self::Ec2 | Self::Gce | Self::Gke | Self::AzureVm => {}
            Self::AppService => {
                if let Some(app) = &world.azure.app_service {
                    set("IDENTITY_ENDPOINT", format!("http://127.0.0.1:{APP_SERVICE_PORT}{}", crate::services::app_service_identity::PATH));
                    set("IDENTITY_HEADER", crate::world::azure::AzureModel::identity_header(world.seed));
                    set("WEBSITE_SITE_NAME", app.name.clone());
                    set("WEBSITE_RESOURCE_GROUP", app.resource_group.clone());
                    set("WEBSITE_HOSTNAME", format!("{}.azurewebsites.net", app.name));
                    set("WEBSITE_INSTANCE_ID", crate::world::azure::guid(&format!("instance:{}", app.name)).replace('-', ""));
                }
            }
            Self::Aks => {
                if let Some((_, sa)) = world.kubernetes.workload() {
                    if let Some(id) = sa.annotations.get(AKS_CLIENT_ID_ANNOTATION) {
                        set("AZURE_CLIENT_ID", id.clone());
                    }
                    let tenant = sa.annotations.get(AKS_TENANT_ID_ANNOTATION).cloned().or_else(|| world.azure.home_tenant().map(|t| t.tenant_id()));
                    if let Some(t) = tenant {
                        set("AZURE_TENANT_ID", t);
                    }
                }
                set("AZURE_FEDERATED_TOKEN_FILE", token_file.display().to_string());
                set("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/".into());
            }
            Self::EksIrsa => {
                if let Some(arn) = world.kubernetes.workload().and_then(|(_, sa)| sa.annotations.get(ROLE_ARN_ANNOTATION)) {
                    set("AWS_ROLE_ARN", arn.clone());
                }
                set("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.display().to_string());
                set("AWS_STS_REGIONAL_ENDPOINTS", "regional".into());
                set("AWS_REGION", region.clone());
                set("AWS_DEFAULT_REGION", region.clone());
            }
            Self::Ecs => {
                if let Some(c) = world.aws.containers.first() {
                    set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", c.path.clone());
                    let v4 = format!("http://{ECS_AGENT}{}", crate::services::aws_task_metadata::container_path(world).unwrap_or_default());
                    set("ECS_CONTAINER_METADATA_URI", v4.replacen("/v4/", "/v3/", 1));
                    set("ECS_CONTAINER_METADATA_URI_V4", v4);
                }
                set("AWS_EXECUTION_ENV", "AWS_ECS_FARGATE".into());
                set("AWS_REGION", region.clone());
                set("AWS_DEFAULT_REGION", region.clone());
            }
            Self::EksPodIdentity => {
                set("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("http://{POD_IDENTITY_V4}/v1/credentials"));
                set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file.display().to_string());
                set("AWS_STS_REGIONAL_ENDPOINTS", "regional".into());
                set("AWS_REGION", region.clone());
                set("AWS_DEFAULT_REGION", region.clone());
            }
            Self::CloudRun => {
                let service = cloud_run_name(world);
                set("K_SERVICE", service.clone());
                set("K_REVISION", format!("{service}-00001-abc"));
                set("K_CONFIGURATION", service);
                set("PORT", "8080".into());
            }
            Self::CloudRunJob => {
                let job = cloud_run_name(world);
                set("CLOUD_RUN_JOB", job.clone());
                set("CLOUD_RUN_EXECUTION", format!("{job}-x7k2p"));
                set("CLOUD_RUN_TASK_INDEX", "0".into());
                set("CLOUD_RUN_TASK_ATTEMPT", "0".into());
                set("CLOUD_RUN_TASK_COUNT", "1".into());
            }
            Self::GithubActions => {
                let g = &world.github;
                set("ACTIONS_ID_TOKEN_REQUEST_URL", format!("https://{ACTIONS_HOST}/{}?api-version=2.0", crate::services::github_oidc::RUNTIME_PATH.trim_start_matches('/')));
                set("ACTIONS_ID_TOKEN_REQUEST_TOKEN", g.request_token.expose().to_string());
                set("CI", "true".into());
                set("GITHUB_ACTIONS", "true".into());
                set("GITHUB_REPOSITORY", g.repository.clone());
                set("GITHUB_REPOSITORY_ID", g.repository_id.clone());
                set("GITHUB_REPOSITORY_OWNER", g.repository.split('/').next().unwrap_or("").to_string());
                set("GITHUB_REPOSITORY_OWNER_ID", g.repository_owner_id.clone());
                set("GITHUB_REF", g.git_ref.clone());
                set("GITHUB_REF_NAME", g.git_ref.rsplit('/').next().unwrap_or("").to_string());
                set("GITHUB_REF_TYPE", if g.git_ref.starts_with("refs/tags/") { "tag" } else { "branch" }.into());
                set("GITHUB_SHA", g.sha.clone());
                set("GITHUB_WORKFLOW", g.workflow.clone());
                set("GITHUB_WORKFLOW_REF", format!("{}/{}@{}", g.repository, g.workflow_path, g.git_ref));
                set("GITHUB_EVENT_NAME", g.event_name.clone());
                set("GITHUB_ACTOR", g.actor.clone());
                set("GITHUB_ACTOR_ID", g.actor_id.clone());
                set("GITHUB_RUN_ID", g.run_id.clone());
                set("GITHUB_RUN_NUMBER", g.run_number.clone());
                set("GITHUB_RUN_ATTEMPT", g.run_attempt.clone());
                set("GITHUB_SERVER_URL", "https://github.com".into());
                set("GITHUB_API_URL", "https://api.github.com".into());
                set("RUNNER_OS", "Linux".into());
                set("RUNNER_ARCH", "X64".into());
                set("RUNNER_ENVIRONMENT", g.runner_environment.clone());
            }
        }
        env
    }
}

/// A Cloud Run service or job name for the world: its attached account's name.
fn cloud_run_name(world: &WorldModel) -> String {
    world.gcp.default_account().and_then(|sa| sa.email.split('@').next()).unwrap_or("service").to_string()
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The files a GitHub Actions step is given (`GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`,
/// `GITHUB_PATH`, the event payload) and the runner's directories, in the run's scratch directory.
pub(crate) fn github_files(scratch: &Path, world: &WorldModel) -> Result<Vec<(String, String)>, ExecError> {
    let runner = scratch.join("runner");
    let temp = runner.join("temp");
    std::fs::create_dir_all(&temp).map_err(setup("creating the runner's directories"))?;
    let mut vars = Vec::new();
    for (var, name) in [("GITHUB_ENV", "env"), ("GITHUB_OUTPUT", "output"), ("GITHUB_STEP_SUMMARY", "step_summary"), ("GITHUB_PATH", "path")] {
        let file = runner.join(name);
        std::fs::write(&file, "").map_err(setup(format!("creating {}", file.display())))?;
        vars.push((var.to_string(), file.display().to_string()));
    }
    let g = &world.github;
    let event = serde_json::json!({"ref": g.git_ref, "after": g.sha, "repository": {"full_name": g.repository, "id": g.repository_id.parse::<u64>().unwrap_or(0)}, "sender": {"login": g.actor}});
    let event_path = runner.join("event.json");
    std::fs::write(&event_path, event.to_string()).map_err(setup("writing the event payload"))?;
    vars.push(("GITHUB_EVENT_PATH".into(), event_path.display().to_string()));
    vars.push(("RUNNER_TEMP".into(), temp.display().to_string()));
    vars.push(("GITHUB_JOB".into(), "build".into()));
    if let Ok(cwd) = std::env::current_dir() {
        vars.push(("GITHUB_WORKSPACE".into(), cwd.display().to_string()));
    }
    Ok(vars)
}
