//! The model: what the network stack declares for one region, in plain values.

use std::fmt;

use haven_spec::Cidr;
use haven_spec::Spec;
use haven_spec::model::{NatMode, Region, RuleDirection, RuleGroup};
use serde::Serialize;

/// A subnet's tier: public subnets route to the internet gateway, private ones to a NAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Public,
    Private,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Public => "public",
            Tier::Private => "private",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subnet {
    /// `public-1`, `private-2`: the tier and the AZ's number, as the templates name them.
    pub name: String,
    pub tier: Tier,
    pub az: String,
    pub cidr: Cidr,
    /// Index into [`Vpc::route_tables`].
    pub route_table: usize,
}

/// Where a route sends traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Within the VPC, the implied router's `local` route.
    Local,
    InternetGateway,
    /// The NAT gateway numbered so (1-based, as the templates number them).
    Nat(usize),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local => f.write_str("local"),
            Target::InternetGateway => f.write_str("the internet gateway"),
            Target::Nat(n) => write!(f, "NAT gateway {n}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub destination: Cidr,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteTable {
    /// `public`, `private-1`: the template's `PublicRouteTable`, `PrivateRouteTable1`.
    pub name: String,
    pub routes: Vec<Route>,
}

impl RouteTable {
    /// The route for `dest`: the most specific match, as VPC routing picks it.
    pub fn route_for(&self, dest: Cidr) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| r.destination.contains(dest))
            .max_by_key(|r| r.destination.prefix)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nat {
    /// 1-based, as the templates number them.
    pub number: usize,
    /// The public subnet it lives in (index into [`Vpc::subnets`]).
    pub subnet: usize,
}

/// The region's two security groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum GroupId {
    Alb,
    Task,
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupId::Alb => "the ALB's security group",
            GroupId::Task => "the tasks' security group",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
}

impl Protocol {
    /// As CloudFormation spells it (`IpProtocol`).
    pub fn cfn(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
        }
    }
}

/// Whom a security-group rule admits or reaches: an address block, or another group's members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Peer {
    Cidr(Cidr),
    Group(GroupId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SgRule {
    pub description: String,
    pub protocol: Protocol,
    pub from_port: u16,
    pub to_port: u16,
    pub peer: Peer,
}

impl SgRule {
    fn tcp(description: String, port: u16, peer: Peer) -> Self {
        Self {
            description,
            protocol: Protocol::Tcp,
            from_port: port,
            to_port: port,
            peer,
        }
    }

    pub fn covers(&self, port: u16) -> bool {
        (self.from_port..=self.to_port).contains(&port)
    }
}

/// A stateful security group: return traffic of an allowed connection is always allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityGroup {
    pub id: GroupId,
    pub description: String,
    pub ingress: Vec<SgRule>,
    pub egress: Vec<SgRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AclAction {
    Allow,
    Deny,
}

/// A stateless network ACL rule; rules are evaluated by ascending number, the first match decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AclRule {
    /// 1 to 32766; `None` is the final `*` rule every ACL ends with.
    pub number: Option<u16>,
    pub cidr: Cidr,
    /// `None`: every port (the default rules cover all traffic).
    pub ports: Option<(u16, u16)>,
    pub action: AclAction,
}

impl fmt::Display for AclRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.number.map_or("*".to_owned(), |n| n.to_string());
        let action = match self.action {
            AclAction::Allow => "allow",
            AclAction::Deny => "deny",
        };
        match self.ports {
            Some((a, b)) if a == b => write!(f, "rule {number} ({action} {} port {a})", self.cidr),
            Some((a, b)) => write!(f, "rule {number} ({action} {} ports {a}-{b})", self.cidr),
            None => write!(f, "rule {number} ({action} all traffic, {})", self.cidr),
        }
    }
}

/// A network ACL: the VPC's default one, which every subnet uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acl {
    pub ingress: Vec<AclRule>,
    pub egress: Vec<AclRule>,
}

impl Acl {
    /// The default ACL AWS creates with a VPC: rule 100 allows everything, `*` denies the rest.
    pub fn default_rules() -> Self {
        let rules = || {
            vec![
                AclRule {
                    number: Some(100),
                    cidr: Cidr::ANY,
                    ports: None,
                    action: AclAction::Allow,
                },
                AclRule {
                    number: None,
                    cidr: Cidr::ANY,
                    ports: None,
                    action: AclAction::Deny,
                },
            ]
        };
        Self {
            ingress: rules(),
            egress: rules(),
        }
    }

    /// The first rule, by number, that matches traffic with `peer` on `port`.
    pub fn decide(rules: &[AclRule], peer: Cidr, port: u16) -> Option<&AclRule> {
        let mut ordered: Vec<&AclRule> = rules.iter().collect();
        ordered.sort_by_key(|r| r.number.unwrap_or(u16::MAX));
        ordered
            .into_iter()
            .find(|r| r.cidr.contains(peer) && r.ports.is_none_or(|(a, b)| (a..=b).contains(&port)))
    }
}

/// One region's VPC, as the network stack declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vpc {
    pub region: String,
    pub cidr: Cidr,
    pub subnets: Vec<Subnet>,
    pub route_tables: Vec<RouteTable>,
    pub nats: Vec<Nat>,
    pub groups: Vec<SecurityGroup>,
    pub acl: Acl,
    /// The service's port: what the ALB reaches the tasks on.
    pub service_port: u16,
}

impl Vpc {
    /// The network of `region` in `spec`.
    pub fn of(spec: &Spec, region: &Region) -> Self {
        let local = Route {
            destination: region.vpc_cidr,
            target: Target::Local,
        };
        let mut route_tables = vec![RouteTable {
            name: "public".to_owned(),
            routes: vec![
                local.clone(),
                Route {
                    destination: Cidr::ANY,
                    target: Target::InternetGateway,
                },
            ],
        }];
        let mut subnets = Vec::new();
        for (i, cidr) in region.public_subnets.iter().enumerate() {
            subnets.push(Subnet {
                name: format!("public-{}", i + 1),
                tier: Tier::Public,
                az: region.azs.get(i).cloned().unwrap_or_default(),
                cidr: *cidr,
                route_table: 0,
            });
        }
        let nat_count = match region.nat {
            NatMode::Single => 1,
            NatMode::PerAz => region.public_subnets.len(),
        };
        let nats = (1..=nat_count)
            .map(|n| Nat {
                number: n,
                subnet: n - 1,
            })
            .collect();
        // One private route table per AZ, so that per-AZ NAT keeps each AZ's egress in that AZ.
        for (i, cidr) in region.private_subnets.iter().enumerate() {
            let n = i + 1;
            let nat = if nat_count == 1 { 1 } else { n };
            route_tables.push(RouteTable {
                name: format!("private-{n}"),
                routes: vec![
                    local.clone(),
                    Route {
                        destination: Cidr::ANY,
                        target: Target::Nat(nat),
                    },
                ],
            });
            subnets.push(Subnet {
                name: format!("private-{n}"),
                tier: Tier::Private,
                az: region.azs.get(i).cloned().unwrap_or_default(),
                cidr: *cidr,
                route_table: route_tables.len() - 1,
            });
        }
        Self {
            region: region.name.clone(),
            cidr: region.vpc_cidr,
            subnets,
            route_tables,
            nats,
            groups: security_groups(spec),
            acl: Acl::default_rules(),
            service_port: spec.service.port,
        }
    }

    pub fn group(&self, id: GroupId) -> Option<&SecurityGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    pub fn subnet(&self, name: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.name == name)
    }
}

/// The ALB accepts 80 (and 443 with a certificate) from anywhere and reaches tasks only on the
/// container port; tasks accept only the ALB's group, and reach out only over HTTPS (image
/// pulls, logs, parameters).
fn security_groups(spec: &Spec) -> Vec<SecurityGroup> {
    let port = spec.service.port;
    let https = spec.service.load_balancer.certificate_arn.is_some();
    let anywhere = Peer::Cidr(Cidr::ANY);
    let project = &spec.project.name;
    let mut alb_in = vec![SgRule::tcp(
        if https {
            "HTTP from anywhere, answered with a redirect to HTTPS".into()
        } else {
            "HTTP from anywhere: the service's public endpoint".into()
        },
        80,
        anywhere,
    )];
    if https {
        alb_in.push(SgRule::tcp(
            "HTTPS from anywhere: the service's public endpoint".into(),
            443,
            anywhere,
        ));
    }
    let mut groups = vec![
        SecurityGroup {
            id: GroupId::Alb,
            description: format!("{project} ALB: web traffic in, tasks out"),
            ingress: alb_in,
            egress: vec![SgRule::tcp(
                format!("To the tasks on the container port {port}"),
                port,
                Peer::Group(GroupId::Task),
            )],
        },
        SecurityGroup {
            id: GroupId::Task,
            description: format!("{project} tasks: reachable only from the ALB"),
            ingress: vec![SgRule::tcp(
                format!("From the ALB on the container port {port}"),
                port,
                Peer::Group(GroupId::Alb),
            )],
            egress: vec![SgRule::tcp(
                "HTTPS out: image pulls, logs and parameters through the NAT gateway".into(),
                443,
                anywhere,
            )],
        },
    ];
    // The user's own rules (`[[network.rules]]`), after the seed's.
    for r in &spec.network.rules {
        let id = match r.group {
            RuleGroup::Alb => GroupId::Alb,
            RuleGroup::Tasks => GroupId::Task,
        };
        let rule = SgRule {
            description: r.description.clone(),
            protocol: Protocol::Tcp,
            from_port: r.from_port,
            to_port: r.to_port,
            peer: Peer::Cidr(r.cidr),
        };
        if let Some(g) = groups.iter_mut().find(|g| g.id == id) {
            match r.direction {
                RuleDirection::Ingress => g.ingress.push(rule),
                RuleDirection::Egress => g.egress.push(rule),
            }
        }
    }
    groups
}
