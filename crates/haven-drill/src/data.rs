//! Data behind: what the secondaries lack of the primary's source and images, and whether a
//! secondary holds what it needs to run alone. Read from the twin's files, so that it works
//! while a region process is down.

use haven_control::paths::Paths;
use haven_registry::{Registry, TagPolicy};
use haven_source::Repo;
use haven_spec::Spec;

use crate::Error;
use crate::report::Rpo;

/// Tags the drills give the images they make; such images live in the primary only.
pub const DRILL_TAG_PREFIX: &str = "drill-";

/// What every secondary lacks right now: commits of the protected branches, tagged images,
/// and the age of the oldest of them.
pub fn behind(spec: &Spec, paths: &Paths) -> Result<Rpo, Error> {
    let now = haven_time::now_millis();
    let mut rpo = Rpo::default();
    let mut oldest: Option<u64> = None;

    if spec.source.replicate {
        let repo = &spec.source.repository;
        let primary = Repo::at(paths.source_repo(&spec.primary().name, repo));
        let pushes = primary.pushes().map_err(source_error)?;
        let heads = primary.heads().map_err(source_error)?;
        let mut branches = spec.source.protected_branches.clone();
        if !branches.contains(&spec.source.branch) {
            branches.push(spec.source.branch.clone());
        }
        let mut missing = std::collections::BTreeSet::new();
        for region in spec.secondaries() {
            let secondary = Repo::at(paths.source_repo(&region.name, repo));
            let theirs = secondary.heads().map_err(source_error)?;
            for branch in &branches {
                let Some(head) = heads.get(branch) else {
                    continue;
                };
                let base = theirs.get(branch).filter(|c| primary.has_commit(c));
                for commit in primary
                    .commits_between(base.map(String::as_str), head)
                    .map_err(source_error)?
                {
                    // When the commit reached the primary: the push that brought it (or a
                    // later one that contains it), as the push log recorded it.
                    let pushed = pushes
                        .iter()
                        .find(|p| p.new == commit)
                        .or_else(|| pushes.iter().rev().find(|p| p.new == *head))
                        .map(|p| p.at_ms);
                    if let Some(at) = pushed {
                        oldest = Some(oldest.map_or(at, |o: u64| o.min(at)));
                    }
                    missing.insert(commit);
                }
            }
        }
        rpo.commits = u32::try_from(missing.len()).unwrap_or(u32::MAX);
    }

    if spec.registry.replicate {
        let policy = TagPolicy {
            immutable: spec.registry.immutable_tags,
        };
        let primary = Registry::open(&paths.registry(&spec.primary().name), policy)?;
        let mut missing = std::collections::BTreeSet::new();
        let images = primary.list()?;
        for region in spec.secondaries() {
            let theirs = Registry::open(&paths.registry(&region.name), policy)?.list()?;
            for image in &images {
                if image.tags.is_empty()
                    || image.tags.iter().all(|t| t.starts_with(DRILL_TAG_PREFIX))
                    || theirs.iter().any(|i| i.digest == image.digest)
                {
                    continue;
                }
                if let Some(at) = haven_time::parse_rfc3339(&image.pushed_at) {
                    oldest = Some(oldest.map_or(at, |o: u64| o.min(at)));
                }
                missing.insert(image.digest.to_string());
            }
        }
        rpo.images = u32::try_from(missing.len()).unwrap_or(u32::MAX);
    }

    if rpo.commits > 0 || rpo.images > 0 {
        rpo.age_ms = oldest.map_or(0, |o| now.saturating_sub(o));
    }
    Ok(rpo)
}

/// One thing a secondary needs to serve alone, and whether it has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standalone {
    pub region: String,
    pub what: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// Whether each secondary holds what it needs to run alone: the image its service runs, its
/// source branch, and every parameter the service's secrets name.
pub fn standalone(
    spec: &Spec,
    paths: &Paths,
    images: &[(String, String)],
) -> Result<Vec<Standalone>, Error> {
    let policy = TagPolicy {
        immutable: spec.registry.immutable_tags,
    };
    let mut out = Vec::new();
    let secrets = haven_secrets::SecretStore::open(paths.secrets())?;
    for region in spec.secondaries() {
        let registry = Registry::open(&paths.registry(&region.name), policy)?;
        for (r, image) in images.iter().filter(|(r, _)| *r == region.name) {
            let ok = registry.resolve(image).is_ok();
            out.push(Standalone {
                region: r.clone(),
                what: "image",
                ok,
                detail: format!("{image} in its registry"),
            });
        }
        let repo = Repo::at(paths.source_repo(&region.name, &spec.source.repository));
        let head = repo.head(&spec.source.branch).map_err(source_error)?;
        out.push(Standalone {
            region: region.name.clone(),
            what: "source",
            ok: head.is_some(),
            detail: match head {
                Some(c) => format!("{} at {}", spec.source.branch, &c[..c.len().min(12)]),
                None => format!("no branch {}", spec.source.branch),
            },
        });
        let missing: Vec<&str> = spec
            .service
            .secrets
            .values()
            .filter(|p| !matches!(secrets.get(p), Ok(Some(_))))
            .map(String::as_str)
            .collect();
        out.push(Standalone {
            region: region.name.clone(),
            what: "secrets",
            ok: missing.is_empty(),
            detail: if missing.is_empty() {
                format!("{} parameter(s) present", spec.service.secrets.len())
            } else {
                format!("missing {}", missing.join(", "))
            },
        });
    }
    Ok(out)
}

fn source_error(e: haven_source::Error) -> Error {
    Error::Data(format!("source: {e}"))
}
