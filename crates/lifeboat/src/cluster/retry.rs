//! How requests to a cluster are tried again and paced. During an incident the API
//! server is what is overloaded: requests can be paced by a client-side rate limit
//! (`qps`, `burst`; off by default, so a restore goes as fast as the server takes it,
//! and a server that sheds load says so with 429), and one that meets a transient failure (the connection refused,
//! reset or stalled, 429 Too Many Requests, 500, 502, 503, 504) is tried again after an
//! exponential delay with full jitter, or after the server's `Retry-After`, within a
//! number of retries and a time budget.
//!
//! Only requests that are safe to repeat are repeated after the server may have acted:
//! reads, replaces, merge and apply patches, and access reviews. A create or a delete
//! is repeated only when its caller put an `Attempts` witness in it, promising to
//! check what a repeat finds (`objects::create` reads back a 409 AlreadyExists and
//! compares it to what it sent; `objects::delete` takes a 404 for its own delete). A
//! JSON patch (which may add to a list twice) and any other request are repeated only
//! when the server refused it without acting (429) or the connection was never made.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Method, Request, Response};
use tokio::time::Instant;
use tower::BoxError;
use tower::retry::Policy;
use tower::util::rng::{HasherRng, Rng};

use kube::client::Body;

/// How requests to one cluster are retried and paced: the `requests` of a cluster
/// entry, with these defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestSettings {
    /// Retries of one request after its first attempt.
    pub retries: u32,
    /// The time one request may take, its retries and their delays included.
    pub budget: Duration,
    /// The longest a request may wait for the server's next byte.
    pub timeout: Duration,
    /// Requests per second, on average; `None`: not paced (lifeboat's own parallelism
    /// bounds the load, and the server's 429s are honoured).
    pub qps: Option<f64>,
    /// Requests that may go at once before `qps` paces them.
    pub burst: u32,
}

impl Default for RequestSettings {
    fn default() -> Self {
        RequestSettings {
            retries: 8,
            budget: Duration::from_secs(120),
            timeout: Duration::from_secs(60),
            qps: None,
            burst: 100,
        }
    }
}

/// The first retry waits up to this long; each next one up to twice as long as the
/// one before, at most `MAX_DELAY`.
const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(10);

/// Put in a request's extensions by a caller that checks what a repeated create or
/// delete finds: counts the retries the request took.
#[derive(Clone, Debug, Default)]
pub struct Attempts(Arc<AtomicU32>);

impl Attempts {
    /// Puts a new witness into `request` and returns it.
    pub fn witness<B>(request: &mut Request<B>) -> Attempts {
        let attempts = Attempts::default();
        request.extensions_mut().insert(attempts.clone());
        attempts
    }

    /// Whether the request was sent more than once (so a first attempt may have acted
    /// though its answer was lost).
    pub fn retried(&self) -> bool {
        self.0.load(Ordering::Relaxed) > 0
    }
}

/// The retry policy: one per request (tower clones it for each call).
#[derive(Clone)]
pub struct ApiRetry {
    settings: RequestSettings,
    retried: u32,
    deadline: Option<Instant>,
    rng: HasherRng,
}

impl ApiRetry {
    pub fn new(settings: RequestSettings) -> ApiRetry {
        ApiRetry {
            settings,
            retried: 0,
            deadline: None,
            rng: HasherRng::new(),
        }
    }

    /// The delay before retry number `self.retried + 1`: full jitter over an
    /// exponential cap.
    fn backoff(&mut self) -> Duration {
        let cap = FIRST_DELAY
            .saturating_mul(1u32 << self.retried.min(16))
            .min(MAX_DELAY);
        cap.mul_f64(self.rng.next_f64())
    }
}

impl<Res> Policy<Request<Body>, Response<Res>, BoxError> for ApiRetry {
    type Future = tokio::time::Sleep;

    fn retry(
        &mut self,
        req: &mut Request<Body>,
        result: &mut Result<Response<Res>, BoxError>,
    ) -> Option<Self::Future> {
        let now = Instant::now();
        let deadline = *self.deadline.get_or_insert(now + self.settings.budget);
        if self.retried >= self.settings.retries {
            return None;
        }
        let server_delay = match result {
            Ok(response) => match response.status().as_u16() {
                429 => retry_after(response),
                500 | 502 | 503 | 504 if repeatable(req) => retry_after(response),
                _ => return None,
            },
            Err(error) if repeatable(req) || never_connected(error.as_ref()) => None,
            Err(_) => return None,
        };
        let delay = server_delay.unwrap_or_else(|| self.backoff());
        if now + delay > deadline {
            return None;
        }
        self.retried += 1;
        if let Some(attempts) = req.extensions().get::<Attempts>() {
            attempts.0.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(
            method = %req.method(),
            path = req.uri().path(),
            retry = self.retried,
            delay_ms = delay.as_millis() as u64,
            "retrying a request"
        );
        Some(tokio::time::sleep(delay))
    }

    fn clone_request(&mut self, req: &Request<Body>) -> Option<Request<Body>> {
        let body = req.body().try_clone()?;
        let mut copy = Request::new(body);
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }
}

/// Whether `req` may be sent again after the server may have acted on it.
fn repeatable<B>(req: &Request<B>) -> bool {
    let method = req.method();
    if method == Method::GET || method == Method::HEAD || method == Method::PUT {
        return true;
    }
    if method == Method::PATCH {
        // A JSON patch may `add` to a list; applied twice, it adds twice.
        return req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| !v.starts_with("application/json-patch+json"));
    }
    if method == Method::POST && req.uri().path().ends_with("reviews") {
        // Access and token reviews change nothing.
        return true;
    }
    req.extensions().get::<Attempts>().is_some()
}

/// Whether the connection was never made (so the server cannot have acted).
fn never_connected(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(e) = e.downcast_ref::<hyper_util::client::legacy::Error>()
            && e.is_connect()
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// The server's `Retry-After` in seconds (an HTTP date is not honoured: the backoff
/// applies), capped at `MAX_DELAY`.
fn retry_after<B>(response: &Response<B>) -> Option<Duration> {
    let secs: u64 = response
        .headers()
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_DELAY))
}

/// A client-side rate limit shared by every request to one cluster: a generic cell
/// rate algorithm, `burst` requests at once, then one every `1 / qps` seconds.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    tolerance: Duration,
    /// When the next request would go if none had gone before it at the limit.
    next: Mutex<Instant>,
}

impl Pace {
    pub fn new(settings: &RequestSettings) -> Pace {
        let interval = settings.qps.map_or(Duration::ZERO, |qps| {
            Duration::from_secs_f64(1.0 / qps.max(0.001))
        });
        Pace {
            interval,
            tolerance: interval.saturating_mul(settings.burst.saturating_sub(1)),
            next: Mutex::new(Instant::now()),
        }
    }

    /// How long the request about to go must wait; books its slot.
    fn book(&self) -> Duration {
        if self.interval.is_zero() {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut next = match self.next.lock() {
            Ok(next) => next,
            Err(poisoned) => poisoned.into_inner(),
        };
        let start = (*next).max(now);
        *next = start + self.interval;
        (start - now).saturating_sub(self.tolerance)
    }
}

/// A service whose requests wait for their turn at the cluster's `Pace`.
#[derive(Clone)]
pub struct Paced<S> {
    inner: S,
    pace: Arc<Pace>,
}

impl<S> Paced<S> {
    pub fn new(inner: S, pace: Arc<Pace>) -> Paced<S> {
        Paced { inner, pace }
    }
}

impl<S, Req> tower::Service<Req> for Paced<S>
where
    S: tower::Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // The service made ready goes with this request; a clone stays for the next.
        let fresh = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, fresh);
        let wait = self.pace.book();
        Box::pin(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            ready.call(req).await
        })
    }
}

/// The layer of `Paced`.
#[derive(Clone)]
pub struct PaceLayer(pub Arc<Pace>);

impl<S> tower::Layer<S> for PaceLayer {
    type Service = Paced<S>;
    fn layer(&self, inner: S) -> Paced<S> {
        Paced::new(inner, self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str, content_type: Option<&str>) -> Request<Body> {
        let mut r = Request::new(Body::empty());
        *r.method_mut() = method;
        *r.uri_mut() = path.parse().unwrap_or_else(|e| panic!("{e}"));
        if let Some(ct) = content_type {
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                ct.parse().unwrap_or_else(|e| panic!("{e}")),
            );
        }
        r
    }

    fn answer(status: u16, retry_after: Option<&str>) -> Result<Response<()>, BoxError> {
        let mut r = Response::new(());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or_else(|e| panic!("{e}"));
        if let Some(v) = retry_after {
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                v.parse().unwrap_or_else(|e| panic!("{e}")),
            );
        }
        Ok(r)
    }

    fn retries(req: &mut Request<Body>, mut result: Result<Response<()>, BoxError>) -> bool {
        ApiRetry::new(RequestSettings::default())
            .retry(req, &mut result)
            .is_some()
    }

    #[tokio::test]
    async fn reads_are_retried_after_every_transient_answer_and_creates_only_after_429() {
        for status in [429, 500, 502, 503, 504] {
            assert!(
                retries(
                    &mut request(Method::GET, "/api/v1/pods", None),
                    answer(status, None)
                ),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 409, 422] {
            assert!(
                !retries(
                    &mut request(Method::GET, "/api/v1/pods", None),
                    answer(status, None)
                ),
                "{status}"
            );
        }
        let create = || request(Method::POST, "/api/v1/namespaces/a/configmaps", None);
        assert!(retries(&mut create(), answer(429, None)));
        assert!(!retries(&mut create(), answer(500, None)));
        assert!(!retries(&mut create(), Err("connection reset".into())));
        let mut witnessed = create();
        let attempts = Attempts::witness(&mut witnessed);
        assert!(!attempts.retried());
        assert!(retries(&mut witnessed, answer(504, None)));
        assert!(attempts.retried(), "the witness did not see the retry");
        let review = || {
            request(
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                None,
            )
        };
        assert!(retries(&mut review(), Err("connection reset".into())));
        let json_patch = || {
            request(
                Method::PATCH,
                "/api/v1/namespaces/a/configmaps/c",
                Some("application/json-patch+json"),
            )
        };
        assert!(!retries(&mut json_patch(), answer(503, None)));
        let merge = || {
            request(
                Method::PATCH,
                "/api/v1/namespaces/a/configmaps/c",
                Some("application/merge-patch+json"),
            )
        };
        assert!(retries(&mut merge(), answer(503, None)));
    }

    #[tokio::test]
    async fn retry_after_is_honoured_within_the_budget() {
        let mut policy = ApiRetry::new(RequestSettings {
            budget: Duration::from_secs(5),
            ..RequestSettings::default()
        });
        let mut req = request(Method::GET, "/api", None);
        let start = Instant::now();
        let sleep = policy.retry(&mut req, &mut answer(429, Some("3")));
        let wait = sleep.map(|s| s.deadline() - start);
        assert!(
            wait.is_some_and(|w| w >= Duration::from_secs(3) && w < Duration::from_secs(4)),
            "{wait:?}"
        );
        // A wait past what is left of the budget is not taken: the error stands.
        assert!(
            policy
                .retry(&mut req, &mut answer(429, Some("9")))
                .is_none()
        );
    }

    #[tokio::test]
    async fn retries_stop_at_their_count() {
        let mut policy = ApiRetry::new(RequestSettings {
            retries: 2,
            ..RequestSettings::default()
        });
        let mut req = request(Method::GET, "/api", None);
        assert!(policy.retry(&mut req, &mut answer(503, None)).is_some());
        assert!(policy.retry(&mut req, &mut answer(503, None)).is_some());
        assert!(policy.retry(&mut req, &mut answer(503, None)).is_none());
    }

    #[tokio::test]
    async fn the_pace_lets_a_burst_go_then_spaces_requests_by_the_rate() {
        let pace = Pace::new(&RequestSettings {
            qps: Some(10.0),
            burst: 3,
            ..RequestSettings::default()
        });
        let waits: Vec<Duration> = (0..5).map(|_| pace.book()).collect();
        assert_eq!(&waits[..3], &[Duration::ZERO; 3]);
        // 100 ms and 200 ms after the first, less the microseconds the calls took.
        let near = |w: Duration, ms: u64| {
            w <= Duration::from_millis(ms) && w > Duration::from_millis(ms - 20)
        };
        assert!(near(waits[3], 100), "{waits:?}");
        assert!(near(waits[4], 200), "{waits:?}");
        // Without `qps`, nothing waits.
        let unpaced = Pace::new(&RequestSettings::default());
        assert!((0..1000).all(|_| unpaced.book().is_zero()));
    }
}
