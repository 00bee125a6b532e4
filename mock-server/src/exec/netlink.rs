//! Just enough rtnetlink to set up a fresh network namespace's loopback: bring `lo` up and add
//! addresses to it (`ip link set lo up`, `ip addr add … dev lo`), without the `ip` program.
//!
//! Messages follow `rtnetlink(7)`: an `nlmsghdr`, then `ifinfomsg` (links) or `ifaddrmsg`
//! (addresses) and `rtattr` attributes, each padded to four bytes; every request asks for an
//! acknowledgement, whose error number is the answer.

use std::io;
use std::net::IpAddr;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, netlink::SocketAddrNetlink};

const RTM_NEWLINK: u16 = 16;
const RTM_NEWADDR: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFF_UP: u32 = 0x1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_F_NODAD: u8 = 0x02;
const RT_SCOPE_HOST: u8 = 254;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const EEXIST: i32 = 17;

/// The loopback interface's index: always 1 in a new network namespace.
const LOOPBACK: u32 = 1;

/// Brings the loopback interface up.
pub(crate) fn loopback_up() -> io::Result<()> {
    let mut body = Vec::with_capacity(16);
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&0u16.to_ne_bytes());
    body.extend_from_slice(&(LOOPBACK as i32).to_ne_bytes());
    body.extend_from_slice(&IFF_UP.to_ne_bytes());
    body.extend_from_slice(&IFF_UP.to_ne_bytes());
    request(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, &body)
}

/// Adds `addr` (a host address: /32 or /128) to the loopback interface; an address already
/// there is not an error.
pub(crate) fn add_loopback_address(addr: IpAddr) -> io::Result<()> {
    let (family, prefix, bytes): (u8, u8, Vec<u8>) = match addr {
        IpAddr::V4(a) => (AF_INET, 32, a.octets().to_vec()),
        IpAddr::V6(a) => (AF_INET6, 128, a.octets().to_vec()),
    };
    let scope = if addr.is_loopback() { RT_SCOPE_HOST } else { 0 };
    let mut body = vec![family, prefix, IFA_F_NODAD, scope];
    body.extend_from_slice(&LOOPBACK.to_ne_bytes());
    for kind in [IFA_LOCAL, IFA_ADDRESS] {
        attribute(&mut body, kind, &bytes);
    }
    match request(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &body) {
        Err(e) if e.raw_os_error() == Some(EEXIST) => Ok(()),
        other => other,
    }
}

fn attribute(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + (4 - len % 4) % 4, 0);
}

/// Sends one request and waits for its acknowledgement.
fn request(kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
    let socket = rustix::net::socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    let mut message = Vec::with_capacity(16 + body.len());
    message.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    message.extend_from_slice(&kind.to_ne_bytes());
    message.extend_from_slice(&flags.to_ne_bytes());
    message.extend_from_slice(&1u32.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(body);
    rustix::net::sendto(&socket, &message, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    let mut reply = [0u8; 1024];
    let (n, _) = rustix::net::recv(&socket, &mut reply[..], RecvFlags::empty())?;
    if n < 20 || u16::from_ne_bytes([reply[4], reply[5]]) != NLMSG_ERROR {
        return Err(io::Error::other("netlink: no acknowledgement"));
    }
    let errno = i32::from_ne_bytes([reply[16], reply[17], reply[18], reply[19]]);
    if errno == 0 { Ok(()) } else { Err(io::Error::from_raw_os_error(-errno)) }
}
