//! IPv4 CIDR blocks: parsing, containment and overlap, for VPCs and subnets.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// `0.0.0.0/0`: every address.
    pub const ANY: Cidr = Cidr {
        addr: Ipv4Addr::UNSPECIFIED,
        prefix: 0,
    };

    /// Parses `10.0.0.0/16`; the address must be the block's first (no host bits set).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` has no prefix length (write e.g. `10.0.0.0/16`)"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("`/{prefix}` is not a prefix length from 0 to 32"))?;
        let cidr = Self { addr, prefix };
        if cidr.network() != u32::from(addr) {
            let fixed = Self {
                addr: Ipv4Addr::from(cidr.network()),
                prefix,
            };
            return Err(format!(
                "`{text}` has host bits set; its block is `{fixed}`"
            ));
        }
        Ok(cidr)
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    fn network(self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    fn last(self) -> u32 {
        self.network() | !self.mask()
    }

    pub fn contains(self, other: Cidr) -> bool {
        self.prefix <= other.prefix && other.network() & self.mask() == self.network()
    }

    pub fn overlaps(self, other: Cidr) -> bool {
        self.network() <= other.last() && other.network() <= self.last()
    }

    /// The `n`th `/24` of a VPC, as the seed lays out subnets (`10.0.1.0/24` is the 1st of
    /// `10.0.0.0/16`); `None` when the VPC is too small to hold it.
    pub fn seed_subnet(vpc: Cidr, n: u8) -> Option<Cidr> {
        let addr = vpc.network().checked_add(u32::from(n) << 8)?;
        let subnet = Cidr {
            addr: Ipv4Addr::from(addr),
            prefix: 24,
        };
        vpc.contains(subnet).then_some(subnet)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn parse_errors_say_why() {
        let check = |input: &str, expect: &str| {
            assert_eq!(Cidr::parse(input).unwrap_err(), expect, "{input}");
        };
        check(
            "10.0.0.0",
            "`10.0.0.0` has no prefix length (write e.g. `10.0.0.0/16`)",
        );
        check("10.0.0/16", "`10.0.0` is not an IPv4 address");
        check("10.0.0.0/33", "`/33` is not a prefix length from 0 to 32");
        check(
            "10.0.1.0/16",
            "`10.0.1.0/16` has host bits set; its block is `10.0.0.0/16`",
        );
    }

    #[test]
    fn containment_and_overlap() {
        assert!(c("10.0.0.0/16").contains(c("10.0.11.0/24")));
        assert!(!c("10.0.0.0/16").contains(c("10.1.1.0/24")));
        assert!(!c("10.0.1.0/24").contains(c("10.0.0.0/16")));
        assert!(c("10.0.0.0/16").overlaps(c("10.0.255.0/24")));
        assert!(c("10.0.0.0/8").overlaps(c("10.1.0.0/16")));
        assert!(!c("10.0.0.0/16").overlaps(c("10.1.0.0/16")));
        assert!(c("0.0.0.0/0").contains(c("192.168.0.0/16")));
        assert_eq!(
            Cidr::seed_subnet(c("10.1.0.0/16"), 11),
            Some(c("10.1.11.0/24"))
        );
        assert_eq!(
            Cidr::seed_subnet(c("10.0.128.0/17"), 1),
            Some(c("10.0.129.0/24"))
        );
        assert_eq!(Cidr::seed_subnet(c("10.0.0.0/22"), 11), None);
    }
}
