//! The service: its command, environment and secrets, Fargate size, task counts, health
//! check, load balancer, scaling and deployment.

use crate::aws;
use crate::duration::Dur;
use crate::model::*;
use crate::schema;
use std::path::PathBuf;

use super::Ctx;

impl Ctx<'_, '_> {
    pub(super) fn service(&mut self, s: schema::Service, project: &str) -> Service {
        // The project's name was checked already; only a name of its own needs checking.
        let name = match s.name {
            Some(n) => self.name("service.name", Some(n), project, 20),
            None => project.to_owned(),
        };
        let command = match s.command {
            Some(c) if c.is_empty() || c[0].trim().is_empty() => {
                self.r.error_hint(
                    "empty-command",
                    "service.command",
                    "the command is empty",
                    "name the program to run, e.g. `[\"bin/app\"]`",
                );
                c
            }
            Some(c) => c,
            None => {
                self.r.error_hint(
                    "missing-key",
                    "service.command",
                    "the service has no command",
                    "add `command = [\"target/release/app\"]`: the program (relative to the build's artifacts) and its arguments",
                );
                Vec::new()
            }
        };
        let port = self.int("service.port", s.port, 8080, 1, 65535, "a port") as u16;
        let environment = s.environment.unwrap_or_default();
        for k in environment.keys() {
            self.env_name(&crate::source_map::join("service.environment", k), k);
        }
        let secrets = s.secrets.unwrap_or_default();
        for (k, param) in &secrets {
            let path = crate::source_map::join("service.secrets", k);
            self.env_name(&path, k);
            self.ssm_name(&path, param);
            if environment.contains_key(k) {
                self.r.error_hint(
                    "duplicate-env",
                    &path,
                    format!("`{k}` is both a plain variable and a secret"),
                    "remove it from [service.environment]",
                );
            }
        }
        let (cpu, memory) = self.size("service", s.cpu, s.memory, 512, 1024);
        let architecture = self.choice(
            "service.architecture",
            s.architecture,
            Architecture::X86_64,
            &[
                ("x86_64", Architecture::X86_64),
                ("arm64", Architecture::Arm64),
            ],
        );
        let desired = self.int("service.desired", s.desired, 2, 0, 5000, "a task count");
        let min = self.int("service.min", s.min, 2, 0, 5000, "a task count");
        let max = self.int("service.max", s.max, 10, 0, 5000, "a task count");
        self.counts("service", desired, min, max);
        let health_check = self.health_check(s.health_check.unwrap_or_default());
        let lb = s.load_balancer.unwrap_or_default();
        let load_balancer = LoadBalancer {
            algorithm: self.choice(
                "service.load_balancer.algorithm",
                lb.algorithm,
                Algorithm::RoundRobin,
                &[
                    ("round_robin", Algorithm::RoundRobin),
                    (
                        "least_outstanding_requests",
                        Algorithm::LeastOutstandingRequests,
                    ),
                ],
            ),
            deregistration_delay: self.dur(
                "service.load_balancer.deregistration_delay",
                lb.deregistration_delay,
                Dur::secs(300),
                Dur::secs(0),
                Dur::secs(3600),
            ),
            idle_timeout: self.dur(
                "service.load_balancer.idle_timeout",
                lb.idle_timeout,
                Dur::secs(60),
                Dur::secs(1),
                Dur::secs(4000),
            ),
            certificate_arn: lb.certificate_arn.inspect(|arn| {
                if !arn.starts_with("arn:aws:acm:") {
                    self.r.error_hint(
                        "bad-arn",
                        "service.load_balancer.certificate_arn",
                        format!("`{arn}` is not an ACM certificate ARN"),
                        "it looks like `arn:aws:acm:us-east-1:123456789012:certificate/...`",
                    );
                }
            }),
        };
        let sc = s.scaling.unwrap_or_default();
        let scaling = Scaling {
            cpu_target: self.percent("service.scaling.cpu_target", sc.cpu_target, 70),
            memory_target: self.percent("service.scaling.memory_target", sc.memory_target, 70),
            scale_out_cooldown: self.dur(
                "service.scaling.scale_out_cooldown",
                sc.scale_out_cooldown,
                Dur::secs(300),
                Dur::secs(0),
                Dur::secs(86_400),
            ),
            scale_in_cooldown: self.dur(
                "service.scaling.scale_in_cooldown",
                sc.scale_in_cooldown,
                Dur::secs(300),
                Dur::secs(0),
                Dur::secs(86_400),
            ),
        };
        let d = s.deployment.unwrap_or_default();
        let day = Dur::secs(86_400);
        let deployment = Deployment {
            strategy: self.choice(
                "service.deployment.strategy",
                d.strategy,
                Strategy::BlueGreen,
                &[
                    ("blue-green", Strategy::BlueGreen),
                    ("canary", Strategy::Canary),
                    ("linear", Strategy::Linear),
                    ("rolling", Strategy::Rolling),
                ],
            ),
            bake_time: self.dur(
                "service.deployment.bake_time",
                d.bake_time,
                Dur::secs(300),
                Dur::secs(0),
                day,
            ),
            canary_percent: self.percent("service.deployment.canary_percent", d.canary_percent, 10),
            canary_bake_time: self.dur(
                "service.deployment.canary_bake_time",
                d.canary_bake_time,
                Dur::secs(300),
                Dur::secs(0),
                day,
            ),
            linear_step_percent: self.percent(
                "service.deployment.linear_step_percent",
                d.linear_step_percent,
                10,
            ),
            linear_step_bake_time: self.dur(
                "service.deployment.linear_step_bake_time",
                d.linear_step_bake_time,
                Dur::secs(60),
                Dur::secs(0),
                day,
            ),
            test_listener: d.test_listener.unwrap_or(true),
            rollback_on_alarm: d.rollback_on_alarm.unwrap_or(true),
            max_5xx_percent: self.percent(
                "service.deployment.max_5xx_percent",
                d.max_5xx_percent,
                1,
            ),
        };
        for (key, whole) in [
            ("service.deployment.bake_time", deployment.bake_time),
            (
                "service.deployment.canary_bake_time",
                deployment.canary_bake_time,
            ),
            (
                "service.deployment.linear_step_bake_time",
                deployment.linear_step_bake_time,
            ),
        ] {
            if whole.0.as_secs() % 60 != 0 {
                self.r.error_hint(
                    "bad-duration",
                    key,
                    format!("`{whole}` is not a whole number of minutes"),
                    "ECS counts bake times in minutes; the [local] profile has its own `bake_time`",
                );
            }
        }
        let stop_timeout = self.dur(
            "service.stop_timeout",
            s.stop_timeout,
            Dur::secs(30),
            Dur::secs(2),
            Dur::secs(120),
        );
        let dockerfile = match s.dockerfile {
            Some(d) if d.trim().is_empty() || d.starts_with('/') => {
                self.r.error_hint(
                    "bad-path",
                    "service.dockerfile",
                    format!("`{d}` is not a path relative to the spec's directory"),
                    "the build context is the spec's directory, e.g. `Dockerfile` or `docker/app.Dockerfile`",
                );
                PathBuf::from("Dockerfile")
            }
            Some(d) => PathBuf::from(d),
            None => PathBuf::from("Dockerfile"),
        };
        Service {
            name,
            command,
            dockerfile,
            port,
            environment,
            secrets,
            cpu,
            memory,
            architecture,
            desired,
            min,
            max,
            read_only_root_filesystem: s.read_only_root_filesystem.unwrap_or(true),
            stop_timeout,
            health_check,
            load_balancer,
            scaling,
            deployment,
        }
    }

    pub(super) fn size(
        &mut self,
        section: &str,
        cpu: Option<i64>,
        memory: Option<i64>,
        default_cpu: u32,
        default_memory: u32,
    ) -> (u32, u32) {
        let cpu_key = format!("{section}.cpu");
        let mem_key = format!("{section}.memory");
        let cpu_v = match cpu {
            Some(c) if u32::try_from(c).is_ok_and(|c| aws::FARGATE_CPU.contains(&c)) => c as u32,
            Some(c) => {
                self.r.error_hint(
                    "fargate-size",
                    &cpu_key,
                    format!("{c} is not a Fargate CPU size"),
                    "one of 256, 512, 1024, 2048, 4096, 8192, 16384 (1024 = 1 vCPU)",
                );
                return (default_cpu, default_memory);
            }
            None => default_cpu,
        };
        let valid = aws::fargate_memory(cpu_v).unwrap_or_default();
        let mem_v = match memory {
            Some(m) => u32::try_from(m).unwrap_or(0),
            None if cpu.is_none() => default_memory,
            None => valid.first().copied().unwrap_or(default_memory),
        };
        if !valid.contains(&mem_v) {
            let list = match (valid.first(), valid.last()) {
                (Some(a), Some(b)) if valid.len() > 4 => {
                    let step = valid.get(1).map_or(1024, |x| x - a);
                    format!("{a} to {b} in steps of {step}")
                }
                _ => valid
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            self.r.error_hint(
                "fargate-size",
                &mem_key,
                format!("{mem_v} MiB is not a Fargate memory size for {cpu_v} CPU units"),
                format!("with cpu = {cpu_v}, memory is {list} (MiB)"),
            );
        }
        (cpu_v, mem_v)
    }

    pub(super) fn counts(&mut self, section: &str, desired: u32, min: u32, max: u32) {
        if min < 1 {
            self.r.error_hint(
                "task-counts",
                &format!("{section}.min"),
                "min must be at least 1",
                "a service with no task serves nothing; the seed keeps at least 2",
            );
        }
        if min > desired {
            self.r.error_hint(
                "task-counts",
                &format!("{section}.desired"),
                format!("desired ({desired}) is below min ({min})"),
                "keep min <= desired <= max",
            );
        }
        if desired > max {
            self.r.error_hint(
                "task-counts",
                &format!("{section}.desired"),
                format!("desired ({desired}) is above max ({max})"),
                "keep min <= desired <= max",
            );
        }
    }

    fn health_check(&mut self, h: schema::HealthCheck) -> HealthCheck {
        let k = |s: &str| format!("service.health_check.{s}");
        let path = h.path.unwrap_or_else(|| "/".into());
        if !path.starts_with('/') || path.len() > 1024 {
            self.r.error_hint(
                "bad-path",
                &k("path"),
                format!("`{path}` is not a URL path"),
                "start it with `/`, e.g. `/health`",
            );
        }
        let interval = self.dur(
            &k("interval"),
            h.interval,
            Dur::secs(30),
            Dur::secs(5),
            Dur::secs(300),
        );
        let timeout = self.dur(
            &k("timeout"),
            h.timeout,
            Dur::secs(5),
            Dur::secs(2),
            Dur::secs(120),
        );
        if timeout >= interval {
            self.r.error_hint(
                "timeout-interval",
                &k("timeout"),
                format!("the timeout ({timeout}) must be shorter than the interval ({interval})"),
                "the ALB requires timeout < interval",
            );
        }
        let success_codes = h.success_codes.unwrap_or_else(|| "200".into());
        if let Err(why) = check_matcher(&success_codes) {
            self.r.error_hint(
                "bad-matcher",
                &k("success_codes"),
                why,
                "write codes like `200`, `200,302` or `200-299` (200 to 499)",
            );
        }
        HealthCheck {
            path,
            interval,
            timeout,
            healthy_threshold: self.int(
                &k("healthy_threshold"),
                h.healthy_threshold,
                5,
                2,
                10,
                "a threshold",
            ),
            unhealthy_threshold: self.int(
                &k("unhealthy_threshold"),
                h.unhealthy_threshold,
                2,
                2,
                10,
                "a threshold",
            ),
            success_codes,
            grace_period: self.dur(
                &k("grace_period"),
                h.grace_period,
                Dur::secs(0),
                Dur::secs(0),
                Dur::secs(2_147_483_647),
            ),
        }
    }
}

/// Checks ALB matcher syntax: codes or ranges from 200 to 499, comma separated.
fn check_matcher(text: &str) -> Result<(), String> {
    for part in text.split(',') {
        let part = part.trim();
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (200..=499).contains(c))
        };
        match (parse(lo), parse(hi)) {
            (Some(a), Some(b)) if a <= b => {}
            _ => {
                return Err(format!(
                    "`{part}` is not an HTTP code or range from 200 to 499"
                ));
            }
        }
    }
    Ok(())
}
