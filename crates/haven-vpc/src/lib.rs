//! A region's VPC as Linux network namespaces, built from the haven-net model: the implied router
//! (one bridge per subnet, one route table per subnet's table), the internet side the internet
//! gateway faces, NAT gateways, and nodes (tasks, ALB nodes, probes) attached to subnets, with
//! security groups and network ACLs enforced by nftables and counted per rule.
//!
//! Layout, per region (`P` the instance prefix, `R` the region):
//! - `P-R-router`: bridges `br0…` (one per subnet, its `.1`), `igw` to the internet namespace,
//!   `ip rule iif brN lookup <table of the subnet>`, the ACL table `P_acl`.
//! - `P-R-internet`: `vpc` to the router, routes only to the public subnets, and the stand-in
//!   internet host [`INTERNET_HOST`] on its loopback.
//! - `P-R-nat-N`: NAT gateway N, an address in its public subnet, forwarding and masquerade.
//! - `P-R-n-NAME`: an attached node, `eth0` in its subnet, its group's table `P_sg`.
//!
//! Every veth is created with both ends already inside namespaces, so nothing of a VPC ever
//! appears in the host's namespace, and removing the namespaces removes everything.

mod names;
mod probe;
mod rules;
mod run;
mod sockets;
mod vpc;

pub use names::{INTERNET_HOST, NameError};
pub use probe::{Probed, probe};
pub use sockets::Sockets;
pub use vpc::{Counter, Leftovers, Nat, Node, NodeKind, Vpc, cleanup, leftovers, run_in};

/// Why this machine cannot build VPCs, if it cannot: namespaces, veths and nftables tables
/// need root, `ip` (iproute2) and `nft` (nftables).
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".to_owned());
    }
    for (tool, arg, package) in [("ip", "-V", "iproute2"), ("nft", "-v", "nftables")] {
        let found = std::process::Command::new(tool)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!("`{tool}` is not installed (Debian: {package})"));
        }
    }
    None
}

/// What can go wrong building, changing or removing a VPC.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed (exit {status:?}): {stderr}")]
    Command {
        command: String,
        status: Option<i32>,
        stderr: String,
    },
    #[error(transparent)]
    Name(#[from] NameError),
    /// A probe that could not be set up (not a verdict: a blocked path is `Probed`).
    #[error("probe: {0}")]
    Probe(String),
    #[error("the VPC has no subnet `{0}`")]
    NoSubnet(String),
    #[error("subnet `{0}` has no free address")]
    SubnetFull(String),
    #[error("a node named `{0}` is already attached")]
    NodeExists(String),
    #[error("no node named `{0}` is attached")]
    NoNode(String),
    #[error("the VPC has no NAT gateway {0}")]
    NoNat(usize),
    #[error("route table {0} names NAT gateway {1}, which the model does not have")]
    RouteToMissingNat(String, usize),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot enter network namespace `{namespace}`: {source}")]
    Setns {
        namespace: String,
        source: std::io::Error,
    },
    #[error("the thread working in namespace `{0}` panicked")]
    Panicked(String),
    #[error("{build}; removing what was built failed too: {cleanup}")]
    BuildAndCleanup {
        build: Box<Error>,
        cleanup: Box<Error>,
    },
    #[error("cannot read the counters `nft -j` printed: {0}")]
    Counters(#[from] serde_json::Error),
}
