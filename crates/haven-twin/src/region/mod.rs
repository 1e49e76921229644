//! A region process: its ALB twins and ECS service twins, its state database and its control
//! API. Started by the supervisor as `haven internal region`; killed with its process group in
//! `haven chaos kill-region`; on restart it cleans up what the dead process left and starts
//! again from the desired state it recorded.

mod autoscale;
pub(crate) mod monitor;
mod placement;
mod release;
mod service;
mod vpc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use haven_process::ProcessIdentity;
use haven_proxy::{ForwardAction, Listener, Matcher, ProxyConfig, TargetGroup, TargetGroupConfig};
use haven_spec::model::Algorithm;
use haven_state::Store;
use http::{Method, StatusCode};
use tokio::sync::watch;

use haven_fs::WithPath;

use haven_control::api::{self, ChaosResult, KillAz, KillTask, Latency, RegionState, ServiceState};
use haven_control::control::{self, Call, Endpoint, Reply};
use haven_control::paths::Paths;
use haven_control::ports::Ports;
use haven_spec::model::Role;

use crate::{Error, lock};
use service::{Images, PreparedImage, Secrets, ServiceEnv, ServiceTwin};

/// Images from the region's registry, unpacked once per digest; tasks share the rootfs and
/// start the image's entrypoint with its environment.
struct RegistryImages {
    registry: haven_registry::Registry,
    cache: PathBuf,
}

impl Images for RegistryImages {
    fn prepare(&self, image: &str) -> Result<PreparedImage, String> {
        let root = self
            .registry
            .unpack(image, &self.cache)
            .map_err(|e| e.to_string())?;
        let config = self.registry.config(image).map_err(|e| e.to_string())?;
        let digest = self
            .registry
            .resolve(image)
            .map_err(|e| e.to_string())?
            .to_string();
        Ok(PreparedImage {
            root,
            entrypoint: config.entrypoint,
            env: config.env,
            user: config.user.unwrap_or_default(),
            working_dir: config.working_dir,
            digest,
        })
    }
}

/// The SSM Parameter Store twin in the state directory, or why it cannot be opened (then every
/// lookup fails with that reason, so the tasks that need a secret say why they cannot start).
struct StoreSecrets(Result<haven_secrets::SecretStore, String>);

impl Secrets for StoreSecrets {
    fn get(&self, parameter: &str) -> Result<Option<String>, String> {
        match &self.0 {
            Ok(store) => store.get(parameter).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        }
    }
}

pub struct RegionArgs {
    pub spec: PathBuf,
    pub region: String,
}

/// `count` random bytes as hex, for ids (tasks, task sets, releases).
pub fn random_hex(count: usize) -> String {
    haven_fs::random::id_hex(count)
}

struct Region {
    name: String,
    role: Role,
    services: Vec<(Arc<ServiceTwin>, SocketAddr, SocketAddr)>,
    store: Arc<Mutex<Store>>,
    monitor: Arc<monitor::Monitor>,
    metrics_url: String,
    /// Each service's ALB access log, in `services`' order: on or off as the spec says, and
    /// switched by `haven reload`.
    access_logs: Vec<haven_proxy::AccessLog>,
    /// The latency `haven chaos net` injected between the ALBs and the tasks, if any. Kept in
    /// memory only, as the target groups keep it: a restarted region starts without.
    latency: Mutex<Option<Latency>>,
    /// The VPC twin, with `local.network = "vpc"`.
    vpc: Option<Arc<vpc::RegionVpc>>,
    /// AZs `haven chaos blackhole` cut, until `haven chaos heal` (memory only, as latency).
    blackholed: Mutex<Vec<String>>,
}

/// Runs a region until SIGTERM, SIGINT or `POST /shutdown`, then drains and stops its tasks.
pub async fn run(args: RegionArgs) -> Result<(), Error> {
    let loaded = haven_spec::load(&args.spec).map_err(|e| Error::Other(e.to_string()))?;
    let twin = loaded.spec.twin();
    let region = twin
        .regions
        .iter()
        .find(|r| r.name == args.region)
        .ok_or_else(|| Error::Other(format!("the spec has no region `{}`", args.region)))?
        .clone();
    let paths = Paths::new(&twin.state_dir);
    let ports = Ports::read(&paths)?
        .ok_or_else(|| Error::Other("no ports.json: start the twin with `haven up`".into()))?;
    let token: Arc<str> = haven_control::paths::token(&paths)?.into();
    haven_process::set_child_subreaper()?;

    let dir = paths.region_dir(&region.name);
    std::fs::create_dir_all(&dir).with_path(&dir)?;
    let store = Store::open(&paths.region_db(&region.name))?;
    let containers = containers(&paths, &region.name)?;
    // Logged by the cleanup itself; the region starts all the same.
    let _problems = cleanup_leftovers(&store, &containers).await;
    // The VPC twin: namespaces from the network model, before any task or ALB needs them.
    let region_vpc = match loaded.spec.local.network {
        haven_spec::model::Network::Vpc => {
            let model_region = loaded
                .spec
                .regions
                .iter()
                .find(|r| r.name == region.name)
                .ok_or_else(|| Error::Other(format!("the spec has no region `{}`", region.name)))?;
            Some(Arc::new(vpc::RegionVpc::create(
                &loaded.spec,
                model_region,
                &paths,
            )?))
        }
        haven_spec::model::Network::Auto | haven_spec::model::Network::Loopback => None,
    };
    // How tasks run, as `haven up` decided; a region started without a decision runs processes.
    let runtime = haven_runtime::recorded(&paths)
        .map_err(|e| Error::Other(e.to_string()))?
        .map_or(api::Runtime::Process, |r| r.mode);
    release::recover(&store);
    // Started once the previous run's tasks are gone, so that it finishes shipping their logs.
    let log_agent = start_log_agent(&loaded.spec, &paths, &region.name)?;
    let store = Arc::new(Mutex::new(store));
    let initial_image = std::fs::read_to_string(paths.initial_image())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();

    let registry = haven_registry::Registry::open(
        &paths.registry(&region.name),
        haven_registry::TagPolicy {
            immutable: loaded.spec.registry.immutable_tags,
        },
    )
    .map_err(|e| Error::Other(format!("cannot open the registry of {}: {e}", region.name)))?;
    let secrets: Arc<dyn Secrets> = Arc::new(StoreSecrets(
        haven_secrets::SecretStore::open(paths.secrets()).map_err(|e| e.to_string()),
    ));
    let images: Arc<dyn Images> = Arc::new(RegistryImages {
        registry: registry.clone(),
        cache: paths.image_cache(&region.name),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let registry_api = start_registry_api(
        &loaded.spec,
        &paths,
        &ports,
        &region.name,
        &registry,
        stop_rx.clone(),
    )
    .await?;
    let mut services = Vec::new();
    let mut servers = Vec::new();
    let mut access_writers = Vec::new();
    let mut access_logs = Vec::new();
    for s in &region.services {
        let addr = ports
            .alb(&region.name, &s.name)
            .ok_or_else(|| Error::Other(format!("no port for {}/{}", region.name, s.name)))?;
        let mut groups = Vec::new();
        for n in 1..=2 {
            let mut cfg = TargetGroupConfig::new(format!("{}-tg-{n}", s.name));
            cfg.health_check.path = s.health_check.path.clone();
            cfg.health_check.interval = s.health_check.interval.into();
            cfg.health_check.timeout = s.health_check.timeout.into();
            cfg.health_check.healthy_threshold = s.health_check.healthy_threshold;
            cfg.health_check.unhealthy_threshold = s.health_check.unhealthy_threshold;
            cfg.health_check.matcher = Matcher::parse(&s.health_check.success_codes)?;
            cfg.deregistration_delay = s.deregistration_delay.into();
            cfg.algorithm = match s.algorithm {
                Algorithm::RoundRobin => haven_proxy::Algorithm::RoundRobin,
                Algorithm::LeastOutstandingRequests => {
                    haven_proxy::Algorithm::LeastOutstandingRequests
                }
            };
            let group = TargetGroup::new(cfg)?;
            // In the VPC the ALB reaches its targets from its nodes in the public subnets.
            if let Some(v) = &region_vpc {
                group.set_dialer(v.dialer.clone());
            }
            group.spawn_health_checks(stop_rx.clone());
            groups.push(group);
        }
        let groups: [Arc<TargetGroup>; 2] = [groups[0].clone(), groups[1].clone()];
        let listener = Listener::new(
            format!("app/{}-alb", s.name),
            ForwardAction::single(groups[0].clone()),
        );
        let test_listener = Listener::new(
            format!("app/{}-alb-test", s.name),
            ForwardAction::single(groups[1].clone()),
        );
        // Both listeners' requests go to the ALB's access log, written off the request path.
        // The log exists even when off, so that `haven reload` can switch it on.
        let sink = haven_proxy::AccessLog::new(haven_logs::ACCESS_LOG_CAPACITY);
        sink.set_enabled(s.access_logs);
        let group = haven_logs::Group::stamped(
            &haven_logs::names::alb_group(&twin.project, &s.name),
            &paths.region_logs(&region.name),
        );
        access_writers.push(tokio::spawn(haven_logs::write_access_log(
            group,
            crate::access_log::AlbLogSource::new(sink.clone()),
            stop_rx.clone(),
        )));
        access_logs.push(sink.clone());
        let access_log = Some(sink);
        let config = ProxyConfig {
            idle_timeout: s.idle_timeout.into(),
            // Request smuggling gets a 400 rather than AWS's default of forwarding and closing:
            // the twin is where users find such clients, so it refuses them outright.
            desync_mitigation_mode: haven_proxy::DesyncMitigationMode::Strictest,
            // One proxy worker thread per CPU, like nginx's `worker_processes auto`: measured
            // fastest by scripts/bench (the region's other threads are mostly idle).
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            access_log,
            ..ProxyConfig::default()
        };
        let test_addr = ports
            .test(&region.name, &s.name)
            .ok_or_else(|| Error::Other(format!("no test port for {}/{}", region.name, s.name)))?;
        // The production listener takes connections once a task is healthy: a restarted
        // region refuses them until it can serve, so the edge sends requests elsewhere
        // meanwhile. The test listener answers from the start (its tasks come with a release).
        let reserved =
            haven_proxy::Reserved::bind(addr).map_err(|source| Error::Bind { addr, source })?;
        let (alb_stop_tx, alb_stop_rx) = watch::channel(false);
        servers.push((
            alb_stop_tx,
            tokio::spawn(haven_proxy::serve_when_healthy(
                reserved,
                listener.clone(),
                config.clone(),
                alb_stop_rx,
            )),
        ));
        let tcp = bind(test_addr).await?;
        let (test_stop_tx, test_stop_rx) = watch::channel(false);
        servers.push((
            test_stop_tx,
            tokio::spawn(haven_proxy::serve(
                tcp,
                test_listener.clone(),
                config.clone(),
                test_stop_rx,
            )),
        ));
        let env = ServiceEnv {
            region: region.name.clone(),
            azs: region.azs.clone(),
            store: store.clone(),
            images: images.clone(),
            logs: paths.task_logs(&region.name),
            task_logs: log_agent.handle(),
            log_names: crate::logs::ecs_service(&loaded.spec, s),
            bind: ports.bind,
            secrets: secrets.clone(),
            containers: (runtime == api::Runtime::Container).then(|| containers.clone()),
            vpc: region_vpc.clone(),
        };
        let svc = ServiceTwin::start(
            s.clone(),
            env,
            groups,
            (listener, test_listener),
            &initial_image,
            stop_rx.clone(),
        )?;
        services.push((svc, addr, test_addr));
    }
    let monitor = start_monitor(&loaded.spec, &paths, &region, &services, stop_rx.clone()).await?;
    let metrics_addr = SocketAddr::new(ports.bind, 0);
    let metrics_listener = bind(metrics_addr).await?;
    let metrics_local = metrics_listener
        .local_addr()
        .map_err(|source| Error::Bind {
            addr: metrics_addr,
            source,
        })?;
    let metrics_handler = {
        let monitor = monitor.clone();
        move |call: Call| {
            let monitor = monitor.clone();
            async move {
                if call.method != Method::GET || call.path != "/metrics" {
                    return Reply::not_found("only GET /metrics is served here");
                }
                let store = lock(&monitor.store);
                match store.prometheus_text(haven_time::now()) {
                    Ok(text) => Reply::text(text),
                    Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            }
        }
    };
    // Prometheus scrapes without a token: the endpoint only reads, and it is on loopback.
    tokio::spawn(control::serve(
        metrics_listener,
        None,
        metrics_handler,
        stop_rx.clone(),
    ));
    let region = Arc::new(Region {
        name: region.name.clone(),
        role: region.role,
        services,
        store,
        monitor,
        metrics_url: format!("http://{metrics_local}/metrics"),
        access_logs,
        latency: Mutex::new(None),
        vpc: region_vpc.clone(),
        blackholed: Mutex::new(Vec::new()),
    });

    // The control API, announced once everything above is up.
    let control_addr = SocketAddr::new(ports.bind, 0);
    let control = bind(control_addr).await?;
    let local = control.local_addr().map_err(|e| Error::Bind {
        addr: control_addr,
        source: e,
    })?;
    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    let handler = {
        let region = region.clone();
        let shutdown_tx = shutdown_tx.clone();
        move |call: Call| {
            let region = region.clone();
            let shutdown_tx = shutdown_tx.clone();
            async move { handle(&region, &shutdown_tx, call) }
        }
    };
    tokio::spawn(control::serve(
        control,
        Some(token),
        handler,
        stop_rx.clone(),
    ));
    let me = ProcessIdentity::of(std::process::id())?;
    let endpoint_path = paths.region_endpoint(&region.name);
    Endpoint {
        addr: local,
        pid: me.pid,
        start_time: me.start_time,
    }
    .write(&endpoint_path)?;
    tracing::info!(region = %region.name, %local, "region is up");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Error::Other(format!("cannot handle SIGTERM: {e}")))?;
    let mut orphans = haven_process::OrphanWatch::new();
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = shutdown_rx.wait_for(|s| *s) => break,
            // Grandchildren of tasks re-parent to the region (the subreaper): reap them.
            () = orphans.exited() => crate::supervisor::reap_orphans(),
        }
    }
    tracing::info!(region = %region.name, "draining");
    // Drain and stop every service's tasks, then close the ALBs, then everything else.
    let drains: Vec<_> = region
        .services
        .iter()
        .map(|(s, _, _)| {
            let s = s.clone();
            tokio::spawn(async move { s.drain_and_stop().await })
        })
        .collect();
    for d in drains {
        if let Err(e) = d.await {
            tracing::warn!("a service's drain failed: {e}");
        }
    }
    for (stop, server) in servers {
        stop.send_replace(true);
        if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .map(|r| r.unwrap_or(Ok(())))
        {
            tracing::warn!("ALB twin stopped with an error: {e}");
        }
    }
    stop_tx.send_replace(true);
    if let Some(api) = registry_api {
        if let Err(e) = api.await {
            tracing::warn!("the registry API failed: {e}");
        }
    }
    for w in access_writers {
        if let Err(e) = w.await {
            tracing::warn!("an access-log writer failed: {e}");
        }
    }
    // Every task has stopped: its VPC goes.
    if let Some(v) = &region_vpc {
        v.destroy();
    }
    // Every task has stopped: the region's cgroup goes too (its task cgroups went with them).
    if runtime == api::Runtime::Container {
        if let Err(e) = containers.remove_cgroup_parent() {
            tracing::warn!("cannot remove the region's cgroup: {e}");
        }
    }
    // Every line the tasks wrote is in its stream before the region exits.
    if let Err(e) = tokio::task::spawn_blocking(move || log_agent.stop()).await {
        tracing::warn!("the log agent failed: {e}");
    }
    if let Err(e) = std::fs::remove_file(&endpoint_path) {
        tracing::debug!("endpoint file already gone: {e}");
    }
    Ok(())
}

/// Starts the region's log agent: it ships tasks' output to their streams and applies the
/// spec's retention to the region's groups at start and every hour.
fn start_log_agent(
    spec: &haven_spec::Spec,
    paths: &Paths,
    region: &str,
) -> Result<haven_logs::Agent, Error> {
    let mut config = haven_logs::AgentConfig::new(
        &spec.project.name,
        paths.task_logs(region),
        paths.region_logs(region),
    );
    config.groups = crate::logs::groups(spec, paths, region);
    config.default_retention_days = Some(spec.monitoring.log_retention_days);
    haven_logs::Agent::start(config)
        .map_err(|e| Error::Other(format!("cannot start the log agent of {region}: {e}")))
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Ends every process a previous run of this region recorded and left running, and marks its
/// tasks stopped, so that the region starts from a clean slate without duplicate tasks.
/// ECR's push-time work on an image pushed through the registry API: scan on push, lifecycle
/// rules, and (from the primary) replication to the other regions, as ECR's replication
/// configuration copies every push.
struct OnPush {
    spec: haven_spec::Spec,
    paths: Paths,
    region: String,
}

impl haven_distribution::OnPush for OnPush {
    fn pushed(&self, repo: &str, tag: Option<&str>, digest: &haven_registry::Digest) {
        let (spec, paths, region) = (self.spec.clone(), self.paths.clone(), self.region.clone());
        let (repo, tag, digest) = (repo.to_owned(), tag.map(str::to_owned), digest.to_string());
        // Off the request: the push has been answered; scans and copies take their time.
        std::thread::spawn(move || {
            let name = tag.as_deref().unwrap_or(&digest);
            tracing::info!("{repo}:{name} pushed ({digest})");
            let registry = match haven_pipeline::image::open_registry(&spec, &paths, &region) {
                Ok(r) => r,
                Err(e) => return tracing::warn!("after the push of {name}: {e}"),
            };
            if spec.registry.scan_on_push {
                let scanned = haven_pipeline::image::scan_options(&spec, None)
                    .map_err(|e| e.to_string())
                    .and_then(|opts| registry.scan(&digest, &opts).map_err(|e| e.to_string()));
                match scanned {
                    Ok(report) => tracing::info!("scan of {name}: {}", report.summary()),
                    Err(e) => tracing::warn!("cannot scan {name} on push: {e}"),
                }
            }
            if !spec.registry.lifecycle.is_empty() {
                if let Err(e) =
                    haven_pipeline::image::apply_lifecycle(&spec, &paths, &registry, false)
                {
                    tracing::warn!("lifecycle rules after the push of {name}: {e}");
                }
            }
            if spec.registry.replicate && region == spec.primary().name {
                for r in spec.secondaries() {
                    if let Err(e) =
                        haven_pipeline::image::replicate(&spec, &paths, &digest, &r.name)
                    {
                        tracing::warn!("cannot replicate {name} to {}: {e}", r.name);
                    }
                }
            }
        });
    }
}

/// The region's ECR twin on its registry API port (OCI Distribution), with ECR's login: user
/// `AWS` and the state directory's registry token. None when ports.json names no port for it.
async fn start_registry_api(
    spec: &haven_spec::Spec,
    paths: &Paths,
    ports: &Ports,
    region: &str,
    registry: &haven_registry::Registry,
    stop: watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, Error> {
    let Some(addr) = ports.registry(region) else {
        return Ok(None);
    };
    // The registry API is a side door to the region's registry (builds and releases read the
    // registry directly): a port taken since ports.json chose it must not keep the region's
    // ALB and tasks from starting. `haven image login` then finds nothing listening there.
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {addr} for {region}'s registry API: {e}");
            return Ok(None);
        }
    };
    let token = haven_control::paths::registry_token(paths)?;
    let repository = spec.image_repository();
    let mut config = haven_distribution::ServerConfig::new(
        std::collections::BTreeMap::from([(repository, registry.clone())]),
        token,
        TWIN_ACCOUNT.to_owned(),
        region.to_owned(),
    );
    config.on_push = Some(Arc::new(OnPush {
        spec: spec.clone(),
        paths: paths.clone(),
        region: region.to_owned(),
    }));
    Ok(Some(tokio::spawn(haven_distribution::serve(
        listener, config, stop,
    ))))
}

/// The account id the twin's ECR answers with: AWS's documentation example account.
const TWIN_ACCOUNT: &str = "123456789012";

/// The network `local.network` gives.
pub fn network_mode(wanted: haven_spec::model::Network) -> api::NetworkMode {
    match wanted {
        haven_spec::model::Network::Vpc => api::NetworkMode::Vpc,
        haven_spec::model::Network::Auto | haven_spec::model::Network::Loopback => {
            api::NetworkMode::Loopback
        }
    }
}

/// Why that network, as `haven up` and `haven status` say it.
pub fn network_reason(wanted: haven_spec::model::Network) -> &'static str {
    match wanted {
        haven_spec::model::Network::Vpc => {
            "local.network = \"vpc\": each region's VPC as network namespaces, its security groups and network ACL enforced with nftables"
        }
        haven_spec::model::Network::Auto => {
            "local.network = \"auto\": the loopback twin; the VPC twin is opt-in (local.network = \"vpc\") until its latency injection and flow logs are built"
        }
        haven_spec::model::Network::Loopback => {
            "local.network = \"loopback\": every ALB and task on the host's loopback"
        }
    }
}

/// Removes what a dead region process left of its VPC twin.
pub(crate) fn vpc_cleanup(paths: &Paths, region: &str) -> Vec<String> {
    vpc::cleanup(paths, region)
}

/// Where the region's container tasks run: runc's state and the bundles in the region's
/// directory, the cgroups under `haven/<instance>/<region>`.
pub(crate) fn containers(paths: &Paths, region: &str) -> Result<haven_container::Runtime, Error> {
    let instance = haven_control::paths::instance_id(paths)?;
    // Absolute: mounts are found by their absolute path in /proc/self/mountinfo, and runc's
    // state must not depend on the directory a command runs in.
    let absolute = |p: PathBuf| std::path::absolute(&p).with_path(&p);
    Ok(haven_container::Runtime::new(
        absolute(paths.runc_root(region))?,
        absolute(paths.bundles(region))?,
        format!("haven/{instance}/{region}"),
    ))
}

/// Ends what a dead region process left: its tasks' process groups (by their recorded
/// identity), and its containers, bundles, mounts and cgroups. Returns what it could not end.
pub(crate) async fn cleanup_leftovers(
    store: &Store,
    containers: &haven_container::Runtime,
) -> Vec<String> {
    let mut problems = Vec::new();
    // Only where containers ever ran: without runc there is nothing to list.
    if containers.root.exists() || containers.bundles.exists() {
        match containers.cleanup().await {
            Ok(c) if c.is_empty() => {}
            Ok(c) => tracing::info!(
                "removed what a previous run left: {} container(s), {} mount(s), {} bundle(s), {} cgroup(s)",
                c.containers.len(),
                c.mounts.len(),
                c.bundles.len(),
                c.cgroups.len()
            ),
            Err(e) => {
                tracing::warn!("cannot remove the containers of a previous run: {e}");
                problems.push(format!(
                    "cannot remove the containers of a previous run: {e}"
                ));
            }
        }
        // The region's own cgroup and its empty ancestors: created again by the next task.
        if let Err(e) = containers.remove_cgroup_parent() {
            problems.push(format!("cannot remove the region's cgroup: {e}"));
        }
    }
    cleanup_tasks(store).await;
    problems
}

async fn cleanup_tasks(store: &Store) {
    let leftovers = match store.live_tasks() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("cannot read leftover tasks: {e}");
            return;
        }
    };
    for t in leftovers {
        if let (Some(pid), Some(start_time), Some(pgid)) = (t.pid, t.start_time, t.pgid) {
            let id = ProcessIdentity {
                pid,
                start_time,
                pgid,
            };
            match haven_process::terminate(&id, Duration::from_secs(2)).await {
                Ok(exit) => tracing::info!("task {} of a previous run: {exit:?}", t.id),
                Err(e) => tracing::warn!("cannot end task {} of a previous run: {e}", t.id),
            }
        }
        if let Err(e) = store.stop_task(&t.id, &haven_state::StopReason::RegionRestarted) {
            tracing::warn!("cannot record task {}'s stop: {e}", t.id);
        }
    }
}

fn handle(region: &Region, shutdown: &watch::Sender<bool>, call: Call) -> Reply {
    match (&call.method, call.path.as_str()) {
        (&Method::GET, "/status") => Reply::ok(status(region)),
        (&Method::POST, "/chaos/kill-task") => {
            let req: KillTask = match call.json() {
                Ok(r) => r,
                Err(e) => return e,
            };
            let mut killed = Vec::new();
            for (s, _, _) in &region.services {
                if req.service.as_ref().is_some_and(|n| *n != s.settings.name) {
                    continue;
                }
                let mut one_done = false;
                killed.extend(s.kill_tasks(|t| {
                    let pick = match (&req.task, &req.az) {
                        (Some(id), _) => t.id == *id || t.id.starts_with(id.as_str()),
                        (None, Some(az)) => t.az == *az && !one_done,
                        (None, None) => !one_done,
                    };
                    if pick && req.task.is_none() {
                        one_done = true;
                    }
                    pick
                }));
                if !killed.is_empty() && req.task.is_none() {
                    break;
                }
            }
            if killed.is_empty() {
                return Reply::not_found("no running task matches");
            }
            Reply::ok(ChaosResult {
                message: format!("killed {} task(s)", killed.len()),
                killed_tasks: killed,
            })
        }
        (&Method::POST, "/chaos/kill-az") => {
            let req: KillAz = match call.json() {
                Ok(r) => r,
                Err(e) => return e,
            };
            if !region
                .services
                .first()
                .is_some_and(|(s, _, _)| s.env.azs.contains(&req.az))
            {
                return Reply::not_found(format!("region {} has no AZ `{}`", region.name, req.az));
            }
            let impaired = {
                let store = lock(&region.store);
                if let Err(e) = store.set_az_impaired(&req.az, true) {
                    return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
                }
                store.impaired_azs().unwrap_or_default()
            };
            let mut killed = Vec::new();
            for (s, _, _) in &region.services {
                s.set_impaired(impaired.clone());
                killed.extend(s.kill_tasks(|t| t.az == req.az));
            }
            Reply::ok(ChaosResult {
                message: format!(
                    "{} is down until `haven chaos heal`; killed {} task(s)",
                    req.az,
                    killed.len()
                ),
                killed_tasks: killed,
            })
        }
        (&Method::POST, "/chaos/blackhole") => {
            let req: api::Blackhole = match call.json() {
                Ok(r) => r,
                Err(e) => return e,
            };
            let Some(vpc) = &region.vpc else {
                return Reply::error(
                    StatusCode::CONFLICT,
                    "blackholing an AZ needs the VPC twin (local.network = \"vpc\"); `haven chaos kill-az` loses an AZ on loopback",
                );
            };
            if !region
                .services
                .first()
                .is_some_and(|(s, _, _)| s.env.azs.contains(&req.az))
            {
                return Reply::not_found(format!("region {} has no AZ `{}`", region.name, req.az));
            }
            match vpc.blackhole(&req.az, true) {
                Ok(_) => {
                    let mut cut = lock(&region.blackholed);
                    if !cut.contains(&req.az) {
                        cut.push(req.az.clone());
                    }
                    Reply::ok(ChaosResult {
                        killed_tasks: Vec::new(),
                        message: format!(
                            "{}'s subnets drop everything until `haven chaos heal`",
                            req.az
                        ),
                    })
                }
                Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e),
            }
        }
        (&Method::POST, "/chaos/latency") => {
            let req: Latency = match call.json() {
                Ok(r) => r,
                Err(e) => return e,
            };
            inject_latency(region, req)
        }
        (&Method::POST, "/chaos/heal") => {
            let store = lock(&region.store);
            let healed = store.impaired_azs().unwrap_or_default();
            for az in &healed {
                if let Err(e) = store.set_az_impaired(az, false) {
                    return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
                }
            }
            drop(store);
            for (s, _, _) in &region.services {
                s.set_impaired(Vec::new());
                s.set_latency(None);
            }
            let mut message = format!("healed {healed:?}");
            let cut: Vec<String> = std::mem::take(&mut *lock(&region.blackholed));
            if let Some(vpc) = &region.vpc {
                for az in &cut {
                    if let Err(e) = vpc.blackhole(az, false) {
                        return Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e);
                    }
                }
            }
            if !cut.is_empty() {
                message.push_str(&format!("; reconnected the subnets of {cut:?}"));
            }
            if let Some(l) = lock(&region.latency).take() {
                message.push_str(&format!("; removed the latency of {}", describe(&l)));
            }
            Reply::ok(ChaosResult {
                killed_tasks: Vec::new(),
                message,
            })
        }
        (&Method::GET, "/alarms") => {
            let store = lock(&region.monitor.store);
            match store.describe_alarms() {
                Ok(a) => Reply::ok(a),
                Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (&Method::GET, path) if path.starts_with("/alarms/") && path.ends_with("/history") => {
            let name = &path["/alarms/".len()..path.len() - "/history".len()];
            let store = lock(&region.monitor.store);
            match store.alarm(name) {
                Ok(None) => Reply::not_found(format!("no alarm `{name}` in {}", region.name)),
                Ok(Some(_)) => match store.alarm_history(name, 100) {
                    Ok(h) => Reply::ok(h),
                    Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                },
                Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (&Method::GET, "/releases") => {
            let store = lock(&region.store);
            match store.releases(None, 100) {
                Ok(r) => Reply::ok(r),
                Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (&Method::GET, path) if path.starts_with("/releases/") => {
            let id = &path["/releases/".len()..];
            let store = lock(&region.store);
            match store.release(id) {
                Ok(Some(r)) => Reply::ok(r),
                Ok(None) => Reply::not_found(format!("no release `{id}` in {}", region.name)),
                Err(e) => Reply::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        (&Method::POST, path) if path.starts_with("/services/") && path.ends_with("/releases") => {
            let name = &path["/services/".len()..path.len() - "/releases".len()];
            let Some((svc, _, _)) = region
                .services
                .iter()
                .find(|(s, _, _)| s.settings.name == name)
            else {
                return Reply::not_found(format!("no service `{name}` in {}", region.name));
            };
            let req: api::StartRelease = match call.json() {
                Ok(r) => r,
                Err(e) => return e,
            };
            let strategy = req.strategy.unwrap_or(svc.settings.deployment.strategy);
            match release::start(
                svc,
                release::ReleaseRequest {
                    image: req.image,
                    strategy,
                },
            ) {
                Ok(release) => Reply::ok(api::ReleaseStarted { release }),
                Err(why) => Reply::error(StatusCode::CONFLICT, why),
            }
        }
        (&Method::PUT, "/access-logs") => {
            let req: api::AccessLogs = match call.json() {
                Ok(r) => r,
                Err(e) => return e,
            };
            for sink in &region.access_logs {
                sink.set_enabled(req.enabled);
            }
            tracing::info!(region = %region.name, enabled = req.enabled, "ALB access logs switched");
            Reply::ok(req)
        }
        (&Method::POST, "/shutdown") => {
            shutdown.send_replace(true);
            Reply::ok(serde_json::json!({ "message": "shutting down" }))
        }
        _ => Reply::not_found(format!("no route {} {}", call.method, call.path)),
    }
}

/// `POST /chaos/latency`: every target group of every service delays the requests it sends
/// to the tasks (of one AZ, when named) and their health checks, until healed.
fn inject_latency(region: &Region, req: Latency) -> Reply {
    if req.delay_ms == 0 {
        return Reply::bad_request("a latency needs a delay above 0 ms");
    }
    if let Some(az) = &req.az {
        if !region
            .services
            .first()
            .is_some_and(|(s, _, _)| s.env.azs.contains(az))
        {
            return Reply::not_found(format!("region {} has no AZ `{az}`", region.name));
        }
    }
    let injected = haven_proxy::InjectedLatency {
        delay: Duration::from_millis(req.delay_ms),
        jitter: Duration::from_millis(req.jitter_ms),
        zone: req.az.clone(),
    };
    for (s, _, _) in &region.services {
        s.set_latency(Some(injected.clone()));
    }
    let message = format!(
        "requests from the ALBs of {} to their tasks{} now take {} longer, health checks \
         too, until `haven chaos heal` (held in memory: a restart of the region ends it)",
        region.name,
        req.az
            .as_ref()
            .map(|az| format!(" in {az}"))
            .unwrap_or_default(),
        describe(&req)
    );
    tracing::info!(region = %region.name, "{message}");
    *lock(&region.latency) = Some(req);
    Reply::ok(ChaosResult {
        killed_tasks: Vec::new(),
        message,
    })
}

/// `200 ms ± 20 ms`, or `200 ms` without jitter.
fn describe(l: &Latency) -> String {
    match l.jitter_ms {
        0 => format!("{} ms", l.delay_ms),
        j => format!("{} ms ± {j} ms", l.delay_ms),
    }
}

fn status(region: &Region) -> api::RegionStatus {
    let services: Vec<api::ServiceStatus> = region
        .services
        .iter()
        .zip(&region.access_logs)
        .map(|((s, addr, test), log)| {
            let mut st = s.status();
            st.alb_url = format!("http://{addr}");
            st.test_url = format!("http://{test}");
            st.access_logs = log.is_enabled();
            st
        })
        .collect();
    let production: Vec<&api::ServiceStatus> = services
        .iter()
        .filter(|s| s.environment == "production")
        .collect();
    api::RegionStatus {
        name: region.name.clone(),
        role: region.role,
        state: RegionState::Running,
        pid: Some(std::process::id()),
        alb_url: production
            .first()
            .map(|s| s.alb_url.clone())
            .unwrap_or_default(),
        metrics_url: region.metrics_url.clone(),
        healthy: production
            .iter()
            .all(|s| s.state == ServiceState::Active && s.healthy >= s.desired && s.desired > 0),
        impaired_azs: region
            .store
            .lock()
            .map(|s| s.impaired_azs().unwrap_or_default())
            .unwrap_or_default(),
        services,
        latency: lock(&region.latency).clone(),
        blackholed_azs: lock(&region.blackholed).clone(),
    }
}

/// The alarms a region of the twin evaluates: the spec's, for each of its services, named and
/// compared as `haven synth` has them.
pub fn alarms(
    spec: &haven_spec::Spec,
    region: &haven_spec::settings::TwinRegion,
) -> Vec<haven_metrics::AlarmSpec> {
    region
        .services
        .iter()
        .flat_map(|s| {
            let names = monitor::Names::new(&spec.project.name, &s.name);
            monitor::alarm_specs(spec, &names, &s.environment)
        })
        .collect()
}

/// Opens the region's metric store, puts the spec's alarms for every service, opens the SNS
/// twin's outbox, and starts recording.
async fn start_monitor(
    spec: &haven_spec::Spec,
    paths: &Paths,
    twin_region: &haven_spec::settings::TwinRegion,
    services: &[(Arc<ServiceTwin>, SocketAddr, SocketAddr)],
    shutdown: watch::Receiver<bool>,
) -> Result<Arc<monitor::Monitor>, Error> {
    let region = twin_region.name.as_str();
    let db = paths.region_dir(region).join("metrics.db");
    let mut store = haven_metrics::MetricStore::open(&db)
        .map_err(|e| Error::Other(format!("cannot open {}: {e}", db.display())))?;
    let named: Vec<(Arc<ServiceTwin>, monitor::Names)> = services
        .iter()
        .map(|(s, _, _)| (s.clone(), monitor::Names::of(&spec.project.name, s)))
        .collect();
    let alarms = alarms(spec, twin_region);
    store
        .sync_alarms(&alarms, haven_time::now())
        .map_err(|e| Error::Other(format!("cannot put the spec's alarms: {e}")))?;
    let config = haven_notify::config_from_spec(spec, &paths.secrets());
    let outbox = paths.region_dir(region).join("outbox");
    let notifier = match haven_notify::Notifier::open(&outbox, config, shutdown.clone()).await {
        Ok(n) => Some(n),
        Err(e) => {
            tracing::warn!(
                "notifications are off: cannot open {}: {e}",
                outbox.display()
            );
            None
        }
    };
    let interval = services
        .first()
        .map_or(Duration::from_secs(1), |(s, _, _)| {
            s.settings.metrics_interval.into()
        });
    let monitor = Arc::new(monitor::Monitor::new(
        store,
        notifier,
        &spec.project.name,
        region,
        named,
    ));
    tokio::spawn(monitor.clone().run(interval, shutdown));
    Ok(monitor)
}
