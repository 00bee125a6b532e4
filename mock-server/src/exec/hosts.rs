//! The `/etc/hosts` overlay: every cloud API host name a workload may dial, pointed at cloudid
//! inside the namespace. Emulated hosts are served; the rest of AWS's and Google's API hosts are
//! listed too, so a workload's call to DynamoDB or BigQuery reaches cloudid (which verifies its
//! credentials and forwards it to the world's upstream, or says the service is not emulated)
//! instead of failing to resolve.

use super::platform::{API_ADDRESS, METADATA_V4, Platform};
use crate::services::aws_sts::signed::REGIONS;
use crate::world::WorldModel;

/// Regional AWS services whose `SERVICE.REGION.amazonaws.com` hosts are listed.
const AWS_REGIONAL: &[&str] = &[
    "api.ecr", "athena", "autoscaling", "batch", "bedrock", "bedrock-runtime", "cloudformation", "codebuild", "cognito-idp", "dynamodb", "ec2", "ecr", "ecs", "eks", "elasticache",
    "elasticloadbalancing", "email", "es", "events", "firehose", "glue", "kinesis", "kms", "lambda", "logs", "monitoring", "rds", "runtime.sagemaker", "s3", "sagemaker",
    "secretsmanager", "sns", "sqs", "ssm", "states", "sts-fips", "xray",
];
/// Global AWS API hosts.
const AWS_GLOBAL: &[&str] = &["iam.amazonaws.com", "s3.amazonaws.com", "route53.amazonaws.com", "cloudfront.amazonaws.com", "organizations.us-east-1.amazonaws.com"];
/// Google API services whose `SERVICE.googleapis.com` hosts are listed.
const GOOGLE_APIS: &[&str] = &[
    "admin", "aiplatform", "artifactregistry", "bigquery", "bigquerystorage", "bigtable", "bigtableadmin", "cloudbuild", "cloudfunctions", "cloudkms", "cloudresourcemanager",
    "cloudscheduler", "cloudtasks", "cloudtrace", "composer", "compute", "container", "containeranalysis", "dataflow", "dataproc", "datastore", "dns", "drive", "eventarc", "firestore",
    "generativelanguage", "gmail", "iam", "iamcredentials", "language", "logging", "monitoring", "oauth2", "pubsub", "redis", "run", "secretmanager", "serviceusage", "sheets", "spanner",
    "speech", "sqladmin", "storage", "sts", "texttospeech", "translation", "vision", "workflows", "www",
];
/// Other emulated hosts.
const OTHERS: &[&str] = &["sts.amazonaws.com", "accounts.google.com", "token.actions.githubusercontent.com", super::platform::ACTIONS_HOST];

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
    hosts.retain(|h| !h.is_empty());
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The names the TLS certificate must cover beyond [`crate::tls::HOSTS`]: the API hosts by
/// wildcard where one label varies, and the world's own.
pub(crate) fn certificate_names(world: &WorldModel) -> Vec<String> {
    let mut names = vec!["*.googleapis.com".to_string(), "*.amazonaws.com".to_string(), "*.actions.githubusercontent.com".to_string()];
    names.extend(REGIONS.iter().map(|r| format!("*.{r}.amazonaws.com")));
    names.extend(AWS_REGIONAL.iter().filter(|s| s.contains('.')).flat_map(|s| REGIONS.iter().map(move |r| format!("{s}.{r}.amazonaws.com"))));
    names.extend(world.upstreams.iter().map(|u| u.host.to_ascii_lowercase()));
    names.extend(api_hosts(world).into_iter().filter(|h| !h.ends_with(".amazonaws.com") && !h.ends_with(".googleapis.com")));
    names.sort();
    names.dedup();
    names
}

/// The overlay's text: cloudid's names first (the first match wins), then `original`.
pub(crate) fn hosts_file(world: &WorldModel, platform: Platform, original: &str) -> String {
    let mut out = String::from("# cloudid exec: the clouds' host names, served by cloudid inside this namespace.\n");
    if matches!(platform, Platform::Gce | Platform::CloudRun | Platform::CloudRunJob) {
        out.push_str(&format!("{METADATA_V4}\tmetadata.google.internal metadata\n"));
    }
    for host in api_hosts(world) {
        out.push_str(&format!("{API_ADDRESS}\t{host}\n"));
    }
    out.push_str("# The machine's own /etc/hosts:\n");
    out.push_str(original);
    if !original.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overlay_names_every_emulated_host_and_the_machines_own_entries_last() {
        let world = crate::world::default_world();
        let text = hosts_file(&world, Platform::Ec2, "127.0.0.1 localhost");
        for host in ["sts.amazonaws.com", "sts.ap-northeast-1.amazonaws.com", "sts.googleapis.com", "cloudresourcemanager.googleapis.com", "dynamodb.ap-northeast-1.amazonaws.com", "token.actions.githubusercontent.com"] {
            assert!(text.contains(&format!("{API_ADDRESS}\t{host}\n")), "{host} missing");
        }
        assert!(!text.contains("metadata.google.internal"), "an EC2 instance does not resolve Google's metadata name");
        assert!(text.ends_with("127.0.0.1 localhost\n"));
        assert!(hosts_file(&world, Platform::Gce, "").contains("169.254.169.254\tmetadata.google.internal metadata\n"));
    }
}
