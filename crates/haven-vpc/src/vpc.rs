//! Building, changing and removing one region's VPC: namespaces, veths, bridges, addresses,
//! route tables and rules, NAT gateways, attached nodes, and their nftables tables.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use haven_net::{GroupId, Target, Tier, Vpc as Model};
use haven_spec::Cidr;

use crate::Error;
use crate::names::{self, IGW_INTERNET, IGW_PREFIX, IGW_ROUTER, INTERNET_HOST, Names};
use crate::rules::{self, CounterRule};
use crate::run::{ip_batch, nft, run, sysctl};

/// What an attached node is: its security group follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// An ALB node (the ALB's security group).
    Alb,
    /// A task in awsvpc mode (the tasks' security group).
    Task,
    /// A test or diagnostic node in no security group: nothing filters it.
    Probe,
}

impl NodeKind {
    pub fn group(self) -> Option<GroupId> {
        match self {
            NodeKind::Alb => Some(GroupId::Alb),
            NodeKind::Task => Some(GroupId::Task),
            NodeKind::Probe => None,
        }
    }
}

/// A node attached to a subnet: its own namespace, `eth0` with an address of the subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    pub subnet: String,
    pub namespace: String,
    pub addr: Ipv4Addr,
    /// The router's end of the node's veth (`p<N>`).
    port: u32,
}

/// A NAT gateway's namespace and address (in its public subnet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nat {
    pub number: usize,
    pub subnet: String,
    pub namespace: String,
    pub addr: Ipv4Addr,
    port: u32,
}

/// One named nftables counter: where it is, the rule it counts, and what it counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub namespace: String,
    /// The node whose security group holds it; `None` for the router's network ACL.
    pub node: Option<String>,
    /// `sg_in_0`, `sg_in_reject`, `acl_in_private_1_r100`, …
    pub name: String,
    /// The rule, as people read it (the model's description, or the ACL rule).
    pub rule: String,
    pub packets: u64,
    pub bytes: u64,
}

/// What is left of an instance prefix on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Namespaces under /run/netns named `PREFIX-…`.
    pub namespaces: Vec<String>,
    /// Links in the host's namespace whose name starts with the prefix.
    pub links: Vec<String>,
    /// nftables tables in the host's namespace named `PREFIX_…`.
    pub tables: Vec<String>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.namespaces.is_empty() && self.links.is_empty() && self.tables.is_empty()
    }
}

/// One region's VPC, built as namespaces. Dropping it without [`Vpc::destroy`] removes what it
/// built, best effort.
#[derive(Debug)]
pub struct Vpc {
    model: Model,
    names: Names,
    /// AZs whose subnets `set_blackhole` cut.
    blackholed: std::collections::BTreeSet<String>,
    nats: Vec<Nat>,
    nodes: BTreeMap<String, Node>,
    /// Addresses in use, per subnet (index as in the model).
    used: Vec<BTreeSet<Ipv4Addr>>,
    next_port: u32,
    sg_counters: BTreeMap<GroupId, Vec<CounterRule>>,
    acl_counters: Vec<CounterRule>,
    destroyed: bool,
}

fn network(c: Cidr) -> u32 {
    let mask = if c.prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(c.prefix))
    };
    u32::from(c.addr) & mask
}

fn broadcast(c: Cidr) -> u32 {
    network(c) | (u32::MAX.checked_shr(u32::from(c.prefix)).unwrap_or(0))
}

/// The subnet's router address: AWS reserves `.1` for it.
fn gateway(c: Cidr) -> Ipv4Addr {
    Ipv4Addr::from(network(c) + 1)
}

fn table_id(route_table: usize) -> usize {
    100 + route_table
}

impl Vpc {
    /// Builds `model`'s VPC under instance prefix `prefix`: the router, the internet side, the
    /// NAT gateways, the route tables and the network ACL. On failure, what was built is removed.
    pub fn create(prefix: &str, model: &Model) -> Result<Self, Error> {
        let names = Names::new(prefix, &model.region)?;
        let mut vpc = Self {
            model: model.clone(),
            names,
            blackholed: BTreeSet::new(),
            nats: Vec::new(),
            nodes: BTreeMap::new(),
            used: vec![BTreeSet::new(); model.subnets.len()],
            next_port: 0,
            sg_counters: BTreeMap::new(),
            acl_counters: Vec::new(),
            destroyed: false,
        };
        for g in &model.groups {
            // Counter names do not depend on the table; written again per member.
            let (_, counters) = rules::security_group("t", g, &|_| Vec::new());
            vpc.sg_counters.insert(g.id, counters);
        }
        match vpc.build() {
            Ok(()) => Ok(vpc),
            Err(e) => {
                if let Err(cleanup) = vpc.teardown() {
                    return Err(Error::BuildAndCleanup {
                        build: Box::new(e),
                        cleanup: Box::new(cleanup),
                    });
                }
                vpc.destroyed = true;
                Err(e)
            }
        }
    }

    fn build(&mut self) -> Result<(), Error> {
        for table in &self.model.route_tables {
            for route in &table.routes {
                if let Target::Nat(n) = route.target
                    && !self.model.nats.iter().any(|m| m.number == n)
                {
                    return Err(Error::RouteToMissingNat(table.name.clone(), n));
                }
            }
        }
        let router = self.names.router();
        let internet = self.names.internet();
        run("ip", &["netns", "add", &router], None)?;
        run("ip", &["netns", "add", &internet], None)?;
        // Forwarding on; no reverse-path filter (policy routing makes paths asymmetric to it);
        // no redirects (the router is every subnet's only gateway).
        sysctl(
            &router,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.default.send_redirects=0",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        )?;
        run(
            "ip",
            &[
                "link", "add", "name", "igw", "netns", &router, "type", "veth", "peer", "name",
                "vpc", "netns", &internet,
            ],
            None,
        )?;
        let mut lines = vec!["link set lo up".to_owned()];
        for (i, s) in self.model.subnets.iter().enumerate() {
            let br = Names::bridge(i);
            lines.push(format!("link add {br} type bridge"));
            lines.push(format!(
                "addr add {}/{} dev {br}",
                gateway(s.cidr),
                s.cidr.prefix
            ));
            lines.push(format!("link set {br} up"));
        }
        lines.push(format!("addr add {IGW_ROUTER}/{IGW_PREFIX} dev igw"));
        lines.push("link set igw up".into());
        ip_batch(&router, &lines)?;

        let mut lines = vec![
            "link set lo up".to_owned(),
            format!("addr add {INTERNET_HOST}/32 dev lo"),
            format!("addr add {IGW_INTERNET}/{IGW_PREFIX} dev vpc"),
            "link set vpc up".into(),
        ];
        // Only the public subnets: a private address is not reachable from the internet.
        for s in self.model.subnets.iter().filter(|s| s.tier == Tier::Public) {
            lines.push(format!("route add {} via {IGW_ROUTER}", s.cidr));
        }
        ip_batch(&internet, &lines)?;

        for nat in self.model.nats.clone() {
            self.add_nat(nat.number, nat.subnet)?;
        }
        self.route_tables()?;

        let bridges: Vec<(String, String)> = self
            .model
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), Names::bridge(i)))
            .collect();
        let (text, counters) = rules::acl(&self.names.acl_table(), &self.model, &bridges);
        nft(&router, &text)?;
        self.acl_counters = counters;
        Ok(())
    }

    /// One kernel route table per model route table, and a rule sending each subnet's traffic
    /// (by the bridge it arrives on) to its table. Traffic from the internet gateway uses the
    /// main table (the connected subnets), as the VPC's local route does.
    fn route_tables(&self) -> Result<(), Error> {
        let mut lines = Vec::new();
        for (k, table) in self.model.route_tables.iter().enumerate() {
            let id = table_id(k);
            for route in &table.routes {
                match route.target {
                    Target::Local => {
                        for (j, s) in self.model.subnets.iter().enumerate() {
                            if route.destination.contains(s.cidr) {
                                lines.push(format!(
                                    "route add {} dev {} table {id}",
                                    s.cidr,
                                    Names::bridge(j)
                                ));
                            }
                        }
                        // The rest of the VPC's block holds no subnet: nothing to reach there.
                        lines.push(format!(
                            "route add unreachable {} table {id}",
                            route.destination
                        ));
                    }
                    Target::InternetGateway => lines.push(format!(
                        "route add {} via {IGW_INTERNET} dev igw table {id}",
                        route.destination
                    )),
                    Target::Nat(n) => {
                        let nat = self.nat(n).ok_or(Error::NoNat(n))?;
                        let j = self.subnet_index(&nat.subnet)?;
                        lines.push(format!(
                            "route add {} via {} dev {} table {id}",
                            route.destination,
                            nat.addr,
                            Names::bridge(j)
                        ));
                    }
                }
            }
        }
        for (i, s) in self.model.subnets.iter().enumerate() {
            lines.push(format!(
                "rule add iif {} lookup {} priority {}",
                Names::bridge(i),
                table_id(s.route_table),
                1000 + i
            ));
        }
        ip_batch(&self.names.router(), &lines)
    }

    fn subnet_index(&self, name: &str) -> Result<usize, Error> {
        self.model
            .subnets
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::NoSubnet(name.to_owned()))
    }

    /// The next free address: AWS reserves the first four and the last of every subnet.
    fn allocate(&mut self, subnet: usize) -> Result<Ipv4Addr, Error> {
        let s = &self.model.subnets[subnet];
        let (first, last) = (network(s.cidr) + 4, broadcast(s.cidr));
        let used = &mut self.used[subnet];
        let addr = (first..last)
            .map(Ipv4Addr::from)
            .find(|a| !used.contains(a))
            .ok_or_else(|| Error::SubnetFull(s.name.clone()))?;
        used.insert(addr);
        Ok(addr)
    }

    /// A namespace with `eth0` in subnet `subnet`, plugged into its bridge, default route via
    /// the subnet's `.1`. Returns the router's port number.
    fn plug(&mut self, namespace: &str, subnet: usize, addr: Ipv4Addr) -> Result<u32, Error> {
        let router = self.names.router();
        let port = self.next_port;
        self.next_port += 1;
        let port_name = Names::port(port);
        let cidr = self.model.subnets[subnet].cidr;
        run("ip", &["netns", "add", namespace], None)?;
        // The VPC is IPv4 only: no IPv6 link-local chatter for the security group to count.
        sysctl(
            namespace,
            &[
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        )?;
        run(
            "ip",
            &[
                "link", "add", "name", "eth0", "netns", namespace, "type", "veth", "peer", "name",
                &port_name, "netns", &router,
            ],
            None,
        )?;
        ip_batch(
            namespace,
            &[
                "link set lo up".into(),
                format!("addr add {addr}/{} dev eth0", cidr.prefix),
                "link set eth0 up".into(),
                format!("route add default via {}", gateway(cidr)),
            ],
        )?;
        ip_batch(
            &router,
            &[format!(
                "link set {port_name} master {} up",
                Names::bridge(subnet)
            )],
        )?;
        Ok(port)
    }

    fn add_nat(&mut self, number: usize, subnet: usize) -> Result<(), Error> {
        let namespace = self.names.nat(number);
        let addr = self.allocate(subnet)?;
        let port = self.plug(&namespace, subnet, addr)?;
        // The NAT sends what it translates back out the way it came: no redirects about it.
        sysctl(
            &namespace,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.eth0.send_redirects=0",
            ],
        )?;
        nft(
            &namespace,
            &rules::nat(&self.names.nat_table(), self.model.cidr),
        )?;
        self.nats.push(Nat {
            number,
            subnet: self.model.subnets[subnet].name.clone(),
            namespace,
            addr,
            port,
        });
        Ok(())
    }

    /// Attaches a node named `name` to `subnet`: its namespace, the subnet's next free address,
    /// and its group's rules (with every group set its rules name up to date); the sets of the
    /// members whose rules name its group gain its address.
    pub fn attach(&mut self, kind: NodeKind, subnet: &str, name: &str) -> Result<Node, Error> {
        names::check_node(name)?;
        if self.nodes.contains_key(name) {
            return Err(Error::NodeExists(name.to_owned()));
        }
        let index = self.subnet_index(subnet)?;
        let namespace = self.names.node(name);
        let addr = self.allocate(index)?;
        let result = self.attach_in(kind, index, name, &namespace, addr);
        if result.is_err() {
            self.used[index].remove(&addr);
            self.nodes.remove(name);
            // The attach's error is the one to report; the namespace may not even exist.
            if let Err(e) = run("ip", &["netns", "del", &namespace], None) {
                note(&e);
            }
        }
        result
    }

    fn attach_in(
        &mut self,
        kind: NodeKind,
        index: usize,
        name: &str,
        namespace: &str,
        addr: Ipv4Addr,
    ) -> Result<Node, Error> {
        let port = self.plug(namespace, index, addr)?;
        let node = Node {
            name: name.to_owned(),
            kind,
            subnet: self.model.subnets[index].name.clone(),
            namespace: namespace.to_owned(),
            addr,
            port,
        };
        self.nodes.insert(name.to_owned(), node.clone());
        if let Some(group) = kind.group().and_then(|g| self.model.group(g)) {
            let (text, _) =
                rules::security_group(&self.names.sg_table(), group, &|g| self.members(g));
            nft(namespace, &text)?;
        }
        if let Some(g) = kind.group() {
            self.refresh_sets(g, Some(name))?;
        }
        Ok(node)
    }

    /// Detaches `node`: its veth and namespace go, and its address leaves every set holding it.
    pub fn detach(&mut self, node: &Node) -> Result<(), Error> {
        let node = self
            .nodes
            .remove(&node.name)
            .ok_or_else(|| Error::NoNode(node.name.clone()))?;
        if let Ok(index) = self.subnet_index(&node.subnet) {
            self.used[index].remove(&node.addr);
        }
        // Deleting the router's end removes the pair even if a socket keeps the namespace alive.
        ip_batch(
            &self.names.router(),
            &[format!("link del {}", Names::port(node.port))],
        )?;
        run("ip", &["netns", "del", &node.namespace], None)?;
        if let Some(g) = node.kind.group() {
            self.refresh_sets(g, None)?;
        }
        Ok(())
    }

    /// The addresses of `group`'s members.
    fn members(&self, group: GroupId) -> Vec<Ipv4Addr> {
        self.nodes
            .values()
            .filter(|n| n.kind.group() == Some(group))
            .map(|n| n.addr)
            .collect()
    }

    /// Brings `group`'s set up to date in every member namespace whose rules name it (except
    /// `skip`, whose table was just written whole).
    fn refresh_sets(&self, group: GroupId, skip: Option<&str>) -> Result<(), Error> {
        let members = self.members(group);
        let table = self.names.sg_table();
        for node in self.nodes.values() {
            if Some(node.name.as_str()) == skip {
                continue;
            }
            let Some(own) = node.kind.group().and_then(|g| self.model.group(g)) else {
                continue;
            };
            if rules::referenced(own).contains(&group) {
                let mut text = String::new();
                rules::set_members(&mut text, &table, group, &members);
                nft(&node.namespace, &text)?;
            }
        }
        Ok(())
    }

    /// Every named counter: the router's network ACL, then each member's security group.
    pub fn counters(&self) -> Result<Vec<Counter>, Error> {
        let mut found = Vec::new();
        let router = self.names.router();
        let read = |namespace: &str, table: &str| -> Result<Vec<(String, u64, u64)>, Error> {
            let json = run(
                "ip",
                &[
                    "netns", "exec", namespace, "nft", "-j", "list", "counters", "table", "inet",
                    table,
                ],
                None,
            )?;
            Ok(rules::parse_counters(&json)?)
        };
        for (name, packets, bytes) in read(&router, &self.names.acl_table())? {
            let rule = self
                .acl_counters
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.rule.clone())
                .unwrap_or_default();
            found.push(Counter {
                namespace: router.clone(),
                node: None,
                name,
                rule,
                packets,
                bytes,
            });
        }
        for node in self.nodes.values() {
            let Some(group) = node.kind.group() else {
                continue;
            };
            let described = self.sg_counters.get(&group);
            for (name, packets, bytes) in read(&node.namespace, &self.names.sg_table())? {
                let rule = described
                    .and_then(|d| d.iter().find(|c| c.name == name))
                    .map(|c| c.rule.clone())
                    .unwrap_or_default();
                found.push(Counter {
                    namespace: node.namespace.clone(),
                    node: Some(node.name.clone()),
                    name,
                    rule,
                    packets,
                    bytes,
                });
            }
        }
        Ok(found)
    }

    /// Cuts every subnet of `az` off, or brings them back, as FIS's network disruption of an
    /// AZ's subnets does: the router drops everything that enters or leaves their bridges
    /// (the AZ's NAT gateway included). A table of its own in the router, rebuilt from the
    /// AZs cut, so that healing one leaves the others cut. Returns the subnets cut now.
    pub fn set_blackhole(&mut self, az: &str, on: bool) -> Result<usize, Error> {
        if on {
            self.blackholed.insert(az.to_owned());
        } else {
            self.blackholed.remove(az);
        }
        let bridges: Vec<String> = self
            .model
            .subnets
            .iter()
            .enumerate()
            .filter(|(_, s)| self.blackholed.contains(&s.az))
            .map(|(i, _)| format!("\"{}\"", Names::bridge(i)))
            .collect();
        let table = format!("{}_chaos", self.names.prefix);
        // Created empty first, so the delete never fails on a table that is not there.
        let mut ruleset = format!("table inet {table} {{}}\ndelete table inet {table}\n");
        if !bridges.is_empty() {
            let set = bridges.join(", ");
            ruleset.push_str(&format!(
                "table inet {table} {{\n  chain forward {{\n    type filter hook forward priority -10; policy accept;\n    iifname {{ {set} }} drop\n    oifname {{ {set} }} drop\n  }}\n}}\n"
            ));
        }
        nft(&self.names.router(), &ruleset)?;
        Ok(bridges.len())
    }

    /// Sets NAT gateway `number`'s link up or down (an AZ's NAT lost, and back).
    pub fn set_nat_link(&self, number: usize, up: bool) -> Result<(), Error> {
        let nat = self.nat(number).ok_or(Error::NoNat(number))?;
        let state = if up { "up" } else { "down" };
        ip_batch(&nat.namespace, &[format!("link set eth0 {state}")])
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn nat(&self, number: usize) -> Option<&Nat> {
        self.nats.iter().find(|n| n.number == number)
    }

    pub fn nats(&self) -> &[Nat] {
        &self.nats
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// The router's namespace.
    pub fn router_namespace(&self) -> String {
        self.names.router()
    }

    /// The internet side's namespace, where [`INTERNET_HOST`] lives.
    pub fn internet_namespace(&self) -> String {
        self.names.internet()
    }

    /// Every namespace this VPC has now.
    pub fn namespaces(&self) -> Vec<String> {
        let mut all = vec![self.names.router(), self.names.internet()];
        all.extend(self.nats.iter().map(|n| n.namespace.clone()));
        all.extend(self.nodes.values().map(|n| n.namespace.clone()));
        all
    }

    /// Removes every namespace of this VPC (and so every veth and nftables table in them).
    pub fn destroy(mut self) -> Result<(), Error> {
        self.destroyed = true;
        self.teardown()
    }

    fn teardown(&mut self) -> Result<(), Error> {
        // The router's ends first: a pair goes with either end, even if a socket still holds
        // the node's namespace.
        let router = self.names.router();
        let mut ports: Vec<String> = self
            .nodes
            .values()
            .map(|n| n.port)
            .chain(self.nats.iter().map(|n| n.port))
            .map(|p| format!("link del {}", Names::port(p)))
            .collect();
        ports.push("link del igw".into());
        let router_exists = std::path::Path::new("/run/netns").join(&router).exists();
        if router_exists {
            // A failed build may have stopped before some of these links existed.
            if ip_batch(&router, &ports).is_err() {
                for p in &ports {
                    if let Err(e) = ip_batch(&router, std::slice::from_ref(p)) {
                        note(&e);
                    }
                }
            }
        }
        self.nodes.clear();
        self.nats.clear();
        remove_namespaces(&self.names.base)
    }
}

impl Drop for Vpc {
    fn drop(&mut self) {
        if !self.destroyed {
            // Nothing to report to from a drop; `cleanup(prefix)` removes what this leaves.
            if let Err(e) = self.teardown() {
                note(&e);
            }
        }
    }
}

/// Where an error has no caller to go to (a drop, a best-effort step after another error): it
/// goes to stderr, so it is seen, without a logging dependency.
fn note(e: &Error) {
    eprintln!("haven-vpc: {e}");
}

fn namespaces_starting(start: &str) -> Result<Vec<String>, Error> {
    let dir = std::path::Path::new("/run/netns");
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // No namespace was ever named on this machine.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(start) {
            found.push(name);
        }
    }
    found.sort();
    Ok(found)
}

fn remove_namespaces(start: &str) -> Result<(), Error> {
    for ns in namespaces_starting(start)? {
        run("ip", &["netns", "del", &ns], None)?;
    }
    Ok(())
}

/// What is left on this machine of instance `prefix`: namespaces, and (should any ever be made
/// there) links and nftables tables in the host's own namespace.
pub fn leftovers(prefix: &str) -> Result<Leftovers, Error> {
    names::check_prefix(prefix)?;
    let namespaces = namespaces_starting(&format!("{prefix}-"))?;
    let links = run("ip", &["-o", "link", "show"], None)?
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    let tables = run("nft", &["list", "tables"], None)?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(|n| (l, n)))
        .filter(|(_, n)| n.starts_with(&format!("{prefix}_")))
        .map(|(l, _)| l.trim_start_matches("table ").to_owned())
        .collect();
    Ok(Leftovers {
        namespaces,
        links,
        tables,
    })
}

/// Removes everything instance `prefix` left (a crashed twin): every namespace named
/// `PREFIX-…` (their veths and nftables tables go with them), and any host link or table with
/// the prefix. Returns what it found.
pub fn cleanup(prefix: &str) -> Result<Leftovers, Error> {
    let found = leftovers(prefix)?;
    for ns in &found.namespaces {
        run("ip", &["netns", "del", ns], None)?;
    }
    for link in &found.links {
        run("ip", &["link", "del", link], None)?;
    }
    for table in &found.tables {
        let mut args = vec!["delete", "table"];
        args.extend(table.split_whitespace());
        run("nft", &args, None)?;
    }
    Ok(found)
}

/// Runs `f` on a thread inside network namespace `namespace` (named under /run/netns). Sockets
/// made there stay in that namespace after `f` returns, so a listener or a stream can be made
/// here and used from anywhere.
pub fn run_in<T: Send, F: FnOnce() -> T + Send>(namespace: &str, f: F) -> Result<T, Error> {
    let path = format!("/run/netns/{namespace}");
    let file = File::open(&path).map_err(|source| Error::Io { path, source })?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // SAFETY: the descriptor is open for the call; setns changes only this thread's
                // network namespace, and the thread ends when `f` returns.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    return Err(Error::Setns {
                        namespace: namespace.to_owned(),
                        source: std::io::Error::last_os_error(),
                    });
                }
                Ok(f())
            })
            .join()
            .map_err(|_| Error::Panicked(namespace.to_owned()))?
    })
}
