//! The world file's typed model: what exists (accounts, roles, instances, containers) and how the
//! emulated services behave. Every struct denies unknown fields, so a typo is an error, not a
//! silently ignored setting.

use serde::Deserialize;

use crate::secret::Secret;

/// The whole world, as loaded from YAML (or the built-in default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldModel {
    /// Seed for every generated id and secret, so runs are reproducible.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Where the server's clock starts.
    #[serde(default)]
    pub clock: ClockModel,
    /// How many journal entries the server keeps (oldest are dropped first and counted).
    #[serde(default = "default_journal_capacity")]
    pub journal_capacity: usize,
    /// The AWS side of the world.
    pub aws: AwsModel,
}

fn default_seed() -> u64 {
    0x00c1_0d1d
}

fn default_journal_capacity() -> usize {
    10_000
}

/// Where the server's clock starts and whether it runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockModel {
    /// Start instant (RFC 3339). Absent: the system time.
    #[serde(default)]
    pub start: Option<String>,
    /// Whether the clock stands still until moved through the control plane.
    #[serde(default)]
    pub frozen: bool,
}

/// One AWS account with its IAM roles and the compute that holds them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsModel {
    /// Twelve-digit account id.
    pub account_id: String,
    /// The region clients are told to use (`AWS_REGION`), e.g. `ap-northeast-1`.
    pub region: String,
    /// IAM roles of the account.
    #[serde(default)]
    pub roles: Vec<RoleModel>,
    /// The EC2 instance whose metadata service is emulated.
    #[serde(default)]
    pub ec2: Option<Ec2Model>,
    /// Container credential endpoints (ECS/Fargate/App Runner tasks, EKS Pod Identity).
    #[serde(default)]
    pub containers: Vec<ContainerModel>,
}

/// An IAM role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleModel {
    /// Role name (no path).
    pub name: String,
    /// IAM path, `/` by default.
    #[serde(default = "default_role_path")]
    pub path: String,
    /// Longest session STS may grant, in seconds (3600 … 43200).
    #[serde(default = "default_max_session")]
    pub max_session_duration: u32,
    /// The trust policy document, as IAM JSON (written as YAML or JSON).
    #[serde(default)]
    pub trust_policy: Option<serde_json::Value>,
}

fn default_role_path() -> String {
    "/".into()
}

fn default_max_session() -> u32 {
    3600
}

/// IMDSv2 token requirement, as the instance's `HttpTokens` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HttpTokens {
    /// Token-less (IMDSv1) requests are refused with 401.
    #[default]
    Required,
    /// IMDSv1 requests are served too.
    Optional,
}

/// Whether the metadata endpoint answers at all (`HttpEndpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HttpEndpoint {
    /// The endpoint answers.
    #[default]
    Enabled,
    /// Every request gets 403.
    Disabled,
}

/// The EC2 instance behind the emulated IMDS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Model {
    /// Instance id, `i-` and 8 or 17 hex digits.
    pub instance_id: String,
    /// Instance type, e.g. `t3.micro`.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// AMI id.
    #[serde(default = "default_ami")]
    pub ami_id: String,
    /// Availability zone; its region must be the account's region.
    pub availability_zone: String,
    /// Private IPv4 address.
    #[serde(default = "default_private_ip")]
    pub private_ip: String,
    /// `required` (IMDSv2 only) or `optional` (v1 allowed).
    #[serde(default)]
    pub http_tokens: HttpTokens,
    /// `enabled` or `disabled`.
    #[serde(default)]
    pub http_endpoint: HttpEndpoint,
    /// Whether `iam/security-credentials-extended/` is served (else 404, to test SDK fallback).
    #[serde(default = "yes")]
    pub extended_credentials_api: bool,
    /// The instance profile; absent means the instance has no role.
    #[serde(default)]
    pub instance_profile: Option<InstanceProfileModel>,
    /// How long served credentials live and when they rotate.
    #[serde(default)]
    pub credentials: CredentialPolicy,
}

fn default_instance_type() -> String {
    "t3.micro".into()
}

fn default_ami() -> String {
    "ami-0abcdef1234567890".into()
}

fn default_private_ip() -> String {
    "10.0.1.23".into()
}

fn yes() -> bool {
    true
}

/// An instance profile and the role it carries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceProfileModel {
    /// Profile name; the role's name by default.
    #[serde(default)]
    pub name: Option<String>,
    /// Name of a role in `aws.roles`.
    pub role: String,
}

/// Lifetime and rotation of credentials handed out by a metadata endpoint.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialPolicy {
    /// Lifetime of each credential set, in seconds (real EC2: about 6 hours).
    #[serde(default = "default_lifetime")]
    pub lifetime_seconds: u32,
    /// A new set is issued once the current one has less than this left (real IMDS rotates well
    /// before expiry; keep it above 25 minutes or botocore extends expiries on its own).
    #[serde(default = "default_refresh_before")]
    pub refresh_before_seconds: u32,
}

impl Default for CredentialPolicy {
    fn default() -> Self {
        Self {
            lifetime_seconds: default_lifetime(),
            refresh_before_seconds: default_refresh_before(),
        }
    }
}

fn default_lifetime() -> u32 {
    6 * 3600
}

fn default_refresh_before() -> u32 {
    3600
}

/// How a container credential endpoint behaves: as the ECS agent or as the EKS Pod Identity agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContainerAgent {
    /// ECS / Fargate / App Runner task metadata (`/v2/credentials/<id>`).
    #[default]
    Ecs,
    /// EKS Pod Identity agent (`/v1/credentials`, token always required).
    PodIdentity,
}

/// One container credential endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerModel {
    /// Which agent's behaviour to emulate.
    #[serde(default)]
    pub agent: ContainerAgent,
    /// Path served, e.g. `/v2/credentials/<uuid>` (ECS) or `/v1/credentials` (Pod Identity).
    pub path: String,
    /// Name of a role in `aws.roles`.
    pub role: String,
    /// Session name of the issued credentials (ECS: the task id).
    pub session_name: String,
    /// Value the `Authorization` header must carry, raw (no `Bearer`). Required for Pod Identity.
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// How long served credentials live and when they rotate.
    #[serde(default)]
    pub credentials: CredentialPolicy,
}
