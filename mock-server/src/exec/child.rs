//! The workload's process: started through `cloudid __child` (its parent-death signal), waited
//! for with signals forwarded, and what it leaves behind killed when it ends.

use std::ffi::OsString;

use super::{ExecError, setup};

/// Starts the workload and waits for it, forwarding signals; its exit status.
pub(crate) async fn run_child(program: &OsString, args: &[OsString], env: Vec<(OsString, OsString)>) -> Result<i32, ExecError> {
    use tokio::signal::unix::{SignalKind, signal};
    let from_terminal = rustix::termios::isatty(std::io::stdin());
    let mut forwarded = vec![SignalKind::terminate(), SignalKind::hangup(), SignalKind::user_defined1(), SignalKind::user_defined2()];
    if !from_terminal {
        forwarded.extend([SignalKind::interrupt(), SignalKind::quit()]);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for kind in forwarded {
        if let Ok(mut s) = signal(kind) {
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    let _ = tx.send(kind);
                }
            });
        }
    }
    if from_terminal {
        for kind in [SignalKind::interrupt(), SignalKind::quit()] {
            if let Ok(mut s) = signal(kind) {
                tokio::spawn(async move { while s.recv().await.is_some() {} });
            }
        }
    }
    let own = std::env::current_exe().map_err(setup("finding the cloudid executable"))?;
    let mut child = tokio::process::Command::new(own)
        .arg("__child")
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(program)
        .args(args)
        .env_clear()
        .envs(env)
        .spawn()
        .map_err(|source| ExecError::Spawn { program: program.to_string_lossy().into_owned(), source })?;
    let pid = child.id().and_then(|p| rustix::process::Pid::from_raw(p as i32));
    let mut terminations = 0;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status.map_err(setup("waiting for the workload"))?,
            Some(kind) = rx.recv() => {
                let mut sig = rustix::process::Signal::from_named_raw(kind.as_raw_value());
                if kind == SignalKind::terminate() {
                    terminations += 1;
                    if terminations > 1 {
                        sig = Some(rustix::process::Signal::KILL);
                    }
                }
                if let (Some(pid), Some(sig)) = (pid, sig) {
                    let _ = rustix::process::kill_process(pid, sig);
                }
            }
        }
    };
    use std::os::unix::process::ExitStatusExt;
    Ok(status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1))
}

/// The workload's first moments (`cloudid __child PARENT -- CMD…`): asks the kernel to kill it
/// if cloudid dies (even by `SIGKILL`), then becomes `CMD` (the setting survives `execve`). Only
/// returns if `CMD` cannot be run: the exit status, 127 (not found) or 126, after saying why.
pub fn become_workload(parent: u32, command: &[OsString]) -> u8 {
    use std::os::unix::process::CommandExt;
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() as u32 != parent) {
        return 125;
    }
    let Some((program, args)) = command.split_first() else { return 125 };
    let e = std::process::Command::new(program).args(args).exec();
    eprintln!("cloudid exec: cannot run `{}`: {e}", program.to_string_lossy());
    ExecError::Spawn { program: program.to_string_lossy().into_owned(), source: e }.exit_code()
}

/// Kills what the workload left running, so it goes away with it: every process still in this
/// network namespace but this one, and every descendant this process adopted (it is a child
/// subreaper, so orphans of the workload — daemons, processes that made namespaces of their own —
/// are reparented to it), but `keep` (the relays).
pub(crate) fn kill_leftovers(keep: &[u32]) {
    let me = std::process::id();
    let own = std::fs::read_link("/proc/self/ns/net").ok();
    let kill = |pid: u32| {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    };
    for _ in 0..100 {
        let mut found = false;
        let Ok(entries) = std::fs::read_dir("/proc") else { return };
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            if pid == me || keep.contains(&pid) {
                continue;
            }
            let same_net = own.is_some() && std::fs::read_link(entry.path().join("ns/net")).ok() == own;
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let mut fields = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace()).into_iter().flatten();
            let (state, ppid) = (fields.next().unwrap_or(""), fields.next().and_then(|p| p.parse::<u32>().ok()));
            if state == "Z" {
                if ppid == Some(me) {
                    let _ = rustix::process::waitpid(rustix::process::Pid::from_raw(pid as i32), rustix::process::WaitOptions::NOHANG);
                }
                continue;
            }
            if same_net || ppid == Some(me) {
                kill(pid);
                found = true;
            }
        }
        if !found {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
