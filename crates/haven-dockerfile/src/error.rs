//! Why buildah cannot be used here ([`Unavailable`]) and why a build or an import failed
//! ([`Error`]); each names the program, the Dockerfile (and its line) or the path at fault.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why this machine cannot build Dockerfiles with buildah.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Unavailable {
    #[error(
        "buildah is not installed (no `{program}` on PATH); install it (Debian and Ubuntu: \
         `apt-get install buildah`, Fedora: `dnf install buildah`) or set \
         local.runtime = \"process\""
    )]
    NotInstalled { program: String },

    #[error("`{program} --version` failed: {reason}")]
    Version { program: String, reason: String },

    /// Builds run in a network namespace of their own (no network for `RUN` steps); creating
    /// one needs root, or unprivileged user namespaces.
    #[error(
        "cannot give buildah a network namespace of its own ({reason}); builds need root or \
         unprivileged user namespaces (sysctl user.max_user_namespaces > 0)"
    )]
    Namespace { reason: String },

    #[error("buildah cannot use its storage at `{}` as this user: {reason}", root.display())]
    Storage { root: PathBuf, reason: String },

    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),
}

/// A build or import that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),

    #[error(transparent)]
    Fs(#[from] haven_fs::IoError),

    #[error("no Dockerfile at `{}`", path.display())]
    MissingDockerfile { path: PathBuf },

    #[error("the build context `{}` is not a directory", path.display())]
    MissingContext { path: PathBuf },

    /// A step of the Dockerfile failed (or buildah refused the Dockerfile): `line` is where
    /// the failing step starts, when buildah said which step failed.
    #[error("{}: {message}", Located { dockerfile, line: *line, instruction })]
    Dockerfile {
        dockerfile: PathBuf,
        line: Option<usize>,
        instruction: Option<String>,
        message: String,
    },

    /// A `FROM` of an image that is not in the build storage: builds never pull.
    #[error(
        "{}: the base image `{image}` is not in haven's local build storage, and no registry \
         is reachable from haven's builds (they never pull); `FROM scratch` around a \
         statically linked binary works, and so does a base image built or loaded into the \
         build storage first (see haven-dockerfile's documentation)",
        Located { dockerfile, line: *line, instruction: &None }
    )]
    BaseImageNotLocal {
        dockerfile: PathBuf,
        line: Option<usize>,
        image: String,
    },

    /// buildah failed outside the Dockerfile's steps (storage, push, clean-up).
    #[error("`buildah {command}` failed ({status}): {message}")]
    Buildah {
        command: &'static str,
        status: ExitStatus,
        message: String,
    },

    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },

    /// What buildah pushed is not the single-manifest OCI image expected.
    #[error("buildah's output at `{}` is not usable: {reason}", path.display())]
    Output { path: PathBuf, reason: String },

    #[error(transparent)]
    Registry(#[from] haven_registry::Error),
}

/// `path:line: `instruction``, as compilers locate errors.
struct Located<'a> {
    dockerfile: &'a PathBuf,
    line: Option<usize>,
    instruction: &'a Option<String>,
}

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dockerfile.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(instruction) = self.instruction {
            write!(f, ": `{instruction}`")?;
        }
        Ok(())
    }
}
