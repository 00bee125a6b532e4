//! Upstreams outside the namespace. The workload's network namespace reaches nothing, and cloudid
//! serves from inside it, so an upstream on the machine's own loopback (DynamoDB Local in a
//! container, a moto server) is reached through a relay: a small `cloudid` process started before
//! the namespaces exist, which accepts on a Unix socket (file system sockets cross network
//! namespaces) and connects each stream to the upstream's TCP address. It ends with its parent.

use std::io;
use std::path::{Path, PathBuf};

use super::{ExecError, setup};
use crate::world::WorldModel;

/// Runs a relay from the Unix socket `listen` to `to` (`host:port`) until the parent process
/// exits. Blocks; call from a process of its own (`cloudid __relay`).
pub fn run(listen: &Path, to: &str) -> io::Result<()> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))?;
    if rustix::process::getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = tokio::net::UnixListener::bind(listen)?;
        loop {
            let (mut inside, _) = listener.accept().await?;
            let to = to.to_string();
            tokio::spawn(async move {
                match tokio::net::TcpStream::connect(&to).await {
                    Ok(mut outside) => {
                        let _ = tokio::io::copy_bidirectional(&mut inside, &mut outside).await;
                    }
                    Err(e) => tracing::warn!("upstream relay: cannot connect to {to}: {e}"),
                }
            });
        }
    })
}

/// Starts a relay for each upstream on a TCP address (reached from outside the namespace) and
/// points the world's upstream at the relay's socket instead.
pub(crate) fn start_relays(mut world: WorldModel, dir: &Path) -> Result<(WorldModel, Vec<std::process::Child>), ExecError> {
    use crate::hostnames::{Target, parse_upstream_url};
    let mut relays = Vec::new();
    for (i, upstream) in world.upstreams.iter_mut().enumerate() {
        let Some(Target::Tcp { authority, prefix }) = parse_upstream_url(&upstream.url) else { continue };
        let (socket, child) = relay_to(dir, &format!("upstream-{i}"), &authority)?;
        relays.push(child);
        upstream.url = format!("unix:{}{}", socket.display(), if prefix.is_empty() { String::new() } else { format!("#{prefix}") });
    }
    Ok((world, relays))
}

/// Starts a relay process (outside the namespaces, which do not exist yet) from the Unix socket
/// `DIR/NAME.sock` to the TCP address `authority`; the socket and the relay.
pub(crate) fn relay_to(dir: &Path, name: &str, authority: &str) -> Result<(PathBuf, std::process::Child), ExecError> {
    let exe = std::env::current_exe().map_err(setup("finding the cloudid executable for the relay"))?;
    let socket = dir.join(format!("{name}.sock"));
    let child = std::process::Command::new(&exe).arg("__relay").arg(&socket).arg(authority).stdin(std::process::Stdio::null()).spawn().map_err(setup(format!("starting the relay to {authority}")))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !socket.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok((socket, child))
}
