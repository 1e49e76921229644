//! A real connection on a throwaway copy of a region's VPC: what `haven net reach --probe`
//! runs to confirm the model's answer with the kernel's routes and nftables.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

use haven_net::{Place, Tier, Vpc as Model};

use crate::{Counter, Error, INTERNET_HOST, NodeKind, Vpc, run_in};

/// How long a connection may take before it counts as dropped (a security group or network
/// ACL drops silently; a missing route fails at once).
const DROPPED_AFTER: Duration = Duration::from_millis(1500);

/// What the probe saw.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Probed {
    /// The connection was accepted by a listener on the destination.
    pub connected: bool,
    /// Why it was not: the kernel's error (`timed out`: dropped by a rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The rules whose counters moved, by their rule text.
    pub counted: Vec<String>,
}

/// Builds `model` under `prefix`, puts `from` and `to` in it, listens on `to`:`port` and
/// connects from `from`; removes everything it made before returning.
pub fn probe(
    prefix: &str,
    model: &Model,
    from: &Place,
    to: &Place,
    port: u16,
) -> Result<Probed, Error> {
    let mut vpc = Vpc::create(prefix, model)?;
    let result = run_probe(&mut vpc, from, to, port);
    let destroyed = vpc.destroy();
    let probed = result?;
    destroyed?;
    Ok(probed)
}

/// A place's namespace and address, attaching a node for it where it needs one.
fn place(vpc: &mut Vpc, p: &Place, role: &str) -> Result<(String, Ipv4Addr), Error> {
    let first = |tier: Tier, vpc: &Vpc| {
        vpc.model()
            .subnets
            .iter()
            .find(|s| s.tier == tier)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    let node = |vpc: &mut Vpc, kind: NodeKind, subnet: String| {
        vpc.attach(kind, &subnet, role)
            .map(|n| (n.namespace.clone(), n.addr))
    };
    match p {
        Place::Internet => Ok((vpc.internet_namespace(), INTERNET_HOST)),
        Place::Alb => {
            let subnet = first(Tier::Public, vpc);
            node(vpc, NodeKind::Alb, subnet)
        }
        Place::Task => {
            let subnet = first(Tier::Private, vpc);
            node(vpc, NodeKind::Task, subnet)
        }
        Place::Nat => match vpc.nats().first() {
            Some(n) => Ok((n.namespace.clone(), n.addr)),
            None => Err(Error::Probe("the VPC has no NAT gateway".into())),
        },
        Place::Subnet(s) => node(vpc, NodeKind::Probe, s.clone()),
    }
}

fn run_probe(vpc: &mut Vpc, from: &Place, to: &Place, port: u16) -> Result<Probed, Error> {
    let (to_ns, to_addr) = place(vpc, to, "dst")?;
    let (from_ns, _) = place(vpc, from, "src")?;
    let listener = run_in(&to_ns, || {
        TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
    })?
    .map_err(|e| Error::Probe(format!("cannot listen on port {port} in {to_ns}: {e}")))?;
    let before = vpc.counters()?;
    let target = SocketAddr::V4(SocketAddrV4::new(to_addr, port));
    let attempt = run_in(&from_ns, move || {
        TcpStream::connect_timeout(&target, DROPPED_AFTER)
    })?;
    let (connected, error) = match attempt {
        Ok(stream) => {
            // The handshake went through every rule; the listener has the connection.
            let accepted = listener.accept();
            drop(stream);
            match accepted {
                Ok(_) => (true, None),
                Err(e) => (false, Some(format!("connected, but not accepted: {e}"))),
            }
        }
        Err(e) => (false, Some(e.to_string())),
    };
    let after = vpc.counters()?;
    Ok(Probed {
        connected,
        error,
        counted: moved(&before, &after),
    })
}

/// The counters that counted packets between two readings, as `namespace: rule`.
fn moved(before: &[Counter], after: &[Counter]) -> Vec<String> {
    after
        .iter()
        .filter(|a| {
            let was = before
                .iter()
                .find(|b| b.namespace == a.namespace && b.name == a.name)
                .map_or(0, |b| b.packets);
            a.packets > was
        })
        .map(|a| format!("{}: {}", a.name, a.rule))
        .collect()
}
