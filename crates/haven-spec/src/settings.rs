//! Resolved settings for the local twin: the spec's architecture with the `[local]` profile's
//! times and ports applied, laid out as the twin runs it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::duration::Dur;
use crate::model::{Algorithm, HealthCheck, Role, RoutingMode, Spec, Strategy};

/// Everything `haven up` needs, derived from a [`Spec`].
#[derive(Debug, Clone, Serialize)]
pub struct Twin {
    pub project: String,
    pub state_dir: PathBuf,
    pub edge: Edge,
    pub regions: Vec<TwinRegion>,
    /// `local.network`: loopback, or each region's VPC as network namespaces.
    pub network: crate::model::Network,
}

#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    pub addr: SocketAddr,
    pub mode: RoutingMode,
    pub health_check_path: String,
    pub health_check_interval: Dur,
    pub failure_threshold: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct TwinRegion {
    pub name: String,
    pub role: Role,
    pub azs: Vec<String>,
    pub services: Vec<TwinService>,
}

/// One ECS service twin and the ALB twin in front of it.
#[derive(Debug, Clone, Serialize)]
pub struct TwinService {
    /// `<service>-<environment>`, e.g. `hello-production`.
    pub name: String,
    pub environment: String,
    pub alb_addr: SocketAddr,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    pub cpu: u32,
    pub memory: u32,
    pub port: u16,
    pub command: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub health_check: HealthCheck,
    pub algorithm: Algorithm,
    pub deregistration_delay: Dur,
    pub idle_timeout: Dur,
    pub stop_timeout: Dur,
    /// ECS `readonlyRootFilesystem`, held by the container runtime.
    pub read_only_root_filesystem: bool,
    pub cpu_target: u8,
    pub memory_target: u8,
    pub scale_out_cooldown: Dur,
    pub scale_in_cooldown: Dur,
    pub metrics_interval: Dur,
    pub deployment: TwinDeployment,
    /// The ALB twin writes access logs (`local.access_logs`).
    pub access_logs: bool,
}

/// How releases go out on the twin: the spec's strategy, with the local profile's bake time
/// standing in for every bake.
#[derive(Debug, Clone, Serialize)]
pub struct TwinDeployment {
    pub strategy: Strategy,
    pub bake_time: Dur,
    pub canary_percent: u8,
    pub linear_step_percent: u8,
    pub test_listener: bool,
    pub max_5xx_percent: u8,
}

impl Spec {
    /// The twin's layout: production in every region, staging in the primary; ALB ports from
    /// `local.alb_port_base` in region order, staging's after the last region.
    pub fn twin(&self) -> Twin {
        let l = &self.local;
        let port = |i: usize| {
            if l.alb_port_base == 0 {
                0
            } else {
                l.alb_port_base
                    .saturating_add(u16::try_from(i).unwrap_or(u16::MAX))
            }
        };
        let regions = self
            .regions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut envs = vec![(&self.environments.production, port(i))];
                if r.role == Role::Primary {
                    if let Some(staging) = &self.environments.staging {
                        envs.push((staging, port(self.regions.len())));
                    }
                }
                let services = envs
                    .into_iter()
                    .map(|(e, p)| {
                        let mut env = self.service.environment.clone();
                        env.extend(e.environment.clone());
                        TwinService {
                            name: format!("{}-{}", self.service.name, e.name),
                            environment: e.name.clone(),
                            alb_addr: SocketAddr::new(l.bind, p),
                            desired: e.desired,
                            min: e.min,
                            max: e.max,
                            cpu: e.cpu,
                            memory: e.memory,
                            port: self.service.port,
                            command: self.service.command.clone(),
                            env,
                            secrets: self.service.secrets.clone(),
                            health_check: l.health_check.clone(),
                            algorithm: self.service.load_balancer.algorithm,
                            deregistration_delay: l.deregistration_delay,
                            idle_timeout: self.service.load_balancer.idle_timeout,
                            stop_timeout: l.stop_timeout,
                            read_only_root_filesystem: self.service.read_only_root_filesystem,
                            cpu_target: self.service.scaling.cpu_target,
                            memory_target: self.service.scaling.memory_target,
                            scale_out_cooldown: l.scale_out_cooldown,
                            scale_in_cooldown: l.scale_in_cooldown,
                            metrics_interval: l.metrics_interval,
                            deployment: TwinDeployment {
                                strategy: self.service.deployment.strategy,
                                bake_time: l.bake_time,
                                canary_percent: self.service.deployment.canary_percent,
                                linear_step_percent: self.service.deployment.linear_step_percent,
                                test_listener: self.service.deployment.test_listener,
                                max_5xx_percent: self.service.deployment.max_5xx_percent,
                            },
                            access_logs: l.access_logs,
                        }
                    })
                    .collect();
                TwinRegion {
                    name: r.name.clone(),
                    role: r.role,
                    azs: r.azs.clone(),
                    services,
                }
            })
            .collect();
        Twin {
            project: self.project.name.clone(),
            network: l.network,
            state_dir: self.path(&l.state_dir),
            edge: Edge {
                addr: SocketAddr::new(l.bind, l.edge_port),
                mode: self.routing.mode,
                health_check_path: self.service.health_check.path.clone(),
                health_check_interval: l.edge_health_check_interval,
                failure_threshold: l.edge_failure_threshold,
            },
            regions,
        }
    }
}
