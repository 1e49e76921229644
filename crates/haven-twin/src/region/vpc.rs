//! The region's VPC twin (`local.network = "vpc"`): its namespaces from the network model, the
//! ALB's nodes in the public subnets (the ALB twin opens its target connections on their
//! sockets), and a node per task in its AZ's private subnet.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use haven_control::paths::Paths;
use haven_spec::Spec;
use haven_spec::model::Region;

use crate::{Error, lock};

/// The region's VPC while the region runs.
pub(crate) struct RegionVpc {
    vpc: Mutex<Option<haven_vpc::Vpc>>,
    /// AZ → its private subnet's name, where the AZ's tasks go.
    private: BTreeMap<String, String>,
    pub dialer: Arc<AlbNodes>,
}

/// The ALB's nodes, one per AZ: the ALB twin's target sockets are made in the node of the
/// target's AZ (the first node when a target names none).
#[derive(Debug)]
pub(crate) struct AlbNodes(BTreeMap<String, haven_vpc::Sockets>);

impl haven_proxy::Dialer for AlbNodes {
    fn socket(&self, zone: Option<&str>) -> io::Result<OwnedFd> {
        let node = zone
            .and_then(|z| self.0.get(z))
            .or_else(|| self.0.values().next())
            .ok_or_else(|| io::Error::other("the ALB has no node"))?;
        node.socket()
    }
}

/// The region's namespace prefix: the state directory's instance and the region, so that two
/// twins, or two regions of one, never share a name, and a region's cleanup is its own.
pub(crate) fn prefix(paths: &Paths, region: &str) -> Result<String, Error> {
    let instance = haven_control::paths::instance_id(paths)?;
    // FNV-1a: a short, stable tag of the region's name.
    let hash = region.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let instance: String = instance.chars().take(7).collect();
    Ok(format!("h{instance}{:06x}", hash & 0x00ff_ffff))
}

/// Removes what a dead region process left of its VPC. Returns what it could not remove.
pub(crate) fn cleanup(paths: &Paths, region: &str) -> Vec<String> {
    let prefix = match prefix(paths, region) {
        Ok(p) => p,
        Err(e) => return vec![format!("cannot name {region}'s VPC: {e}")],
    };
    // Only where a VPC ever was: without namespaces there is nothing to remove.
    let any = std::fs::read_dir("/run/netns").is_ok_and(|d| {
        d.flatten().any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{prefix}-"))
        })
    });
    if !any {
        return Vec::new();
    }
    match haven_vpc::cleanup(&prefix) {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!("cannot remove {region}'s VPC namespaces: {e}")],
    }
}

impl RegionVpc {
    /// Builds the region's VPC from the spec's network model, with an ALB node per AZ.
    pub(crate) fn create(spec: &Spec, region: &Region, paths: &Paths) -> Result<Self, Error> {
        let problems = cleanup(paths, &region.name);
        if let Some(p) = problems.first() {
            return Err(Error::Other(p.clone()));
        }
        let model = haven_net::Vpc::of(spec, region);
        let prefix = prefix(paths, &region.name)?;
        let mut vpc = haven_vpc::Vpc::create(&prefix, &model)
            .map_err(|e| Error::Other(format!("cannot build {}'s VPC: {e}", region.name)))?;
        let mut nodes = BTreeMap::new();
        let mut private = BTreeMap::new();
        for (i, az) in region.azs.iter().enumerate() {
            let public = format!("public-{}", i + 1);
            if model.subnet(&public).is_some() {
                let node = vpc
                    .attach(haven_vpc::NodeKind::Alb, &public, &format!("alb{}", i + 1))
                    .map_err(|e| Error::Other(format!("cannot place the ALB in {public}: {e}")))?;
                let sockets = haven_vpc::Sockets::open(&node.namespace).map_err(|e| {
                    Error::Other(format!("cannot open the ALB node's sockets: {e}"))
                })?;
                nodes.insert(az.clone(), sockets);
            }
            let subnet = format!("private-{}", i + 1);
            if model.subnet(&subnet).is_some() {
                private.insert(az.clone(), subnet);
            }
        }
        Ok(Self {
            vpc: Mutex::new(Some(vpc)),
            private,
            dialer: Arc::new(AlbNodes(nodes)),
        })
    }

    /// A task's node in its AZ's private subnet: its namespace and address.
    pub(crate) fn attach_task(&self, id: &str, az: &str) -> Result<haven_vpc::Node, String> {
        let subnet = self
            .private
            .get(az)
            .or_else(|| self.private.values().next())
            .ok_or_else(|| "the VPC has no private subnet".to_owned())?;
        let mut guard = lock(&self.vpc);
        let vpc = guard
            .as_mut()
            .ok_or_else(|| "the region's VPC is gone".to_owned())?;
        // Node names are short: the namespace's name carries them.
        let name: String = id.chars().take(12).collect();
        vpc.attach(haven_vpc::NodeKind::Task, subnet, &name)
            .map_err(|e| format!("cannot give task {id} an address in {subnet}: {e}"))
    }

    /// Removes a stopped task's node.
    pub(crate) fn detach(&self, node: &haven_vpc::Node) {
        if let Some(vpc) = lock(&self.vpc).as_mut() {
            if let Err(e) = vpc.detach(node) {
                tracing::warn!("cannot remove node {}: {e}", node.name);
            }
        }
    }

    /// Cuts the AZ's subnets off, or brings them back; how many subnets are cut now.
    pub(crate) fn blackhole(&self, az: &str, on: bool) -> Result<usize, String> {
        let mut guard = lock(&self.vpc);
        let vpc = guard
            .as_mut()
            .ok_or_else(|| "the region's VPC is gone".to_owned())?;
        vpc.set_blackhole(az, on).map_err(|e| e.to_string())
    }

    /// Removes the whole VPC (the region is stopping).
    pub(crate) fn destroy(&self) {
        if let Some(vpc) = lock(&self.vpc).take() {
            if let Err(e) = vpc.destroy() {
                tracing::warn!("cannot remove the region's VPC: {e}");
            }
        }
    }
}
