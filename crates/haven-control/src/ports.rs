//! The twin's listening ports, fixed once by the supervisor so that a restarted region comes
//! back on the same address and the edge never needs telling.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, TcpListener};

use haven_spec::settings::Twin;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::paths::Paths;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ports {
    pub bind: IpAddr,
    pub edge: u16,
    /// `<region>/<service>` → the ALB twin's port.
    pub albs: BTreeMap<String, u16>,
    /// The dashboard's port; `None` when `monitoring.dashboard` is off. Absent from the
    /// ports.json of a version without the dashboard.
    #[serde(default)]
    pub dashboard: Option<u16>,
    /// `<region>` → the ECR twin's registry API port (OCI Distribution). Absent from the
    /// ports.json of a version without it.
    #[serde(default)]
    pub registries: BTreeMap<String, u16>,
}

impl Ports {
    pub fn alb_key(region: &str, service: &str) -> String {
        format!("{region}/{service}")
    }

    pub fn alb(&self, region: &str, service: &str) -> Option<SocketAddr> {
        self.albs
            .get(&Self::alb_key(region, service))
            .map(|p| SocketAddr::new(self.bind, *p))
    }

    /// The service's test listener (blue/green's test traffic).
    pub fn test(&self, region: &str, service: &str) -> Option<SocketAddr> {
        self.albs
            .get(&format!("{}/test", Self::alb_key(region, service)))
            .map(|p| SocketAddr::new(self.bind, *p))
    }

    pub fn edge_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.edge)
    }

    /// The region's ECR twin registry API.
    pub fn registry(&self, region: &str) -> Option<SocketAddr> {
        self.registries
            .get(region)
            .map(|p| SocketAddr::new(self.bind, *p))
    }

    pub fn dashboard_addr(&self) -> Option<SocketAddr> {
        self.dashboard.map(|p| SocketAddr::new(self.bind, p))
    }

    /// The spec's ports, with each 0 replaced by a free port. Ports already chosen by an earlier
    /// run are kept, so URLs stay the same across `haven up`s. `dashboard` is
    /// `local.dashboard_port`, or `None` when the dashboard is off.
    pub fn resolve(
        twin: &Twin,
        dashboard: Option<u16>,
        previous: Option<&Ports>,
    ) -> Result<Self, Error> {
        let bind = twin.edge.addr.ip();
        let pick = |wanted: u16, key: &str| -> Result<u16, Error> {
            if wanted != 0 {
                return Ok(wanted);
            }
            if let Some(p) = previous.and_then(|p| {
                if key == "edge" {
                    Some(p.edge)
                } else if key == "dashboard" {
                    p.dashboard
                } else if let Some(region) = key.strip_prefix("registry/") {
                    p.registries.get(region).copied()
                } else {
                    p.albs.get(key).copied()
                }
            }) {
                return Ok(p);
            }
            free_port(bind)
        };
        let edge = pick(twin.edge.addr.port(), "edge")?;
        let mut albs = BTreeMap::new();
        for r in &twin.regions {
            for s in &r.services {
                let key = Self::alb_key(&r.name, &s.name);
                let port = pick(s.alb_addr.port(), &key)?;
                let test_key = format!("{key}/test");
                let test = pick(0, &test_key)?;
                albs.insert(key, port);
                albs.insert(test_key, test);
            }
        }
        let dashboard = dashboard
            .map(|wanted| pick(wanted, "dashboard"))
            .transpose()?;
        let mut registries = BTreeMap::new();
        for r in &twin.regions {
            registries.insert(r.name.clone(), pick(0, &format!("registry/{}", r.name))?);
        }
        Ok(Self {
            bind,
            edge,
            albs,
            dashboard,
            registries,
        })
    }

    pub fn read(paths: &Paths) -> Result<Option<Self>, Error> {
        let path = paths.ports();
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    path,
                    reason: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(haven_fs::IoError::new(&path, e).into()),
        }
    }

    pub fn write(&self, paths: &Paths) -> Result<(), Error> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::Corrupt {
            path: paths.ports(),
            reason: e.to_string(),
        })?;
        crate::paths::write_atomic(&paths.ports(), &text)
    }
}

/// A free port for the twin's own listeners (edge, ALBs, dashboard), fixed in `ports.json`.
/// It comes from the lower half of the ports below the kernel's ephemeral range, tasks' from
/// the upper half ([`task_port`]): a port probed free here can then only be taken by a bind
/// (never by an outgoing connection's local port), and never by a task of this twin started
/// before the listener that owns it binds it.
pub fn free_port(ip: IpAddr) -> Result<u16, Error> {
    let (low, _) = ephemeral_range();
    let mid = FIRST + low.saturating_sub(FIRST) / 2;
    free_port_in(ip, FIRST, mid)
}

/// A free port for a task (its `$PORT`): the upper half below the ephemeral range.
pub fn task_port(ip: IpAddr) -> Result<u16, Error> {
    let (low, _) = ephemeral_range();
    let mid = FIRST + low.saturating_sub(FIRST) / 2;
    free_port_in(ip, mid, low)
}

/// The first port the twin picks by itself: below it are ports people configure by hand.
const FIRST: u16 = 10_000;

fn free_port_in(ip: IpAddr, lo: u16, hi: u16) -> Result<u16, Error> {
    if hi > lo {
        let span = u32::from(hi - lo);
        // Only a starting point: where to begin probing, so twins started together differ.
        let mut n = haven_fs::random::seed() as u32;
        for _ in 0..64 {
            let port = lo + u16::try_from(n % span).unwrap_or(0);
            if TcpListener::bind(SocketAddr::new(ip, port)).is_ok() {
                return Ok(port);
            }
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        }
    }
    tracing::debug!("no free port in {lo}-{hi}; taking one from the kernel");
    let addr = SocketAddr::new(ip, 0);
    let l = TcpListener::bind(addr).map_err(|source| Error::Bind { addr, source })?;
    let port = l
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?
        .port();
    Ok(port)
}

/// The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), Linux's default when
/// it cannot be read.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| {
            let mut it = t.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32_768, 60_999))
}
