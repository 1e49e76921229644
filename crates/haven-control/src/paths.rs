//! The state directory's layout: one place that knows where each file lives.

use std::path::{Path, PathBuf};

use haven_fs::WithPath;

use crate::Error;

#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
}

impl Paths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The control token (0600): whoever can read it can drive the twin.
    pub fn token(&self) -> PathBuf {
        self.root.join("token")
    }

    pub fn supervisor(&self) -> PathBuf {
        self.root.join("supervisor.json")
    }

    pub fn ports(&self) -> PathBuf {
        self.root.join("ports.json")
    }

    pub fn edge_endpoint(&self) -> PathBuf {
        self.root.join("edge").join("control.json")
    }

    pub fn region_dir(&self, region: &str) -> PathBuf {
        self.root.join("regions").join(region)
    }

    pub fn region_endpoint(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("control.json")
    }

    pub fn region_db(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("state.db")
    }

    /// The region's ECR twin: an OCI image layout.
    pub fn registry(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("registry")
    }

    /// Images unpacked for tasks, one directory per manifest digest.
    pub fn image_cache(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("images")
    }

    /// The region's OCI runtime state (`runc --root`): the containers its tasks run in.
    pub fn runc_root(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("runc")
    }

    /// The region's OCI bundles, one per running container task (config and writable layer).
    pub fn bundles(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("bundles")
    }

    /// buildah's storage for Dockerfile builds (vfs), the twin's own, never the user's.
    pub fn buildah(&self) -> PathBuf {
        self.root.join("buildah")
    }

    /// The runtime `haven up` decided on (`local.runtime` on this machine) and why.
    pub fn runtime(&self) -> PathBuf {
        self.root.join("runtime.json")
    }

    /// The ECR twins' registry password (0600): `haven registry login` prints it.
    pub fn registry_token(&self) -> PathBuf {
        self.root.join("registry-token")
    }

    pub fn task_logs(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("tasks")
    }

    /// The region's CloudWatch Logs twin: a directory per log group, a file per stream.
    pub fn region_logs(&self, region: &str) -> PathBuf {
        self.region_dir(region).join("logs")
    }

    /// Logs of the twin's own processes (supervisor, edge, regions).
    pub fn process_log(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
    }

    pub fn builds(&self) -> PathBuf {
        self.root.join("builds")
    }

    /// The build `haven image build` and `haven up` package.
    pub fn current_build(&self) -> PathBuf {
        self.builds().join("current")
    }

    /// The SSM Parameter Store twin (`haven-secrets`): its key and encrypted parameters.
    pub fn secrets(&self) -> PathBuf {
        self.root.join("secrets")
    }

    /// The image (a manifest digest) a service starts on before any release.
    pub fn initial_image(&self) -> PathBuf {
        self.root.join("initial-image")
    }

    /// A region's CodeCommit twin: the bare repository `repo` pushes go to.
    pub fn source_repo(&self, region: &str, repo: &str) -> PathBuf {
        self.region_dir(region)
            .join("source")
            .join(format!("{repo}.git"))
    }

    /// The CodePipeline twin's directory: its database, control endpoint, outbox and runs.
    pub fn pipeline_dir(&self) -> PathBuf {
        self.root.join("pipeline")
    }

    pub fn pipeline_endpoint(&self) -> PathBuf {
        self.pipeline_dir().join("control.json")
    }

    pub fn pipeline_db(&self) -> PathBuf {
        self.pipeline_dir().join("pipeline.db")
    }

    /// Every pipeline run's directory (see [`Paths::pipeline_run`]).
    pub fn pipeline_runs(&self) -> PathBuf {
        self.pipeline_dir().join("runs")
    }

    /// One pipeline run's working files: its source checkout and a log per stage.
    pub fn pipeline_run(&self, run: u64) -> PathBuf {
        self.pipeline_dir().join("runs").join(run.to_string())
    }

    /// A stage's log of a run, `<stage>.log` in the run's directory.
    pub fn stage_log(&self, run: u64, stage: &str) -> PathBuf {
        self.pipeline_run(run).join(format!("{stage}.log"))
    }

    /// Every drill run's directory (see [`Paths::drill_run`]).
    pub fn drills(&self) -> PathBuf {
        self.root.join("drills")
    }

    /// One drill run's reports: `report.json`, `report.html` and `summary.md`.
    pub fn drill_run(&self, id: &str) -> PathBuf {
        self.drills().join(id)
    }

    /// The partition marker: while it exists, the regions are cut from each other
    /// (`haven chaos partition`) and nothing replicates between them.
    pub fn partition(&self) -> PathBuf {
        self.root.join("chaos").join("partition")
    }
}

/// Writes a file atomically and durably, creating its directory: a reader sees the old contents
/// or the new, never a mix.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_path(dir)?;
    Ok(haven_fs::write_atomic(path, contents)?)
}

/// Reads the control token, creating a random one (mode 0600) the first time.
pub fn token(paths: &Paths) -> Result<String, Error> {
    secret_file(paths, paths.token())
}

/// Reads the ECR twins' registry password, creating a random one (mode 0600) the first time.
/// Apart from the control token: logging a tool in to the registry must not hand it the twin.
pub fn registry_token(paths: &Paths) -> Result<String, Error> {
    secret_file(paths, paths.registry_token())
}

/// This state directory's instance id (random, kept): it names the twin's cgroups, which
/// live outside the state directory, so two twins on one machine never share one.
pub fn instance_id(paths: &Paths) -> Result<String, Error> {
    Ok(secret_file(paths, paths.root.join("instance"))?
        .chars()
        .take(12)
        .collect())
}

fn secret_file(paths: &Paths, path: PathBuf) -> Result<String, Error> {
    match std::fs::read_to_string(&path) {
        Ok(t) if t.trim().len() >= 32 => return Ok(t.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(haven_fs::IoError::new(&path, e).into()),
    }
    // From the OS or not at all: a token is never made of weaker randomness.
    let token = haven_fs::random::token_hex(32)?;
    std::fs::create_dir_all(&paths.root).with_path(&paths.root)?;
    // The first writer wins: processes starting at once (the regions) must all read the one
    // token, so it is written beside and linked into place, which fails if another was first.
    let mut tmp = path.clone().into_os_string();
    tmp.push(format!(".{}", haven_fs::random::id_hex(8)));
    let tmp = PathBuf::from(tmp);
    haven_fs::write_private(&tmp, token.as_bytes())?;
    let linked = std::fs::hard_link(&tmp, &path);
    // The temporary name goes either way; failing to remove it leaves a stray file, no harm.
    if let Err(e) = std::fs::remove_file(&tmp) {
        tracing::warn!("cannot remove {}: {e}", tmp.display());
    }
    match linked {
        Ok(()) => Ok(token),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).with_path(&path)?;
            Ok(text.trim().to_owned())
        }
        Err(e) => Err(haven_fs::IoError::new(&path, e).into()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn processes_starting_at_once_read_one_token() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let paths = Paths::new(dir.path());
            let tokens: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..6)
                    .map(|_| s.spawn(|| registry_token(&paths).unwrap()))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert!(tokens.iter().all(|t| *t == tokens[0]), "{tokens:?}");
            assert_eq!(registry_token(&paths).unwrap(), tokens[0]);
            // Nothing but the token itself is left beside it.
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["registry-token"]);
        }
    }
}
