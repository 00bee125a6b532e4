//! With `--server`, the pod's projected token comes from the attached cloudid (its cluster keys,
//! its clock): asked before the namespaces close the way out, it writes the token file and keeps
//! it fresh with its own kubelet.

use std::io::{Read, Write};

use super::{ExecError, setup};
use crate::world::projected::Projection;

/// Asks the server at `authority` (`HOST:PORT`) to mount `p` at `path`.
pub(crate) fn mount(authority: &str, p: &Projection, path: &std::path::Path) -> Result<(), ExecError> {
    let body = serde_json::json!({
        "cluster": p.cluster,
        "namespace": p.namespace,
        "service_account": p.service_account,
        "audience": p.audience,
        "expiration_seconds": p.expiration_seconds,
        "path": path,
    })
    .to_string();
    let step = format!("asking the cloudid at {authority} for the pod's projected token");
    let mut stream = std::net::TcpStream::connect(authority).map_err(setup(step.clone()))?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).map_err(setup(step.clone()))?;
    let request = format!("POST /_cloudid/kubernetes/token HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).map_err(setup(step.clone()))?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(setup(step.clone()))?;
    let status = answer.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        let detail = answer.split("\r\n\r\n").nth(1).unwrap_or(&answer).trim().to_string();
        return Err(ExecError::Setup { step, source: std::io::Error::other(format!("HTTP {status}: {detail}")) });
    }
    Ok(())
}
