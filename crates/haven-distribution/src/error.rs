//! Errors: the API's, in the distribution spec's JSON form with its codes and ECR's wording
//! where ECR has its own, and the server's own (binding, I/O).

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use haven_registry::Error as RegistryError;

use crate::body::{Body, full};

/// The distribution spec's error codes (OCI distribution-spec v1.1, "Error Codes"), plus
/// `UNKNOWN` for failures of the registry itself (as the reference registry says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TagInvalid,
    Unknown,
}

/// One API error: the status, and the spec's `{"errors":[{code, message, detail}]}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Boxed: a JSON value is large, and errors travel in every `Result`.
    pub detail: Option<Box<serde_json::Value>>,
    /// Extra headers (`WWW-Authenticate`, `Range`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

#[derive(Serialize)]
struct Errors<'a> {
    errors: [Entry<'a>; 1],
}

#[derive(Serialize)]
struct Entry<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// ECR's answer for a repository that does not exist (seen in `docker push` output as
    /// "name unknown: The repository with name 'X' does not exist in the registry with id
    /// 'N'", e.g. aws-actions/amazon-ecr-login#166).
    pub fn name_unknown(name: &str, account: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NameUnknown,
            format!(
                "The repository with name '{name}' does not exist in the registry with id '{account}'"
            ),
        )
    }

    pub fn upload_unknown(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::BlobUploadUnknown,
            format!("upload {id} does not exist (finished, cancelled or expired)"),
        )
    }

    /// A registry error as the API says it; `repository` names the repository for ECR's
    /// messages.
    pub fn from_registry(err: RegistryError, repository: &str) -> Self {
        use ErrorCode as C;
        use StatusCode as S;
        let message = err.to_string();
        let (status, code) = match &err {
            // ECR's wording for a tag of an immutable repository, seen by `docker push` as
            // "tag invalid: The image tag 'T' already exists in the 'R' repository and cannot
            // be overwritten because the repository is immutable." (aws/containers-roadmap#862,
            // moby/buildkit#3776; newer ECR says "...because the tag is immutable.").
            RegistryError::TagExists { tag, .. } => {
                return Self::new(
                    S::BAD_REQUEST,
                    C::TagInvalid,
                    format!(
                        "The image tag '{tag}' already exists in the '{repository}' repository \
                         and cannot be overwritten because the repository is immutable."
                    ),
                );
            }
            RegistryError::InvalidTag { .. } => (S::BAD_REQUEST, C::TagInvalid),
            RegistryError::NotFound { .. } | RegistryError::NotATag { .. } => {
                (S::NOT_FOUND, C::ManifestUnknown)
            }
            RegistryError::MissingBlob { .. } => (S::NOT_FOUND, C::BlobUnknown),
            RegistryError::ManifestBlobUnknown { digest } => {
                return Self::new(S::BAD_REQUEST, C::ManifestBlobUnknown, message)
                    .with_detail(serde_json::json!({ "digest": digest }));
            }
            RegistryError::InvalidDigest { .. } | RegistryError::DigestMismatch { .. } => {
                (S::BAD_REQUEST, C::DigestInvalid)
            }
            RegistryError::ManifestTooLarge { .. } => (S::PAYLOAD_TOO_LARGE, C::ManifestInvalid),
            RegistryError::ManifestInvalid { .. }
            | RegistryError::UnknownMediaType { .. }
            | RegistryError::UnsupportedMediaType { .. }
            | RegistryError::Json { .. } => (S::BAD_REQUEST, C::ManifestInvalid),
            RegistryError::UploadOffset { .. } => (S::RANGE_NOT_SATISFIABLE, C::BlobUploadInvalid),
            _ => (S::INTERNAL_SERVER_ERROR, C::Unknown),
        };
        Self::new(status, code, message)
    }

    pub fn into_response(self) -> Response<Body> {
        let body = Errors {
            errors: [Entry {
                code: self.code,
                message: &self.message,
                detail: self.detail.as_deref(),
            }],
        };
        // Serialising these plain fields cannot fail; an empty body is the fallback anyway.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = Response::new(full(bytes));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// The server's own errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("the registry server cannot listen: {0}")]
    Bind(#[source] std::io::Error),
    #[error("the registry server's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the registry server's thread panicked")]
    Panicked,
}
