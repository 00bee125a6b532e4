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

/// The credential configuration for `provider` (`projects/N/locations/global/workloadIdentityPools/P/providers/X`).
pub fn build(provider: &str, service_account: Option<&str>, source: &Source, endpoint: &str) -> Result<Value, String> {
    let parts: Vec<&str> = provider.split('/').collect();
    if !matches!(parts.as_slice(), ["projects", n, "locations", "global", "workloadIdentityPools", p, "providers", x] if !n.is_empty() && !p.is_empty() && !x.is_empty()) {
        return Err(format!("`{provider}` is not projects/N/locations/global/workloadIdentityPools/P/providers/X"));
    }
    let endpoint = endpoint.trim_end_matches('/');
    let audience = format!("//iam.googleapis.com/{provider}");
    let (subject_token_type, credential_source) = match source {
        Source::Aws { imdsv2 } => {
            let mut cs = json!({
                "environment_id": "aws1",
                "region_url": format!("{endpoint}/latest/meta-data/placement/availability-zone"),
                "url": format!("{endpoint}/latest/meta-data/iam/security-credentials"),
                "regional_cred_verification_url": "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15",
            });
            if *imdsv2 {
                cs["imdsv2_session_token_url"] = json!(format!("{endpoint}/latest/api/token"));
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
        "token_url": format!("{endpoint}/v1/token"),
        "credential_source": credential_source,
        "token_info_url": format!("{endpoint}/v1/introspect"),
    });
    if let Some(sa) = service_account {
        doc["service_account_impersonation_url"] = json!(format!("{endpoint}/v1/projects/-/serviceAccounts/{sa}:generateAccessToken"));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_config_points_every_url_at_the_server_but_keeps_the_https_verification_url() {
        let doc = build("projects/314159265358/locations/global/workloadIdentityPools/p/providers/x", Some("sa@p.iam.gserviceaccount.com"), &Source::Aws { imdsv2: true }, "http://127.0.0.1:9/").unwrap();
        assert_eq!(doc["audience"], "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/p/providers/x");
        assert_eq!(doc["token_url"], "http://127.0.0.1:9/v1/token");
        assert_eq!(doc["credential_source"]["imdsv2_session_token_url"], "http://127.0.0.1:9/latest/api/token");
        assert_eq!(doc["credential_source"]["regional_cred_verification_url"], "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15");
        assert_eq!(doc["service_account_impersonation_url"], "http://127.0.0.1:9/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com:generateAccessToken");
        assert!(build("projects/1/pools/p", None, &Source::Aws { imdsv2: false }, "http://x").is_err());
    }
}
