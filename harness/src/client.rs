//! Running a client program: a clean environment, a deadline, and its whole process group killed
//! if it hangs.

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a client run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientRun {
    /// Exit code (`None`: killed).
    pub code: Option<i32>,
    /// The JSON result line (last non-empty stdout line), `null` if none.
    pub result: serde_json::Value,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether it was killed at the deadline.
    pub timed_out: bool,
    /// Wall time.
    pub elapsed_ms: u128,
}

impl ClientRun {
    /// Exit 0 with `"ok": true`.
    pub fn succeeded(&self) -> bool {
        self.code == Some(0) && self.result["ok"] == serde_json::Value::Bool(true)
    }
}

/// Runs `argv` with only `env` (plus `PATH`, a throwaway `HOME`, AWS config files at
/// `/dev/null`), killing its process group after `timeout`.
pub fn run(argv: &[String], env: &BTreeMap<String, String>, timeout: Duration) -> Result<ClientRun, String> {
    let (program, args) = argv.split_first().ok_or("empty client command")?;
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("cannot run {program}: {e}"))?;
    let pgid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let (output, timed_out) = match rx.recv_timeout(timeout) {
        Ok(out) => (out.map_err(|e| e.to_string())?, false),
        Err(_) => {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{pgid}")]).status();
            let out = rx.recv_timeout(Duration::from_secs(5)).map_err(|_| "client did not die".to_string())?.map_err(|e| e.to_string())?;
            (out, true)
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("null");
    Ok(ClientRun {
        code: output.status.code(),
        result: serde_json::from_str(last).unwrap_or(serde_json::Value::Null),
        stdout,
        stderr,
        timed_out,
        elapsed_ms: started.elapsed().as_millis(),
    })
}
