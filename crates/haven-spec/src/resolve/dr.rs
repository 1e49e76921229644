//! `[dr]`: the disaster-recovery drills' policy. The values every scenario shares, then each
//! `[dr.scenarios.<name>]` over them, with the keys only one scenario takes checked against it.

use crate::aws;
use crate::duration::Dur;
use crate::model::*;
use crate::schema;
use crate::source_map::join;
use crate::suggest::did_you_mean;

use super::Ctx;

/// The ranges of the durations a drill is given, and why they are what they are.
const RTO: (Dur, Dur) = (Dur::millis(1), Dur::secs(86_400));
const RPO: (Dur, Dur) = (Dur::millis(0), Dur::secs(86_400));
const HOLD: (Dur, Dur) = (Dur::millis(0), Dur::secs(3600));
const TIMEOUT: (Dur, Dur) = (Dur::secs(1), Dur::secs(3600));
const P99: (Dur, Dur) = (Dur::millis(1), Dur::secs(3600));
const DELAY: (Dur, Dur) = (Dur::millis(1), Dur::secs(60));
const JITTER: (Dur, Dur) = (Dur::millis(0), Dur::secs(60));

/// The values a table (`[dr]` or one scenario's) sets that both take.
struct Shared {
    rto: Option<String>,
    rpo: Option<String>,
    rps: Option<i64>,
    path: Option<String>,
    hold: Option<String>,
    timeout: Option<String>,
}

impl Ctx<'_, '_> {
    pub(super) fn dr(&mut self, d: schema::Dr) -> Dr {
        let defaults = Dr::default();
        let shared = Shared {
            rto: d.rto,
            rpo: d.rpo,
            rps: d.rps,
            path: d.path,
            hold: d.hold,
            timeout: d.timeout,
        };
        let (held, timed) = (shared.hold.is_some(), shared.timeout.is_some());
        let mut dr = Dr {
            rto: self.dr_dur("dr.rto", shared.rto, defaults.rto, RTO),
            rpo: self.dr_dur("dr.rpo", shared.rpo, defaults.rpo, RPO),
            rps: self.dr_rps("dr.rps", shared.rps, defaults.rps),
            path: self.dr_path("dr.path", shared.path, &defaults.path),
            hold: self.dr_dur("dr.hold", shared.hold, defaults.hold, HOLD),
            timeout: self.dr_dur("dr.timeout", shared.timeout, defaults.timeout, TIMEOUT),
            scenarios: Default::default(),
        };
        self.dr_timeout_after_hold("dr", (dr.hold, held), (dr.timeout, timed));

        let mut own = d.scenarios.unwrap_or_default();
        let names = Scenario::ALL.map(Scenario::name);
        for name in own.keys() {
            if Scenario::parse(name).is_some() {
                continue;
            }
            let list = names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let hint = match did_you_mean(name, names) {
                Some(s) => format!("did you mean `{s}`? (one of {list})"),
                None => format!("one of {list}"),
            };
            self.r.error_hint(
                "unknown-scenario",
                &join("dr.scenarios", name),
                format!("`{name}` is not a drill scenario"),
                hint,
            );
        }
        let scenarios = Scenario::ALL
            .into_iter()
            .map(|s| {
                let table = own.remove(s.name()).unwrap_or_default();
                (s, self.dr_scenario(s, table, &dr))
            })
            .collect();
        dr.scenarios = scenarios;
        dr
    }

    /// One scenario: its own keys over `dr`'s values and the scenario's defaults.
    fn dr_scenario(&mut self, s: Scenario, t: schema::DrScenario, dr: &Dr) -> DrScenario {
        let base = join("dr.scenarios", s.name());
        let k = |key: &str| format!("{base}.{key}");
        let inherited = DrScenario::inherited(s, dr);

        // Keys that belong to one scenario only.
        for (key, set, owner) in [
            ("rollback", t.rollback.is_some(), Scenario::BadRelease),
            ("image", t.image.is_some(), Scenario::BadRelease),
            ("scale_out", t.scale_out.is_some(), Scenario::LoadSpike),
            ("delay", t.delay.is_some(), Scenario::DependencyLatency),
            ("jitter", t.jitter.is_some(), Scenario::DependencyLatency),
        ] {
            if set && owner != s {
                self.r.error_hint(
                    "scenario-key",
                    &k(key),
                    format!("only `{owner}` takes `{key}`"),
                    format!("set it under [dr.scenarios.{owner}]"),
                );
            }
        }
        let owns = |owner: Scenario| owner == s;

        let (held, timed) = (t.hold.is_some(), t.timeout.is_some());
        let hold = self.dr_dur(&k("hold"), t.hold, inherited.hold, HOLD);
        let timeout = self.dr_dur(&k("timeout"), t.timeout, inherited.timeout, TIMEOUT);
        self.dr_timeout_after_hold(&base, (hold, held), (timeout, timed));

        let max_failed_requests = match t.max_failed_requests {
            None => inherited.max_failed_requests,
            Some(n) => u64::try_from(n).unwrap_or_else(|_| {
                self.r.error_hint(
                    "out-of-range",
                    &k("max_failed_requests"),
                    format!("a count of requests must be 0 or more, not {n}"),
                    "write `0` to allow no failed request",
                );
                inherited.max_failed_requests
            }),
        };
        let max_p99 = match t.max_p99 {
            None => inherited.max_p99,
            Some(text) => self.dr_dur_opt(&k("max_p99"), text, P99),
        };

        let (delay, jitter) = if owns(Scenario::DependencyLatency) {
            let (delayed, jittered) = (t.delay.is_some(), t.jitter.is_some());
            let delay = self.dr_dur(&k("delay"), t.delay, inherited.delay, DELAY);
            let jitter = self.dr_dur(&k("jitter"), t.jitter, inherited.jitter, JITTER);
            if jitter > delay && (delayed || jittered) {
                self.r.error_hint(
                    "drill-jitter",
                    &k(if jittered { "jitter" } else { "delay" }),
                    format!("the jitter ({jitter}) is larger than the delay ({delay})"),
                    "the added latency is the delay plus or minus the jitter: jitter <= delay",
                );
            }
            (delay, jitter)
        } else {
            (inherited.delay, inherited.jitter)
        };

        let image = match t.image {
            Some(image) if owns(Scenario::BadRelease) => {
                if let Some(problem) = aws::image_reference_problem(&image) {
                    self.r.error_hint(
                        "bad-image",
                        &k("image"),
                        format!("`{image}` is not an image tag or digest: {problem}"),
                        "name a tag such as `v1-broken` or a digest `sha256:<64 hex digits>`; \
                         leave it out and the drill derives an image whose tasks cannot start",
                    );
                }
                Some(image)
            }
            _ => inherited.image.clone(),
        };

        DrScenario {
            rto: self.dr_dur(&k("rto"), t.rto, inherited.rto, RTO),
            rpo: self.dr_dur(&k("rpo"), t.rpo, inherited.rpo, RPO),
            max_failed_requests,
            max_p99,
            rps: self.dr_rps(&k("rps"), t.rps, inherited.rps),
            path: self.dr_path(&k("path"), t.path, &inherited.path),
            hold,
            timeout,
            rollback: match t.rollback {
                Some(b) if owns(Scenario::BadRelease) => b,
                _ => inherited.rollback,
            },
            scale_out: match t.scale_out {
                Some(b) if owns(Scenario::LoadSpike) => b,
                _ => inherited.scale_out,
            },
            delay,
            jitter,
            image,
        }
    }

    fn dr_dur(&mut self, key: &str, value: Option<String>, default: Dur, range: (Dur, Dur)) -> Dur {
        let hint = format!("a drill takes {} to {}", range.0, range.1);
        self.dur_hint(key, value, default, range, &hint)
    }

    /// A duration with no default: `None` when it is not one or out of range (reported).
    fn dr_dur_opt(&mut self, key: &str, text: String, range: (Dur, Dur)) -> Option<Dur> {
        match Dur::parse(&text) {
            Ok(d) if (range.0..=range.1).contains(&d) => Some(d),
            // The same check as every duration reports it; the limit stays unset.
            _ => {
                self.dr_dur(key, Some(text), range.1, range);
                None
            }
        }
    }

    fn dr_rps(&mut self, key: &str, value: Option<i64>, default: u32) -> u32 {
        let hint = format!(
            "the drills' load generator offers 1 to {} requests per second",
            Dr::MAX_RPS
        );
        self.int_hint(
            key,
            value,
            default,
            (1, Dr::MAX_RPS),
            "requests per second",
            &hint,
        )
    }

    /// A path to request: absolute, with an optional query, nothing a request line cannot hold.
    fn dr_path(&mut self, key: &str, value: Option<String>, default: &str) -> String {
        let Some(path) = value else {
            return default.to_owned();
        };
        let ok = path.starts_with('/')
            && path.len() <= 2048
            && !path.contains('#')
            && path.chars().all(|c| c.is_ascii_graphic());
        if !ok {
            self.r.error_hint(
                "bad-path",
                key,
                format!("`{path}` is not a path to request"),
                "start it with `/`, without spaces or a `#` fragment, e.g. `/` or `/work?ms=5`",
            );
        }
        path
    }

    /// A drill waits for recovery after holding its fault, so its timeout must be longer.
    /// Reported at the key the table sets (timeout first); a table that sets neither inherits
    /// both, and the table they come from was checked.
    fn dr_timeout_after_hold(
        &mut self,
        table: &str,
        (hold, hold_set): (Dur, bool),
        (timeout, timeout_set): (Dur, bool),
    ) {
        if timeout > hold || !(hold_set || timeout_set) {
            return;
        }
        let key = if timeout_set { "timeout" } else { "hold" };
        self.r.error_hint(
            "drill-timeout",
            &format!("{table}.{key}"),
            format!("the timeout ({timeout}) must be longer than the hold ({hold})"),
            "a drill holds its fault for `hold`, then waits up to `timeout` for recovery",
        );
    }
}
