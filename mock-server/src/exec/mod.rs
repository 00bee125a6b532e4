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
mod child;
mod dns;
mod hosts;
mod isolation;
mod netlink;
mod platform;
mod relay;
mod remote_kubelet;
mod sandbox;
mod summary;
mod trust;

use std::ffi::OsString;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use child::become_workload;
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
    /// The Kubernetes service account the pod runs as (`NAMESPACE/NAME`) on `eks-irsa`,
    /// `eks-pod-identity` and `gke`; the first that fits when `None`.
    pub service_account: Option<String>,
    /// The program and its arguments.
    pub command: Vec<OsString>,
}

impl ExecOptions {
    /// Options running `command` in `world`, platform from the world, summary on.
    pub fn new(world: WorldModel, command: Vec<OsString>) -> Self {
        Self { world, platform: None, journal: None, env: Vec::new(), unset: Vec::new(), server: None, summary: true, service_account: None, command }
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

pub(crate) fn setup(step: impl Into<String>) -> impl FnOnce(io::Error) -> ExecError {
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
    let world = platform.select_workload(platform.shape(options.world), options.service_account.as_deref()).map_err(|why| ExecError::Platform { platform, why })?;
    let mut projection = platform.projection(&world);
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
    let token_file = scratch.path.join(match platform {
        Platform::EksIrsa => "token",
        Platform::Aks => "azure-identity-token",
        _ => "eks-pod-identity-token",
    });
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
    let server = match &options.server {
        Some(url) => {
            let authority = url.strip_prefix("http://").map(|a| a.trim_end_matches('/')).filter(|a| !a.is_empty() && !a.contains('/'));
            let Some(authority) = authority else {
                return Err(ExecError::Setup { step: format!("attaching to {url}"), source: io::Error::new(io::ErrorKind::InvalidInput, "--server takes http://HOST:PORT") });
            };
            std::net::TcpStream::connect(authority).map_err(setup(format!("reaching the cloudid server at {url}")))?;
            if let Some(p) = projection.take() {
                remote_kubelet::mount(authority, &p, &token_file)?;
            }
            Some(authority)
        }
        None => None,
    };
    let sockets = scratch.path.join("sockets");
    std::fs::create_dir(&sockets).map_err(setup("creating the scratch directory"))?;
    let (mut world, mut relays) = relay::start_relays(world, &sockets)?;
    let server_socket = match server {
        Some(authority) => {
            let (socket, child) = relay::relay_to(&sockets, "server", authority)?;
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
    isolation::hide_cloud_configuration(&scratch.path)?;
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

    let mut env: Vec<(OsString, OsString)> = std::env::vars_os().filter(|(k, _)| !isolation::scrubbed(&k.to_string_lossy())).collect();
    env.extend(trust::env(&bundle, &ca).into_iter().map(|(k, v)| (k.into(), v.into())));
    let mut preset = platform.env(&world, &token_file);
    if platform == Platform::GithubActions {
        preset.extend(platform::github_files(&scratch.path, &world)?);
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
        if let Some(p) = projection {
            shared
                .kubelet
                .mount(p, token_file.clone(), |p| shared.mint_projected(p))
                .map_err(|e| ExecError::Setup { step: "writing the pod's projected token".into(), source: io::Error::other(e) })?;
            crate::kube_control::keep_fresh(std::sync::Arc::downgrade(&shared));
        }
        let router = crate::router(shared.clone());
        let limits = crate::Limits::default();
        let app_service = (platform == Platform::AppService).then(|| SocketAddr::from(([127, 0, 0, 1], platform::APP_SERVICE_PORT)));
        let plain: Vec<SocketAddr> = metadata.iter().map(|a| SocketAddr::new(*a, 80)).chain(app_service).collect();
        for addr in &plain {
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(setup(format!("listening on {addr}")))?;
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
        let code = child::run_child(&program, &options.command[1..], env).await?;
        Ok::<_, ExecError>((code, shared.journal.entries()))
    })?;
    child::kill_leftovers(&relays.iter().map(std::process::Child::id).collect::<Vec<_>>());
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
