//! What every server command shares: binding its listeners, the reactor
//! configuration from flags, signals, and the exit status.

use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use switchboard_net::{
    bind_tcp_group, AddressLimits, Config, PollerKind, Reactor, ReactorHandle, Stats, TlsAcceptor,
};
use switchboard_proto::Service;
use tracing::{debug, error, info, warn};

use crate::cli::{Command, PollerArg, ServerArgs};

/// The reactor configuration a server's flags ask for.
pub fn reactor_config(args: &ServerArgs, max_connections: usize) -> Config {
    Config {
        max_connections,
        // 0 is "off", as for the other durations that switch something off.
        idle_timeout: args.idle_timeout.filter(|d| !d.is_zero()),
        shutdown_timeout: args.shutdown_timeout,
        busy_poll: args.busy_poll,
        poller: match args.poller {
            PollerArg::Epoll => PollerKind::Mio,
            PollerArg::Poll => PollerKind::Poll,
            PollerArg::Select => PollerKind::Select,
        },
        per_address: AddressLimits {
            // 0 is "no limit", as for --rate-limit.
            max_connections: Some(args.max_per_ip).filter(|&n| n > 0),
            connects_per_sec: Some(args.connect_rate).filter(|&n| n > 0),
            exempt: args.per_ip_exempt.iter().flatten().copied().collect(),
            ..AddressLimits::default()
        },
        ..Config::default()
    }
}

/// Binds every address for `name` once per reactor, sharing its port
/// (see [`bind_tcp_group`]), as a listener of kind `kind` (with TLS if
/// `tls` is given), and returns their local addresses (port 0 resolved),
/// logged as "NAME listening on tcp ADDR".
pub fn listen<S: Service>(
    reactors: &mut [Reactor<S>],
    name: &str,
    kind: S::Listener,
    addrs: &[SocketAddr],
    tls: Option<&TlsAcceptor>,
) -> Result<Vec<SocketAddr>> {
    addrs
        .iter()
        .map(|addr| {
            let listeners = bind_tcp_group(*addr, reactors.len())
                .with_context(|| format!("cannot listen on {addr}"))?;
            let mut local = *addr;
            for (reactor, listener) in reactors.iter_mut().zip(listeners) {
                local = reactor.add_listener_with(listener, kind, tls.cloned())?;
            }
            info!("{name} listening on tcp {local}");
            Ok(local)
        })
        .collect()
}

/// How many reactors `--threads` asks for: by default one per core this
/// process may run on (which `taskset` narrows).
pub fn thread_count(args: &ServerArgs) -> usize {
    args.threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Raises the descriptor limit, installs the signal handlers, runs the
/// reactors to the end (each on a thread of its own when there are
/// several) and turns their outcome into the exit status: 0 after a
/// graceful shutdown, 130 when a second signal cut it short. The exit
/// summary adds up every reactor's counts.
pub fn serve<S>(reactors: Vec<Reactor<S>>) -> Result<ExitCode>
where
    S: Service + Send + 'static,
    S::Listener: Send,
{
    match switchboard_net::raise_fd_limit() {
        Ok(limit) => debug!(limit, "open-files limit"),
        Err(e) => warn!(error = %e, "could not raise the open-files limit"),
    }
    let handles: Vec<ReactorHandle> = reactors.iter().map(Reactor::handle).collect();
    switchboard_net::shutdown_on_signals(handles.clone()).context("installing signal handlers")?;
    let threads = reactors.len();
    let (tx, rx) = mpsc::channel();
    for (i, reactor) in reactors.into_iter().enumerate() {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(format!("reactor-{i}"))
            .spawn(move || {
                let outcome = panic::catch_unwind(AssertUnwindSafe(|| reactor.run()));
                let _ = tx.send(match outcome {
                    Ok(outcome) => outcome.context("event loop failed"),
                    Err(_) => Err(anyhow!("reactor thread {i} panicked")),
                });
            })
            .context("starting a reactor thread")?;
    }
    drop(tx);
    let (mut total, mut forced, mut failure) = (Stats::default(), false, None);
    for outcome in rx {
        match outcome {
            Ok(outcome) => {
                total += &outcome.stats;
                forced |= outcome.forced;
            }
            Err(e) => {
                // One reactor down takes the server down, cleanly.
                error!("{e:#}; shutting down");
                handles.iter().for_each(ReactorHandle::shutdown);
                failure.get_or_insert(e);
            }
        }
    }
    info!(threads, stats = %total, "server stopped");
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(if forced {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// A reload's first step: the command line and its `--config FILE` parsed
/// again, and this command's arguments picked out by `pick`. `None` (and
/// the reason logged) if they no longer parse: the settings stay.
pub fn reload<A>(pick: impl FnOnce(Command) -> Option<A>) -> Option<(Option<PathBuf>, A)> {
    let argv: Vec<_> = std::env::args_os().collect();
    match crate::cli::parse_from(&argv) {
        Ok(cli) => {
            let file = match &cli.command {
                Command::Chat(a) => a.server.config.clone(),
                Command::Echo(a) => a.server.config.clone(),
                _ => None,
            };
            pick(cli.command).map(|args| (file, args))
        }
        Err(e) => {
            reload_failed(&anyhow!("{}", e.to_string().trim_end()));
            None
        }
    }
}

/// What a reload does on each of the reactors (`handles`) of one server:
/// the first reads and checks the settings once (`load`; `None`, with the
/// reason logged, keeps them all as they are) and hands the very same
/// settings to the others; each applies them to its own service and
/// reactor (`apply`). One read, so that a file rewritten meanwhile, or a
/// certificate refused, can never leave the threads with different
/// settings. (A reload request reaches every reactor; one that finds
/// nothing handed to it yet waits for the first's.)
pub fn reload_hooks<S, T>(
    handles: &[ReactorHandle],
    mut load: impl FnMut() -> Option<T> + Send + 'static,
    apply: impl Fn(&mut S, &mut Config, Instant, T) + Clone + Send + 'static,
) -> Vec<ReloadHook<S>>
where
    S: 'static,
    T: Clone + Send + 'static,
{
    let handed: Arc<Vec<Mutex<Option<T>>>> =
        Arc::new(handles.iter().map(|_| Mutex::new(None)).collect());
    let mut hooks: Vec<ReloadHook<S>> = Vec::new();
    let (others, first_apply, slots) = (handles[1..].to_vec(), apply.clone(), handed.clone());
    hooks.push(Box::new(move |service, net, now| {
        let Some(settings) = load() else {
            return;
        };
        for (slot, handle) in slots[1..].iter().zip(&others) {
            *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(settings.clone());
            handle.reload();
        }
        first_apply(service, net, now, settings);
    }));
    for i in 1..handles.len() {
        let (apply, slots) = (apply.clone(), handed.clone());
        hooks.push(Box::new(move |service, net, now| {
            let settings = slots[i]
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(settings) = settings {
                apply(service, net, now, settings);
            }
        }));
    }
    hooks
}

/// A reactor's reload hook (see [`Reactor::on_reload`]).
pub type ReloadHook<S> = Box<dyn FnMut(&mut S, &mut Config, Instant) + Send>;

/// Says that a reload took effect, and from where.
pub fn reloaded(file: &Option<PathBuf>) {
    match file {
        Some(file) => {
            info!(file = %file.display(), "reloaded: settings applied, every connection kept")
        }
        None => info!("reloaded: no --config file, so the command line's settings stay"),
    }
}

/// Says why a reload was refused: the settings in force stay.
pub fn reload_failed(e: &anyhow::Error) {
    warn!("reload failed, settings unchanged: {e:#}");
}

/// Warns about settings a reload cannot change (the listening sockets, the
/// poller, names clients already know), each given with whether it changed.
pub fn warn_fixed(old: &ServerArgs, new: &ServerArgs, fixed: &[(&str, bool)]) {
    let poller = [("--poller", old.poller != new.poller)];
    for (flag, _) in fixed.iter().chain(&poller).filter(|(_, changed)| *changed) {
        warn!("reload: {flag} changed, which takes a restart; the old value stays");
    }
}
