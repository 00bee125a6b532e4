//! A client program built on the real Rust `google-cloud-auth`: Application Default Credentials
//! as an application gets them, configured only by the environment, then proof that the token
//! works; prints the cloudid client protocol's JSON line (fingerprints, never secrets).
//!
//! ```text
//! rust-google-auth-client adc TOKENINFO_URL          # GOOGLE_APPLICATION_CREDENTIALS, else the metadata server
//! rust-google-auth-client mds AUDIENCE JWKS_URL      # metadata server: access token + ID token, verified
//! ```
//!
//! `adc` gets an access token from whatever ADC finds (an `external_account` file names the
//! AWS or OIDC source, Google STS and IAM Credentials) and sends it to tokeninfo. `mds` gets an
//! access token and an ID token for AUDIENCE from the metadata server (`GCE_METADATA_HOST`) and
//! verifies the ID token with the crate's own verifier against JWKS_URL. `CLOUDID_REPEAT=N`
//! asks the same credentials N times, `CLOUDID_REPEAT_PAUSE_MS` apart, so caching and the
//! background refresh are visible in the server's journal.

use std::process::ExitCode;

use google_cloud_auth::credentials::{Builder, idtoken};
use serde_json::{Value, json};

fn fail(what: &str, e: impl std::fmt::Display) -> ExitCode {
    println!("{}", json!({"ok": false, "error": format!("{what}: {e}")}));
    ExitCode::FAILURE
}

fn repeat() -> usize {
    std::env::var("CLOUDID_REPEAT").ok().and_then(|r| r.parse().ok()).unwrap_or(1).max(1)
}

/// Between uses: waits `CLOUDID_REPEAT_PAUSE_MS` (google-cloud-auth refreshes in the background)
/// and, with `CLOUDID_PAUSE=1`, prints `{"cloudid_pause": i}` and waits for a line on stdin while
/// the harness changes the world. The runtime keeps running meanwhile, as an application's would.
async fn pause(i: usize) {
    if i > 0 {
        let ms = std::env::var("CLOUDID_REPEAT_PAUSE_MS").ok().and_then(|r| r.parse().ok()).unwrap_or(0);
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        if std::env::var("CLOUDID_PAUSE").is_ok() {
            println!("{}", json!({"cloudid_pause": i}));
            let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
        }
    }
}

/// ADC credentials from `builder`, asked for a token `CLOUDID_REPEAT` times (pausing between),
/// as an application asks before each call; the last token, or the exit after printing the error.
async fn access_token(builder: Builder) -> Result<String, ExitCode> {
    let creds = builder.build_access_token_credentials().map_err(|e| fail("building credentials", e))?;
    let mut token = String::new();
    for i in 0..repeat() {
        pause(i).await;
        token = creds.access_token().await.map_err(|e| fail("access token", e))?.token;
    }
    Ok(token)
}

async fn adc(tokeninfo_url: &str) -> ExitCode {
    let token = match access_token(Builder::default().with_scopes(["https://www.googleapis.com/auth/cloud-platform"])).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let info = match reqwest::Client::new().get(tokeninfo_url).query(&[("access_token", token.as_str())]).send().await {
        Ok(r) => r,
        Err(e) => return fail("tokeninfo", e),
    };
    let status = info.status().as_u16();
    let body: Value = info.json().await.unwrap_or(Value::Null);
    println!(
        "{}",
        json!({
            "ok": status == 200,
            "access_token_fingerprint": cloudid_mock::fingerprint(&token),
            "tokeninfo_status": status,
            "tokeninfo_email": body.get("email"),
        })
    );
    if status == 200 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn mds(audience: &str, jwks_url: &str) -> ExitCode {
    let token = match access_token(Builder::default()).await {
        Ok(t) => t,
        Err(code) => return code,
    };
    let id = match idtoken::mds::Builder::new(audience).with_format(idtoken::mds::Format::Full).build() {
        Ok(c) => c,
        Err(e) => return fail("building ID token credentials", e),
    };
    let id_token = match id.id_token().await {
        Ok(t) => t,
        Err(e) => return fail("ID token", e),
    };
    let claims = match idtoken::verifier::Builder::new([audience]).with_jwks_url(jwks_url).build().verify(&id_token).await {
        Ok(c) => c,
        Err(e) => return fail("verifying the ID token", e),
    };
    println!(
        "{}",
        json!({
            "ok": true,
            "access_token_fingerprint": cloudid_mock::fingerprint(&token),
            "id_token_fingerprint": cloudid_mock::fingerprint(&id_token),
            "iss": claims.get("iss"),
            "aud": claims.get("aud"),
            "sub": claims.get("sub"),
            "email": claims.get("email"),
            "format_full": claims.contains_key("google"),
        })
    );
    ExitCode::SUCCESS
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["adc", tokeninfo_url] => adc(tokeninfo_url).await,
        ["mds", audience, jwks_url] => mds(audience, jwks_url).await,
        _ => {
            println!("{}", json!({"ok": false, "error": "usage: rust-google-auth-client adc TOKENINFO_URL | mds AUDIENCE JWKS_URL"}));
            ExitCode::from(2)
        }
    }
}
