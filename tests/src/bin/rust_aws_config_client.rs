//! A client program built on the real Rust `aws-config`: resolves AWS credentials with one of its
//! providers, configured only by the environment, and prints the cloudid client protocol's JSON
//! line (fingerprints, never secrets).
//!
//! ```text
//! rust-aws-config-client imds|ecs|web-identity|chain [--sts]
//! ```
//!
//! With `--sts` it then calls `sts:GetCallerIdentity` through aws-sdk-sts, signed with the
//! credentials it got, at the endpoint the environment names (`AWS_ENDPOINT_URL_STS`).
//! `CLOUDID_REPEAT=N` makes N calls through one client whose identity cache holds the provider,
//! as an application would, so caching is visible in the server's journal; with `CLOUDID_PAUSE=1`
//! it prints `{"cloudid_pause": i}` before each call after the first and waits for a line on
//! stdin, so the harness can change the world between calls.

use std::process::ExitCode;

use aws_config::BehaviorVersion;
use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let http = cloudid_tests::aws_http_client();
    let conf = ProviderConfig::default().with_http_client(http.clone());
    let provider = match mode.as_str() {
        "imds" => SharedCredentialsProvider::new(ImdsCredentialsProvider::builder().configure(&conf).build()),
        "ecs" => SharedCredentialsProvider::new(EcsCredentialsProvider::builder().configure(&conf).build()),
        "web-identity" => SharedCredentialsProvider::new(WebIdentityTokenCredentialsProvider::builder().configure(&conf).build()),
        "chain" => SharedCredentialsProvider::new(DefaultCredentialsChain::builder().configure(conf).build().await),
        other => {
            println!("{}", json!({"ok": false, "error": format!("unknown mode `{other}` (imds|ecs|web-identity|chain)")}));
            return ExitCode::from(2);
        }
    };
    let repeat: usize = std::env::var("CLOUDID_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    if std::env::var("CLOUDID_REFETCH").is_ok() {
        // The provider itself, asked N times, as N credential refreshes would.
        for _ in 1..repeat {
            if let Err(e) = provider.provide_credentials().await {
                println!("{}", json!({"ok": false, "error": e.to_string()}));
                return ExitCode::FAILURE;
            }
        }
    }
    if repeat > 1 && std::env::var("CLOUDID_REFETCH").is_err() && std::env::args().any(|a| a == "--sts") {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).http_client(http).credentials_provider(provider.clone()).load().await;
        let client = aws_sdk_sts::Client::new(&sdk);
        let mut caller = serde_json::Value::Null;
        for i in 0..repeat {
            if i > 0 && std::env::var("CLOUDID_PAUSE").is_ok() {
                println!("{}", json!({"cloudid_pause": i}));
                let _ = std::io::stdin().read_line(&mut String::new());
            }
            match client.get_caller_identity().send().await {
                Ok(out) => caller = json!({"Arn": out.arn(), "UserId": out.user_id(), "Account": out.account()}),
                Err(e) => {
                    println!("{}", json!({"ok": false, "error": format!("GetCallerIdentity: {:?}", e)}));
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("{}", json!({"ok": true, "method": mode, "caller": caller}));
        return ExitCode::SUCCESS;
    }
    match provider.provide_credentials().await {
        Ok(creds) => {
            let mut caller = serde_json::Value::Null;
            if std::env::args().any(|a| a == "--sts") && std::env::var("CLOUDID_REFETCH").is_err() {
                let sdk = aws_config::defaults(BehaviorVersion::latest()).http_client(http).credentials_provider(creds.clone()).load().await;
                match aws_sdk_sts::Client::new(&sdk).get_caller_identity().send().await {
                    Ok(out) => caller = json!({"Arn": out.arn(), "UserId": out.user_id(), "Account": out.account()}),
                    Err(e) => {
                        println!("{}", json!({"ok": false, "error": format!("GetCallerIdentity: {:?}", e)}));
                        return ExitCode::FAILURE;
                    }
                }
            }
            let expiry = creds.expiry().map(|t| {
                let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                secs.to_string()
            });
            println!(
                "{}",
                json!({
                    "ok": true,
                    "method": mode,
                    "access_key_id": creds.access_key_id(),
                    "secret_fingerprint": cloudid_mock::fingerprint(creds.secret_access_key()),
                    "token_fingerprint": cloudid_mock::fingerprint(creds.session_token().unwrap_or("")),
                    "expiry_unix": expiry,
                    "account_id": creds.account_id().map(|a| a.as_str().to_string()),
                    "caller": caller,
                })
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", json!({"ok": false, "error": format!("{e}: {:?}", std::error::Error::source(&e))}));
            ExitCode::FAILURE
        }
    }
}
