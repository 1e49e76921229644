//! Names: the instance prefix, the namespaces and interfaces built from it, and the addresses
//! the layout reserves.

use std::net::Ipv4Addr;

/// The stand-in internet host, on the internet namespace's loopback: what tasks reach through
/// their NAT gateway (TEST-NET-2, never routed anywhere real).
pub const INTERNET_HOST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The router's end of the internet gateway link (shared address space, a /30).
pub(crate) const IGW_ROUTER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
/// The internet namespace's end of it.
pub(crate) const IGW_INTERNET: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
pub(crate) const IGW_PREFIX: u8 = 30;

/// A prefix or a node name that the layout cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "instance prefix `{0}` must be 1 to 16 of [a-z0-9], starting with a letter (it names namespaces and nftables tables)"
    )]
    Prefix(String),
    #[error("node name `{0}` must be 1 to 40 of [a-z0-9-]")]
    Node(String),
    #[error("region `{0}` must be 1 to 40 of [a-z0-9-]")]
    Region(String),
}

pub(crate) fn check_prefix(prefix: &str) -> Result<(), NameError> {
    let ok = (1..=16).contains(&prefix.len())
        && prefix.starts_with(|c: char| c.is_ascii_lowercase())
        && prefix
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(NameError::Prefix(prefix.to_owned()))
    }
}

fn slug_ok(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) fn check_node(name: &str) -> Result<(), NameError> {
    if slug_ok(name) {
        Ok(())
    } else {
        Err(NameError::Node(name.to_owned()))
    }
}

pub(crate) fn check_region(name: &str) -> Result<(), NameError> {
    if slug_ok(name) {
        Ok(())
    } else {
        Err(NameError::Region(name.to_owned()))
    }
}

/// Every name of one region's VPC. Namespace names carry the prefix and the region, so two twins
/// and two regions never share one; interface names only need to be unique within their
/// namespace (veths are created inside the namespaces), and stay under 15 bytes.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub prefix: String,
    /// `P-R-`: what every namespace of this region starts with.
    pub base: String,
}

impl Names {
    pub fn new(prefix: &str, region: &str) -> Result<Self, NameError> {
        check_prefix(prefix)?;
        check_region(region)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            base: format!("{prefix}-{region}-"),
        })
    }

    pub fn router(&self) -> String {
        format!("{}router", self.base)
    }

    pub fn internet(&self) -> String {
        format!("{}internet", self.base)
    }

    pub fn nat(&self, number: usize) -> String {
        format!("{}nat-{number}", self.base)
    }

    pub fn node(&self, name: &str) -> String {
        format!("{}n-{name}", self.base)
    }

    /// The bridge of subnet `index` in the router.
    pub fn bridge(index: usize) -> String {
        format!("br{index}")
    }

    /// The router's end of port `port`'s veth (a node's or a NAT's).
    pub fn port(port: u32) -> String {
        format!("p{port}")
    }

    pub fn sg_table(&self) -> String {
        format!("{}_sg", self.prefix)
    }

    pub fn acl_table(&self) -> String {
        format!("{}_acl", self.prefix)
    }

    pub fn nat_table(&self) -> String {
        format!("{}_nat", self.prefix)
    }
}
