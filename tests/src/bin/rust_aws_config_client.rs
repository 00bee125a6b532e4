//! A client program built on the real Rust `aws-config`: resolves AWS credentials with one of its
//! providers, configured only by the environment, and prints the cloudid client protocol's JSON
//! line (fingerprints, never secrets).
//!
//! ```text
//! rust-aws-config-client imds|ecs|chain
//! ```

use std::process::ExitCode;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::ecs::EcsCredentialsProvider;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let http = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let conf = ProviderConfig::default().with_http_client(http);
    let result = match mode.as_str() {
        "imds" => ImdsCredentialsProvider::builder().configure(&conf).build().provide_credentials().await,
        "ecs" => EcsCredentialsProvider::builder().configure(&conf).build().provide_credentials().await,
        "chain" => DefaultCredentialsChain::builder().configure(conf).build().await.provide_credentials().await,
        other => {
            println!("{}", json!({"ok": false, "error": format!("unknown mode `{other}` (imds|ecs|chain)")}));
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(creds) => {
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
