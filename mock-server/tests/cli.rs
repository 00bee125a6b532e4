//! The `cloudid` command as users run it: serve, env, and refusing a broken world file.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_cloudid");

struct Served {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0"]).args(args).env_remove("CLOUDID_WORLD").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("cloudid runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let endpoint = line.trim().strip_prefix("cloudid listening on ").unwrap_or_else(|| panic!("unexpected first line: {line:?}")).to_string();
    Served { child, endpoint }
}

#[test]
fn serve_prints_one_ready_line_and_env_points_at_it() {
    let served = serve(&[]);
    assert!(served.endpoint.starts_with("http://127.0.0.1:"), "{}", served.endpoint);
    let out = Command::new(BIN).args(["env", "--endpoint", &served.endpoint, "--format", "dotenv"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("AWS_EC2_METADATA_SERVICE_ENDPOINT={}/\n", served.endpoint)), "{text}");
    assert!(text.contains(&format!("AWS_CONTAINER_CREDENTIALS_FULL_URI={}/v1/credentials\n", served.endpoint)), "{text}");
    assert!(text.contains("AWS_REGION=ap-northeast-1\n"));
    assert!(text.contains(&format!("AWS_ENDPOINT_URL_STS={}/\n", served.endpoint)), "{text}");
    let sh = Command::new(BIN).args(["env"]).env("CLOUDID_ENDPOINT", &served.endpoint).output().unwrap();
    let sh = String::from_utf8(sh.stdout).unwrap();
    assert!(sh.lines().all(|l| l.starts_with("export ")), "{sh}");
    let json = Command::new(BIN).args(["env", "--endpoint", &served.endpoint, "--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["AWS_DEFAULT_REGION"], "ap-northeast-1");
}

#[test]
fn env_says_plainly_when_no_server_is_running() {
    let out = Command::new(BIN).args(["env", "--endpoint", "http://127.0.0.1:9"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("cloudid env: cannot reach cloudid at http://127.0.0.1:9"), "{err}");
    assert!(err.contains("is `cloudid serve` running?"), "{err}");
}

#[test]
fn a_broken_world_file_is_refused_naming_file_line_and_field() {
    let dir = std::env::temp_dir().join(format!("cloudid-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("world.yaml");
    std::fs::write(&file, "aws:\n  account_id: \"123456789012\"\n  region: us-east-1\n  roles:\n    - name: r\n      max_sesion_duration: 7200\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0", "--world"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing is served from a broken world");
    let err = String::from_utf8(out.stderr).unwrap();
    let expected_prefix = format!("cloudid serve: invalid world: {}:6:7: field `aws.roles[0].max_sesion_duration`: unknown field `max_sesion_duration`", file.display());
    assert!(err.starts_with(&expected_prefix), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_custom_world_file_is_served() {
    let dir = std::env::temp_dir().join(format!("cloudid-cli-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("world.yaml");
    std::fs::write(
        &file,
        "aws:\n  account_id: \"210987654321\"\n  region: eu-west-1\n  roles:\n    - name: worker\n  ec2:\n    instance_id: i-0123456789abcdef0\n    availability_zone: eu-west-1b\n    http_tokens: optional\n    instance_profile:\n      role: worker\n",
    )
    .unwrap();
    let served = serve(&["--world", file.to_str().unwrap()]);
    let out = Command::new(BIN).args(["env", "--endpoint", &served.endpoint, "--format", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["AWS_REGION"], "eu-west-1");
    assert!(v.get("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_none(), "this world has no containers");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut served = serve(&[]);
    let pid = served.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = served.child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");
}

#[test]
fn create_cred_config_writes_an_external_account_file_like_gcloud() {
    let dir = std::env::temp_dir().join(format!("cloudid-ccc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("cred.json");
    let status = Command::new(BIN)
        .args([
            "create-cred-config",
            "projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool/providers/embulk-aws-access-provider",
            "--service-account=embulk-aws-access@acme-data.iam.gserviceaccount.com",
            "--aws",
            "--enable-imdsv2",
            "--endpoint",
            "http://127.0.0.1:8133",
            "--output-file",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["type"], "external_account");
    assert_eq!(doc["subject_token_type"], "urn:ietf:params:aws:token-type:aws4_request");
    assert_eq!(doc["credential_source"]["environment_id"], "aws1");
    assert_eq!(doc["credential_source"]["imdsv2_session_token_url"], "http://127.0.0.1:8133/latest/api/token");
    let bad = Command::new(BIN).args(["create-cred-config", "projects/1/pools/x", "--aws", "--output-file"]).arg(&out).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let none = Command::new(BIN).args(["create-cred-config", "projects/1/locations/global/workloadIdentityPools/p/providers/x", "--output-file"]).arg(&out).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn create_cred_config_flags_can_come_from_cloudid_environment_variables() {
    let dir = std::env::temp_dir().join(format!("cloudid-ccc-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("cred.json");
    let status = Command::new(BIN)
        .args(["create-cred-config", "projects/314159265358/locations/global/workloadIdentityPools/embulk-aws-access-pool/providers/embulk-aws-access-provider"])
        .env("CLOUDID_SERVICE_ACCOUNT", "embulk-aws-access@acme-data.iam.gserviceaccount.com")
        .env("CLOUDID_AWS", "true")
        .env("CLOUDID_ENABLE_IMDSV2", "true")
        .env("CLOUDID_REAL_HOSTS", "true")
        .env("CLOUDID_OUTPUT_FILE", &out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(doc["token_url"], "https://sts.googleapis.com/v1/token");
    assert_eq!(doc["credential_source"]["imdsv2_session_token_url"], "http://169.254.169.254/latest/api/token");
    assert_eq!(doc["service_account_impersonation_url"], "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/embulk-aws-access@acme-data.iam.gserviceaccount.com:generateAccessToken");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn health_answers_for_a_running_server_and_fails_without_one() {
    let served = serve(&[]);
    let ok = Command::new(BIN).args(["health", "--endpoint", &served.endpoint]).status().unwrap();
    assert!(ok.success());
    let down = Command::new(BIN).args(["health", "--endpoint", "http://127.0.0.1:9"]).output().unwrap();
    assert!(!down.status.success());
}

/// Starts `cloudid serve ARGS` with `env`, waits for the ready line, asks for `path`, stops it,
/// and returns everything it wrote to stderr.
fn stderr_of_a_run(args: &[&str], env: &[(&str, &str)], path: &str) -> String {
    use std::io::{Read, Write};
    let mut child = Command::new(BIN).arg("serve").args(args).env_remove("CLOUDID_WORLD").envs(env.iter().copied()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().replace("0.0.0.0", "127.0.0.1");
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let _ = s.read_to_end(&mut Vec::new());
    let _ = child.kill();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let _ = child.wait();
    err
}

#[test]
fn serve_refuses_a_world_that_is_not_a_regular_file_at_once() {
    let started = std::time::Instant::now();
    let out = Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0", "--world", "/dev/zero"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/dev/zero: a world file must be a regular file"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn serve_warns_when_it_listens_beyond_loopback() {
    let err = stderr_of_a_run(&["--listen", "0.0.0.0:0"], &[], "/_cloudid/health");
    assert!(err.contains("beyond this machine's loopback"), "{err}");
    assert!(err.contains("consider --control-token"), "{err}");
    let quiet = stderr_of_a_run(&["--listen", "127.0.0.1:0"], &[], "/_cloudid/health");
    assert!(!quiet.contains("beyond"), "{quiet}");
}

#[test]
fn cloudid_log_levels_show_requests_at_debug_and_checks_at_trace() {
    let trace = stderr_of_a_run(&["--listen", "127.0.0.1:0"], &[("CLOUDID_LOG", "trace")], "/latest/meta-data/");
    assert!(trace.contains("GET /latest/meta-data/ -> "), "{trace}");
    assert!(trace.contains("check imds."), "{trace}");
    let debug = stderr_of_a_run(&["--listen", "127.0.0.1:0"], &[("CLOUDID_LOG", "debug")], "/latest/meta-data/");
    assert!(debug.contains("GET /latest/meta-data/ -> ") && !debug.contains("check imds."), "{debug}");
    let warn = stderr_of_a_run(&["--listen", "127.0.0.1:0"], &[], "/latest/meta-data/");
    assert!(!warn.contains("GET /latest/meta-data/"), "{warn}");
    let bad = Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0"]).env("CLOUDID_LOG", "loud=,=").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8(bad.stderr).unwrap().contains("CLOUDID_LOG="));
}

#[test]
fn cloudid_env_sends_the_control_token_it_is_given() {
    let mut child = Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0", "--control-token", "t0ken"]).env_remove("CLOUDID_WORLD").stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let endpoint = line.trim().strip_prefix("cloudid listening on ").unwrap().to_string();
    let without = Command::new(BIN).args(["env", "--endpoint", &endpoint]).env_remove("CLOUDID_CONTROL_TOKEN").output().unwrap();
    let with = Command::new(BIN).args(["env", "--endpoint", &endpoint]).env("CLOUDID_CONTROL_TOKEN", "t0ken").output().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(!without.status.success(), "refused without the token");
    assert!(with.status.success(), "{}", String::from_utf8_lossy(&with.stderr));
    assert!(String::from_utf8(with.stdout).unwrap().contains("AWS_REGION"));
}
