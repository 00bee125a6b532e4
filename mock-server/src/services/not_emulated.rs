//! Every real cloud API cloudid does not emulate (DynamoDB, ECR, S3, BigQuery, Cloud Storage…),
//! reached at its real host name: the request's credentials are verified against what the world
//! issued — the SigV4 signature for AWS, the Bearer access token for Google — and the principal
//! journaled. Then, if the world names an upstream for the host (`upstreams:`), the request goes
//! there unchanged and its answer comes back; otherwise the answer is the service's own error
//! shape saying plainly that the service is not emulated (501, which no SDK retries).
//!
//! Refusals use each protocol's shape: AWS JSON (`X-Amz-Target`: `__type`), AWS query (form
//! `Action=`: `<ErrorResponse>`), S3 (`<Error>`), AWS REST-JSON (`x-amzn-ErrorType`), and
//! `google.rpc.Status` for Google.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::google_rpc::{RpcError, bearer_caller};
use crate::exchange::{Answer, Service, Shared, Slice, noted};
use crate::hostnames::{Cloud, Target, parse_upstream_url};
use crate::journal::{Check, Note, Verdict};
use crate::verify::sigv4;

/// The largest request body verified and forwarded: 64 MiB.
const MAX_BODY: usize = 64 << 20;

/// A non-emulated API as a slice of the exchange.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NotEmulated;

impl Slice for NotEmulated {
    fn service(&self) -> Service {
        Service::NotEmulated
    }
}

/// The AWS protocol a request speaks, which decides its error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Json,
    Query,
    RestXml,
    RestJson,
}

fn protocol(host: &str, parts: &Parts) -> Protocol {
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if parts.headers.contains_key("x-amz-target") {
        Protocol::Json
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Protocol::Query
    } else if host.starts_with("s3.") || host.contains(".s3.") || host.starts_with("s3-") {
        Protocol::RestXml
    } else {
        Protocol::RestJson
    }
}

/// An AWS refusal in the request's protocol.
struct AwsError {
    status: StatusCode,
    code: &'static str,
    message: String,
    protocol: Protocol,
}

impl crate::exchange::Refusal for AwsError {
    fn status(&self) -> StatusCode {
        self.status
    }

    fn code(&self) -> &'static str {
        self.code
    }

    fn denies(&self) -> bool {
        !matches!(self.code, "NotImplemented" | "IncompleteSignature" | "IncompleteSignatureException")
    }

    fn render(&self, request_id: &str) -> Response {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let (content_type, body) = match self.protocol {
            Protocol::Json => ("application/x-amz-json-1.0", json!({"__type": format!("com.amazon.coral.service#{}", self.code), "message": self.message}).to_string()),
            Protocol::RestJson => ("application/json", json!({"message": self.message}).to_string()),
            Protocol::Query => (
                "text/xml",
                format!(
                    "<ErrorResponse>\n  <Error>\n    <Type>Sender</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{request_id}</RequestId>\n</ErrorResponse>\n",
                    self.code,
                    esc(&self.message)
                ),
            ),
            Protocol::RestXml => (
                "application/xml",
                format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>", self.code, esc(&self.message)),
            ),
        };
        let mut r = (self.status, [(header::CONTENT_TYPE, content_type)], body).into_response();
        if let Ok(v) = HeaderValue::from_str(request_id) {
            r.headers_mut().insert("x-amzn-requestid", v);
        }
        if self.protocol == Protocol::RestJson {
            r.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        }
        r
    }
}

/// AWS's code and words for a signature refusal, as the JSON services say them (the query
/// protocol's codes are STS's).
fn aws_refusal(e: &sigv4::SigV4Error, protocol: Protocol) -> AwsError {
    use sigv4::SigV4Error as E;
    let json = matches!(protocol, Protocol::Json | Protocol::RestJson);
    let (status, code) = match (e, json) {
        (E::Missing, true) => (403, "MissingAuthenticationTokenException"),
        (E::Missing, false) => (403, "MissingAuthenticationToken"),
        (E::Incomplete(_), true) => (400, "IncompleteSignatureException"),
        (E::Incomplete(_), false) => (400, "IncompleteSignature"),
        (E::InvalidToken(_), true) => (400, "UnrecognizedClientException"),
        (E::InvalidToken(_), false) if protocol == Protocol::RestXml => (403, "InvalidAccessKeyId"),
        (E::InvalidToken(_), false) => (403, "InvalidClientTokenId"),
        (E::Expired, true) => (400, "ExpiredTokenException"),
        (E::Expired, false) => (400, "ExpiredToken"),
        (_, true) => (400, "InvalidSignatureException"),
        (_, false) => (403, "SignatureDoesNotMatch"),
    };
    AwsError { status: StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN), code, message: e.to_string(), protocol }
}

/// The region a regional AWS host names (`dynamodb.ap-northeast-1.amazonaws.com`), if any.
fn host_region(host: &str) -> Option<&str> {
    host.split('.').find(|label| crate::services::aws_sts::signed::REGIONS.contains(label))
}

/// The signing name and region a request to `host` must be signed for: the service's signing
/// name (`api.ecr` signs as `ecr`, `email` as `ses`…), and the host's region, or `us-east-1` for
/// the global endpoints (IAM, Route 53, CloudFront, the global S3 host), or any region when the
/// host names none.
fn signing_scope(host: &str) -> (String, Option<String>) {
    let labels: Vec<&str> = host.split('.').collect();
    let service = match labels.as_slice() {
        ["api", "ecr", ..] => "ecr",
        ["runtime", "sagemaker", ..] => "sagemaker",
        ["email", ..] => "ses",
        ["bedrock-runtime" | "bedrock-agent-runtime" | "bedrock-agent", ..] => "bedrock",
        ["monitoring", ..] => "monitoring",
        _ if labels.iter().any(|l| *l == "s3" || l.starts_with("s3-")) => "s3",
        [first, ..] => first,
        [] => "",
    };
    let region = host_region(host).map(str::to_string).or_else(|| matches!(labels.as_slice(), [_, "amazonaws", "com"]).then(|| "us-east-1".to_string()));
    (service.to_string(), region)
}

/// Serves a request for `host`, a real API host cloudid does not emulate.
pub(crate) async fn serve(shared: Arc<Shared>, cloud: Cloud, host: String, req: Request) -> Response {
    let grpc = req.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let response = serve_http(shared, cloud, host, req).await;
    if grpc { as_grpc(response).await } else { response }
}

/// A gRPC call's answer (Pub/Sub, Firestore, Spanner clients speak gRPC over HTTP/2): the same
/// decision as a trailers-only gRPC response — `grpc-status` from the HTTP status
/// (UNAUTHENTICATED 16, PERMISSION_DENIED 7, UNIMPLEMENTED 12, …) and the refusal's message as
/// `grpc-message`, percent-encoded as the gRPC wire spec asks.
async fn as_grpc(response: Response) -> Response {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let message = body["error"]["message"].as_str().or(body["message"].as_str()).map(str::to_string).unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
    let code = match status {
        401 => 16,
        403 => 7,
        404 => 5,
        400 => 3,
        429 => 8,
        501 => 12,
        502..=504 => 14,
        _ => 2,
    };
    let encoded: String = message.bytes().map(|b| if (0x20..=0x7e).contains(&b) && b != b'%' { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let mut r = StatusCode::OK.into_response();
    let headers = r.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(code));
    if let Ok(v) = HeaderValue::from_str(&encoded) {
        headers.insert("grpc-message", v);
    }
    r
}

async fn serve_http(shared: Arc<Shared>, cloud: Cloud, host: String, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        let note = Note::new("not_emulated", "TooLarge", Verdict::Error);
        let response = (StatusCode::PAYLOAD_TOO_LARGE, format!("cloudid: request bodies to {host} are verified and forwarded up to {MAX_BODY} bytes\n")).into_response();
        return shared.finish(&parts.method, &path, (response, note));
    };
    let verified = verify(&shared, cloud, &host, &parts, &bytes);
    let (note, upstream) = match verified {
        Err(answer) => return crate::exchange::serve!(shared, &NotEmulated, &parts.method, &path, *answer),
        Ok(note) => (note, shared.model.upstream(&host).and_then(|u| parse_upstream_url(&u.url).map(|t| (u.url.clone(), t)))),
    };
    let Some((url, target)) = upstream else {
        let answer = not_emulated(&shared, cloud, &host, &parts, note);
        return crate::exchange::serve!(shared, &NotEmulated, &parts.method, &path, answer);
    };
    let mut note = note;
    match forward(&target, parts.clone(), bytes).await {
        Ok(response) => {
            note.verdict = Verdict::Served;
            note.operation = "Forwarded";
            note.checks.push(Check::pass("upstream", format!("forwarded to {url}: {}", response.status())));
            shared.finish(&parts.method, &path, (response, note))
        }
        Err(why) => {
            note.operation = "Forwarded";
            note.checks.push(Check::fail("upstream", format!("{url}: {why}")));
            let message = format!("cloudid: the upstream for {host} ({url}) did not answer: {why}");
            shared.finish(&parts.method, &path, ((StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], message + "\n").into_response(), note))
        }
    }
}

/// The journal note of a request whose credentials hold, or the refusal.
fn verify(shared: &Shared, cloud: Cloud, host: &str, parts: &Parts, body: &[u8]) -> Result<Note, Box<Answer>> {
    let mut note = Note::new("not_emulated", "Call", Verdict::Error);
    match cloud {
        Cloud::Google => match bearer_caller(shared, &parts.headers) {
            Ok(caller) => {
                note.principal = Some(caller.principal.clone());
                note.checks.push(Check::pass("google.caller", caller.principal.clone()));
                let api = host.split('.').next().unwrap_or("");
                let family = if api == "storage" { "devstorage" } else { api };
                let scopes = caller.scopes();
                let fits = |s: &String| {
                    let name = s.strip_prefix("https://www.googleapis.com/auth/").unwrap_or(s);
                    name == "cloud-platform" || name == "cloud-platform.read-only" || name == family || name.starts_with(&format!("{family}."))
                };
                if !scopes.iter().any(fits) {
                    let why = format!("the token's scopes ({}) include neither cloud-platform nor one of {api}'s", scopes.join(" "));
                    let e = RpcError::new(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.", None);
                    return Err(Box::new(crate::exchange::refused(note, &e, "google.scope", why, &shared.request_id())));
                }
                note.checks.push(Check::passed("google.scope"));
                Ok(note)
            }
            Err((why, e)) => Err(Box::new(crate::exchange::refused(note, &e, "google.caller", why, &shared.request_id()))),
        },
        Cloud::Aws => {
            let protocol = protocol(host, parts);
            let headers = parts.headers.iter().map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
            let req = sigv4::Request { method: parts.method.as_str(), path: parts.uri.path(), query: parts.uri.query().unwrap_or(""), headers, body };
            let (service, region) = signing_scope(host);
            let region_ok = |r: &str| region.as_deref().is_none_or(|h| h == r);
            let rule = sigv4::ScopeRule { service: &service, region_ok: &region_ok };
            match shared.verify_sigv4(&req, &rule, shared.clock.now()) {
                Ok((v, cred)) => {
                    let arn = super::aws_sts::principal_arn_of(&cred);
                    note.checks.push(Check::pass("sigv4.signature", format!("{} ({arn}) signed {} for {service} in {}", v.access_key_id, v.signed_headers.join(";"), v.region)));
                    note.principal = Some(arn);
                    Ok(note)
                }
                Err(e) => Err(Box::new(crate::exchange::refused(note, &aws_refusal(&e, protocol), "sigv4.signature", e.journal_detail(), &shared.request_id()))),
            }
        }
    }
}

/// The answer for verified credentials and no upstream: the service is not emulated.
fn not_emulated(shared: &Shared, cloud: Cloud, host: &str, parts: &Parts, mut note: Note) -> Answer {
    let who = note.principal.clone().unwrap_or_default();
    let message = format!(
        "cloudid does not emulate {host}; the request's credentials are valid (they are {who}). To run this call end to end, name an upstream for {host} in the world (`upstreams: [{{host: {host}, url: http://127.0.0.1:PORT}}]`)."
    );
    note.checks.push(Check::fail("upstream", format!("{host} is not emulated and the world names no upstream for it")));
    let request_id = shared.request_id();
    match cloud {
        Cloud::Google => crate::exchange::Refusal::answer(&RpcError::new(501, "UNIMPLEMENTED", message, None), note, &request_id),
        Cloud::Aws => {
            let e = AwsError { status: StatusCode::NOT_IMPLEMENTED, code: "NotImplemented", message, protocol: protocol(host, parts) };
            noted(crate::exchange::Refusal::render(&e, &request_id), note)
        }
    }
}

/// Sends the request to `target` as it came (method, path, query, headers, body) and returns
/// the upstream's answer.
async fn forward(target: &Target, parts: Parts, body: axum::body::Bytes) -> Result<Response, String> {
    use hyper_util::rt::TokioIo;
    let path_and_query = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let mut builder = axum::http::Request::builder().method(parts.method.clone());
    let response = match target {
        Target::Tcp { authority, prefix } => {
            builder = builder.uri(format!("{prefix}{path_and_query}"));
            let stream = tokio::net::TcpStream::connect(authority.as_str()).await.map_err(|e| format!("cannot connect: {e}"))?;
            send(TokioIo::new(stream), builder, &parts, body).await?
        }
        Target::Unix { path, prefix } => {
            builder = builder.uri(format!("{prefix}{path_and_query}"));
            let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| format!("cannot connect: {e}"))?;
            send(TokioIo::new(stream), builder, &parts, body).await?
        }
    };
    Ok(response)
}

async fn send<IO>(io: IO, mut builder: axum::http::request::Builder, parts: &Parts, body: axum::body::Bytes) -> Result<Response, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    for (k, v) in &parts.headers {
        if k != header::CONNECTION && k != "proxy-connection" && k != header::TRANSFER_ENCODING {
            builder = builder.header(k, v);
        }
    }
    let request = builder.body(http_body_util::Full::new(body)).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(std::time::Duration::from_secs(60), sender.send_request(request)).await.map_err(|_| "no answer within 60 s".to_string())?.map_err(|e| e.to_string())?;
    let (parts, incoming) = response.into_parts();
    let bytes = http_body_util::BodyExt::collect(incoming).await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Response::from_parts(parts, Body::from(bytes)))
}
