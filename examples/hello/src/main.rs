//! hello: the example HTTP service that haven builds, deploys and runs as its ECS tasks.

mod conn;
mod http;
mod metrics;
mod routes;
mod signal;

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

// Tests make a new version by editing this line with sed: keep it on one line.
const VERSION: &str = "1.0.0";

/// How long in-flight requests get after SIGTERM; ECS's default stop timeout is 30 s too.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What the task knows about itself, from the environment haven gives it.
pub struct Config {
    pub service: String,
    pub version: String,
    pub region: String,
    pub az: String,
    pub task: String,
    pub fail_health: bool,
    /// While this path exists, `/` and `/health` answer 500: a release that passed its bake
    /// and broke afterwards, for drills of the alarms.
    pub break_file: Option<std::path::PathBuf>,
}

impl Config {
    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let or_dash = |name: &str| var(name).unwrap_or_else(|| "-".into());
        Config {
            service: or_dash("HAVEN_SERVICE"),
            version: var("HELLO_VERSION").unwrap_or_else(|| VERSION.into()),
            region: or_dash("HAVEN_REGION"),
            az: or_dash("HAVEN_AZ"),
            task: or_dash("HAVEN_TASK_ID"),
            fail_health: var("HELLO_FAIL_HEALTH").as_deref() == Some("1"),
            break_file: var("HELLO_BREAK_FILE").map(Into::into),
        }
    }

    pub fn broken(&self) -> bool {
        self.break_file
            .as_deref()
            .is_some_and(std::path::Path::exists)
    }
}

/// State shared by the accept loop and the connection threads.
pub struct Server {
    pub config: Config,
    pub metrics: metrics::Metrics,
    pub conns: conn::Registry,
}

/// Writes one line to stdout and flushes it, so logs show up at once when piped. Errors are
/// ignored: a closed stdout must not take the service down.
pub fn log(line: std::fmt::Arguments) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn main() -> ExitCode {
    if std::env::var("HELLO_CRASH_ON_START").as_deref() == Ok("1") {
        eprintln!("hello: crashing on start as HELLO_CRASH_ON_START=1 asks");
        return ExitCode::FAILURE;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hello: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let port = match std::env::var("PORT") {
        Ok(p) => p
            .parse::<u16>()
            .map_err(|_| format!("PORT={p:?} is not a port number"))?,
        Err(_) => 8080,
    };
    let host = std::env::var("HELLO_BIND").unwrap_or_else(|_| "127.0.0.1".into());
    // Installed before binding, so a SIGTERM during startup still ends in a clean exit.
    signal::install().map_err(|e| format!("cannot handle signals: {e}"))?;
    let listener = TcpListener::bind((host.as_str(), port))
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read listen address: {e}"))?;
    // The listener stays open until run() returns, as the signal handler requires.
    signal::watch_listener(listener.as_raw_fd());

    let config = Config::from_env();
    log(format_args!("hello {} listening on {addr}", config.version));
    let server = Arc::new(Server {
        config,
        metrics: metrics::Metrics::new(),
        conns: conn::Registry::default(),
    });

    while !signal::stopping() {
        match listener.accept() {
            Ok((stream, _)) => spawn_connection(&server, stream),
            // The signal handler shut the listener down.
            Err(_) if signal::stopping() => break,
            Err(e) => {
                log(format_args!("hello: accept failed: {e}"));
                // Back off rather than spin when out of file descriptors.
                thread::sleep(Duration::from_millis(50));
            }
        }
    }

    log(format_args!(
        "hello: stopping, draining {} connection(s)",
        server.conns.len()
    ));
    if server.conns.drain(DRAIN_TIMEOUT) {
        log(format_args!("hello: stopped"));
    } else {
        log(format_args!(
            "hello: stopped with requests still running after {DRAIN_TIMEOUT:?}"
        ));
    }
    drop(listener);
    Ok(())
}

fn spawn_connection(server: &Arc<Server>, stream: std::net::TcpStream) {
    let id = match server.conns.add(&stream) {
        Ok(id) => id,
        Err(e) => return log(format_args!("hello: dropping connection: {e}")),
    };
    let server_for_thread = Arc::clone(server);
    let spawned = thread::Builder::new()
        .name(format!("conn-{id}"))
        .spawn(move || conn::serve(&server_for_thread, id, stream));
    if let Err(e) = spawned {
        // The closure, and with it the stream, is gone; forget the registry's handle too.
        log(format_args!("hello: dropping connection: {e}"));
        server.conns.remove(id);
    }
}
