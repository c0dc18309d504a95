use std::io::Read;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use switchboard_net::{Cluster, Config, Reactor, ThreadBus};
use switchboard_proto::chat::core::{Entry, Shard};
use switchboard_proto::chat::irc::IrcConfig;
use switchboard_proto::chat::web::WebConfig;
use switchboard_proto::chat::{RateLimit, ServerCounters};
use switchboard_proto::{ChatConfig, ChatService, FrontEnd};
use tracing::info;

use crate::cli::{ChatArgs, Command};
use crate::server::{
    listen, reactor_config, reload, reload_failed, reload_hooks, reloaded, serve, thread_count,
    warn_fixed,
};
use crate::tls::Acceptors;

/// Longest MOTD file: it is sent to every IRC client that registers, and
/// must stay well within what a client may be owed (`--max-output`).
const MAX_MOTD: u64 = 16 * 1024;

/// Shortest ping interval and timeout: zero would drop every IRC client at
/// once; anything under a second is for tests.
const MIN_PING: Duration = Duration::from_millis(100);

/// Longest `--coalesce`: output held longer than this is a chat that
/// answers nobody (it is meant to be milliseconds).
const MAX_COALESCE: Duration = Duration::from_secs(1);

/// Shortest `--max-line`: a nick change or a short line must fit.
const MIN_LINE: usize = 64;

/// Longest `--max-line`: one line is copied to every member of a room.
const MAX_LINE: usize = 1024 * 1024;

/// Smallest `--max-output`: room for what a client is sent on arrival (the
/// IRC welcome with the largest MOTD allowed), so nobody is cut at hello.
const MIN_OUTPUT: usize = 32 * 1024;

/// Refuses settings that would break the server for everyone, with what to
/// do instead, before anything listens. (Durations of 0 mean "off" where
/// they switch something off: `--idle-timeout`, `--coalesce`,
/// `--busy-poll`; `--rate-limit 0` is no limit, `--announce-limit 0`
/// announces every join; any `--announce-limit` is a size a room may reach
/// or not, so none is refused.)
fn check(args: &ChatArgs) -> Result<()> {
    ensure!(
        (MIN_LINE..=MAX_LINE).contains(&args.max_line),
        "--max-line {} is outside {MIN_LINE} bytes to {} MiB: shorter refuses every line, \
         longer is copied to every member of a room",
        args.max_line,
        MAX_LINE >> 20
    );
    ensure!(
        args.max_output >= MIN_OUTPUT,
        "--max-output {} is under {} KiB: clients would be cut off by their own welcome",
        args.max_output,
        MIN_OUTPUT >> 10
    );
    ensure!(
        args.rate_limit.is_finite() && args.rate_limit >= 0.0,
        "--rate-limit {} must be a number of lines per second, 0 for no limit",
        args.rate_limit
    );
    ensure!(
        args.max_line <= args.max_output,
        "--max-line ({}) must be at most --max-output ({}): a line goes to every member \
         at once, and members owed more than they may be would all be cut off",
        args.max_line,
        args.max_output
    );
    let name = &args.server_name;
    ensure!(
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b)),
        "--server-name {name:?}: IRC needs a name of letters, digits, '.', '-' or '_' \
         (it starts every reply)"
    );
    for (flag, value) in [
        ("--ping-interval", args.ping_interval),
        ("--ping-timeout", args.ping_timeout),
        ("--handshake-timeout", args.handshake_timeout),
    ] {
        ensure!(
            value >= MIN_PING,
            "{flag} must be at least {MIN_PING:?} (a client needs time to answer)"
        );
    }
    ensure!(
        args.coalesce <= MAX_COALESCE,
        "--coalesce {:?} is over {MAX_COALESCE:?}: output held that long never reaches \
         anyone in time (a few milliseconds is what it is for)",
        args.coalesce
    );
    for origin in &args.web_origin {
        ensure!(
            origin == "*" || origin.starts_with("http://") || origin.starts_with("https://"),
            "--web-origin {origin:?}: an origin is scheme://host[:port], as browsers send it \
             (for example https://chat.example.com), or '*' for any"
        );
    }
    if let Some(url) = &args.cluster {
        ensure!(
            url.starts_with("redis://"),
            "--cluster {url:?}: give Redis as redis://HOST:PORT (redis://HOST:PORT/DB for \
             another database)"
        );
    }
    if args.irc_password.as_deref() == Some("") {
        bail!("--irc-password must not be empty (clients without one send no PASS at all)");
    }
    if args.irc_oper_password.as_deref() == Some("") {
        bail!("--irc-oper-password must not be empty (leave it out for no operators)");
    }
    Ok(())
}

/// The MOTD lines from `path`, refused if the file is too big for one.
fn read_motd(path: &Path) -> Result<Vec<String>> {
    let context = || format!("cannot read the MOTD file {}", path.display());
    let mut text = String::new();
    std::fs::File::open(path)
        .with_context(context)?
        .take(MAX_MOTD + 1)
        .read_to_string(&mut text)
        .with_context(context)?;
    ensure!(
        text.len() as u64 <= MAX_MOTD,
        "the MOTD file {} is over {} KiB: every IRC client is sent it",
        path.display(),
        MAX_MOTD / 1024
    );
    Ok(text.lines().map(str::to_string).collect())
}

/// The service's and the reactor's settings that `args` ask for, checked.
fn settings(args: &ChatArgs) -> Result<(ChatConfig, Config)> {
    check(args)?;
    let motd = match &args.motd {
        Some(path) => read_motd(path)?,
        None => IrcConfig::default().motd,
    };
    let config = ChatConfig {
        max_line: args.max_line,
        max_output: args.max_output,
        output_grace: args.output_grace,
        rate_limit: (args.rate_limit > 0.0).then_some(RateLimit {
            burst: args.burst.max(1),
            per_sec: args.rate_limit,
        }),
        announce_limit: args.announce_limit,
        irc: IrcConfig {
            server_name: args.server_name.clone(),
            password: args.irc_password.clone(),
            oper_password: args.irc_oper_password.clone(),
            motd,
            ping_interval: args.ping_interval,
            ping_timeout: args.ping_timeout,
            ..IrcConfig::default()
        },
        web: WebConfig {
            origins: args.web_origin.clone(),
        },
        handshake_timeout: args.handshake_timeout,
        started: Some(std::time::SystemTime::now()),
        ..ChatConfig::default()
    };
    let reactor_config = Config {
        coalesce: args.coalesce,
        tls_handshake_timeout: args.handshake_timeout,
        ..reactor_config(&args.server, args.max_clients)
    };
    Ok((config, reactor_config))
}

pub fn run(args: ChatArgs) -> Result<ExitCode> {
    let (config, reactor_config) = settings(&args)?;
    let threads = thread_count(&args.server);
    let mut reactors: Vec<Reactor<ChatService>> = Vec::with_capacity(threads);
    let cluster = match &args.cluster {
        Some(url) => Some(
            Cluster::join(url, threads, args.cluster_log)
                .with_context(|| format!("cannot join the cluster at {url}"))?,
        ),
        None => None,
    };
    let bus = ThreadBus::<Arc<Entry>>::new(threads);
    let counters = Arc::new(ServerCounters::default());
    for i in 0..threads {
        let shard = Shard::new(i, threads);
        let service = match (&cluster, threads) {
            (Some(cluster), _) => ChatService::shared(
                config.clone(),
                shard.on_node(cluster.node()),
                Box::new(cluster.member(i)),
                counters.clone(),
            ),
            (None, 1) => ChatService::new(config.clone()),
            (None, _) => ChatService::shared(
                config.clone(),
                shard,
                Box::new(bus.member(i)),
                counters.clone(),
            ),
        };
        let reactor = match reactors.first() {
            None => Reactor::new(service, reactor_config.clone())?,
            Some(first) => first.sibling(service)?,
        };
        reactors.push(reactor);
    }
    let handles = || reactors.iter().map(Reactor::handle).collect();
    match &cluster {
        Some(cluster) => cluster.bus().wake_with(handles()),
        None => bus.wake_with(handles()),
    }
    let wants_tls = [&args.listen_tls, &args.irc_tls, &args.web_tls]
        .iter()
        .any(|addrs| !addrs.is_empty());
    let tls = wants_tls.then(|| Acceptors::load(&args.tls)).transpose()?;
    let handles: Vec<_> = reactors.iter().map(Reactor::handle).collect();
    let (started, acceptors) = (args.clone(), tls.clone());
    let hooks = reload_hooks(
        &handles,
        move || reload_settings(&started, acceptors.as_ref()),
        |service: &mut ChatService, net: &mut Config, now, (config, reactor_config)| {
            service.reconfigure(config, now);
            *net = Config {
                poller: net.poller,
                ..reactor_config
            };
        },
    );
    for (reactor, hook) in reactors.iter_mut().zip(hooks) {
        reactor.on_reload(hook);
    }
    listen(&mut reactors, "chat", FrontEnd::Line, &args.listen, None)?;
    if !args.no_irc {
        listen(&mut reactors, "irc", FrontEnd::Irc, &args.irc, None)?;
    }
    if !args.no_web {
        listen(&mut reactors, "web", FrontEnd::Web, &args.web, None)?;
    }
    if let Some(tls) = &tls {
        let stream = Some(&tls.stream);
        listen(
            &mut reactors,
            "chat-tls",
            FrontEnd::Line,
            &args.listen_tls,
            stream,
        )?;
        listen(
            &mut reactors,
            "irc-tls",
            FrontEnd::Irc,
            &args.irc_tls,
            stream,
        )?;
        listen(
            &mut reactors,
            "web-tls",
            FrontEnd::Web,
            &args.web_tls,
            Some(&tls.web),
        )?;
    }
    let code = serve(reactors);
    if let Some(cluster) = cluster {
        cluster.leave();
    }
    code
}

/// Reads and checks the settings again for a reload (the command line and
/// its `--config` file), and rereads the certificates, which the threads
/// share: the settings every thread then applies, or `None` (and why,
/// logged) to keep those in force.
fn reload_settings(
    started: &ChatArgs,
    acceptors: Option<&Acceptors>,
) -> Option<(ChatConfig, Config)> {
    let (new, args) = reload(|cli| match cli {
        Command::Chat(args) => Some(*args),
        _ => None,
    })?;
    let settings = match settings(&args) {
        Ok(settings) => settings,
        Err(e) => {
            reload_failed(&e);
            return None;
        }
    };
    warn_fixed(&started.server, &args.server, &fixed(started, &args));
    if let Some(acceptors) = acceptors {
        // A bad new certificate keeps the old one, and every setting.
        if let Err(e) = acceptors.reload(&args.tls) {
            reload_failed(&e);
            return None;
        }
        info!("TLS certificate reread; new connections get it");
    }
    reloaded(&new);
    Some(settings)
}

/// The settings a reload cannot change, each with whether it changed.
fn fixed<'a>(started: &ChatArgs, args: &ChatArgs) -> [(&'a str, bool); 10] {
    [
        ("--listen", args.listen != started.listen),
        (
            "--irc",
            args.irc != started.irc || args.no_irc != started.no_irc,
        ),
        (
            "--web",
            args.web != started.web || args.no_web != started.no_web,
        ),
        ("--server-name", args.server_name != started.server_name),
        ("--listen-tls", args.listen_tls != started.listen_tls),
        ("--irc-tls", args.irc_tls != started.irc_tls),
        ("--web-tls", args.web_tls != started.web_tls),
        ("--threads", args.server.threads != started.server.threads),
        ("--cluster", args.cluster != started.cluster),
        ("--cluster-log", args.cluster_log != started.cluster_log),
    ]
}
