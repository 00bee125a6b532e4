//! `cloudid exec --server URL`: the namespace's addresses relay every connection, byte for byte,
//! to a cloudid running outside (through the relay's Unix socket), instead of serving a world of
//! their own — TLS ends here with this run's CA, plain HTTP passes as it is. The outside server
//! sees the real host names the workload used, and its faults (a reset, a hang, a truncated
//! body) reach the workload as they happened: a reset upstream resets the workload's connection.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixStream};

/// Relays plain connections accepted on `listener` to `socket`.
pub(crate) async fn relay_plain(listener: TcpListener, socket: PathBuf) {
    loop {
        let Ok((inside, _)) = listener.accept().await else { continue };
        let socket = socket.clone();
        tokio::spawn(async move {
            let _ = inside.set_nodelay(true);
            let mut inside = inside;
            let reset = pipe(&mut inside, &socket).await;
            if reset {
                let _ = inside.set_zero_linger();
            }
        });
    }
}

/// Ends TLS on connections accepted on `listener` and relays what they carry to `socket`.
pub(crate) async fn relay_tls(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, socket: PathBuf, handshake: Duration) {
    loop {
        let Ok((inside, _)) = listener.accept().await else { continue };
        let (socket, acceptor) = (socket.clone(), acceptor.clone());
        tokio::spawn(async move {
            let _ = inside.set_nodelay(true);
            let Ok(Ok(mut tls)) = tokio::time::timeout(handshake, acceptor.accept(inside)).await else { return };
            if pipe(&mut tls, &socket).await {
                let (tcp, _) = tls.get_mut();
                let _ = tcp.set_zero_linger();
            }
        });
    }
}

/// Copies both ways between `inside` and a new connection to `socket`; whether the far side
/// failed (so the workload's connection should be reset, not closed).
async fn pipe<S: AsyncRead + AsyncWrite + Unpin>(inside: &mut S, socket: &PathBuf) -> bool {
    let Ok(mut outside) = UnixStream::connect(socket).await else { return true };
    tokio::io::copy_bidirectional(inside, &mut outside).await.is_err()
}
