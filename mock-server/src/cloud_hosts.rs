//! The cloud API host names cloudid answers for when a workload reaches it by name (`cloudid
//! exec`'s `/etc/hosts` overlay, `cloudid serve --proxy`'s tunnels): the emulated hosts and the
//! common AWS and Google API hosts it verifies credentials for, and the names its TLS certificate
//! must therefore cover.

use crate::hostnames::REGIONS;
use crate::world::WorldModel;

/// The GitHub Actions OIDC request host (`ACTIONS_ID_TOKEN_REQUEST_URL`'s).
pub(crate) const ACTIONS_HOST: &str = "pipelinesghubeus1.actions.githubusercontent.com";

/// Regional AWS services whose `SERVICE.REGION.amazonaws.com` hosts are listed.
const AWS_REGIONAL: &[&str] = &[
    "api.ecr",
    "athena",
    "autoscaling",
    "batch",
    "bedrock",
    "bedrock-runtime",
    "cloudformation",
    "codebuild",
    "cognito-idp",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "eks",
    "elasticache",
    "elasticloadbalancing",
    "email",
    "es",
    "events",
    "firehose",
    "glue",
    "kinesis",
    "kms",
    "lambda",
    "logs",
    "monitoring",
    "rds",
    "runtime.sagemaker",
    "s3",
    "sagemaker",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "states",
    "sts-fips",
    "xray",
];
/// Global AWS API hosts.
const AWS_GLOBAL: &[&str] = &["iam.amazonaws.com", "s3.amazonaws.com", "route53.amazonaws.com", "cloudfront.amazonaws.com", "organizations.us-east-1.amazonaws.com"];
/// Google API services whose `SERVICE.googleapis.com` hosts are listed.
const GOOGLE_APIS: &[&str] = &[
    "admin",
    "aiplatform",
    "artifactregistry",
    "bigquery",
    "bigquerystorage",
    "bigtable",
    "bigtableadmin",
    "cloudbuild",
    "cloudfunctions",
    "cloudkms",
    "cloudresourcemanager",
    "cloudscheduler",
    "cloudtasks",
    "cloudtrace",
    "composer",
    "compute",
    "container",
    "containeranalysis",
    "dataflow",
    "dataproc",
    "datastore",
    "dns",
    "drive",
    "eventarc",
    "firestore",
    "generativelanguage",
    "gmail",
    "iam",
    "iamcredentials",
    "language",
    "logging",
    "monitoring",
    "oauth2",
    "pubsub",
    "redis",
    "run",
    "secretmanager",
    "serviceusage",
    "sheets",
    "spanner",
    "speech",
    "sqladmin",
    "storage",
    "sts",
    "texttospeech",
    "translation",
    "vision",
    "workflows",
    "www",
];
/// Other emulated hosts.
const OTHERS: &[&str] =
    &["sts.amazonaws.com", "accounts.google.com", "token.actions.githubusercontent.com", ACTIONS_HOST, "login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"];

/// The hosts of the world's Kubernetes cluster issuers (`oidc.eks.REGION.amazonaws.com`,
/// `container.googleapis.com`, a generic cluster's).
fn cluster_hosts(world: &WorldModel) -> Vec<String> {
    let issuers = world.kubernetes.clusters.iter().map(|c| c.issuer_url(&world.aws.region, &world.gcp));
    issuers.filter_map(|iss| iss.strip_prefix("https://").map(|rest| rest.split(['/', ':']).next().unwrap_or("").to_ascii_lowercase())).collect()
}

/// Every API host name the overlay lists (lower case), for `world`.
pub(crate) fn api_hosts(world: &WorldModel) -> Vec<String> {
    let mut hosts: Vec<String> = OTHERS.iter().chain(AWS_GLOBAL).map(|h| h.to_string()).collect();
    for region in REGIONS {
        hosts.push(format!("sts.{region}.amazonaws.com"));
        hosts.extend(AWS_REGIONAL.iter().map(|s| format!("{s}.{region}.amazonaws.com")));
    }
    hosts.extend(GOOGLE_APIS.iter().map(|s| format!("{s}.googleapis.com")));
    hosts.extend(world.upstreams.iter().map(|u| u.host.to_ascii_lowercase()));
    hosts.extend(world.issuers.iter().filter_map(|i| i.iss.as_deref()).filter_map(|iss| iss.strip_prefix("https://")).map(|rest| rest.split(['/', ':']).next().unwrap_or("").to_ascii_lowercase()));
    hosts.extend(cluster_hosts(world));
    hosts.retain(|h| !h.is_empty());
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The names the TLS certificate must cover beyond the fixed list `tls::HOSTS`: the API hosts by
/// wildcard where one label varies, and the world's own.
pub(crate) fn certificate_names(world: &WorldModel) -> Vec<String> {
    let mut names = vec!["*.googleapis.com".to_string(), "*.amazonaws.com".to_string(), "*.actions.githubusercontent.com".to_string()];
    names.extend(REGIONS.iter().map(|r| format!("*.{r}.amazonaws.com")));
    names.extend(REGIONS.iter().map(|r| format!("*.s3.{r}.amazonaws.com")));
    names.extend(REGIONS.iter().map(|r| format!("*.{r}.api.aws")));
    names.extend(["*.s3.amazonaws.com".to_string(), "*.storage.googleapis.com".to_string()]);
    names.extend(AWS_REGIONAL.iter().filter(|s| s.contains('.')).flat_map(|s| REGIONS.iter().map(move |r| format!("{s}.{r}.amazonaws.com"))));
    names.extend(world.upstreams.iter().map(|u| u.host.to_ascii_lowercase()));
    names.extend(api_hosts(world).into_iter().filter(|h| !h.ends_with(".amazonaws.com") && !h.ends_with(".googleapis.com")));
    names.extend(cluster_hosts(world));
    names.sort();
    names.dedup();
    names
}
