//! The `cloudid` command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cloudid_mock::{clock::Clock, env, server, world};

/// cloudid: keyless cloud identity endpoints on one machine, verified as strictly as the clouds.
#[derive(Debug, Parser)]
#[command(name = "cloudid", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    },
    /// Print the environment a client needs to reach a running server.
    Env {
        /// Base URL of the running server.
        #[arg(long, env = "CLOUDID_ENDPOINT", default_value = "http://127.0.0.1:8133")]
        endpoint: String,
        /// Output format.
        #[arg(long, env = "CLOUDID_FORMAT", value_enum, default_value = "sh")]
        format: env::Format,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { world, listen } => serve(world, listen),
        Command::Env { endpoint, format } => match fetch_env(&endpoint) {
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

fn serve(world_file: Option<PathBuf>, listen: SocketAddr) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CLOUDID_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let model = match &world_file {
        Some(path) => match world::load_file(path) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("cloudid serve: invalid world: {e}");
                return ExitCode::from(2);
            }
        },
        None => world::default_world(),
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
        server::apply_clock_config(&model, &clock);
        let shared = server::Shared::new(model, clock);
        let router = server::router(shared);
        println!("cloudid listening on http://{addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        match server::serve(listener, router, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("cloudid serve: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `GET <endpoint>/_cloudid/env` over a plain HTTP/1.1 connection.
fn fetch_env(endpoint: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    use std::io::{Read, Write};
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{endpoint}`: only http:// endpoints are supported"))?
        .trim_end_matches('/');
    let authority = authority.split('/').next().unwrap_or(authority);
    let unreachable = |e: std::io::Error| format!("cannot reach cloudid at {endpoint}: {e} (is `cloudid serve` running?)");
    let mut stream = std::net::TcpStream::connect(authority).map_err(unreachable)?;
    let timeout = Some(std::time::Duration::from_secs(5));
    stream.set_read_timeout(timeout).map_err(unreachable)?;
    write!(stream, "GET /_cloudid/env HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: application/json\r\n\r\n").map_err(unreachable)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(unreachable)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{endpoint} answered `{}`; is it a cloudid server?", head.lines().next().unwrap_or("")));
    }
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    serde_json::from_str(&body).map_err(|e| format!("unexpected answer from {endpoint}: {e}"))
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
