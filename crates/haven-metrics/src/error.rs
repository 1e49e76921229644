//! The crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening the file, or its schema version (see [`haven_sqlite`]).
    #[error("metrics database: {0}")]
    Open(#[from] haven_sqlite::Error),
    #[error("metrics database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// CloudWatch's `InvalidParameterValue`: the request is wrong, not the store.
    #[error("invalid {parameter}: {reason}")]
    InvalidParameter {
        parameter: &'static str,
        reason: String,
    },
    /// GetMetricStatistics returns at most 1,440 datapoints per call.
    #[error(
        "{requested} datapoints requested, at most {max} are returned per call: \
         narrow the time range or lengthen the period"
    )]
    TooManyDatapoints { requested: u64, max: u64 },
    #[error("alarm `{0}` does not exist")]
    UnknownAlarm(String),
    #[error("stored alarm `{name}` cannot be read: {source}")]
    CorruptAlarm {
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("a stored datapoint's value digest is corrupt")]
    CorruptDigest,
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(parameter: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidParameter {
        parameter,
        reason: reason.into(),
    }
}
