//! Reachability from the model: whether a TCP connection from one place to another is allowed,
//! and what decides it, step by step, as AWS's Reachability Analyzer explains a path.

use std::fmt;

use haven_spec::Cidr;
use serde::Serialize;

use crate::model::{Acl, AclAction, GroupId, Peer, Target, Tier, Vpc};

/// Where traffic starts or ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    /// Outside the VPC, beyond the internet gateway.
    Internet,
    /// The ALB's nodes in the public subnets.
    Alb,
    /// The service's tasks in the private subnets.
    Task,
    /// A NAT gateway (no security group: NAT gateways have none).
    Nat,
    /// Anything in this subnet that no security group holds.
    Subnet(String),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Internet => f.write_str("internet"),
            Place::Alb => f.write_str("alb"),
            Place::Task => f.write_str("task"),
            Place::Nat => f.write_str("nat"),
            Place::Subnet(s) => f.write_str(s),
        }
    }
}

/// A place that names nothing in the VPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceError {
    pub given: String,
    pub known: Vec<String>,
}

impl fmt::Display for PlaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a place in the VPC; one of: {}",
            self.given,
            self.known.join(", ")
        )
    }
}

impl std::error::Error for PlaceError {}

impl Place {
    /// `internet`, `alb`, `task`, `nat` or a subnet's name (`public-1`, `private-2`).
    pub fn parse(text: &str, vpc: &Vpc) -> Result<Self, PlaceError> {
        match text {
            "internet" => Ok(Place::Internet),
            "alb" => Ok(Place::Alb),
            "task" => Ok(Place::Task),
            "nat" => Ok(Place::Nat),
            s if vpc.subnet(s).is_some() => Ok(Place::Subnet(s.to_owned())),
            _ => Err(PlaceError {
                given: text.to_owned(),
                known: ["internet", "alb", "task", "nat"]
                    .into_iter()
                    .map(str::to_owned)
                    .chain(vpc.subnets.iter().map(|s| s.name.clone()))
                    .collect(),
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
}

/// One check on the path and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What was checked: `route`, `network ACL`, `security group egress`, ...
    pub check: String,
    pub decision: Decision,
    /// What decided it: the route, the rule, or why nothing allows it.
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub from: String,
    pub to: String,
    pub port: u16,
    pub allowed: bool,
    pub steps: Vec<Step>,
}

/// One end of the path: the subnet it is in (none: the internet), and its security group.
struct End {
    subnet: Option<usize>,
    group: Option<GroupId>,
    /// The address block it is seen from: its subnet's, or anywhere for the internet.
    cidr: Cidr,
}

fn end(vpc: &Vpc, place: &Place) -> End {
    let first = |tier: Tier| vpc.subnets.iter().position(|s| s.tier == tier);
    let (subnet, group) = match place {
        Place::Internet => (None, None),
        Place::Alb => (first(Tier::Public), Some(GroupId::Alb)),
        Place::Task => (first(Tier::Private), Some(GroupId::Task)),
        Place::Nat => (vpc.nats.first().map(|n| n.subnet), None),
        Place::Subnet(name) => (vpc.subnets.iter().position(|s| s.name == *name), None),
    };
    let cidr = subnet.map_or(Cidr::ANY, |i| vpc.subnets[i].cidr);
    End {
        subnet,
        group,
        cidr,
    }
}

/// Whether `from` can open a TCP connection to `to` on `port`, and every check on the way.
pub fn reach(vpc: &Vpc, from: &Place, to: &Place, port: u16) -> Verdict {
    let (a, b) = (end(vpc, from), end(vpc, to));
    let mut steps = Vec::new();
    let mut step = |check: &str, decision: Decision, by: String| {
        steps.push(Step {
            check: check.to_owned(),
            decision,
            by,
        });
        decision == Decision::Allow
    };
    let allowed = route(vpc, &a, &b, &mut step)
        && acl(vpc, &a, &b, port, &mut step)
        && groups(vpc, &a, &b, port, &mut step);
    Verdict {
        from: from.to_string(),
        to: to.to_string(),
        port,
        allowed,
        steps,
    }
}

type StepFn<'a> = dyn FnMut(&str, Decision, String) -> bool + 'a;

fn route(vpc: &Vpc, a: &End, b: &End, step: &mut StepFn<'_>) -> bool {
    match (a.subnet, b.subnet) {
        (Some(s), Some(_)) => {
            let table = &vpc.route_tables[vpc.subnets[s].route_table];
            match table.route_for(b.cidr) {
                Some(r) => step(
                    "route",
                    Decision::Allow,
                    format!(
                        "{} → {} in route table {}",
                        r.destination, r.target, table.name
                    ),
                ),
                None => step(
                    "route",
                    Decision::Deny,
                    format!("route table {} has no route to {}", table.name, b.cidr),
                ),
            }
        }
        (Some(s), None) => {
            let table = &vpc.route_tables[vpc.subnets[s].route_table];
            match table.route_for(b.cidr) {
                Some(r) if r.target != Target::Local => step(
                    "route",
                    Decision::Allow,
                    format!(
                        "{} → {} in route table {}",
                        r.destination, r.target, table.name
                    ),
                ),
                _ => step(
                    "route",
                    Decision::Deny,
                    format!("route table {} has no route out of the VPC", table.name),
                ),
            }
        }
        (None, Some(s)) => {
            // From outside, only what has a public address behind the internet gateway: the
            // ALB's nodes (and NAT gateways, which accept nothing unsolicited).
            let subnet = &vpc.subnets[s];
            let public = subnet.tier == Tier::Public && b.group == Some(GroupId::Alb);
            if public {
                step(
                    "route",
                    Decision::Allow,
                    format!(
                        "the internet gateway → the ALB's public address in {}",
                        subnet.name
                    ),
                )
            } else {
                step(
                    "route",
                    Decision::Deny,
                    format!(
                        "nothing in {} has a public address: the internet gateway has no route to it",
                        subnet.name
                    ),
                )
            }
        }
        (None, None) => step(
            "route",
            Decision::Deny,
            "both ends are outside the VPC".into(),
        ),
    }
}

fn acl(vpc: &Vpc, a: &End, b: &End, port: u16, step: &mut StepFn<'_>) -> bool {
    // Stateless: the request leaves a's subnet and enters b's; the reply goes back (ephemeral
    // ports) the other way. Within one subnet no ACL applies.
    if a.subnet.is_some() && a.subnet == b.subnet {
        return step(
            "network ACL",
            Decision::Allow,
            "same subnet: no ACL applies".into(),
        );
    }
    let checks = [
        (
            a.subnet.is_some(),
            "network ACL egress",
            &vpc.acl.egress,
            b.cidr,
            Some(port),
        ),
        (
            b.subnet.is_some(),
            "network ACL ingress",
            &vpc.acl.ingress,
            a.cidr,
            Some(port),
        ),
        (
            b.subnet.is_some(),
            "network ACL egress (reply)",
            &vpc.acl.egress,
            a.cidr,
            None,
        ),
        (
            a.subnet.is_some(),
            "network ACL ingress (reply)",
            &vpc.acl.ingress,
            b.cidr,
            None,
        ),
    ];
    for (applies, check, rules, peer, port) in checks {
        if !applies {
            continue;
        }
        // Replies go to an ephemeral port: 1024-65535 is what a rule must cover.
        let port = port.unwrap_or(1024);
        match Acl::decide(rules, peer, port) {
            Some(rule) if rule.action == AclAction::Allow => {
                step(check, Decision::Allow, rule.to_string());
            }
            Some(rule) => return step(check, Decision::Deny, rule.to_string()),
            None => return step(check, Decision::Deny, "no rule matches".into()),
        }
    }
    true
}

fn groups(vpc: &Vpc, a: &End, b: &End, port: u16, step: &mut StepFn<'_>) -> bool {
    let matches = |peer: &Peer, other: &End| match peer {
        Peer::Cidr(c) => c.contains(other.cidr),
        Peer::Group(g) => other.group == Some(*g),
    };
    if let Some(g) = a.group.and_then(|id| vpc.group(id)) {
        match g
            .egress
            .iter()
            .find(|r| r.covers(port) && matches(&r.peer, b))
        {
            Some(r) => step(
                "security group egress",
                Decision::Allow,
                format!("{}: {}", g.id, r.description),
            ),
            None => {
                return step(
                    "security group egress",
                    Decision::Deny,
                    format!("{} has no egress rule for port {port} to {}", g.id, b.cidr),
                );
            }
        };
    }
    if let Some(g) = b.group.and_then(|id| vpc.group(id)) {
        match g
            .ingress
            .iter()
            .find(|r| r.covers(port) && matches(&r.peer, a))
        {
            Some(r) => step(
                "security group ingress",
                Decision::Allow,
                format!("{}: {}", g.id, r.description),
            ),
            None => {
                return step(
                    "security group ingress",
                    Decision::Deny,
                    format!(
                        "{} has no ingress rule for port {port} from {}",
                        g.id,
                        match a.group {
                            Some(src) => src.to_string(),
                            None => a.cidr.to_string(),
                        }
                    ),
                );
            }
        };
    }
    // Stateful: the reply of an allowed connection is allowed.
    true
}
