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
pub fn run(argv: &[String], env: &BTreeMap<String, String>, timeout: Duration) -> Result<ClientRun, crate::HarnessError> {
    run_interactive(argv, env, timeout, |_| Ok(()))
}

/// The line a client prints (with `CLOUDID_PAUSE=1`) before each use after the first; it then
/// reads one line from stdin before going on.
pub fn pause_number(line: &str) -> Option<u64> {
    serde_json::from_str::<serde_json::Value>(line).ok()?.get("cloudid_pause")?.as_u64()
}

/// As [`run`], calling `on_pause(n)` each time the client pauses (see [`pause_number`]) and
/// letting it go on afterwards; an error from `on_pause` kills the client and is returned.
pub fn run_interactive(argv: &[String], env: &BTreeMap<String, String>, timeout: Duration, mut on_pause: impl FnMut(u64) -> Result<(), crate::HarnessError>) -> Result<ClientRun, crate::HarnessError> {
    use std::io::{BufRead, Read, Write};
    let failed = |program: &str, why: String| crate::HarnessError::Client { program: program.to_string(), why };
    let (program, args) = argv.split_first().ok_or_else(|| failed("", "empty client command".into()))?;
    let home = tempfile::tempdir().map_err(|e| failed(program, e.to_string()))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .envs(env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| failed(program, format!("cannot run it: {e}")))?;
    let pgid = child.id();
    let kill = move || {
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{pgid}")]).status();
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let timed_out = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let timed_out = timed_out.clone();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(timeout) {
                timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                kill();
            }
        })
    };
    let mut stderr_pipe = child.stderr.take().ok_or_else(|| failed(program, "no stderr pipe".into()))?;
    let stderr_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut buf);
        buf
    });
    let mut stdin = child.stdin.take();
    let mut stdout = String::new();
    let mut failure = None;
    for line in std::io::BufReader::new(child.stdout.take().ok_or_else(|| failed(program, "no stdout pipe".into()))?).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line).into_owned();
        if let Some(n) = pause_number(&line) {
            if let Err(e) = on_pause(n) {
                failure = Some(e);
                kill();
                break;
            }
            if let Some(pipe) = stdin.as_mut() {
                let _ = pipe.write_all(b"\n").and_then(|()| pipe.flush());
            }
        }
        stdout.push_str(&line);
        stdout.push('\n');
    }
    drop(stdin);
    let status = child.wait().map_err(|e| failed(program, e.to_string()))?;
    let _ = done_tx.send(());
    let _ = watchdog.join();
    let stderr = String::from_utf8_lossy(&stderr_reader.join().unwrap_or_default()).into_owned();
    if let Some(e) = failure {
        return Err(e);
    }
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("null");
    Ok(ClientRun {
        code: status.code(),
        result: serde_json::from_str(last).unwrap_or(serde_json::Value::Null),
        stdout,
        stderr,
        timed_out: timed_out.load(std::sync::atomic::Ordering::SeqCst),
        elapsed_ms: started.elapsed().as_millis(),
    })
}
