//! The buildspec (version 0.2): typed model, parsing and validation with located diagnostics.
//!
//! Keys follow the CodeBuild "Build specification reference". Every key is either understood,
//! known but not supported by the local twin (an error that says why), or unknown (an error
//! with a did-you-mean suggestion). Nothing is silently ignored, so a buildspec that parses
//! here means on this machine what it means on CodeBuild.

use std::fmt;

use serde::Serialize;

use crate::yaml::{self, Node, Scalar};

/// A valid buildspec. Built only by [`Buildspec::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Buildspec {
    pub env: Env,
    pub phases: Phases,
    pub artifacts: Option<Artifacts>,
    /// Report groups in the order written.
    pub reports: Vec<ReportGroup>,
    /// `cache.paths`: accepted for compatibility; the twin builds in a fresh checkout and keeps
    /// no cache between builds.
    pub cache_paths: Vec<String>,
}

/// `env`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Env {
    pub shell: Shell,
    /// `env.variables`, in order. Values are literal: CodeBuild expands nothing in them.
    pub variables: Vec<(String, String)>,
    /// `env.parameter-store`: environment variable → parameter name.
    pub parameter_store: Vec<(String, String)>,
    pub exported_variables: Vec<String>,
    /// `env.git-credential-helper`. Accepted; the twin's source is a local checkout that needs
    /// no credentials.
    pub git_credential_helper: bool,
}

/// `env.shell`: the Linux shell tags CodeBuild supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Shell {
    /// `/bin/sh`, CodeBuild's default on Linux images when `env.shell` is absent.
    #[default]
    #[serde(rename = "/bin/sh")]
    Sh,
    #[serde(rename = "bash")]
    Bash,
}

impl Shell {
    /// The program to start; `bash` is looked up on the build's `PATH`, as on CodeBuild.
    pub fn program(self) -> &'static str {
        match self {
            Shell::Sh => "/bin/sh",
            Shell::Bash => "bash",
        }
    }
}

/// The build's phases, by name. Each is optional, as on CodeBuild.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Phases {
    pub install: Option<Phase>,
    pub pre_build: Option<Phase>,
    pub build: Option<Phase>,
    pub post_build: Option<Phase>,
}

impl Phases {
    /// The phase for a buildspec phase name; `None` for the phases CodeBuild runs itself.
    pub fn get(&self, name: PhaseName) -> Option<&Phase> {
        match name {
            PhaseName::Install => self.install.as_ref(),
            PhaseName::PreBuild => self.pre_build.as_ref(),
            PhaseName::Build => self.build.as_ref(),
            PhaseName::PostBuild => self.post_build.as_ref(),
            PhaseName::DownloadSource | PhaseName::UploadArtifacts => None,
        }
    }
}

/// The phases of a build, as CodeBuild names them in its API and log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhaseName {
    /// Locally: checking the checkout and resolving the environment (parameters).
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
}

impl PhaseName {
    /// The buildspec's phases, in the order CodeBuild runs them.
    pub const BUILDSPEC: [PhaseName; 4] = [
        PhaseName::Install,
        PhaseName::PreBuild,
        PhaseName::Build,
        PhaseName::PostBuild,
    ];

    /// `PRE_BUILD`, as in the API and the log.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::DownloadSource => "DOWNLOAD_SOURCE",
            PhaseName::Install => "INSTALL",
            PhaseName::PreBuild => "PRE_BUILD",
            PhaseName::Build => "BUILD",
            PhaseName::PostBuild => "POST_BUILD",
            PhaseName::UploadArtifacts => "UPLOAD_ARTIFACTS",
        }
    }
}

impl fmt::Display for PhaseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One phase: `phases.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Phase {
    pub commands: Vec<String>,
    /// Run after `commands`, even when one of them failed.
    pub finally: Vec<String>,
    /// `None` follows CodeBuild's default phase transitions.
    pub on_failure: Option<OnFailure>,
    /// `install.runtime-versions`: accepted; like CodeBuild on an image without runtime
    /// selection, the twin logs that it skips them and uses the machine's toolchains.
    pub runtime_versions: Vec<(String, String)>,
}

/// `phases.*.on-failure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OnFailure {
    /// Abort the build: no later phase runs and no artifacts are uploaded.
    Abort,
    /// Continue with the next phase (the build still fails).
    Continue,
}

/// `artifacts`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Artifacts {
    /// Patterns relative to the source directory or `base_directory`: `*`, `?`, `**`.
    pub files: Vec<String>,
    /// Evaluated with the shell after the build, as CodeBuild does (`name: app-$(date +%F)`).
    pub name: Option<String>,
    pub discard_paths: bool,
    /// A directory (or a pattern matching top-level directories) relative to the source.
    pub base_directory: Option<String>,
    /// Patterns relative to the base directory, excluded from `files`.
    pub exclude_paths: Vec<String>,
    /// Copy symbolic links as links instead of the files they point to.
    pub enable_symlinks: bool,
    /// Only meaningful for S3 uploads; recorded, unused locally.
    pub s3_prefix: Option<String>,
}

/// `reports.<group>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportGroup {
    /// The report group name or ARN as written.
    pub name: String,
    pub files: Vec<String>,
    pub base_directory: Option<String>,
    pub discard_paths: bool,
    pub file_format: ReportFormat,
}

/// `reports.<group>.file-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportFormat {
    /// JUnit XML, CodeBuild's default.
    Junitxml,
}

/// One problem in a buildspec, located by key path and line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// 1-based line in the buildspec text.
    pub line: usize,
    /// Dotted key path, e.g. `phases.build.commands[2]`; empty for the document itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            write!(f, "line {}: {}: {}", self.line, self.path, self.message)
        }
    }
}

/// Why a buildspec was rejected: every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BuildspecError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for BuildspecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for d in &self.diagnostics {
            if !first {
                f.write_str("\n")?;
            }
            first = false;
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Report formats CodeBuild knows but the twin cannot read.
const OTHER_REPORT_FORMATS: &[&str] = &[
    "CUCUMBERJSON",
    "NUNITXML",
    "NUNIT3XML",
    "TESTNGXML",
    "VISUALSTUDIOTRX",
    "CLOVERXML",
    "COBERTURAXML",
    "JACOCOXML",
    "SIMPLECOV",
];

/// CodeBuild allows at most five report groups per project.
const MAX_REPORT_GROUPS: usize = 5;

impl Buildspec {
    /// Parses and validates a buildspec. Every problem found is reported, each with its line.
    pub fn parse(text: &str) -> Result<Buildspec, BuildspecError> {
        let root = match yaml::parse(text) {
            Ok(Some(root)) => root,
            Ok(None) => {
                return Err(BuildspecError {
                    diagnostics: vec![Diagnostic {
                        line: 1,
                        path: String::new(),
                        message:
                            "the buildspec is empty; it needs at least `version: 0.2` and `phases`"
                                .into(),
                    }],
                });
            }
            Err(e) => {
                return Err(BuildspecError {
                    diagnostics: vec![Diagnostic {
                        line: e.line,
                        path: String::new(),
                        message: format!("invalid YAML: {}", e.message),
                    }],
                });
            }
        };
        let mut cx = Cx::default();
        let spec = cx.buildspec(&root);
        match spec {
            Some(spec) if cx.diagnostics.is_empty() => Ok(spec),
            _ => {
                let mut diagnostics = cx.diagnostics;
                diagnostics.sort_by_key(|d| d.line);
                Err(BuildspecError { diagnostics })
            }
        }
    }
}

/// A key that CodeBuild knows and the twin refuses, with the reason.
type Unsupported = (&'static str, &'static str);

/// Validation state: the diagnostics collected so far.
#[derive(Default)]
struct Cx {
    diagnostics: Vec<Diagnostic>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Cx {
    fn error(&mut self, line: usize, path: &str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            line,
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn buildspec(&mut self, root: &Node) -> Option<Buildspec> {
        let entries = self.mapping(root, "")?;
        self.check_keys(
            entries,
            "",
            &["version", "env", "phases", "reports", "artifacts", "cache"],
            &[
                (
                    "run-as",
                    "commands run as haven's own user; the twin cannot switch users",
                ),
                ("proxy", "the twin runs without an explicit proxy server"),
                ("batch", "batch builds are not supported by the twin"),
            ],
        );
        match find(entries, "version") {
            None => self.error(root.line(), "version", "required; use `version: 0.2`"),
            Some((key, node)) => self.version(key, node),
        }
        let env = match find(entries, "env") {
            Some((_, node)) => self.env(node).unwrap_or_default(),
            None => Env::default(),
        };
        let phases = match find(entries, "phases") {
            Some((_, node)) => self.phases(node).unwrap_or_default(),
            None => {
                self.error(
                    root.line(),
                    "phases",
                    "required: the commands the build runs",
                );
                Phases::default()
            }
        };
        let artifacts =
            find(entries, "artifacts").and_then(|(key, node)| self.artifacts(key, node));
        let reports = match find(entries, "reports") {
            Some((_, node)) => self.reports(node),
            None => Vec::new(),
        };
        let cache_paths = match find(entries, "cache") {
            Some((key, node)) => self.cache(key, node),
            None => Vec::new(),
        };
        self.cross_checks(&env);
        Some(Buildspec {
            env,
            phases,
            artifacts,
            reports,
            cache_paths,
        })
    }

    fn version(&mut self, key: &Scalar, node: &Node) {
        let Some(v) = self.scalar(node, "version") else {
            return;
        };
        match v.text.as_str() {
            "0.2" => {}
            "0.1" => self.error(
                key.line,
                "version",
                "0.1 is not supported: haven runs buildspec version 0.2 (in 0.1 every command \
                 runs in its own shell, so `cd` and variables do not carry over); use `version: 0.2`",
            ),
            other => self.error(
                key.line,
                "version",
                format!("unsupported version `{other}`; use `version: 0.2`"),
            ),
        }
    }

    fn env(&mut self, node: &Node) -> Option<Env> {
        let entries = self.mapping(node, "env")?;
        self.check_keys(
            entries,
            "env",
            &[
                "shell",
                "variables",
                "parameter-store",
                "exported-variables",
                "git-credential-helper",
            ],
            &[(
                "secrets-manager",
                "not supported by the local twin; keep secrets in `parameter-store`, which haven \
                 resolves from the region's parameters and masks in the log",
            )],
        );
        let mut env = Env::default();
        if let Some((_, n)) = find(entries, "shell") {
            if let Some(s) = self.scalar(n, "env.shell") {
                match s.text.as_str() {
                    "bash" => env.shell = Shell::Bash,
                    "/bin/sh" => env.shell = Shell::Sh,
                    "powershell.exe" | "cmd.exe" => self.error(
                        s.line,
                        "env.shell",
                        format!("`{}` is a Windows shell; the twin runs Linux builds (`bash` or `/bin/sh`)", s.text),
                    ),
                    other => {
                        let hint = suggest(other, &["bash", "/bin/sh"])
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        self.error(
                            s.line,
                            "env.shell",
                            format!("unsupported shell `{other}`: use `bash` or `/bin/sh`{hint}"),
                        );
                    }
                }
            }
        }
        if let Some((_, n)) = find(entries, "variables") {
            env.variables = self.variables(n, "env.variables");
        }
        if let Some((_, n)) = find(entries, "parameter-store") {
            env.parameter_store = self.variables(n, "env.parameter-store");
            for (name, value) in &env.parameter_store {
                if value.is_empty() {
                    self.error(
                        n.line(),
                        &format!("env.parameter-store.{name}"),
                        "needs the name of a parameter",
                    );
                }
            }
        }
        if let Some((_, n)) = find(entries, "exported-variables") {
            if let Some(list) = self.strings(n, "env.exported-variables") {
                for (i, (name, line)) in list.into_iter().enumerate() {
                    let path = format!("env.exported-variables[{i}]");
                    if name.starts_with("AWS_") {
                        self.error(
                            line,
                            &path,
                            format!("`{name}` cannot be exported: CodeBuild does not export variables starting with AWS_"),
                        );
                    } else if let Some(problem) = name_problem(&name) {
                        self.error(line, &path, problem);
                    }
                    env.exported_variables.push(name);
                }
            }
        }
        if let Some((_, n)) = find(entries, "git-credential-helper") {
            if let Some(b) = self.boolean(n, "env.git-credential-helper") {
                env.git_credential_helper = b;
            }
        }
        Some(env)
    }

    /// A mapping of environment variable names to scalar values.
    fn variables(&mut self, node: &Node, path: &str) -> Vec<(String, String)> {
        let Some(entries) = self.mapping(node, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let vpath = join(path, &key.text);
            if let Some(problem) = name_problem(&key.text) {
                self.error(key.line, &vpath, problem);
                continue;
            }
            if key.text.starts_with("CODEBUILD_") {
                self.error(
                    key.line,
                    &vpath,
                    "names starting with CODEBUILD_ are reserved for CodeBuild's own variables",
                );
                continue;
            }
            match value {
                Node::Scalar(s) if !s.is_null() => out.push((key.text.clone(), s.text.clone())),
                Node::Scalar(_) => self.error(
                    key.line,
                    &vpath,
                    "needs a value; write \"\" for an empty one",
                ),
                other => self.error(
                    other.line(),
                    &vpath,
                    format!("expected a string, found {}", other.kind()),
                ),
            }
        }
        out
    }

    fn phases(&mut self, node: &Node) -> Option<Phases> {
        let entries = self.mapping(node, "phases")?;
        self.check_keys(
            entries,
            "phases",
            &["install", "pre_build", "build", "post_build"],
            &[],
        );
        let mut phases = Phases::default();
        for (key, value) in entries {
            let slot = match key.text.as_str() {
                "install" => &mut phases.install,
                "pre_build" => &mut phases.pre_build,
                "build" => &mut phases.build,
                "post_build" => &mut phases.post_build,
                _ => continue,
            };
            *slot = self.phase(key, value);
        }
        Some(phases)
    }

    fn phase(&mut self, key: &Scalar, node: &Node) -> Option<Phase> {
        let path = join("phases", &key.text);
        let install = key.text == "install";
        let entries = self.mapping(node, &path)?;
        let run_as: Unsupported = (
            "run-as",
            "commands run as haven's own user; the twin cannot switch users",
        );
        if install {
            self.check_keys(
                entries,
                &path,
                &["commands", "finally", "on-failure", "runtime-versions"],
                &[run_as],
            );
        } else {
            self.check_keys(
                entries,
                &path,
                &["commands", "finally", "on-failure"],
                &[
                    run_as,
                    ("runtime-versions", "only valid in the install phase"),
                ],
            );
        }
        let mut phase = Phase::default();
        match find(entries, "commands") {
            Some((_, n)) => phase.commands = self.commands(n, &join(&path, "commands")),
            None if !install => self.error(
                key.line,
                &path,
                "`commands` is required when the phase is present",
            ),
            None => {}
        }
        if let Some((_, n)) = find(entries, "finally") {
            phase.finally = self.commands(n, &join(&path, "finally"));
        }
        if let Some((_, n)) = find(entries, "on-failure") {
            let p = join(&path, "on-failure");
            if let Some(s) = self.scalar(n, &p) {
                match s.text.as_str() {
                    "ABORT" => phase.on_failure = Some(OnFailure::Abort),
                    "CONTINUE" => phase.on_failure = Some(OnFailure::Continue),
                    other => {
                        let hint = suggest(other, &["ABORT", "CONTINUE"])
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        self.error(
                            s.line,
                            &p,
                            format!("must be ABORT or CONTINUE, not `{other}`{hint}"),
                        );
                    }
                }
            }
        }
        if install {
            if let Some((_, n)) = find(entries, "runtime-versions") {
                let p = join(&path, "runtime-versions");
                if let Some(entries) = self.mapping(n, &p) {
                    for (k, v) in entries {
                        if let Some(s) = self.scalar(v, &join(&p, &k.text)) {
                            phase
                                .runtime_versions
                                .push((k.text.clone(), s.text.clone()));
                        }
                    }
                }
            }
        }
        Some(phase)
    }

    /// `commands` / `finally`: a list of commands, or a single command.
    fn commands(&mut self, node: &Node, path: &str) -> Vec<String> {
        match self.strings(node, path) {
            Some(list) => list.into_iter().map(|(s, _)| s).collect(),
            None => Vec::new(),
        }
    }

    fn artifacts(&mut self, key: &Scalar, node: &Node) -> Option<Artifacts> {
        let entries = self.mapping(node, "artifacts")?;
        self.check_keys(
            entries,
            "artifacts",
            &[
                "files",
                "name",
                "discard-paths",
                "base-directory",
                "exclude-paths",
                "enable-symlinks",
                "s3-prefix",
            ],
            &[(
                "secondary-artifacts",
                "not supported by the local twin: it produces the primary artifact only",
            )],
        );
        let mut a = Artifacts::default();
        match find(entries, "files") {
            Some((_, n)) => a.files = self.patterns(n, "artifacts.files"),
            None => self.error(key.line, "artifacts.files", "required: the files to keep"),
        }
        if let Some((_, n)) = find(entries, "name") {
            a.name = self.scalar(n, "artifacts.name").map(|s| s.text.clone());
        }
        if let Some((_, n)) = find(entries, "discard-paths") {
            a.discard_paths = self.boolean(n, "artifacts.discard-paths").unwrap_or(false);
        }
        if let Some((_, n)) = find(entries, "base-directory") {
            a.base_directory = self.base_directory(n, "artifacts.base-directory");
        }
        if let Some((_, n)) = find(entries, "exclude-paths") {
            a.exclude_paths = self.patterns(n, "artifacts.exclude-paths");
        }
        if let Some((_, n)) = find(entries, "enable-symlinks") {
            a.enable_symlinks = self
                .boolean(n, "artifacts.enable-symlinks")
                .unwrap_or(false);
        }
        if let Some((_, n)) = find(entries, "s3-prefix") {
            a.s3_prefix = self
                .scalar(n, "artifacts.s3-prefix")
                .map(|s| s.text.clone());
        }
        Some(a)
    }

    fn reports(&mut self, node: &Node) -> Vec<ReportGroup> {
        let Some(entries) = self.mapping(node, "reports") else {
            return Vec::new();
        };
        if entries.len() > MAX_REPORT_GROUPS {
            self.error(
                node.line(),
                "reports",
                format!(
                    "{} report groups; CodeBuild allows at most {MAX_REPORT_GROUPS} per project",
                    entries.len()
                ),
            );
        }
        let mut out = Vec::new();
        for (key, value) in entries {
            let path = join("reports", &key.text);
            let Some(fields) = self.mapping(value, &path) else {
                continue;
            };
            self.check_keys(
                fields,
                &path,
                &["files", "base-directory", "discard-paths", "file-format"],
                &[],
            );
            let files = match find(fields, "files") {
                Some((_, n)) => self.patterns(n, &join(&path, "files")),
                None => {
                    self.error(
                        key.line,
                        &join(&path, "files"),
                        "required: the report files",
                    );
                    Vec::new()
                }
            };
            let base_directory = find(fields, "base-directory")
                .and_then(|(_, n)| self.base_directory(n, &join(&path, "base-directory")));
            let discard_paths = find(fields, "discard-paths")
                .and_then(|(_, n)| self.boolean(n, &join(&path, "discard-paths")))
                .unwrap_or(false);
            let mut file_format = ReportFormat::Junitxml;
            if let Some((_, n)) = find(fields, "file-format") {
                let p = join(&path, "file-format");
                if let Some(s) = self.scalar(n, &p) {
                    // CodeBuild: "This value is not case sensitive."
                    let upper = s.text.to_ascii_uppercase();
                    if upper == "JUNITXML" {
                        file_format = ReportFormat::Junitxml;
                    } else if OTHER_REPORT_FORMATS.contains(&upper.as_str()) {
                        self.error(
                            s.line,
                            &p,
                            format!("`{}` is not supported by the local twin, which reads JUNITXML reports", s.text),
                        );
                    } else {
                        let mut known = vec!["JUNITXML"];
                        known.extend_from_slice(OTHER_REPORT_FORMATS);
                        let hint = suggest(&upper, &known)
                            .map(|s| format!("; did you mean `{s}`?"))
                            .unwrap_or_default();
                        self.error(
                            s.line,
                            &p,
                            format!("unknown report format `{}`{hint}", s.text),
                        );
                    }
                }
            }
            out.push(ReportGroup {
                name: key.text.clone(),
                files,
                base_directory,
                discard_paths,
                file_format,
            });
        }
        out
    }

    fn cache(&mut self, key: &Scalar, node: &Node) -> Vec<String> {
        let Some(entries) = self.mapping(node, "cache") else {
            return Vec::new();
        };
        // `key`, `fallback-keys` and `action` select S3 cache entries; no cache exists locally.
        self.check_keys(
            entries,
            "cache",
            &["paths", "key", "fallback-keys", "action"],
            &[],
        );
        match find(entries, "paths") {
            Some((_, n)) => self
                .strings(n, "cache.paths")
                .map(|l| l.into_iter().map(|(s, _)| s).collect())
                .unwrap_or_default(),
            None => {
                self.error(key.line, "cache.paths", "required when `cache` is present");
                Vec::new()
            }
        }
    }

    /// Rules that span sections.
    fn cross_checks(&mut self, env: &Env) {
        for name in &env.exported_variables {
            if env.parameter_store.iter().any(|(k, _)| k == name) {
                self.error(
                    1,
                    "env.exported-variables",
                    format!("`{name}` comes from parameter-store: secrets are never exported"),
                );
            }
        }
    }

    /// Path patterns for artifacts and reports: relative, no `..`.
    fn patterns(&mut self, node: &Node, path: &str) -> Vec<String> {
        let Some(list) = self.strings(node, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, (p, line)) in list.into_iter().enumerate() {
            match pattern_problem(&p) {
                Some(problem) => self.error(line, &format!("{path}[{i}]"), problem),
                None => out.push(p),
            }
        }
        out
    }

    fn base_directory(&mut self, node: &Node, path: &str) -> Option<String> {
        let s = self.scalar(node, path)?;
        match pattern_problem(&s.text) {
            Some(problem) => {
                self.error(s.line, path, problem);
                None
            }
            None => Some(s.text.clone()),
        }
    }

    // --- shapes -------------------------------------------------------------------------

    fn mapping<'a>(&mut self, node: &'a Node, path: &str) -> Option<&'a [(Scalar, Node)]> {
        match node {
            Node::Map(entries, _) => Some(entries),
            other => {
                self.error(
                    other.line(),
                    path,
                    format!("expected a mapping, found {}", other.kind()),
                );
                None
            }
        }
    }

    fn scalar<'a>(&mut self, node: &'a Node, path: &str) -> Option<&'a Scalar> {
        match node {
            Node::Scalar(s) if !s.is_null() => Some(s),
            other => {
                self.error(
                    other.line(),
                    path,
                    format!("expected a string, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// A list of strings (each with its line), or a single string as a one-item list.
    fn strings(&mut self, node: &Node, path: &str) -> Option<Vec<(String, usize)>> {
        match node {
            Node::Scalar(s) if !s.is_null() => Some(vec![(s.text.clone(), s.line)]),
            Node::Seq(items, _) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Node::Scalar(s) if !s.is_null() => out.push((s.text.clone(), s.line)),
                        other => self.error(
                            other.line(),
                            &format!("{path}[{i}]"),
                            format!(
                                "expected a string, found {}{}",
                                other.kind(),
                                if matches!(other, Node::Map(..)) {
                                    " (quote a command that contains `: `)"
                                } else {
                                    ""
                                }
                            ),
                        ),
                    }
                }
                Some(out)
            }
            other => {
                self.error(
                    other.line(),
                    path,
                    format!("expected a list of strings, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// CodeBuild's yes/no flags; `true`/`false` are accepted too, as CodeBuild does.
    fn boolean(&mut self, node: &Node, path: &str) -> Option<bool> {
        let s = self.scalar(node, path)?;
        match s.text.to_ascii_lowercase().as_str() {
            "yes" | "true" => Some(true),
            "no" | "false" => Some(false),
            _ => {
                self.error(
                    s.line,
                    path,
                    format!("expected yes or no, found `{}`", s.text),
                );
                None
            }
        }
    }

    /// Reports keys that are neither `allowed` nor known; refuses the `unsupported` ones.
    fn check_keys(
        &mut self,
        entries: &[(Scalar, Node)],
        path: &str,
        allowed: &[&str],
        unsupported: &[Unsupported],
    ) {
        for (key, _) in entries {
            let name = key.text.as_str();
            if allowed.contains(&name) {
                continue;
            }
            let kpath = join(path, name);
            if let Some((_, why)) = unsupported.iter().find(|(k, _)| *k == name) {
                self.error(key.line, &kpath, format!("not supported: {why}"));
                continue;
            }
            let mut candidates: Vec<&str> = allowed.to_vec();
            candidates.extend(unsupported.iter().map(|(k, _)| *k));
            let message = match suggest(name, &candidates) {
                Some(s) => format!("unknown key; did you mean `{s}`?"),
                None => format!("unknown key; expected one of: {}", allowed.join(", ")),
            };
            self.error(key.line, &kpath, message);
        }
    }
}

fn find<'a>(entries: &'a [(Scalar, Node)], key: &str) -> Option<(&'a Scalar, &'a Node)> {
    entries
        .iter()
        .find(|(k, _)| k.text == key)
        .map(|(k, v)| (k, v))
}

/// Why `name` cannot be an environment variable name, if it cannot.
fn name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("a variable name cannot be empty".into())
    } else if name.contains('=') || name.contains('\0') {
        Some(format!(
            "`{name}` is not a valid variable name (no `=` or NUL)"
        ))
    } else {
        None
    }
}

/// Why `p` cannot be an artifact or report path pattern, if it cannot.
fn pattern_problem(p: &str) -> Option<String> {
    if p.trim().is_empty() {
        Some("a path cannot be empty".into())
    } else if p.starts_with('/') {
        Some(format!("`{p}` must be relative to the source directory"))
    } else if p.split('/').any(|seg| seg == "..") {
        Some(format!(
            "`{p}` must stay inside the source directory (no `..`)"
        ))
    } else {
        None
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let w = norm(word);
    candidates
        .iter()
        .map(|c| {
            let n = norm(c);
            // A truncated name (`JUNIT` for `JUNITXML`) is as likely a slip as a typo.
            let truncated = w.len() >= 3 && n.starts_with(&w);
            (
                if truncated {
                    1
                } else {
                    strsim::levenshtein(&w, &n)
                },
                *c,
            )
        })
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            suggest("comands", &["commands", "finally"]),
            Some("commands")
        );
        assert_eq!(
            suggest("prebuild", &["install", "pre_build"]),
            Some("pre_build")
        );
        assert_eq!(
            suggest("post-build", &["build", "post_build"]),
            Some("post_build")
        );
        assert_eq!(suggest("zzz", &["commands"]), None);
    }
}
