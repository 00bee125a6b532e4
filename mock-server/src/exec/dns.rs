//! A DNS stub for the namespace (`/etc/resolv.conf` points at it): every AWS, Google and GitHub
//! API host name resolves to cloudid's HTTPS address — the names the `/etc/hosts` overlay cannot
//! list (bucket-style S3 hosts, regional Vertex AI hosts, dual-stack `*.api.aws`) included — and
//! every other name is answered NXDOMAIN at once, so nothing waits on a resolver that cannot be
//! reached. `A` queries get the address; `AAAA` and other types get an empty answer (NODATA), so
//! clients fall back to IPv4.

use std::net::Ipv4Addr;

/// Where the stub listens inside the namespace.
pub(crate) const ADDRESS: &str = "127.0.0.53";

/// Whether `name` (lower case, no trailing dot) is a cloud API name cloudid answers for.
fn is_cloud(name: &str) -> bool {
    crate::hostnames::is_cloud_api(name) || name.ends_with(".githubusercontent.com") || matches!(name, "accounts.google.com" | "github.com" | "api.github.com")
}

/// The answer to the DNS query `query`, or `None` for something that is not one. `metadata` is
/// where `metadata.google.internal` points (on Google platforms), `api` every cloud API name.
pub(crate) fn answer(query: &[u8], api: Ipv4Addr, metadata: Option<Ipv4Addr>) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(std::str::from_utf8(query.get(at..at + len)?).ok()?.to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    query.get(at + 2..question_end)?;
    let name = labels.join(".");
    let address = match name.as_str() {
        "metadata.google.internal" | "metadata" => metadata,
        n if is_cloud(n) => Some(api),
        _ => None,
    };
    let mut out = Vec::with_capacity(question_end + 16);
    out.extend_from_slice(&query[0..2]);
    let rcode = if address.is_some() { 0 } else { 3 };
    out.extend_from_slice(&[0x80 | (query[2] & 0x01), 0x80 | rcode]);
    let answers: u16 = if address.is_some() && qtype == 1 { 1 } else { 0 };
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&answers.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&query[12..question_end]);
    if let (Some(ip), 1) = (address, answers) {
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1]);
        out.extend_from_slice(&60u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

/// Answers queries on `socket` until the process ends.
pub(crate) async fn serve(socket: tokio::net::UdpSocket, api: Ipv4Addr, metadata: Option<Ipv4Addr>) {
    let mut buf = [0u8; 1500];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else { continue };
        if let Some(reply) = answer(&buf[..n], api, metadata) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    const API: Ipv4Addr = Ipv4Addr::new(127, 100, 0, 1);

    #[test]
    fn cloud_names_resolve_to_cloudid_and_others_do_not_exist() {
        let a = answer(&query("My-Bucket.s3.ap-northeast-1.amazonaws.com", 1), API, None).unwrap();
        assert_eq!((a[3] & 0x0f, u16::from_be_bytes([a[6], a[7]])), (0, 1), "NOERROR, one answer");
        assert_eq!(&a[a.len() - 4..], &[127, 100, 0, 1]);
        let aaaa = answer(&query("us-central1-aiplatform.googleapis.com", 28), API, None).unwrap();
        assert_eq!((aaaa[3] & 0x0f, u16::from_be_bytes([aaaa[6], aaaa[7]])), (0, 0), "NODATA for AAAA");
        let other = answer(&query("example.com", 1), API, None).unwrap();
        assert_eq!((other[3] & 0x0f, &other[0..2]), (3, &[0x12, 0x34][..]), "NXDOMAIN, same id");
        let md = answer(&query("metadata.google.internal", 1), API, Some(Ipv4Addr::new(169, 254, 169, 254))).unwrap();
        assert_eq!(&md[md.len() - 4..], &[169, 254, 169, 254]);
        assert_eq!(answer(&query("metadata.google.internal", 1), API, None).unwrap()[3] & 0x0f, 3, "not on an AWS platform");
        assert!(answer(&[1, 2, 3], API, None).is_none());
    }
}
