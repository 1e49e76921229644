//! The VPC twin with real namespaces and real TCP connections, made inside the namespaces: the
//! example's network, security groups and network ACLs enforced, NAT egress by AZ, two regions
//! apart, and nothing left behind.

#![allow(clippy::unwrap_used)]

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use haven_net::{AclAction, AclRule, GroupId, Peer, Vpc as Model};
use haven_spec::Cidr;
use haven_vpc::{Counter, INTERNET_HOST, NodeKind, Vpc, cleanup, leftovers, run_in};

/// Fails (never skips) when the machine cannot build namespaces.
fn preflight() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "the VPC twin's tests need root (network namespaces, veths, nftables); run them as root"
    );
    for (tool, arg, package) in [("ip", "-V", "iproute2"), ("nft", "-v", "nftables")] {
        let ok = Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "`{tool}` is missing: install Debian's {package}");
    }
}

/// A prefix no other test process uses.
fn prefix(tag: &str) -> String {
    format!("t{}{tag}", std::process::id())
}

fn spec(edit: impl FnOnce(String) -> String) -> haven_spec::Spec {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let path = dir.join("haven.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    haven_spec::load_str(&edit(text), &path, &dir).unwrap().spec
}

fn primary(spec: &haven_spec::Spec) -> Model {
    Model::of(spec, spec.primary())
}

fn listen(ns: &str, addr: Ipv4Addr, port: u16) -> TcpListener {
    run_in(ns, || TcpListener::bind(SocketAddrV4::new(addr, port)))
        .unwrap()
        .unwrap()
}

/// A connection from inside `ns`; a dropped SYN shows as a timeout after `wait`.
fn connect(ns: &str, addr: Ipv4Addr, port: u16, wait: Duration) -> std::io::Result<TcpStream> {
    let to = SocketAddr::V4(SocketAddrV4::new(addr, port));
    run_in(ns, || TcpStream::connect_timeout(&to, wait)).unwrap()
}

const OPEN: Duration = Duration::from_secs(3);
const SHUT: Duration = Duration::from_millis(800);

/// `connect` must succeed, and the listener then sees it: returns the source it saw.
fn reaches(ns: &str, listener: &TcpListener, addr: Ipv4Addr, port: u16) -> SocketAddr {
    let stream = connect(ns, addr, port, OPEN)
        .unwrap_or_else(|e| panic!("{ns} -> {addr}:{port} should connect: {e}"));
    let (_, peer) = listener.accept().unwrap();
    drop(stream);
    peer
}

fn blocked(ns: &str, addr: Ipv4Addr, port: u16) -> ErrorKind {
    match connect(ns, addr, port, SHUT) {
        Ok(_) => panic!("{ns} -> {addr}:{port} should be blocked"),
        Err(e) => e.kind(),
    }
}

fn counter<'a>(counters: &'a [Counter], node: Option<&str>, name: &str) -> &'a Counter {
    counters
        .iter()
        .find(|c| c.node.as_deref() == node && c.name == name)
        .unwrap_or_else(|| panic!("no counter {name} on {node:?}: {counters:#?}"))
}

fn assert_gone(prefix: &str) {
    let left = leftovers(prefix).unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn alb_reaches_tasks_and_the_internet_reaches_only_the_alb() {
    preflight();
    let p = prefix("a");
    let before = leftovers(&p).unwrap();
    assert!(before.is_empty(), "{before:?}");
    let started = Instant::now();
    let mut vpc = Vpc::create(&p, &primary(&spec(|t| t))).unwrap();
    let created = started.elapsed();
    let started = Instant::now();
    let alb = vpc.attach(NodeKind::Alb, "public-1", "alb-1").unwrap();
    let task = vpc.attach(NodeKind::Task, "private-1", "task-1").unwrap();
    let probe = vpc.attach(NodeKind::Probe, "public-1", "probe").unwrap();
    let attached = started.elapsed() / 3;
    // .4 went to NAT gateway 1, in public-1; AWS reserves .0 to .3.
    assert_eq!(vpc.nat(1).unwrap().addr, Ipv4Addr::new(10, 0, 1, 4));
    assert_eq!(alb.addr, Ipv4Addr::new(10, 0, 1, 5));
    assert_eq!(task.addr, Ipv4Addr::new(10, 0, 11, 4));

    let on_task = listen(&task.namespace, task.addr, 8080);
    let on_alb = listen(&alb.namespace, alb.addr, 80);
    let _on_alb_22 = listen(&alb.namespace, alb.addr, 22);
    let internet = vpc.internet_namespace();

    assert_eq!(
        reaches(&alb.namespace, &on_task, task.addr, 8080).ip(),
        alb.addr
    );
    reaches(&internet, &on_alb, alb.addr, 80);
    assert_eq!(
        blocked(&internet, task.addr, 8080),
        ErrorKind::NetworkUnreachable,
        "the internet has no route to a private subnet"
    );
    // A listener is there: a timeout, not a refusal, is the security group's drop.
    assert_eq!(blocked(&internet, alb.addr, 22), ErrorKind::TimedOut);
    assert_eq!(
        blocked(&probe.namespace, task.addr, 8080),
        ErrorKind::TimedOut
    );

    let counters = vpc.counters().unwrap();
    let alb_reject = counter(&counters, Some("alb-1"), "sg_in_reject");
    assert!(alb_reject.packets >= 1, "{alb_reject:?}");
    assert!(alb_reject.rule.contains("ALB's security group ingress"));
    let allowed = counter(&counters, Some("alb-1"), "sg_in_0");
    assert!(allowed.packets >= 1 && allowed.rule.contains("HTTP from anywhere"));
    let task_reject = counter(&counters, Some("task-1"), "sg_in_reject");
    assert!(task_reject.packets >= 1, "{task_reject:?}");
    assert!(task_reject.rule.contains("tasks' security group ingress"));
    let from_alb = counter(&counters, Some("task-1"), "sg_in_0");
    assert_eq!(from_alb.packets, 1, "only the ALB's one SYN: {from_alb:?}");

    // Detaching a node takes its address out of the sets that named it.
    vpc.detach(&alb).unwrap();
    let alb2 = vpc.attach(NodeKind::Alb, "public-2", "alb-2").unwrap();
    reaches(&alb2.namespace, &on_task, task.addr, 8080);

    let started = Instant::now();
    vpc.destroy().unwrap();
    let destroyed = started.elapsed();
    eprintln!("create {created:?}, attach {attached:?} per node, destroy {destroyed:?}");
    assert_gone(&p);
}

#[test]
fn without_the_alb_to_task_rule_the_alb_cannot_reach_tasks() {
    preflight();
    let p = prefix("b");
    let mut model = primary(&spec(|t| t));
    let task_group = model
        .groups
        .iter_mut()
        .find(|g| g.id == GroupId::Task)
        .unwrap();
    task_group
        .ingress
        .retain(|r| r.peer != Peer::Group(GroupId::Alb));
    let mut vpc = Vpc::create(&p, &model).unwrap();
    let alb = vpc.attach(NodeKind::Alb, "public-1", "alb").unwrap();
    let task = vpc.attach(NodeKind::Task, "private-1", "task").unwrap();
    let _on_task = listen(&task.namespace, task.addr, 8080);
    assert_eq!(
        blocked(&alb.namespace, task.addr, 8080),
        ErrorKind::TimedOut
    );
    let counters = vpc.counters().unwrap();
    assert!(counter(&counters, Some("task"), "sg_in_reject").packets >= 1);
    // The ALB's egress allowed it: the task's ingress is what is missing.
    assert!(counter(&counters, Some("alb"), "sg_out_0").packets >= 1);
    assert_eq!(counter(&counters, Some("alb"), "sg_out_reject").packets, 0);
    vpc.destroy().unwrap();
    assert_gone(&p);
}

#[test]
fn a_network_acl_deny_blocks_and_counts() {
    preflight();
    let p = prefix("c");
    let mut model = primary(&spec(|t| t));
    model.acl.ingress.push(AclRule {
        number: Some(50),
        cidr: Cidr::parse("10.0.1.0/24").unwrap(),
        ports: Some((8080, 8080)),
        action: AclAction::Deny,
    });
    let mut vpc = Vpc::create(&p, &model).unwrap();
    let alb1 = vpc.attach(NodeKind::Alb, "public-1", "alb-1").unwrap();
    let alb2 = vpc.attach(NodeKind::Alb, "public-2", "alb-2").unwrap();
    let task = vpc.attach(NodeKind::Task, "private-1", "task").unwrap();
    let on_task = listen(&task.namespace, task.addr, 8080);
    assert_eq!(
        blocked(&alb1.namespace, task.addr, 8080),
        ErrorKind::TimedOut
    );
    // public-2 is not in the denied block: rule 100 allows it.
    reaches(&alb2.namespace, &on_task, task.addr, 8080);
    let counters = vpc.counters().unwrap();
    let deny = counter(&counters, None, "acl_in_private_1_r50");
    assert!(deny.packets >= 1, "{deny:?}");
    assert!(
        deny.rule.contains("rule 50 (deny 10.0.1.0/24 port 8080)"),
        "{deny:?}"
    );
    assert!(counter(&counters, None, "acl_in_private_1_r100").packets >= 1);
    // Nothing reached the task's security group from public-1.
    assert_eq!(counter(&counters, Some("task"), "sg_in_reject").packets, 0);
    vpc.destroy().unwrap();
    assert_gone(&p);
}

#[test]
fn task_egress_leaves_through_its_azs_nat_and_single_nat_is_one_point_of_failure() {
    preflight();
    // (nat mode, the NAT private-2 leaves through, private-2 still out with NAT 1 down)
    for (mode, nat_of_2, survives) in [("single", 1, false), ("per-az", 2, true)] {
        let p = prefix(if mode == "single" { "d" } else { "e" });
        let model = primary(&spec(|t| {
            t.replace("nat = \"single\"", &format!("nat = \"{mode}\""))
        }));
        let mut vpc = Vpc::create(&p, &model).unwrap();
        let t1 = vpc.attach(NodeKind::Task, "private-1", "task-1").unwrap();
        let t2 = vpc.attach(NodeKind::Task, "private-2", "task-2").unwrap();
        let internet = listen(&vpc.internet_namespace(), INTERNET_HOST, 443);
        let seen1 = reaches(&t1.namespace, &internet, INTERNET_HOST, 443);
        assert_eq!(seen1.ip(), vpc.nat(1).unwrap().addr, "{mode}");
        let seen2 = reaches(&t2.namespace, &internet, INTERNET_HOST, 443);
        assert_eq!(seen2.ip(), vpc.nat(nat_of_2).unwrap().addr, "{mode}");

        vpc.set_nat_link(1, false).unwrap();
        blocked(&t1.namespace, INTERNET_HOST, 443);
        if survives {
            reaches(&t2.namespace, &internet, INTERNET_HOST, 443);
        } else {
            blocked(&t2.namespace, INTERNET_HOST, 443);
        }
        vpc.set_nat_link(1, true).unwrap();
        vpc.destroy().unwrap();
        assert_gone(&p);
    }
}

#[test]
fn a_blackholed_az_drops_its_subnets_and_with_one_nat_the_other_azs_egress() {
    preflight();
    // (nat mode, private-2's egress survives AZ a blackholed)
    for (mode, survives) in [("single", false), ("per-az", true)] {
        let p = prefix(if mode == "single" { "g" } else { "h" });
        let model = primary(&spec(|t| {
            t.replace("nat = \"single\"", &format!("nat = \"{mode}\""))
        }));
        let mut vpc = Vpc::create(&p, &model).unwrap();
        let t1 = vpc.attach(NodeKind::Task, "private-1", "task-1").unwrap();
        let t2 = vpc.attach(NodeKind::Task, "private-2", "task-2").unwrap();
        let alb2 = vpc.attach(NodeKind::Alb, "public-2", "alb-2").unwrap();
        let internet = listen(&vpc.internet_namespace(), INTERNET_HOST, 443);
        let on_t1 = listen(&t1.namespace, t1.addr, 8080);
        reaches(&alb2.namespace, &on_t1, t1.addr, 8080);
        reaches(&t2.namespace, &internet, INTERNET_HOST, 443);

        assert_eq!(vpc.set_blackhole("us-east-1a", true).unwrap(), 2, "{mode}");
        // The AZ's subnets drop everything: the ALB's other node cannot reach its task.
        blocked(&alb2.namespace, t1.addr, 8080);
        blocked(&t1.namespace, INTERNET_HOST, 443);
        if survives {
            reaches(&t2.namespace, &internet, INTERNET_HOST, 443);
        } else {
            // Its only NAT is in the lost AZ.
            blocked(&t2.namespace, INTERNET_HOST, 443);
        }
        assert_eq!(vpc.set_blackhole("us-east-1a", false).unwrap(), 0);
        reaches(&alb2.namespace, &on_t1, t1.addr, 8080);
        reaches(&t2.namespace, &internet, INTERNET_HOST, 443);
        vpc.destroy().unwrap();
        assert_gone(&p);
    }
}

#[test]
fn two_regions_stand_side_by_side_and_apart() {
    preflight();
    let p = prefix("f");
    let spec = spec(|t| t);
    let mut vpcs: Vec<Vpc> = spec
        .regions
        .iter()
        .map(|r| Vpc::create(&p, &Model::of(&spec, r)).unwrap())
        .collect();
    assert_eq!(vpcs.len(), 2);
    let mut tasks = Vec::new();
    let mut probes = Vec::new();
    for vpc in &mut vpcs {
        tasks.push(vpc.attach(NodeKind::Task, "private-1", "task").unwrap());
        probes.push(vpc.attach(NodeKind::Probe, "public-1", "probe").unwrap());
    }
    // Same node names, different namespaces; different VPC blocks.
    assert_ne!(tasks[0].namespace, tasks[1].namespace);
    assert_ne!(tasks[0].addr, tasks[1].addr);
    let _on_b = listen(&tasks[1].namespace, tasks[1].addr, 8080);
    let _on_b_https = listen(&tasks[1].namespace, tasks[1].addr, 443);
    blocked(&tasks[0].namespace, tasks[1].addr, 8080);
    // Even where the task's egress allows it (443), no route joins the two.
    blocked(&tasks[0].namespace, tasks[1].addr, 443);
    // An unfiltered probe finds no route either: the first region's internet has none.
    blocked(&probes[0].namespace, tasks[1].addr, 8080);
    assert_eq!(
        blocked(&vpcs[0].internet_namespace(), probes[1].addr, 8080),
        ErrorKind::NetworkUnreachable
    );
    for vpc in vpcs {
        vpc.destroy().unwrap();
    }
    assert_gone(&p);
}

#[test]
fn cleanup_removes_what_a_crashed_twin_left() {
    preflight();
    let p = prefix("g");
    let mut vpc = Vpc::create(&p, &primary(&spec(|t| t))).unwrap();
    vpc.attach(NodeKind::Task, "private-1", "task").unwrap();
    vpc.attach(NodeKind::Alb, "public-1", "alb").unwrap();
    let expected = vpc.namespaces().len();
    // A crash: the process goes without dropping anything.
    std::mem::forget(vpc);
    // And one namespace of a build that stopped half way.
    let half = format!("{p}-us-west-2-router");
    let out = Command::new("ip")
        .args(["netns", "add", &half])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let left = leftovers(&p).unwrap();
    assert_eq!(left.namespaces.len(), expected + 1, "{left:?}");
    let removed = cleanup(&p).unwrap();
    assert_eq!(removed.namespaces.len(), expected + 1);
    assert_gone(&p);
    // A second cleanup finds nothing.
    assert!(cleanup(&p).unwrap().is_empty());
}
