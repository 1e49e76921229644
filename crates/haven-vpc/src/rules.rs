//! The nftables rule sets, written from the haven-net model: a node's security group (stateful,
//! group peers as sets of member addresses), the router's network ACL per subnet (stateless, by
//! rule number), the NAT gateway's masquerade. Every decision has a named counter, so rejects are
//! counted per rule.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use haven_net::{AclAction, AclRule, GroupId, Peer, SecurityGroup, SgRule, Vpc as Model};
use haven_spec::Cidr;

/// Appends a formatted line to a `String` (which, unlike `writeln!`, has no error to drop).
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}

/// A named counter and the rule it counts, as people read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CounterRule {
    pub name: String,
    pub rule: String,
}

/// The nftables set holding a group's members.
pub(crate) fn set_name(group: GroupId) -> &'static str {
    match group {
        GroupId::Alb => "group_alb",
        GroupId::Task => "group_task",
    }
}

/// The groups a group's rules name as peers: their sets live in its members' tables.
pub(crate) fn referenced(group: &SecurityGroup) -> BTreeSet<GroupId> {
    group
        .ingress
        .iter()
        .chain(&group.egress)
        .filter_map(|r| match r.peer {
            Peer::Group(g) => Some(g),
            Peer::Cidr(_) => None,
        })
        .collect()
}

fn ports(rule: &SgRule) -> String {
    if rule.from_port == rule.to_port {
        format!("{} dport {}", rule.protocol.cfn(), rule.from_port)
    } else {
        format!(
            "{} dport {}-{}",
            rule.protocol.cfn(),
            rule.from_port,
            rule.to_port
        )
    }
}

fn peer(rule: &SgRule, direction: &str) -> String {
    match rule.peer {
        Peer::Cidr(c) if c.prefix == 0 => String::new(),
        Peer::Cidr(c) => format!("ip {direction} {c} "),
        Peer::Group(g) => format!("ip {direction} @{} ", set_name(g)),
    }
}

/// Replaces a set's members (one transaction with the rest of `out`).
pub(crate) fn set_members(out: &mut String, table: &str, group: GroupId, members: &[Ipv4Addr]) {
    let set = set_name(group);
    put!(out, "flush set inet {table} {set}");
    if !members.is_empty() {
        let list = members
            .iter()
            .map(Ipv4Addr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        put!(out, "add element inet {table} {set} {{ {list} }}");
    }
}

/// A member's security-group table: input and output chains that drop by default, allow
/// established and related traffic (security groups are stateful) and loopback, then the group's
/// rules, each with its counter; the last rule counts what falls to the drop policy.
pub(crate) fn security_group(
    table: &str,
    group: &SecurityGroup,
    members: &dyn Fn(GroupId) -> Vec<Ipv4Addr>,
) -> (String, Vec<CounterRule>) {
    let mut counters = Vec::new();
    let mut chains = String::new();
    for (hook, direction, rules, lo, label) in [
        ("input", "saddr", &group.ingress, "iif", "ingress"),
        ("output", "daddr", &group.egress, "oif", "egress"),
    ] {
        let short = if hook == "input" { "in" } else { "out" };
        put!(
            chains,
            "  chain {hook} {{\n    type filter hook {hook} priority filter; policy drop;\n    \
             ct state established,related accept\n    {lo} \"lo\" accept"
        );
        for (i, rule) in rules.iter().enumerate() {
            let name = format!("sg_{short}_{i}");
            put!(
                chains,
                "    {}{} counter name \"{name}\" accept",
                peer(rule, direction),
                ports(rule)
            );
            counters.push(CounterRule {
                name,
                rule: format!("{} {label}: {}", group.id, rule.description),
            });
        }
        let name = format!("sg_{short}_reject");
        put!(chains, "    counter name \"{name}\" drop\n  }}");
        counters.push(CounterRule {
            name,
            rule: format!("{} {label}: no rule allows it", group.id),
        });
    }
    let mut out = format!("table inet {table} {{\n");
    for c in &counters {
        put!(out, "  counter {} {{ }}", c.name);
    }
    let groups = referenced(group);
    for g in &groups {
        put!(out, "  set {} {{ type ipv4_addr; }}", set_name(*g));
    }
    out.push_str(&chains);
    out.push_str("}\n");
    for g in groups {
        set_members(&mut out, table, g, &members(g));
    }
    (out, counters)
}

fn acl_rule(rule: &AclRule, direction: &str, counter: &str) -> String {
    let peer = if rule.cidr.prefix == 0 {
        String::new()
    } else {
        format!("ip {direction} {} ", rule.cidr)
    };
    let ports = match rule.ports {
        Some((a, b)) if a == b => format!("tcp dport {a} "),
        Some((a, b)) => format!("tcp dport {a}-{b} "),
        None => String::new(),
    };
    // An allow returns to the forward chain, so the other subnet's ACL still decides.
    let verdict = match rule.action {
        AclAction::Allow => "return",
        AclAction::Deny => "drop",
    };
    format!("    {peer}{ports}counter name \"{counter}\" {verdict}\n")
}

/// The router's ACL table: traffic leaving a subnet (from its bridge) meets the outbound rules,
/// traffic entering one (to its bridge) the inbound rules, by ascending rule number, the first
/// match deciding; traffic within a subnet is bridged and meets neither, as on AWS.
pub(crate) fn acl(
    table: &str,
    model: &Model,
    bridges: &[(String, String)],
) -> (String, Vec<CounterRule>) {
    let mut counters = Vec::new();
    let mut chains = String::new();
    let mut forward = String::new();
    for (i, (subnet, bridge)) in bridges.iter().enumerate() {
        let slug = subnet.replace('-', "_");
        for (label, short, direction, rules, meta) in [
            ("outbound", "out", "daddr", &model.acl.egress, "iifname"),
            ("inbound", "in", "saddr", &model.acl.ingress, "oifname"),
        ] {
            let chain = format!("acl_{short}_{i}");
            put!(forward, "    {meta} \"{bridge}\" jump {chain}");
            put!(chains, "  chain {chain} {{");
            let mut ordered: Vec<&AclRule> = rules.iter().collect();
            ordered.sort_by_key(|r| r.number.unwrap_or(u16::MAX));
            for rule in ordered {
                let number = rule.number.map_or("all".to_owned(), |n| n.to_string());
                let name = format!("acl_{short}_{slug}_r{number}");
                chains.push_str(&acl_rule(rule, direction, &name));
                counters.push(CounterRule {
                    name,
                    rule: format!("network ACL {label} {rule} on {subnet}"),
                });
            }
            chains.push_str("  }\n");
        }
    }
    let mut out = format!("table inet {table} {{\n");
    for c in &counters {
        put!(out, "  counter {} {{ }}", c.name);
    }
    out.push_str(&chains);
    out.push_str(&format!(
        "  chain forward {{\n    type filter hook forward priority filter; policy accept;\n{forward}  }}\n}}\n"
    ));
    (out, counters)
}

/// The NAT gateway: what the VPC sends beyond itself leaves with the gateway's address.
pub(crate) fn nat(table: &str, vpc: Cidr) -> String {
    format!(
        "table ip {table} {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    \
         ip saddr {vpc} ip daddr != {vpc} masquerade\n  }}\n}}\n"
    )
}

/// `(name, packets, bytes)` of every named counter in `nft -j list counters` output.
pub(crate) fn parse_counters(json: &str) -> Result<Vec<(String, u64, u64)>, serde_json::Error> {
    let doc: serde_json::Value = serde_json::from_str(json)?;
    let mut found = Vec::new();
    for item in doc
        .get("nftables")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(c) = item.get("counter") {
            let name = c.get("name").and_then(|v| v.as_str()).unwrap_or_default();
            let packets = c.get("packets").and_then(|v| v.as_u64()).unwrap_or(0);
            let bytes = c.get("bytes").and_then(|v| v.as_u64()).unwrap_or(0);
            found.push((name.to_owned(), packets, bytes));
        }
    }
    Ok(found)
}
