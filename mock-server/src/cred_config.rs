//! `external_account` credential files, as `gcloud iam workload-identity-pools
//! create-cred-config` writes them, with every URL pointing at a cloudid server.

use serde_json::{Value, json};

/// Where the external credential comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// AWS credentials from IMDS (`environment_id: aws1`).
    Aws {
        /// Whether to add `imdsv2_session_token_url`.
        imdsv2: bool,
    },
    /// An OIDC token in a file.
    File {
        /// The file.
        path: String,
        /// `Some(field)` for a JSON file.
        json_field: Option<String>,
    },
    /// An OIDC token from a URL.
    Url {
        /// The URL.
        url: String,
        /// Headers to send.
        headers: Vec<(String, String)>,
        /// `Some(field)` for a JSON response.
        json_field: Option<String>,
    },
}

fn format(json_field: &Option<String>) -> Value {
    match json_field {
        Some(f) => json!({"type": "json", "subject_token_field_name": f}),
        None => json!({"type": "text"}),
    }
}

/// The hosts a credential file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosts<'a> {
    /// Every URL on one cloudid server (`http://127.0.0.1:8133`).
    Server(&'a str),
    /// The URLs `gcloud` writes: `https://sts.googleapis.com`, `https://iamcredentials.googleapis.com`
    /// and IMDS at `http://169.254.169.254`, for the compose environment where they resolve to cloudid.
    Real,
}

/// The credential configuration for `provider` (`projects/N/locations/global/workloadIdentityPools/P/providers/X`),
/// every URL on the cloudid server at `endpoint`.
pub fn build(provider: &str, service_account: Option<&str>, source: &Source, endpoint: &str) -> Result<Value, String> {
    build_for(provider, service_account, source, Hosts::Server(endpoint))
}

/// The credential configuration for `provider`, naming `hosts`.
pub fn build_for(provider: &str, service_account: Option<&str>, source: &Source, hosts: Hosts<'_>) -> Result<Value, String> {
    let parts: Vec<&str> = provider.split('/').collect();
    if !matches!(parts.as_slice(), ["projects", n, "locations", "global", "workloadIdentityPools", p, "providers", x] if !n.is_empty() && !p.is_empty() && !x.is_empty()) {
        return Err(format!("`{provider}` is not projects/N/locations/global/workloadIdentityPools/P/providers/X"));
    }
    let (imds, sts, iam) = match hosts {
        Hosts::Server(e) => {
            let e = e.trim_end_matches('/');
            (e.to_string(), e.to_string(), e.to_string())
        }
        Hosts::Real => ("http://169.254.169.254".to_string(), "https://sts.googleapis.com".to_string(), "https://iamcredentials.googleapis.com".to_string()),
    };
    let audience = format!("//iam.googleapis.com/{provider}");
    let (subject_token_type, credential_source) = match source {
        Source::Aws { imdsv2 } => {
            let mut cs = json!({
                "environment_id": "aws1",
                "region_url": format!("{imds}/latest/meta-data/placement/availability-zone"),
                "url": format!("{imds}/latest/meta-data/iam/security-credentials"),
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            });
            if *imdsv2 {
                cs["imdsv2_session_token_url"] = json!(format!("{imds}/latest/api/token"));
            }
            ("urn:ietf:params:aws:token-type:aws4_request", cs)
        }
        Source::File { path, json_field } => ("urn:ietf:params:oauth:token-type:jwt", json!({"file": path, "format": format(json_field)})),
        Source::Url { url, headers, json_field } => {
            let h: serde_json::Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
            ("urn:ietf:params:oauth:token-type:jwt", json!({"url": url, "headers": h, "format": format(json_field)}))
        }
    };
    let mut doc = json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": audience,
        "subject_token_type": subject_token_type,
        "token_url": format!("{sts}/v1/token"),
        "credential_source": credential_source,
        "token_info_url": format!("{sts}/v1/introspect"),
    });
    if let Some(sa) = service_account {
        doc["service_account_impersonation_url"] = json!(format!("{iam}/v1/projects/-/serviceAccounts/{sa}:generateAccessToken"));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_config_points_every_url_at_the_server_but_keeps_the_https_verification_url() {
        let doc =
            build("projects/314159265358/locations/global/workloadIdentityPools/p/providers/x", Some("sa@p.iam.gserviceaccount.com"), &Source::Aws { imdsv2: true }, "http://127.0.0.1:9/").unwrap();
        assert_eq!(doc["audience"], "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/p/providers/x");
        assert_eq!(doc["token_url"], "http://127.0.0.1:9/v1/token");
        assert_eq!(doc["credential_source"]["imdsv2_session_token_url"], "http://127.0.0.1:9/latest/api/token");
        assert_eq!(doc["credential_source"]["regional_cred_verification_url"], "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15");
        assert_eq!(doc["service_account_impersonation_url"], "http://127.0.0.1:9/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken");
        assert!(build("projects/1/pools/p", None, &Source::Aws { imdsv2: false }, "http://x").is_err());
    }

    #[test]
    fn a_config_for_the_real_hosts_names_them_as_gcloud_writes_them() {
        let doc = build_for("projects/1/locations/global/workloadIdentityPools/p/providers/x", Some("sa@p.iam.gserviceaccount.com"), &Source::Aws { imdsv2: true }, Hosts::Real).unwrap();
        assert_eq!(doc["token_url"], "https://sts.googleapis.com/v1/token");
        assert_eq!(doc["token_info_url"], "https://sts.googleapis.com/v1/introspect");
        assert_eq!(doc["credential_source"]["url"], "http://169.254.169.254/latest/meta-data/iam/security-credentials");
        assert_eq!(doc["credential_source"]["region_url"], "http://169.254.169.254/latest/meta-data/placement/availability-zone");
        assert_eq!(doc["credential_source"]["imdsv2_session_token_url"], "http://169.254.169.254/latest/api/token");
        assert_eq!(doc["service_account_impersonation_url"], "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken");
    }
}
