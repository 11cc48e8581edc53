//! `http_check`: one HTTP request whose status, body and latency must match.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CheckInputs, IntOrExpr, Output, located, out};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::Duration;
use crate::runbook::node::Node;

pub const NAME: &str = "http_check";
pub const SUMMARY: &str = "Send one HTTP request and check its status, body and latency.";
pub const ON_CLUSTER: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "sends the request (checks only read) and reports the result";
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
    pub max_latency: Option<Spanned<Duration>>,
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
