//! The emulated services' names: what fault rules match on (`match.service`) and what the
//! journal calls each entry's service. A misspelt name in a fault rule is refused when the rule
//! is added, not silently never matched.

use axum::http::Method;
use serde::{Deserialize, Serialize};

/// An emulated service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Service {
    /// EC2 instance metadata (IMDS).
    AwsImds,
    /// Container credentials (ECS agent, EKS Pod Identity agent).
    AwsContainer,
    /// AWS STS.
    AwsSts,
    /// The ECS task metadata endpoint (v3, v4).
    AwsTaskMetadata,
    /// The GCP metadata server.
    GcpMetadata,
    /// GitHub Actions' OIDC token endpoint.
    GithubOidc,
    /// Google STS.
    GoogleSts,
    /// IAM Credentials.
    IamCredentials,
    /// Issuer discovery documents and keys.
    OidcDiscovery,
    /// Service accounts' published keys (`/service_accounts/v1/…`).
    ServiceAccountKeys,
    /// Google's `tokeninfo`.
    GoogleOauth2,
    /// Cloud Resource Manager's project lookup.
    #[serde(rename = "cloud_resource_manager")]
    ResourceManager,
    /// A Kubernetes cluster's API server (discovery, keys, TokenReview).
    KubeApiserver,
    /// Azure's Instance Metadata Service (managed identity, instance document).
    AzureImds,
    /// The App Service / Functions / Container Apps managed identity endpoint.
    AppServiceIdentity,
    /// Microsoft Entra ID (discovery, keys, the token endpoint).
    Entra,
    /// A real cloud API cloudid does not emulate (credentials verified, then refused or forwarded).
    NotEmulated,
    /// cloudid itself: a path no service emulates.
    Cloudid,
}

impl Service {
    /// The name in fault rules and the journal (`aws_sts`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::AwsImds => "aws_imds",
            Self::AwsContainer => "aws_container",
            Self::AwsSts => "aws_sts",
            Self::AwsTaskMetadata => "aws_task_metadata",
            Self::GcpMetadata => "gcp_metadata",
            Self::GithubOidc => "github_oidc",
            Self::GoogleSts => "google_sts",
            Self::IamCredentials => "iam_credentials",
            Self::OidcDiscovery => "oidc_discovery",
            Self::ServiceAccountKeys => "service_account_keys",
            Self::GoogleOauth2 => "google_oauth2",
            Self::ResourceManager => "cloud_resource_manager",
            Self::KubeApiserver => "kube_apiserver",
            Self::AzureImds => "azure_imds",
            Self::AppServiceIdentity => "app_service_identity",
            Self::Entra => "entra",
            Self::NotEmulated => "not_emulated",
            Self::Cloudid => "cloudid",
        }
    }

    /// The service a request no route claims belongs to, from its path: issuer documents at
    /// their real paths, else cloudid's own 404.
    pub fn of_unrouted(method: &Method, path: &str) -> Self {
        let _ = method;
        if path.starts_with("/issuers/") || path.starts_with("/.well-known") || path.starts_with("/oauth2/v") { Self::OidcDiscovery } else { Self::Cloudid }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_fault_rule_json_and_a_misspelling_is_refused() {
        for s in [Service::AwsImds, Service::AwsSts, Service::GoogleOauth2, Service::ServiceAccountKeys, Service::Cloudid] {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, s.name());
            assert_eq!(serde_json::from_value::<Service>(json).unwrap(), s);
        }
        assert!(serde_json::from_value::<Service>(serde_json::json!("aws_st")).is_err());
    }
}
