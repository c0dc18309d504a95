use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::cli::ClientArgs;

/// The messages sent when none are given: three parts of one sentence.
const DEFAULT_MESSAGES: [&str; 3] = ["This is the message. ", "It will be sent ", "in parts."];

/// The echo client: each message goes out on every connection, then each
/// connection's echo is read back and compared. Narrative on stderr; the
/// verdict (`ok` or `MISMATCH`) on stdout.
pub fn run(args: ClientArgs) -> Result<ExitCode> {
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let messages: Vec<String> = if args.messages.is_empty() {
        DEFAULT_MESSAGES.iter().map(|m| m.to_string()).collect()
    } else {
        args.messages
    };
    eprintln!(
        "connecting to {} ({} connections)",
        args.addr, args.connections
    );
    let mut socks = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        let s = TcpStream::connect_timeout(&args.addr, args.timeout)
            .with_context(|| format!("cannot connect to {}", args.addr))?;
        s.set_read_timeout(Some(args.timeout))?;
        s.set_nodelay(true)?;
        socks.push(s);
    }
    let mut mismatches = 0;
    for message in &messages {
        for s in &mut socks {
            eprintln!("{}: sending {message:?}", s.local_addr()?);
            s.write_all(message.as_bytes()).context("send failed")?;
        }
        for s in &mut socks {
            let local = s.local_addr()?;
            let got = read_up_to(s, message.len())
                .with_context(|| format!("{local}: no complete echo"))?;
            let shown = String::from_utf8_lossy(&got);
            eprintln!("{local}: received {shown:?}");
            if got != message.as_bytes() {
                mismatches += 1;
                eprintln!("{local}: MISMATCH: sent {message:?}, received {shown:?}");
            }
        }
    }
    if mismatches == 0 {
        println!("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "MISMATCH ({mismatches} of {} echoes)",
            messages.len() * socks.len()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Reads until `want` bytes arrived or the peer closed (a short result).
fn read_up_to(s: &mut TcpStream, want: usize) -> std::io::Result<Vec<u8>> {
    let mut got = vec![0; want];
    let mut filled = 0;
    while filled < want {
        match s.read(&mut got[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    got.truncate(filled);
    Ok(got)
}
