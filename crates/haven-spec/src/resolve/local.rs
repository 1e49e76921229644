//! The `[local]` profile: how the twin runs on this machine (addresses, ports, fast times).

use std::path::PathBuf;

use crate::duration::Dur;
use crate::model::*;
use crate::schema;

use super::{Ctx, DEFAULT_STATE_DIR};

impl Ctx<'_, '_> {
    pub(super) fn local(
        &mut self,
        l: schema::Local,
        service_hc: &HealthCheck,
        regions: usize,
    ) -> Local {
        let k = |s: &str| format!("local.{s}");
        let bind = match l.bind {
            Some(b) => match b.parse::<std::net::IpAddr>() {
                Ok(ip) => {
                    if !ip.is_loopback() {
                        self.r.warning_hint(
                            "public-bind",
                            &k("bind"),
                            format!("the twin will listen on {ip}, beyond this machine"),
                            "keep `127.0.0.1` unless others must reach it",
                        );
                    }
                    ip
                }
                Err(_) => {
                    self.r.error_hint(
                        "bad-address",
                        &k("bind"),
                        format!("`{b}` is not an IP address"),
                        "use `127.0.0.1`",
                    );
                    std::net::Ipv4Addr::LOCALHOST.into()
                }
            },
            None => std::net::Ipv4Addr::LOCALHOST.into(),
        };
        let port = |c: &mut Self, key: &str, v: Option<i64>, d: u16| {
            c.int(&k(key), v, u32::from(d), 0, 65535, "a port") as u16
        };
        let edge_port = port(self, "edge_port", l.edge_port, 4000);
        let alb_port_base = port(self, "alb_port_base", l.alb_port_base, 4001);
        if alb_port_base != 0 && u32::from(alb_port_base) + regions as u32 > 65535 {
            self.r.error(
                "out-of-range",
                &k("alb_port_base"),
                "the regions' ALB ports would run past 65535",
            );
        }
        let dashboard_port = port(self, "dashboard_port", l.dashboard_port, 4100);
        let (lo, hi) = (Dur::millis(0), Dur::secs(3600));
        let interval = self.dur(
            &k("health_check_interval"),
            l.health_check_interval,
            Dur::secs(1),
            Dur::millis(100),
            hi,
        );
        let timeout = self.dur(
            &k("health_check_timeout"),
            l.health_check_timeout,
            Dur::millis(500),
            Dur::millis(50),
            hi,
        );
        if timeout >= interval {
            self.r.error_hint(
                "timeout-interval",
                &k("health_check_timeout"),
                format!("the timeout ({timeout}) must be shorter than the interval ({interval})"),
                "as on the ALB, timeout < interval",
            );
        }
        let health_check = HealthCheck {
            interval,
            timeout,
            healthy_threshold: self.int(
                &k("healthy_threshold"),
                l.healthy_threshold,
                2,
                2,
                10,
                "a threshold",
            ),
            unhealthy_threshold: self.int(
                &k("unhealthy_threshold"),
                l.unhealthy_threshold,
                2,
                2,
                10,
                "a threshold",
            ),
            ..service_hc.clone()
        };
        Local {
            state_dir: PathBuf::from(l.state_dir.unwrap_or_else(|| DEFAULT_STATE_DIR.into())),
            bind,
            edge_port,
            alb_port_base,
            dashboard_port,
            smtp_relay: l.smtp_relay,
            health_check,
            deregistration_delay: self.dur(
                &k("deregistration_delay"),
                l.deregistration_delay,
                Dur::secs(2),
                lo,
                hi,
            ),
            stop_timeout: self.dur(
                &k("stop_timeout"),
                l.stop_timeout,
                Dur::secs(5),
                Dur::millis(100),
                Dur::secs(120),
            ),
            metrics_interval: self.dur(
                &k("metrics_interval"),
                l.metrics_interval,
                Dur::secs(1),
                Dur::millis(100),
                Dur::secs(60),
            ),
            scale_out_cooldown: self.dur(
                &k("scale_out_cooldown"),
                l.scale_out_cooldown,
                Dur::secs(5),
                lo,
                hi,
            ),
            scale_in_cooldown: self.dur(
                &k("scale_in_cooldown"),
                l.scale_in_cooldown,
                Dur::secs(15),
                lo,
                hi,
            ),
            bake_time: self.dur(&k("bake_time"), l.bake_time, Dur::secs(3), lo, hi),
            alarm_period: self.dur(
                &k("alarm_period"),
                l.alarm_period,
                Dur::secs(5),
                Dur::secs(1),
                hi,
            ),
            approval_timeout: self.dur(
                &k("approval_timeout"),
                l.approval_timeout,
                Dur::secs(3600),
                Dur::secs(1),
                Dur::secs(7 * 86_400),
            ),
            edge_health_check_interval: self.dur(
                &k("edge_health_check_interval"),
                l.edge_health_check_interval,
                Dur::secs(1),
                Dur::millis(100),
                Dur::secs(60),
            ),
            edge_failure_threshold: self.int(
                &k("edge_failure_threshold"),
                l.edge_failure_threshold,
                2,
                1,
                10,
                "a failure threshold",
            ),
            access_logs: l.access_logs.unwrap_or(true),
            runtime: self.choice(
                &k("runtime"),
                l.runtime,
                Runtime::Auto,
                &[
                    ("auto", Runtime::Auto),
                    ("container", Runtime::Container),
                    ("process", Runtime::Process),
                ],
            ),
            network: self.choice(
                &k("network"),
                l.network,
                Network::Auto,
                &[
                    ("auto", Network::Auto),
                    ("vpc", Network::Vpc),
                    ("loopback", Network::Loopback),
                ],
            ),
        }
    }
}
