//! `tokio-echo`: the benchmark baseline for `bench/echo-compare.sh`.
//!
//! The canonical tokio echo server (the shape of tokio's own
//! `examples/echo.rs`) on a single-threaded runtime, so it competes on the
//! same single core as switchboard's one-thread readiness loop. Each
//! connection reads into a 64 KiB buffer, the size of switchboard's read
//! buffer (`read_buffer_size` default), so neither side gets more bytes per
//! read syscall than the other and the comparison is fair.
//!
//! Usage: `tokio-echo 127.0.0.1:10001`

use std::{env, error::Error};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:10001".to_string());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("tokio-echo listening on {addr}");

    loop {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;

        tokio::spawn(async move {
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if socket.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        });
    }
}
