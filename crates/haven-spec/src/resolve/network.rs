//! Regions and their networks (VPC, AZs, subnets, NAT) and the global routing between them.

use std::collections::BTreeSet;

use crate::aws;
use crate::cidr::Cidr;
use crate::duration::Dur;
use crate::model::*;
use crate::schema;
use crate::suggest::did_you_mean;

use super::Ctx;

impl Ctx<'_, '_> {
    pub(super) fn regions(&mut self, regions: Option<Vec<schema::Region>>) -> Vec<Region> {
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

    pub(super) fn routing(&mut self, r: schema::Routing) -> Routing {
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
}
