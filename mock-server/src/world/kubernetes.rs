//! Kubernetes clusters in the world (`kubernetes.clusters`): each is a token issuer — EKS at
//! `https://oidc.eks.REGION.amazonaws.com/id/ID`, GKE at
//! `https://container.googleapis.com/v1/projects/P/locations/L/clusters/C`, a generic cluster at
//! its API server's issuer — with service accounts (and their annotations and pods) and EKS Pod
//! Identity associations. What follows from them (issuer URLs, uids, pod and node names the world
//! leaves out) is derived here, the same for the same names.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The `kubernetes` section of a world.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesModel {
    /// The clusters.
    #[serde(default)]
    pub clusters: Vec<ClusterModel>,
    /// The pod the workload runs as (`cloudid exec --as eks-irsa | eks-pod-identity | gke`,
    /// `--service-account`). On GKE the metadata server at 169.254.169.254 then answers as the
    /// GKE metadata server does for that pod, instead of as a VM's.
    #[serde(default)]
    pub workload: Option<WorkloadRef>,
}

/// A pod's service account in a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadRef {
    /// The cluster's name.
    pub cluster: String,
    /// The namespace.
    pub namespace: String,
    /// The service account's name.
    pub service_account: String,
}

/// What a cluster is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterKind {
    /// Amazon EKS: an IAM-registrable OIDC issuer on `oidc.eks.REGION.amazonaws.com`, IRSA and Pod
    /// Identity.
    Eks,
    /// Google GKE: Workload Identity Federation for GKE through `PROJECT_ID.svc.id.goog`.
    Gke,
    /// Any other cluster: its API server's issuer.
    Generic,
}

/// One cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterModel {
    /// The cluster's name.
    pub name: String,
    /// `eks`, `gke` or `generic`.
    pub kind: ClusterKind,
    /// EKS: the AWS region (default `aws.region`). GKE: the location (default the region of
    /// `gcp.zone`).
    #[serde(default)]
    pub region: Option<String>,
    /// EKS: the OIDC id, 32 upper-case hex digits (default: derived from the name).
    #[serde(default)]
    pub oidc_id: Option<String>,
    /// A generic cluster's issuer (default `https://kubernetes.default.svc.cluster.local`).
    #[serde(default)]
    pub issuer: Option<String>,
    /// The schedule the cluster rotates its service-account signing key on.
    #[serde(default)]
    pub key_rotation: KeyRotation,
    /// Service accounts that exist (and their pods).
    #[serde(default)]
    pub service_accounts: Vec<ServiceAccount>,
    /// EKS Pod Identity associations: namespace and service account → role.
    #[serde(default)]
    pub pod_identity_associations: Vec<PodIdentityAssociation>,
}

/// A signing-key schedule: a new key every `every_seconds` from the clock's start, the previous
/// one published for `overlap_seconds` more (EKS: seven days, and the old key kept a day).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotation {
    /// How often the key changes (0: never).
    #[serde(default = "default_every")]
    pub every_seconds: u64,
    /// How long a retired key stays in the JWKS.
    #[serde(default = "default_overlap")]
    pub overlap_seconds: u64,
}

fn default_every() -> u64 {
    7 * 86_400
}

fn default_overlap() -> u64 {
    86_400
}

impl Default for KeyRotation {
    fn default() -> Self {
        Self { every_seconds: default_every(), overlap_seconds: default_overlap() }
    }
}

/// A Kubernetes service account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccount {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `metadata.uid` (default: derived).
    #[serde(default)]
    pub uid: Option<String>,
    /// `metadata.annotations`: `eks.amazonaws.com/role-arn` (IRSA),
    /// `eks.amazonaws.com/audience`, `eks.amazonaws.com/token-expiration`,
    /// `iam.gke.io/gcp-service-account` (GKE).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The pod running as it (default: one named after it).
    #[serde(default)]
    pub pod: Option<PodModel>,
}

/// A pod.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodModel {
    /// Its name (default: the service account's, with a replica-set suffix).
    #[serde(default)]
    pub name: Option<String>,
    /// Its uid (default: derived).
    #[serde(default)]
    pub uid: Option<String>,
    /// The node it runs on (default: a name in the cloud's form).
    #[serde(default)]
    pub node: Option<String>,
}

/// An EKS Pod Identity association.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodIdentityAssociation {
    /// The namespace.
    pub namespace: String,
    /// The service account's name.
    pub service_account: String,
    /// The role (a name in `aws.roles`).
    pub role: String,
    /// How long the credentials the agent serves live and when it fetches new ones (EKS Auth's
    /// sessions last six hours).
    #[serde(default)]
    pub credentials: super::model::CredentialPolicy,
}

/// The IRSA role annotation.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// The IRSA audience annotation (default `sts.amazonaws.com`).
pub const AUDIENCE_ANNOTATION: &str = "eks.amazonaws.com/audience";
/// The IRSA token lifetime annotation (default 86400).
pub const EXPIRATION_ANNOTATION: &str = "eks.amazonaws.com/token-expiration";
/// The GKE Workload Identity annotation naming a Google service account.
pub const GKE_ANNOTATION: &str = "iam.gke.io/gcp-service-account";
/// The audience of Pod Identity tokens.
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";

/// A service account's pod, with everything the world left out filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// The pod's name.
    pub name: String,
    /// The pod's uid.
    pub uid: String,
    /// The node's name.
    pub node: String,
    /// The node's uid.
    pub node_uid: String,
}

impl ClusterModel {
    /// The issuer (`iss`) of the cluster's service-account tokens; `aws_region` and `gcp` give
    /// the defaults.
    pub fn issuer_url(&self, aws_region: &str, gcp: &super::model::GcpModel) -> String {
        match self.kind {
            ClusterKind::Eks => format!("https://oidc.eks.{}.amazonaws.com/id/{}", self.region.as_deref().unwrap_or(aws_region), self.oidc_id()),
            ClusterKind::Gke => {
                let location = self.region.clone().unwrap_or_else(|| gcp.zone.rsplit_once('-').map_or_else(|| gcp.zone.clone(), |(r, _)| r.to_string()));
                format!("https://container.googleapis.com/v1/projects/{}/locations/{location}/clusters/{}", gcp.project_id, self.name)
            }
            ClusterKind::Generic => self.issuer.clone().unwrap_or_else(|| "https://kubernetes.default.svc.cluster.local".into()),
        }
    }

    /// The EKS OIDC id: the world's, else 32 upper-case hex digits derived from the name.
    pub fn oidc_id(&self) -> String {
        self.oidc_id.clone().unwrap_or_else(|| {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("eks-oidc:{}", self.name).as_bytes());
            crate::ids::hex(&digest.as_ref()[..16]).to_ascii_uppercase()
        })
    }

    /// The issuer's name among the world's issuers (`/issuers/{name}/…`).
    pub fn issuer_name(&self) -> String {
        format!("k8s-{}", self.name)
    }

    /// The service account `namespace/name`, if it exists.
    pub fn service_account(&self, namespace: &str, name: &str) -> Option<&ServiceAccount> {
        self.service_accounts.iter().find(|s| s.namespace == namespace && s.name == name)
    }

    /// The Pod Identity association of `namespace/name`, if there is one.
    pub fn association(&self, namespace: &str, name: &str) -> Option<&PodIdentityAssociation> {
        self.pod_identity_associations.iter().find(|a| a.namespace == namespace && a.service_account == name)
    }

    /// The service account's uid.
    pub fn sa_uid(&self, sa: &ServiceAccount) -> String {
        sa.uid.clone().unwrap_or_else(|| crate::ids::stable_uuid(&format!("sa:{}:{}:{}", self.name, sa.namespace, sa.name)))
    }

    /// The service account's pod, names and uids filled in.
    pub fn pod(&self, sa: &ServiceAccount, aws_region: &str) -> Pod {
        let given = sa.pod.clone().unwrap_or_default();
        let key = format!("{}:{}:{}", self.name, sa.namespace, sa.name);
        let n = crate::ids::stable_number(&key);
        const ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let suffix: String = (0..5).map(|i| ALNUM[((n >> (i * 6)) % ALNUM.len() as u64) as usize] as char).collect();
        let name = given.name.unwrap_or_else(|| format!("{}-{:x}-{suffix}", sa.name, (n >> 32) & 0x3ff_ffff));
        let node = given.node.unwrap_or_else(|| match self.kind {
            ClusterKind::Eks => format!("ip-10-0-{}-{}.{}.compute.internal", n % 200 + 1, (n >> 8) % 250 + 1, self.region.as_deref().unwrap_or(aws_region)),
            ClusterKind::Gke => format!("gke-{}-default-pool-{:08x}-{:04x}", self.name, (n >> 16) as u32, (n & 0xffff) as u16),
            ClusterKind::Generic => format!("node-{}", n % 10),
        });
        Pod { uid: given.uid.unwrap_or_else(|| crate::ids::stable_uuid(&format!("pod:{key}:{name}"))), node_uid: crate::ids::stable_uuid(&format!("node:{}:{node}", self.name)), name, node }
    }
}

/// Checks the `kubernetes` section against the rest of `w`: the field at fault and why.
pub(crate) fn validate(w: &super::WorldModel) -> Result<(), (String, String)> {
    let mut names = std::collections::HashSet::new();
    let mut issuers = std::collections::HashSet::new();
    for (i, c) in w.kubernetes.clusters.iter().enumerate() {
        let f = |k: &str| format!("kubernetes.clusters[{i}].{k}");
        let bad = |field: String, why: String| Err((field, why));
        if c.name.is_empty() || c.name.len() > 100 || !c.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') || !names.insert(c.name.as_str()) {
            return bad(f("name"), format!("`{}` must be a unique cluster name (letters, digits, `-`, `_`; up to 100)", c.name));
        }
        if !issuers.insert(c.issuer_url(&w.aws.region, &w.gcp)) {
            return bad(f("issuer"), format!("cluster `{}` has the issuer of another cluster", c.name));
        }
        if let Some(id) = &c.oidc_id
            && (id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase()))
        {
            return bad(f("oidc_id"), format!("`{id}` is not an EKS OIDC id (32 upper-case hex digits)"));
        }
        if c.kind == ClusterKind::Gke && w.gcp.project_id.is_empty() {
            return bad(f("kind"), "a GKE cluster needs `gcp.project_id` (its workload pool is PROJECT_ID.svc.id.goog)".into());
        }
        if let Some(iss) = &c.issuer
            && (c.kind != ClusterKind::Generic || !iss.starts_with("https://"))
        {
            return bad(f("issuer"), "only a generic cluster names its issuer, an https:// URL (EKS and GKE issuers follow from the cluster)".into());
        }
        if c.key_rotation.every_seconds > 0 && c.key_rotation.overlap_seconds >= c.key_rotation.every_seconds {
            return bad(f("key_rotation.overlap_seconds"), "must be shorter than every_seconds (one retired key at a time)".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (j, sa) in c.service_accounts.iter().enumerate() {
            let g = |k: &str| format!("kubernetes.clusters[{i}].service_accounts[{j}].{k}");
            for (field, value) in [("namespace", &sa.namespace), ("name", &sa.name)] {
                if value.is_empty() || value.len() > 253 || !value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.') {
                    return bad(g(field), format!("`{value}` is not a Kubernetes name (lower-case letters, digits, `-`, `.`)"));
                }
            }
            if !seen.insert((sa.namespace.as_str(), sa.name.as_str())) {
                return bad(g("name"), format!("service account {}/{} is declared twice", sa.namespace, sa.name));
            }
            if let Some(arn) = sa.annotations.get(ROLE_ARN_ANNOTATION)
                && !(arn.starts_with("arn:aws:iam::") && arn.contains(":role/"))
            {
                return bad(g("annotations"), format!("{ROLE_ARN_ANNOTATION} `{arn}` is not a role ARN"));
            }
            if let Some(e) = sa.annotations.get(EXPIRATION_ANNOTATION)
                && !e.parse::<u32>().is_ok_and(|s| (600..=86_400 * 365).contains(&s))
            {
                return bad(g("annotations"), format!("{EXPIRATION_ANNOTATION} `{e}` is not a number of seconds of at least 600"));
            }
            if let Some(email) = sa.annotations.get(GKE_ANNOTATION)
                && !email.ends_with(".gserviceaccount.com")
            {
                return bad(g("annotations"), format!("{GKE_ANNOTATION} `{email}` is not a Google service account email"));
            }
        }
        for (j, a) in c.pod_identity_associations.iter().enumerate() {
            let g = |k: &str| format!("kubernetes.clusters[{i}].pod_identity_associations[{j}].{k}");
            if c.kind != ClusterKind::Eks {
                return bad(g("role"), "Pod Identity associations belong to EKS clusters".into());
            }
            if !w.aws.roles.iter().any(|r| r.name == a.role) {
                return bad(g("role"), format!("no role named `{}` in aws.roles", a.role));
            }
            if c.service_account(&a.namespace, &a.service_account).is_none() {
                return bad(g("service_account"), format!("no service account {}/{} in the cluster's service_accounts", a.namespace, a.service_account));
            }
            if a.credentials.lifetime_seconds < 900 || a.credentials.lifetime_seconds > 43_200 || a.credentials.refresh_before_seconds >= a.credentials.lifetime_seconds {
                return bad(g("credentials"), "lifetime_seconds must be 900 … 43200 and refresh_before_seconds shorter".into());
            }
            if c.pod_identity_associations[..j].iter().any(|b| b.namespace == a.namespace && b.service_account == a.service_account) {
                return bad(g("service_account"), format!("{}/{} is associated twice (EKS allows one association per service account)", a.namespace, a.service_account));
            }
        }
    }
    Ok(())
}

impl KubernetesModel {
    /// The workload's cluster and service account, if the world names one that exists.
    pub fn workload(&self) -> Option<(&ClusterModel, &ServiceAccount)> {
        let w = self.workload.as_ref()?;
        let c = self.clusters.iter().find(|c| c.name == w.cluster)?;
        Some((c, c.service_account(&w.namespace, &w.service_account)?))
    }

    /// The first EKS Pod Identity association of any cluster, with its cluster.
    pub fn first_association(&self) -> Option<(&ClusterModel, &PodIdentityAssociation)> {
        self.clusters.iter().find_map(|c| c.pod_identity_associations.first().map(|a| (c, a)))
    }
}

/// `system:serviceaccount:NS:NAME`, the `sub` of a service account's tokens.
pub fn subject(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(kind: &str) -> ClusterModel {
        yaml_serde::from_str(&format!("name: acme\nkind: {kind}\nservice_accounts: [{{namespace: analytics, name: bigquery}}]\n")).unwrap()
    }

    #[test]
    fn each_kind_of_cluster_has_its_cloud_s_issuer_form() {
        let gcp = crate::world::default_world().gcp;
        let eks = cluster("eks").issuer_url("ap-northeast-1", &gcp);
        let id = eks.rsplit('/').next().unwrap();
        assert!(eks.starts_with("https://oidc.eks.ap-northeast-1.amazonaws.com/id/"), "{eks}");
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase()), "{id}");
        assert_eq!(cluster("gke").issuer_url("x", &gcp), "https://container.googleapis.com/v1/projects/acme-data/locations/asia-northeast1/clusters/acme");
        assert_eq!(cluster("generic").issuer_url("x", &gcp), "https://kubernetes.default.svc.cluster.local");
    }

    #[test]
    fn derived_names_and_uids_are_stable_and_shaped_like_kubernetes_ones() {
        let c = cluster("eks");
        let sa = &c.service_accounts[0];
        let (a, b) = (c.pod(sa, "ap-northeast-1"), c.pod(sa, "ap-northeast-1"));
        assert_eq!(a, b);
        assert!(a.name.starts_with("bigquery-"), "{}", a.name);
        assert!(a.node.starts_with("ip-10-0-") && a.node.ends_with(".ap-northeast-1.compute.internal"), "{}", a.node);
        assert_eq!(a.uid.len(), 36);
        assert_eq!(c.sa_uid(sa), c.sa_uid(sa));
        assert_ne!(c.sa_uid(sa), a.uid);
    }
}
