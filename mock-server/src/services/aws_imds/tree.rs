//! The metadata tree: what each IMDS path holds, computed from the world.

use time::OffsetDateTime;

use crate::clock::iso8601;
use crate::ids;
use crate::world::model::Ec2Model;
use crate::world::{CredentialSource, IssuedCredential, WorldModel};

/// What a metadata path resolves to.
#[derive(Debug)]
pub(crate) enum Node {
    /// A directory listing or a plain value.
    Text(String),
    /// The role's credentials (`extended` adds `AccountId`).
    Credentials {
        /// Whether this is the `-extended` path.
        extended: bool,
    },
    /// `iam/info`.
    IamInfo,
    /// `dynamic/instance-identity/document`.
    IdentityDocument,
    /// Nothing there.
    Missing,
}

/// Versions listed at `/`.
pub(crate) const VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "2011-01-01",
    "2012-01-12",
    "2014-02-25",
    "2014-11-05",
    "2015-10-20",
    "2016-04-19",
    "2016-06-30",
    "2016-09-02",
    "2018-03-28",
    "2018-08-17",
    "2018-09-24",
    "2019-10-01",
    "2020-10-27",
    "2021-01-03",
    "2021-03-23",
    "2021-07-15",
    "2022-09-24",
    "2024-04-11",
    "latest",
];

/// Whether `v` names a metadata version (`latest`, `1.0` or a date).
pub(crate) fn is_version(v: &str) -> bool {
    v == "latest" || v == "1.0" || (v.len() == 10 && v.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() }))
}

fn listing(items: &[&str]) -> Node {
    Node::Text(items.join("\n"))
}

/// Resolves `rest` (the path after the version, without leading `/`).
pub(crate) fn resolve(model: &WorldModel, ec2: &Ec2Model, rest: &str) -> Node {
    let path = rest.trim_end_matches('/');
    let role = ec2.instance_profile.as_ref().map(|p| p.role.as_str());
    let role_creds = |sub: &str, extended: bool| -> Node {
        match (sub, role) {
            ("", Some(r)) => Node::Text(r.to_string()),
            (name, Some(r)) if name == r => Node::Credentials { extended },
            _ => Node::Missing,
        }
    };
    match path {
        "" => listing(&["dynamic", "meta-data"]),
        "meta-data" => {
            let mut items = vec![
                "ami-id",
                "ami-launch-index",
                "hostname",
                "instance-action",
                "instance-id",
                "instance-life-cycle",
                "instance-type",
                "local-hostname",
                "local-ipv4",
                "mac",
                "placement/",
                "reservation-id",
                "security-groups",
                "services/",
            ];
            if role.is_some() {
                items.insert(3, "iam/");
            }
            listing(&items)
        }
        "meta-data/ami-id" => Node::Text(ec2.ami_id.clone()),
        "meta-data/ami-launch-index" => Node::Text("0".into()),
        "meta-data/hostname" | "meta-data/local-hostname" => Node::Text(hostname(model, ec2)),
        "meta-data/instance-action" => Node::Text("none".into()),
        "meta-data/instance-id" => Node::Text(ec2.instance_id.clone()),
        "meta-data/instance-life-cycle" => Node::Text("on-demand".into()),
        "meta-data/instance-type" => Node::Text(ec2.instance_type.clone()),
        "meta-data/local-ipv4" => Node::Text(ec2.private_ip.clone()),
        "meta-data/mac" => Node::Text(mac(ec2)),
        "meta-data/reservation-id" => Node::Text(format!("r-{}", hex_of(&ec2.instance_id, 17))),
        "meta-data/security-groups" => Node::Text("default".into()),
        "meta-data/placement" => listing(&["availability-zone", "region"]),
        "meta-data/placement/availability-zone" => Node::Text(ec2.availability_zone.clone()),
        "meta-data/placement/region" => Node::Text(model.aws.region.clone()),
        "meta-data/services" => listing(&["domain", "partition"]),
        "meta-data/services/domain" => Node::Text("amazonaws.com".into()),
        "meta-data/services/partition" => Node::Text("aws".into()),
        "meta-data/iam" if role.is_some() => listing(&["info", "security-credentials/"]),
        "meta-data/iam/info" if role.is_some() => Node::IamInfo,
        "dynamic" => listing(&["instance-identity/"]),
        "dynamic/instance-identity" => listing(&["document"]),
        "dynamic/instance-identity/document" => Node::IdentityDocument,
        _ => {
            if let Some(sub) = path.strip_prefix("meta-data/iam/security-credentials-extended") {
                if !ec2.extended_credentials_api {
                    return Node::Missing;
                }
                role_creds(sub.trim_start_matches('/'), true)
            } else if let Some(sub) = path.strip_prefix("meta-data/iam/security-credentials") {
                if !(sub.is_empty() || sub.starts_with('/')) {
                    return Node::Missing;
                }
                role_creds(sub.trim_start_matches('/'), false)
            } else {
                Node::Missing
            }
        }
    }
}

/// `ip-10-0-1-23.<region>.compute.internal`.
pub(crate) fn hostname(model: &WorldModel, ec2: &Ec2Model) -> String {
    format!("ip-{}.{}.compute.internal", ec2.private_ip.replace('.', "-"), model.aws.region)
}

fn hex_of(seed: &str, len: usize) -> String {
    let id = ids::stable_id("", seed);
    id.bytes().map(|b| format!("{:x}", b % 16)).take(len).collect()
}

fn mac(ec2: &Ec2Model) -> String {
    let h = hex_of(&ec2.instance_id, 10);
    format!("06:{}:{}:{}:{}:{}", &h[0..2], &h[2..4], &h[4..6], &h[6..8], &h[8..10])
}

fn field(name: &str, value: &str) -> String {
    let mut out = String::new();
    push_field(&mut out, name, value);
    out
}

/// Appends `  "name" : "value"` (JSON-escaped), IMDS's pretty-printing.
fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str("  \"");
    out.push_str(name);
    out.push_str("\" : \"");
    if !value.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(value);
    } else {
        for ch in value.chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// The credentials document, laid out as IMDS lays it out.
pub(crate) fn credentials_document(model: &WorldModel, cred: &IssuedCredential, extended: bool) -> String {
    debug_assert_eq!(cred.source, CredentialSource::Imds);
    let mut out = String::with_capacity(256 + cred.session_token.expose().len());
    out.push_str("{\n");
    let fields = [
        ("Code", "Success"),
        ("LastUpdated", &iso8601(cred.issued_at)),
        ("Type", "AWS-HMAC"),
        ("AccessKeyId", &cred.access_key_id),
        ("SecretAccessKey", cred.secret_access_key.expose()),
        ("Token", cred.session_token.expose()),
        ("Expiration", &cred.receipt.expiration),
    ];
    for (i, (name, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        push_field(&mut out, name, value);
    }
    if extended {
        out.push_str(",\n");
        push_field(&mut out, "AccountId", &model.aws.account_id);
    }
    out.push_str("\n}");
    out
}

/// `iam/info`.
pub(crate) fn iam_info(model: &WorldModel, ec2: &Ec2Model, last_updated: OffsetDateTime) -> String {
    let profile = ec2.instance_profile.as_ref().map(|p| p.name.clone().unwrap_or_else(|| p.role.clone())).unwrap_or_default();
    let fields = [
        field("Code", "Success"),
        field("LastUpdated", &iso8601(last_updated)),
        field("InstanceProfileArn", &format!("arn:aws:iam::{}:instance-profile/{profile}", model.aws.account_id)),
        field("InstanceProfileId", &ids::stable_id("AIPA", &profile)),
    ];
    format!("{{\n{}\n}}", fields.join(",\n"))
}

/// `dynamic/instance-identity/document`.
pub(crate) fn identity_document(model: &WorldModel, ec2: &Ec2Model, booted_at: OffsetDateTime) -> String {
    let s = |v: &str| serde_json::Value::String(v.to_string()).to_string();
    let lines = [
        format!("  \"accountId\" : {}", s(&model.aws.account_id)),
        "  \"architecture\" : \"x86_64\"".to_string(),
        format!("  \"availabilityZone\" : {}", s(&ec2.availability_zone)),
        "  \"billingProducts\" : null".to_string(),
        "  \"devpayProductCodes\" : null".to_string(),
        "  \"marketplaceProductCodes\" : null".to_string(),
        format!("  \"imageId\" : {}", s(&ec2.ami_id)),
        format!("  \"instanceId\" : {}", s(&ec2.instance_id)),
        format!("  \"instanceType\" : {}", s(&ec2.instance_type)),
        "  \"kernelId\" : null".to_string(),
        format!("  \"pendingTime\" : {}", s(&iso8601(booted_at))),
        format!("  \"privateIp\" : {}", s(&ec2.private_ip)),
        "  \"ramdiskId\" : null".to_string(),
        format!("  \"region\" : {}", s(&model.aws.region)),
        "  \"version\" : \"2017-09-30\"".to_string(),
    ];
    format!("{{\n{}\n}}", lines.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_recognised() {
        assert!(is_version("latest") && is_version("1.0") && is_version("2021-03-23"));
        assert!(!is_version("v2") && !is_version("computeMetadata") && !is_version("2021-3-23"));
    }

    #[test]
    fn the_role_list_is_the_bare_role_name() {
        let w = crate::world::default_world();
        let ec2 = w.aws.ec2.as_ref().unwrap();
        match resolve(&w, ec2, "meta-data/iam/security-credentials/") {
            Node::Text(t) => assert_eq!(t, "embulk-gcp-access"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(resolve(&w, ec2, "meta-data/iam/security-credentials"), Node::Text(_)));
        assert!(matches!(resolve(&w, ec2, "meta-data/iam/security-credentials/other"), Node::Missing));
        assert!(matches!(resolve(&w, ec2, "meta-data/iam/security-credentialsx"), Node::Missing));
        assert!(matches!(resolve(&w, ec2, "meta-data/nope"), Node::Missing));
    }
}
