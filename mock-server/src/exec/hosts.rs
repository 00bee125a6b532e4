//! The `/etc/hosts` overlay: every cloud API host name a workload may dial, pointed at cloudid
//! inside the namespace. Emulated hosts are served; the rest of AWS's and Google's API hosts are
//! listed too, so a workload's call to DynamoDB or BigQuery reaches cloudid (which verifies its
//! credentials and forwards it to the world's upstream, or says the service is not emulated)
//! instead of failing to resolve.

use super::platform::{API_ADDRESS, METADATA_V4, Platform};
use crate::cloud_hosts::api_hosts;
use crate::world::WorldModel;

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
        for host in [
            "sts.amazonaws.com",
            "sts.ap-northeast-1.amazonaws.com",
            "sts.googleapis.com",
            "cloudresourcemanager.googleapis.com",
            "dynamodb.ap-northeast-1.amazonaws.com",
            "token.actions.githubusercontent.com",
        ] {
            assert!(text.contains(&format!("{API_ADDRESS}\t{host}\n")), "{host} missing");
        }
        assert!(!text.contains("metadata.google.internal"), "an EC2 instance does not resolve Google's metadata name");
        assert!(text.ends_with("127.0.0.1 localhost\n"));
        assert!(hosts_file(&world, Platform::Gce, "").contains("169.254.169.254\tmetadata.google.internal metadata\n"));
    }
}
