//! HTTPS for the real host names: the server certificate, signed by the CA cloudid writes, is
//! accepted by real clients — Python's TLS stack for every real host name (by SNI), and boto3
//! calling STS over HTTPS with `AWS_CA_BUNDLE`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use cloudid_tests::{python, run_client};

struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cloudid() -> String {
    let mut p = std::path::PathBuf::from(&cloudid_tests::rust_client("rust-aws-config-client"));
    p.set_file_name("cloudid");
    p.display().to_string()
}

#[test]
fn the_tls_listener_serves_every_real_host_name_under_the_ca_written_into_a_new_directory() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("not-yet-made/ca.pem");
    let bin = cloudid();
    if !std::path::Path::new(&bin).exists() {
        assert!(Command::new("cargo").args(["build", "-q", "-p", "cloudid-mock", "--bin", "cloudid"]).status().unwrap().success());
    }
    let mut child = Command::new(&bin).args(["serve", "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--ca-out"]).arg(&ca).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let http = lines.next().unwrap().unwrap();
    let https = lines.next().unwrap().unwrap();
    let _served = Served(child);
    assert!(http.starts_with("cloudid listening on http://"), "{http}");
    let tls_addr = https.strip_prefix("cloudid listening on https://").unwrap().to_string();
    let (host, port) = tls_addr.rsplit_once(':').unwrap();
    let check = r#"
import json, ssl, socket, sys
ca, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.create_default_context(cafile=ca)
names = ["sts.amazonaws.com", "sts.ap-northeast-1.amazonaws.com", "sts.googleapis.com", "iamcredentials.googleapis.com",
         "oauth2.googleapis.com", "www.googleapis.com", "token.actions.githubusercontent.com", "metadata.google.internal"]
ok = []
for name in names:
    with socket.create_connection((host, port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            t.sendall(b"GET /_cloudid/health HTTP/1.1\r\nHost: " + name.encode() + b"\r\nConnection: close\r\n\r\n")
            ok.append(t.recv(64).split(b"\r\n")[0].decode())
try:
    with socket.create_connection((host, port), timeout=5) as s:
        ssl.create_default_context().wrap_socket(s, server_hostname="sts.amazonaws.com")
    untrusted = "accepted"
except ssl.SSLError:
    untrusted = "refused"
print(json.dumps({"ok": all(l == "HTTP/1.1 200 OK" for l in ok), "statuses": ok, "without_ca": untrusted}))
"#;
    let env: BTreeMap<String, String> = BTreeMap::new();
    let run = run_client(&python(), &["-c", check, ca.to_str().unwrap(), host, port], &env, Duration::from_secs(30));
    assert_eq!(run.result["ok"], true, "{}\n{}", run.result, run.stderr);
    assert_eq!(run.result["without_ca"], "refused", "the certificate is only trusted through the CA cloudid wrote");

    let script = cloudid_tests::client_program("python-boto3/credentials.py");
    let mut env = BTreeMap::new();
    env.insert("AWS_EC2_METADATA_SERVICE_ENDPOINT".to_string(), format!("{}/", http.strip_prefix("cloudid listening on ").unwrap()));
    env.insert("AWS_ENDPOINT_URL_STS".to_string(), format!("https://{tls_addr}"));
    env.insert("AWS_CA_BUNDLE".to_string(), ca.display().to_string());
    env.insert("AWS_DEFAULT_REGION".to_string(), "ap-northeast-1".to_string());
    let run = run_client(&python(), &[script.to_str().unwrap(), "--sts"], &env, Duration::from_secs(60));
    assert_eq!(run.result["caller"]["Arn"], "arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0a1b2c3d4e5f67890", "{}\n{}", run.result, run.stderr);
}
