//! A fault-injecting HTTP proxy for the tests: put in front of the S3 server or a
//! sandbox, it forwards every request, except that a seeded share of them meets a
//! fault: an error status (500, 503, 429 with `Retry-After`), a connection reset before
//! the server saw the request, a reset after the server acted (its answer is lost: the
//! idempotency case), a stall past the client's timeout (after which the server acts
//! anyway), or a body cut short. Which request meets which fault depends only on the
//! seed and the order requests arrive in, so a failing run can be replayed.
//!
//! Clients speak plain HTTP to the proxy; the proxy speaks HTTP or HTTPS (trusting the
//! CA a kubeconfig names) to the server, passing every header on, bearer tokens
//! included. `kubeconfig_through` writes a kubeconfig that goes through a proxy.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// What can happen to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answered with this status by the proxy (the server never sees the request).
    Status(u16),
    /// 429 with `Retry-After: 1`.
    TooManyRequests,
    /// The connection closes before the request reaches the server.
    ResetBefore,
    /// The server acts on the request; the connection closes before its answer.
    ResetAfter,
    /// The server acts on the request; its answer's body is cut short.
    Truncated,
    /// Nothing for this long (past the client's timeout, so it gives up); then the
    /// request goes to the server all the same.
    Stall(std::time::Duration),
    /// 200 OK whose body is an S3 error (`InternalError`), as S3 answers a multipart
    /// completion that failed after the answer began. Only completions meet it (no
    /// other S3 call answers so); other requests go through untouched.
    OkWithErrorBody,
}

/// Which faults, how often, from which seed.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    pub seed: u64,
    /// The share of requests that meet a fault, 0.0 to 1.0.
    pub rate: f64,
    /// The faults drawn from, evenly.
    pub faults: Vec<Fault>,
    /// Answer 200 where the server refused a write's condition (412 Precondition
    /// Failed): what a client of a store that ignores `If-None-Match` and `If-Match`
    /// is told. (The headers cannot be dropped instead: requests are signed.)
    pub ignore_conditions: bool,
    /// At most this many faults in all (then every request goes through).
    pub max_faults: Option<u64>,
    /// Only requests whose `METHOD path` contains this meet faults (`None`: any), to
    /// fail one request of a run on purpose.
    pub only: Option<String>,
}

impl FaultPlan {
    /// Every fault kind at `rate`.
    pub fn every_kind(seed: u64, rate: f64) -> FaultPlan {
        FaultPlan {
            seed,
            rate,
            faults: vec![
                Fault::Status(500),
                Fault::Status(503),
                Fault::TooManyRequests,
                Fault::ResetBefore,
                Fault::ResetAfter,
                Fault::Truncated,
                Fault::OkWithErrorBody,
            ],
            ignore_conditions: false,
            max_faults: None,
            only: None,
        }
    }

    /// No faults: every request goes through as it is (unless `ignore_conditions`).
    pub fn none() -> FaultPlan {
        FaultPlan {
            seed: 0,
            rate: 0.0,
            faults: Vec::new(),
            ignore_conditions: false,
            max_faults: None,
            only: None,
        }
    }

    /// The fault of the `n`th request (from 0), if it meets one: a splitmix64 draw of
    /// the seed and `n`, so the plan is a pure function of both.
    pub fn fault_of(&self, n: u64) -> Option<Fault> {
        let mut z = self.seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        let hit = (next() >> 11) as f64 / (1u64 << 53) as f64;
        if self.faults.is_empty() || hit >= self.rate {
            return None;
        }
        let pick = (next() % self.faults.len() as u64) as usize;
        Some(self.faults[pick])
    }
}

type ProxyBody = BoxBody<Bytes, std::io::Error>;
/// One request the proxy saw: its number, `METHOD path`, and the fault it met.
pub type Seen = (u64, String, Option<Fault>);
type Upstream = Client<HttpsConnector<HttpConnector>, Incoming>;

/// A client for the server: HTTP, or HTTPS trusting `ca` (when given).
fn client_trusting(ca: Option<&Path>) -> Upstream {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("cannot read {}: {e}", ca.display()));
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.unwrap_or_else(|e| panic!("{} is not PEM: {e:?}", ca.display()));
            roots
                .add(cert)
                .unwrap_or_else(|e| panic!("{} holds a bad certificate: {e}", ca.display()));
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|e| panic!("{e}"))
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

/// A running proxy; stopped on drop.
pub struct FaultProxy {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _runtime: Option<tokio::runtime::Runtime>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port to `upstream` (`http://host:port`), on a
    /// runtime of its own (tests that are not async can use it).
    pub fn start(upstream: &str, plan: FaultPlan) -> FaultProxy {
        FaultProxy::start_trusting(upstream, None, plan)
    }

    /// Starts a proxy to `upstream` (`https://...` too), trusting the CA certificate
    /// in PEM file `ca` for it.
    pub fn start_trusting(upstream: &str, ca: Option<&Path>, plan: FaultPlan) -> FaultProxy {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the proxy's runtime: {e}"));
        let client = client_trusting(ca);
        let mut proxy = runtime.block_on(FaultProxy::serve(upstream, client, plan));
        proxy._runtime = Some(runtime);
        proxy
    }

    async fn serve(upstream: &str, client: Upstream, plan: FaultPlan) -> FaultProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("the proxy cannot listen: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("the proxy has no address: {e}"));
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            plan,
            count: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            client,
            seen: Arc::new(Mutex::new(Vec::new())),
        });
        let seen = shared.seen.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = &mut stopped => return,
                };
                let Ok((stream, _)) = accepted else { continue };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { shared.handle(req).await }
                    });
                    // A fault that closes the connection ends it with an error: expected.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            address,
            seen,
            stop: Some(stop),
            _runtime: None,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request so far: its number, `METHOD path`, and the fault it met.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// How many requests met a fault.
    pub fn faults(&self) -> usize {
        self.seen().iter().filter(|(_, _, f)| f.is_some()).count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self._runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Shared {
    upstream: String,
    plan: FaultPlan,
    count: AtomicU64,
    /// Faults injected so far (for `max_faults`).
    injected: AtomicU64,
    client: Upstream,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Why the proxy closed a connection on purpose.
#[derive(Debug)]
struct Cut(&'static str);

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Cut {}

impl Shared {
    async fn handle(&self, req: Request<Incoming>) -> Result<Response<ProxyBody>, Cut> {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        let line = format!("{} {}", req.method(), req.uri());
        let targeted = self.plan.only.as_ref().is_none_or(|o| line.contains(o));
        let fault = match self.plan.fault_of(n).filter(|_| targeted) {
            Some(Fault::OkWithErrorBody) if !completes_an_upload(&req) => None,
            Some(_)
                if self
                    .plan
                    .max_faults
                    .is_some_and(|max| self.injected.fetch_add(1, Ordering::SeqCst) >= max) =>
            {
                None
            }
            other => other,
        };
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((n, line, fault));
        }
        match fault {
            Some(Fault::Status(code)) => Ok(status(code, None)),
            Some(Fault::OkWithErrorBody) => Ok(Response::new(
                Full::new(Bytes::from_static(
                    b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>",
                ))
                .map_err(|never: Infallible| match never {})
                .boxed(),
            )),
            Some(Fault::TooManyRequests) => Ok(status(429, Some("1"))),
            Some(Fault::ResetBefore) => Err(Cut("reset before the server saw the request")),
            Some(Fault::ResetAfter) => {
                // The server acts and answers in full; the answer never arrives.
                if let Ok(response) = self.forward(req).await {
                    let _ = response.into_body().collect().await;
                }
                Err(Cut("reset after the server acted"))
            }
            Some(Fault::Stall(pause)) => {
                tokio::time::sleep(pause).await;
                let response = self.forward(req).await?;
                let (parts, body) = response.into_parts();
                Ok(Response::from_parts(
                    parts,
                    body.map_err(std::io::Error::other).boxed(),
                ))
            }
            Some(Fault::Truncated) => {
                let response = self.forward(req).await?;
                let (parts, body) = response.into_parts();
                let bytes = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let half = bytes.slice(..bytes.len() / 2);
                let frames = futures_util::stream::iter([
                    Ok(Frame::data(half)),
                    Err(std::io::Error::other("the body was cut short")),
                ]);
                Ok(Response::from_parts(
                    parts,
                    BoxBody::new(StreamBody::new(frames)),
                ))
            }
            None if self.plan.ignore_conditions => {
                let response = self.forward(req).await?;
                if response.status() == StatusCode::PRECONDITION_FAILED {
                    return Ok(status(200, None));
                }
                let (parts, body) = response.into_parts();
                Ok(Response::from_parts(
                    parts,
                    body.map_err(std::io::Error::other).boxed(),
                ))
            }
            None => {
                let response = self.forward(req).await?;
                let (parts, body) = response.into_parts();
                Ok(Response::from_parts(
                    parts,
                    body.map_err(std::io::Error::other).boxed(),
                ))
            }
        }
    }

    async fn forward(&self, req: Request<Incoming>) -> Result<Response<Incoming>, Cut> {
        let (mut parts, body) = req.into_parts();

        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        parts.uri = format!("{}{path}", self.upstream)
            .parse()
            .map_err(|_| Cut("a request the proxy cannot forward"))?;
        self.client
            .request(Request::from_parts(parts, body))
            .await
            .map_err(|_| Cut("the server did not answer the proxy"))
    }
}

/// Whether `req` completes an S3 multipart upload (`POST key?uploadId=...`).
fn completes_an_upload(req: &Request<Incoming>) -> bool {
    req.method() == hyper::Method::POST
        && req
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|p| p.starts_with("uploadId=")))
}

/// Writes at `out` the kubeconfig `original` (one the test bed wrote: a sandbox's or a
/// control plane's) going through a proxy started here to its server: the proxy
/// trusts the server's CA, the client speaks plain HTTP to the proxy with the same
/// credentials.
pub fn kubeconfig_through(original: &Path, out: &Path, plan: FaultPlan) -> FaultProxy {
    let text = std::fs::read_to_string(original)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", original.display()));
    let value_of = |key: &str| {
        text.split(key).nth(1).map(|rest| {
            rest.trim_start()
                .split([',', '}', '\n'])
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_string()
        })
    };
    let server =
        value_of("server:").unwrap_or_else(|| panic!("{} names no server", original.display()));
    let ca = value_of("certificate-authority:").map(std::path::PathBuf::from);
    let proxy = FaultProxy::start_trusting(&server, ca.as_deref(), plan);
    let rewritten: Vec<String> = text
        .lines()
        .map(|line| {
            let indent = &line[..line.len() - line.trim_start().len()];
            if line.contains("server:") && line.contains("cluster: {") {
                format!("{indent}cluster: {{ server: \"{}\" }}", proxy.url())
            } else if line.trim_start().starts_with("server:") {
                format!("{indent}server: {}", proxy.url())
            } else {
                line.to_string()
            }
        })
        .collect();
    std::fs::write(out, rewritten.join("\n") + "\n")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
    proxy
}

/// An error answer of the proxy's own.
fn status(code: u16, retry_after: Option<&str>) -> Response<ProxyBody> {
    let mut response = Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    if let Some(after) = retry_after {
        response = response.header("Retry-After", after);
    }
    response
        .body(
            Full::new(Bytes::from_static(b"injected fault"))
                .map_err(|never: Infallible| match never {})
                .boxed(),
        )
        .unwrap_or_else(|_| Response::new(BoxBody::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_a_pure_function_of_its_seed_and_rate() {
        let plan = FaultPlan::every_kind(7, 0.3);
        let draws: Vec<Option<Fault>> = (0..1000).map(|n| plan.fault_of(n)).collect();
        assert_eq!(
            draws,
            (0..1000).map(|n| plan.fault_of(n)).collect::<Vec<_>>()
        );
        let hits = draws.iter().filter(|d| d.is_some()).count();
        assert!((240..360).contains(&hits), "{hits} of 1000 at 30%");
        for kind in &plan.faults {
            assert!(draws.contains(&Some(*kind)), "{kind:?} never drawn");
        }
        assert!((0..1000).all(|n| FaultPlan::every_kind(7, 0.0).fault_of(n).is_none()));
    }
}
