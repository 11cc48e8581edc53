//! `http_check`: one HTTP request whose status, body and latency must match.

use std::collections::BTreeMap;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckInputs, IntOrExpr, Output, located, out};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::{Duration, OrExpr};
use crate::runbook::node::Node;

pub const NAME: &str = "http_check";
pub const SUMMARY: &str = "Send one HTTP request and check its status, body and latency.";
pub const ON_CLUSTER: bool = false;
pub const CONFIRM: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str =
    "sends GET and HEAD requests and reports the result; POST and PUT are not sent";
pub const OUTPUTS: &[Output] = &[
    out("status", "HTTP status code received"),
    out("latency", "time to the complete response"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HttpCheckInputs")]
pub struct Inputs {
    /// `http://` or `https://` URL.
    pub url: Spanned<String>,
    #[serde(default)]
    pub method: Method,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Expected status code (default 200).
    #[serde(default)]
    pub expect_status: Option<IntOrExpr>,
    /// A substring the response body must contain.
    #[serde(default)]
    pub expect_body: Option<String>,
    /// The longest the response may take.
    #[serde(default)]
    pub max_latency: Option<Spanned<OrExpr<Duration>>>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub enum Method {
    #[default]
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "HEAD")]
    Head,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "PUT")]
    Put,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        let mut problems = Vec::new();
        let url = &self.url.value;
        let resolved_later = url.starts_with("${{");
        if !(resolved_later || url.starts_with("http://") || url.starts_with("https://")) {
            problems.push(DeError::new(format!(
                "invalid `url` `{url}`: it must start with http:// or https://\nwrite the full URL, such as `https://{url}`"
            )));
            if let (Some(last), Some(node)) = (problems.last_mut(), with.get("url")) {
                last.loc = Some(node.loc);
            }
        }
        if let (Some(s), Some(node)) = (&self.expect_status, with.get("expect_status"))
            && let Err(m) = s.check_range(100, 599)
        {
            problems.push(located(
                DeError::new(format!("invalid `expect_status`: {m}"))
                    .hint("HTTP status codes are 100 to 599"),
                node,
            ));
        }
        problems
    }
}

/// The longest a check waits for its response when `max_latency` says nothing.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// At most this much of a response body is read (and searched).
const BODY_LIMIT: usize = 1024 * 1024;

/// Sends the request (with TLS verified against the system's roots) and checks the
/// answer. A dry run sends GET and HEAD only: POST and PUT may change things.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let method = match i.method {
        Method::Get => hyper::Method::GET,
        Method::Head => hyper::Method::HEAD,
        Method::Post => hyper::Method::POST,
        Method::Put => hyper::Method::PUT,
    };
    let mut outputs = Outputs::new();
    // A dry run sends only requests that change nothing (GET and HEAD).
    if ctx.dry_run() && !matches!(i.method, Method::Get | Method::Head) {
        outputs.insert(
            "status".into(),
            OutputValue::Str(format!("not sent in a dry run ({method})")),
        );
        return Ok(outputs);
    }
    let url = &i.url.value;
    let mut request = hyper::Request::builder().method(method).uri(url.as_str());
    for (k, v) in &i.headers {
        request = request.header(k, v);
    }
    let body = Full::new(Bytes::from(i.body.clone().unwrap_or_default()));
    let request = request
        .body(body)
        .map_err(|e| ActionError::Inputs(format!("cannot build a request to {url}: {e}")))?;
    crate::tls::install_crypto_provider();
    let https = HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| ActionError::Failed(format!("cannot load the system's TLS roots: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let limit = super::duration_or(&i.max_latency, "max_latency", DEFAULT_TIMEOUT)?;
    let started = std::time::Instant::now();
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| crate::error::chain(&e))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut text = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Some(data) = frame.data_ref() {
                let room = BODY_LIMIT.saturating_sub(text.len());
                text.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok::<_, String>((status, text))
    };
    // Past `max_latency` the answer is too late whatever it says: stop waiting then.
    let (status, text) =
        tokio::time::timeout(limit + std::time::Duration::from_millis(1), exchange)
            .await
            .map_err(|_| {
                ActionError::Failed(format!("{url} did not answer within {}", Duration(limit)))
            })?
            .map_err(|e| ActionError::Failed(format!("request to {url} failed: {e}")))?;
    let latency = started.elapsed();
    let shown = Duration(std::time::Duration::from_millis(
        u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
    ));
    outputs.insert("status".into(), OutputValue::Str(status.to_string()));
    outputs.insert("latency".into(), OutputValue::Str(shown.to_string()));
    let want = match &i.expect_status {
        Some(s) => s.value("expect_status")?,
        None => 200,
    };
    if i64::from(status) != want {
        return Err(ActionError::Failed(format!(
            "{url} answered {status}, expected {want}"
        )));
    }
    if let Some(needle) = &i.expect_body
        && !String::from_utf8_lossy(&text).contains(needle.as_str())
    {
        return Err(ActionError::Failed(format!(
            "{url} answered {status} but its body does not contain `{needle}`"
        )));
    }
    if i.max_latency.is_some() && latency > limit {
        return Err(ActionError::Failed(format!(
            "{url} answered in {shown}, more than max_latency {}",
            Duration(limit)
        )));
    }
    Ok(outputs)
}
