//! Lifecycle rules with ECR's semantics (lifecycle policy evaluation, as the ECR user guide's
//! examples spell it out):
//!
//! - rules are evaluated by ascending priority;
//! - a rule *selects* images by tag status: `tagged` ones having, for every one of the rule's
//!   prefixes, a tag starting with it (several prefixes narrow, they do not widen),
//!   `untagged` ones, or `any`;
//! - `image_count_more_than N` marks the selected images beyond the N most recently pushed;
//!   `since_image_pushed N` marks those pushed more than N days ago;
//! - the count is over every selected image, but an image selected by an earlier rule is
//!   never marked by a later one: each image is expired by at most one rule;
//! - and, the twin's own guard, an image in use by a running task set is never expired.

use std::collections::BTreeSet;
use std::time::SystemTime;

use haven_ecr::{CountType, LifecycleRule, TagStatus};
use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::Registry;
use crate::oci::Index;
use crate::tags::{Collected, tags_of};
use crate::time::{millis, rfc3339_ms};

const DAY_MS: u64 = 86_400_000;

/// An image a rule expired (or would have, for one kept because it is in use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expired {
    pub digest: Digest,
    pub tags: Vec<String>,
    /// RFC 3339 with milliseconds.
    pub pushed_at: String,
    /// The rule that marked it.
    pub priority: u32,
    pub rule: String,
}

/// What applying a lifecycle policy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LifecycleOutcome {
    /// Deleted (or, in a dry run, to be deleted), oldest first.
    pub expired: Vec<Expired>,
    /// Marked by a rule but kept: a running task set uses them.
    pub kept_in_use: Vec<Expired>,
    pub dry_run: bool,
    /// Blobs no image refers to any more, deleted.
    pub freed: Vec<Digest>,
    pub bytes_freed: u64,
    /// Why garbage was not collected, when it was not (the expiry itself stands).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gc_skipped: Option<String>,
}

/// An image as lifecycle rules see it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) digest: Digest,
    pub(crate) tags: Vec<String>,
    pub(crate) pushed_ms: u64,
}

/// A decision: the candidate (index) and the rule (index into the sorted rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) image: usize,
    pub(crate) rule: usize,
    pub(crate) in_use: bool,
}

/// Checks the rules as ECR does when a policy is put, and sorts them by priority.
pub(crate) fn validate(rules: &[LifecycleRule]) -> Result<Vec<&LifecycleRule>> {
    let invalid = |r: &LifecycleRule, reason: &str| Error::InvalidLifecycle {
        priority: r.priority,
        reason: reason.to_owned(),
    };
    let mut sorted: Vec<&LifecycleRule> = rules.iter().collect();
    sorted.sort_by_key(|r| r.priority);
    for pair in sorted.windows(2) {
        if pair[0].priority == pair[1].priority {
            return Err(invalid(pair[1], "another rule has the same priority"));
        }
    }
    for (i, r) in sorted.iter().enumerate() {
        match r.tag_status {
            TagStatus::Tagged if r.tag_prefixes.is_empty() => {
                return Err(invalid(r, "a `tagged` rule needs tag prefixes"));
            }
            TagStatus::Untagged | TagStatus::Any if !r.tag_prefixes.is_empty() => {
                return Err(invalid(r, "only `tagged` rules take tag prefixes"));
            }
            TagStatus::Any if i + 1 != sorted.len() => {
                return Err(invalid(
                    r,
                    "a rule with tag status `any` must have the highest priority number",
                ));
            }
            _ => {}
        }
        if r.count == 0 && r.count_type == CountType::SinceImagePushed {
            return Err(invalid(r, "`since_image_pushed` counts at least one day"));
        }
    }
    Ok(sorted)
}

/// The lifecycle evaluation proper, pure: which images the (sorted) rules mark, and whether
/// each marked one is kept because it is in use.
pub(crate) fn evaluate(
    rules: &[&LifecycleRule],
    images: &[Candidate],
    in_use: &BTreeSet<Digest>,
    now_ms: u64,
) -> Vec<Mark> {
    // Newest first; the digest makes ties (only possible in hand-edited registries) stable.
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.sort_by(|a, b| {
        let (a, b) = (&images[*a], &images[*b]);
        b.pushed_ms
            .cmp(&a.pushed_ms)
            .then_with(|| a.digest.cmp(&b.digest))
    });
    let mut seen = vec![false; images.len()];
    let mut marks = Vec::new();
    for (r, rule) in rules.iter().enumerate() {
        let selected: Vec<usize> = order
            .iter()
            .copied()
            .filter(|i| rule.selects(&images[*i].tags))
            .collect();
        let marked: Vec<usize> = match rule.count_type {
            CountType::ImageCountMoreThan => selected
                .iter()
                .copied()
                .skip(usize::try_from(rule.count).unwrap_or(usize::MAX))
                .collect(),
            CountType::SinceImagePushed => {
                let limit = u64::from(rule.count) * DAY_MS;
                selected
                    .iter()
                    .copied()
                    .filter(|i| now_ms.saturating_sub(images[*i].pushed_ms) > limit)
                    .collect()
            }
        };
        for i in marked {
            if !seen[i] {
                marks.push(Mark {
                    image: i,
                    rule: r,
                    in_use: in_use.contains(&images[i].digest),
                });
            }
        }
        for i in selected {
            seen[i] = true;
        }
    }
    // Oldest first, as ECR expires them.
    marks.sort_by(|a, b| {
        let (x, y) = (&images[a.image], &images[b.image]);
        x.pushed_ms
            .cmp(&y.pushed_ms)
            .then_with(|| x.digest.cmp(&y.digest))
    });
    marks
}

impl Registry {
    /// Applies a lifecycle policy at time `now`: expired images lose their tags and go, and
    /// blobs nothing refers to any more are freed. Images in `in_use` are never expired (they
    /// are reported as kept). With `dry_run`, nothing changes. Invalid rules are an error
    /// before anything is done.
    pub fn apply_lifecycle(
        &self,
        rules: &[LifecycleRule],
        in_use: &BTreeSet<Digest>,
        now: SystemTime,
        dry_run: bool,
    ) -> Result<LifecycleOutcome> {
        let sorted = validate(rules)?;
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let images = self.candidates(&index);
        let marks = evaluate(&sorted, &images, in_use, millis(now));
        let mut outcome = LifecycleOutcome {
            dry_run,
            ..LifecycleOutcome::default()
        };
        for m in &marks {
            let (image, rule) = (&images[m.image], sorted[m.rule]);
            let item = Expired {
                digest: image.digest.clone(),
                tags: image.tags.clone(),
                pushed_at: rfc3339_ms(image.pushed_ms),
                priority: rule.priority,
                rule: rule.description.clone(),
            };
            if m.in_use {
                outcome.kept_in_use.push(item);
            } else {
                outcome.expired.push(item);
            }
        }
        if dry_run || outcome.expired.is_empty() {
            return Ok(outcome);
        }
        let gone: BTreeSet<&Digest> = outcome.expired.iter().map(|e| &e.digest).collect();
        index.manifests.retain(|d| !gone.contains(&d.digest));
        self.write_index(&index)?;
        match self.collect_locked(&index) {
            Ok(Collected { freed, bytes }) => {
                outcome.freed = freed;
                outcome.bytes_freed = bytes;
            }
            Err(e) => outcome.gc_skipped = Some(e.to_string()),
        }
        Ok(outcome)
    }

    /// Every image of the index, with its tags and push time.
    fn candidates(&self, index: &Index) -> Vec<Candidate> {
        let mut seen = BTreeSet::new();
        index
            .manifests
            .iter()
            .filter(|d| seen.insert(d.digest.clone()))
            .map(|d| Candidate {
                digest: d.digest.clone(),
                tags: tags_of(index, &d.digest),
                pushed_ms: self.pushed_at(d),
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const NOW: u64 = 1_777_636_800_000;

    fn rule(
        priority: u32,
        status: TagStatus,
        prefixes: &[&str],
        count: CountType,
        n: u32,
    ) -> LifecycleRule {
        LifecycleRule {
            priority,
            description: format!("rule {priority}"),
            tag_status: status,
            tag_prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            count_type: count,
            count: n,
        }
    }

    /// Images as (name, tags, days ago), named by a letter that also makes their digest.
    fn images(table: &[(&str, &[&str], f64)]) -> Vec<Candidate> {
        table
            .iter()
            .map(|(name, tags, days)| Candidate {
                digest: Digest::of(name.as_bytes()),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                // Whole milliseconds: the table's fractions of a day are exact enough.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                pushed_ms: NOW - (days * DAY_MS as f64) as u64,
            })
            .collect()
    }

    /// Rules and images (and the names in use) → the expired names with the priority that
    /// expired them, and the names kept because in use.
    fn check(
        rules: &[LifecycleRule],
        table: &[(&str, &[&str], f64)],
        in_use: &[&str],
        expired: &[(&str, u32)],
        kept: &[&str],
    ) {
        let imgs = images(table);
        let name_of = |d: &Digest| {
            table
                .iter()
                .find(|(n, _, _)| Digest::of(n.as_bytes()) == *d)
                .unwrap()
                .0
        };
        let use_set: BTreeSet<Digest> = in_use.iter().map(|n| Digest::of(n.as_bytes())).collect();
        let sorted = validate(rules).unwrap();
        let marks = evaluate(&sorted, &imgs, &use_set, NOW);
        let got: Vec<(&str, u32)> = marks
            .iter()
            .filter(|m| !m.in_use)
            .map(|m| (name_of(&imgs[m.image].digest), sorted[m.rule].priority))
            .collect();
        let got_kept: Vec<&str> = marks
            .iter()
            .filter(|m| m.in_use)
            .map(|m| name_of(&imgs[m.image].digest))
            .collect();
        assert_eq!((got.as_slice(), got_kept.as_slice()), (expired, kept));
    }

    use CountType::{ImageCountMoreThan as Count, SinceImagePushed as Days};
    use TagStatus::{Any, Tagged, Untagged};

    #[test]
    fn keep_the_last_n_expires_the_older_ones_oldest_first() {
        let table: &[(&str, &[&str], f64)] = &[
            ("a", &["v1"], 4.0),
            ("b", &["v2"], 3.0),
            ("c", &[], 2.0),
            ("d", &["v3"], 1.0),
        ];
        check(
            &[rule(1, Any, &[], Count, 1)],
            table,
            &[],
            &[("a", 1), ("b", 1), ("c", 1)],
            &[],
        );
        check(
            &[rule(1, Any, &[], Count, 2)],
            table,
            &[],
            &[("a", 1), ("b", 1)],
            &[],
        );
        check(&[rule(1, Any, &[], Count, 4)], table, &[], &[], &[]);
    }

    #[test]
    fn an_image_in_use_is_never_expired_and_still_counts() {
        let table: &[(&str, &[&str], f64)] = &[
            ("a", &["v1"], 4.0),
            ("b", &["v2"], 3.0),
            ("c", &["v3"], 2.0),
            ("d", &["v4"], 1.0),
        ];
        check(
            &[rule(1, Any, &[], Count, 2)],
            table,
            &["a"],
            &[("b", 1)],
            &["a"],
        );
        // In use and among the newest: nothing special.
        check(
            &[rule(1, Any, &[], Count, 2)],
            table,
            &["d"],
            &[("a", 1), ("b", 1)],
            &[],
        );
        check(
            &[rule(1, Any, &[], Days, 2)],
            table,
            &["b"],
            &[("a", 1)],
            &["b"],
        );
    }

    #[test]
    fn since_image_pushed_counts_days_strictly() {
        let table: &[(&str, &[&str], f64)] = &[
            ("old", &[], 15.0),
            ("edge", &[], 14.0),
            ("new", &[], 13.5),
            ("tagged-old", &["v1"], 30.0),
        ];
        check(
            &[rule(1, Untagged, &[], Days, 14)],
            table,
            &[],
            &[("old", 1)],
            &[],
        );
    }

    /// The ECR user guide's "Filtering on multiple rules", examples A and B.
    #[test]
    fn an_image_seen_by_an_earlier_rule_is_never_marked_by_a_later_one() {
        let table: &[(&str, &[&str], f64)] = &[
            ("A", &["beta-1", "prod-1"], 10.0),
            ("B", &["beta-2", "prod-2"], 9.0),
            ("C", &["beta-3"], 8.0),
        ];
        let prod = rule(1, Tagged, &["prod"], Count, 1);
        let beta = rule(2, Tagged, &["beta"], Count, 1);
        check(&[prod.clone(), beta.clone()], table, &[], &[("A", 1)], &[]);
        let (mut beta1, mut prod2) = (beta, prod);
        beta1.priority = 1;
        prod2.priority = 2;
        check(&[beta1, prod2], table, &[], &[("A", 1), ("B", 1)], &[]);
    }

    /// "Filtering on multiple tags in a single rule": every prefix must match a tag.
    #[test]
    fn several_prefixes_select_images_matching_all_of_them() {
        let table: &[(&str, &[&str], f64)] = &[
            ("A", &["alpha-1"], 12.0),
            ("B", &["beta-1"], 11.0),
            ("C", &["alpha-2", "beta-2"], 10.0),
            ("D", &["alpha-3"], 4.0),
            ("E", &["beta-3"], 3.0),
            ("F", &["alpha-4", "beta-4"], 2.0),
        ];
        check(
            &[rule(1, Tagged, &["alpha", "beta"], Days, 5)],
            table,
            &[],
            &[("C", 1)],
            &[],
        );
        check(
            &[rule(1, Tagged, &["alpha"], Count, 1)],
            table,
            &[],
            &[("A", 1), ("C", 1), ("D", 1)],
            &[],
        );
    }

    /// "Filtering on all images", example B: tagged, untagged and any rules together.
    #[test]
    fn priorities_combine_tagged_untagged_and_any() {
        let table: &[(&str, &[&str], f64)] = &[
            ("A", &["alpha-1", "beta-1"], 4.0),
            ("B", &[], 3.0),
            ("C", &["alpha-2"], 2.0),
            ("D", &["git-hash"], 1.0),
            ("E", &[], 0.9),
        ];
        let rules = [
            rule(1, Tagged, &["alpha"], Count, 1),
            rule(2, Untagged, &[], Days, 1),
            rule(3, Any, &[], Count, 1),
        ];
        check(&rules, table, &[], &[("A", 1), ("B", 2), ("D", 3)], &[]);
        // Rules given in any order are evaluated by priority.
        let reversed: Vec<LifecycleRule> = rules.iter().rev().cloned().collect();
        check(&reversed, table, &["B"], &[("A", 1), ("D", 3)], &["B"]);
    }

    #[test]
    fn invalid_policies_are_refused() {
        for (rules, says) in [
            (
                vec![
                    rule(1, Any, &[], Count, 1),
                    rule(1, Untagged, &[], Count, 1),
                ],
                "same priority",
            ),
            (vec![rule(1, Tagged, &[], Count, 1)], "needs tag prefixes"),
            (vec![rule(1, Untagged, &["v"], Count, 1)], "only `tagged`"),
            (
                vec![
                    rule(1, Any, &[], Count, 1),
                    rule(2, Untagged, &[], Count, 1),
                ],
                "highest priority",
            ),
            (vec![rule(1, Untagged, &[], Days, 0)], "at least one day"),
        ] {
            let err = validate(&rules).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
    }
}
