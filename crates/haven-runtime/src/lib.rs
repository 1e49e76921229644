//! Which runtime the twin uses: the spec's `local.runtime` against what this machine has.
//!
//! `container` needs both a Dockerfile builder (buildah) and an OCI runtime (runc) that may
//! create cgroups here; `process` needs nothing. `auto` takes containers where both are ready
//! and says why not otherwise. `haven up` decides once and records the decision in the state
//! directory, so that the region processes, the pipeline and `haven status` agree on it.

use std::path::Path;

use haven_control::api::{Runtime, RuntimeStatus};
use haven_control::paths::Paths;
use haven_spec::model::Runtime as Wanted;

/// `local.runtime = "container"` on a machine that cannot run containers.
#[derive(Debug, thiserror::Error)]
#[error(
    "local.runtime = \"container\", but {reason}; set local.runtime = \"auto\" or \"process\" to run tasks as processes"
)]
pub struct Refused {
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Control(#[from] haven_control::Error),
    #[error("{}: {reason}", path.display())]
    Corrupt {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// What this machine offers: ready, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// The builder and the runtime are both ready (and what they are), or the first reason
    /// they are not.
    pub containers: Result<String, String>,
}

impl Machine {
    /// Probes buildah (with its storage under `buildah_root`) and runc.
    pub fn probe(buildah_root: &Path) -> Self {
        let builder = haven_dockerfile::probe(buildah_root);
        let runtime = haven_container::probe(haven_container::DEFAULT_RUNTIME);
        let containers = match (builder, runtime) {
            (Err(why), _) => Err(why.to_string()),
            (_, haven_container::Probe::Unavailable(why)) => Err(why.to_string()),
            (Ok(buildah), haven_container::Probe::Ready { runtime, cgroups }) => Ok(format!(
                "buildah {} builds the Dockerfile; {} runs tasks under their Fargate limits (cgroup {})",
                buildah.version(),
                runtime.file_name().map_or_else(
                    || runtime.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                ),
                match cgroups {
                    haven_container::CgroupMode::V2 => "v2",
                    haven_container::CgroupMode::V1 => "v1",
                }
            )),
        };
        Self { containers }
    }
}

/// The runtime `wanted` gives on `machine`.
pub fn decide(wanted: Wanted, machine: &Machine) -> Result<RuntimeStatus, Refused> {
    match (wanted, &machine.containers) {
        (Wanted::Process, _) => Ok(RuntimeStatus {
            mode: Runtime::Process,
            reason:
                "local.runtime = \"process\": the build's artifacts as an image, tasks as processes"
                    .to_owned(),
        }),
        (Wanted::Container | Wanted::Auto, Ok(how)) => Ok(RuntimeStatus {
            mode: Runtime::Container,
            reason: how.clone(),
        }),
        (Wanted::Container, Err(why)) => Err(Refused {
            reason: why.clone(),
        }),
        (Wanted::Auto, Err(why)) => Ok(RuntimeStatus {
            mode: Runtime::Process,
            reason: format!("containers are not available ({why}); tasks run as processes"),
        }),
    }
}

/// Records the decision for the twin's processes (`runtime.json`).
pub fn record(paths: &Paths, status: &RuntimeStatus) -> Result<(), Error> {
    let text = serde_json::to_vec_pretty(status).map_err(|e| Error::Corrupt {
        path: paths.runtime(),
        reason: e.to_string(),
    })?;
    Ok(haven_control::paths::write_atomic(&paths.runtime(), &text)?)
}

/// The decision `haven up` recorded, if any.
pub fn recorded(paths: &Paths) -> Result<Option<RuntimeStatus>, Error> {
    let path = paths.runtime();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path,
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(haven_control::Error::from(haven_fs::IoError::new(&path, e)).into()),
    }
}

/// The runtime for work outside a running twin (`haven build`, `haven image build`): what
/// the running twin recorded if it runs, else decided now.
pub fn current(paths: &Paths, wanted: Wanted) -> Result<RuntimeStatus, Error> {
    if let Some(status) = recorded(paths)? {
        let alive = haven_control::control::Endpoint::read(&paths.supervisor())
            .is_ok_and(|ep| ep.is_alive());
        if alive {
            return Ok(status);
        }
    }
    Ok(decide(wanted, &Machine::probe(&paths.buildah()))?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_wish_on_each_machine() {
        let ready = Machine {
            containers: Ok("buildah 1.28.2 and runc".into()),
        };
        let bare = Machine {
            containers: Err("runc is not on PATH".into()),
        };
        let cases = [
            (Wanted::Auto, &ready, Some(Runtime::Container)),
            (Wanted::Auto, &bare, Some(Runtime::Process)),
            (Wanted::Container, &ready, Some(Runtime::Container)),
            (Wanted::Container, &bare, None),
            (Wanted::Process, &ready, Some(Runtime::Process)),
            (Wanted::Process, &bare, Some(Runtime::Process)),
        ];
        for (wanted, machine, expect) in cases {
            let got = decide(wanted, machine);
            assert_eq!(
                got.as_ref().ok().map(|s| s.mode),
                expect,
                "{wanted:?} {machine:?}"
            );
        }
        let fallback = decide(Wanted::Auto, &bare).unwrap();
        assert!(
            fallback.reason.contains("runc is not on PATH"),
            "{}",
            fallback.reason
        );
        let refused = decide(Wanted::Container, &bare).unwrap_err().to_string();
        assert!(
            refused.contains("local.runtime = \"container\"") && refused.contains("runc"),
            "{refused}"
        );
    }

    #[test]
    fn the_decision_is_recorded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path());
        assert_eq!(recorded(&paths).unwrap(), None);
        let status = RuntimeStatus {
            mode: Runtime::Container,
            reason: "ready".into(),
        };
        record(&paths, &status).unwrap();
        assert_eq!(recorded(&paths).unwrap(), Some(status));
        std::fs::write(paths.runtime(), b"{").unwrap();
        assert!(
            recorded(&paths)
                .unwrap_err()
                .to_string()
                .contains("runtime.json")
        );
    }
}
