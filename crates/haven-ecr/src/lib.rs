//! ECR's vocabulary, one definition for the spec (`registry.scan_fail_severity`,
//! `registry.lifecycle`), the templates that deploy it and the ECR twin that applies it: finding
//! severities and lifecycle rules. The spec reads them from `haven.toml` through its own schema;
//! the serde forms here are how the twin stores and prints them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a scan finding is, ordered as ECR and CVSS v3 rank them: None < Low < Medium < High <
/// Critical. `None` as a threshold means "never fail".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// CVSS v3's qualitative rating of a base score: 0 none, 0.1-3.9 low, 4.0-6.9 medium,
    /// 7.0-8.9 high, 9.0-10.0 critical.
    pub fn from_score(score: f64) -> Self {
        if score >= 9.0 {
            Self::Critical
        } else if score >= 7.0 {
            Self::High
        } else if score >= 4.0 {
            Self::Medium
        } else if score > 0.0 {
            Self::Low
        } else {
            Self::None
        }
    }

    /// ECR's spelling, as findings tables show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which images a lifecycle rule selects by their tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

/// What a lifecycle rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CountType {
    /// Keep the `count` most recently pushed selected images.
    ImageCountMoreThan,
    /// Expire selected images pushed more than `count` days ago (days, as ECR counts them).
    SinceImagePushed,
}

/// One rule of a lifecycle policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    pub priority: u32,
    pub description: String,
    pub tag_status: TagStatus,
    /// For `tagged` rules only.
    pub tag_prefixes: Vec<String>,
    pub count_type: CountType,
    pub count: u32,
}

impl LifecycleRule {
    /// Whether the rule selects an image with these tags: `tagged` ones having, for every
    /// prefix, a tag starting with it (several prefixes narrow, they do not widen).
    pub fn selects(&self, tags: &[String]) -> bool {
        match self.tag_status {
            TagStatus::Any => true,
            TagStatus::Untagged => tags.is_empty(),
            TagStatus::Tagged => {
                !tags.is_empty()
                    && self
                        .tag_prefixes
                        .iter()
                        .all(|p| tags.iter().any(|t| t.starts_with(p.as_str())))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn severities_rank_and_spell_as_ecr_and_cvss_do() {
        for (score, severity) in [
            (0.0, Severity::None),
            (0.1, Severity::Low),
            (4.0, Severity::Medium),
            (7.0, Severity::High),
            (8.9, Severity::High),
            (9.0, Severity::Critical),
        ] {
            assert_eq!(Severity::from_score(score), severity, "{score}");
        }
        assert!(Severity::None < Severity::Low && Severity::High < Severity::Critical);
        assert_eq!(Severity::Critical.to_string(), "CRITICAL");
        let json = serde_json::to_string(&Severity::High).unwrap();
        assert_eq!(json, "\"high\"");
        assert_eq!(
            serde_json::from_str::<Severity>(&json).unwrap(),
            Severity::High
        );
    }

    #[test]
    fn rules_select_by_tag_status_and_every_prefix() {
        let rule = |tag_status, prefixes: &[&str]| LifecycleRule {
            priority: 1,
            description: String::new(),
            tag_status,
            tag_prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            count_type: CountType::ImageCountMoreThan,
            count: 1,
        };
        let tags = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let cases = [
            (rule(TagStatus::Any, &[]), tags(&[]), true),
            (rule(TagStatus::Untagged, &[]), tags(&[]), true),
            (rule(TagStatus::Untagged, &[]), tags(&["v1"]), false),
            (rule(TagStatus::Tagged, &[]), tags(&[]), false),
            (
                rule(TagStatus::Tagged, &["v", "prod"]),
                tags(&["v1", "prod-1"]),
                true,
            ),
            (
                rule(TagStatus::Tagged, &["v", "prod"]),
                tags(&["v1"]),
                false,
            ),
        ];
        for (rule, tags, selected) in cases {
            assert_eq!(rule.selects(&tags), selected, "{rule:?} {tags:?}");
        }
    }
}
