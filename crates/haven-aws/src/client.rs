//! The one place that builds AWS SDK clients: credentials, region per stack, endpoint override
//! (moto, LocalStack), retries with backoff and timeouts. Nothing else in haven constructs one.
//!
//! - **Credentials**: the SDK's standard chain, in its order: environment variables
//!   (`AWS_ACCESS_KEY_ID`, ...), the shared config and credentials files with `AWS_PROFILE`
//!   (static keys, `credential_process`, assumed roles, IAM Identity Center / SSO), web identity,
//!   then the ECS and EC2 instance metadata services. Resolved once and cached for every region.
//! - **Region**: every client is for one region, the stack's; the loader's own region (used by
//!   STS and SSO) is the first region asked for.
//! - **Endpoint**: `--endpoint-url`, else `AWS_ENDPOINT_URL` (the SDK's own variable; its
//!   service-specific forms, `AWS_ENDPOINT_URL_CLOUDFORMATION` ..., work too).
//! - **Retries**: the SDK's standard mode: throttling (`Throttling`, `RequestLimitExceeded`, ...),
//!   transient errors and 5xx are retried with exponential backoff and full jitter.
//! - **Timeouts**: connect, each attempt, and each operation with its retries.
//! - **HTTP**: hyper with rustls on `ring` and the system's root certificates (no aws-lc-rs: it
//!   needs cmake and a long C build); plain `http://` endpoints work for emulators.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls;

/// How clients are built; [`ClientOptions::default`] suits AWS.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Send every request here instead of AWS (an emulator such as moto). `None` reads
    /// `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// A profile from the shared config files; `None` uses `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Attempts per call, the first included (throttling and transient errors are retried).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub connect_timeout: Duration,
    /// One attempt of one call.
    pub attempt_timeout: Duration,
    /// One call with all its retries.
    pub operation_timeout: Duration,
    /// Fixed keys instead of the credential chain: for emulators (moto takes any keys).
    pub static_keys: Option<StaticKeys>,
}

/// An access key pair, for [`ClientOptions::static_keys`].
#[derive(Clone)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            profile: None,
            max_attempts: 8,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(60),
            operation_timeout: Duration::from_secs(300),
            static_keys: None,
        }
    }
}

/// Shared configuration and a factory of per-region clients.
#[derive(Debug, Clone)]
pub struct Aws {
    config: SdkConfig,
    endpoint_url: Option<String>,
    retry: RetryConfig,
    timeouts: TimeoutConfig,
}

impl Aws {
    /// Loads the configuration (the credential chain is resolved lazily, on the first call).
    /// `home_region` is the region for the loader's own needs (STS, SSO); clients get their own.
    pub async fn load(options: &ClientOptions, home_region: &str) -> Self {
        let endpoint_url = options.endpoint_url.clone().or_else(|| {
            std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
        });
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let retry = RetryConfig::standard()
            .with_max_attempts(options.max_attempts)
            .with_initial_backoff(options.initial_backoff)
            .with_max_backoff(options.max_backoff);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(options.connect_timeout)
            .operation_attempt_timeout(options.attempt_timeout)
            .operation_timeout(options.operation_timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(home_region.to_owned()))
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone());
        if let Some(url) = &endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some(keys) = &options.static_keys {
            loader = loader.credentials_provider(aws_sdk_cloudformation::config::Credentials::new(
                keys.access_key_id.clone(),
                keys.secret_access_key.clone(),
                None,
                None,
                "haven-static-keys",
            ));
        }
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile.clone());
        }
        Self {
            config: loader.load().await,
            endpoint_url,
            retry,
            timeouts,
        }
    }

    /// The endpoint every client talks to, when it is not AWS's own.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    /// CloudFormation in `region`.
    pub fn cloudformation(&self, region: &str) -> aws_sdk_cloudformation::Client {
        let config = aws_sdk_cloudformation::config::Builder::from(&self.config)
            .region(Region::new(region.to_owned()))
            .build();
        aws_sdk_cloudformation::Client::from_conf(config)
    }
}

// Services haven calls a few times (SSM Parameter Store, S3, STS) go through the same HTTP
// client, credentials, retries and timeouts as the SDK clients above, via smithy's generic
// operation: linking their SDK crates would cost minutes of compile time for five operations.
// Requests are signed with SigV4 (aws-sigv4, the SDK's own signer) just before they are sent.

/// A request to an AWS service without an SDK client here.
#[derive(Debug)]
pub(crate) struct RawRequest {
    /// The signing name and endpoint prefix: `ssm`, `s3`, `sts`.
    pub service: &'static str,
    pub region: String,
    pub method: &'static str,
    /// Path and query, after the endpoint (`/`, `/bucket?versions`).
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    /// Never logged: the signer sees only its hash (it may hold a secret).
    pub body: Vec<u8>,
    /// On AWS, a name before the service's host (S3's virtual-hosted bucket).
    pub host_prefix: Option<String>,
}

/// The answer: any status; callers read AWS's error from the body.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// Why a raw call failed before any answer (connection, timeout, credentials).
#[derive(Debug)]
struct RawFailure(String);

impl std::fmt::Display for RawFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RawFailure {}

/// The endpoint of `service` in `region` (with a host prefix: S3's bucket, ECR's `api`): the
/// override when there is one, else AWS's regional endpoint, else Route 53's global one.
fn endpoint(overridden: Option<&str>, service: &str, region: &str, prefix: Option<&str>) -> String {
    match (overridden, prefix) {
        (Some(url), _) => url.trim_end_matches('/').to_owned(),
        // Route 53 is global: one endpoint, signed for us-east-1, whatever the region.
        (None, _) if service == "route53" => "https://route53.amazonaws.com".to_owned(),
        (None, Some(p)) => format!("https://{p}.{service}.{region}.amazonaws.com"),
        (None, None) => format!("https://{service}.{region}.amazonaws.com"),
    }
}

impl Aws {
    /// The endpoint of `service` in `region`: the override (path-style for S3), else AWS's.
    fn service_endpoint(&self, service: &str, region: &str, prefix: Option<&str>) -> String {
        endpoint(self.endpoint_url.as_deref(), service, region, prefix)
    }

    /// Sends a signed request, retrying throttling, 5xx and transient errors with backoff.
    pub(crate) async fn send_raw(&self, req: RawRequest) -> Result<RawResponse, String> {
        use aws_credential_types::provider::ProvideCredentials;
        use aws_smithy_runtime::client::orchestrator::operation::Operation;
        use aws_smithy_runtime::client::retries::classifiers::{
            HttpStatusCodeClassifier, TransientErrorClassifier,
        };
        use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, OrchestratorError};
        use aws_smithy_types::body::SdkBody;

        let provider = self
            .config
            .credentials_provider()
            .ok_or("no AWS credentials are configured")?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("cannot load AWS credentials: {}", DisplayChain(&e)))?;
        let http = self
            .config
            .http_client()
            .ok_or("no HTTP client is configured")?;
        let endpoint = self.service_endpoint(req.service, &req.region, req.host_prefix.as_deref());
        let signer = Signer {
            identity: credentials.into(),
            region: req.region.clone(),
            service: req.service,
        };
        let operation = Operation::builder()
            .service_name(req.service)
            .operation_name("haven")
            .http_client(http)
            .endpoint_url(&endpoint)
            .no_auth()
            .standard_retry(&self.retry)
            .retry_classifier(HttpStatusCodeClassifier::default())
            .retry_classifier(TransientErrorClassifier::<RawFailure>::new())
            .retry_classifier(Throttled)
            .timeout_config(self.timeouts.clone())
            .sleep_impl(aws_smithy_async::rt::sleep::TokioSleep::new())
            .time_source(aws_smithy_async::time::SystemTimeSource::new())
            .interceptor(signer)
            .serializer(move |req: RawRequest| {
                let mut builder = http::Request::builder().method(req.method).uri(&req.path);
                for (k, v) in &req.headers {
                    builder = builder.header(*k, v);
                }
                let request = builder.body(SdkBody::from(req.body))?;
                Ok(HttpRequest::try_from(request)?)
            })
            .deserializer(|response| {
                let body = response.body().bytes().ok_or_else(|| {
                    OrchestratorError::operation(RawFailure("streaming body".into()))
                })?;
                Ok(RawResponse {
                    status: response.status().as_u16(),
                    body: body.to_vec(),
                })
            })
            .build();
        operation
            .invoke(req)
            .await
            .map_err(|e| DisplayChain(&e).to_string())
    }
}

/// An error with its sources, `a: b: c`.
struct DisplayChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

/// Retries 400/429 answers whose body names a throttling error (the JSON and XML protocols
/// put the code in the body).
#[derive(Debug)]
struct Throttled;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for Throttled {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let Some(response) = ctx.response() else {
            return RetryAction::NoActionIndicated;
        };
        let status = response.status().as_u16();
        let body = response.body().bytes().unwrap_or_default();
        let text = String::from_utf8_lossy(body);
        if (status == 400 || status == 429)
            && [
                "Throttl",
                "RequestLimitExceeded",
                "TooManyRequests",
                "SlowDown",
            ]
            .iter()
            .any(|code| text.contains(code))
        {
            RetryAction::throttling_error()
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "haven throttling"
    }
}

/// Signs each attempt with SigV4, after the endpoint is applied.
#[derive(Debug)]
struct Signer {
    identity: aws_smithy_runtime_api::client::identity::Identity,
    region: String,
    service: &'static str,
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for Signer {
    fn name(&self) -> &'static str {
        "haven sigv4"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings, UriPathNormalizationMode, sign,
        };
        use sha2::Digest;

        let request = context.request_mut();
        let body = request.body().bytes().unwrap_or_default();
        let hash: String = sha2::Sha256::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut settings = SigningSettings::default();
        if self.service == "s3" {
            // S3 signs the payload hash as a header and takes paths as they are.
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(self.service)
            .time(haven_time::now())
            .settings(settings)
            .build()?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        // The hash stands for the body, so the body never reaches the signer (nor its logs).
        let signable = SignableRequest::new(
            request.method(),
            request.uri(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Precomputed(hash),
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        let (new_headers, _params) = instructions.into_parts();
        for h in new_headers {
            request.headers_mut().insert(h.name(), h.value().to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod endpoint_tests {
    use super::endpoint;

    #[test]
    fn endpoints_are_regional_but_route53_and_overrides() {
        // (override, service, region, host prefix, endpoint)
        type Case<'a> = (Option<&'a str>, &'a str, &'a str, Option<&'a str>, &'a str);
        let cases: [Case<'_>; 6] = [
            (
                None,
                "ssm",
                "us-west-2",
                None,
                "https://ssm.us-west-2.amazonaws.com",
            ),
            (
                None,
                "ecr",
                "eu-west-1",
                Some("api"),
                "https://api.ecr.eu-west-1.amazonaws.com",
            ),
            (
                None,
                "s3",
                "us-east-1",
                Some("b"),
                "https://b.s3.us-east-1.amazonaws.com",
            ),
            (
                None,
                "route53",
                "us-east-1",
                None,
                "https://route53.amazonaws.com",
            ),
            (
                None,
                "route53",
                "us-west-2",
                None,
                "https://route53.amazonaws.com",
            ),
            (
                Some("http://127.0.0.1:5000/"),
                "route53",
                "us-east-1",
                None,
                "http://127.0.0.1:5000",
            ),
        ];
        for (overridden, service, region, prefix, want) in cases {
            assert_eq!(
                endpoint(overridden, service, region, prefix),
                want,
                "{service}"
            );
        }
    }
}
