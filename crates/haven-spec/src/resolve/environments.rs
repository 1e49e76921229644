//! Staging and production: each the service's settings with its own counts, sizes and
//! environment.

use crate::model::*;
use crate::schema;

use super::Ctx;

impl Ctx<'_, '_> {
    pub(super) fn environments(
        &mut self,
        e: schema::Environments,
        service: &Service,
    ) -> Environments {
        let staging_raw = e.staging.unwrap_or_default();
        let staging = if staging_raw.enabled.unwrap_or(true) {
            Some(self.environment("staging", staging_raw, service, (1, 1, 2)))
        } else {
            None
        };
        let production_raw = e.production.unwrap_or_default();
        if production_raw.enabled == Some(false) {
            self.r.error_hint(
                "production-disabled",
                "environments.production.enabled",
                "production cannot be disabled",
                "production is what the architecture serves; disable staging instead if you need to",
            );
        }
        let production = self.environment(
            "production",
            production_raw,
            service,
            (service.desired, service.min, service.max),
        );
        Environments {
            staging,
            production,
        }
    }

    fn environment(
        &mut self,
        name: &str,
        e: schema::Environment,
        service: &Service,
        (desired, min, max): (u32, u32, u32),
    ) -> Environment {
        let section = format!("environments.{name}");
        let (cpu, memory) = if e.cpu.is_some() || e.memory.is_some() {
            self.size(
                &section,
                e.cpu.or(Some(i64::from(service.cpu))),
                e.memory.or(Some(i64::from(service.memory))),
                service.cpu,
                service.memory,
            )
        } else {
            (service.cpu, service.memory)
        };
        let desired = self.int(
            &format!("{section}.desired"),
            e.desired,
            desired,
            0,
            5000,
            "a task count",
        );
        let min = self.int(
            &format!("{section}.min"),
            e.min,
            min,
            0,
            5000,
            "a task count",
        );
        let max = self.int(
            &format!("{section}.max"),
            e.max,
            max,
            0,
            5000,
            "a task count",
        );
        // Production's sizes are the service's, already checked there.
        if name != "production" || [&e.desired, &e.min, &e.max].iter().any(|v| v.is_some()) {
            self.counts(&section, desired, min, max);
        }
        let environment = e.environment.unwrap_or_default();
        for k in environment.keys() {
            self.env_name(
                &crate::source_map::join(&format!("{section}.environment"), k),
                k,
            );
        }
        Environment {
            name: name.to_owned(),
            desired,
            min,
            max,
            cpu,
            memory,
            environment,
        }
    }
}
