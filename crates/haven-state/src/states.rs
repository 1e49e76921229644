//! The states a region records, spelled as ECS spells them: a task's `lastStatus` and
//! `stoppedReason`, a release's rollout state. The controller that writes them, the control API
//! that sends them and the CLI that reads them share these types; none compares their text.

use std::fmt;
use std::str::FromStr;

use crate::spelling::UnknownSpelling;

crate::spelled! {
    /// ECS's task life cycle, as `lastStatus` names it.
    pub enum TaskStatus ("task status") {
        Provisioning = "PROVISIONING",
        Running = "RUNNING",
        Deprovisioning = "DEPROVISIONING",
        Stopped = "STOPPED",
    }
}

crate::spelled! {
    /// A release's state, as ECS names a deployment's `rolloutState`.
    pub enum ReleaseState ("release state") {
        InProgress = "IN_PROGRESS",
        Successful = "SUCCESSFUL",
        RolledBack = "ROLLED_BACK",
    }
}

impl ReleaseState {
    /// The release has ended and never changes again.
    pub fn is_final(self) -> bool {
        self != Self::InProgress
    }
}

/// How a task's process ended, as ECS words it inside an exit's stop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
    Unknown,
}

impl ExitStatus {
    pub fn new(code: Option<i32>, signal: Option<i32>) -> Self {
        match (code, signal) {
            (Some(c), _) => Self::Code(c),
            (None, Some(s)) => Self::Signal(s),
            (None, None) => Self::Unknown,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(c) => write!(f, "exit code: {c}"),
            Self::Signal(s) => write!(f, "killed by signal {s}"),
            Self::Unknown => f.write_str("exit status unknown"),
        }
    }
}

impl FromStr for ExitStatus {
    type Err = UnknownSpelling;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let number = |rest: &str| rest.parse::<i32>().ok();
        let parsed = if text == "exit status unknown" {
            Some(Self::Unknown)
        } else if let Some(rest) = text.strip_prefix("exit code: ") {
            number(rest).map(Self::Code)
        } else if let Some(rest) = text.strip_prefix("killed by signal ") {
            number(rest).map(Self::Signal)
        } else {
            None
        };
        parsed.ok_or_else(|| UnknownSpelling {
            what: "exit status",
            value: text.to_owned(),
        })
    }
}

/// Why a task stopped. Its text (`Display`, and how it is stored and sent) is ECS's
/// `stoppedReason`; decisions look at the variant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// Replaced because it failed its target group's health checks.
    ElbHealthChecks,
    /// Its process exited without being asked to.
    EssentialContainerExited(ExitStatus),
    /// Stopped to bring its task set down to the desired count.
    ScalingActivity,
    /// The region is shutting down.
    ServiceShuttingDown,
    /// Its task set was replaced by a release's green set.
    TaskSetReplaced,
    /// Its task set was a release's green set, rolled back.
    TaskSetRolledBack,
    /// A restarted region process ended it, left behind by the process before.
    RegionRestarted,
    /// The kernel killed its container for using more memory than its task size allows
    /// (exit 137, as ECS reports it).
    OutOfMemory,
    /// Its image could not be prepared (ECS's `CannotPullContainerError`).
    CannotPullContainer(String),
    /// Its process could not be started (`CannotStartContainerError`).
    CannotStartContainer(String),
    /// Its secrets could not be resolved (`ResourceInitializationError`).
    ResourceInitialization(String),
}

/// The reasons without data, and their texts.
const FIXED: [(StopReason, &str); 7] = [
    (
        StopReason::ElbHealthChecks,
        "Task failed ELB health checks in (target-group)",
    ),
    (
        StopReason::ScalingActivity,
        "Scaling activity initiated by (deployment ecs-svc)",
    ),
    (StopReason::ServiceShuttingDown, "Service shutting down"),
    (
        StopReason::TaskSetReplaced,
        "Task set replaced by a release",
    ),
    (StopReason::TaskSetRolledBack, "Task set rolled back"),
    (
        StopReason::RegionRestarted,
        "Region process restarted; task cleaned up",
    ),
    (
        StopReason::OutOfMemory,
        "OutOfMemoryError: Container killed due to memory usage",
    ),
];

const EXITED: (&str, &str) = ("Essential container in task exited (", ")");
const PULL: &str = "CannotPullContainerError: ";
const START: &str = "CannotStartContainerError: ";
const INIT: &str = "ResourceInitializationError: ";

impl StopReason {
    /// The task never started: it counts as a failed launch.
    pub fn is_failed_start(&self) -> bool {
        matches!(
            self,
            Self::CannotPullContainer(_)
                | Self::CannotStartContainer(_)
                | Self::ResourceInitialization(_)
        )
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((_, text)) = FIXED.iter().find(|(r, _)| r == self) {
            return f.write_str(text);
        }
        match self {
            Self::EssentialContainerExited(exit) => write!(f, "{}{exit}{}", EXITED.0, EXITED.1),
            Self::CannotPullContainer(why) => write!(f, "{PULL}{why}"),
            Self::CannotStartContainer(why) => write!(f, "{START}{why}"),
            Self::ResourceInitialization(why) => write!(f, "{INIT}{why}"),
            // Every other variant is in FIXED.
            _ => Ok(()),
        }
    }
}

impl FromStr for StopReason {
    type Err = UnknownSpelling;

    /// ECS's text back into the reason; text no reason writes is an error.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some((reason, _)) = FIXED.iter().find(|(_, t)| *t == text) {
            return Ok(reason.clone());
        }
        let exited = text
            .strip_prefix(EXITED.0)
            .and_then(|rest| rest.strip_suffix(EXITED.1))
            .and_then(|exit| exit.parse().ok())
            .map(Self::EssentialContainerExited);
        let with_text = || {
            [
                (PULL, Self::CannotPullContainer as fn(String) -> Self),
                (START, Self::CannotStartContainer),
                (INIT, Self::ResourceInitialization),
            ]
            .into_iter()
            .find_map(|(prefix, make)| text.strip_prefix(prefix).map(|why| make(why.to_owned())))
        };
        exited.or_else(with_text).ok_or_else(|| UnknownSpelling {
            what: "task stop reason",
            value: text.to_owned(),
        })
    }
}

crate::text_impls!(StopReason);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::spelling::{Spelled, from_sqlite_text, through_json, through_sqlite};

    /// `value` comes back equal from JSON and from SQLite, spelled the same in both.
    fn round_trips<T>(value: &T)
    where
        T: serde::Serialize
            + serde::de::DeserializeOwned
            + rusqlite::types::ToSql
            + rusqlite::types::FromSql
            + PartialEq
            + fmt::Debug
            + fmt::Display,
    {
        assert_eq!(&through_json(value).unwrap(), value);
        assert_eq!(&through_sqlite(value).unwrap(), value);
        assert_eq!(
            serde_json::to_value(value).unwrap(),
            serde_json::Value::String(value.to_string())
        );
    }

    /// Text none of `T`'s values writes is an error from JSON, SQLite and `FromStr`.
    fn unknown_is_an_error<T>(text: &str)
    where
        T: serde::de::DeserializeOwned + rusqlite::types::FromSql + FromStr + fmt::Debug,
    {
        let json = serde_json::Value::String(text.to_owned());
        assert!(serde_json::from_value::<T>(json).is_err(), "{text:?}");
        assert!(from_sqlite_text::<T>(text).is_err(), "{text:?}");
        assert!(text.parse::<T>().is_err(), "{text:?}");
    }

    fn exit_status() -> impl Strategy<Value = ExitStatus> {
        prop_oneof![
            any::<i32>().prop_map(ExitStatus::Code),
            any::<i32>().prop_map(ExitStatus::Signal),
            Just(ExitStatus::Unknown),
        ]
    }

    fn stop_reason() -> impl Strategy<Value = StopReason> {
        prop_oneof![
            proptest::sample::select(FIXED.map(|(r, _)| r).to_vec()),
            exit_status().prop_map(StopReason::EssentialContainerExited),
            ".*".prop_map(StopReason::CannotPullContainer),
            ".*".prop_map(StopReason::CannotStartContainer),
            ".*".prop_map(StopReason::ResourceInitialization),
        ]
    }

    proptest! {
        #[test]
        fn task_statuses_round_trip(s in proptest::sample::select(TaskStatus::ALL)) {
            round_trips(&s);
        }

        #[test]
        fn release_states_round_trip(s in proptest::sample::select(ReleaseState::ALL)) {
            round_trips(&s);
        }

        #[test]
        fn stop_reasons_round_trip(r in stop_reason()) {
            round_trips(&r);
        }

        #[test]
        fn unknown_spellings_are_errors(text in "\\PC*") {
            prop_assume!(TaskStatus::ALL.iter().all(|s| s.as_str() != text));
            prop_assume!(ReleaseState::ALL.iter().all(|s| s.as_str() != text));
            unknown_is_an_error::<TaskStatus>(&text);
            unknown_is_an_error::<ReleaseState>(&text);
        }

        #[test]
        fn unknown_stop_reasons_are_errors(text in "[a-zA-Z ;:()]*") {
            prop_assume!(text.parse::<StopReason>().is_err());
            unknown_is_an_error::<StopReason>(&text);
        }
    }

    #[test]
    fn spellings_are_ecs() {
        let texts: Vec<String> = [
            StopReason::ElbHealthChecks,
            StopReason::EssentialContainerExited(ExitStatus::Code(1)),
            StopReason::EssentialContainerExited(ExitStatus::Signal(9)),
            StopReason::CannotPullContainer("no such image".into()),
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            texts,
            [
                "Task failed ELB health checks in (target-group)",
                "Essential container in task exited (exit code: 1)",
                "Essential container in task exited (killed by signal 9)",
                "CannotPullContainerError: no such image",
            ]
        );
        assert_eq!(TaskStatus::Deprovisioning.to_string(), "DEPROVISIONING");
        assert_eq!(ReleaseState::RolledBack.to_string(), "ROLLED_BACK");
        // Near misses are not reasons: only the texts the reasons write.
        for text in [
            "Essential container in task exited (exit code: x)",
            "Essential container in task exited",
            "Task failed ELB health checks",
            "scaled in",
        ] {
            unknown_is_an_error::<StopReason>(text);
        }
    }
}
