//! `[[network.rules]]`: security group rules of the user's own, validated as AWS validates them.

use crate::cidr::Cidr;
use crate::model::*;
use crate::schema;

use super::Ctx;

/// The characters AWS accepts in a security group rule's description.
fn description_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

impl Ctx<'_, '_> {
    pub(super) fn network(&mut self, n: schema::NetworkSection) -> NetworkSpec {
        let mut rules = Vec::new();
        for (i, r) in n.rules.unwrap_or_default().into_iter().enumerate() {
            let k = |s: &str| format!("network.rules[{i}].{s}");
            let group = match r.group {
                Some(g) => self.choice(
                    &k("group"),
                    Some(g),
                    RuleGroup::Tasks,
                    &[("tasks", RuleGroup::Tasks), ("alb", RuleGroup::Alb)],
                ),
                None => {
                    self.r.error_hint(
                        "missing-key",
                        &k("group"),
                        "the rule names no security group",
                        "`tasks` or `alb`",
                    );
                    RuleGroup::Tasks
                }
            };
            let direction = match r.direction {
                Some(d) => self.choice(
                    &k("direction"),
                    Some(d),
                    RuleDirection::Ingress,
                    &[
                        ("ingress", RuleDirection::Ingress),
                        ("egress", RuleDirection::Egress),
                    ],
                ),
                None => {
                    self.r.error_hint(
                        "missing-key",
                        &k("direction"),
                        "the rule names no direction",
                        "`ingress` or `egress`",
                    );
                    RuleDirection::Ingress
                }
            };
            let (from_port, to_port) = match r.ports.as_deref().map(parse_ports) {
                Some(Ok(p)) => p,
                Some(Err(why)) => {
                    self.r.error_hint(
                        "bad-ports",
                        &k("ports"),
                        why,
                        "a TCP port or a range, e.g. `5432` or `9000-9100`",
                    );
                    (1, 1)
                }
                None => {
                    self.r.error_hint(
                        "missing-key",
                        &k("ports"),
                        "the rule names no ports",
                        "a TCP port or a range, e.g. `5432` or `9000-9100`",
                    );
                    (1, 1)
                }
            };
            let cidr = match r.cidr.as_deref().map(Cidr::parse) {
                Some(Ok(c)) => c,
                Some(Err(why)) => {
                    self.r
                        .error_hint("bad-cidr", &k("cidr"), why, "e.g. `10.0.0.0/16`");
                    Cidr::ANY
                }
                None => {
                    self.r.error_hint(
                        "missing-key",
                        &k("cidr"),
                        "the rule names no address block",
                        "the addresses it admits or reaches, e.g. `10.0.0.0/16`",
                    );
                    Cidr::ANY
                }
            };
            let description = r.description.unwrap_or_default();
            if description.is_empty() {
                self.r.error_hint(
                    "missing-key",
                    &k("description"),
                    "the rule has no description",
                    "say what it is for, e.g. `To the database`",
                );
            } else if description.len() > 255 || !description.chars().all(description_char) {
                self.r.error_hint(
                    "bad-description",
                    &k("description"),
                    format!("`{description}` is not a description AWS accepts"),
                    "1 to 255 of letters, digits, spaces and ._-:/()#,@[]+=&;{}!$*",
                );
            }
            rules.push(NetworkRule {
                group,
                direction,
                from_port,
                to_port,
                cidr,
                description,
            });
        }
        NetworkSpec { rules }
    }
}

/// `5432` or `9000-9100`, each from 1 to 65535, the first not above the second.
fn parse_ports(text: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| -> Result<u16, String> {
        p.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{p}` is not a port from 1 to 65535"))
    };
    let (a, b) = match text.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(text)?;
            (p, p)
        }
    };
    if a > b {
        return Err(format!("`{text}` runs backwards"));
    }
    Ok((a, b))
}
