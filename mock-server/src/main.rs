//! The `cloudid` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloudid_mock::{clock::Clock, env, world};

/// mimalloc: under AssumeRoleWithWebIdentity load glibc malloc took ~22% of the server's CPU
/// (README, Performance → STS).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// cloudid: keyless cloud identity endpoints on one machine, verified as strictly as the clouds.
#[derive(Debug, Parser)]
#[command(name = "cloudid", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum WorldCommand {
    /// Builds a world from a Terraform JSON plan or state (`terraform show -json`), the JSON the
    /// cloud CLIs print (`aws iam get-role`, `aws iam get-open-id-connect-provider`, `gcloud iam
    /// workload-identity-pools providers describe --format=json`, `gcloud iam service-accounts
    /// get-iam-policy --format=json` given as EMAIL=FILE) and policy documents (ROLE=FILE); prints
    /// the world YAML, and on standard error what it took, ignored and filled in.
    Import {
        /// The input files.
        #[arg(required = true)]
        files: Vec<String>,
        /// Write the world here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Import onto this world (`default`: the built-in one): the inputs replace its roles,
        /// providers and bindings of the same names, and the rest of it stays.
        #[arg(long)]
        base: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve every emulated endpoint on one HTTP port.
    Serve {
        /// World file (YAML); the built-in default world when absent.
        #[arg(long, env = "CLOUDID_WORLD")]
        world: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free one.
        #[arg(long, env = "CLOUDID_LISTEN", default_value = "127.0.0.1:8133")]
        listen: SocketAddr,
        /// Also serve HTTPS here, with a generated CA, for the real host names (e.g. 0.0.0.0:443).
        #[arg(long, env = "CLOUDID_TLS_LISTEN")]
        tls_listen: Option<SocketAddr>,
        /// Where to write the CA certificate (PEM) clients must trust.
        #[arg(long, env = "CLOUDID_CA_OUT")]
        ca_out: Option<PathBuf>,
        /// Also be an HTTP(S) forward proxy on --listen (where `cloudid exec` cannot make
        /// namespaces): CONNECT to a cloud host is served by cloudid with its own CA, plain HTTP
        /// to the metadata addresses is served, anything else is refused (nothing is forwarded).
        /// `cloudid env --proxy` prints the variables a workload needs.
        #[arg(long, env = "CLOUDID_PROXY")]
        proxy: bool,
        /// Connection limits and the control plane's fence.
        #[command(flatten)]
        guard: Guard,
    },
    /// Run a command as if it were on a cloud platform: cloudid at the real metadata addresses
    /// and API host names, in namespaces of its own, with no endpoint settings.
    #[cfg(target_os = "linux")]
    Exec {
        /// World file (YAML); the built-in default world when absent.
        #[arg(long, env = "CLOUDID_WORLD")]
        world: Option<PathBuf>,
        /// The platform to emulate (default: the world's EC2 instance, else its ECS task, else
        /// its Pod Identity agent, else its Google VM, else a GitHub Actions job).
        #[arg(long = "as", value_enum)]
        platform: Option<cloudid_mock::exec::Platform>,
        /// Write every exchange here as JSON lines when the command exits.
        #[arg(long)]
        journal: Option<PathBuf>,
        /// An extra variable for the command, `NAME=VALUE` (e.g. GOOGLE_APPLICATION_CREDENTIALS); repeatable.
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        /// Remove a variable from the command's environment (after the preset's); repeatable.
        #[arg(long = "unset", value_name = "NAME")]
        unset: Vec<String>,
        /// Attach to a running cloudid (`http://HOST:PORT`) instead of serving the world here:
        /// connections are relayed to it, so its journal, clock and faults apply (the world file
        /// must be the server's; it gives the platform's variables).
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Do not print the summary of exchanges on stderr.
        #[arg(long, short)]
        quiet: bool,
        /// The pod's Kubernetes service account, `NAMESPACE/NAME`, on `--as eks-irsa`,
        /// `eks-pod-identity` or `gke` (default: the first that fits).
        #[arg(long, value_name = "NAMESPACE/NAME")]
        service_account: Option<String>,
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
        command: Vec<std::ffi::OsString>,
    },
    /// `cloudid exec`'s id mapper, run as root outside its namespaces (internal).
    #[cfg(target_os = "linux")]
    #[command(name = "__map-ids", hide = true)]
    MapIds {
        /// The `cloudid exec` process whose namespace it maps.
        pid: u32,
    },
    /// `cloudid exec`'s workload before it becomes the command (internal).
    #[cfg(target_os = "linux")]
    #[command(name = "__child", hide = true)]
    Child {
        /// The `cloudid exec` process it belongs to.
        parent: u32,
        /// The command.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<std::ffi::OsString>,
    },
    /// `cloudid exec`'s relay to an upstream outside its namespaces (internal).
    #[cfg(target_os = "linux")]
    #[command(name = "__relay", hide = true)]
    Relay {
        /// The Unix socket to accept on.
        listen: PathBuf,
        /// The upstream's `host:port`.
        to: String,
    },
    /// Why a token is (or is not) exchanged: evaluates it offline, with no server and no client,
    /// through the same checks the server runs, and prints every check with its explanation
    /// (each trust policy statement and condition; Google's mapping, condition and binding).
    /// Exit 0 when granted, 1 when refused.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["role", "provider"])))]
    #[command(group(clap::ArgGroup::new("subject").required(true).args(["token", "claims"])))]
    Explain {
        /// World file (YAML); the built-in default world when absent.
        #[arg(long, env = "CLOUDID_WORLD")]
        world: Option<PathBuf>,
        /// The role to assume (`AssumeRoleWithWebIdentity`), by ARN.
        #[arg(long)]
        role: Option<String>,
        /// The workload identity provider (`POOL/PROVIDER` or its full resource name).
        #[arg(long)]
        provider: Option<String>,
        /// With --provider: the service account to impersonate after the exchange.
        #[arg(long, requires = "provider")]
        service_account: Option<String>,
        /// A file holding the token (JWT), as the client would send it (`-`: standard input).
        #[arg(long)]
        token: Option<PathBuf>,
        /// The token's claims as JSON, signed by the world's issuer for their `iss`.
        #[arg(long)]
        claims: Option<String>,
        /// Evaluate at this instant (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Worlds from what you deploy with.
    World {
        #[command(subcommand)]
        command: WorldCommand,
    },
    /// The misconfigurations people make, found in a world before anything runs: each with the
    /// file and line, why it fails and the fix. Exit 1 when there is a finding.
    Lint {
        /// World file (YAML); the built-in default world when absent.
        #[arg(long, env = "CLOUDID_WORLD")]
        world: Option<PathBuf>,
        /// Print the findings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 if a server answers `/_cloudid/health` (a container health check).
    Health {
        /// Base URL of the server.
        #[arg(long, env = "CLOUDID_ENDPOINT", default_value = "http://127.0.0.1:8133")]
        endpoint: String,
    },
    /// Print the environment a client needs to reach a running server.
    Env {
        /// Base URL of the running server.
        #[arg(long, env = "CLOUDID_ENDPOINT", default_value = "http://127.0.0.1:8133")]
        endpoint: String,
        /// Output format.
        #[arg(long, env = "CLOUDID_FORMAT", value_enum, default_value = "sh")]
        format: env::Format,
        /// The variables for a `cloudid serve --proxy` server instead: HTTPS_PROXY, HTTP_PROXY,
        /// NO_PROXY and the CA bundle for each runtime.
        #[arg(long)]
        proxy: bool,
        /// Only this platform's variables (with every variable set, every AWS credential chain
        /// takes the container first).
        #[arg(long = "as", value_enum, env = "CLOUDID_AS", conflicts_with = "proxy")]
        platform: Option<env::EnvPlatform>,
    },
    /// Write a Google `external_account` credential file pointing at the server (as
    /// `gcloud iam workload-identity-pools create-cred-config` does).
    CreateCredConfig {
        /// `projects/N/locations/global/workloadIdentityPools/P/providers/X`.
        provider: String,
        /// Service account to impersonate (omit for direct federated access).
        #[arg(long, env = "CLOUDID_SERVICE_ACCOUNT")]
        service_account: Option<String>,
        /// AWS source: credentials from IMDS on the server.
        #[arg(long, env = "CLOUDID_AWS")]
        aws: bool,
        /// With `--aws`: use the IMDSv2 session token URL.
        #[arg(long, env = "CLOUDID_ENABLE_IMDSV2")]
        enable_imdsv2: bool,
        /// OIDC source: a token file.
        #[arg(long, env = "CLOUDID_CREDENTIAL_SOURCE_FILE")]
        credential_source_file: Option<String>,
        /// OIDC source: a URL returning the token.
        #[arg(long, env = "CLOUDID_CREDENTIAL_SOURCE_URL")]
        credential_source_url: Option<String>,
        /// Headers for the URL source, `Key=Value,Key2=Value2`.
        #[arg(long, env = "CLOUDID_CREDENTIAL_SOURCE_HEADERS")]
        credential_source_headers: Option<String>,
        /// `text` (default) or `json`.
        #[arg(long, env = "CLOUDID_CREDENTIAL_SOURCE_TYPE")]
        credential_source_type: Option<String>,
        /// With `json`: the field holding the token (`value` for GitHub Actions).
        #[arg(long, env = "CLOUDID_CREDENTIAL_SOURCE_FIELD_NAME")]
        credential_source_field_name: Option<String>,
        /// Where to write the file.
        #[arg(long, env = "CLOUDID_OUTPUT_FILE")]
        output_file: PathBuf,
        /// Base URL of the server the file points at.
        #[arg(long, env = "CLOUDID_ENDPOINT", default_value = "http://127.0.0.1:8133")]
        endpoint: String,
        /// Name the real hosts instead (`https://sts.googleapis.com`, IMDS at 169.254.169.254…),
        /// as gcloud writes them, for the compose environment where they resolve to cloudid;
        /// `--endpoint` is then unused.
        #[arg(long, env = "CLOUDID_REAL_HOSTS")]
        real_hosts: bool,
    },
    /// Run scenarios against a client (delegates to `cloudid-certify run`).
    #[command(disable_help_flag = true)]
    Run {
        /// Arguments for `cloudid-certify run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Certify a client against the whole suite (delegates to `cloudid-certify certify`).
    #[command(disable_help_flag = true)]
    Certify {
        /// Arguments for `cloudid-certify certify`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Feed a client mutated responses and classify what it does (delegates to `cloudid-certify fuzz`).
    #[command(disable_help_flag = true)]
    Fuzz {
        /// Arguments for `cloudid-certify fuzz`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Mint a token from an emulated issuer of a running server (for web-identity token files).
    Token {
        /// Issuer: `github`, `google`, or an extra issuer of the world.
        issuer: String,
        /// Audience (`aud`).
        #[arg(long, env = "CLOUDID_AUDIENCE")]
        audience: Option<String>,
        /// Google: the service account email (the world's default account otherwise).
        #[arg(long, env = "CLOUDID_SERVICE_ACCOUNT")]
        service_account: Option<String>,
        /// Google: `full` adds the `google.compute_engine` claims.
        #[arg(long, env = "CLOUDID_TOKEN_FORMAT")]
        format: Option<String>,
        /// Claim overrides, `name=value` (JSON values allowed: `run_attempt="2"`, `exp=0`, `sub=null`).
        /// For `github`, the job's claims — repository, repository_id, repository_owner_id,
        /// repository_visibility, ref, sha, workflow, event_name, environment, actor, actor_id,
        /// run_id, run_number, run_attempt, runner_environment — change the job, and the claims
        /// derived from it follow (sub, repository_owner, workflow_ref, job_workflow_ref, ref_type,
        /// and the ids of a new repository or owner); any other claim (sub, aud, exp, iat, nbf,
        /// jti…) is set as given, after.
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claims: Vec<String>,
        /// A hostile token for testing verifiers: set a JOSE header field, `name=value` (JSON
        /// allowed: `kid=null` removes it, `crit=["exp"]`, `jku="https://evil.example/jwks"`).
        #[arg(long = "header", value_name = "NAME=VALUE")]
        header: Vec<String>,
        /// Repeat a claim at the end of the payload's JSON (`sub="repo:evil/x:ref:refs/heads/main"`).
        #[arg(long = "duplicate", value_name = "NAME=VALUE")]
        duplicates: Vec<String>,
        /// How to sign: `issuer` (default), `none` (alg none), `hs256-public-key` (HS256 keyed with
        /// the issuer's public key), `generated` (a key no JWKS publishes), `issuer:NAME`.
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// Base URL of the running server.
        #[arg(long, env = "CLOUDID_ENDPOINT", default_value = "http://127.0.0.1:8133")]
        endpoint: String,
    },
}

/// `cloudid serve`'s connection limits and control-plane fence.
#[derive(Debug, clap::Args)]
struct Guard {
    /// Seconds a request's headers may take, from their first byte.
    #[arg(long, env = "CLOUDID_HEADER_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_timeout_seconds: u64,
    /// Seconds a request's body may take, after its headers.
    #[arg(long, env = "CLOUDID_BODY_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    body_timeout_seconds: u64,
    /// Seconds a keep-alive connection may sit with no request before it is closed.
    #[arg(long, env = "CLOUDID_IDLE_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86400))]
    idle_timeout_seconds: u64,
    /// Connections open at once (default: 4096, or the open-file limit less 64).
    #[arg(long, env = "CLOUDID_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: Option<u64>,
    /// A host name the control plane also answers to (IP addresses and localhost always are),
    /// e.g. a compose service name; repeat or separate with commas.
    #[arg(long = "allow-host", env = "CLOUDID_ALLOW_HOST", value_delimiter = ',')]
    allow_hosts: Vec<String>,
    /// Require `Authorization: Bearer TOKEN` on every control-plane request but health.
    #[arg(long, env = "CLOUDID_CONTROL_TOKEN", hide_env_values = true)]
    control_token: Option<String>,
}

impl Guard {
    fn limits(&self) -> cloudid_mock::Limits {
        let s = std::time::Duration::from_secs;
        let limits = cloudid_mock::Limits::default().with_timeouts(s(self.header_timeout_seconds), s(self.body_timeout_seconds), s(self.idle_timeout_seconds));
        match self.max_connections {
            Some(n) => limits.with_max_connections(usize::try_from(n).unwrap_or(usize::MAX)),
            None => limits,
        }
    }
}

/// The log filter `CLOUDID_LOG` asks for: a bare level (`error`, `warn`, `info`, `debug`,
/// `trace`) applies to cloudid's own logs, the libraries under it staying at `warn`; anything
/// else is a `tracing` filter directive (`hyper=debug,cloudid_mock=trace`). Unset: `warn`.
fn log_filter() -> Result<tracing_subscriber::EnvFilter, String> {
    let raw = std::env::var("CLOUDID_LOG").unwrap_or_default();
    let raw = raw.trim();
    let directive = match raw.to_ascii_lowercase().as_str() {
        "" => "warn".to_string(),
        level @ ("off" | "error" | "warn" | "info" | "debug" | "trace") => format!("warn,cloudid_mock={level},cloudid={level}"),
        _ => raw.to_string(),
    };
    tracing_subscriber::EnvFilter::builder().parse(&directive).map_err(|e| format!("CLOUDID_LOG=`{raw}` is neither a level (error, warn, info, debug, trace) nor a filter directive: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { world, listen, tls_listen, ca_out, proxy, guard } => serve(world, listen, tls_listen, ca_out, proxy, &guard),
        #[cfg(target_os = "linux")]
        Command::Exec { world, platform, journal, env, unset, server, quiet, service_account, command } => exec(world, platform, journal, &env, unset, server, quiet, service_account, command),
        #[cfg(target_os = "linux")]
        Command::MapIds { pid } => match cloudid_mock::exec::map_ids(pid) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cloudid exec: mapping the user ids: {e}");
                ExitCode::FAILURE
            }
        },
        #[cfg(target_os = "linux")]
        Command::Child { parent, command } => ExitCode::from(cloudid_mock::exec::become_workload(parent, &command)),
        #[cfg(target_os = "linux")]
        Command::Relay { listen, to } => match cloudid_mock::exec::relay(&listen, &to) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cloudid relay: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Explain { world, role, provider, service_account, token, claims, at } => explain(world, role, provider, service_account, token, claims, at),
        Command::Lint { world, json } => lint(world, json),
        Command::World { command: WorldCommand::Import { files, out, base } } => world_import(&files, out, base),
        Command::Health { endpoint } => match control(&endpoint, |c| async move { c.health().await }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cloudid health: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { args } => delegate("run", &args),
        Command::Certify { args } => delegate("certify", &args),
        Command::Fuzz { args } => delegate("fuzz", &args),
        Command::Token { issuer, audience, service_account, format, claims, header, duplicates, key, endpoint } => {
            match token(&endpoint, &issuer, audience, service_account, format, [&claims, &header, &duplicates], key) {
                Ok(t) => {
                    print!("{t}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("cloudid token: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::CreateCredConfig {
            provider,
            service_account,
            aws,
            enable_imdsv2,
            credential_source_file,
            credential_source_url,
            credential_source_headers,
            credential_source_type,
            credential_source_field_name,
            output_file,
            endpoint,
            real_hosts,
        } => {
            let source = if aws {
                cloudid_mock::cred_config::Source::Aws { imdsv2: enable_imdsv2 }
            } else if let Some(file) = credential_source_file {
                cloudid_mock::cred_config::Source::File { path: file, json_field: credential_source_type.filter(|t| t == "json").map(|_| credential_source_field_name.clone().unwrap_or_default()) }
            } else if let Some(url) = credential_source_url {
                let headers =
                    credential_source_headers.unwrap_or_default().split(',').filter(|h| !h.is_empty()).filter_map(|h| h.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect();
                cloudid_mock::cred_config::Source::Url { url, headers, json_field: credential_source_type.filter(|t| t == "json").map(|_| credential_source_field_name.clone().unwrap_or_default()) }
            } else {
                eprintln!("cloudid create-cred-config: give one of --aws, --credential-source-file, --credential-source-url");
                return ExitCode::from(2);
            };
            let hosts = if real_hosts { cloudid_mock::cred_config::Hosts::Real } else { cloudid_mock::cred_config::Hosts::Server(&endpoint) };
            match cloudid_mock::cred_config::build_for(&provider, service_account.as_deref(), &source, hosts) {
                Ok(doc) => match std::fs::write(&output_file, serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n") {
                    Ok(()) => {
                        eprintln!("Created credential configuration file [{}].", output_file.display());
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("cloudid create-cred-config: cannot write {}: {e}", output_file.display());
                        ExitCode::FAILURE
                    }
                },
                Err(e) => {
                    eprintln!("cloudid create-cred-config: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Env { endpoint, format, proxy, platform } => match fetch_env(&endpoint, proxy, platform) {
            Ok(vars) => {
                print!("{}", env::render(&vars, format));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cloudid env: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs `cloudid-certify SUBCOMMAND ARGS…` (the harness binary, next to this one or on PATH).
fn delegate(sub: &str, args: &[String]) -> ExitCode {
    let beside = std::env::current_exe().ok().map(|p| p.with_file_name("cloudid-certify")).filter(|p| p.exists());
    let program = beside.map(|p| p.into_os_string()).unwrap_or_else(|| "cloudid-certify".into());
    match std::process::Command::new(&program).arg(sub).args(args).status() {
        Ok(s) => ExitCode::from(u8::try_from(s.code().unwrap_or(1)).unwrap_or(1)),
        Err(e) => {
            let release = std::env::current_exe().is_ok_and(|p| p.components().any(|c| c.as_os_str() == "release"));
            let profile = if release { " --release" } else { "" };
            eprintln!("cloudid {sub}: cannot run cloudid-certify ({e}); build it beside this cloudid with `cargo build{profile} -p cloudid-harness`, or put it on PATH");
            ExitCode::FAILURE
        }
    }
}

fn serve(world_file: Option<PathBuf>, listen: SocketAddr, tls_listen: Option<SocketAddr>, ca_out: Option<PathBuf>, proxy: bool, guard: &Guard) -> ExitCode {
    let filter = match log_filter() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cloudid serve: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let limits = guard.limits();
    let fence = cloudid_mock::fence::Fence::new(guard.allow_hosts.clone(), guard.control_token.clone());
    let model = match load_world(world_file.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cloudid serve: invalid world: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cloudid serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cloudid serve: cannot listen on {listen}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let addr = listener.local_addr().unwrap_or(listen);
        let clock = Clock::system();
        cloudid_mock::apply_clock_config(&model, &clock);
        let shared = cloudid_mock::Shared::fenced(model, clock, fence);
        let router = cloudid_mock::router(shared.clone());
        for (what, bound) in [("", Some(addr)), ("TLS ", tls_listen)] {
            if let Some(bound) = bound.filter(cloudid_mock::fence::beyond_loopback) {
                let token = if guard.control_token.is_some() { "it requires the control token" } else { "anyone who can reach it can use it; consider --control-token" };
                eprintln!("cloudid serve: warning: {what}listening on {bound}, beyond this machine's loopback: the control plane (/_cloudid/…) is reachable from the network, and {token}");
            }
        }
        let mut tls_bound = None;
        let authority = if tls_listen.is_some() || proxy {
            match cloudid_mock::tls::Authority::for_world(&shared.model) {
                Ok(a) => Some(std::sync::Arc::new(a)),
                Err(e) => {
                    eprintln!("cloudid serve: cannot make the TLS certificates: {e}");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            None
        };
        let proxy_dir = if proxy && ca_out.is_none() {
            match private_dir(&format!("cloudid-proxy-{}", addr.port())) {
                Ok(d) => Some(d),
                Err(e) => {
                    eprintln!("cloudid serve: cannot make a directory for the proxy's CA: {e}");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            None
        };
        let ca_out = ca_out.or_else(|| proxy_dir.as_ref().map(|d| d.0.join("ca.pem")));
        if let (Some(path), Some(authority)) = (&ca_out, &authority)
            && let Err(e) = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(path, &authority.ca_pem))
        {
            eprintln!("cloudid serve: cannot write the CA to {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        let router = match (&authority, &ca_out) {
            (Some(authority), Some(ca)) if proxy => {
                let bundle = ca.with_file_name("ca-bundle.pem");
                if let Err(e) = write_new(&bundle, &cloudid_mock::tls::bundle_with_system_roots(&authority.ca_pem)) {
                    eprintln!("cloudid serve: cannot write the CA bundle to {}: {e}", bundle.display());
                    return ExitCode::FAILURE;
                }
                let _ = shared.proxy_env.set(cloudid_mock::proxy::client_env(&format!("http://{addr}"), ca, &bundle));
                cloudid_mock::proxy::Proxy::new(router, authority, limits).wrap()
            }
            _ => router,
        };
        if let (Some(tls_addr), Some(authority)) = (tls_listen, authority.clone()) {
            let tls_listener = match tokio::net::TcpListener::bind(tls_addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("cloudid serve: cannot listen on {tls_addr}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tls_bound = Some(tls_listener.local_addr().unwrap_or(tls_addr));
            let tls_router = router.clone();
            tokio::spawn(async move { authority.serve(tls_listener, tls_router, limits).await });
        }
        // Handlers first, then the ready line: a SIGTERM right after it must stop us cleanly.
        let shutdown = shutdown_signal();
        println!("cloudid listening on http://{addr}");
        if let Some(t) = tls_bound {
            println!("cloudid listening on https://{t}");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tracing::info!(
            "serving on http://{addr} (header timeout {:?}, body timeout {:?}, idle timeout {:?}, at most {} connections)",
            limits.header_timeout,
            limits.body_timeout,
            limits.idle_timeout,
            limits.max_connections
        );
        match cloudid_mock::connections::serve(listener, router, limits, shutdown).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cloudid serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `cloudid exec`: runs before any thread exists (the namespaces need a single-threaded process).
#[cfg(target_os = "linux")]
#[allow(clippy::too_many_arguments)]
fn exec(
    world: Option<PathBuf>,
    platform: Option<cloudid_mock::exec::Platform>,
    journal: Option<PathBuf>,
    env: &[String],
    unset: Vec<String>,
    server: Option<String>,
    quiet: bool,
    service_account: Option<String>,
    command: Vec<std::ffi::OsString>,
) -> ExitCode {
    let model = match load_world(world.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cloudid exec: invalid world: {e}");
            return ExitCode::from(125);
        }
    };
    let mut vars = Vec::new();
    for kv in env {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => vars.push((k.to_string(), v.to_string())),
            _ => {
                eprintln!("cloudid exec: --env `{kv}` is not NAME=VALUE");
                return ExitCode::from(125);
            }
        }
    }
    let mut options = cloudid_mock::exec::ExecOptions::new(model, command);
    options.platform = platform;
    options.journal = journal;
    options.env = vars;
    options.unset = unset;
    options.server = server;
    options.summary = !quiet;
    options.service_account = service_account;
    match cloudid_mock::exec::run(options) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("cloudid exec: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// A fresh directory only this user can read, under the temporary directory, removed on drop.
struct PrivateDir(PathBuf);

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Makes `$TMPDIR/<prefix>-<random>` with mode 0700 (never an existing one).
fn private_dir(prefix: &str) -> std::io::Result<PrivateDir> {
    use std::os::unix::fs::DirBuilderExt;
    let mut bytes = [0u8; 6];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| std::io::Error::other("no randomness"))?;
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let path = std::env::temp_dir().join(format!("{prefix}-{suffix}"));
    std::fs::DirBuilder::new().mode(0o700).create(&path)?;
    Ok(PrivateDir(path))
}

/// Writes `text` to a file that must not exist yet (no following a planted link).
fn write_new(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)?.write_all(text.as_bytes())
}

/// The world in `path`, or the built-in default world.
fn world_import(files: &[String], out: Option<PathBuf>, base: Option<String>) -> ExitCode {
    let fail = |why: String| {
        eprintln!("cloudid world import: {why}");
        ExitCode::from(2)
    };
    let mut inputs = Vec::new();
    for arg in files {
        let (subject, path) = match arg.split_once('=') {
            Some((s, p)) if !std::path::Path::new(arg).exists() => (Some(s.to_string()), p),
            _ => (None, arg.as_str()),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return fail(format!("{path}: {e}")),
        };
        let json = match world::strict_json::parse(&text) {
            Ok(j) => j,
            Err(e) => return fail(format!("{path}: not JSON: line {}, column {}: {e}", e.line(), e.column())),
        };
        inputs.push(world::import::Input { name: path.to_string(), subject, json });
    }
    let base = match base.as_deref() {
        None => None,
        Some(name) => {
            let text = if name == "default" { Ok(world::load::DEFAULT_WORLD_YAML.to_string()) } else { std::fs::read_to_string(name) };
            let parsed = text.map_err(|e| e.to_string()).and_then(|t| {
                world::load::parse(name, &t).map_err(|e| e.to_string())?;
                yaml_serde::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string())
            });
            match parsed {
                Ok(v) => Some(v),
                Err(e) => return fail(format!("--base {name}: {e}")),
            }
        }
    };
    let (yaml, report) = match world::import::import_onto(base, &inputs) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    for (title, lines) in [("took", &report.took), ("ignored", &report.ignored), ("placeholders", &report.placeholders)] {
        if !lines.is_empty() {
            eprintln!("{title}:");
            for l in lines {
                eprintln!("  {l}");
            }
        }
    }
    let header = "# Built by `cloudid world import`; see the report it printed for what it took, ignored and filled in.\n";
    let text = format!("{header}{yaml}");
    let name = out.as_ref().map_or_else(|| "<imported>".to_string(), |p| p.display().to_string());
    let base = out.as_ref().and_then(|p| p.parent()).map(std::path::Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    if let Err(e) = world::load::parse_in(&name, &text, Some(&base)) {
        return fail(format!("the imported world does not load: {e}\n{text}"));
    }
    match out {
        Some(p) => match std::fs::write(&p, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("{}: {e}", p.display())),
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}

fn lint(world: Option<PathBuf>, json: bool) -> ExitCode {
    let (name, text) = match &world {
        Some(p) => (p.display().to_string(), std::fs::read_to_string(p).unwrap_or_default()),
        None => ("<default>".to_string(), world::load::DEFAULT_WORLD_YAML.to_string()),
    };
    let model = match load_world(world.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("cloudid lint: {e}");
            return ExitCode::from(2);
        }
    };
    let findings = cloudid_mock::lint::lint(&model);
    if json {
        println!("{}", serde_json::to_string_pretty(&findings).unwrap_or_default());
    } else {
        for f in &findings {
            let line = world::load::locate(&text, &f.at).map(|l| format!(":{l}")).unwrap_or_default();
            println!("{}", f.render(&format!("{name}{line}")));
        }
        if findings.is_empty() {
            println!("{name}: no findings");
        }
    }
    if findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn explain(world: Option<PathBuf>, role: Option<String>, provider: Option<String>, service_account: Option<String>, token: Option<PathBuf>, claims: Option<String>, at: Option<String>) -> ExitCode {
    use cloudid_mock::offline::{Subject, Target};
    let fail = |why: String| {
        eprintln!("cloudid explain: {why}");
        ExitCode::from(2)
    };
    let model = match load_world(world.as_deref()) {
        Ok(m) => m,
        Err(e) => return fail(e.to_string()),
    };
    let now = match at.as_deref().map(cloudid_mock::clock::parse_rfc3339) {
        None => Clock::system().now(),
        Some(Ok(t)) => t,
        Some(Err(e)) => return fail(format!("--at: not an RFC 3339 instant: {e}")),
    };
    let target = match (role, provider) {
        (Some(arn), _) => Target::Role(arn),
        (None, Some(name)) => Target::Provider { name, service_account },
        (None, None) => return fail("give --role or --provider".into()),
    };
    let subject = match (token, claims) {
        (Some(path), _) => {
            let text = if path.as_os_str() == "-" { std::io::read_to_string(std::io::stdin()) } else { std::fs::read_to_string(&path) };
            match text {
                Ok(t) => Subject::Token(t),
                Err(e) => return fail(format!("--token {}: {e}", path.display())),
            }
        }
        (None, Some(json)) => match serde_json::from_str::<serde_json::Value>(&json) {
            Ok(serde_json::Value::Object(m)) => Subject::Claims(m),
            Ok(_) => return fail("--claims must be a JSON object".into()),
            Err(e) => return fail(format!("--claims is not JSON: {e}")),
        },
        (None, None) => return fail("give --token or --claims".into()),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(e.to_string()),
    };
    match runtime.block_on(cloudid_mock::offline::explain(model, &target, &subject, now)) {
        Ok(report) => {
            print!("{}", report.render());
            match (report.granted(), report.malformed()) {
                (true, _) => ExitCode::SUCCESS,
                (false, true) => ExitCode::from(2),
                (false, false) => ExitCode::from(1),
            }
        }
        Err(e) => fail(e),
    }
}

fn load_world(path: Option<&std::path::Path>) -> Result<world::WorldModel, world::WorldError> {
    path.map_or_else(|| Ok(world::default_world()), world::load_file)
}

/// Resolves on SIGINT or SIGTERM; both handlers are installed when this returns, before the
/// future is first polled.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut term = signal(SignalKind::terminate()).ok();
    async move {
        let wait = |s: Option<tokio::signal::unix::Signal>| async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(int.take()) => {},
            () = wait(term.take()) => {},
        }
    }
}

/// Runs one control-plane call against `endpoint` on a small runtime of its own.
fn control<T, F, Fut>(endpoint: &str, call: F) -> Result<T, cloudid_mock::ControlError>
where
    F: FnOnce(cloudid_mock::ControlClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, cloudid_mock::ControlError>>,
{
    let client = cloudid_mock::ControlClient::new(endpoint)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| cloudid_mock::ControlError::Unreachable { endpoint: endpoint.to_string(), why: e.to_string() })?;
    runtime.block_on(call(client))
}

/// Asks the server for a token. Printed without a trailing newline: token files must not end in one.
/// `NAME=VALUE` pairs (`--claim`, `--header`, `--duplicate`) as a JSON object; a value that is not
/// JSON is a string.
fn pairs(flag: &str, items: &[String]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut out = serde_json::Map::new();
    for c in items {
        let (k, v) = c.split_once('=').ok_or_else(|| format!("--{flag} `{c}` is not NAME=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        out.insert(k.to_string(), value);
    }
    Ok(out)
}

fn token(
    endpoint: &str,
    issuer: &str,
    audience: Option<String>,
    service_account: Option<String>,
    format: Option<String>,
    [claims, header, duplicates]: [&[String]; 3],
    key: Option<String>,
) -> Result<String, String> {
    let request = cloudid_mock::TokenRequest { audience, service_account, format, claims: pairs("claim", claims)?, header: pairs("header", header)?, duplicates: pairs("duplicate", duplicates)?, key };
    control(endpoint, |c| async move { c.mint(issuer, &request).await }).map_err(|e| e.to_string())
}

/// `GET <endpoint>/_cloudid/env` (`?mode=proxy` for a proxy's variables).
fn fetch_env(endpoint: &str, proxy: bool, platform: Option<env::EnvPlatform>) -> Result<std::collections::BTreeMap<String, String>, String> {
    let name = platform.and_then(|p| clap::ValueEnum::to_possible_value(&p)).map(|v| v.get_name().to_string());
    control(endpoint, |c| async move {
        match (proxy, name) {
            (true, _) => c.proxy_env().await,
            (false, Some(p)) => c.platform_env(&p).await,
            (false, None) => c.env().await,
        }
    })
    .map_err(|e| e.to_string())
}
