//! Delivery: the image registry and its lifecycle rules, the source repository, the build and
//! the pipeline's stages.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::duration::Dur;
use crate::model::*;
use crate::schema;

use super::Ctx;

impl Ctx<'_, '_> {
    pub(super) fn registry(&mut self, r: schema::Registry) -> Registry {
        let lifecycle = match r.lifecycle {
            Some(rules) => rules
                .into_iter()
                .enumerate()
                .map(|(i, rule)| self.lifecycle_rule(i, rule))
                .collect(),
            None => vec![
                LifecycleRule {
                    priority: 1,
                    description: "Expire untagged images 14 days after push".into(),
                    tag_status: TagStatus::Untagged,
                    tag_prefixes: Vec::new(),
                    count_type: CountType::SinceImagePushed,
                    count: 14,
                },
                LifecycleRule {
                    priority: 2,
                    description: "Keep the 30 most recent images".into(),
                    tag_status: TagStatus::Any,
                    tag_prefixes: Vec::new(),
                    count_type: CountType::ImageCountMoreThan,
                    count: 30,
                },
            ],
        };
        let mut priorities = BTreeMap::new();
        for (i, rule) in lifecycle.iter().enumerate() {
            if let Some(j) = priorities.insert(rule.priority, i) {
                self.r.error_hint(
                    "lifecycle-priority",
                    &format!("registry.lifecycle[{i}].priority"),
                    format!("priority {} is used by rule {j} too", rule.priority),
                    "ECR needs a unique priority per rule",
                );
            }
        }
        let max_priority = lifecycle.iter().map(|r| r.priority).max();
        for (i, rule) in lifecycle.iter().enumerate() {
            if rule.tag_status == TagStatus::Any && Some(rule.priority) != max_priority {
                self.r.error_hint(
                    "lifecycle-priority",
                    &format!("registry.lifecycle[{i}].priority"),
                    "a rule with `tag_status = \"any\"` must have the highest priority number",
                    "ECR evaluates `any` rules last; give this rule the largest priority",
                );
            }
        }
        Registry {
            scan_on_push: r.scan_on_push.unwrap_or(true),
            immutable_tags: r.immutable_tags.unwrap_or(true),
            encryption: self.choice(
                "registry.encryption",
                r.encryption,
                Encryption::Kms,
                &[("kms", Encryption::Kms), ("aes256", Encryption::Aes256)],
            ),
            replicate: r.replicate.unwrap_or(true),
            scan_fail_severity: self.choice(
                "registry.scan_fail_severity",
                r.scan_fail_severity,
                Severity::High,
                &[
                    ("none", Severity::None),
                    ("low", Severity::Low),
                    ("medium", Severity::Medium),
                    ("high", Severity::High),
                    ("critical", Severity::Critical),
                ],
            ),
            advisory_db: r.advisory_db.map(PathBuf::from),
            lifecycle,
        }
    }

    fn lifecycle_rule(&mut self, i: usize, r: schema::LifecycleRule) -> LifecycleRule {
        let k = |s: &str| format!("registry.lifecycle[{i}].{s}");
        let tag_status = self.choice(
            &k("tag_status"),
            r.tag_status,
            TagStatus::Any,
            &[
                ("tagged", TagStatus::Tagged),
                ("untagged", TagStatus::Untagged),
                ("any", TagStatus::Any),
            ],
        );
        let tag_prefixes = r.tag_prefixes.unwrap_or_default();
        if tag_status == TagStatus::Tagged && tag_prefixes.is_empty() {
            self.r.error_hint(
                "lifecycle-prefixes",
                &k("tag_prefixes"),
                "a `tagged` rule needs tag prefixes",
                "add `tag_prefixes = [\"v\"]`, or use `tag_status = \"any\"`",
            );
        }
        if tag_status != TagStatus::Tagged && !tag_prefixes.is_empty() {
            self.r.error_hint(
                "lifecycle-prefixes",
                &k("tag_prefixes"),
                "only `tagged` rules take tag prefixes",
                "set `tag_status = \"tagged\"` or remove the prefixes",
            );
        }
        let count_type = self.choice(
            &k("count_type"),
            r.count_type,
            CountType::ImageCountMoreThan,
            &[
                ("image_count_more_than", CountType::ImageCountMoreThan),
                ("since_image_pushed", CountType::SinceImagePushed),
            ],
        );
        if r.count.is_none() {
            self.r.error_hint(
                "missing-key",
                &k("count"),
                "the rule has no count",
                "add `count = 30` (images, or days with `since_image_pushed`)",
            );
        }
        LifecycleRule {
            priority: self.int(
                &k("priority"),
                r.priority,
                u32::try_from(i + 1).unwrap_or(1),
                1,
                1000,
                "a rule priority",
            ),
            description: r.description.unwrap_or_default(),
            tag_status,
            tag_prefixes,
            count_type,
            count: self.int(&k("count"), r.count, 1, 1, 100_000, "a count"),
        }
    }

    pub(super) fn source(&mut self, s: schema::Source, project: &str) -> Source {
        let provider = self.choice(
            "source.provider",
            s.provider,
            SourceProvider::CodeCommit,
            &[
                ("codecommit", SourceProvider::CodeCommit),
                ("github", SourceProvider::GitHub),
                ("gitlab", SourceProvider::GitLab),
                ("bitbucket", SourceProvider::Bitbucket),
            ],
        );
        let (repository, hosted_repository) = if provider.is_hosted() {
            self.hosted_repository(provider, s.repository, project)
        } else {
            (self.codecommit_repository(s.repository, project), None)
        };
        let branch = s.branch.unwrap_or_else(|| "main".into());
        for (key, b) in std::iter::once(("source.branch".to_owned(), &branch)).chain(
            s.protected_branches
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, b)| (format!("source.protected_branches[{i}]"), b)),
        ) {
            if !branch_name_ok(b) {
                self.r.error_hint(
                    "bad-branch",
                    &key,
                    format!("`{b}` is not a valid git branch name"),
                    "see `git check-ref-format --branch`",
                );
            }
        }
        Source {
            provider,
            repository,
            hosted_repository,
            protected_branches: s.protected_branches.unwrap_or_else(|| vec![branch.clone()]),
            branch,
            replicate: s.replicate.unwrap_or(true),
        }
    }

    /// CodeCommit's repository: a name (the project's by default), by CodeCommit's rules.
    fn codecommit_repository(&mut self, repository: Option<String>, project: &str) -> String {
        let repository = repository.unwrap_or_else(|| project.to_owned());
        if !repository_name_ok(&repository) {
            let hint = if repository.contains('/') {
                "`owner/name` names a repository at a Git host: set `source.provider` to \
                 `github`, `gitlab` or `bitbucket`; a CodeCommit name has no owner"
            } else {
                "use letters, digits, `.`, `_` and `-` (CodeCommit's rules), without `.git`"
            };
            self.r.error_hint(
                "bad-name",
                "source.repository",
                format!("`{repository}` is not a valid repository name"),
                hint,
            );
        }
        repository
    }

    /// A hosted provider's `owner/name`, and its name part (the twin's repository, which has
    /// no owner). There is no default: the project's name has no owner.
    fn hosted_repository(
        &mut self,
        provider: SourceProvider,
        repository: Option<String>,
        project: &str,
    ) -> (String, Option<String>) {
        let host = provider.aws_name();
        let Some(full) = repository else {
            self.r.error_hint(
                "missing-key",
                "source.repository",
                format!("a {host} source needs its repository as `owner/name`"),
                format!("add `repository = \"your-org/{project}\"` to [source]"),
            );
            return (project.to_owned(), None);
        };
        let owner_ok = |o: &str| {
            !o.is_empty()
                && o.len() <= 100
                && o.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        };
        match full.split_once('/') {
            Some((owner, name)) if owner_ok(owner) && repository_name_ok(name) => {
                (name.to_owned(), Some(full))
            }
            _ => {
                self.r.error_hint(
                    "bad-name",
                    "source.repository",
                    format!("`{full}` is not a {host} repository as `owner/name`"),
                    format!(
                        "write the owner (user, organisation, group or workspace) and the \
                         repository's name as {host} shows them, `your-org/{project}`: letters, \
                         digits, `.`, `_` and `-`, one `/`, without `.git`"
                    ),
                );
                let name = full.rsplit('/').next().unwrap_or_default();
                let name = if repository_name_ok(name) {
                    name
                } else {
                    project
                };
                (name.to_owned(), None)
            }
        }
    }

    pub(super) fn build(&mut self, b: schema::Build) -> Build {
        let directory = PathBuf::from(b.directory.unwrap_or_else(|| ".".into()));
        let buildspec = directory.join(b.buildspec.unwrap_or_else(|| "buildspec.yml".into()));
        let on_disk = self.root.join(&buildspec);
        if !on_disk.is_file() {
            self.r.error_hint(
                "missing-file",
                "build.buildspec",
                format!("buildspec `{}` does not exist", on_disk.display()),
                "write a CodeBuild buildspec (version 0.2) there, or point `build.buildspec` at yours; `haven init` writes an example",
            );
        }
        if !self.root.join(&directory).is_dir() {
            self.r.error(
                "missing-file",
                "build.directory",
                format!(
                    "directory `{}` does not exist",
                    self.root.join(&directory).display()
                ),
            );
        }
        Build {
            buildspec,
            directory,
            timeout: self.dur(
                "build.timeout",
                b.timeout,
                Dur::secs(3600),
                Dur::secs(300),
                Dur::secs(36 * 3600),
            ),
            compute_type: self
                .choice(
                    "build.compute_type",
                    b.compute_type,
                    "BUILD_GENERAL1_SMALL",
                    &[
                        ("BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_SMALL"),
                        ("BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_MEDIUM"),
                        ("BUILD_GENERAL1_LARGE", "BUILD_GENERAL1_LARGE"),
                        ("BUILD_GENERAL1_XLARGE", "BUILD_GENERAL1_XLARGE"),
                        ("BUILD_GENERAL1_2XLARGE", "BUILD_GENERAL1_2XLARGE"),
                    ],
                )
                .to_owned(),
            image: b
                .image
                .unwrap_or_else(|| "aws/codebuild/amazonlinux-x86_64-standard:5.0".into()),
        }
    }

    pub(super) fn pipeline(&mut self, p: schema::Pipeline, envs: &Environments) -> Pipeline {
        let a = p.approval.unwrap_or_default();
        let approval = Approval {
            enabled: a.enabled.unwrap_or(true),
            timeout: self.dur(
                "pipeline.approval.timeout",
                a.timeout,
                Dur::secs(7 * 86_400),
                Dur::secs(60),
                Dur::secs(7 * 86_400),
            ),
            notify: a.notify.unwrap_or_else(|| "alerts".into()),
        };
        let staging = p.staging.unwrap_or(true);
        if staging && envs.staging.is_none() {
            self.r.error_hint(
                "staging-disabled",
                "pipeline.staging",
                "the pipeline deploys to staging, but the staging environment is disabled",
                "set `pipeline.staging = false` or enable `[environments.staging]`",
            );
        }
        let mut stages = vec!["Source", "Build"];
        if staging {
            stages.push("Staging");
        }
        if approval.enabled {
            stages.push("Approval");
        }
        stages.push("Production");
        Pipeline {
            execution_mode: self.choice(
                "pipeline.execution_mode",
                p.execution_mode,
                ExecutionMode::Superseded,
                &[
                    ("superseded", ExecutionMode::Superseded),
                    ("queued", ExecutionMode::Queued),
                    ("parallel", ExecutionMode::Parallel),
                ],
            ),
            stages,
            approval,
        }
    }
}

/// A repository name by CodeCommit's rules, which GitHub's, GitLab's and Bitbucket's names
/// also follow: letters, digits, `.`, `_` and `-`, at most 100, not ending in `.git`.
fn repository_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !name.ends_with(".git")
}

/// The common rules of `git check-ref-format --branch`.
fn branch_name_ok(b: &str) -> bool {
    !b.is_empty()
        && !b.starts_with(['-', '/', '.'])
        && !b.ends_with(['/', '.'])
        && !b.ends_with(".lock")
        && !b.contains("..")
        && !b.contains("//")
        && !b.contains("@{")
        && !b
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::path::Path;

    use crate::model::SourceProvider;
    use crate::{LoadError, load_str};

    const BASE: &str = "[project]\nname = \"hello\"\n\n[service]\ncommand = [\"bin/hello\"]\n\n\
                        [notifications.topics.alerts]\nemail = [\"ops@example.com\"]\n\n";

    /// The `[source]` table's outcome: the source, or each diagnostic as `key [code] message |
    /// hint`.
    fn source(table: &str) -> Result<crate::model::Source, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
        let text = format!("{BASE}[source]\n{table}");
        match load_str(&text, Path::new("haven.toml"), dir.path()) {
            Ok(loaded) => Ok(loaded.spec.source),
            Err(LoadError::Invalid(d)) => Err(d
                .iter()
                .map(|d| {
                    format!(
                        "{} [{}] {} | {}",
                        d.key,
                        d.code,
                        d.message,
                        d.hint.as_deref().unwrap_or_default()
                    )
                })
                .collect()),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn each_provider_and_its_repository() {
        let cases = [
            ("", SourceProvider::CodeCommit, "hello", None),
            (
                "provider = \"codecommit\"\nrepository = \"web-src\"\n",
                SourceProvider::CodeCommit,
                "web-src",
                None,
            ),
            (
                "provider = \"github\"\nrepository = \"octo-org/hello\"\n",
                SourceProvider::GitHub,
                "hello",
                Some("octo-org/hello"),
            ),
            (
                "provider = \"gitlab\"\nrepository = \"my.group/web_app\"\n",
                SourceProvider::GitLab,
                "web_app",
                Some("my.group/web_app"),
            ),
            (
                "provider = \"bitbucket\"\nrepository = \"team-ws/hello-svc\"\nbranch = \"trunk\"\n",
                SourceProvider::Bitbucket,
                "hello-svc",
                Some("team-ws/hello-svc"),
            ),
        ];
        for (table, provider, twin_repository, hosted) in cases {
            let s = source(table).unwrap_or_else(|d| panic!("{table}: {d:?}"));
            assert_eq!(s.provider, provider, "{table}");
            // The twin's repository: a name, never `owner/name` (a directory per region).
            assert_eq!(s.repository, twin_repository, "{table}");
            assert_eq!(s.hosted_repository.as_deref(), hosted, "{table}");
        }
    }

    #[test]
    fn hosted_sources_round_trip_through_show() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("buildspec.yml"), "version: 0.2\n").unwrap();
        let load = |text: &str| match load_str(text, Path::new("haven.toml"), dir.path()) {
            Ok(l) => l.spec,
            Err(e) => panic!("{e}\n{text}"),
        };
        for provider in ["codecommit", "github", "gitlab", "bitbucket"] {
            let repository = if provider == "codecommit" {
                "web-src"
            } else {
                "octo-org/web-src"
            };
            let spec = load(&format!(
                "{BASE}[source]\nprovider = \"{provider}\"\nrepository = \"{repository}\"\n"
            ));
            let shown = spec.to_toml().unwrap();
            assert!(
                shown.contains(&format!(
                    "[source]\nprovider = \"{provider}\"\nrepository = \"{repository}\"\n"
                )),
                "{shown}"
            );
            let again = load(&shown).source;
            assert_eq!(
                (again.provider, again.repository, again.hosted_repository),
                (
                    spec.source.provider,
                    spec.source.repository.clone(),
                    spec.source.hosted_repository.clone()
                ),
                "{provider}"
            );
        }
    }

    #[test]
    fn bad_providers_and_repositories_are_named() {
        let cases: [(&str, &[&str]); 7] = [
            (
                "provider = \"githib\"\n",
                &[
                    "source.provider [unknown-value] `githib` is not a valid value | did you mean \
                     `github`? (one of `codecommit`, `github`, `gitlab`, `bitbucket`)",
                ],
            ),
            (
                "provider = \"github\"\n",
                &[
                    "source.repository [missing-key] a GitHub source needs its repository as \
                     `owner/name` | add `repository = \"your-org/hello\"` to [source]",
                ],
            ),
            (
                "provider = \"gitlab\"\nrepository = \"hello\"\n",
                &[
                    "source.repository [bad-name] `hello` is not a GitLab repository as `owner/name`",
                ],
            ),
            (
                "provider = \"bitbucket\"\nrepository = \"a/b/c\"\n",
                &["source.repository [bad-name] `a/b/c` is not a Bitbucket repository"],
            ),
            (
                "provider = \"github\"\nrepository = \"octo-org/hello.git\"\n",
                &["source.repository [bad-name] `octo-org/hello.git` is not a GitHub repository"],
            ),
            (
                "provider = \"github\"\nrepository = \"/hello\"\n",
                &["source.repository [bad-name] `/hello` is not a GitHub repository"],
            ),
            (
                "repository = \"octo-org/hello\"\n",
                &[
                    "source.repository [bad-name] `octo-org/hello` is not a valid repository name \
                     | `owner/name` names a repository at a Git host: set `source.provider`",
                ],
            ),
        ];
        for (table, expected) in cases {
            let got = source(table).map(|s| s.provider).unwrap_err();
            assert_eq!(got.len(), expected.len(), "{table}: {got:?}");
            for (g, e) in got.iter().zip(expected) {
                assert!(g.starts_with(e), "{table}:\n  got  {g}\n  want {e}");
            }
        }
    }
}
