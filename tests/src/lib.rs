//! Shared helpers for the workspace tests: a server on a fixed clock, an HTTP client, and a way
//! to run real client programs from `fixtures/clients/` with nothing but the server's environment.

pub mod sts;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use cloudid_mock::{Clock, CloudId};

/// The instant fixed-clock tests run at.
pub const FIXED_NOW: &str = "2026-11-30T12:00:00Z";

/// A server with the default world and a clock frozen at [`FIXED_NOW`], so bodies are stable.
pub async fn fixed_cloud() -> CloudId {
    CloudId::builder().clock(fixed_clock()).start().await
}

/// A clock frozen at [`FIXED_NOW`].
pub fn fixed_clock() -> Clock {
    Clock::frozen_at(cloudid_mock::clock::parse_rfc3339(FIXED_NOW).expect("valid instant"))
}

pub use cloudid_rust_clients::aws_http_client;

/// The path of the Rust client program `name` (`rust-aws-config-client`,
/// `rust-google-auth-client`, `rust-jwt-verifier`, from `fixtures/clients/rust`), built in this test binary's profile;
/// built now if it is not there yet.
pub fn rust_client(name: &str) -> String {
    let exe = std::env::current_exe().expect("own path");
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
    let path = profile_dir.join(name);
    if !path.exists() {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cargo.args(["build", "-q", "-p", "cloudid-rust-clients", "--bins"]).current_dir(workspace_root());
        if release {
            cargo.arg("--release");
        }
        let ok = cargo.status().is_ok_and(|s| s.success());
        assert!(ok && path.exists(), "cannot build {name}: run `cargo build -p cloudid-rust-clients`");
    }
    path.display().to_string()
}

/// The Go client program `name` (`aws-sdk-v2`, `oauth2-google`, from `fixtures/clients/go`),
/// built now (Go's build cache makes it quick) into `target/go/` in GOPATH mode against Debian's
/// packaged SDKs under `/usr/share/gocode`, where `scripts/setup-clients` builds it too.
pub fn go_client(name: &str) -> String {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let root = workspace_root();
    let path = root.join("target/go").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        let status = Command::new("go")
            .args(["build", "-o"])
            .arg(&path)
            .arg(format!("./fixtures/clients/go/{name}"))
            .env("GO111MODULE", "off")
            .env("GOPATH", "/usr/share/gocode")
            .env("GOCACHE", root.join("target/go/cache"))
            .current_dir(&root)
            .status();
        assert!(status.is_ok_and(|s| s.success()), "cannot build the Go client {name}: install golang-go and Debian's Go SDK packages (scripts/setup-clients names them)");
        built.push(name.to_string());
    }
    path.display().to_string()
}

/// The seeds' own configuration files as `cloudid world import` takes them (a policy JSON as
/// `EMAIL=FILE`), relative to the workspace: Terraform (000), `aws iam` output (000, 001),
/// `gcloud` output (002, 003).
pub const SEED_CONFIG_FILES: &[&str] = &[
    "fixtures/configs/seed-000-terraform/plan.json",
    "fixtures/configs/seed-000-terraform/get-open-id-connect-provider.json",
    "fixtures/configs/seed-001/get-role.json",
    "fixtures/configs/seed-001/get-open-id-connect-provider.json",
    "fixtures/configs/seed-002-gcloud/provider.json",
    "bigquery-reader@acme-data.iam.gserviceaccount.com=fixtures/configs/seed-002-gcloud/policy.json",
    "fixtures/configs/seed-003-console/provider.json",
    "embulk-aws-access@acme-data.iam.gserviceaccount.com=fixtures/configs/seed-003-console/policy.json",
];

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A client program under `fixtures/clients/`.
pub fn client_program(relative: &str) -> PathBuf {
    workspace_root().join("fixtures/clients").join(relative)
}

/// The Python interpreter the client fixtures run under (`CLOUDID_PYTHON`, else `python3`).
pub fn python() -> String {
    std::env::var("CLOUDID_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// What a client fixture printed: its one JSON line, parsed.
#[derive(Debug)]
pub struct ClientRun {
    /// Exit status code (`None` if killed).
    pub code: Option<i32>,
    /// The parsed JSON result line (the last line of stdout).
    pub result: serde_json::Value,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Everything it wrote to stdout.
    pub stdout: String,
}

/// Shared by every test that runs real clients, held exclusively by the compose test. The compose
/// environment serves the real link-local addresses (169.254.169.254, 169.254.170.2, …) on this
/// host while it runs, and a client told of no metadata server falls back to exactly those, so
/// a negative test (a world without a default account) would reach the compose server instead.
static LINK_LOCAL: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A guard to hold while a test runs real clients (several may run at once).
pub fn clients_may_run() -> std::sync::RwLockReadGuard<'static, ()> {
    LINK_LOCAL.read().unwrap_or_else(|e| e.into_inner())
}

/// A guard to hold while the compose environment serves the link-local addresses (no client
/// test runs meanwhile).
pub fn link_local_exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    LINK_LOCAL.write().unwrap_or_else(|e| e.into_inner())
}

/// Runs `program args…` with a clean environment: only `PATH`, a throwaway `HOME`, AWS config
/// files pointed at `/dev/null`, and `env`. Kills it after `timeout`.
pub fn run_client(program: &str, args: &[&str], env: &BTreeMap<String, String>, timeout: Duration) -> ClientRun {
    let _clients = clients_may_run();
    let home = tempfile_dir();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .envs(env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for keep in ["PYTHONPATH", "VIRTUAL_ENV", "PYENV_VERSION", "PYENV_ROOT"] {
        if let Ok(v) = std::env::var(keep) {
            cmd.env(keep, v);
        }
    }
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = match rx.recv_timeout(timeout) {
        Ok(out) => out.unwrap_or_else(|e| panic!("{program} failed: {e}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{program} {args:?} did not finish within {timeout:?}; killed");
        }
    };
    let _ = std::fs::remove_dir_all(&home);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("null");
    let result = serde_json::from_str(last).unwrap_or(serde_json::Value::Null);
    ClientRun { code: output.status.code(), result, stderr, stdout }
}

fn tempfile_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("cloudid-home-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).expect("temp home");
    dir
}

/// The `cloudid` binary of this test binary's profile, built once per test run so it is never
/// stale (`cargo test -p cloudid-tests` alone does not build other packages' binaries).
pub fn cloudid_binary() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("own path");
            let profile_dir = exe.parent().and_then(|deps| deps.parent()).expect("target/<profile>/deps");
            let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cargo.args(["build", "-q", "-p", "cloudid-mock", "--bin", "cloudid"]).current_dir(workspace_root());
            if profile_dir.file_name().is_some_and(|n| n == "release") {
                cargo.arg("--release");
            }
            let path = profile_dir.join("cloudid");
            let ok = cargo.status().is_ok_and(|s| s.success());
            assert!(ok && path.exists(), "cannot build the cloudid binary: run `cargo build -p cloudid-mock`");
            path.display().to_string()
        })
        .clone()
}

/// Runs `cloudid exec ARGS… -- COMMAND…` (a minute at most); what it printed and the journal it
/// wrote.
pub fn exec(args: &[&str], command: &[&str]) -> (ClientRun, Vec<cloudid_mock::JournalEntry>) {
    let dir = tempdir();
    let journal = dir.join("journal.jsonl");
    let mut all: Vec<&str> = vec!["exec", "--journal", journal.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    all.push("--");
    all.extend_from_slice(command);
    let run = run_client(&cloudid_binary(), &all, &BTreeMap::new(), Duration::from_secs(60));
    let text = std::fs::read_to_string(&journal).unwrap_or_default();
    let entries = text.lines().map(|l| serde_json::from_str(l).expect("a journal line is a JournalEntry")).collect();
    let _ = std::fs::remove_dir_all(&dir);
    (run, entries)
}

/// A new empty directory under the system's temporary directory.
pub fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("cloudid-exec-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
