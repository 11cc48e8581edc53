//! Which S3 answers are tried again, beyond the SDK's standard rules (which retry
//! 500, 502, 503 and 504, S3's throttling codes, and transport failures): a bare 429
//! Too Many Requests, as S3-compatible stores and proxies answer without an S3 error
//! code, honouring its `Retry-After` (capped, so a hostile value cannot hold a run).

use std::time::Duration;

use aws_sdk_s3::config::interceptors::InterceptorContext;
use aws_sdk_s3::config::retry::{ClassifyRetry, RetryAction};
use aws_smithy_types::retry::ErrorKind;

/// The longest `Retry-After` honoured; a longer one waits this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Classifies 429 answers as throttling, to be retried after their `Retry-After`.
#[derive(Debug, Default)]
pub(super) struct TooManyRequests;

impl ClassifyRetry for TooManyRequests {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(response) = ctx.response() else {
            return RetryAction::NoActionIndicated;
        };
        if response.status().as_u16() != 429 {
            return RetryAction::NoActionIndicated;
        }
        match response
            .headers()
            .get("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            Some(secs) => RetryAction::retryable_error_with_explicit_delay(
                ErrorKind::ThrottlingError,
                Duration::from_secs(secs).min(MAX_RETRY_AFTER),
            ),
            None => RetryAction::throttling_error(),
        }
    }

    fn name(&self) -> &'static str {
        "429 Too Many Requests"
    }
}
