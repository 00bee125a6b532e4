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
    /// How many issued AWS credentials the server remembers for signature checks (expired
    /// ones are forgotten first, then the oldest).
    #[serde(default = "default_credential_capacity")]
    pub credential_capacity: usize,
    /// The AWS side of the world.
    pub aws: AwsModel,
    /// Extra token issuers, or settings for the built-in `github` and `google` ones.
    #[serde(default)]
    pub issuers: Vec<IssuerModel>,
    /// The GitHub Actions job whose OIDC tokens the server mints.
    #[serde(default)]
    pub github: GithubModel,
    /// The Google Cloud side of the world.
    #[serde(default)]
    pub gcp: GcpModel,
    /// Whether a granted request's checks carry their explanation too (a trust policy's trace,
    /// Google's mapping and binding); refusals always do.
    #[serde(default)]
    pub explain_grants: bool,
    /// Kubernetes clusters: their service-account token issuers, service accounts, pods and EKS
    /// Pod Identity associations.
    #[serde(default)]
    pub kubernetes: super::kubernetes::KubernetesModel,
    /// Azure: Entra ID tenants, managed identities, and the VM and App Service app whose identity
    /// endpoints answer.
    #[serde(default)]
    pub azure: super::azure::AzureModel,
    /// Services cloudid does not emulate, forwarded to a server of the user's (DynamoDB Local,
    /// a BigQuery emulator, moto) once the request's credentials are verified.
    #[serde(default)]
    pub upstreams: Vec<UpstreamModel>,
}

/// A non-emulated cloud host whose verified requests go to a server of the user's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamModel {
    /// The real host name, e.g. `dynamodb.ap-northeast-1.amazonaws.com` or `bigquery.googleapis.com`.
    pub host: String,
    /// Where to forward: `http://HOST:PORT` (plain HTTP, a path prefix allowed), e.g.
    /// `http://127.0.0.1:8000` for DynamoDB Local.
    pub url: String,
}

impl WorldModel {
    /// The upstream named for `host` (lower case, no port), if any.
    pub fn upstream(&self, host: &str) -> Option<&UpstreamModel> {
        self.upstreams.iter().find(|u| u.host.eq_ignore_ascii_case(host))
    }
}

/// A token issuer: a built-in one (`github`, `google`) to adjust, or an extra one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerModel {
    /// `github`, `google`, or a new name.
    pub name: String,
    /// The `iss` URL (required for extra issuers).
    #[serde(default)]
    pub iss: Option<String>,
    /// A bundled fixture key to sign with (`extra-issuer-1`), for extra issuers that mint.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// Public keys (a JWKS `keys` array) for verify-only issuers.
    #[serde(default)]
    pub jwks: Vec<crate::verify::jwt::Jwk>,
    /// Verifiers cannot reach this issuer's keys (STS answers `IDPCommunicationError`).
    #[serde(default)]
    pub unreachable: bool,
    /// Publish this many decoy keys (syntactically valid RSA keys nothing signs with) before the
    /// real ones, for testing verifiers against large key sets (at most 1000).
    #[serde(default)]
    pub decoy_keys: usize,
    /// Publish, before the real key, a decoy with the real key's `kid` (RFC 7517 asks for unique
    /// kids; verifiers that take the first match then fail).
    #[serde(default)]
    pub duplicate_kid: bool,
}

/// The GitHub Actions job context minted into tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GithubModel {
    /// `owner/repo`.
    pub repository: String,
    /// Numeric repository id (a string, as in real tokens).
    pub repository_id: String,
    /// Numeric owner id.
    pub repository_owner_id: String,
    /// `public`, `private` or `internal`.
    pub repository_visibility: String,
    /// Git ref, e.g. `refs/heads/main`.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// Commit SHA.
    pub sha: String,
    /// Workflow name.
    pub workflow: String,
    /// Workflow file path within the repository.
    pub workflow_path: String,
    /// Triggering event.
    pub event_name: String,
    /// Deployment environment, if the job has one.
    pub environment: Option<String>,
    /// Who triggered the run.
    pub actor: String,
    /// Actor's numeric id.
    pub actor_id: String,
    /// Run id.
    pub run_id: String,
    /// Run number.
    pub run_number: String,
    /// Run attempt.
    pub run_attempt: String,
    /// `github-hosted` or `self-hosted`.
    pub runner_environment: String,
    /// Custom `sub` claim keys (`include_claim_keys`), empty for the default format.
    pub sub_claim_keys: Vec<String>,
    /// The bearer token the Actions runtime hands the job (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub request_token: crate::secret::Secret,
}

impl Default for GithubModel {
    fn default() -> Self {
        Self {
            repository: "acme/ecs-express-mode-api".into(),
            repository_id: "812345678".into(),
            repository_owner_id: "98765432".into(),
            repository_visibility: "private".into(),
            git_ref: "refs/heads/main".into(),
            sha: "e4d1c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6".into(),
            workflow: "Build and Push to ECR".into(),
            workflow_path: ".github/workflows/deploy.yml".into(),
            event_name: "push".into(),
            environment: None,
            actor: "octocat".into(),
            actor_id: "583231".into(),
            run_id: "10685993555".into(),
            run_number: "154".into(),
            run_attempt: "1".into(),
            runner_environment: "github-hosted".into(),
            sub_claim_keys: Vec::new(),
            request_token: crate::secret::Secret::new("cloudid-actions-runtime-token"),
        }
    }
}

/// The Google Cloud project and its service accounts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpModel {
    /// Project id.
    pub project_id: String,
    /// Project number (digits).
    pub project_number: String,
    /// Zone of the emulated instance / Cloud Run region's zone.
    pub zone: String,
    /// Service accounts; the one with `default: true` is the metadata server's.
    pub service_accounts: Vec<ServiceAccountModel>,
    /// The instance (or Cloud Run instance) the metadata server describes.
    pub instance: GcpInstanceModel,
    /// Workload identity pools.
    pub workload_identity_pools: Vec<PoolModel>,
}

/// The Compute Engine / Cloud Run instance behind the emulated metadata server.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpInstanceModel {
    /// Instance name.
    pub name: String,
    /// Numeric instance id (digits).
    pub id: String,
    /// Cloud Run only: the region the metadata server names at `instance/region`
    /// (`projects/N/regions/R`); Compute Engine has none.
    pub region: Option<String>,
}

impl Default for GcpInstanceModel {
    fn default() -> Self {
        Self { name: "cloudid-instance".into(), id: "4471960353289327654".into(), region: None }
    }
}

/// Issuers shared by every organization on them: Google requires an attribute condition on a
/// provider for them (since 2024: "The attribute condition must reference one of the provider's
/// claims"), or any repository anywhere could federate into the pool.
pub const SHARED_ISSUERS: &[&str] = &["https://token.actions.githubusercontent.com", "https://gitlab.com", "https://app.terraform.io"];

/// The AWS provider mapping Google applies when a provider sets none.
pub const DEFAULT_AWS_MAPPING: &[(&str, &str)] = &[
    ("google.subject", "assertion.arn"),
    (
        "attribute.aws_role",
        "assertion.arn.contains('assumed-role') ? assertion.arn.extract('{account_arn}assumed-role/') + 'assumed-role/' + assertion.arn.extract('assumed-role/{role_name}/') : assertion.arn",
    ),
];

impl GcpModel {
    /// The pool and provider named by `projects/N/locations/global/workloadIdentityPools/P/providers/X`.
    pub fn provider(&self, pool: &str, provider: &str) -> Option<(&PoolModel, &ProviderModel)> {
        let p = self.workload_identity_pools.iter().find(|p| p.name == pool)?;
        Some((p, p.providers.iter().find(|x| x.name == provider)?))
    }

    /// The metadata server's default service account, if the world has one.
    pub fn default_account(&self) -> Option<&ServiceAccountModel> {
        self.service_accounts.iter().find(|s| s.default)
    }

    /// The service account with this email or unique id.
    pub fn account(&self, email_or_id: &str) -> Option<&ServiceAccountModel> {
        self.service_accounts.iter().find(|s| s.email == email_or_id || s.unique_id == email_or_id)
    }
}

/// A Google service account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountModel {
    /// `name@project.iam.gserviceaccount.com`.
    pub email: String,
    /// 21-digit unique id.
    pub unique_id: String,
    /// Whether this is the metadata server's default account.
    #[serde(default)]
    pub default: bool,
    /// OAuth scopes the metadata server grants it (the instance's scopes).
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The service account's IAM policy: who may act as it.
    #[serde(default)]
    pub bindings: Vec<BindingModel>,
    /// The IAM policy as `gcloud iam service-accounts get-iam-policy --format=json` prints it,
    /// relative to the world file; its bindings are added to `bindings` at load.
    #[serde(default)]
    pub iam_policy_file: Option<String>,
}

/// One IAM policy binding: a role and its members.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingModel {
    /// `roles/iam.workloadIdentityUser` or `roles/iam.serviceAccountTokenCreator`.
    pub role: String,
    /// `principal://…`, `principalSet://…`, `serviceAccount:…`, `user:…`.
    pub members: Vec<String>,
}

/// A workload identity pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolModel {
    /// Pool id.
    pub name: String,
    /// A disabled pool accepts no exchange.
    #[serde(default)]
    pub disabled: bool,
    /// Its providers.
    pub providers: Vec<ProviderModel>,
}

/// A workload identity pool provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderModel {
    /// Provider id.
    pub name: String,
    /// A disabled provider accepts no exchange.
    #[serde(default)]
    pub disabled: bool,
    /// An AWS provider.
    #[serde(default)]
    pub aws: Option<AwsProviderModel>,
    /// An OIDC provider.
    #[serde(default)]
    pub oidc: Option<OidcProviderConfig>,
    /// `google.subject`, `attribute.*` → CEL over `assertion` (AWS default when empty): a map,
    /// or gcloud's `--attribute-mapping` flag form (`google.subject=assertion.sub,attribute.x=…`,
    /// with gcloud's `^DELIM^` prefix to split on another character).
    #[serde(default, deserialize_with = "attribute_mapping")]
    pub attribute_mapping: std::collections::BTreeMap<String, String>,
    /// CEL condition over `assertion`, `google`, `attribute`.
    #[serde(default)]
    pub attribute_condition: Option<String>,
}

/// The AWS side of an AWS provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsProviderModel {
    /// The AWS account whose identities the provider accepts.
    pub account_id: String,
}

/// The OIDC side of an OIDC provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// The issuer URI (`iss` of accepted tokens).
    pub issuer_uri: String,
    /// Accepted `aud` values; empty means the provider's own resource name.
    #[serde(default)]
    pub allowed_audiences: Vec<String>,
}

fn default_scopes() -> Vec<String> {
    vec!["https://www.googleapis.com/auth/cloud-platform".into()]
}

fn default_seed() -> u64 {
    0x00c1_0d1d
}

fn default_credential_capacity() -> usize {
    crate::world::credentials::DEFAULT_CAPACITY
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
    /// IAM OIDC identity providers of the account.
    #[serde(default)]
    pub oidc_providers: Vec<OidcProviderModel>,
    /// Further AWS accounts, with their own roles and OIDC providers: the targets of
    /// cross-account `AssumeRole` (and of `AssumeRoleWithWebIdentity` into their roles). The
    /// instance and the containers belong to the account above.
    #[serde(default)]
    pub accounts: Vec<AwsAccountModel>,
    /// Whether outbound identity federation is enabled (`aws iam
    /// enable-outbound-web-identity-federation`): sessions of the account may call
    /// `sts:GetWebIdentityToken`, and the account's issuer publishes its keys.
    #[serde(default)]
    pub outbound_identity_federation: bool,
    /// The public address STS sees callers at, `aws:SourceIp` in trust policies (a workload on
    /// one machine has no public address of its own). A documentation address by default.
    #[serde(default = "default_source_ip")]
    pub source_ip: String,
}

fn default_source_ip() -> String {
    "198.51.100.23".into()
}

/// A further AWS account (`aws.accounts[]`): its IAM roles and OIDC identity providers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsAccountModel {
    /// Twelve-digit account id, different from every other account's.
    pub account_id: String,
    /// IAM roles of the account.
    #[serde(default)]
    pub roles: Vec<RoleModel>,
    /// IAM OIDC identity providers of the account.
    #[serde(default)]
    pub oidc_providers: Vec<OidcProviderModel>,
    /// Whether outbound identity federation is enabled for the account.
    #[serde(default)]
    pub outbound_identity_federation: bool,
}

/// The IAM of one AWS account, the world's main one or one of `aws.accounts`.
#[derive(Debug, Clone, Copy)]
pub struct AccountIam<'m> {
    /// Twelve-digit account id.
    pub account_id: &'m str,
    /// IAM roles of the account.
    pub roles: &'m [RoleModel],
    /// IAM OIDC identity providers of the account.
    pub oidc_providers: &'m [OidcProviderModel],
    /// Whether outbound identity federation (`GetWebIdentityToken`) is enabled.
    pub outbound_identity_federation: bool,
}

impl AccountIam<'_> {
    /// Whether this is the world's main account (the one holding the instance and containers).
    pub fn is_main(&self, aws: &AwsModel) -> bool {
        self.account_id == aws.account_id
    }
}

impl AwsModel {
    /// Every account's IAM, the main account first.
    pub fn all_accounts(&self) -> impl Iterator<Item = AccountIam<'_>> {
        let main = AccountIam { account_id: &self.account_id, roles: &self.roles, oidc_providers: &self.oidc_providers, outbound_identity_federation: self.outbound_identity_federation };
        std::iter::once(main).chain(self.accounts.iter().map(|a| AccountIam {
            account_id: &a.account_id,
            roles: &a.roles,
            oidc_providers: &a.oidc_providers,
            outbound_identity_federation: a.outbound_identity_federation,
        }))
    }

    /// The IAM of the account with this id, if the world has it.
    pub fn account(&self, account_id: &str) -> Option<AccountIam<'_>> {
        self.all_accounts().find(|a| a.account_id == account_id)
    }
}

/// An IAM OIDC identity provider (`aws iam create-open-id-connect-provider`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderModel {
    /// Issuer URL, `https://…`, no query, no port.
    pub url: String,
    /// Accepted audiences (`ClientIDList`).
    pub client_ids: Vec<String>,
    /// Thumbprints (kept as metadata, as AWS does for issuers with trusted CAs).
    #[serde(default)]
    pub thumbprints: Vec<String>,
}

impl OidcProviderModel {
    /// The URL without `https://`: the provider ARN's suffix and the condition-key prefix.
    pub fn host_path(&self) -> &str {
        self.url.strip_prefix("https://").unwrap_or(&self.url)
    }
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
    /// The trust policy document, as IAM JSON (written as YAML or JSON; a key written twice in
    /// one object is refused).
    #[serde(default, deserialize_with = "super::strict_json::optional")]
    pub trust_policy: Option<serde_json::Value>,
    /// The trust policy as the JSON file users deploy (`aws iam create-role
    /// --assume-role-policy-document file://…`), relative to the world file; read at load
    /// into `trust_policy`. Give one or the other.
    #[serde(default)]
    pub trust_policy_file: Option<String>,
    /// Managed policies attached to the role, kept as data: cloudid emulates who may assume a
    /// role, not what the role may do.
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
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
        Self { lifetime_seconds: default_lifetime(), refresh_before_seconds: default_refresh_before() }
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

/// An attribute mapping written as a map or in gcloud's flag form.
fn attribute_mapping<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::collections::BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Map(std::collections::BTreeMap<String, String>),
        Flag(String),
    }
    match Form::deserialize(d)? {
        Form::Map(m) => Ok(m),
        Form::Flag(text) => parse_flag_mapping(&text).map_err(serde::de::Error::custom),
    }
}

/// Parses gcloud's `--attribute-mapping` value: `KEY=EXPR` pairs split on `,`, or on the
/// delimiter a leading `^DELIM^` names (gcloud's escaping for values holding commas).
pub fn parse_flag_mapping(text: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    let (delimiter, body) = match text.strip_prefix('^').and_then(|r| r.split_once('^')) {
        Some((d, rest)) if !d.is_empty() => (d, rest),
        _ => (",", text),
    };
    let mut map = std::collections::BTreeMap::new();
    for item in body.split(delimiter).map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("`{item}` is not KEY=EXPRESSION (gcloud's --attribute-mapping form; use ^;^ to split on `;` when an expression holds a comma)"));
        };
        if map.insert(k.trim().to_string(), v.trim().to_string()).is_some() {
            return Err(format!("`{}` is mapped twice", k.trim()));
        }
    }
    Ok(map)
}
