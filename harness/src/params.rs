//! The parameters each flow takes, as data: name, type, and the values a word may take. A
//! scenario's `params` are checked against them when it loads, so a misspelt or mistyped param is
//! an error naming its file, line and field — never a silently taken default.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    Text,
    /// One of these words.
    Word(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// A non-negative integer.
    Count,
    /// A mapping (claims to set on a minted token).
    Claims,
}

impl Kind {
    fn admits(self, v: &Value) -> bool {
        match self {
            Kind::Text => v.is_string(),
            Kind::Word(words) => v.as_str().is_some_and(|s| words.contains(&s)),
            Kind::Bool => v.is_boolean(),
            Kind::Count => v.is_u64(),
            Kind::Claims => v.is_object(),
        }
    }

    fn describe(self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Word(words) => format!("one of {}", words.join(", ")),
            Kind::Bool => "true or false".into(),
            Kind::Count => "a non-negative integer".into(),
            Kind::Claims => "a mapping of claims".into(),
        }
    }
}

/// A flow a client performs: what the harness prepares for it (environment, files, values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    /// EC2 instance credentials through IMDS.
    AwsImds,
    /// ECS / EKS Pod Identity container credentials.
    AwsContainer,
    /// A web identity token file (GitHub Actions or Google) for AssumeRoleWithWebIdentity.
    AwsWebIdentity,
    /// A shared config file chaining a source profile into a role in another account.
    AwsRoleChain,
    /// The GCP metadata server: access and identity tokens.
    GcpMetadata,
    /// GitHub Actions' OIDC token endpoint.
    GithubOidc,
    /// A Google `external_account` credential file (AWS or OIDC source).
    GoogleExternalAccount,
    /// Google federation from container credentials through a custom AWS supplier.
    GoogleAwsSupplier,
    /// A relying party: a token verifier given a (possibly hostile) token and its issuer's keys.
    Verifier,
    /// A relying party proving AWS identities: given an EKS token (a presigned
    /// `GetCallerIdentity`), it checks it and asks STS.
    AwsVerifier,
    /// Azure managed identity: the Azure IMDS of a VM, or an App Service app's identity endpoint.
    AzureManagedIdentity,
    /// An Entra ID token for an app or user-assigned identity: with a federated token (an AKS
    /// pod's projected token, a GitHub Actions token), a client secret or a certificate.
    EntraToken,
}

impl Flow {
    /// The flow's name in scenario files and profiles (`aws-imds`, …).
    pub fn name(self) -> &'static str {
        match self {
            Flow::AwsImds => "aws-imds",
            Flow::AwsContainer => "aws-container",
            Flow::AwsWebIdentity => "aws-web-identity",
            Flow::AwsRoleChain => "aws-role-chain",
            Flow::GcpMetadata => "gcp-metadata",
            Flow::GithubOidc => "github-oidc",
            Flow::GoogleExternalAccount => "google-external-account",
            Flow::GoogleAwsSupplier => "google-aws-supplier",
            Flow::Verifier => "verifier",
            Flow::AwsVerifier => "aws-verifier",
            Flow::AzureManagedIdentity => "azure-managed-identity",
            Flow::EntraToken => "entra-token",
        }
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters every flow takes: how the client repeats its work.
const COMMON: &[(&str, Kind)] = &[("repeat", Kind::Count), ("pause_ms", Kind::Count), ("refetch", Kind::Bool)];

/// The parameters `flow` takes besides the common ones (`repeat`, `pause_ms`, `refetch`).
pub fn of(flow: Flow) -> &'static [(&'static str, Kind)] {
    match flow {
        Flow::AwsImds => &[],
        Flow::AwsContainer => &[("container_token", Kind::Text), ("token_file", Kind::Bool), ("service_account", Kind::Text), ("token_refresh", Kind::Bool), ("token_expiration_seconds", Kind::Count)],
        Flow::AwsWebIdentity => &[
            ("issuer", Kind::Word(&["github", "google", "eks"])),
            ("audience", Kind::Text),
            ("role", Kind::Text),
            ("session_name", Kind::Text),
            ("token_claims", Kind::Claims),
            ("service_account", Kind::Text),
            ("token_refresh", Kind::Bool),
            ("token_expiration_seconds", Kind::Count),
        ],
        Flow::AwsRoleChain => &[
            ("source", Kind::Word(&["web-identity", "ec2"])),
            ("role", Kind::Text),
            ("audience", Kind::Text),
            ("token_claims", Kind::Claims),
            ("target_role_arn", Kind::Text),
            ("session_name", Kind::Text),
            ("external_id", Kind::Text),
            ("duration_seconds", Kind::Count),
        ],
        Flow::GcpMetadata => &[("audience", Kind::Text), ("certs_issuer", Kind::Text)],
        Flow::GithubOidc => &[("audience", Kind::Text), ("request_token", Kind::Text)],
        Flow::GoogleExternalAccount => &[
            ("provider", Kind::Text),
            ("service_account", Kind::Text),
            ("source", Kind::Word(&["aws", "github", "github-url"])),
            ("imdsv2", Kind::Bool),
            ("audience", Kind::Text),
            ("token_claims", Kind::Claims),
        ],
        Flow::GoogleAwsSupplier => &[("provider", Kind::Text), ("service_account", Kind::Text)],
        Flow::Verifier => &[
            ("issuer", Kind::Text),
            ("audience", Kind::Text),
            ("token_claims", Kind::Claims),
            ("token_header", Kind::Claims),
            ("token_duplicates", Kind::Claims),
            ("token_key", Kind::Text),
            ("accept_audience", Kind::Text),
            ("accept_issuer", Kind::Text),
        ],
        Flow::AwsVerifier => &[("cluster_id", Kind::Text), ("accept_cluster_id", Kind::Text), ("host", Kind::Text), ("tamper", Kind::Bool)],
        Flow::AzureManagedIdentity => &[("platform", Kind::Word(&["vm", "app-service"])), ("scope", Kind::Text), ("client_id", Kind::Text), ("identity_header", Kind::Text)],
        Flow::EntraToken => &[
            ("source", Kind::Word(&["aks", "github", "secret", "certificate"])),
            ("scope", Kind::Text),
            ("tenant", Kind::Text),
            ("client_id", Kind::Text),
            ("client_secret", Kind::Text),
            ("service_account", Kind::Text),
            ("audience", Kind::Text),
            ("token_claims", Kind::Claims),
        ],
    }
}

/// Checks `params` against what `flow` takes: the offending param's name and what is wrong.
pub fn check(flow: Flow, params: &BTreeMap<String, Value>) -> Result<(), (String, String)> {
    let own = of(flow);
    for (name, value) in params {
        let kind = own.iter().chain(COMMON).find(|(n, _)| n == name).map(|(_, k)| *k);
        let Some(kind) = kind else {
            let known: Vec<&str> = own.iter().chain(COMMON).map(|(n, _)| *n).collect();
            return Err((name.clone(), format!("flow `{flow}` takes no param `{name}`; it takes {}", known.join(", "))));
        };
        if !kind.admits(value) {
            return Err((name.clone(), format!("`{name}` must be {}, not {value}", kind.describe())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_takes_its_token_and_its_pins() {
        let params = BTreeMap::from([("token_claims".to_string(), serde_json::json!({"exp": "now-600"})), ("accept_audience".to_string(), Value::from("x"))]);
        assert!(check(Flow::Verifier, &params).is_ok());
    }

    #[test]
    fn a_misspelt_param_names_what_the_flow_takes() {
        let params = BTreeMap::from([("rol".to_string(), Value::from("x"))]);
        let (field, message) = check(Flow::AwsWebIdentity, &params).unwrap_err();
        assert_eq!(field, "rol");
        assert!(message.contains("takes no param `rol`") && message.contains("role"), "{message}");
    }

    #[test]
    fn a_mistyped_param_says_what_it_must_be() {
        let params = BTreeMap::from([("source".to_string(), Value::from("s3"))]);
        assert_eq!(check(Flow::AwsRoleChain, &params).unwrap_err().1, "`source` must be one of web-identity, ec2, not \"s3\"");
        let params = BTreeMap::from([("repeat".to_string(), Value::from(-1))]);
        assert!(check(Flow::AwsImds, &params).unwrap_err().1.contains("non-negative integer"));
    }
}
