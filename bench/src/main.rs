//! `cloudid-bench`: measures the AWS credential plane against a bare axum "hello" server on the
//! same machine, in one run, and prints a Markdown report.
//!
//! ```text
//! cargo build --release -p cloudid-mock -p cloudid-bench
//! target/release/cloudid-bench [--seconds 5] [--cloudid target/release/cloudid]
//! ```
//!
//! Measured: IMDS credentials GET req/s and p99 at concurrency 1 and 16 (each server in its own
//! process, loaded over keep-alive HTTP/1.1 connections), cold start of `cloudid serve` to the
//! first 200 on `/_cloudid/health`, and cloudid's peak RSS under that load.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request};
use tokio::net::TcpStream;

/// The allocator `cloudid serve` uses, so in-process measurements match the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CREDS_PATH: &str = "/latest/meta-data/iam/security-credentials/embulk-gcp-access";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("hello-server") {
        let size: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
        hello_server(size);
        return;
    }
    if args.get(1).map(String::as_str) == Some("sts") {
        let seconds: u64 = flag(&args, "--seconds").and_then(|s| s.parse().ok()).unwrap_or(3);
        let cloudid = flag(&args, "--cloudid").map(PathBuf::from).unwrap_or_else(|| sibling("cloudid"));
        let moto = flag(&args, "--moto-bin").map(PathBuf::from);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(sts_bench(cloudid, moto, Duration::from_secs(seconds)));
        return;
    }
    if args.get(1).map(String::as_str) == Some("handler") {
        let n: u32 = flag(&args, "--requests").and_then(|s| s.parse().ok()).unwrap_or(20_000);
        let tasks: usize = flag(&args, "--tasks").and_then(|s| s.parse().ok()).unwrap_or(1);
        let rt = match tasks {
            1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
            _ => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        };
        rt.expect("runtime").block_on(handler_bench(n, tasks));
        return;
    }
    if args.get(1).map(String::as_str) == Some("soak") {
        let seconds: u64 = flag(&args, "--seconds").and_then(|s| s.parse().ok()).unwrap_or(60);
        let clients: usize = flag(&args, "--clients").and_then(|s| s.parse().ok()).unwrap_or(64);
        let cloudid = flag(&args, "--cloudid").map(PathBuf::from).unwrap_or_else(|| sibling("cloudid"));
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        rt.block_on(soak(cloudid, clients, Duration::from_secs(seconds)));
        return;
    }
    if args.get(1).map(String::as_str) == Some("hostile") {
        let seconds: u64 = flag(&args, "--seconds").and_then(|s| s.parse().ok()).unwrap_or(60);
        let cloudid = flag(&args, "--cloudid").map(PathBuf::from).unwrap_or_else(|| sibling("cloudid"));
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        rt.block_on(hostile(cloudid, Duration::from_secs(seconds)));
        return;
    }
    if args.get(1).map(String::as_str) == Some("tokens") {
        let seconds: u64 = flag(&args, "--seconds").and_then(|s| s.parse().ok()).unwrap_or(3);
        let cloudid = flag(&args, "--cloudid").map(PathBuf::from).unwrap_or_else(|| sibling("cloudid"));
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        rt.block_on(tokens_bench(cloudid, Duration::from_secs(seconds)));
        return;
    }
    if args.get(1).map(String::as_str) == Some("exec") {
        let runs: usize = flag(&args, "--runs").and_then(|s| s.parse().ok()).unwrap_or(21);
        let cloudid = flag(&args, "--cloudid").map(PathBuf::from).unwrap_or_else(|| sibling("cloudid"));
        exec_bench(&cloudid, runs);
        return;
    }
    if args.get(1).map(String::as_str) == Some("load") {
        // cloudid-bench load ADDR CONCURRENCY SECONDS: load one running cloudid (for profiling).
        let addr: SocketAddr = args.get(2).and_then(|a| a.parse().ok()).expect("load ADDR CONCURRENCY SECONDS");
        let c: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(16);
        let secs: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(5);
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
        let l = rt.block_on(async move {
            let token = imds_token(addr).await;
            load(addr, c, Duration::from_secs(secs), Some(token)).await
        });
        println!("{:.0} req/s, p50 {} µs, p99 {} µs", l.rps, l.p50_us, l.p99_us);
        return;
    }
    let seconds: u64 = flag(&args, "--seconds").and_then(|s| s.parse().ok()).unwrap_or(3);
    let cloudid = flag(&args, "--cloudid").map(PathBuf::from).unwrap_or_else(|| sibling("cloudid"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(run(cloudid, Duration::from_secs(seconds)));
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn sibling(name: &str) -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.with_file_name(name)
}

/// A bare axum server answering the same path with a constant — `hello`, or `size` bytes so the
/// body costs the same on the wire: the floor to compare against.
fn hello_server(size: usize) {
    let body: &'static str = if size == 0 { "hello" } else { Box::leak("x".repeat(size).into_boxed_str()) };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async move {
        let app = axum::Router::new().route(CREDS_PATH, axum::routing::get(move || async move { body })).route("/_cloudid/health", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        println!("listening on http://{}", listener.local_addr().expect("addr"));
        use std::io::Write;
        std::io::stdout().flush().ok();
        axum::serve(listener, app).await.expect("serve");
    });
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(program: &PathBuf, args: &[&str]) -> Server {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(program).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready line");
    let addr = line.trim().rsplit("http://").next().expect("address").parse().expect("socket address");
    Server { child, addr }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Sender {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).ok();
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    sender
}

async fn request(sender: &mut Sender, method: Method, addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, Bytes) {
    send(sender, &Spec { method, path: path.to_string(), headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), body: Bytes::new() }, addr).await
}

/// One request to replay under load.
#[derive(Clone)]
struct Spec {
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

async fn send(sender: &mut Sender, spec: &Spec, addr: SocketAddr) -> (u16, Bytes) {
    try_send(sender, spec, addr).await.expect("request failed")
}

/// Sends on `sender`, reconnecting once if the server closed the connection (moto's server does
/// not keep connections alive).
async fn try_send(sender: &mut Sender, spec: &Spec, addr: SocketAddr) -> Result<(u16, Bytes), hyper::Error> {
    if sender.ready().await.is_err() {
        *sender = connect(addr).await;
    }
    match send_once(sender, spec, addr).await {
        Ok(r) => Ok(r),
        Err(_) => {
            *sender = connect(addr).await;
            send_once(sender, spec, addr).await
        }
    }
}

async fn send_once(sender: &mut Sender, spec: &Spec, addr: SocketAddr) -> Result<(u16, Bytes), hyper::Error> {
    let mut req = Request::builder().method(spec.method.clone()).uri(&spec.path);
    if !spec.headers.iter().any(|(k, _)| k == "host") {
        req = req.header("host", addr.to_string());
    }
    for (k, v) in &spec.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    sender.ready().await?;
    let resp = sender.send_request(req.body(Full::new(spec.body.clone())).expect("request")).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Each cell is the median of this many interleaved rounds, so machine noise hits all servers alike.
const ROUNDS: usize = 3;

fn median(mut runs: Vec<Load>) -> Load {
    runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    runs.swap_remove(runs.len() / 2)
}

struct Load {
    rps: f64,
    p50_us: u64,
    p99_us: u64,
}

async fn load(addr: SocketAddr, concurrency: usize, duration: Duration, token: Option<String>) -> Load {
    let path = std::env::var("CLOUDID_BENCH_PATH").unwrap_or_else(|_| CREDS_PATH.to_string());
    let headers = token.map(|t| vec![("x-aws-ec2-metadata-token".to_string(), t)]).unwrap_or_default();
    load_spec(addr, concurrency, duration, Arc::new(Spec { method: Method::GET, path, headers, body: Bytes::new() })).await
}

async fn load_spec(addr: SocketAddr, concurrency: usize, duration: Duration, spec: Arc<Spec>) -> Load {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let spec = spec.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            let mut lat = Vec::with_capacity(200_000);
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let (status, body) = send(&mut sender, &spec, addr).await;
                assert_eq!(status, 200, "load request failed: {}", String::from_utf8_lossy(&body));
                lat.push(t0.elapsed().as_micros() as u64);
            }
            lat
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("load task"));
    }
    summarize(all, started.elapsed().max(duration))
}

/// Throughput and latency percentiles of `latencies_us` collected over `elapsed`.
fn summarize(mut latencies_us: Vec<u64>, elapsed: Duration) -> Load {
    latencies_us.sort_unstable();
    let all = &latencies_us;
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0);
    Load { rps: all.len() as f64 / elapsed.as_secs_f64(), p50_us: pct(0.50), p99_us: pct(0.99) }
}

/// `spec` as HTTP/1.1 bytes on the wire, sent as-is by [`raw_load`].
fn wire(spec: &Spec, addr: SocketAddr) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\n", spec.method, spec.path);
    if !spec.headers.iter().any(|(k, _)| k == "host") {
        out.push_str(&format!("host: {addr}\r\n"));
    }
    for (k, v) in &spec.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("content-length: {}\r\n\r\n", spec.body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&spec.body);
    bytes
}

/// Reads one response from `stream` into `buf`: its status and whether the server keeps the
/// connection open. `None` if the connection ended first.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u16, bool)> {
    use tokio::io::AsyncReadExt;
    buf.clear();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).ok()?.to_ascii_lowercase();
    let status: u16 = head.get(9..12)?.parse().ok()?;
    let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok())?;
    let keep_alive = !head.lines().any(|l| l.starts_with("connection:") && l.contains("close")) && head.starts_with("http/1.1");
    while buf.len() < head_end + length {
        if stream.read_buf(buf).await.ok()? == 0 {
            return None;
        }
    }
    Some((status, keep_alive))
}

/// Load like `wrk -t1`: `concurrency` keep-alive connections on the calling thread, each sending
/// the same pre-serialised request and reading the answer with a minimal HTTP/1.1 parser, so the
/// load generator spends as little of the shared CPU as it can. Reconnects when a server closes
/// the connection (moto's does after every answer), counting the reconnect in the latency.
async fn raw_load(addr: SocketAddr, concurrency: usize, duration: Duration, spec: Arc<Spec>) -> Load {
    use tokio::io::AsyncWriteExt;
    let request: Arc<[u8]> = wire(&spec, addr).into();
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let request = request.clone();
        tasks.spawn(async move {
            let (mut lat, mut buf) = (Vec::with_capacity(200_000), Vec::with_capacity(8192));
            let mut stream: Option<TcpStream> = None;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let mut s = match stream.take() {
                    Some(s) => s,
                    None => {
                        let s = TcpStream::connect(addr).await.expect("connect");
                        s.set_nodelay(true).ok();
                        s
                    }
                };
                s.write_all(&request).await.expect("send");
                let (status, keep) = read_response(&mut s, &mut buf).await.expect("a whole response");
                assert_eq!(status, 200, "load request failed: {}", String::from_utf8_lossy(&buf));
                lat.push(t0.elapsed().as_micros() as u64);
                if keep {
                    stream = Some(s);
                }
            }
            lat
        });
    }
    let started = Instant::now();
    let mut all = Vec::new();
    while let Some(t) = tasks.join_next().await {
        all.extend(t.expect("load task"));
    }
    summarize(all, started.elapsed().max(duration))
}

async fn imds_token(addr: SocketAddr) -> String {
    let mut s = connect(addr).await;
    let (status, body) = request(&mut s, Method::PUT, addr, "/latest/api/token", &[("x-aws-ec2-metadata-token-ttl-seconds", "21600")]).await;
    assert_eq!(status, 200);
    String::from_utf8(body.to_vec()).expect("token text")
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// `cloudid exec -q -- true`, `runs` times: the whole overhead a workload pays — namespaces,
/// loopback addresses, the hosts and CA overlays, the CA and certificate, the server start, the
/// child and the teardown — against `true` run directly.
fn exec_bench(cloudid: &std::path::Path, runs: usize) {
    let time = |program: &std::path::Path, args: &[&str]| -> Vec<Duration> {
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                let status = std::process::Command::new(program).args(args).status().expect("run");
                assert!(status.success(), "{} {args:?} failed: {status}", program.display());
                t0.elapsed()
            })
            .collect();
        times.sort();
        times
    };
    let bare = time(std::path::Path::new("true"), &[]);
    let exec = time(cloudid, &["exec", "-q", "--", "true"]);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("| what ({runs} runs) | median | fastest | slowest |");
    println!("|---|---|---|---|");
    for (what, t) in [("`true`", &bare), ("`cloudid exec -q -- true`", &exec)] {
        println!("| {what} | {:.1} ms | {:.1} ms | {:.1} ms |", ms(t[t.len() / 2]), ms(t[0]), ms(t[t.len() - 1]));
    }
}

async fn cold_start(cloudid: &PathBuf, runs: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("probe port").local_addr().expect("addr").port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let t0 = Instant::now();
        let mut child = Command::new(cloudid).args(["serve", "--listen", &addr.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn cloudid");
        loop {
            if let Ok(stream) = TcpStream::connect(addr).await {
                drop(stream);
                let mut s = connect(addr).await;
                let (status, _) = request(&mut s, Method::GET, addr, "/_cloudid/health", &[]).await;
                if status == 200 {
                    break;
                }
            }
            if t0.elapsed() > Duration::from_secs(10) {
                panic!("cloudid did not become healthy within 10 s");
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        times.push(t0.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    times.sort();
    times
}

async fn run(cloudid: PathBuf, duration: Duration) {
    let hello_bin = std::env::current_exe().expect("own path");
    let cold = cold_start(&cloudid, 15).await;
    let cloud = spawn(&cloudid, &["serve", "--listen", "127.0.0.1:0"]);
    let token = imds_token(cloud.addr).await;
    let body_len = {
        let mut s = connect(cloud.addr).await;
        request(&mut s, Method::GET, cloud.addr, CREDS_PATH, &[("x-aws-ec2-metadata-token", &token)]).await.1.len()
    };
    let hello = spawn(&hello_bin, &["hello-server"]);
    let same_size = spawn(&hello_bin, &["hello-server", &body_len.to_string()]);

    println!("## cloudid-bench: IMDS credentials GET (`{CREDS_PATH}`, {body_len}-byte body), median of {ROUNDS} interleaved {}s rounds per cell\n", duration.as_secs());
    println!("| concurrency | bare axum `hello` req/s (p99) | bare axum, {body_len}-byte body req/s (p99) | cloudid req/s (p99) | cloudid / hello | cloudid / same-size |");
    println!("|---|---|---|---|---|---|");
    for c in [1usize, 16] {
        let (mut bares, mut sizeds, mut ourss) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            bares.push(load(hello.addr, c, duration, None).await);
            sizeds.push(load(same_size.addr, c, duration, None).await);
            ourss.push(load(cloud.addr, c, duration, Some(token.clone())).await);
        }
        let (bare, sized, ours) = (median(bares), median(sizeds), median(ourss));
        println!(
            "| {c} | {:.0} ({} µs) | {:.0} ({} µs) | {:.0} ({} µs) | {:.2}× | {:.2}× |",
            bare.rps,
            bare.p99_us,
            sized.rps,
            sized.p99_us,
            ours.rps,
            ours.p99_us,
            ours.rps / bare.rps,
            ours.rps / sized.rps
        );
        let _ = (bare.p50_us, sized.p50_us, ours.p50_us);
    }
    let rss = peak_rss_kib(cloud.child.id());
    let median = cold[cold.len() / 2];
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!("| cold start to first 200 on /_cloudid/health (median of {}) | {:.1} ms |", cold.len(), median.as_secs_f64() * 1000.0);
    println!("| cold start, fastest / slowest | {:.1} / {:.1} ms |", cold[0].as_secs_f64() * 1000.0, cold[cold.len() - 1].as_secs_f64() * 1000.0);
    println!("| cloudid peak RSS under load (VmHWM) | {:.1} MB |", rss as f64 / 1024.0);
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let mut e = String::new();
            cloudid_mock::verify::sigv4::uri_encode(v.as_bytes(), false, &mut e);
            format!("{k}={e}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn tag(xml: &str, name: &str) -> String {
    let start = xml.find(&format!("<{name}>")).map(|i| i + name.len() + 2).unwrap_or(0);
    let end = xml[start..].find(&format!("</{name}>")).map(|i| i + start).unwrap_or(start);
    xml[start..end].to_string()
}

fn form_spec(body: String, extra: Vec<(String, String)>) -> Spec {
    let mut headers = vec![("content-type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string())];
    headers.extend(extra);
    Spec { method: Method::POST, path: "/".into(), headers, body: Bytes::from(body) }
}

/// A `GetCallerIdentity` signed now with `(akid, secret, token)` for `host`.
fn signed_gci(host: &str, akid: &str, secret: &str, token: &str) -> Spec {
    use cloudid_mock::verify::sigv4;
    let body = "Action=GetCallerIdentity&Version=2011-06-15".to_string();
    let date = sigv4::format_amz_date(time::OffsetDateTime::now_utc());
    let headers = vec![
        ("content-type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()),
        ("host".to_string(), host.to_string()),
        ("x-amz-date".to_string(), date.clone()),
        ("x-amz-security-token".to_string(), token.to_string()),
    ];
    let names: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    let req = sigv4::Request { method: "POST", path: "/", query: "", headers: headers.clone(), body: body.as_bytes() };
    let canonical = sigv4::canonical_request(&req, &names, &sigv4::sha256_hex(body.as_bytes())).expect("canonical");
    let scope = format!("{}/us-east-1/sts/aws4_request", &date[..8]);
    let sts = sigv4::string_to_sign(&date, &scope, &canonical);
    let sig = sigv4::signature(secret, &date[..8], "us-east-1", "sts", &sts);
    let mut all = headers;
    all.push(("authorization".into(), format!("AWS4-HMAC-SHA256 Credential={akid}/{scope}, SignedHeaders={}, Signature={sig}", names.join(";"))));
    Spec { method: Method::POST, path: "/".into(), headers: all, body: Bytes::from(body) }
}

/// STS operations on cloudid (RS256 verified, SigV4 verified) and, if given, moto (checks
/// neither), side by side; plus the raw RS256 verify rate of aws-lc-rs on one core.
async fn sts_bench(cloudid: PathBuf, moto_bin: Option<PathBuf>, duration: Duration) {
    let cloud = spawn(&cloudid, &["serve", "--listen", "127.0.0.1:0"]);
    let mut s = connect(cloud.addr).await;
    let minted = send(
        &mut s,
        &Spec {
            method: Method::POST,
            path: "/_cloudid/tokens/github".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(r#"{"audience":"sts.amazonaws.com"}"#),
        },
        cloud.addr,
    )
    .await
    .1;
    let token: serde_json::Value = serde_json::from_slice(&minted).expect("token json");
    let token = token["token"].as_str().expect("token").to_string();
    let arwwi = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", "arn:aws:iam::123456789012:role/GitHubActionsECRRole"),
        ("RoleSessionName", "bench"),
        ("WebIdentityToken", &token),
    ]);
    let arwwi_spec = Arc::new(form_spec(arwwi.clone(), vec![]));
    let (status, xml) = send(&mut s, &arwwi_spec, cloud.addr).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&xml));
    let xml = String::from_utf8_lossy(&xml).to_string();
    let gci_spec = Arc::new(signed_gci(&cloud.addr.to_string(), &tag(&xml, "AccessKeyId"), &tag(&xml, "SecretAccessKey"), &tag(&xml, "SessionToken")));
    assert_eq!(send(&mut s, &gci_spec, cloud.addr).await.0, 200, "signed GetCallerIdentity");

    let moto = moto_bin.map(|bin| {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = Command::new(bin).args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("moto_server");
        Server { child, addr: format!("127.0.0.1:{port}").parse().expect("addr") }
    });
    let mut moto_specs = None;
    if let Some(m) = &moto {
        let started = Instant::now();
        while TcpStream::connect(m.addr).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut ms = connect(m.addr).await;
        let a = Arc::new(form_spec(arwwi.clone(), vec![]));
        let (st, x) = send(&mut ms, &a, m.addr).await;
        assert_eq!(st, 200, "moto: {}", String::from_utf8_lossy(&x));
        let x = String::from_utf8_lossy(&x).to_string();
        let g = Arc::new(signed_gci(&m.addr.to_string(), &tag(&x, "AccessKeyId"), &tag(&x, "SecretAccessKey"), &tag(&x, "SessionToken")));
        moto_specs = Some((a, g));
    }

    println!("## cloudid-bench sts: median of {ROUNDS} interleaved {}s rounds per cell\n", duration.as_secs());
    println!("| operation | concurrency | cloudid req/s (p99) | moto req/s (p99) | cloudid / moto |");
    println!("|---|---|---|---|---|");
    let _ = gci_spec;
    for (name, ours_spec, moto_spec) in [
        ("GetCallerIdentity (SigV4)", None, moto_specs.as_ref().map(|m| m.1.clone())),
        ("AssumeRoleWithWebIdentity (RS256 + trust policy)", Some(arwwi_spec.clone()), moto_specs.as_ref().map(|m| m.0.clone())),
    ] {
        let ours_spec = match ours_spec {
            Some(s) => s,
            None => {
                let (_, xml) = send(&mut s, &arwwi_spec, cloud.addr).await;
                let xml = String::from_utf8_lossy(&xml).to_string();
                Arc::new(signed_gci(&cloud.addr.to_string(), &tag(&xml, "AccessKeyId"), &tag(&xml, "SecretAccessKey"), &tag(&xml, "SessionToken")))
            }
        };
        for c in [1usize, 8] {
            let (mut ours, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                ours.push(raw_load(cloud.addr, c, duration, ours_spec.clone()).await);
                if let (Some(m), Some(spec)) = (&moto, &moto_spec) {
                    theirs.push(raw_load(m.addr, c, duration, spec.clone()).await);
                }
            }
            let o = median(ours);
            match theirs.is_empty() {
                true => println!("| {name} | {c} | {:.0} ({} µs) | not run | |", o.rps, o.p99_us),
                false => {
                    let t = median(theirs);
                    println!("| {name} | {c} | {:.0} ({} µs) | {:.0} ({} µs) | {:.0}× |", o.rps, o.p99_us, t.rps, t.p99_us, o.rps / t.rps);
                }
            }
        }
    }
    let decoded = cloudid_mock::verify::jwt::decode(&token).expect("token");
    let key = cloudid_mock::world::issuers::SigningKey::fixture("github-actions-1").expect("fixture");
    let keys = vec![key.prepared.clone()];
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(1) {
        decoded.verify(&keys).expect("verifies");
        n += 1;
    }
    println!("\nRaw RS256 verify (aws-lc-rs, one core, this machine): {:.0}/s", n as f64 / started.elapsed().as_secs_f64());
    let rss = peak_rss_kib(cloud.child.id());
    println!("cloudid peak RSS after the STS runs (VmHWM): {:.1} MB", rss as f64 / 1024.0);
}

/// The server's own cost per STS request, without the network: each request goes through the
/// whole router (routing, body, fault check, journal) in-process, from `tasks` concurrent tasks
/// (one task: a current-thread runtime, so the time per request is one core's).
async fn handler_bench(n: u32, tasks: usize) {
    use tower::ServiceExt;
    let shared = cloudid_mock::Shared::new(cloudid_mock::world::load::default_world(), cloudid_mock::clock::Clock::system());
    let app = cloudid_mock::router(shared);
    let call = move |spec: &Spec| {
        let mut req = Request::builder().method(spec.method.clone()).uri(&spec.path);
        if !spec.headers.iter().any(|(k, _)| k == "host") {
            req = req.header("host", "127.0.0.1:1");
        }
        for (k, v) in &spec.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(axum::body::Body::from(spec.body.clone())).expect("request");
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.expect("infallible");
            let status = resp.status().as_u16();
            (status, resp.into_body().collect().await.expect("body").to_bytes())
        }
    };
    let mint = Spec {
        method: Method::POST,
        path: "/_cloudid/tokens/github".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Bytes::from(r#"{"audience":"sts.amazonaws.com"}"#),
    };
    let token: serde_json::Value = serde_json::from_slice(&call(&mint).await.1).expect("token json");
    let token = token["token"].as_str().expect("token").to_string();
    let arwwi = form_spec(
        form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::123456789012:role/GitHubActionsECRRole"),
            ("RoleSessionName", "bench"),
            ("WebIdentityToken", &token),
        ]),
        vec![],
    );
    let (status, xml) = call(&arwwi).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&xml));
    let xml = String::from_utf8_lossy(&xml).to_string();
    let gci = signed_gci("127.0.0.1:1", &tag(&xml, "AccessKeyId"), &tag(&xml, "SecretAccessKey"), &tag(&xml, "SessionToken"));
    println!("## cloudid-bench handler: in-process, {tasks} task(s), {n} requests each\n");
    println!("| operation | µs per request (wall) | requests/s |");
    println!("|---|---|---|");
    for (name, spec) in [("GetCallerIdentity (SigV4)", Arc::new(gci)), ("AssumeRoleWithWebIdentity (RS256 + trust policy)", Arc::new(arwwi))] {
        let started = Instant::now();
        let mut running = Vec::new();
        for _ in 0..tasks {
            let (spec, call) = (spec.clone(), call.clone());
            running.push(tokio::spawn(async move {
                for _ in 0..n / tasks as u32 {
                    let (status, _) = call(&spec).await;
                    assert_eq!(status, 200);
                }
            }));
        }
        for r in running {
            r.await.expect("task");
        }
        let per = started.elapsed().as_secs_f64() / f64::from(n);
        println!("| {name} | {:.1} | {:.0} |", per * 1e6, 1.0 / per);
    }
}

/// RS256 signatures per second with aws-lc-rs on `threads` threads for `duration`.
fn raw_sign_rate(threads: usize, duration: Duration) -> f64 {
    let key = cloudid_mock::world::issuers::SigningKey::fixture("github-actions-1").expect("fixture");
    let claims = serde_json::json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/x:ref:refs/heads/main", "aud": "sts.amazonaws.com", "iat": 1, "exp": 2});
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let key = key.clone();
            let claims = claims.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while started.elapsed() < duration {
                    std::hint::black_box(key.sign(&claims, &Default::default()));
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().expect("signer")).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// Tokens minted per second over HTTP (GitHub Actions endpoint, metadata identity endpoint)
/// against the raw RS256 signing rate of aws-lc-rs measured in the same run.
async fn tokens_bench(cloudid: PathBuf, duration: Duration) {
    let raw1 = raw_sign_rate(1, duration);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let raw_all = raw_sign_rate(cores, duration);
    let cloud = spawn(&cloudid, &["serve", "--listen", "127.0.0.1:0"]);
    let github = Arc::new(Spec {
        method: Method::GET,
        path: "/github/actions/idtoken?api-version=2.0&audience=sts.amazonaws.com".into(),
        headers: vec![("authorization".into(), "Bearer cloudid-actions-runtime-token".into()), ("accept".into(), "application/json".into())],
        body: Bytes::new(),
    });
    let identity = Arc::new(Spec {
        method: Method::GET,
        path: "/computeMetadata/v1/instance/service-accounts/default/identity?audience=https://example.com&format=full".into(),
        headers: vec![("metadata-flavor".into(), "Google".into())],
        body: Bytes::new(),
    });
    println!("## cloudid-bench tokens: median of {ROUNDS} {}s rounds per cell\n", duration.as_secs());
    println!("Raw RS256 signing with aws-lc-rs on this machine, same run: {raw1:.0}/s on one core, {raw_all:.0}/s on {cores} cores.\n");
    println!("| endpoint | concurrency | tokens/s (p99) | / raw, one core | / raw, all cores |");
    println!("|---|---|---|---|---|");
    for (name, spec) in [("GitHub Actions OIDC", github), ("GCE metadata identity (format=full)", identity)] {
        for c in [1usize, 8] {
            let runs = {
                let mut v = Vec::new();
                for _ in 0..ROUNDS {
                    v.push(load_spec(cloud.addr, c, duration, spec.clone()).await);
                }
                v
            };
            let m = median(runs);
            println!("| {name} | {c} | {:.0} ({} µs) | {:.2}× | {:.2}× |", m.rps, m.p99_us, m.rps / raw1, m.rps / raw_all);
        }
    }
}

/// The load run: `clients` concurrent clients for `duration` over IMDS, container credentials and
/// signed STS; every answer must be 200 and every request must be accounted for by the journal
/// (kept + dropped), whose memory stays bounded.
async fn soak(cloudid: PathBuf, clients: usize, duration: Duration) {
    let cloud = spawn(&cloudid, &["serve", "--listen", "127.0.0.1:0"]);
    let addr = cloud.addr;
    let token = imds_token(addr).await;
    let mut s = connect(addr).await;
    let env: serde_json::Value = serde_json::from_slice(&request(&mut s, Method::GET, addr, "/_cloudid/env", &[]).await.1).expect("env");
    let container_path = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].as_str().expect("uri").split_once(&addr.to_string()).expect("on this server").1.to_string();
    let container_token = env["AWS_CONTAINER_AUTHORIZATION_TOKEN"].as_str().expect("token").to_string();
    let creds: serde_json::Value = serde_json::from_slice(&request(&mut s, Method::GET, addr, CREDS_PATH, &[("x-aws-ec2-metadata-token", &token)]).await.1).expect("creds");
    let gci = signed_gci(&addr.to_string(), creds["AccessKeyId"].as_str().expect("akid"), creds["SecretAccessKey"].as_str().expect("secret"), creds["Token"].as_str().expect("token"));
    let specs = Arc::new(vec![
        Spec { method: Method::GET, path: CREDS_PATH.into(), headers: vec![("x-aws-ec2-metadata-token".into(), token.clone())], body: Bytes::new() },
        Spec { method: Method::GET, path: container_path, headers: vec![("authorization".into(), container_token)], body: Bytes::new() },
        gci,
    ]);
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for i in 0..clients {
        let specs = specs.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await;
            let (mut ok, mut errors, mut n) = (0u64, 0u64, i);
            while Instant::now() < deadline {
                let spec = &specs[n % specs.len()];
                n += 1;
                match try_send(&mut sender, spec, addr).await {
                    Ok((200, _)) => ok += 1,
                    _ => errors += 1,
                }
            }
            (ok, errors)
        }));
    }
    let (mut ok, mut errors) = (0u64, 0u64);
    for t in tasks {
        let (o, e) = t.await.expect("client");
        ok += o;
        errors += e;
    }
    let journal: serde_json::Value = serde_json::from_slice(&request(&mut s, Method::GET, addr, "/_cloudid/journal", &[]).await.1).expect("journal");
    let kept = journal["entries"].as_array().map_or(0, Vec::len) as u64;
    let dropped = journal["dropped"].as_u64().unwrap_or(0);
    let setup = 2;
    println!("## cloudid-bench soak: {clients} clients, {}s over IMDS, container credentials and signed STS\n", duration.as_secs());
    println!("| measure | value |\n|---|---|");
    println!("| requests answered 200 | {ok} ({:.0}/s) |", ok as f64 / duration.as_secs_f64());
    println!("| errors | {errors} |");
    println!("| journal: kept + dropped | {kept} + {dropped} = {} (requests: {}) |", kept + dropped, ok + errors + setup);
    println!("| peak RSS (VmHWM) | {:.1} MB |", peak_rss_kib(cloud.child.id()) as f64 / 1024.0);
    assert_eq!(errors, 0, "every request answered 200");
    assert_eq!(kept + dropped, ok + errors + setup, "every request is in the journal's count");
}

/// The mix issue 13's attack used, all at once for `duration`: metadata tokens with distinct 2 KB
/// scopes, Google STS exchanges with a 500 KB scope, 65 KB paths, IMDS token PUTs, 500 idle
/// connections and 50 slowloris clients; then one journal GET. Reports the RSS ceiling held.
async fn hostile(cloudid: PathBuf, duration: Duration) {
    use tokio::io::AsyncWriteExt;
    let cloud = spawn(&cloudid, &["serve", "--listen", "127.0.0.1:0", "--max-connections", "900"]);
    let addr = cloud.addr;
    let deadline = Instant::now() + duration;
    let counts: Arc<[std::sync::atomic::AtomicU64; 5]> = Arc::new(Default::default());
    let huge_scope = "s".repeat(500_000);
    let mut tasks = Vec::new();
    for kind in 0..5usize {
        for worker in 0..2u64 {
            let counts = counts.clone();
            let huge_scope = huge_scope.clone();
            tasks.push(tokio::spawn(async move {
                let mut sender = connect(addr).await;
                let mut n = worker;
                while Instant::now() < deadline {
                    n += 2;
                    let spec = match kind {
                        0 => Spec {
                            method: Method::GET,
                            path: format!("/computeMetadata/v1/instance/service-accounts/default/token?scopes={n:08}{}", "x".repeat(2040)),
                            headers: vec![("metadata-flavor".into(), "Google".into())],
                            body: Bytes::new(),
                        },
                        1 => form_spec(form(&[("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), ("scope", &huge_scope)]), vec![]).with_path("/v1/token"),
                        2 => Spec { method: Method::GET, path: format!("/{n:08}{}", "p".repeat(65_000)), headers: vec![], body: Bytes::new() },
                        3 => Spec { method: Method::PUT, path: "/latest/api/token".into(), headers: vec![("x-aws-ec2-metadata-token-ttl-seconds".into(), "21600".into())], body: Bytes::new() },
                        _ => Spec { method: Method::GET, path: "/_cloudid/health".into(), headers: vec![], body: Bytes::new() },
                    };
                    if try_send(&mut sender, &spec, addr).await.is_ok() {
                        counts[kind].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    let mut idle = Vec::new();
    for _ in 0..500 {
        if let Ok(s) = TcpStream::connect(addr).await {
            idle.push(s);
        }
    }
    for _ in 0..50 {
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let Ok(mut s) = TcpStream::connect(addr).await else { break };
                for b in b"GET /_cloudid/health HTTP/1.1\r\nX-Slow: ".iter().cycle() {
                    if s.write_all(&[*b]).await.is_err() || Instant::now() >= deadline {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let before_journal = peak_rss_kib(cloud.child.id());
    drop(idle);
    let mut s = connect(addr).await;
    let (_, journal) = request(&mut s, Method::GET, addr, "/_cloudid/journal", &[]).await;
    let after_journal = peak_rss_kib(cloud.child.id());
    let (health, _) = request(&mut s, Method::GET, addr, "/_cloudid/health", &[]).await;
    let c = |i: usize| counts[i].load(std::sync::atomic::Ordering::Relaxed);
    println!("## cloudid-bench hostile: {}s of the issue 13 attack mix\n", duration.as_secs());
    println!("| measure | value |\n|---|---|");
    println!("| metadata tokens with distinct 2 KB scopes | {} |", c(0));
    println!("| Google STS exchanges with a 500 KB scope | {} |", c(1));
    println!("| requests with 65 KB paths | {} |", c(2));
    println!("| IMDS token PUTs | {} |", c(3));
    println!("| health checks answered during the attack | {} |", c(4));
    println!("| idle connections held / slowloris clients | 500 / 50 |");
    println!("| peak RSS during the mix (VmHWM) | {:.1} MB |", before_journal as f64 / 1024.0);
    println!("| journal GET afterwards: body | {:.1} MB |", journal.len() as f64 / 1e6);
    println!("| peak RSS after the journal GET (VmHWM) | {:.1} MB |", after_journal as f64 / 1024.0);
    println!("| health after the attack | {health} |");
    assert_eq!(health, 200);
}

impl Spec {
    fn with_path(mut self, path: &str) -> Self {
        self.path = path.to_string();
        self
    }
}
