//! ECR's registry authentication: HTTP Basic with user `AWS` and the authorization token as
//! password (what `aws ecr get-login-password | docker login --username AWS` sends).

use base64::prelude::{BASE64_STANDARD, Engine as _};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::error::{ApiError, ErrorCode};

/// The only user name ECR accepts.
pub const USER: &str = "AWS";

/// Whether the request carries `AWS:<token>` as Basic credentials; the token is compared in
/// constant time.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        })
    else {
        return false;
    };
    let Ok(decoded) = BASE64_STANDARD.decode(encoded) else {
        return false;
    };
    let expected = format!("{USER}:{token}");
    constant_time_eq(&decoded, expected.as_bytes())
}

/// Compares every byte whatever the first difference is; only the length shows.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// 401 with ECR's challenge: `Basic realm="https://<account>.dkr.ecr.<region>.amazonaws.com/",
/// service="ecr.amazonaws.com"` (as ECR sends it; quoted in mayflower/docker-ls#28).
pub fn challenge(account: &str, region: &str) -> ApiError {
    let value = format!(
        "Basic realm=\"https://{account}.dkr.ecr.{region}.amazonaws.com/\",service=\"ecr.amazonaws.com\""
    );
    let error = ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthorized,
        "Not Authorized",
    );
    match HeaderValue::from_str(&value) {
        Ok(v) => error.with_header(header::WWW_AUTHENTICATE, v),
        Err(_) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", BASE64_STANDARD.encode(user_pass));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn only_aws_with_the_token_passes() {
        assert!(authorized(&basic("AWS:s3cret"), "s3cret"));
        for bad in ["AWS:s3cres", "aws:s3cret", "AWS:s3cret2", "AWS:", "s3cret"] {
            assert!(!authorized(&basic(bad), "s3cret"), "{bad}");
        }
        assert!(!authorized(&HeaderMap::new(), "s3cret"));
    }
}
