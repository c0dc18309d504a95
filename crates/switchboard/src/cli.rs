//! The command line. Its doc comments are the `--help` text (clap), where
//! brackets are literal (`[::1]:8008`), not rustdoc's links.
#![allow(rustdoc::broken_intra_doc_links)]

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ipnet::IpNet;

/// A multiplexed TCP server toolkit: one process serving many clients from a
/// readiness loop. An echo server, a chat room that line, IRC and web
/// clients share, and the clients and load generators that measure them.
#[derive(Parser, Debug)]
#[command(name = "switchboard", version, propagate_version = true)]
pub struct Cli {
    /// More log output: -v for debug (connects, disconnects and why),
    /// -vv for trace. RUST_LOG, when set, overrides this.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print the event narrative: each wait and which
    /// sockets it found readable, writable or exceptional, new
    /// connections, bytes received and sent per peer, emptied output
    /// queues, and each close with its reason.
    #[arg(long, global = true)]
    pub trace: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the chat: rooms shared by nc/telnet users (`nc 127.0.0.1 8008`),
    /// IRC clients (`irssi -c 127.0.0.1 -p 6667`, channel #lobby) and
    /// browsers (http://127.0.0.1:8080/); every line goes to everyone else
    /// in the room.
    #[command(args_override_self = true)]
    Chat(Box<ChatArgs>),
    /// Run an RFC 862 echo server: every byte received is sent back.
    #[command(args_override_self = true)]
    Echo(EchoArgs),
    /// Send messages in parts on several connections to an echo server
    /// and check every echo.
    Client(ClientArgs),
    /// Load generators.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Make a self-signed certificate and its key for trying TLS locally
    /// (`chat --listen-tls ... --tls-cert cert.pem --tls-key key.pem`).
    Cert(CertArgs),
}

#[derive(Args, Debug)]
pub struct CertArgs {
    /// Names the certificate is for (DNS names or IP addresses).
    #[arg(value_name = "NAME", default_values = ["localhost", "127.0.0.1", "::1"])]
    pub names: Vec<String>,

    /// Where to write the certificate (PEM).
    #[arg(long, value_name = "FILE", default_value = "cert.pem")]
    pub cert: PathBuf,

    /// Where to write its private key (PEM, PKCS#8; readable by its owner
    /// only).
    #[arg(long, value_name = "FILE", default_value = "key.pem")]
    pub key: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Closed-loop echo load: N connections, each with K messages in flight;
    /// every echoed byte is verified.
    Echo(BenchEchoArgs),
    /// Chat fan-out load: N clients in one room, S of them sending lines
    /// with sequence numbers and timestamps; counts deliveries, losses,
    /// reordering and latency.
    ///
    /// Two orders are checked. Per sender: a line arriving at or below a
    /// sequence number its client already has from the same sender is
    /// reordered. Per room: every member must see the room's lines in one
    /// order, whichever address the senders are on. Up to 8 observers
    /// (clients that do not send, covering as many of the addresses as
    /// they can) record the lines sent in the measured window as they
    /// arrive, up to 1,000,000 each (the report says when that cap was
    /// reached); for every pair of observers, only the lines both recorded
    /// are compared, and room-order violations count, per pair, the fewest
    /// of those lines that would have to move to turn one observer's order
    /// into the other's, summed over the pairs.
    Chat(BenchChatArgs),
}

/// Which chat protocol the load generator speaks.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatPreset {
    /// switchboard chat: wait for the welcome line, send plain lines.
    Switchboard,
    /// A bare line relay (such as a minimal select() chat room): no
    /// greeting, plain lines.
    #[value(alias = "seed")]
    Plain,
    /// IRC (e.g. ngircd): NICK/USER/JOIN #bench, PRIVMSG, answers PING.
    Irc,
}

#[derive(Args, Debug)]
pub struct BenchChatArgs {
    /// Chat server to load. Several (ADDR ADDR ...) for one room served on
    /// several listeners, threads or cluster nodes: client i connects to
    /// the (i mod count)-th.
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:8008", num_args = 1..)]
    pub addrs: Vec<SocketAddr>,

    /// Clients in the room.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 100)]
    pub clients: usize,

    /// How many of the clients send.
    #[arg(short = 's', long, value_name = "S", default_value_t = 10)]
    pub senders: usize,

    /// Open loop: lines per second offered by all senders together.
    #[arg(long, value_name = "LINES_PER_SEC", conflicts_with = "window")]
    pub rate: Option<f64>,

    /// Closed loop: lines each sender keeps unconfirmed (a line is
    /// confirmed when the last client receives it). The default when no
    /// --rate is given.
    #[arg(long, value_name = "W")]
    pub window: Option<usize>,

    /// Bytes of padding in each line (the line also carries a sequence
    /// number and a timestamp).
    #[arg(long, value_name = "BYTES", default_value = "32", value_parser = parse_bytes)]
    pub size: usize,

    /// How long to measure, after the warm-up.
    #[arg(short, long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Load applied before measuring starts.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Protocol presets for --hello, --ready and --message.
    #[arg(long, value_enum, default_value = "switchboard")]
    pub preset: ChatPreset,

    /// Sent by each client on connect; `{id}` is the client's number and
    /// `\r\n` may be written as such. Overrides the preset.
    #[arg(long, value_name = "TEXT")]
    pub hello: Option<String>,

    /// A client is in the room once a line containing this arrives (empty:
    /// at once). Overrides the preset.
    #[arg(long, value_name = "TEXT")]
    pub ready: Option<String>,

    /// How a line is sent; `{payload}` is replaced by the measured text.
    /// Overrides the preset.
    #[arg(long, value_name = "TEMPLATE")]
    pub message: Option<String>,

    /// A room mixing front-ends: this many of the clients (spread evenly,
    /// senders included) speak IRC to --irc-addr instead and join #lobby,
    /// where switchboard's line clients are.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "irc_addr")]
    pub irc_clients: usize,

    /// Where the --irc-clients connect (switchboard's IRC port); repeat
    /// for several, which they take in turn.
    #[arg(long, value_name = "ADDR")]
    pub irc_addr: Vec<SocketAddr>,

    /// A room with browsers in it: this many of the clients (spread evenly,
    /// senders included; all of them for a room of browsers) speak the
    /// JSON WebSocket protocol to --ws-addr instead and join #lobby.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "ws_addr",
        conflicts_with = "irc_clients"
    )]
    pub ws_clients: usize,

    /// Where the --ws-clients connect (switchboard's web port; the path is
    /// /ws); repeat for several, which they take in turn.
    #[arg(long, value_name = "ADDR")]
    pub ws_addr: Vec<SocketAddr>,

    /// --tls and its settings (boxed: this struct is big enough).
    #[command(flatten)]
    pub tls: Box<crate::bench::TlsClientArgs>,

    /// Measure connection set-up instead of fan-out: --clients connections
    /// at a time each connect (with --tls, make a full TLS handshake),
    /// wait for the greeting's ready line (--ready), close, and make way
    /// for the next; reports connections (handshakes) per second over
    /// --duration, and the server's CPU per connection.
    #[arg(
        long,
        conflicts_with_all = ["rate", "window", "irc_clients", "ws_clients"]
    )]
    pub connect_only: bool,

    #[command(flatten)]
    pub load: LoadArgs,
}

/// The certificate for TLS listeners.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct TlsArgs {
    /// PEM file with the server's certificate chain (its certificate first,
    /// then the intermediates); reread on SIGHUP. `switchboard cert` makes
    /// one for a first try.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the certificate's private key (PKCS#8, PKCS#1 or
    /// SEC1); reread on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Flags every server command shares.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Read settings from FILE too: one flag per line, as `name = value`
    /// (`max-clients = 500`) or a bare `name` for a switch, and lines
    /// starting with `#` for comments; the command line wins where a flag
    /// takes one value. The
    /// file is read again on SIGHUP, and the limits and timeouts in it take
    /// effect for every connection without closing any.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Event-loop threads (1 to 256). Each serves its share of the
    /// connections (the kernel spreads new ones over the threads); chat
    /// rooms, nicks and listings span all of them. Default: one per core
    /// this process may run on (`taskset` narrows it).
    #[arg(
        long,
        value_name = "N",
        env = "SWITCHBOARD_THREADS",
        value_parser = clap::value_parser!(u16).range(1..=256)
    )]
    pub threads: Option<u16>,

    /// Close connections idle (no bytes either way) for this long, e.g. 30s
    /// or 5m. Off by default, and with 0.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// On SIGINT/SIGTERM, how long to keep flushing pending output before
    /// closing anyway. A second signal stops at once.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Before sleeping, keep checking for events without sleeping for up to
    /// this long, e.g. 50us: lower latency when few clients take turns, for
    /// CPU spent spinning (up to this much per wait). Off by default.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub busy_poll: Duration,

    /// The readiness mechanism: epoll (the kernel tracks the watched
    /// sockets), or poll and select, which pass every watched socket to the
    /// kernel on every wait (select takes descriptors
    /// below 1024 only).
    #[arg(
        long,
        value_enum,
        value_name = "POLLER",
        default_value = "epoll",
        env = "SWITCHBOARD_POLLER"
    )]
    pub poller: PollerArg,

    /// Most connections one address may hold at once (0: no limit), so one
    /// host cannot take every slot; one more is told why and closed.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_per_ip: u32,

    /// Most connections one address may open per second (0: no limit).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub connect_rate: u32,

    /// A network (127.0.0.0/8, 2001:db8::/32, or one address) that
    /// --max-per-ip and --connect-rate do not apply to; repeat for several,
    /// or 'none' to exempt nobody.
    #[arg(
        long,
        value_name = "NET",
        default_values = ["127.0.0.0/8", "::1/128"],
        value_parser = parse_net
    )]
    pub per_ip_exempt: Vec<Option<IpNet>>,
}

/// Parses `argv`, with the settings of the `--config FILE` it names, if
/// any, put before the command line's own flags (so these win where a flag
/// takes one value). Also what a reload does, with the same `argv`.
pub fn parse_from(argv: &[OsString]) -> Result<Cli, clap::Error> {
    let cli = Cli::try_parse_from(argv)?;
    let file = match &cli.command {
        Command::Chat(args) => args.server.config.as_deref(),
        Command::Echo(args) => args.server.config.as_deref(),
        _ => None,
    };
    let Some(file) = file else {
        return Ok(cli);
    };
    let settings = read_config(file)
        .map_err(|e| clap::Error::raw(clap::error::ErrorKind::Io, format!("{e}\n")))?;
    // Right after the subcommand's name: global flags come before it.
    let at = argv
        .iter()
        .position(|a| a == "chat" || a == "echo")
        .map_or(argv.len(), |i| i + 1);
    let mut merged = argv[..at].to_vec();
    merged.extend(settings);
    merged.extend_from_slice(&argv[at..]);
    Cli::try_parse_from(merged)
}

/// The flags a settings file stands for, one per line (`name = value`,
/// `name`, `# comment`).
fn read_config(path: &Path) -> Result<Vec<OsString>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read --config {}: {e}", path.display()))?;
    let mut flags = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // Comments are whole lines: a `#` inside a value (a password) is
        // the value's.
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = match line.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (line, None),
        };
        if name == "config" || name.starts_with('-') || name.contains(char::is_whitespace) {
            return Err(format!(
                "{}:{}: {line:?} is not a setting (name = value, named as the long flag \
                 without its dashes)",
                path.display(),
                n + 1
            ));
        }
        flags.push(OsString::from(match value {
            Some(value) => format!("--{name}={value}"),
            None => format!("--{name}"),
        }));
    }
    Ok(flags)
}

/// `--per-ip-exempt`: a network, an address (a network of one), or 'none'.
fn parse_net(s: &str) -> Result<Option<IpNet>, String> {
    if s == "none" {
        return Ok(None);
    }
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(Some)
        .map_err(|_| format!("{s:?} is not a network (127.0.0.0/8), an address or 'none'"))
}

/// `--poller`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PollerArg {
    /// epoll (Linux), kqueue (BSD, macOS), through mio.
    Epoll,
    /// poll(2).
    Poll,
    /// select(2).
    Select,
}

#[derive(Args, Debug, Clone)]
pub struct EchoArgs {
    /// Address to listen on; repeat for several (IPv6 as [::1]:10000).
    /// Port 0 picks a free port (the log says which).
    #[arg(
        short,
        long = "listen",
        value_name = "ADDR",
        default_value = "127.0.0.1:10000"
    )]
    pub listen: Vec<SocketAddr>,

    /// Also serve UDP echo on the same addresses (same port numbers).
    #[arg(long)]
    pub udp: bool,

    /// Most UDP replies sent to one address per second (0: no limit): a
    /// datagram's source may be forged, and the server must not become a
    /// flood aimed at someone else.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub udp_rate: u32,

    /// Stop reading a connection whose unsent echo exceeds this many bytes,
    /// until it drains below a quarter of it: a client that writes and
    /// never reads cannot grow the server, and loses nothing.
    #[arg(long, value_name = "BYTES", default_value = "256KiB", value_parser = parse_bytes)]
    pub high_water: usize,

    /// Most connections held at once; one more is accepted and closed at
    /// once.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_connections: usize,

    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ChatArgs {
    /// Address for the line protocol (nc, telnet) to listen on; repeat for
    /// several (IPv6 as [::1]:8008). Port 0 picks a free port (the log says
    /// which).
    #[arg(
        short,
        long = "listen",
        value_name = "ADDR",
        default_value = "127.0.0.1:8008"
    )]
    pub listen: Vec<SocketAddr>,

    /// Address for IRC clients to connect to; repeat for several. The rooms
    /// are the same: line room `lobby` is IRC channel #lobby.
    #[arg(
        long = "irc",
        value_name = "ADDR",
        default_value = "127.0.0.1:6667",
        conflicts_with = "no_irc"
    )]
    pub irc: Vec<SocketAddr>,

    /// Serve no IRC clients.
    #[arg(long)]
    pub no_irc: bool,

    /// Address for browsers: http://ADDR/ is the chat page, ws://ADDR/ws
    /// its WebSocket (JSON, or IRC with the text.ircv3.net subprotocol);
    /// repeat for several.
    #[arg(
        long = "web",
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        conflicts_with = "no_web"
    )]
    pub web: Vec<SocketAddr>,

    /// Serve no web page and no WebSockets.
    #[arg(long)]
    pub no_web: bool,

    /// Address for the line protocol over TLS (`openssl s_client`, `ncat
    /// --ssl`); repeat for several. Needs --tls-cert and --tls-key.
    #[arg(long = "listen-tls", value_name = "ADDR")]
    pub listen_tls: Vec<SocketAddr>,

    /// Address for IRC over TLS (6697 by convention); repeat for several.
    #[arg(long = "irc-tls", value_name = "ADDR")]
    pub irc_tls: Vec<SocketAddr>,

    /// Address for the web page and its WebSocket over TLS (https://,
    /// wss://); repeat for several.
    #[arg(long = "web-tls", value_name = "ADDR")]
    pub web_tls: Vec<SocketAddr>,

    #[command(flatten)]
    pub tls: TlsArgs,

    /// An origin (scheme://host[:port]) whose pages may open a WebSocket
    /// here; repeat for several, or '*' for any. [default: the page's own
    /// origin, so that no other site can use a visitor's browser to chat;
    /// from this machine or a private network only by address, as
    /// localhost or by a name of no public domain, against DNS rebinding:
    /// a reverse proxy lists the public origin it serves here]
    #[arg(long = "web-origin", value_name = "ORIGIN")]
    pub web_origin: Vec<String>,

    /// How long a new client has to show it is one, or is closed, so that
    /// slow or silent clients cannot hold connections: a TLS client must
    /// finish its handshake, a web client send a complete HTTP request
    /// (before it upgrades to a WebSocket), an IRC client register, a line
    /// client that started its first line end it.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Longest line accepted from the line protocol, and longest WebSocket
    /// message, in bytes (IRC has its own limit of 512). A longer line is
    /// discarded up to its newline and its sender told; a longer WebSocket
    /// message closes its socket (code 1009); memory does not grow with
    /// its size.
    #[arg(long, value_name = "BYTES", default_value = "4KiB", value_parser = parse_bytes)]
    pub max_line: usize,

    /// Unsent output a client may fall behind by. Past it, what the client
    /// asks for waits until it reads; if it stays this far behind in what
    /// others sent it for --output-grace, or falls four times this far
    /// behind, it is disconnected (and its rooms told), so it can never
    /// stall the room or grow the server. Its own replies never count.
    /// From half of it, private messages to it are refused and their
    /// senders told, so that others cannot get it cut off.
    #[arg(long, value_name = "BYTES", default_value = "1MiB", value_parser = parse_bytes)]
    pub max_output: usize,

    /// How long a client may stay more than --max-output behind before it
    /// is disconnected: a burst that it reads as fast as its connection
    /// allows passes well within it. 0: as soon as it is behind after a
    /// write.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub output_grace: Duration,

    /// Lines per second each client may send, sustained (IRC commands
    /// included); 0 turns the limit off (benchmarks). A faster client is
    /// slowed by not reading its input (TCP backpressure): nothing it sent
    /// is dropped, nobody else notices. A listing (/who, /rooms, IRC WHO,
    /// NAMES, LIST) costs one more line per 100 entries of its reply.
    #[arg(long, value_name = "LINES_PER_SEC", default_value_t = 10.0)]
    pub rate_limit: f64,

    /// Lines a client may send at once before the rate limit applies.
    #[arg(long, value_name = "LINES", default_value_t = 20)]
    pub burst: u32,

    /// Rooms of more than this many members announce arrivals and
    /// departures in one summary a second ("12 joined (...), 3 left (...);
    /// 250 members"; IRC: a server NOTICE to the channel), not one by one,
    /// and a joiner is sent a names list of itself and the member count
    /// (NAMES, /who list everyone): a join storm then costs the room one
    /// line a second. 0 announces every arrival and departure, whatever
    /// the size.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub announce_limit: usize,

    /// Most clients at once, of every protocol; one more is told the
    /// server is full and closed.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_clients: usize,

    /// Hold output up to this long so that lines arriving meanwhile reach
    /// each client in one write: fewer syscalls under heavy fan-out, for at
    /// most this much delay. 0 writes at the end of every loop turn, which
    /// already sends all lines of one turn in one write.
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub coalesce: Duration,

    /// Password IRC clients must give (PASS) to register; none by default.
    #[arg(long, value_name = "PASSWORD")]
    pub irc_password: Option<String>,

    /// Password that makes an IRC client an operator (`OPER NAME
    /// PASSWORD`), who may `REHASH`: reread --config and the TLS
    /// certificate, as SIGHUP does. None by default: nobody can be one.
    #[arg(long, value_name = "PASSWORD")]
    pub irc_oper_password: Option<String>,

    /// IRC and WebSocket: a client silent this long is sent a ping.
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// IRC and WebSocket: a ping unanswered this long disconnects the
    /// client ("Ping timeout"; its rooms are told). An IRC client that has
    /// not registered within the ping interval is disconnected too.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub ping_timeout: Duration,

    /// IRC: file whose lines are the message of the day (an empty file: no
    /// MOTD, numeric 422) [default: a short built-in welcome].
    #[arg(long, value_name = "FILE")]
    pub motd: Option<std::path::PathBuf>,

    /// IRC: the server's name in replies.
    #[arg(long, value_name = "NAME", default_value = "switchboard.local")]
    pub server_name: String,

    /// Share rooms, nicks and presence with the other servers (nodes) of a
    /// cluster through this Redis (7.x), e.g. redis://127.0.0.1:6379: a
    /// line said on any node reaches every member of its room, on every
    /// node, in one order. Up to 16 nodes. Without it, nothing but this
    /// process is needed. See docs/CLUSTER.md.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,

    /// The cluster's shared log keeps about this many entries (Redis
    /// XADD MAXLEN ~): a node that falls further behind (stopped, starved)
    /// tells its clients how much it missed and catches up from the
    /// others' state.
    #[arg(
        long,
        value_name = "ENTRIES",
        default_value_t = 100_000,
        requires = "cluster"
    )]
    pub cluster_log: u64,

    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Args, Debug)]
pub struct ClientArgs {
    /// Number of connections, each sent every message.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 2)]
    pub connections: usize,

    /// Give up on a reply after this long.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Echo server to talk to.
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:10000")]
    pub addr: SocketAddr,

    /// Messages to send, in order [default: "This is the
    /// message. " "It will be sent " "in parts."]
    #[arg(value_name = "MESSAGE")]
    pub messages: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BenchEchoArgs {
    /// Echo server to load.
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:10000")]
    pub addr: SocketAddr,

    /// Concurrent connections.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 50)]
    pub connections: usize,

    /// Message size (e.g. 64, 4KiB).
    #[arg(short, long, value_name = "BYTES", default_value = "64", value_parser = parse_bytes)]
    pub size: usize,

    /// Messages in flight per connection.
    #[arg(short, long, value_name = "K", default_value_t = 1)]
    pub pipeline: usize,

    /// Also hold this many connections open that send nothing: what a
    /// server pays per wait for the sockets it watches but that are quiet
    /// (select and poll scan them all; epoll does not).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub idle: usize,

    /// How long to measure, after the warm-up (e.g. 10s).
    #[arg(short, long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Load applied before measuring starts.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub warmup: Duration,

    #[command(flatten)]
    pub load: LoadArgs,
}

/// Flags both load generators share.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Also report the server's CPU time per round trip or delivery and its
    /// peak RSS, read from /proc/PID.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,

    /// Print one JSON object instead of the human summary.
    #[arg(long)]
    pub json: bool,

    /// No progress display (by default: a live bar on a terminal, a line
    /// per second on stderr otherwise).
    #[arg(short, long)]
    pub quiet: bool,

    /// Connections per source address: beyond this, connections to an IPv4
    /// loopback target come from 127.0.0.2, 127.0.0.3, ... [default: the
    /// size of the ephemeral port range]
    #[arg(long, value_name = "N")]
    pub per_source: Option<usize>,

    /// Connects in progress at once. A server whose listen backlog is
    /// shorter than this may drop the excess SYNs, which the kernel retries
    /// only after 1, 3, 7, ... s: use 1 for such servers (a backlog of 5 is common in small examples).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub connect_window: usize,

    /// Give up unless every connection is open within this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
}

/// A duration such as `5s`, `250ms`, `2m`; a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (try 5s, 250ms or 2m)"))
}

/// A size such as `4096`, `4KiB`, `1MiB`, `64k`.
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let n = parse_size::parse_size(s).map_err(|e| format!("{e} (try 4096, 4KiB or 1MiB)"))?;
    usize::try_from(n).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_bytes("4KiB"), Ok(4096));
        assert_eq!(parse_bytes("256KiB"), Ok(256 * 1024));
        assert_eq!(parse_bytes("64"), Ok(64));
        assert!(parse_bytes("lots").is_err());
    }
}
