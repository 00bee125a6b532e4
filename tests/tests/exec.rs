//! `cloudid exec`: real SDKs at their usual entry points, with no endpoint settings at all, in
//! the namespaces cloudid makes — every platform preset, the seeds end to end, IPv6 IMDS, an
//! upstream with its signature checked, and a workload that cannot leave.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudid_mock::{JournalEntry, Verdict};
use cloudid_tests::{ClientRun, client_program, cloudid_binary, exec, python, run_client, tempdir, workspace_root};

const MINUTE: Duration = Duration::from_secs(60);

/// `cloudid exec -q -- sh -c SCRIPT` in the background (stdin closed), and the first line the
/// script printed.
fn exec_in_background(script: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(cloudid_binary())
        .args(["exec", "-q", "--", "sh", "-c", script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run cloudid");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the script's first line");
    (child, line)
}

/// Whether process `pid` exists and is not a zombie.
fn is_running(pid: u32) -> bool {
    let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    state.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).is_some_and(|s| s != "Z")
}

fn served(entries: &[JournalEntry], service: &str, operation: &str) -> JournalEntry {
    entries.iter().find(|e| e.service == service && e.operation == operation).cloned().unwrap_or_else(|| panic!("no {service}.{operation} in the journal: {entries:#?}"))
}

fn ok(run: &ClientRun) -> &serde_json::Value {
    assert_eq!(run.code, Some(0), "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    &run.result
}

const SEED_003_CRED_FILE: &str = "fixtures/compose/google-cred-config.json";

#[test]
fn google_auth_default_with_the_file_gcloud_writes_ends_with_an_impersonated_token_and_the_project_on_ec2() {
    let cred = workspace_root().join(SEED_003_CRED_FILE);
    let env = format!("GOOGLE_APPLICATION_CREDENTIALS={}", cred.display());
    let script = r#"
import json, google.auth, google.auth.transport.requests as r
creds, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
creds.refresh(r.Request())
print(json.dumps({"project": project, "account": creds.service_account_email, "token": creds.token[:5]}))
"#;
    let (run, journal) = exec(&["--as", "ec2", "--env", &env], &[&python(), "-c", script]);
    let result = ok(&run);
    assert_eq!(result["project"], "acme-data", "the project id comes from Cloud Resource Manager, as on a real machine");
    assert_eq!(result["account"], "embulk-aws-access@acme-data.iam.gserviceaccount.com");
    assert_eq!(result["token"], "ya29.");
    let exchange = served(&journal, "google_sts", "ExchangeToken");
    assert_eq!(exchange.host.as_deref(), Some("sts.googleapis.com"), "the credential file's real URL was used");
    let project = served(&journal, "cloud_resource_manager", "GetProject");
    assert_eq!((project.host.as_deref(), project.path.as_str(), project.verdict), (Some("cloudresourcemanager.googleapis.com"), "/v1/projects/314159265358", Verdict::Served));
    assert_eq!(served(&journal, "aws_imds", "GetCredentials").host.as_deref(), Some("169.254.169.254"));
    assert!(run.stderr.contains("cloudid exec:") && run.stderr.contains("cloud_resource_manager.GetProject"), "the summary lists the exchanges: {}", run.stderr);
}

#[test]
fn boto3_finds_its_credentials_with_no_settings_on_ec2_ecs_and_eks_pod_identity() {
    let script = r#"
import json, boto3
print(json.dumps({"arn": boto3.client("sts").get_caller_identity()["Arn"]}))
"#;
    for (platform, role, address) in [
        ("ec2", "assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890", "169.254.169.254"),
        ("ecs", "assumed-role/apprunner-bigquery-task/3f9a2b7c8d1e4f5a6b7c8d9e0f1a2b3c", "169.254.170.2"),
        ("eks-pod-identity", "assumed-role/apprunner-bigquery-task/eks-acme-eks-bigquery-", "169.254.170.23"),
    ] {
        let (run, journal) = exec(&["--as", platform], &[&python(), "-c", script]);
        let arn = ok(&run)["arn"].as_str().unwrap_or_default().to_string();
        assert!(arn.contains(role), "{platform}: {arn}");
        let credentials = journal.iter().find(|e| e.service == "aws_imds" || e.service == "aws_container").unwrap_or_else(|| panic!("{platform}: {journal:#?}"));
        assert_eq!(credentials.host.as_deref(), Some(address), "{platform}");
        assert_eq!(served(&journal, "aws_sts", "GetCallerIdentity").verdict, Verdict::Served);
    }
}

#[test]
fn an_ecs_task_reads_its_task_metadata_from_the_variable_ecs_sets() {
    let script = r#"
import json, os, urllib.request
task = json.load(urllib.request.urlopen(os.environ["ECS_CONTAINER_METADATA_URI_V4"] + "/task"))
print(json.dumps({"task": task["TaskARN"], "cluster": task["Cluster"], "zone": task["AvailabilityZone"], "region": os.environ["AWS_REGION"], "env": os.environ["AWS_EXECUTION_ENV"]}))
"#;
    let (run, _) = exec(&["--as", "ecs"], &[&python(), "-c", script]);
    let r = ok(&run);
    assert_eq!(r["task"], "arn:aws:ecs:ap-northeast-1:123456789012:task/default/3f9a2b7c8d1e4f5a6b7c8d9e0f1a2b3c");
    assert_eq!(r["cluster"], "arn:aws:ecs:ap-northeast-1:123456789012:cluster/default");
    assert_eq!((r["zone"].as_str(), r["region"].as_str(), r["env"].as_str()), (Some("ap-northeast-1a"), Some("ap-northeast-1"), Some("AWS_ECS_FARGATE")));
}

#[test]
fn imds_in_ipv6_mode_is_reached_at_fd00_ec2_254_by_boto3_and_the_js_sdk() {
    let script = r#"
import json, boto3
print(json.dumps({"arn": boto3.client("sts").get_caller_identity()["Arn"]}))
"#;
    let node = client_program("node/aws-sdk.mjs");
    for command in [vec![python(), "-c".into(), script.into()], vec!["node".into(), node.display().to_string()]] {
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let (run, journal) = exec(&["--as", "ec2", "--env", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6"], &command);
        ok(&run);
        let hosts: Vec<_> = journal.iter().filter(|e| e.service == "aws_imds").map(|e| e.host.clone().unwrap_or_default()).collect();
        assert!(!hosts.is_empty() && hosts.iter().all(|h| h == "[fd00:ec2::254]"), "{command:?}: {hosts:?}");
    }
}

#[test]
fn seed_002s_node_code_trades_ecs_task_credentials_for_a_google_token() {
    let program = client_program("node/aws-to-google.mjs");
    let (run, journal) = exec(
        &["--as", "ecs"],
        &[
            "node",
            program.to_str().expect("utf-8"),
            "//iam.googleapis.com/projects/314159265358/locations/global/workloadIdentityPools/your-pool/providers/your-provider",
            "https://sts.googleapis.com/v1/token",
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/bigquery-reader@acme-data.iam.gserviceaccount.com:generateAccessToken",
            "https://oauth2.googleapis.com/tokeninfo",
            "ap-northeast-1",
        ],
    );
    assert_eq!(ok(&run)["tokeninfo_email"], "bigquery-reader@acme-data.iam.gserviceaccount.com");
    assert_eq!(served(&journal, "aws_container", "GetCredentials").host.as_deref(), Some("169.254.170.2"));
    assert_eq!(served(&journal, "google_sts", "ExchangeToken").verdict, Verdict::Granted);
}

#[test]
fn seed_001_actions_core_gets_the_token_and_boto3_assumes_the_github_role_with_it() {
    let dir = tempdir();
    let token = dir.join("token");
    let writer = client_program("node/actions-token-file.mjs");
    let script = format!(
        "node {} sts.amazonaws.com {t} && {py} -c 'import json, boto3; print(json.dumps({{\"arn\": boto3.client(\"sts\").get_caller_identity()[\"Arn\"]}}))'",
        writer.display(),
        t = token.display(),
        py = python()
    );
    let role = "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/GitHubActionsECRRole".to_string();
    let file = format!("AWS_WEB_IDENTITY_TOKEN_FILE={}", token.display());
    let (run, journal) = exec(&["--as", "github-actions", "--env", &role, "--env", &file, "--env", "AWS_REGION=ap-northeast-1"], &["sh", "-c", &script]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok(&run)["arn"].as_str().is_some_and(|a| a.contains("assumed-role/GitHubActionsECRRole/")), "{}", run.stdout);
    assert_eq!(served(&journal, "github_oidc", "GetIdToken").host.as_deref(), Some("pipelinesghubeus1.actions.githubusercontent.com"));
    let sts = served(&journal, "aws_sts", "AssumeRoleWithWebIdentity");
    assert!(sts.host.as_deref().is_some_and(|h| h.starts_with("sts.") && h.ends_with(".amazonaws.com")), "botocore called a real STS host: {:?}", sts.host);
}

#[test]
fn actions_core_tokens_verify_against_the_real_jwks_url_under_github_actions() {
    let program = client_program("node/actions-oidc.mjs");
    let (run, _) = exec(&["--as", "github-actions"], &["node", program.to_str().expect("utf-8"), "sts.amazonaws.com", "https://token.actions.githubusercontent.com/.well-known/jwks"]);
    let r = ok(&run);
    assert_eq!(r["sub"], "repo:acme/ecs-express-mode-api:ref:refs/heads/main");
    assert_eq!(r["iss"], "https://token.actions.githubusercontent.com");
}

#[test]
fn google_clients_find_the_metadata_server_on_gce_cloud_run_and_a_cloud_run_job() {
    let compute = client_program("python-google-auth/compute.py");
    for platform in ["gce", "cloud-run", "cloud-run-job"] {
        let (run, journal) = exec(&["--as", platform], &[&python(), compute.to_str().expect("utf-8"), "https://reply-bot.example", "https://www.googleapis.com/oauth2/v1/certs"]);
        let r = ok(&run);
        assert_eq!(r["credentials"], "google.auth.compute_engine.credentials.Credentials", "{platform}");
        assert_eq!(r["project"], "acme-data", "{platform}: the project comes from the metadata server (no GOOGLE_CLOUD_PROJECT)");
        assert!(journal.iter().any(|e| e.service == "gcp_metadata" && e.host.as_deref().is_some_and(|h| h == "metadata.google.internal" || h == "169.254.169.254")), "{platform}");
    }
    let node = client_program("node/google-auth-library.mjs");
    let (run, _) = exec(&["--as", "cloud-run"], &["node", node.to_str().expect("utf-8"), "https://reply-bot.example"]);
    assert_eq!(ok(&run)["email"], "reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com");
}

#[test]
fn cloud_run_sets_its_variables_and_no_project_variable() {
    let script = r#"
import json, os
print(json.dumps({k: os.environ.get(k) for k in ["K_SERVICE", "K_REVISION", "K_CONFIGURATION", "CLOUD_RUN_JOB", "GOOGLE_CLOUD_PROJECT", "AWS_REGION"]}))
"#;
    let (run, _) = exec(&["--as", "cloud-run"], &[&python(), "-c", script]);
    let r = ok(&run);
    assert_eq!(r["K_SERVICE"], "reply-bot-cloudrun-staging");
    let region = "curl -s -H Metadata-Flavor:Google -w ' %{http_code}' http://metadata.google.internal/computeMetadata/v1/instance/region";
    let (run, _) = exec(&["--as", "cloud-run-job"], &["sh", "-c", region]);
    assert_eq!(run.stdout, "projects/314159265358/regions/asia-northeast1 200", "Cloud Run's metadata names its region");
    let (run, _) = exec(&["--as", "gce"], &["sh", "-c", region]);
    assert!(run.stdout.ends_with(" 404"), "Compute Engine's has none: {}", run.stdout);
    assert!(r["K_REVISION"].as_str().is_some_and(|v| v.starts_with("reply-bot-cloudrun-staging-")));
    assert_eq!((r["GOOGLE_CLOUD_PROJECT"].is_null(), r["CLOUD_RUN_JOB"].is_null(), r["AWS_REGION"].is_null()), (true, true, true));
}

#[test]
fn seed_000_a_cloud_run_jobs_id_token_assumes_the_aws_role() {
    let script = r#"
import json, boto3, google.auth.transport.requests as r
from google.oauth2 import id_token
token = id_token.fetch_id_token(r.Request(), "reply-bot.apps.googleusercontent.com")
sts = boto3.client("sts", region_name="ap-northeast-1")
out = sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/reply-bot-cloudrun-workload-identity-staging", RoleSessionName="reply-bot", WebIdentityToken=token)
print(json.dumps({"arn": out["AssumedRoleUser"]["Arn"]}))
"#;
    let (run, journal) = exec(&["--as", "cloud-run-job"], &[&python(), "-c", script]);
    assert!(ok(&run)["arn"].as_str().is_some_and(|a| a.ends_with("assumed-role/reply-bot-cloudrun-workload-identity-staging/reply-bot")), "{}", run.stdout);
    assert_eq!(served(&journal, "aws_sts", "AssumeRoleWithWebIdentity").verdict, Verdict::Granted);
}

#[test]
fn rust_aws_configs_default_chain_needs_no_settings() {
    let client = cloudid_tests::rust_client("rust-aws-config-client");
    let (run, _) = exec(&["--as", "ec2"], &[&client, "chain", "--sts"]);
    assert!(ok(&run)["caller"]["Arn"].as_str().is_some_and(|a| a.ends_with("assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890")), "{}", run.stdout);
}

#[test]
fn curl_reads_instance_metadata_at_the_real_address_with_an_imdsv2_token() {
    let script = "t=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) && curl -sf -H \"X-aws-ec2-metadata-token: $t\" http://169.254.169.254/latest/meta-data/instance-id";
    let (run, journal) = exec(&["--as", "ec2"], &["sh", "-c", script]);
    assert_eq!((run.code, run.stdout.trim()), (Some(0), "i-0a1b2c3d4e5f67890"), "{}", run.stderr);
    assert_eq!(journal.len(), 2);
}

#[test]
fn a_workload_cannot_reach_any_other_host_and_fails_at_once() {
    let script = "curl -sS -m 20 http://93.184.215.14/; echo \"ip=$?\"; curl -sS -m 20 https://example.com/; echo \"name=$?\"";
    let (run, journal) = exec(&["--as", "ec2"], &["sh", "-c", script]);
    assert!(run.stdout.contains("ip=7"), "a public address is unreachable at once (curl 7, not the timeout's 28): {}", run.stdout);
    assert!(run.stdout.contains("name=6"), "a name cloudid does not serve does not resolve (curl 6): {}", run.stdout);
    assert!(journal.is_empty(), "nothing reached cloudid either: {journal:#?}");
}

#[test]
fn the_workloads_exit_status_and_streams_pass_through() {
    let (run, _) = exec(&["-q"], &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(run.code, Some(7));
    assert_eq!(run.stdout, "out\n");
    assert_eq!(run.stderr, "err\n", "with -q cloudid adds nothing");
}

#[test]
fn the_shells_cloud_settings_and_the_users_cloud_files_stay_outside() {
    let home = tempdir();
    std::fs::create_dir_all(home.join(".aws")).expect("mkdir");
    std::fs::write(home.join(".aws/credentials"), "[default]\naws_access_key_id = AKIAREALUSERKEY00000\naws_secret_access_key = real\n").expect("write");
    let script = "ls -A ~/.aws; echo \"key=${AWS_ACCESS_KEY_ID:-none} proxy=${HTTPS_PROXY:-none}\"";
    let program = cloudid_binary();
    let output = std::process::Command::new(&program)
        .args(["exec", "-q", "--as", "ec2", "--", "sh", "-c", script])
        .env("HOME", &home)
        .env("AWS_ACCESS_KEY_ID", "AKIAREALUSERKEY00000")
        .env("HTTPS_PROXY", "http://proxy.example:3128")
        .output()
        .expect("run cloudid");
    let _ = std::fs::remove_dir_all(&home);
    assert_eq!(String::from_utf8_lossy(&output.stdout), "key=none proxy=none\n", "~/.aws is empty inside and the variables are gone");
}

#[test]
fn signals_reach_the_workload_and_what_it_leaves_running_dies_with_it() {
    let (mut child, line) = exec_in_background("trap 'exit 42' TERM; sleep 300 & echo $!; while :; do sleep 0.05; done");
    let sleeper: u32 = line.trim().parse().expect("a pid");
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(42), "SIGTERM to cloudid reached the workload, whose trap set the status");
    assert!(!is_running(sleeper), "the background sleep left in the namespace was killed");
}

#[test]
fn a_non_emulated_google_api_gets_proof_of_the_credentials_and_a_plain_refusal() {
    let script = r#"
import json, google.auth, google.auth.transport.requests as r
creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
s = r.AuthorizedSession(creds)
ok = s.get("https://bigquery.googleapis.com/bigquery/v2/projects/acme-data/datasets")
bare = r.requests.get("https://bigquery.googleapis.com/bigquery/v2/projects/acme-data/datasets")
print(json.dumps({"status": ok.status_code, "error": ok.json()["error"], "bare": bare.status_code}))
"#;
    let (run, journal) = exec(&["--as", "gce"], &[&python(), "-c", script]);
    let r = ok(&run);
    assert_eq!((r["status"].as_u64(), r["error"]["status"].as_str()), (Some(501), Some("UNIMPLEMENTED")));
    let message = r["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("does not emulate bigquery.googleapis.com") && message.contains("reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com"), "{message}");
    assert_eq!(r["bare"].as_u64(), Some(401), "without a token it is refused as Google refuses it");
    let calls: Vec<_> = journal.iter().filter(|e| e.service == "not_emulated").collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].principal.as_deref(), Some("reply-bot-cloudrun-staging@acme-data.iam.gserviceaccount.com"));
    assert_eq!(calls[1].verdict, Verdict::Denied);
}

/// A moto server on this machine's loopback (outside the namespace), stopped on drop.
struct Moto(std::process::Child, u16);

impl Moto {
    fn start() -> Self {
        let bin = std::path::Path::new(&python()).with_file_name("moto_server");
        assert!(bin.exists(), "moto_server is not beside {} (pip install 'moto[server]'; .ci/run installs it)", python());
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = std::process::Command::new(bin).args(["-p", &port.to_string()]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("start moto_server");
        let deadline = std::time::Instant::now() + MINUTE;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "moto_server did not listen within a minute");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self(child, port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dynamodb_calls_go_to_the_worlds_upstream_with_the_signature_checked_and_a_tampered_one_refused() {
    let moto = Moto::start();
    let dir = tempdir();
    let world = dir.join("world.yaml");
    let text = format!("{}\nupstreams:\n  - host: dynamodb.ap-northeast-1.amazonaws.com\n    url: http://127.0.0.1:{}\n", cloudid_mock::world::load::DEFAULT_WORLD_YAML, moto.1);
    std::fs::write(&world, text).expect("write world");
    let script = r#"
import json, boto3, botocore.exceptions
d = boto3.client("dynamodb", region_name="ap-northeast-1")
d.create_table(TableName="replies", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}], AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
d.put_item(TableName="replies", Item={"id": {"S": "1"}})
count = d.scan(TableName="replies")["Count"]
c = boto3.Session().get_credentials().get_frozen_credentials()
forged = boto3.client("dynamodb", region_name="ap-northeast-1", aws_access_key_id=c.access_key, aws_secret_access_key="not-the-secret", aws_session_token=c.token)
try:
    forged.scan(TableName="replies")
    refused = None
except botocore.exceptions.ClientError as e:
    refused = e.response["Error"]["Code"]
import os
sockets = os.listdir(os.path.join(os.path.dirname(os.environ["SSL_CERT_FILE"]), "sockets"))
print(json.dumps({"count": count, "refused": refused, "sockets": sockets}))
"#;
    let (run, journal) = exec(&["--world", world.to_str().expect("utf-8"), "--as", "ec2"], &[&python(), "-c", script]);
    let _ = std::fs::remove_dir_all(&dir);
    let r = ok(&run);
    assert_eq!(r["count"].as_u64(), Some(1), "the table lives in moto, reached through cloudid");
    assert_eq!(r["refused"], "InvalidSignatureException");
    assert_eq!(r["sockets"], serde_json::json!([]), "the relay's socket, an unsigned way to the upstream, is hidden from the workload");
    let forwarded: Vec<_> = journal.iter().filter(|e| e.operation == "Forwarded").collect();
    assert_eq!(forwarded.len(), 3, "{journal:#?}");
    assert!(forwarded.iter().all(|e| e.principal.as_deref() == Some("arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890")));
    let denied = journal.last().expect("the forged call");
    assert_eq!((denied.service.as_str(), denied.verdict), ("not_emulated", Verdict::Denied));
}

#[test]
fn without_user_namespaces_exec_says_why_and_names_the_proxy() {
    let script = format!("echo 0 > /proc/sys/user/max_user_namespaces && exec {} exec -- true", cloudid_binary());
    let output = std::process::Command::new("unshare").args(["-U", "--map-root-user", "sh", "-c", &script]).output().expect("run unshare");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("user namespaces are disabled (user.max_user_namespaces=0)"), "{stderr}");
    assert!(stderr.contains("cloudid serve --proxy") && stderr.contains("cloudid env --proxy"), "{stderr}");
}

#[test]
fn a_platform_the_world_lacks_is_refused_before_anything_runs() {
    let dir = tempdir();
    let world = dir.join("world.yaml");
    std::fs::write(&world, "aws:\n  account_id: \"123456789012\"\n  region: us-east-1\n").expect("write");
    let output =
        std::process::Command::new(cloudid_binary()).args(["exec", "--world", world.to_str().expect("utf-8"), "--as", "ecs", "--", "touch", "/nonexistent-should-not-run"]).output().expect("run");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot run as ecs: the world has no ECS task"), "{}", String::from_utf8_lossy(&output.stderr));
}

/// A `cloudid serve --proxy` on a free port, stopped on drop.
struct ProxyServer(std::process::Child, String);

impl ProxyServer {
    fn start() -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(cloudid_binary())
            .args(["serve", "--proxy", "--listen", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start cloudid serve --proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the ready line");
        let endpoint = line.trim().strip_prefix("cloudid listening on ").expect("cloudid listening on URL").to_string();
        Self(child, endpoint)
    }

    fn env(&self) -> BTreeMap<String, String> {
        let out = std::process::Command::new(cloudid_binary()).args(["env", "--proxy", "--format", "json", "--endpoint", &self.1]).output().expect("cloudid env --proxy");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("JSON")
    }
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_proxy_serves_boto3_and_google_auth_with_only_the_variables_env_proxy_prints() {
    let proxy = ProxyServer::start();
    let env = proxy.env();
    assert_eq!(env["HTTPS_PROXY"], proxy.1);
    let script = r#"
import json, boto3, google.auth, google.auth.transport.requests as r
arn = boto3.client("sts").get_caller_identity()["Arn"]
creds, project = google.auth.load_credentials_from_file(__import__("sys").argv[1], scopes=["https://www.googleapis.com/auth/cloud-platform"])
creds.refresh(r.Request())
print(json.dumps({"arn": arn, "account": creds.service_account_email}))
"#;
    let cred = workspace_root().join(SEED_003_CRED_FILE);
    let run = run_client(&python(), &["-c", script, cred.to_str().expect("utf-8")], &env, MINUTE);
    let r = ok(&run);
    assert!(r["arn"].as_str().is_some_and(|a| a.ends_with("assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890")), "{}", run.stdout);
    assert_eq!(r["account"], "embulk-aws-access@acme-data.iam.gserviceaccount.com");
}

#[test]
fn the_proxy_refuses_a_host_it_does_not_serve_and_forwards_nothing() {
    let proxy = ProxyServer::start();
    let env = proxy.env();
    let script = "curl -s -o /dev/null -w 'plain=%{http_code}\\n' http://example.com/; \
        curl -s -o /dev/null -w 'port=%{http_code}\\n' http://169.254.169.254:8080/latest/meta-data/; \
        curl -s -o /dev/null -w 'host-header=%{http_code}\\n' -H 'Host: dynamodb.us-east-1.amazonaws.com' -XPOST http://169.254.169.254/; \
        curl -sS https://example.com/ 2>&1; echo \"tls=$?\"";
    let run = run_client("sh", &["-c", script], &env, MINUTE);
    assert!(run.stdout.contains("plain=403"), "{}", run.stdout);
    assert!(run.stdout.contains("port=403"), "only port 80 of a metadata address is served: {}", run.stdout);
    assert!(run.stdout.contains("host-header=404"), "the URL's host decides, not a Host header (STS is not at the IMDS address): {}", run.stdout);
    assert!(run.stdout.contains("403") && run.stdout.contains("tls=56"), "the CONNECT was refused with 403 (curl 56): {}", run.stdout);
}

#[test]
fn the_workload_reaches_no_control_plane_and_each_real_host_serves_only_its_own_service() {
    let script = "curl -s -o /dev/null -w 'mint=%{http_code}\\n' -XPOST http://169.254.169.254/_cloudid/tokens/github -d '{}'; \
        curl -s -o /dev/null -w 'clock=%{http_code}\\n' -XPOST http://169.254.169.254/_cloudid/clock -d '{\"advance_seconds\":1}'; \
        curl -s -o /dev/null -w 'imds-at-sts=%{http_code}\\n' -XPUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' https://sts.amazonaws.com/latest/api/token; \
        curl -s -o /dev/null -w 'sts-at-imds=%{http_code}\\n' 'http://169.254.169.254/?Action=GetCallerIdentity&Version=2011-06-15'";
    let (run, journal) = exec(&["--as", "ec2"], &["sh", "-c", script]);
    for expected in ["mint=404", "clock=404", "imds-at-sts=404", "sts-at-imds=404"] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
    assert!(journal.iter().filter(|e| e.checks.iter().any(|c| c.name == "host.service")).count() == 2, "{journal:#?}");
}

#[test]
fn a_command_that_cannot_run_ends_as_a_shell_would_and_a_bad_journal_path_stops_before_it_runs() {
    let out = std::process::Command::new(cloudid_binary()).args(["exec", "-q", "--", "no-such-command-here"]).output().expect("run");
    assert_eq!(out.status.code(), Some(127), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new(cloudid_binary()).args(["exec", "-q", "--journal", "/nonexistent/j.jsonl", "--", "true"]).output().expect("run");
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("creating the journal file /nonexistent/j.jsonl"));
}

#[test]
fn the_overlays_are_read_only_and_github_actions_gets_its_step_files() {
    let script = "echo x >> /etc/hosts 2>/dev/null && echo hosts=written || echo hosts=read-only; echo FOO=1 >> \"$GITHUB_ENV\" && echo env=ok; test -d \"$RUNNER_TEMP\" && echo temp=ok; grep -q acme/ecs-express-mode-api \"$GITHUB_EVENT_PATH\" && echo event=ok";
    let (run, _) = exec(&["--as", "github-actions"], &["sh", "-c", script]);
    assert_eq!(run.stdout, "hosts=read-only\nenv=ok\ntemp=ok\nevent=ok\n", "{}", run.stderr);
}

#[test]
fn a_process_left_in_a_network_namespace_of_its_own_dies_with_the_workload_too() {
    let out = std::process::Command::new(cloudid_binary())
        .args(["exec", "-q", "--", "sh", "-c", "unshare -rn sleep 300 >/dev/null 2>&1 & echo $!; sleep 0.3"])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run cloudid");
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("the background pid");
    std::thread::sleep(Duration::from_millis(100));
    assert!(!is_running(pid), "the sleep in its own namespace was adopted and killed");
}

#[test]
fn java_trusts_cloudids_ca_through_the_jdks_own_trust_store() {
    let dir = tempdir();
    let source = dir.join("Fetch.java");
    std::fs::write(
        &source,
        "public class Fetch { public static void main(String[] a) throws Exception { var c = java.net.http.HttpClient.newHttpClient(); \
         var r = c.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(a[0])).build(), java.net.http.HttpResponse.BodyHandlers.ofString()); \
         System.out.println(\"{\\\"ok\\\": true, \\\"status\\\": \" + r.statusCode() + \"}\"); } }",
    )
    .expect("write the program");
    let (run, journal) = exec(&["--as", "gce"], &["java", source.to_str().expect("utf-8"), "https://www.googleapis.com/oauth2/v3/certs"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(ok(&run)["status"].as_u64(), Some(200), "{}", run.stderr);
    assert_eq!(served(&journal, "oidc_discovery", "GetJwks").host.as_deref(), Some("www.googleapis.com"));
}

#[test]
fn a_second_sigterm_kills_a_workload_that_ignores_the_first() {
    let (mut child, _ready) = exec_in_background("trap '' TERM; echo ready; while :; do sleep 0.05; done");
    let pid = child.id().to_string();
    let term = || std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    term();
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().expect("try_wait").is_none(), "the first SIGTERM was forwarded and ignored");
    term();
    assert_eq!(child.wait().expect("wait").code(), Some(137), "the second one killed it (128 + SIGKILL)");
}

#[test]
fn any_cloud_api_name_resolves_to_cloudid_through_the_dns_stub_and_other_names_fail_at_once() {
    let script = "getent hosts mybucket.s3.ap-northeast-1.amazonaws.com us-central1-aiplatform.googleapis.com | wc -l; getent hosts example.com; echo \"other=$?\"";
    let (run, _) = exec(&["--as", "ec2"], &["sh", "-c", script]);
    assert_eq!(run.stdout, "2\nother=2\n", "{}", run.stderr);
    let script = r#"
import json, boto3, botocore.exceptions
try:
    boto3.client("s3", region_name="ap-northeast-1").list_objects_v2(Bucket="mybucket")
    print(json.dumps({"code": None}))
except botocore.exceptions.ClientError as e:
    print(json.dumps({"code": e.response["Error"]["Code"], "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}))
"#;
    let (run, journal) = exec(&["--as", "ec2"], &[&python(), "-c", script]);
    assert_eq!((run.result["code"].as_str(), run.result["status"].as_u64()), (Some("NotImplemented"), Some(501)), "{}", run.stdout);
    let call = journal.iter().find(|e| e.service == "not_emulated").expect("the S3 call");
    assert_eq!(call.host.as_deref(), Some("mybucket.s3.ap-northeast-1.amazonaws.com"));
    assert!(call.checks.iter().any(|c| c.name == "sigv4.signature" && c.detail.as_deref().is_some_and(|d| d.contains("for s3 in ap-northeast-1"))), "{call:#?}");
}

#[test]
fn an_unprivileged_user_gets_the_same_namespaces_and_keeps_its_user() {
    let as_nobody: &[&str] = if running_as_root() { &["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", "HOME=/tmp"] } else { &[] };
    run_unprivileged_check(&cloudid_binary(), as_nobody);
}

fn running_as_root() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `cloudid exec` as the user `prefix` makes (nobody, when the tests run as root): the workload
/// keeps that user, reaches IMDS with a token, and sees no relay socket.
fn run_unprivileged_check(cloudid: &str, prefix: &[&str]) {
    let script = "id -u; t=$(curl -sf -XPUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token) && curl -sf -H \"X-aws-ec2-metadata-token: $t\" http://169.254.169.254/latest/meta-data/instance-id; echo";
    let mut argv: Vec<&str> = prefix.to_vec();
    argv.extend([cloudid, "exec", "-q", "--as", "ec2", "--", "sh", "-c", script]);
    let out = std::process::Command::new(argv[0]).args(&argv[1..]).current_dir("/tmp").env("TMPDIR", "/tmp").output().expect("run cloudid exec");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let expected_uid = if prefix.is_empty() { String::from_utf8_lossy(&std::process::Command::new("id").arg("-u").output().expect("id").stdout).trim().to_string() } else { "65534".into() };
    assert_eq!(stdout, format!("{expected_uid}\ni-0a1b2c3d4e5f67890\n"), "the workload keeps its user and finds IMDS");
}

#[test]
fn the_workload_dies_with_cloudid_even_when_cloudid_is_killed_outright() {
    let (mut child, line) = exec_in_background("echo $$; exec sleep 300");
    let workload: u32 = line.trim().parse().expect("a pid");
    child.kill().expect("SIGKILL cloudid");
    child.wait().expect("wait");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{workload}/stat")).unwrap_or_default();
        let alive = state.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).is_some_and(|s| s != "Z");
        if !alive {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the workload outlived a SIGKILL of cloudid: {state}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn root_keeps_every_user_id_inside_and_others_only_their_own() {
    let script = "setpriv --reuid=65534 --regid=65534 --clear-groups id -u 2>/dev/null || echo refused";
    let (run, _) = exec(&["-q"], &["sh", "-c", script]);
    let expected = if running_as_root() { "65534\n" } else { "refused\n" };
    assert_eq!(run.stdout, expected, "{}", run.stderr);
}

#[test]
fn a_grpc_client_gets_its_credentials_checked_and_a_grpc_status_over_http2() {
    let script = r#"
import json, grpc, google.auth, google.auth.transport.requests as r
creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
creds.refresh(r.Request())
out = {}
for name, channel_creds in [("with_token", grpc.composite_channel_credentials(grpc.ssl_channel_credentials(), grpc.access_token_call_credentials(creds.token))), ("bare", grpc.ssl_channel_credentials())]:
    try:
        grpc.secure_channel("pubsub.googleapis.com:443", channel_creds).unary_unary("/google.pubsub.v1.Publisher/ListTopics")(b"", timeout=20)
    except grpc.RpcError as e:
        out[name] = [e.code().name, e.details()]
print(json.dumps(out))
"#;
    let (run, journal) = exec(&["--as", "gce"], &[&python(), "-c", script]);
    let r = &run.result;
    assert_eq!(r["with_token"][0], "UNIMPLEMENTED", "{}", run.stdout);
    assert!(r["with_token"][1].as_str().is_some_and(|m| m.contains("does not emulate pubsub.googleapis.com") && m.contains("reply-bot-cloudrun-staging@")), "{r}");
    assert_eq!(r["bare"][0], "UNAUTHENTICATED", "no token, refused as Google refuses it");
    assert_eq!(journal.iter().filter(|e| e.service == "not_emulated" && e.path == "/google.pubsub.v1.Publisher/ListTopics").count(), 2);
}

#[test]
fn boto3_on_an_eks_irsa_pod_assumes_the_service_accounts_role_with_the_projected_token() {
    let script = r#"
import json, os, boto3
print(json.dumps({"arn": boto3.client("sts").get_caller_identity()["Arn"], "role": os.environ.get("AWS_ROLE_ARN"), "file": os.environ["AWS_WEB_IDENTITY_TOKEN_FILE"]}))
"#;
    let (run, journal) = exec(&["--as", "eks-irsa"], &[&python(), "-c", script]);
    let out = ok(&run);
    assert!(out["arn"].as_str().unwrap().starts_with("arn:aws:sts::123456789012:assumed-role/EksEcrPushRole/"), "{out}");
    assert_eq!(out["role"], "arn:aws:iam::123456789012:role/EksEcrPushRole");
    let assumed = served(&journal, "aws_sts", "AssumeRoleWithWebIdentity");
    assert_eq!(assumed.verdict, Verdict::Granted);
    assert_eq!(assumed.host.as_deref(), Some("sts.ap-northeast-1.amazonaws.com"), "AWS_STS_REGIONAL_ENDPOINTS=regional");
    assert!(assumed.checks.iter().any(|c| c.name == "jwt.provider" && c.detail.as_deref().is_some_and(|d| d.contains("oidc-provider/oidc.eks.ap-northeast-1.amazonaws.com/id/"))), "{assumed:#?}");

    let (run, journal) = exec(&["--as", "eks-irsa", "--service-account", "ci/other", "--env", "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/EksEcrPushRole"], &[&python(), "-c", script]);
    assert_ne!(run.code, Some(0), "another service account's token is refused by the trust policy");
    assert_eq!(served(&journal, "aws_sts", "AssumeRoleWithWebIdentity").verdict, Verdict::Denied);
}

#[test]
fn google_auth_on_a_gke_pod_gets_its_linked_service_account_and_a_clear_refusal_when_unbound() {
    let script = r#"
import json, google.auth, google.auth.transport.requests as r
c, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
c.refresh(r.Request())
print(json.dumps({"project": project, "email": c.service_account_email}))
"#;
    let (run, journal) = exec(&["--as", "gke", "--service-account", "analytics/bigquery"], &[&python(), "-c", script]);
    let out = ok(&run);
    assert_eq!(out["project"], "acme-data");
    assert_eq!(out["email"], "bigquery-reader@acme-data.iam.gserviceaccount.com");
    assert_eq!(served(&journal, "gcp_metadata", "GetAccessToken").host.as_deref(), Some("metadata.google.internal"));

    let (run, journal) = exec(&["--as", "gke", "--service-account", "analytics/unbound"], &[&python(), "-c", script]);
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("IAM returned 403 Forbidden"), "{}", run.stderr);
    assert_eq!(served(&journal, "gcp_metadata", "GetAccessToken").verdict, Verdict::Denied);
}
