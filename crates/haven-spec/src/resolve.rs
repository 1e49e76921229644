//! Schema → model: applies the seed's defaults and checks every value, reporting each problem
//! with its key path. Cross-field rules (subnets inside their VPC, min ≤ desired ≤ max, ...) live
//! here too, next to the values they relate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::aws;
use crate::cidr::Cidr;
use crate::diag::Reporter;
use crate::duration::Dur;
use crate::model::*;
use crate::schema;
use crate::suggest::did_you_mean;

/// Turns a parsed document into a model; problems go to `r`. The returned model is only
/// meaningful when no error was reported.
pub(crate) fn resolve(
    doc: schema::Document,
    r: &mut Reporter<'_>,
    file: &Path,
    root: &Path,
) -> Spec {
    let mut c = Ctx { r, root };
    let project = c.project(doc.project.unwrap_or_default());
    let regions = c.regions(doc.regions);
    let service = c.service(doc.service.unwrap_or_default(), &project.name);
    let environments = c.environments(doc.environments.unwrap_or_default(), &service);
    let registry = c.registry(doc.registry.unwrap_or_default());
    let source = c.source(doc.source.unwrap_or_default(), &project.name);
    let build = c.build(doc.build.unwrap_or_default());
    let notifications = c.notifications(doc.notifications.unwrap_or_default());
    let pipeline = c.pipeline(doc.pipeline.unwrap_or_default(), &environments);
    let monitoring = c.monitoring(doc.monitoring.unwrap_or_default());
    let routing = c.routing(doc.routing.unwrap_or_default());
    let local = c.local(
        doc.local.unwrap_or_default(),
        &service.health_check,
        regions.len(),
    );

    for (key, topic) in [
        ("pipeline.approval.notify", &pipeline.approval.notify),
        ("monitoring.notify", &monitoring.notify),
    ] {
        if !notifications.topics.contains_key(topic) {
            let names = notifications.topics.keys().map(String::as_str);
            let hint = match did_you_mean(topic, names) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "declare it under [notifications.topics]".to_owned(),
            };
            c.r.error_hint(
                "unknown-topic",
                key,
                format!("no topic named `{topic}`"),
                hint,
            );
        }
    }

    Spec {
        file: file.to_path_buf(),
        root: root.to_path_buf(),
        project,
        regions,
        service,
        environments,
        registry,
        source,
        build,
        pipeline,
        monitoring,
        notifications,
        routing,
        local,
    }
}

struct Ctx<'r, 'a> {
    r: &'r mut Reporter<'a>,
    root: &'r Path,
}

/// `local.state_dir` when the spec does not say, next to the spec file.
pub(crate) const DEFAULT_STATE_DIR: &str = ".haven";

/// What an alarm of a kind is when the spec leaves a setting out.
struct AlarmDefaults {
    threshold: f64,
    evaluation_periods: u32,
    missing_data: MissingData,
}

impl Ctx<'_, '_> {
    /// An integer in `min..=max`, or the default.
    fn int(
        &mut self,
        key: &str,
        value: Option<i64>,
        default: u32,
        min: u32,
        max: u32,
        what: &str,
    ) -> u32 {
        let Some(v) = value else { return default };
        if v < i64::from(min) || v > i64::from(max) {
            self.r.error_hint(
                "out-of-range",
                key,
                format!("{what} must be from {min} to {max}, not {v}"),
                format!("AWS accepts {min}..={max}"),
            );
            return default;
        }
        // In range of a u32 by the check above.
        u32::try_from(v).unwrap_or(default)
    }

    fn percent(&mut self, key: &str, value: Option<i64>, default: u8) -> u8 {
        let Some(v) = value else { return default };
        if !(1..=100).contains(&v) {
            self.r.error_hint(
                "out-of-range",
                key,
                format!("a percentage must be from 1 to 100, not {v}"),
                "write a whole number of percent, e.g. `80`",
            );
            return default;
        }
        u8::try_from(v).unwrap_or(default)
    }

    /// A duration within `min..=max`.
    fn dur(&mut self, key: &str, value: Option<String>, default: Dur, min: Dur, max: Dur) -> Dur {
        let Some(text) = value else { return default };
        match Dur::parse(&text) {
            Ok(d) if d < min || d > max => {
                self.r.error_hint(
                    "out-of-range",
                    key,
                    format!("`{text}` is outside {min}..={max}"),
                    format!("AWS accepts {min} to {max}"),
                );
                default
            }
            Ok(d) => d,
            Err(why) => {
                self.r.error_hint(
                    "bad-duration",
                    key,
                    why,
                    "write a number and a unit: `500ms`, `30s`, `5m`, `2h` or `7d`",
                );
                default
            }
        }
    }

    /// One of a fixed set of words.
    fn choice<T: Copy>(
        &mut self,
        key: &str,
        value: Option<String>,
        default: T,
        options: &[(&str, T)],
    ) -> T {
        let Some(text) = value else { return default };
        if let Some((_, v)) = options.iter().find(|(name, _)| *name == text) {
            return *v;
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let list = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let hint = match did_you_mean(&text, names.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? (one of {list})"),
            None => format!("one of {list}"),
        };
        self.r.error_hint(
            "unknown-value",
            key,
            format!("`{text}` is not a valid value"),
            hint,
        );
        default
    }

    fn name(&mut self, key: &str, value: Option<String>, default: &str, max_len: usize) -> String {
        let name = value.unwrap_or_else(|| default.to_owned());
        let ok = !name.is_empty()
            && name.len() <= max_len
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.ends_with('-');
        if !ok {
            self.r.error_hint(
                "bad-name",
                key,
                format!("`{name}` is not a valid name"),
                format!(
                    "use 1 to {max_len} lowercase letters, digits and `-`, starting with a letter; \
                     it names AWS resources, whose names are short"
                ),
            );
        }
        name
    }

    fn project(&mut self, p: schema::Project) -> Project {
        if p.name.is_none() {
            self.r.error_hint(
                "missing-key",
                "project.name",
                "the project has no name",
                "add `[project]` with `name = \"my-app\"`",
            );
        }
        Project {
            name: self.name("project.name", p.name, "app", 20),
            tags: p.tags.unwrap_or_default(),
        }
    }

    fn regions(&mut self, regions: Option<Vec<schema::Region>>) -> Vec<Region> {
        let regions = regions.unwrap_or_else(|| {
            vec![
                schema::Region {
                    name: Some("us-east-1".into()),
                    role: Some("primary".into()),
                    vpc_cidr: Some("10.0.0.0/16".into()),
                    ..Default::default()
                },
                schema::Region {
                    name: Some("us-west-2".into()),
                    role: Some("secondary".into()),
                    vpc_cidr: Some("10.1.0.0/16".into()),
                    ..Default::default()
                },
            ]
        });
        if regions.is_empty() {
            self.r.error_hint(
                "no-region",
                "regions",
                "no region is declared",
                "declare one `[[regions]]` with `role = \"primary\"` and one or more secondaries",
            );
        }
        let resolved: Vec<Region> = regions
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.region(i, r))
            .collect();

        let primaries = resolved.iter().filter(|r| r.role == Role::Primary).count();
        if !resolved.is_empty() && primaries != 1 {
            self.r.error_hint(
                "primary-count",
                "regions",
                format!("exactly one region must be primary, found {primaries}"),
                "set `role = \"primary\"` on one region and `role = \"secondary\"` on the others",
            );
        }
        let mut seen = BTreeSet::new();
        for (i, r) in resolved.iter().enumerate() {
            if !seen.insert(&r.name) {
                self.r.error(
                    "duplicate-region",
                    &format!("regions[{i}].name"),
                    format!("region `{}` is declared twice", r.name),
                );
            }
        }
        for (i, a) in resolved.iter().enumerate() {
            for b in &resolved[..i] {
                if a.vpc_cidr.overlaps(b.vpc_cidr) {
                    self.r.error_hint(
                        "cidr-overlap",
                        &format!("regions[{i}].vpc_cidr"),
                        format!(
                            "VPC {} of {} overlaps VPC {} of {}",
                            a.vpc_cidr, a.name, b.vpc_cidr, b.name
                        ),
                        "regions' VPCs must not overlap so that they can be peered; the seed uses 10.0.0.0/16 and 10.1.0.0/16",
                    );
                }
            }
        }
        resolved
    }

    fn region(&mut self, i: usize, r: schema::Region) -> Region {
        let key = |k: &str| format!("regions[{i}].{k}");
        let name = match r.name {
            Some(n) => {
                if !aws::REGIONS.contains(&n.as_str()) {
                    let hint = match did_you_mean(&n, aws::REGIONS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "use an AWS region code such as `us-east-1`".to_owned(),
                    };
                    self.r.error_hint(
                        "unknown-region",
                        &key("name"),
                        format!("`{n}` is not an AWS region"),
                        hint,
                    );
                }
                n
            }
            None => {
                self.r.error_hint(
                    "missing-key",
                    &key("name"),
                    "the region has no name",
                    "add `name = \"us-east-1\"`",
                );
                String::new()
            }
        };
        let role = self.choice(
            &key("role"),
            r.role,
            if i == 0 {
                Role::Primary
            } else {
                Role::Secondary
            },
            &[("primary", Role::Primary), ("secondary", Role::Secondary)],
        );
        let default_vpc = Cidr::parse(&format!("10.{i}.0.0/16")).unwrap_or(Cidr {
            addr: std::net::Ipv4Addr::new(10, 0, 0, 0),
            prefix: 16,
        });
        let vpc_cidr = match r.vpc_cidr {
            Some(text) => match Cidr::parse(&text) {
                Ok(c) if !(16..=28).contains(&c.prefix) => {
                    self.r.error_hint(
                        "bad-cidr",
                        &key("vpc_cidr"),
                        format!(
                            "a VPC's block must be between /16 and /28, not /{}",
                            c.prefix
                        ),
                        "the seed uses a /16 per region",
                    );
                    c
                }
                Ok(c) => c,
                Err(why) => {
                    self.r.error("bad-cidr", &key("vpc_cidr"), why);
                    default_vpc
                }
            },
            None => default_vpc,
        };
        let az_count = match r.azs {
            Some(n) if n < 2 => {
                self.r.error_hint(
                    "too-few-azs",
                    &key("azs"),
                    format!(
                        "{n} availability zone{} cannot survive the loss of one",
                        if n == 1 { "" } else { "s" }
                    ),
                    "the architecture's high availability depends on at least 2 AZs: set `azs = 2`",
                );
                2
            }
            Some(n) if n > 6 => {
                self.r.error_hint(
                    "out-of-range",
                    &key("azs"),
                    format!("{n} AZs is more than any region has"),
                    "use 2 or 3",
                );
                2
            }
            Some(n) => usize::try_from(n).unwrap_or(2),
            None => 2,
        };
        let azs = (0..az_count)
            .map(|a| format!("{name}{}", char::from(b'a' + a as u8)))
            .collect();
        let public_subnets = self.subnets(
            &key("public_subnets"),
            r.public_subnets,
            vpc_cidr,
            az_count,
            1,
        );
        let private_subnets = self.subnets(
            &key("private_subnets"),
            r.private_subnets,
            vpc_cidr,
            az_count,
            11,
        );
        let all: Vec<(String, Cidr)> = public_subnets
            .iter()
            .enumerate()
            .map(|(j, c)| (format!("{}[{j}]", key("public_subnets")), *c))
            .chain(
                private_subnets
                    .iter()
                    .enumerate()
                    .map(|(j, c)| (format!("{}[{j}]", key("private_subnets")), *c)),
            )
            .collect();
        for (j, (path, a)) in all.iter().enumerate() {
            if !vpc_cidr.contains(*a) {
                self.r.error_hint(
                    "subnet-outside-vpc",
                    path,
                    format!("subnet {a} is outside the region's VPC {vpc_cidr}"),
                    "every subnet must lie inside `vpc_cidr`",
                );
            }
            for (other_path, b) in &all[..j] {
                if a.overlaps(*b) {
                    self.r.error_hint(
                        "cidr-overlap",
                        path,
                        format!("subnet {a} overlaps subnet {b} ({other_path})"),
                        "give each subnet its own block",
                    );
                }
            }
        }
        let nat = self.choice(
            &key("nat"),
            r.nat,
            NatMode::Single,
            &[("single", NatMode::Single), ("per-az", NatMode::PerAz)],
        );
        Region {
            name,
            role,
            vpc_cidr,
            azs,
            public_subnets,
            private_subnets,
            nat,
        }
    }

    /// Subnets as written, or the seed's layout: `x.y.(base+i).0/24` for AZ i.
    fn subnets(
        &mut self,
        key: &str,
        given: Option<Vec<String>>,
        vpc: Cidr,
        azs: usize,
        base: u8,
    ) -> Vec<Cidr> {
        let Some(given) = given else {
            let seeded: Option<Vec<Cidr>> = (0..azs)
                .map(|i| Cidr::seed_subnet(vpc, base + i as u8))
                .collect();
            return seeded.unwrap_or_else(|| {
                self.r.error_hint(
                    "vpc-too-small",
                    key,
                    format!("VPC {vpc} is too small for the default /24 subnets"),
                    "declare `public_subnets` and `private_subnets` inside the VPC, or use a /16 as the seed does",
                );
                Vec::new()
            });
        };
        if given.len() != azs {
            self.r.error_hint(
                "subnet-count",
                key,
                format!("{} subnets for {azs} availability zones", given.len()),
                "declare exactly one subnet per AZ",
            );
        }
        given
            .iter()
            .enumerate()
            .filter_map(|(j, text)| match Cidr::parse(text) {
                Ok(c) => Some(c),
                Err(why) => {
                    self.r.error("bad-cidr", &format!("{key}[{j}]"), why);
                    None
                }
            })
            .collect()
    }

    fn service(&mut self, s: schema::Service, project: &str) -> Service {
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
        Service {
            name,
            command,
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

    fn env_name(&mut self, key: &str, name: &str) {
        let ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.r.error_hint(
                "bad-env-name",
                key,
                format!("`{name}` is not a valid environment variable name"),
                "use letters, digits and `_`, not starting with a digit",
            );
        }
        if name.starts_with("HAVEN_") || name == "PORT" {
            self.r.error_hint(
                "reserved-env",
                key,
                format!("`{name}` is set by haven for every task"),
                "haven sets PORT and HAVEN_*; choose another name",
            );
        }
    }

    fn ssm_name(&mut self, key: &str, name: &str) {
        if let Some(problem) = aws::ssm_name_problem(name) {
            self.r.error_hint(
                "bad-ssm-name",
                key,
                format!("SSM parameter name `{name}` {problem}"),
                "write a path such as `/my-app/db-password`",
            );
        }
    }

    fn size(
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

    fn counts(&mut self, section: &str, desired: u32, min: u32, max: u32) {
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

    fn environments(&mut self, e: schema::Environments, service: &Service) -> Environments {
        let staging_raw = e.staging.unwrap_or_default();
        let staging = if staging_raw.enabled.unwrap_or(true) {
            Some(self.environment("staging", staging_raw, service, (1, 1, 2)))
        } else {
            None
        };
        let production_raw = e.production.unwrap_or_default();
        if production_raw.enabled == Some(false) {
            self.r.error_hint(
                "production-disabled",
                "environments.production.enabled",
                "production cannot be disabled",
                "production is what the architecture serves; disable staging instead if you need to",
            );
        }
        let production = self.environment(
            "production",
            production_raw,
            service,
            (service.desired, service.min, service.max),
        );
        Environments {
            staging,
            production,
        }
    }

    fn environment(
        &mut self,
        name: &str,
        e: schema::Environment,
        service: &Service,
        (desired, min, max): (u32, u32, u32),
    ) -> Environment {
        let section = format!("environments.{name}");
        let (cpu, memory) = if e.cpu.is_some() || e.memory.is_some() {
            self.size(
                &section,
                e.cpu.or(Some(i64::from(service.cpu))),
                e.memory.or(Some(i64::from(service.memory))),
                service.cpu,
                service.memory,
            )
        } else {
            (service.cpu, service.memory)
        };
        let desired = self.int(
            &format!("{section}.desired"),
            e.desired,
            desired,
            0,
            5000,
            "a task count",
        );
        let min = self.int(
            &format!("{section}.min"),
            e.min,
            min,
            0,
            5000,
            "a task count",
        );
        let max = self.int(
            &format!("{section}.max"),
            e.max,
            max,
            0,
            5000,
            "a task count",
        );
        // Production's sizes are the service's, already checked there.
        if name != "production" || [&e.desired, &e.min, &e.max].iter().any(|v| v.is_some()) {
            self.counts(&section, desired, min, max);
        }
        let environment = e.environment.unwrap_or_default();
        for k in environment.keys() {
            self.env_name(
                &crate::source_map::join(&format!("{section}.environment"), k),
                k,
            );
        }
        Environment {
            name: name.to_owned(),
            desired,
            min,
            max,
            cpu,
            memory,
            environment,
        }
    }

    fn registry(&mut self, r: schema::Registry) -> Registry {
        let lifecycle = match r.lifecycle {
            Some(rules) => rules
                .into_iter()
                .enumerate()
                .map(|(i, rule)| self.lifecycle_rule(i, rule))
                .collect(),
            None => vec![
                LifecycleRule {
                    priority: 1,
                    description: "Expire untagged images 14 days after push".into(),
                    tag_status: TagStatus::Untagged,
                    tag_prefixes: Vec::new(),
                    count_type: CountType::SinceImagePushed,
                    count: 14,
                },
                LifecycleRule {
                    priority: 2,
                    description: "Keep the 30 most recent images".into(),
                    tag_status: TagStatus::Any,
                    tag_prefixes: Vec::new(),
                    count_type: CountType::ImageCountMoreThan,
                    count: 30,
                },
            ],
        };
        let mut priorities = BTreeMap::new();
        for (i, rule) in lifecycle.iter().enumerate() {
            if let Some(j) = priorities.insert(rule.priority, i) {
                self.r.error_hint(
                    "lifecycle-priority",
                    &format!("registry.lifecycle[{i}].priority"),
                    format!("priority {} is used by rule {j} too", rule.priority),
                    "ECR needs a unique priority per rule",
                );
            }
        }
        let max_priority = lifecycle.iter().map(|r| r.priority).max();
        for (i, rule) in lifecycle.iter().enumerate() {
            if rule.tag_status == TagStatus::Any && Some(rule.priority) != max_priority {
                self.r.error_hint(
                    "lifecycle-priority",
                    &format!("registry.lifecycle[{i}].priority"),
                    "a rule with `tag_status = \"any\"` must have the highest priority number",
                    "ECR evaluates `any` rules last; give this rule the largest priority",
                );
            }
        }
        Registry {
            scan_on_push: r.scan_on_push.unwrap_or(true),
            immutable_tags: r.immutable_tags.unwrap_or(true),
            encryption: self.choice(
                "registry.encryption",
                r.encryption,
                Encryption::Kms,
                &[("kms", Encryption::Kms), ("aes256", Encryption::Aes256)],
            ),
            replicate: r.replicate.unwrap_or(true),
            scan_fail_severity: self.choice(
                "registry.scan_fail_severity",
                r.scan_fail_severity,
                Severity::High,
                &[
                    ("none", Severity::None),
                    ("low", Severity::Low),
                    ("medium", Severity::Medium),
                    ("high", Severity::High),
                    ("critical", Severity::Critical),
                ],
            ),
            advisory_db: r.advisory_db.map(PathBuf::from),
            lifecycle,
        }
    }

    fn lifecycle_rule(&mut self, i: usize, r: schema::LifecycleRule) -> LifecycleRule {
        let k = |s: &str| format!("registry.lifecycle[{i}].{s}");
        let tag_status = self.choice(
            &k("tag_status"),
            r.tag_status,
            TagStatus::Any,
            &[
                ("tagged", TagStatus::Tagged),
                ("untagged", TagStatus::Untagged),
                ("any", TagStatus::Any),
            ],
        );
        let tag_prefixes = r.tag_prefixes.unwrap_or_default();
        if tag_status == TagStatus::Tagged && tag_prefixes.is_empty() {
            self.r.error_hint(
                "lifecycle-prefixes",
                &k("tag_prefixes"),
                "a `tagged` rule needs tag prefixes",
                "add `tag_prefixes = [\"v\"]`, or use `tag_status = \"any\"`",
            );
        }
        if tag_status != TagStatus::Tagged && !tag_prefixes.is_empty() {
            self.r.error_hint(
                "lifecycle-prefixes",
                &k("tag_prefixes"),
                "only `tagged` rules take tag prefixes",
                "set `tag_status = \"tagged\"` or remove the prefixes",
            );
        }
        let count_type = self.choice(
            &k("count_type"),
            r.count_type,
            CountType::ImageCountMoreThan,
            &[
                ("image_count_more_than", CountType::ImageCountMoreThan),
                ("since_image_pushed", CountType::SinceImagePushed),
            ],
        );
        if r.count.is_none() {
            self.r.error_hint(
                "missing-key",
                &k("count"),
                "the rule has no count",
                "add `count = 30` (images, or days with `since_image_pushed`)",
            );
        }
        LifecycleRule {
            priority: self.int(
                &k("priority"),
                r.priority,
                u32::try_from(i + 1).unwrap_or(1),
                1,
                1000,
                "a rule priority",
            ),
            description: r.description.unwrap_or_default(),
            tag_status,
            tag_prefixes,
            count_type,
            count: self.int(&k("count"), r.count, 1, 1, 100_000, "a count"),
        }
    }

    fn source(&mut self, s: schema::Source, project: &str) -> Source {
        let repository = s.repository.unwrap_or_else(|| project.to_owned());
        let repo_ok = !repository.is_empty()
            && repository.len() <= 100
            && repository
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !repository.ends_with(".git");
        if !repo_ok {
            self.r.error_hint(
                "bad-name",
                "source.repository",
                format!("`{repository}` is not a valid repository name"),
                "use letters, digits, `.`, `_` and `-` (CodeCommit's rules), without `.git`",
            );
        }
        let branch = s.branch.unwrap_or_else(|| "main".into());
        for (key, b) in std::iter::once(("source.branch".to_owned(), &branch)).chain(
            s.protected_branches
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, b)| (format!("source.protected_branches[{i}]"), b)),
        ) {
            if !branch_name_ok(b) {
                self.r.error_hint(
                    "bad-branch",
                    &key,
                    format!("`{b}` is not a valid git branch name"),
                    "see `git check-ref-format --branch`",
                );
            }
        }
        Source {
            repository,
            protected_branches: s.protected_branches.unwrap_or_else(|| vec![branch.clone()]),
            branch,
            replicate: s.replicate.unwrap_or(true),
        }
    }

    fn build(&mut self, b: schema::Build) -> Build {
        let directory = PathBuf::from(b.directory.unwrap_or_else(|| ".".into()));
        let buildspec = directory.join(b.buildspec.unwrap_or_else(|| "buildspec.yml".into()));
        let on_disk = self.root.join(&buildspec);
        if !on_disk.is_file() {
            self.r.error_hint(
                "missing-file",
                "build.buildspec",
                format!("buildspec `{}` does not exist", on_disk.display()),
                "write a CodeBuild buildspec (version 0.2) there, or point `build.buildspec` at yours; `haven init` writes an example",
            );
        }
        if !self.root.join(&directory).is_dir() {
            self.r.error(
                "missing-file",
                "build.directory",
                format!(
                    "directory `{}` does not exist",
                    self.root.join(&directory).display()
                ),
            );
        }
        Build {
            buildspec,
            directory,
            timeout: self.dur(
                "build.timeout",
                b.timeout,
                Dur::secs(3600),
                Dur::secs(300),
                Dur::secs(36 * 3600),
            ),
            compute_type: self
                .choice(
                    "build.compute_type",
                    b.compute_type,
                    "BUILD_GENERAL1_SMALL",
                    &[
                        ("BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_SMALL"),
                        ("BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_MEDIUM"),
                        ("BUILD_GENERAL1_LARGE", "BUILD_GENERAL1_LARGE"),
                        ("BUILD_GENERAL1_XLARGE", "BUILD_GENERAL1_XLARGE"),
                        ("BUILD_GENERAL1_2XLARGE", "BUILD_GENERAL1_2XLARGE"),
                    ],
                )
                .to_owned(),
            image: b
                .image
                .unwrap_or_else(|| "aws/codebuild/amazonlinux-x86_64-standard:5.0".into()),
        }
    }

    fn pipeline(&mut self, p: schema::Pipeline, envs: &Environments) -> Pipeline {
        let a = p.approval.unwrap_or_default();
        let approval = Approval {
            enabled: a.enabled.unwrap_or(true),
            timeout: self.dur(
                "pipeline.approval.timeout",
                a.timeout,
                Dur::secs(7 * 86_400),
                Dur::secs(60),
                Dur::secs(7 * 86_400),
            ),
            notify: a.notify.unwrap_or_else(|| "alerts".into()),
        };
        let staging = p.staging.unwrap_or(true);
        if staging && envs.staging.is_none() {
            self.r.error_hint(
                "staging-disabled",
                "pipeline.staging",
                "the pipeline deploys to staging, but the staging environment is disabled",
                "set `pipeline.staging = false` or enable `[environments.staging]`",
            );
        }
        let mut stages = vec!["Source", "Build"];
        if staging {
            stages.push("Staging");
        }
        if approval.enabled {
            stages.push("Approval");
        }
        stages.push("Production");
        Pipeline {
            execution_mode: self.choice(
                "pipeline.execution_mode",
                p.execution_mode,
                ExecutionMode::Superseded,
                &[
                    ("superseded", ExecutionMode::Superseded),
                    ("queued", ExecutionMode::Queued),
                    ("parallel", ExecutionMode::Parallel),
                ],
            ),
            stages,
            approval,
        }
    }

    fn monitoring(&mut self, m: schema::Monitoring) -> Monitoring {
        let log_retention_days = match m.log_retention_days {
            Some(d) if u32::try_from(d).is_ok_and(|d| aws::LOG_RETENTION_DAYS.contains(&d)) => {
                d as u32
            }
            Some(d) => {
                let nearest = aws::LOG_RETENTION_DAYS
                    .iter()
                    .min_by_key(|v| (i64::from(**v) - d).abs())
                    .copied()
                    .unwrap_or(365);
                self.r.error_hint(
                    "log-retention",
                    "monitoring.log_retention_days",
                    format!("{d} days is not a CloudWatch Logs retention period"),
                    format!("the nearest allowed value is {nearest}; CloudWatch accepts 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"),
                );
                nearest
            }
            None => 365,
        };
        let a = m.alarms.unwrap_or_default();
        let mut alarms = Vec::new();
        // The ALB publishes no 5xx count for a period without any: that period is a good one.
        let (missing, good) = (MissingData::Missing, MissingData::NotBreaching);
        for (kind, name, raw, threshold, evals, missing) in [
            (AlarmKind::Cpu, "cpu", a.cpu, 80.0, 3, missing),
            (AlarmKind::Memory, "memory", a.memory, 80.0, 3, missing),
            (AlarmKind::Http5xx, "http_5xx", a.http_5xx, 10.0, 1, good),
            (
                AlarmKind::UnhealthyTargets,
                "unhealthy_targets",
                a.unhealthy_targets,
                1.0,
                2,
                missing,
            ),
            (
                AlarmKind::PipelineFailure,
                "pipeline_failure",
                a.pipeline_failure,
                1.0,
                1,
                missing,
            ),
        ] {
            let defaults = AlarmDefaults {
                threshold,
                evaluation_periods: evals,
                missing_data: missing,
            };
            if let Some(alarm) = self.alarm(kind, name, raw.unwrap_or_default(), defaults) {
                alarms.push(alarm);
            }
        }
        Monitoring {
            log_retention_days,
            dashboard: m.dashboard.unwrap_or(true),
            notify: m.notify.unwrap_or_else(|| "alerts".into()),
            alarms,
        }
    }

    fn alarm(
        &mut self,
        kind: AlarmKind,
        name: &str,
        a: schema::Alarm,
        defaults: AlarmDefaults,
    ) -> Option<Alarm> {
        let k = |s: &str| format!("monitoring.alarms.{name}.{s}");
        let threshold = defaults.threshold;
        let threshold = match a.threshold {
            Some(t)
                if matches!(kind, AlarmKind::Cpu | AlarmKind::Memory)
                    && !(1.0..=100.0).contains(&t) =>
            {
                self.r.error_hint(
                    "out-of-range",
                    &k("threshold"),
                    format!("a percentage must be from 1 to 100, not {t}"),
                    "CPU and memory alarms compare a utilisation percentage",
                );
                threshold
            }
            Some(t) if !(t.is_finite() && t >= 0.0) => {
                self.r.error(
                    "out-of-range",
                    &k("threshold"),
                    format!("the threshold must be a number >= 0, not {t}"),
                );
                threshold
            }
            Some(t) => t,
            None => threshold,
        };
        let period = self.dur(
            &k("period"),
            a.period,
            Dur::secs(60),
            Dur::secs(10),
            Dur::secs(86_400),
        );
        if period.0.as_secs() >= 60 && period.0.as_secs() % 60 != 0
            || ![10, 20, 30].contains(&period.0.as_secs()) && period.0.as_secs() < 60
        {
            self.r.error_hint(
                "alarm-period",
                &k("period"),
                format!("{period} is not a CloudWatch alarm period"),
                "use 10s, 20s, 30s or a multiple of 60s",
            );
        }
        let evaluation_periods = self.int(
            &k("evaluation_periods"),
            a.evaluation_periods,
            defaults.evaluation_periods,
            1,
            100,
            "evaluation periods",
        );
        let datapoints_to_alarm = self.int(
            &k("datapoints_to_alarm"),
            a.datapoints_to_alarm,
            evaluation_periods,
            1,
            100,
            "datapoints to alarm",
        );
        if datapoints_to_alarm > evaluation_periods {
            self.r.error_hint(
                "alarm-datapoints",
                &k("datapoints_to_alarm"),
                format!("{datapoints_to_alarm} datapoints out of {evaluation_periods} evaluation periods"),
                "datapoints_to_alarm must be at most evaluation_periods (M out of N)",
            );
        }
        let missing_data = self.choice(
            &k("missing_data"),
            a.missing_data,
            defaults.missing_data,
            &[
                ("missing", MissingData::Missing),
                ("notBreaching", MissingData::NotBreaching),
                ("breaching", MissingData::Breaching),
                ("ignore", MissingData::Ignore),
            ],
        );
        a.enabled.unwrap_or(true).then_some(Alarm {
            kind,
            threshold,
            period,
            evaluation_periods,
            datapoints_to_alarm,
            missing_data,
        })
    }

    fn notifications(&mut self, n: schema::Notifications) -> Notifications {
        let from = n.from.unwrap_or_else(|| "haven@localhost".into());
        if !from.contains('@') {
            self.r.error(
                "bad-email",
                "notifications.from",
                format!("`{from}` is not an e-mail address"),
            );
        }
        let raw_topics = n
            .topics
            .unwrap_or_else(|| BTreeMap::from([("alerts".to_owned(), schema::Topic::default())]));
        let mut topics = BTreeMap::new();
        for (name, t) in raw_topics {
            let base = crate::source_map::join("notifications.topics", &name);
            let name_ok = !name.is_empty()
                && name.len() <= 256
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
            if !name_ok {
                self.r.error_hint(
                    "bad-name",
                    &base,
                    format!("`{name}` is not a valid topic name"),
                    "use letters, digits, `_` and `-` (SNS's rules)",
                );
            }
            let email = t.email.unwrap_or_default();
            for (i, addr) in email.iter().enumerate() {
                if !aws::email_is_valid(addr) {
                    self.r.error_hint(
                        "bad-email",
                        &format!("{base}.email[{i}]"),
                        format!("`{addr}` is not a valid e-mail address"),
                        "write it as `name@example.com`",
                    );
                }
            }
            let webhooks = t.webhooks.unwrap_or_default();
            for (i, url) in webhooks.iter().enumerate() {
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                    self.r.error_hint(
                        "bad-url",
                        &format!("{base}.webhooks[{i}]"),
                        format!("`{url}` is not an http(s) URL"),
                        "write it as `https://hooks.example.com/path`",
                    );
                }
            }
            if let Some(secret) = &t.webhook_secret {
                self.ssm_name(&format!("{base}.webhook_secret"), secret);
            }
            if email.is_empty() && webhooks.is_empty() {
                self.r.warning_hint(
                    "no-subscription",
                    &base,
                    format!("topic `{name}` has no subscription: its alerts reach nobody"),
                    "add `email = [\"ops@example.com\"]` or a webhook",
                );
            }
            topics.insert(
                name,
                Topic {
                    email,
                    webhooks,
                    webhook_secret: t.webhook_secret,
                },
            );
        }
        Notifications { from, topics }
    }

    fn routing(&mut self, r: schema::Routing) -> Routing {
        let interval = self.dur(
            "routing.health_check_interval",
            r.health_check_interval,
            Dur::secs(30),
            Dur::secs(10),
            Dur::secs(30),
        );
        if interval != Dur::secs(10) && interval != Dur::secs(30) {
            self.r.error_hint(
                "out-of-range",
                "routing.health_check_interval",
                format!("Route 53 checks every 10s or 30s, not {interval}"),
                "use `10s` (fast) or `30s` (standard)",
            );
        }
        let domain = r.domain;
        let hosted_zone_id = r.hosted_zone_id;
        if domain.is_some() != hosted_zone_id.is_some() {
            self.r.error_hint(
                "routing-zone",
                if domain.is_some() {
                    "routing.hosted_zone_id"
                } else {
                    "routing.domain"
                },
                "a domain and a hosted zone go together",
                "set both `domain` and `hosted_zone_id` to create Route 53 records, or neither",
            );
        }
        Routing {
            mode: self.choice(
                "routing.mode",
                r.mode,
                RoutingMode::Failover,
                &[
                    ("failover", RoutingMode::Failover),
                    ("active-active", RoutingMode::ActiveActive),
                ],
            ),
            health_check_interval: interval,
            failure_threshold: self.int(
                "routing.failure_threshold",
                r.failure_threshold,
                3,
                1,
                10,
                "a failure threshold",
            ),
            ttl: self.int("routing.ttl", r.ttl, 60, 0, 172_800, "a TTL"),
            domain,
            hosted_zone_id,
        }
    }

    fn local(&mut self, l: schema::Local, service_hc: &HealthCheck, regions: usize) -> Local {
        let k = |s: &str| format!("local.{s}");
        let bind = match l.bind {
            Some(b) => match b.parse::<std::net::IpAddr>() {
                Ok(ip) => {
                    if !ip.is_loopback() {
                        self.r.warning_hint(
                            "public-bind",
                            &k("bind"),
                            format!("the twin will listen on {ip}, beyond this machine"),
                            "keep `127.0.0.1` unless others must reach it",
                        );
                    }
                    ip
                }
                Err(_) => {
                    self.r.error_hint(
                        "bad-address",
                        &k("bind"),
                        format!("`{b}` is not an IP address"),
                        "use `127.0.0.1`",
                    );
                    std::net::Ipv4Addr::LOCALHOST.into()
                }
            },
            None => std::net::Ipv4Addr::LOCALHOST.into(),
        };
        let port = |c: &mut Self, key: &str, v: Option<i64>, d: u16| {
            c.int(&k(key), v, u32::from(d), 0, 65535, "a port") as u16
        };
        let edge_port = port(self, "edge_port", l.edge_port, 4000);
        let alb_port_base = port(self, "alb_port_base", l.alb_port_base, 4001);
        if alb_port_base != 0 && u32::from(alb_port_base) + regions as u32 > 65535 {
            self.r.error(
                "out-of-range",
                &k("alb_port_base"),
                "the regions' ALB ports would run past 65535",
            );
        }
        let dashboard_port = port(self, "dashboard_port", l.dashboard_port, 4100);
        let (lo, hi) = (Dur::millis(0), Dur::secs(3600));
        let interval = self.dur(
            &k("health_check_interval"),
            l.health_check_interval,
            Dur::secs(1),
            Dur::millis(100),
            hi,
        );
        let timeout = self.dur(
            &k("health_check_timeout"),
            l.health_check_timeout,
            Dur::millis(500),
            Dur::millis(50),
            hi,
        );
        if timeout >= interval {
            self.r.error_hint(
                "timeout-interval",
                &k("health_check_timeout"),
                format!("the timeout ({timeout}) must be shorter than the interval ({interval})"),
                "as on the ALB, timeout < interval",
            );
        }
        let health_check = HealthCheck {
            interval,
            timeout,
            healthy_threshold: self.int(
                &k("healthy_threshold"),
                l.healthy_threshold,
                2,
                2,
                10,
                "a threshold",
            ),
            unhealthy_threshold: self.int(
                &k("unhealthy_threshold"),
                l.unhealthy_threshold,
                2,
                2,
                10,
                "a threshold",
            ),
            ..service_hc.clone()
        };
        Local {
            state_dir: PathBuf::from(l.state_dir.unwrap_or_else(|| DEFAULT_STATE_DIR.into())),
            bind,
            edge_port,
            alb_port_base,
            dashboard_port,
            smtp_relay: l.smtp_relay,
            health_check,
            deregistration_delay: self.dur(
                &k("deregistration_delay"),
                l.deregistration_delay,
                Dur::secs(2),
                lo,
                hi,
            ),
            stop_timeout: self.dur(
                &k("stop_timeout"),
                l.stop_timeout,
                Dur::secs(5),
                Dur::millis(100),
                Dur::secs(120),
            ),
            metrics_interval: self.dur(
                &k("metrics_interval"),
                l.metrics_interval,
                Dur::secs(1),
                Dur::millis(100),
                Dur::secs(60),
            ),
            scale_out_cooldown: self.dur(
                &k("scale_out_cooldown"),
                l.scale_out_cooldown,
                Dur::secs(5),
                lo,
                hi,
            ),
            scale_in_cooldown: self.dur(
                &k("scale_in_cooldown"),
                l.scale_in_cooldown,
                Dur::secs(15),
                lo,
                hi,
            ),
            bake_time: self.dur(&k("bake_time"), l.bake_time, Dur::secs(3), lo, hi),
            alarm_period: self.dur(
                &k("alarm_period"),
                l.alarm_period,
                Dur::secs(5),
                Dur::secs(1),
                hi,
            ),
            approval_timeout: self.dur(
                &k("approval_timeout"),
                l.approval_timeout,
                Dur::secs(3600),
                Dur::secs(1),
                Dur::secs(7 * 86_400),
            ),
            edge_health_check_interval: self.dur(
                &k("edge_health_check_interval"),
                l.edge_health_check_interval,
                Dur::secs(1),
                Dur::millis(100),
                Dur::secs(60),
            ),
            edge_failure_threshold: self.int(
                &k("edge_failure_threshold"),
                l.edge_failure_threshold,
                2,
                1,
                10,
                "a failure threshold",
            ),
            access_logs: l.access_logs.unwrap_or(true),
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

/// The common rules of `git check-ref-format --branch`.
fn branch_name_ok(b: &str) -> bool {
    !b.is_empty()
        && !b.starts_with(['-', '/', '.'])
        && !b.ends_with(['/', '.'])
        && !b.ends_with(".lock")
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("@{")
        && !b
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}
