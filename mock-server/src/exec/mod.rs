//! `cloudid exec`: an unmodified workload, in any language, run as if it were on EC2, ECS, EKS,
//! Compute Engine, Cloud Run or GitHub Actions — with cloudid at the real addresses and host
//! names, and no endpoint settings.
//!
//! The workload runs in new user, network and mount namespaces (no root needed):
//!
//! - its only network interface is loopback, carrying the platform's metadata addresses
//!   (169.254.169.254 and fd00:ec2::254 for IMDS, 169.254.170.2 for the ECS agent, 169.254.170.23
//!   and fd00:ec2::23 for the Pod Identity agent, 169.254.169.254 for Google's metadata server),
//!   each answered on port 80 by cloudid; nothing it does leaves the machine, and a connection to
//!   any other address fails at once;
//! - `/etc/hosts` is overlaid so every AWS, Google and GitHub API host name points at cloudid's
//!   HTTPS port;
//! - cloudid's generated CA is trusted system-wide;
//! - the user's own cloud configuration (`~/.aws`, `~/.config/gcloud`, `~/.azure`) is hidden and
//!   cloud variables from the calling shell are dropped, so the workload sees what the platform
//!   gives it ([`Platform::env`]) and what `--env` adds, nothing else.
//!
//! The process enters the namespaces itself before it starts any thread, then serves the world
//! and runs the workload as its child. The child's exit status is the command's; its standard
//! streams pass through; `SIGTERM`, `SIGHUP`, `SIGUSR1`, `SIGUSR2` (and `SIGINT`, `SIGQUIT` when
//! they cannot have come from a terminal) are forwarded, and a second `SIGTERM` kills it; when it
//! exits, anything it left running is killed.

mod attach;
mod dns;
mod hosts;
mod netlink;
mod platform;
mod relay;
mod sandbox;
mod summary;
mod trust;

use std::ffi::OsString;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use platform::Platform;
pub use relay::run as relay;
pub use sandbox::map_ids;

use crate::world::WorldModel;

/// What `cloudid exec` runs, and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExecOptions {
    /// The world to serve.
    pub world: WorldModel,
    /// The platform to emulate; [`Platform::of_world`] when `None`.
    pub platform: Option<Platform>,
    /// Where to write the journal (JSON lines) when the workload exits.
    pub journal: Option<PathBuf>,
    /// Extra variables for the workload (`--env K=V`), set last.
    pub env: Vec<(String, String)>,
    /// Variables to remove from the workload's environment after the preset's (`--unset K`).
    pub unset: Vec<String>,
    /// Attach to a running cloudid at this base URL (`http://127.0.0.1:8133`) instead of serving
    /// the world here: every connection to the namespace's addresses and host names is relayed
    /// to it byte for byte (TLS ended here), so its journal, clock and faults apply. The world
    /// still gives the platform's variables, and must be the server's.
    pub server: Option<String>,
    /// Whether to print the summary of exchanges on stderr.
    pub summary: bool,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

impl ExecOptions {
    /// Options running `command` in `world`, platform from the world, summary on.
    pub fn new(world: WorldModel, command: Vec<OsString>) -> Self {
        Self { world, platform: None, journal: None, env: Vec::new(), unset: Vec::new(), server: None, summary: true, command }
    }
}

/// Why `cloudid exec` could not run the workload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The kernel refused the namespaces.
    #[error(
        "cannot create the namespaces the workload runs in: {why}. Without namespaces, run `cloudid serve --proxy` and start the workload with the variables `cloudid env --proxy` prints (HTTPS_PROXY, HTTP_PROXY, NO_PROXY and the CA bundle)"
    )]
    NamespacesRefused {
        /// What the kernel said, and the likely reason.
        why: String,
    },
    /// The world lacks what the platform needs.
    #[error("cannot run as {platform}: {why}")]
    Platform {
        /// The platform asked for.
        platform: Platform,
        /// What is missing.
        why: String,
    },
    /// A step of setting up the namespaces or the server failed.
    #[error("{step}: {source}")]
    Setup {
        /// What was being done.
        step: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The workload could not be started.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl ExecError {
    /// The exit status `cloudid exec` ends with, as `env` and shells do: 127 when the command is
    /// not found, 126 when it cannot be run, 125 for cloudid's own failures.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound => 127,
            Self::Spawn { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => 126,
            _ => 125,
        }
    }
}

fn setup(step: impl Into<String>) -> impl FnOnce(io::Error) -> ExecError {
    let step = step.into();
    move |source| ExecError::Setup { step, source }
}

/// Runs the workload; its exit status (128 + the signal's number if a signal ended it).
///
/// Must be called before the process starts any thread: the kernel gives a new user namespace
/// only to a single-threaded process. The binary calls it before building its runtime.
pub fn run(options: ExecOptions) -> Result<i32, ExecError> {
    let platform = options.platform.unwrap_or_else(|| Platform::of_world(&options.world));
    if let Some(why) = platform.missing(&options.world) {
        return Err(ExecError::Platform { platform, why });
    }
    let Some(program) = options.command.first().cloned() else {
        return Err(ExecError::Spawn { program: String::new(), source: io::Error::new(io::ErrorKind::InvalidInput, "no command given") });
    };
    let world = platform.shape(options.world);
    let scratch = Scratch::create()?;
    let authority = crate::tls::Authority::for_world(&world).map_err(|e| ExecError::Setup { step: "making the TLS certificates".into(), source: io::Error::other(e) })?;
    let ca = scratch.write("cloudid-ca.pem", &authority.ca_pem)?;
    let bundle_text = crate::tls::bundle_with_system_roots(&authority.ca_pem);
    let bundle = scratch.write("ca-certificates.crt", &bundle_text)?;
    let java_stores = trust::java_trust_stores();
    let java_store = scratch.path.join("cacerts");
    if !java_stores.is_empty() {
        std::fs::write(&java_store, trust::java_trust_store(&bundle_text)).map_err(setup("writing the Java trust store"))?;
    }
    let original_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let hosts_file = scratch.write("hosts", &hosts::hosts_file(&world, platform, &original_hosts))?;
    let resolv_conf = scratch.write("resolv.conf", &format!("# cloudid exec: cloud API names answered by cloudid, every other name NXDOMAIN\nnameserver {}\n", dns::ADDRESS))?;
    let token_file = scratch.path.join("eks-pod-identity-token");
    if let Some(token) = world.aws.containers.iter().find_map(|c| c.auth_token.as_ref()) {
        scratch.write("eks-pod-identity-token", token.expose())?;
    }
    let journal_file = match (&options.journal, &options.server) {
        (Some(_), Some(_)) => {
            return Err(ExecError::Setup {
                step: "--journal with --server".into(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "the journal is the server's: read it from its /_cloudid/journal"),
            });
        }
        (Some(path), None) => Some(std::fs::File::create(path).map_err(setup(format!("creating the journal file {}", path.display())))?),
        _ => None,
    };
    if let Some(url) = &options.server {
        let authority = url.strip_prefix("http://").map(|a| a.trim_end_matches('/')).unwrap_or(url);
        std::net::TcpStream::connect(authority).map_err(setup(format!("reaching the cloudid server at {url}")))?;
    }
    let sockets = scratch.path.join("sockets");
    std::fs::create_dir(&sockets).map_err(setup("creating the scratch directory"))?;
    let (mut world, mut relays) = start_relays(world, &sockets)?;
    let server_socket = match &options.server {
        Some(url) => {
            let authority = url.strip_prefix("http://").map(|a| a.trim_end_matches('/')).filter(|a| !a.is_empty() && !a.contains('/'));
            let Some(authority) = authority else {
                return Err(ExecError::Setup { step: format!("attaching to {url}"), source: io::Error::new(io::ErrorKind::InvalidInput, "--server takes http://HOST:PORT") });
            };
            let (socket, child) = relay_to(&sockets, "server", authority)?;
            relays.push(child);
            Some(socket)
        }
        None => None,
    };

    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    sandbox::enter()?;
    let api: IpAddr = platform::API_ADDRESS.parse().expect("a literal address");
    let metadata = platform.metadata_addresses();
    let dns_address: IpAddr = dns::ADDRESS.parse().expect("a literal address");
    sandbox::network(&[metadata.as_slice(), &[api, dns_address]].concat())?;
    if Path::new("/etc/resolv.conf").exists() {
        sandbox::overlay(&resolv_conf, Path::new("/etc/resolv.conf"))?;
    }
    if Path::new("/etc/hosts").is_file() {
        sandbox::overlay(&hosts_file, Path::new("/etc/hosts"))?;
    }
    for target in trust::overlay_targets() {
        sandbox::overlay(&bundle, &target)?;
    }
    for target in &java_stores {
        sandbox::overlay(&java_store, target)?;
    }
    hide_cloud_configuration(&scratch.path)?;
    let (_sockets_fd, server_socket) = if relays.is_empty() {
        (None, server_socket)
    } else {
        let (fd, reach) = sandbox::hide_sockets(&sockets)?;
        for u in &mut world.upstreams {
            u.url = u.url.replace(&sockets.display().to_string(), &reach.display().to_string());
        }
        (Some(fd), server_socket.map(|s| reach.join(s.file_name().unwrap_or_default())))
    };
    if let Ok(cwd) = std::env::current_dir() {
        let _ = std::env::set_current_dir(&cwd);
    }

    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().filter(|(k, _)| !scrubbed(&k.to_string_lossy())).collect();
    env.extend(trust::env(&bundle, &ca).into_iter().map(|(k, v)| (k.into(), v.into())));
    let mut preset = platform.env(&world, &token_file);
    if platform == Platform::GithubActions {
        preset.extend(github_files(&scratch.path, &world)?);
    }
    env.extend(preset.into_iter().map(|(k, v)| (k.into(), v.into())));
    env.extend(options.env.iter().map(|(k, v)| (k.into(), v.into())));
    env.retain(|(k, _)| !options.unset.iter().any(|u| k.to_str() == Some(u.as_str())));

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(setup("starting the runtime"))?;
    let journal_path = options.journal.clone();
    let (code, entries) = runtime.block_on(async move {
        let clock = crate::Clock::system();
        crate::apply_clock_config(&world, &clock);
        let shared = crate::Shared::new(world, clock);
        let router = crate::router(shared.clone());
        let limits = crate::Limits::default();
        for addr in &metadata {
            let listener = tokio::net::TcpListener::bind(SocketAddr::new(*addr, 80)).await.map_err(setup(format!("listening on {addr} port 80")))?;
            match &server_socket {
                Some(socket) => {
                    tokio::spawn(attach::relay_plain(listener, socket.clone()));
                }
                None => {
                    tokio::spawn(crate::connections::serve(listener, router.clone(), limits, std::future::pending()));
                }
            }
        }
        let resolver = tokio::net::UdpSocket::bind(SocketAddr::new(dns_address, 53)).await.map_err(setup(format!("listening on {dns_address} port 53")))?;
        let (api_v4, google) = (platform::API_ADDRESS.parse().expect("a literal address"), metadata.iter().any(|_| platform.is_google()));
        tokio::spawn(dns::serve(resolver, api_v4, google.then(|| platform::METADATA_V4.parse().expect("a literal address"))));
        let tls = tokio::net::TcpListener::bind(SocketAddr::new(api, 443)).await.map_err(setup(format!("listening on {api} port 443")))?;
        match &server_socket {
            Some(socket) => {
                tokio::spawn(attach::relay_tls(tls, authority.acceptor(), socket.clone(), limits.header_timeout));
            }
            None => {
                let tls_router = router.clone();
                tokio::spawn(async move { authority.serve(tls, tls_router, limits).await });
            }
        }
        let code = run_child(&program, &options.command[1..], env).await?;
        Ok::<_, ExecError>((code, shared.journal.entries()))
    })?;
    kill_leftovers(&relays.iter().map(std::process::Child::id).collect::<Vec<_>>());
    drop(runtime);
    let _ = rustix::mount::unmount(&sockets, rustix::mount::UnmountFlags::DETACH);
    for mut relay in relays {
        let _ = relay.kill();
        let _ = relay.wait();
    }
    if let (Some(mut file), Some(path)) = (journal_file, &journal_path) {
        use std::io::Write;
        let lines: String = entries.iter().filter_map(|e| serde_json::to_string(e).ok()).map(|l| l + "\n").collect();
        if let Err(e) = file.write_all(lines.as_bytes()) {
            eprintln!("cloudid exec: cannot write the journal to {}: {e}", path.display());
        }
    }
    if options.summary && options.server.is_none() {
        eprint!("{}", summary::render(platform, &entries, journal_path.as_deref()));
    }
    Ok(code)
}

/// Starts a relay for each upstream on a TCP address (reached from outside the namespace) and
/// points the world's upstream at the relay's socket instead.
fn start_relays(mut world: WorldModel, dir: &Path) -> Result<(WorldModel, Vec<std::process::Child>), ExecError> {
    use crate::hostnames::{Target, parse_upstream_url};
    let mut relays = Vec::new();
    for (i, upstream) in world.upstreams.iter_mut().enumerate() {
        let Some(Target::Tcp { authority, prefix }) = parse_upstream_url(&upstream.url) else { continue };
        let (socket, child) = relay_to(dir, &format!("upstream-{i}"), &authority)?;
        relays.push(child);
        upstream.url = format!("unix:{}{}", socket.display(), if prefix.is_empty() { String::new() } else { format!("#{prefix}") });
    }
    Ok((world, relays))
}

/// The user's own cloud configuration, hidden (an empty, read-only directory or file over each):
/// under `$HOME` and under the home the password file names, as tools fall back to it.
fn hide_cloud_configuration(scratch: &Path) -> Result<(), ExecError> {
    const HIDDEN: &[&str] = &[".aws", ".config/gcloud", ".azure", ".boto", ".config/gh", ".docker", ".kube"];
    let mut homes: Vec<PathBuf> = std::env::var_os("HOME").map(PathBuf::from).into_iter().collect();
    let uid = rustix::process::getuid().as_raw().to_string();
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd") {
        homes.extend(passwd.lines().map(|l| l.split(':').collect::<Vec<_>>()).filter(|f| f.len() > 5 && f[2] == uid).map(|f| PathBuf::from(f[5])));
    }
    homes.sort();
    homes.dedup();
    for (i, target) in homes.iter().flat_map(|h| HIDDEN.iter().map(move |d| h.join(d))).enumerate() {
        let empty = scratch.join(format!("hidden-{i}"));
        if target.is_dir() {
            std::fs::create_dir(&empty).map_err(setup("creating the scratch directory"))?;
        } else if target.is_file() {
            std::fs::write(&empty, "").map_err(setup("creating the scratch directory"))?;
        } else {
            continue;
        }
        sandbox::overlay(&empty, &target)?;
    }
    Ok(())
}

/// The files a GitHub Actions step is given (`GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`,
/// `GITHUB_PATH`, the event payload) and the runner's directories, in the run's scratch directory.
fn github_files(scratch: &Path, world: &WorldModel) -> Result<Vec<(String, String)>, ExecError> {
    let runner = scratch.join("runner");
    let temp = runner.join("temp");
    std::fs::create_dir_all(&temp).map_err(setup("creating the runner's directories"))?;
    let mut vars = Vec::new();
    for (var, name) in [("GITHUB_ENV", "env"), ("GITHUB_OUTPUT", "output"), ("GITHUB_STEP_SUMMARY", "step_summary"), ("GITHUB_PATH", "path")] {
        let file = runner.join(name);
        std::fs::write(&file, "").map_err(setup(format!("creating {}", file.display())))?;
        vars.push((var.to_string(), file.display().to_string()));
    }
    let g = &world.github;
    let event = serde_json::json!({"ref": g.git_ref, "after": g.sha, "repository": {"full_name": g.repository, "id": g.repository_id.parse::<u64>().unwrap_or(0)}, "sender": {"login": g.actor}});
    let event_path = runner.join("event.json");
    std::fs::write(&event_path, event.to_string()).map_err(setup("writing the event payload"))?;
    vars.push(("GITHUB_EVENT_PATH".into(), event_path.display().to_string()));
    vars.push(("RUNNER_TEMP".into(), temp.display().to_string()));
    vars.push(("GITHUB_JOB".into(), "build".into()));
    if let Ok(cwd) = std::env::current_dir() {
        vars.push(("GITHUB_WORKSPACE".into(), cwd.display().to_string()));
    }
    Ok(vars)
}

/// Starts a relay process (outside the namespaces, which do not exist yet) from the Unix socket
/// `DIR/NAME.sock` to the TCP address `authority`; the socket and the relay.
fn relay_to(dir: &Path, name: &str, authority: &str) -> Result<(PathBuf, std::process::Child), ExecError> {
    let exe = std::env::current_exe().map_err(setup("finding the cloudid executable for the relay"))?;
    let socket = dir.join(format!("{name}.sock"));
    let child = std::process::Command::new(&exe).arg("__relay").arg(&socket).arg(authority).stdin(std::process::Stdio::null()).spawn().map_err(setup(format!("starting the relay to {authority}")))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !socket.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok((socket, child))
}

/// Variables of the calling shell the workload does not get: every cloud's own (the platform
/// sets what it sets), proxies (nothing is reachable through them inside), CA overrides (set
/// anew), and cloudid's.
fn scrubbed(key: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "AWS_",
        "GOOGLE_",
        "GCE_",
        "GCLOUD_",
        "GCP_",
        "CLOUDSDK_",
        "BOTO_",
        "ACTIONS_",
        "GITHUB_",
        "GH_",
        "RUNNER_",
        "ECS_",
        "CLOUD_RUN_",
        "AZURE_",
        "ARM_",
        "IDENTITY_",
        "MSI_",
        "KUBECONFIG",
        "CLOUDID_",
    ];
    const EXACT: &[&str] = &[
        "CI",
        "SSH_AUTH_SOCK",
        "DOCKER_HOST",
        "K_SERVICE",
        "K_REVISION",
        "K_CONFIGURATION",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "GIT_SSL_CAINFO",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p)) || EXACT.iter().any(|e| key.eq_ignore_ascii_case(e))
}

/// Starts the workload and waits for it, forwarding signals; its exit status.
async fn run_child(program: &OsString, args: &[OsString], env: Vec<(OsString, OsString)>) -> Result<i32, ExecError> {
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
fn kill_leftovers(keep: &[u32]) {
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

/// The run's files (hosts overlay, CA bundle, Pod Identity token), removed when it ends.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn create() -> Result<Self, ExecError> {
        use std::os::unix::fs::DirBuilderExt;
        let path = std::env::temp_dir().join(format!("cloudid-exec-{}-{:08x}", std::process::id(), {
            let mut bytes = [0u8; 4];
            let _ = aws_lc_rs::rand::fill(&mut bytes);
            u32::from_ne_bytes(bytes)
        }));
        std::fs::DirBuilder::new().mode(0o700).create(&path).map_err(setup(format!("creating {}", path.display())))?;
        Ok(Self { path })
    }

    fn write(&self, name: &str, text: &str) -> Result<PathBuf, ExecError> {
        let path = self.path.join(name);
        std::fs::write(&path, text).map_err(setup(format!("writing {}", path.display())))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
