//! Finding severities, ordered as ECR and CVSS v3 rank them: None < Low < Medium < High <
//! Critical.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a scan finding is. `None` as a threshold means "never fail".
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
