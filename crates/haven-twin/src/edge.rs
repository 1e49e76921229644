//! The edge process: the Route 53 twin. One public endpoint in front of every region's ALB
//! twin, health-checking each at the spec's interval and failure threshold, routing by failover
//! (primary while healthy) or to every healthy region (active-active).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use haven_control::api::{EdgeStatus, EdgeTarget};
use haven_control::control::{self, Call, Endpoint, Reply};
use haven_control::paths::Paths;
use haven_control::ports::Ports;
use haven_process::ProcessIdentity;
use haven_proxy::{
    ForwardAction, Listener, ProxyConfig, Routing, TargetGroup, TargetGroupConfig, TargetState,
};
use haven_spec::model::{Role, RoutingMode};
use http::Method;
use tokio::sync::watch;

use crate::Error;

pub struct EdgeArgs {
    pub spec: PathBuf,
}

struct Edge {
    url: String,
    mode: RoutingMode,
    group: Arc<TargetGroup>,
    /// Region name → ALB address, in priority order.
    regions: Vec<(String, SocketAddr)>,
}

pub async fn run(args: EdgeArgs) -> Result<(), Error> {
    let loaded = haven_spec::load(&args.spec).map_err(|e| Error::Other(e.to_string()))?;
    let twin = loaded.spec.twin();
    let paths = Paths::new(&twin.state_dir);
    let ports = Ports::read(&paths)?
        .ok_or_else(|| Error::Other("no ports.json: start the twin with `haven up`".into()))?;
    let token: Arc<str> = haven_control::paths::token(&paths)?.into();

    let interval: Duration = twin.edge.health_check_interval.into();
    let mut cfg = TargetGroupConfig::new("edge");
    cfg.health_check.path = twin.edge.health_check_path.clone();
    cfg.health_check.interval = interval;
    cfg.health_check.timeout = (interval / 2).min(Duration::from_secs(4));
    // Route 53 uses one failure threshold for both directions.
    cfg.health_check.healthy_threshold = twin.edge.failure_threshold;
    cfg.health_check.unhealthy_threshold = twin.edge.failure_threshold;
    cfg.routing = match twin.edge.mode {
        RoutingMode::Failover => Routing::Failover,
        RoutingMode::ActiveActive => Routing::All,
    };
    // Route 53 health checkers keep no connection pool; the edge re-uses connections only
    // briefly, shorter than the ALB twin's idle timeout.
    cfg.deregistration_delay = Duration::ZERO;
    let group = TargetGroup::new(cfg)?;
    let mut regions = Vec::new();
    let mut secondary_priority = 1;
    for r in &twin.regions {
        let Some(svc) = r.services.iter().find(|s| s.environment == "production") else {
            continue;
        };
        let Some(addr) = ports.alb(&r.name, &svc.name) else {
            continue;
        };
        let priority = if r.role == Role::Primary {
            0
        } else {
            secondary_priority += 1;
            secondary_priority - 1
        };
        group.register_with_priority(r.name.clone(), addr, priority);
        regions.push((r.name.clone(), addr));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    group.spawn_health_checks(stop_rx.clone());
    let listener = Listener::new("edge", ForwardAction::single(group.clone()));
    let addr = ports.edge_addr();
    let tcp = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let edge = Arc::new(Edge {
        url: format!("http://{addr}"),
        mode: twin.edge.mode,
        group,
        regions,
    });
    let (proxy_stop_tx, proxy_stop_rx) = watch::channel(false);
    let server = tokio::spawn(haven_proxy::serve(
        tcp,
        listener,
        ProxyConfig {
            // As the regions' ALB twins: one proxy worker thread per CPU.
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            ..ProxyConfig::default()
        },
        proxy_stop_rx,
    ));

    let control_addr = SocketAddr::new(ports.bind, 0);
    let control = tokio::net::TcpListener::bind(control_addr)
        .await
        .map_err(|source| Error::Bind {
            addr: control_addr,
            source,
        })?;
    let local = control.local_addr().map_err(|source| Error::Bind {
        addr: control_addr,
        source,
    })?;
    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    let handler = {
        let edge = edge.clone();
        move |call: Call| {
            let edge = edge.clone();
            let shutdown_tx = shutdown_tx.clone();
            async move {
                match (&call.method, call.path.as_str()) {
                    (&Method::GET, "/status") => Reply::ok(status(&edge)),
                    (&Method::POST, "/shutdown") => {
                        shutdown_tx.send_replace(true);
                        Reply::ok(serde_json::json!({ "message": "shutting down" }))
                    }
                    _ => Reply::not_found(format!("no route {} {}", call.method, call.path)),
                }
            }
        }
    };
    tokio::spawn(control::serve(control, Some(token), handler, stop_rx));
    let me = ProcessIdentity::of(std::process::id())?;
    let endpoint_path = paths.edge_endpoint();
    Endpoint {
        addr: local,
        pid: me.pid,
        start_time: me.start_time,
    }
    .write(&endpoint_path)?;

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Other(format!("cannot handle SIGTERM: {e}")))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = shutdown_rx.wait_for(|s| *s) => {}
    }
    proxy_stop_tx.send_replace(true);
    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(Ok(Err(e))) => tracing::warn!("edge proxy stopped with an error: {e}"),
        Ok(Err(e)) => tracing::warn!("edge proxy task failed: {e}"),
        Err(_) => tracing::warn!("edge proxy did not finish in-flight requests in 10 s"),
        Ok(Ok(Ok(()))) => {}
    }
    stop_tx.send_replace(true);
    if let Err(e) = std::fs::remove_file(&endpoint_path) {
        tracing::debug!("endpoint file already gone: {e}");
    }
    Ok(())
}

fn status(edge: &Edge) -> EdgeStatus {
    let targets = edge.group.targets();
    let state_of = |name: &str| targets.iter().find(|t| t.id == name);
    // The regions requests go to, as the router picks them (the same selection): in failover
    // the healthy ones of the best priority, one region. A group that only fails open to
    // unhealthy regions serves nothing: its requests fail there.
    let routed = edge.group.routing();
    let serving: Vec<String> = if routed.fail_open {
        Vec::new()
    } else {
        routed.targets.into_iter().map(|t| t.id).collect()
    };
    EdgeStatus {
        url: edge.url.clone(),
        pid: Some(std::process::id()),
        mode: edge.mode,
        serving_regions: serving,
        regions: edge
            .regions
            .iter()
            .map(|(name, addr)| {
                let t = state_of(name);
                EdgeTarget {
                    region: name.clone(),
                    alb_url: format!("http://{addr}"),
                    health: t.map_or(TargetState::Unused, |t| t.state),
                    priority: t.map_or(0, |t| t.priority),
                }
            })
            .collect(),
    }
}
