//! Containers: the scratch image and the compose environment at the real addresses. An
//! unmodified aws-config workload in its own container, with no endpoint settings at all, gets
//! instance credentials from 169.254.169.254 and calls STS at https://sts.ap-northeast-1.amazonaws.com;
//! an unmodified google-cloud-auth workload, configured only by the credential file gcloud writes,
//! trades the instance role for a Google access token at https://sts.googleapis.com and
//! https://iamcredentials.googleapis.com (seed 003); the journal shows both flows. Skipped, with a message saying why, only where no container engine
//! answers (`.ci/run` starts podman's Docker API service).

use std::path::PathBuf;
use std::process::Command;

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).output().expect("docker CLI")
}

fn engine() -> Result<(), String> {
    let out = Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]).output().map_err(|e| format!("no docker CLI: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

/// True (and says so) where no container engine answers, so the test is skipped, not failed.
fn no_engine() -> bool {
    engine().inspect_err(|why| eprintln!("SKIPPED: no container engine answers ({why}); .ci/run starts podman's Docker API service")).is_err()
}

/// `service.operation status` for each journal entry, oldest first.
fn journal_ops(journal: &serde_json::Value) -> Vec<String> {
    journal["entries"].as_array().unwrap().iter().map(|e| format!("{}.{} {}", e["service"].as_str().unwrap(), e["operation"].as_str().unwrap(), e["status"])).collect()
}

/// The static binaries (`CLOUDID_STATIC_BIN_DIR`, else built here).
fn static_bins() -> PathBuf {
    if let Ok(dir) = std::env::var("CLOUDID_STATIC_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let root = cloudid_tests::workspace_root();
    let status = Command::new("cargo")
        .current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args(["build", "--release", "--target", "x86_64-unknown-linux-gnu", "-p", "cloudid-mock", "--bin", "cloudid", "-p", "cloudid-rust-clients", "--bins"])
        .status()
        .expect("cargo");
    assert!(status.success(), "static build failed");
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    target.join("x86_64-unknown-linux-gnu/release")
}

fn build_image(tag: &str, containerfile: &str, files: &[PathBuf]) {
    let ctx = tempfile::tempdir().unwrap();
    for f in files {
        std::fs::copy(f, ctx.path().join(f.file_name().unwrap())).unwrap();
    }
    let file = cloudid_tests::workspace_root().join("fixtures/compose").join(containerfile);
    let out = docker(&["build", "-q", "-t", tag, "-f", file.to_str().unwrap(), ctx.path().to_str().unwrap()]);
    assert!(out.status.success(), "docker build {tag}: {}", String::from_utf8_lossy(&out.stderr));
}

struct Compose {
    project: String,
    file: PathBuf,
}

impl Compose {
    fn run(&self, args: &[&str], port: u16) -> std::process::Output {
        Command::new("docker-compose").env("CLOUDID_HOST_PORT", port.to_string()).args(["-p", &self.project, "-f", self.file.to_str().unwrap()]).args(args).output().expect("docker-compose")
    }
}

impl Compose {
    /// Waits for `service` to exit 0 and gives its JSON result line.
    fn workload(&self, service: &str) -> serde_json::Value {
        let container = format!("{}_{service}_1", self.project);
        let waited = docker(&["wait", &container]);
        let logs = String::from_utf8_lossy(&docker(&["logs", &container]).stdout).to_string();
        assert_eq!(String::from_utf8_lossy(&waited.stdout).trim(), "0", "{service} exits 0: {logs}");
        let result: serde_json::Value = serde_json::from_str(logs.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("null")).unwrap();
        assert_eq!(result["ok"], true, "{logs}");
        result
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.run(&["down", "-v"], 0);
    }
}

#[test]
fn unmodified_aws_and_google_workloads_find_imds_sts_and_google_at_their_real_addresses() {
    if no_engine() {
        return;
    }
    let _alone = cloudid_tests::link_local_exclusive();
    let bins = static_bins();
    let compose_dir = cloudid_tests::workspace_root().join("fixtures/compose");
    build_image("localhost/cloudid:dev", "Containerfile", &[bins.join("cloudid")]);
    build_image("localhost/cloudid-aws-workload:dev", "Containerfile.workload", &[bins.join("rust-aws-config-client")]);
    build_image("localhost/cloudid-google-workload:dev", "Containerfile.google-workload", &[bins.join("rust-google-auth-client"), compose_dir.join("google-cred-config.json")]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let compose = Compose { project: format!("cloudidtest{}", std::process::id()), file: compose_dir.join("compose.yml") };
    let _ = compose.run(&["down", "-v"], port);

    // One `up` for everything: a second compose invocation fails on podman 4.3 with compose v1
    // ("Network … needs to be recreated - IPAM option \"driver\" has changed").
    let up = compose.run(&["up", "-d"], port);
    assert!(up.status.success(), "compose up: {}", String::from_utf8_lossy(&up.stderr));
    let aws = compose.workload("aws-workload");
    assert_eq!(aws["caller"]["Arn"], "arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890");
    let google = compose.workload("google-workload");
    assert_eq!(google["tokeninfo_email"], "embulk-aws-access@acme-data.iam.gserviceaccount.com", "{google}");

    // The two workloads ran side by side: their IMDS calls interleave, the rest keeps each flow's order.
    let mut ops = journal_ops(&control_journal(port));
    let beyond_imds: Vec<&str> = ops.iter().map(String::as_str).filter(|o| !o.starts_with("aws_imds.")).collect();
    assert_eq!(beyond_imds.iter().filter(|o| o.starts_with("aws_sts.")).collect::<Vec<_>>(), [&"aws_sts.GetCallerIdentity 200"]);
    assert_eq!(
        beyond_imds.iter().filter(|o| !o.starts_with("aws_sts.")).collect::<Vec<_>>(),
        [&"google_sts.ExchangeToken 200", &"iam_credentials.GenerateAccessToken 200", &"google_oauth2.TokenInfo 200"]
    );
    ops.sort();
    let mut expected = vec![
        // aws-config: IMDSv2 token, role name, role credentials; then STS.
        "aws_imds.PutToken 200",
        "aws_imds.GetCredentials 200",
        "aws_imds.GetCredentials 200",
        "aws_sts.GetCallerIdentity 200",
        // google-cloud-auth: IMDSv2 token, region, role name, role credentials; then Google.
        "aws_imds.PutToken 200",
        "aws_imds.GetMetadata 200",
        "aws_imds.GetCredentials 200",
        "aws_imds.GetCredentials 200",
        "google_sts.ExchangeToken 200",
        "iam_credentials.GenerateAccessToken 200",
        "google_oauth2.TokenInfo 200",
    ];
    expected.sort();
    assert_eq!(ops, expected);
}

/// The journal through the compose environment's published control port.
fn control_journal(port: u16) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the published control port");
    s.write_all(b"GET /_cloudid/journal HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("journal: {e}: {raw}"))
}

#[test]
fn the_bundled_google_credential_file_is_what_create_cred_config_writes_for_the_real_hosts() {
    use cloudid_mock::cred_config::{Hosts, Source, build_for};
    let committed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(cloudid_tests::workspace_root().join("fixtures/compose/google-cred-config.json")).unwrap()).unwrap();
    let made = build_for(
        "projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool/providers/embulk-aws-access-provider",
        Some("embulk-aws-access@acme-data.iam.gserviceaccount.com"),
        &Source::Aws { imdsv2: true },
        Hosts::Real,
    )
    .unwrap();
    assert_eq!(committed, made);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_testcontainers_cloudid_gives_aws_config_instance_credentials_in_its_world() {
    use aws_credential_types::provider::ProvideCredentials;
    use cloudid_mock::container::{CloudIdContainer, IMAGE, TAG};
    if no_engine() {
        return;
    }
    let bins = tokio::task::spawn_blocking(static_bins).await.unwrap();
    build_image(&format!("{IMAGE}:{TAG}"), "Containerfile", &[bins.join("cloudid")]);
    let world = cloudid_mock::world::load::DEFAULT_WORLD_YAML.replace("ap-northeast-1", "eu-west-1");
    let cloud = CloudIdContainer::default().with_world(world).expect("the world loads").start().await.expect("the container starts");
    let env = cloud.env();
    assert_eq!(env["AWS_REGION"], "eu-west-1");

    let conf = aws_config::provider_config::ProviderConfig::default().with_http_client(cloudid_tests::aws_http_client());
    let imds = aws_config::imds::Client::builder().configure(&conf).endpoint(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"].as_str()).expect("endpoint").build();
    let region = imds.get("/latest/meta-data/placement/region").await.expect("aws-config reads the region");
    assert_eq!(region.as_ref(), "eu-west-1", "the container serves the world it was given");
    let creds = aws_config::imds::credentials::ImdsCredentialsProvider::builder().configure(&conf).imds_client(imds).build().provide_credentials().await.expect("aws-config gets instance credentials");
    assert!(creds.access_key_id().starts_with("ASIA"), "{}", creds.access_key_id());

    let journal: serde_json::Value = reqwest::get(format!("{}/_cloudid/journal", cloud.endpoint())).await.unwrap().json().await.unwrap();
    let ops = journal_ops(&journal);
    assert!(ops.iter().any(|o| o == "aws_imds.GetCredentials 200"), "{ops:?}");
}

#[test]
fn a_broken_world_fails_before_any_container_starts() {
    let err = cloudid_mock::container::CloudIdContainer::default().with_world("aws:\n  regoin: x\n").unwrap_err();
    assert!(err.to_string().contains("world.yaml:2"), "{err}");
}

#[test]
fn a_world_file_that_cannot_be_read_is_named_before_any_container_starts() {
    let err = cloudid_mock::container::CloudIdContainer::default().with_world_file("/nonexistent/world.yaml").unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/world.yaml"), "{err}");
    assert!(err.to_string().contains("cannot read world file"), "{err}");
}
