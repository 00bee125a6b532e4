//! Cloud host names as cloudid reads them, with no HTTP and no world: the regions AWS STS answers
//! in, which API hosts cloudid serves by path and which it claims by name (Cloud Resource Manager,
//! any other AWS or Google API), and where a world's upstream is.

/// The host name of Cloud Resource Manager.
pub(crate) const RESOURCE_MANAGER_HOST: &str = "cloudresourcemanager.googleapis.com";

/// The suffix of AWS outbound identity federation issuers (`<id>.tokens.sts.global.api.aws`).
pub(crate) const AWS_OUTBOUND_HOST_SUFFIX: &str = ".tokens.sts.global.api.aws";

/// Regions STS answers in (the commercial partition).
pub(crate) const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
];

/// Which cloud a non-emulated API host belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cloud {
    /// `*.amazonaws.com`, `*.api.aws`: SigV4-signed requests.
    Aws,
    /// `*.googleapis.com`: Bearer access tokens.
    Google,
}

/// What a host name or address is, when it is one of the real ones: each serves only its own
/// services, as on the real platform (IMDS is not at `sts.amazonaws.com`, STS not at
/// `169.254.169.254`). Any other host (`127.0.0.1`, `localhost`, a compose service name) serves
/// everything, as cloudid's one port does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostClass {
    /// IMDS and Google's metadata server: `169.254.169.254`, `[fd00:ec2::254]`, `metadata.google.internal`.
    Metadata,
    /// The ECS and Pod Identity agents: `169.254.170.2`, `169.254.170.23`, `[fd00:ec2::23]`.
    ContainerAgent,
    /// AWS STS's host names.
    AwsSts,
    /// Another real API host name cloudid serves by path (Google's, GitHub's).
    Api,
    /// Anything else.
    Any,
}

/// Whether `host` (lower case, no port; IPv6 with or without brackets) is a platform's metadata
/// or credentials-agent address: where workloads reach cloudid as they reach the real ones.
pub(crate) fn is_metadata_address(host: &str) -> bool {
    let bracketed;
    let host = if host.contains(':') && !host.starts_with('[') {
        bracketed = format!("[{host}]");
        bracketed.as_str()
    } else {
        host
    };
    matches!(class(host), HostClass::Metadata | HostClass::ContainerAgent)
}

/// Whether `host` (lower case, no port) is an AWS or Google API host name.
pub(crate) fn is_cloud_api(host: &str) -> bool {
    host.ends_with(".amazonaws.com") || host.ends_with(".api.aws") || host.ends_with(".googleapis.com")
}

/// Whether `host` is an EKS cluster issuer's host, `oidc.eks.REGION.amazonaws.com`.
pub(crate) fn is_eks_oidc(host: &str) -> bool {
    host.strip_prefix("oidc.eks.").and_then(|r| r.strip_suffix(".amazonaws.com")).is_some_and(|region| !region.is_empty() && !region.contains('.'))
}

/// The class of `host` (lower case, no port; IPv6 in brackets).
pub(crate) fn class(host: &str) -> HostClass {
    match host {
        "169.254.169.254" | "[fd00:ec2::254]" | "metadata.google.internal" | "metadata" => HostClass::Metadata,
        "169.254.170.2" | "169.254.170.23" | "[fd00:ec2::23]" => HostClass::ContainerAgent,
        _ if (host.ends_with(".amazonaws.com") || host.ends_with(".api.aws")) && !host.ends_with(AWS_OUTBOUND_HOST_SUFFIX) && matches!(host.split('.').next(), Some("sts" | "sts-fips")) => {
            HostClass::AwsSts
        }
        _ if host.ends_with(".googleapis.com")
            || host.ends_with(".githubusercontent.com")
            || host == "accounts.google.com"
            || host.ends_with(AWS_OUTBOUND_HOST_SUFFIX)
            || is_eks_oidc(host)
            || ENTRA_HOSTS.contains(&host) =>
        {
            HostClass::Api
        }
        _ => HostClass::Any,
    }
}

/// Whether a request (`read`: a GET or HEAD) for `path` with `query` belongs at a host of `class`.
pub(crate) fn serves(class: HostClass, read: bool, path: &str, query: &str) -> bool {
    let b = path.as_bytes();
    let dated = b.len() >= 11 && b[1..5].iter().all(u8::is_ascii_digit) && b[5] == b'-';
    let metadata = path == "/" || path.starts_with("/latest") || path.starts_with("/computeMetadata") || path.starts_with("/metadata/") || dated;
    let credentials = path.starts_with("/v1/credentials") || path.starts_with("/v2/credentials");
    match class {
        HostClass::Metadata => metadata && (read || path != "/") && !query.split('&').any(|kv| kv.starts_with("Action=")),
        HostClass::ContainerAgent => credentials || path.starts_with("/v3/") || path.starts_with("/v4/"),
        HostClass::AwsSts => path == "/" && (!read || query.split('&').any(|kv| kv.starts_with("Action="))),
        HostClass::Api => !metadata && !credentials && !path.starts_with("/msi/"),
        HostClass::Any => true,
    }
}

/// Entra ID's host names (the public cloud's aliases): served by path.
pub(crate) const ENTRA_HOSTS: &[&str] = &["login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"];

/// Where a host's requests go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostRoute {
    /// Cloud Resource Manager.
    ResourceManager,
    /// A real API cloudid does not emulate: credentials verified, then refused or forwarded.
    NotEmulated(Cloud),
}

/// Google API hosts served by path (STS, IAM Credentials, OAuth 2.0, certificates, tokeninfo).
const GOOGLE_EMULATED: &[&str] = &["sts.googleapis.com", "iamcredentials.googleapis.com", "oauth2.googleapis.com", "www.googleapis.com"];

/// The route for `host` (lower case, no port), or `None` for the path router.
pub(crate) fn route(host: &str) -> Option<HostRoute> {
    if host == RESOURCE_MANAGER_HOST {
        return Some(HostRoute::ResourceManager);
    }
    if let Some(_service) = host.strip_suffix(".googleapis.com") {
        return (!GOOGLE_EMULATED.contains(&host)).then_some(HostRoute::NotEmulated(Cloud::Google));
    }
    let aws = host.strip_suffix(".amazonaws.com").or_else(|| host.strip_suffix(".api.aws"))?;
    let first = aws.split('.').next().unwrap_or("");
    let emulated = matches!(first, "sts" | "sts-fips") || host.ends_with(AWS_OUTBOUND_HOST_SUFFIX) || is_eks_oidc(host);
    (!emulated).then_some(HostRoute::NotEmulated(Cloud::Aws))
}

/// Where an upstream is: a TCP address and path prefix, or a Unix socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `http://host:port/prefix`.
    Tcp { authority: String, prefix: String },
    /// `unix:/path/to/socket[#/prefix]`.
    Unix { path: std::path::PathBuf, prefix: String },
}

/// Parses an upstream URL: `http://HOST:PORT[/prefix]` or `unix:/absolute/socket/path[#/prefix]`.
pub(crate) fn parse_upstream_url(url: &str) -> Option<Target> {
    if let Some(rest) = url.strip_prefix("unix:") {
        let (path, prefix) = rest.split_once('#').unwrap_or((rest, ""));
        return (path.starts_with('/') && (prefix.is_empty() || prefix.starts_with('/'))).then(|| Target::Unix { path: path.into(), prefix: prefix.trim_end_matches('/').to_string() });
    }
    let rest = url.strip_prefix("http://")?;
    let (authority, prefix) = rest.split_once('/').map_or((rest, String::new()), |(a, p)| (a, format!("/{}", p.trim_end_matches('/'))));
    let prefix = if prefix == "/" { String::new() } else { prefix };
    (!authority.is_empty() && authority.parse::<axum::http::uri::Authority>().is_ok()).then(|| Target::Tcp { authority: authority.to_string(), prefix })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_real_host_serves_only_its_own_services() {
        assert!(serves(class("169.254.169.254"), true, "/latest/meta-data/", ""));
        assert!(serves(class("metadata.google.internal"), true, "/computeMetadata/v1/project/project-id", ""));
        assert!(!serves(class("169.254.169.254"), true, "/", "Action=GetCallerIdentity&Version=2011-06-15"), "STS is not at the IMDS address");
        assert!(!serves(class("169.254.169.254"), true, "/v1/token", ""));
        assert!(!serves(class("169.254.170.2"), true, "/latest/meta-data/", ""));
        assert!(serves(class("169.254.170.23"), true, "/v1/credentials", ""));
        assert!(!serves(class("sts.amazonaws.com"), true, "/latest/api/token", ""), "IMDS is not at an STS host");
        assert!(serves(class("sts.ap-northeast-1.amazonaws.com"), false, "/", ""));
        assert!(serves(class("sts.amazonaws.com"), true, "/", "Action=GetCallerIdentity&Version=2011-06-15"));
        assert!(!serves(class("sts.us-east-1.api.aws"), true, "/", ""), "a bare GET at an STS host is not IMDS's version list");
        assert!(!serves(class("token.actions.githubusercontent.com"), true, "/latest/meta-data/instance-id", ""));
        assert!(!serves(class("sts.googleapis.com"), true, "/", ""));
        assert!(serves(class("sts.googleapis.com"), true, "/v1/token", ""));
        assert!(serves(class("cloudresourcemanager.googleapis.com"), true, "/v3/projects/acme-data", ""));
        assert!(!serves(class("iamcredentials.googleapis.com"), true, "/2021-03-23/meta-data/", ""), "a dated IMDS version is IMDS");
        assert!(serves(class("pipelinesghubeus1.actions.githubusercontent.com"), true, "/7mXF/00000000-0000-0000-0000-000000000000/_apis/x/idtoken", ""));
        assert!(serves(class("127.0.0.1"), true, "/latest/meta-data/", "") && serves(class("127.0.0.1"), false, "/", ""), "cloudid's own port serves everything");
        assert!(!serves(class("169.254.169.254"), false, "/", ""), "a POST to the IMDS address is not STS");
        assert!(serves(class("169.254.169.254"), true, "/metadata/identity/oauth2/token", "api-version=2018-02-01"), "Azure's IMDS shares the address");
        assert!(!serves(class("login.microsoftonline.com"), true, "/metadata/instance", ""));
        assert!(!serves(class("login.microsoftonline.com"), true, "/msi/token", ""), "App Service's endpoint is the app's own");
        assert!(serves(class("login.microsoftonline.com"), false, "/acme.onmicrosoft.com/oauth2/v2.0/token", ""));
    }

    #[test]
    fn only_hosts_no_path_route_serves_are_claimed() {
        assert_eq!(route("cloudresourcemanager.googleapis.com"), Some(HostRoute::ResourceManager));
        assert_eq!(route("bigquery.googleapis.com"), Some(HostRoute::NotEmulated(Cloud::Google)));
        assert_eq!(route("dynamodb.ap-northeast-1.amazonaws.com"), Some(HostRoute::NotEmulated(Cloud::Aws)));
        assert_eq!(route("api.ecr.ap-northeast-1.amazonaws.com"), Some(HostRoute::NotEmulated(Cloud::Aws)));
        assert_eq!(route("s3.dualstack.us-east-1.amazonaws.com"), Some(HostRoute::NotEmulated(Cloud::Aws)));
        for served in [
            "sts.amazonaws.com",
            "sts.ap-northeast-1.amazonaws.com",
            "sts-fips.us-east-1.amazonaws.com",
            "sts.googleapis.com",
            "iamcredentials.googleapis.com",
            "oauth2.googleapis.com",
            "www.googleapis.com",
            "metadata.google.internal",
            "169.254.169.254",
            "localhost",
            "token.actions.githubusercontent.com",
        ] {
            assert_eq!(route(served), None, "{served}");
        }
    }

    #[test]
    fn upstream_urls_are_plain_http_or_a_unix_socket() {
        assert_eq!(parse_upstream_url("http://127.0.0.1:8000"), Some(Target::Tcp { authority: "127.0.0.1:8000".into(), prefix: String::new() }));
        assert_eq!(parse_upstream_url("http://localhost:9050/bigquery/"), Some(Target::Tcp { authority: "localhost:9050".into(), prefix: "/bigquery".into() }));
        assert_eq!(parse_upstream_url("unix:/run/x.sock"), Some(Target::Unix { path: "/run/x.sock".into(), prefix: String::new() }));
        assert_eq!(parse_upstream_url("unix:/run/x.sock#/bq"), Some(Target::Unix { path: "/run/x.sock".into(), prefix: "/bq".into() }));
        for bad in ["https://127.0.0.1:8000", "127.0.0.1:8000", "http://", "unix:relative.sock", "http://a b"] {
            assert_eq!(parse_upstream_url(bad), None, "{bad}");
        }
    }
}
