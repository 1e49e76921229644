//! `haven reload` and SIGHUP: the spec read again, what can change while running applied (the
//! ALB access logs), every other change listed for the next `haven up`.

use std::sync::atomic::Ordering;

use haven_control::api::{AccessLogs, ReloadResult};
use haven_spec::settings::Twin;
use http::Method;

use super::Sup;
use crate::lock;

impl Sup {
    /// Reads the spec file again and applies what can change while the twin runs: the ALB
    /// access logs (`local.access_logs`, an ALB attribute AWS changes in place too). Other
    /// changes are listed for a restart. A spec that does not load changes nothing.
    pub(super) async fn reload(&self) -> Result<ReloadResult, String> {
        let loaded = haven_spec::load(&self.spec).map_err(|e| e.to_string())?;
        let access_logs = loaded.spec.local.access_logs;
        let was = self.access_logs.load(Ordering::Relaxed);
        // What needs a restart: whatever differs once the live setting is set as in the file.
        let mut live = self.twin.clone();
        set_access_logs(&mut live, access_logs);
        let restart_needed = settings_changes(&live, &loaded.spec.twin());
        let mut result = ReloadResult {
            restart_needed,
            ..ReloadResult::default()
        };
        if was != access_logs {
            let body = serde_json::to_value(AccessLogs {
                enabled: access_logs,
            })
            .map_err(|e| e.to_string())?;
            for r in &self.twin.regions {
                let down = lock(&self.procs)
                    .get(&r.name)
                    .is_none_or(|p| p.identity.is_none());
                let answer = self
                    .call(
                        &self.paths.region_endpoint(&r.name),
                        Method::PUT,
                        "/access-logs",
                        Some(body.clone()),
                    )
                    .await;
                if let Err(e) = answer {
                    result.notes.push(if down {
                        format!(
                            "{} is down; it takes the spec's values when it starts",
                            r.name
                        )
                    } else {
                        format!("{}: access logs not switched: {e}", r.name)
                    });
                }
            }
            self.access_logs.store(access_logs, Ordering::Relaxed);
            result
                .applied
                .push(format!("local.access_logs = {access_logs}"));
        }
        Ok(result)
    }
}

fn set_access_logs(twin: &mut Twin, on: bool) {
    for s in twin.regions.iter_mut().flat_map(|r| &mut r.services) {
        s.access_logs = on;
    }
}

/// The settings that differ between `old` and `new`, by their place in the resolved
/// settings (`haven show`'s layout), regions and services by name.
fn settings_changes(old: &Twin, new: &Twin) -> Vec<String> {
    /// A key one side lacks.
    static NULL: serde_json::Value = serde_json::Value::Null;
    fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let (va, vb) = (x.get(k).unwrap_or(&NULL), y.get(k).unwrap_or(&NULL));
                    walk(&join(path, k), va, vb, out);
                }
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                    let name = va.get("name").and_then(Value::as_str);
                    let at = match name {
                        Some(n) if vb.get("name").and_then(Value::as_str) == Some(n) => {
                            join(path, n)
                        }
                        _ => format!("{path}[{i}]"),
                    };
                    walk(&at, va, vb, out);
                }
            }
            _ if a != b => out.push(path.to_owned()),
            _ => {}
        }
    }
    fn join(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    }
    let (Ok(a), Ok(b)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return vec!["(the settings cannot be compared)".to_owned()];
    };
    let mut out = Vec::new();
    walk("", &a, &b, &mut out);
    out
}
