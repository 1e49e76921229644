//! Monitoring: log retention, the alarms with their per-kind defaults, and the notification
//! topics they publish to.

use std::collections::BTreeMap;

use crate::aws;
use crate::duration::Dur;
use crate::model::*;
use crate::schema;

use super::Ctx;

/// What an alarm of a kind is when the spec leaves a setting out.
struct AlarmDefaults {
    threshold: f64,
    evaluation_periods: u32,
    missing_data: MissingData,
}

impl Ctx<'_, '_> {
    pub(super) fn monitoring(&mut self, m: schema::Monitoring) -> Monitoring {
        let log_retention_days = match m.log_retention_days {
            Some(d) if u32::try_from(d).is_ok_and(|d| aws::LOG_RETENTION_DAYS.contains(&d)) => {
                d as u32
            }
            Some(d) => {
                let nearest = aws::LOG_RETENTION_DAYS
                    .iter()
                    .min_by_key(|v| (i64::from(**v) - d).abs())
                    .copied()
                    .unwrap_or(365);
                self.r.error_hint(
                    "log-retention",
                    "monitoring.log_retention_days",
                    format!("{d} days is not a CloudWatch Logs retention period"),
                    format!("the nearest allowed value is {nearest}; CloudWatch accepts 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653"),
                );
                nearest
            }
            None => 365,
        };
        let a = m.alarms.unwrap_or_default();
        let mut alarms = Vec::new();
        // The ALB publishes no 5xx count for a period without any: that period is a good one.
        let (missing, good) = (MissingData::Missing, MissingData::NotBreaching);
        for (kind, name, raw, threshold, evals, missing) in [
            (AlarmKind::Cpu, "cpu", a.cpu, 80.0, 3, missing),
            (AlarmKind::Memory, "memory", a.memory, 80.0, 3, missing),
            (AlarmKind::Http5xx, "http_5xx", a.http_5xx, 10.0, 1, good),
            (
                AlarmKind::UnhealthyTargets,
                "unhealthy_targets",
                a.unhealthy_targets,
                1.0,
                2,
                missing,
            ),
            (
                AlarmKind::PipelineFailure,
                "pipeline_failure",
                a.pipeline_failure,
                1.0,
                1,
                missing,
            ),
        ] {
            let defaults = AlarmDefaults {
                threshold,
                evaluation_periods: evals,
                missing_data: missing,
            };
            if let Some(alarm) = self.alarm(kind, name, raw.unwrap_or_default(), defaults) {
                alarms.push(alarm);
            }
        }
        Monitoring {
            log_retention_days,
            dashboard: m.dashboard.unwrap_or(true),
            notify: m.notify.unwrap_or_else(|| "alerts".into()),
            alarms,
        }
    }

    fn alarm(
        &mut self,
        kind: AlarmKind,
        name: &str,
        a: schema::Alarm,
        defaults: AlarmDefaults,
    ) -> Option<Alarm> {
        let k = |s: &str| format!("monitoring.alarms.{name}.{s}");
        let threshold = defaults.threshold;
        let threshold = match a.threshold {
            Some(t)
                if matches!(kind, AlarmKind::Cpu | AlarmKind::Memory)
                    && !(1.0..=100.0).contains(&t) =>
            {
                self.r.error_hint(
                    "out-of-range",
                    &k("threshold"),
                    format!("a percentage must be from 1 to 100, not {t}"),
                    "CPU and memory alarms compare a utilisation percentage",
                );
                threshold
            }
            Some(t) if !(t.is_finite() && t >= 0.0) => {
                self.r.error(
                    "out-of-range",
                    &k("threshold"),
                    format!("the threshold must be a number >= 0, not {t}"),
                );
                threshold
            }
            Some(t) => t,
            None => threshold,
        };
        let period = self.dur(
            &k("period"),
            a.period,
            Dur::secs(60),
            Dur::secs(10),
            Dur::secs(86_400),
        );
        if period.0.as_secs() >= 60 && period.0.as_secs() % 60 != 0
            || ![10, 20, 30].contains(&period.0.as_secs()) && period.0.as_secs() < 60
        {
            self.r.error_hint(
                "alarm-period",
                &k("period"),
                format!("{period} is not a CloudWatch alarm period"),
                "use 10s, 20s, 30s or a multiple of 60s",
            );
        }
        let evaluation_periods = self.int(
            &k("evaluation_periods"),
            a.evaluation_periods,
            defaults.evaluation_periods,
            1,
            100,
            "evaluation periods",
        );
        let datapoints_to_alarm = self.int(
            &k("datapoints_to_alarm"),
            a.datapoints_to_alarm,
            evaluation_periods,
            1,
            100,
            "datapoints to alarm",
        );
        if datapoints_to_alarm > evaluation_periods {
            self.r.error_hint(
                "alarm-datapoints",
                &k("datapoints_to_alarm"),
                format!("{datapoints_to_alarm} datapoints out of {evaluation_periods} evaluation periods"),
                "datapoints_to_alarm must be at most evaluation_periods (M out of N)",
            );
        }
        let missing_data = self.choice(
            &k("missing_data"),
            a.missing_data,
            defaults.missing_data,
            &[
                ("missing", MissingData::Missing),
                ("notBreaching", MissingData::NotBreaching),
                ("breaching", MissingData::Breaching),
                ("ignore", MissingData::Ignore),
            ],
        );
        a.enabled.unwrap_or(true).then_some(Alarm {
            kind,
            threshold,
            period,
            evaluation_periods,
            datapoints_to_alarm,
            missing_data,
        })
    }

    pub(super) fn notifications(&mut self, n: schema::Notifications) -> Notifications {
        let from = n.from.unwrap_or_else(|| "haven@localhost".into());
        if !from.contains('@') {
            self.r.error(
                "bad-email",
                "notifications.from",
                format!("`{from}` is not an e-mail address"),
            );
        }
        let raw_topics = n
            .topics
            .unwrap_or_else(|| BTreeMap::from([("alerts".to_owned(), schema::Topic::default())]));
        let mut topics = BTreeMap::new();
        for (name, t) in raw_topics {
            let base = crate::source_map::join("notifications.topics", &name);
            let name_ok = !name.is_empty()
                && name.len() <= 256
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
            if !name_ok {
                self.r.error_hint(
                    "bad-name",
                    &base,
                    format!("`{name}` is not a valid topic name"),
                    "use letters, digits, `_` and `-` (SNS's rules)",
                );
            }
            let email = t.email.unwrap_or_default();
            for (i, addr) in email.iter().enumerate() {
                if !aws::email_is_valid(addr) {
                    self.r.error_hint(
                        "bad-email",
                        &format!("{base}.email[{i}]"),
                        format!("`{addr}` is not a valid e-mail address"),
                        "write it as `name@example.com`",
                    );
                }
            }
            let webhooks = t.webhooks.unwrap_or_default();
            for (i, url) in webhooks.iter().enumerate() {
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                    self.r.error_hint(
                        "bad-url",
                        &format!("{base}.webhooks[{i}]"),
                        format!("`{url}` is not an http(s) URL"),
                        "write it as `https://hooks.example.com/path`",
                    );
                }
            }
            if let Some(secret) = &t.webhook_secret {
                self.ssm_name(&format!("{base}.webhook_secret"), secret);
            }
            if email.is_empty() && webhooks.is_empty() {
                self.r.warning_hint(
                    "no-subscription",
                    &base,
                    format!("topic `{name}` has no subscription: its alerts reach nobody"),
                    "add `email = [\"ops@example.com\"]` or a webhook",
                );
            }
            topics.insert(
                name,
                Topic {
                    email,
                    webhooks,
                    webhook_secret: t.webhook_secret,
                },
            );
        }
        Notifications { from, topics }
    }
}
