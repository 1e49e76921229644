//! Runs the ALB twin in front of fixed targets, for manual tests and benchmarks:
//! `cargo run --release -p haven-proxy --example alb -- 127.0.0.1:8080 127.0.0.1:9001 [more targets]`

use std::net::SocketAddr;
use std::time::Duration;

use haven_proxy::{
    ForwardAction, HealthCheck, Listener, ProxyConfig, TargetGroup, TargetGroupConfig,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args.next().ok_or("usage: alb LISTEN TARGET...")?.parse()?;
    let mut cfg = TargetGroupConfig::new("bench");
    cfg.health_check = HealthCheck {
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(2),
        ..HealthCheck::default()
    };
    let group = TargetGroup::new(cfg)?;
    for (i, target) in args.enumerate() {
        group.register(format!("t{i}"), target.parse()?);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let checks = group.spawn_health_checks(stopped.clone());
    let listener = Listener::new("app/bench", ForwardAction::single(group));
    let tcp = tokio::net::TcpListener::bind(listen).await?;
    // WORKERS=n serves on n threads of their own (default: one per CPU).
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let cfg = ProxyConfig {
        workers,
        ..ProxyConfig::default()
    };
    let server = tokio::spawn(haven_proxy::serve(tcp, listener, cfg, stopped));
    tokio::signal::ctrl_c().await?;
    stop.send_replace(true);
    server.await??;
    checks.await?;
    Ok(())
}
