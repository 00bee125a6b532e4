//! Upstreams outside the namespace. The workload's network namespace reaches nothing, and cloudid
//! serves from inside it, so an upstream on the machine's own loopback (DynamoDB Local in a
//! container, a moto server) is reached through a relay: a small `cloudid` process started before
//! the namespaces exist, which accepts on a Unix socket (file system sockets cross network
//! namespaces) and connects each stream to the upstream's TCP address. It ends with its parent.

use std::io;
use std::path::Path;

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
