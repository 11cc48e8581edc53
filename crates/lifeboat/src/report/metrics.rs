//! `run --metrics-file FILE` and `run --pushgateway URL`: the run as Prometheus text
//! exposition format (version 0.0.4), so teams can alert on "no successful drill in 7
//! days". The same text goes to the file (a node_exporter textfile collector reads it)
//! and to a Pushgateway (POST to `URL/metrics/job/lifeboat/runbook/NAME`).
//!
//! A dry run is not a drill: it never has `lifeboat_run_last_success_timestamp_seconds`,
//! its series carry `dry_run="true"`, and it is pushed to a group of its own
//! (`.../runbook/NAME/dry_run/true`), so it never replaces a real drill's metrics.
//! docs/report.md lists every metric.

use std::fmt::Write as _;

use super::record::ObjectiveRecord;
use super::{RunRecord, StepRecord, StepState};
use crate::error::Error;
use crate::events::RunState;

/// The longest a push may take, connection included.
pub const PUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Every step state, with the `state` label value of `lifeboat_run_steps`.
const STATES: [(StepState, &str); 8] = [
    (StepState::Succeeded, "succeeded"),
    (StepState::Failed, "failed"),
    (StepState::Skipped, "skipped"),
    (StepState::Resumed, "resumed"),
    (StepState::Undone, "undone"),
    (StepState::UndoFailed, "undo_failed"),
    (StepState::Unfinished, "unfinished"),
    (StepState::NotRun, "not_run"),
];

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
pub fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Seconds from milliseconds, exact to the millisecond (`1.234`).
fn secs(ms: u64) -> String {
    super::seconds(ms)
}

/// Whether the run succeeded as its exit code says it did: every step succeeded and
/// no measured objective was missed.
pub fn succeeded(record: &RunRecord) -> bool {
    record.state == Some(RunState::Succeeded) && record.missed_objectives() == 0
}

/// The text of a metric family: its HELP and TYPE lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
    /// `runbook="..."` (and `,dry_run="true"`): the labels every sample has.
    base: &'a str,
}

impl Family<'_> {
    fn head(&mut self, name: &str, help: &str) {
        // HELP text escapes `\` and line feeds; ours are fixed strings.
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} gauge");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        let mut all = self.base.to_string();
        for (k, v) in labels {
            let _ = write!(all, ",{k}=\"{}\"", escape_label(v));
        }
        let _ = writeln!(self.out, "{name}{{{all}}} {value}");
    }
}

/// The record as Prometheus text exposition format.
pub fn render(record: &RunRecord) -> String {
    let mut out = String::new();
    let mut base = format!("runbook=\"{}\"", escape_label(&record.runbook));
    if record.dry_run {
        base.push_str(",dry_run=\"true\"");
    }
    let mut f = Family {
        out: &mut out,
        base: &base,
    };
    let ok = succeeded(record);
    let flag = |b: bool| if b { "1" } else { "0" };

    f.head(
        "lifeboat_run_last_timestamp_seconds",
        "When the last run of the runbook started, seconds since the Unix epoch.",
    );
    let started = record.started_unix.to_string();
    f.sample("lifeboat_run_last_timestamp_seconds", &[], &started);
    f.head(
        "lifeboat_run_success",
        "1 when the last run succeeded (every step, every measured objective), else 0.",
    );
    f.sample("lifeboat_run_success", &[], flag(ok));
    if ok && !record.dry_run {
        f.head(
            "lifeboat_run_last_success_timestamp_seconds",
            "When the last successful run (not a dry run) started, seconds since the Unix epoch.",
        );
        f.sample("lifeboat_run_last_success_timestamp_seconds", &[], &started);
    }
    f.head(
        "lifeboat_run_duration_seconds",
        "Wall time of the last run, in seconds.",
    );
    f.sample(
        "lifeboat_run_duration_seconds",
        &[],
        &secs(record.duration_ms),
    );
    f.head(
        "lifeboat_run_steps",
        "Steps of the last run, by the state they ended in.",
    );
    for (state, label) in STATES {
        let n = record.steps.iter().filter(|s| s.state == state).count();
        f.sample("lifeboat_run_steps", &[("state", label)], &n.to_string());
    }

    if !record.objectives.is_empty() {
        f.head(
            "lifeboat_objective_target_seconds",
            "Target of an objective of the runbook (rto, rpo), in seconds.",
        );
        for o in &record.objectives {
            f.sample(
                "lifeboat_objective_target_seconds",
                &[("objective", &o.name)],
                &secs(o.target_ms),
            );
        }
    }
    let measured: Vec<&ObjectiveRecord> = record
        .objectives
        .iter()
        .filter(|o| o.measured_ms.is_some())
        .collect();
    if !measured.is_empty() {
        f.head(
            "lifeboat_objective_measured_seconds",
            "What the last run measured for an objective (RTO: its wall time; RPO: the age of the backup restored), in seconds.",
        );
        for o in &measured {
            let ms = o.measured_ms.unwrap_or_default();
            f.sample(
                "lifeboat_objective_measured_seconds",
                &[("objective", &o.name)],
                &secs(ms),
            );
        }
        f.head(
            "lifeboat_objective_met",
            "1 when the last run met the objective, 0 when it missed it.",
        );
        for o in &measured {
            let met = o.met.unwrap_or_else(|| o.measured_ms <= Some(o.target_ms));
            f.sample(
                "lifeboat_objective_met",
                &[("objective", &o.name)],
                flag(met),
            );
        }
    }

    let ran: Vec<&StepRecord> = record.steps.iter().filter(|s| step_ran(s)).collect();
    if !ran.is_empty() {
        f.head(
            "lifeboat_step_duration_seconds",
            "How long a step of the last run took (retries included), in seconds.",
        );
        for s in &ran {
            f.sample(
                "lifeboat_step_duration_seconds",
                &[("step", &s.id)],
                &secs(step_ms(s)),
            );
        }
        f.head(
            "lifeboat_step_success",
            "1 when the step's own action succeeded in the last run, else 0.",
        );
        for s in &ran {
            let ok = matches!(
                s.state,
                StepState::Succeeded
                    | StepState::Resumed
                    | StepState::Undone
                    | StepState::UndoFailed
            );
            f.sample("lifeboat_step_success", &[("step", &s.id)], flag(ok));
        }
    }
    out
}

/// Whether the step has a duration and a result to show: it ran (or ran before a
/// resume). Skipped steps and steps never reached have neither.
fn step_ran(s: &StepRecord) -> bool {
    !matches!(s.state, StepState::Skipped | StepState::NotRun)
}

/// How long a step took: the engine's figure, else its span in the record.
fn step_ms(s: &StepRecord) -> u64 {
    s.duration_ms
        .unwrap_or_else(|| match (s.start_ms, s.end_ms) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        })
}

/// A Pushgateway to push the metrics to, its URL checked before the run starts.
#[derive(Clone, Debug)]
pub struct Pushgateway {
    /// The URL as given, without a trailing `/`.
    pub url: String,
}

impl Pushgateway {
    /// Checks `--pushgateway URL`: an `http://` or `https://` URL with a host, no user
    /// or password (they would be printed in messages), no query or fragment.
    pub fn check(url: &str) -> Result<Pushgateway, Error> {
        let refuse = |problem: String| Error::Push {
            url: url.to_string(),
            problem: format!("{problem} (nothing ran: the URL is checked before the run starts)"),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(refuse(
                "it must start with http:// or https://, such as http://pushgateway:9091".into(),
            ));
        }
        if url.contains('#') {
            return Err(refuse("it must not have a #fragment".into()));
        }
        let uri: http::Uri = url
            .parse()
            .map_err(|e| refuse(format!("it is not a valid URL: {e}")))?;
        let Some(authority) = uri.authority() else {
            return Err(refuse("it has no host".into()));
        };
        if authority.as_str().contains('@') {
            return Err(refuse(
                "it must not hold a user or password (lifeboat prints the URL in its messages)"
                    .into(),
            ));
        }
        if authority.host().is_empty() {
            return Err(refuse("it has no host".into()));
        }
        let after_host = authority
            .as_str()
            .get(authority.host().len()..)
            .unwrap_or_default();
        if !after_host.is_empty() && !matches!(authority.port_u16(), Some(p) if p > 0) {
            return Err(refuse(format!(
                "`{}` is not a port (1 to 65535)",
                after_host.trim_start_matches(':')
            )));
        }
        if uri.query().is_some() {
            return Err(refuse(
                "it must not have a ?query: lifeboat adds /metrics/job/lifeboat/runbook/NAME to it"
                    .into(),
            ));
        }
        Ok(Pushgateway {
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// Where the metrics of `record` go: the group `job="lifeboat"`, `runbook=NAME`
    /// (and `dry_run="true"` for a dry run).
    pub fn target(&self, record: &RunRecord) -> String {
        let mut url = format!(
            "{}/metrics/job/lifeboat/runbook/{}",
            self.url,
            path_segment(&record.runbook)
        );
        if record.dry_run {
            url.push_str("/dry_run/true");
        }
        url
    }

    /// POSTs the metrics of `record` (POST replaces the metrics of the same names in
    /// the group and keeps the others, so the last success timestamp of an earlier run
    /// survives a failed one; PUT would replace the whole group). At most
    /// `PUSH_TIMEOUT`; any 2xx answer is success.
    pub async fn push(&self, record: &RunRecord) -> Result<(), Error> {
        use http_body_util::{BodyExt, Full};
        use hyper::body::Bytes;

        let target = self.target(record);
        let fail = |problem: String| Error::Push {
            url: target.clone(),
            problem,
        };
        let request = hyper::Request::post(target.as_str())
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(Full::new(Bytes::from(render(record))))
            .map_err(|e| fail(format!("cannot build the request: {e}")))?;
        crate::tls::install_crypto_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| fail(format!("cannot load the system's TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(https);
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| crate::error::chain(&e))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((status, body))
        };
        let (status, body) = tokio::time::timeout(PUSH_TIMEOUT, exchange)
            .await
            .map_err(|_| fail(format!("no answer within {}s", PUSH_TIMEOUT.as_secs())))?
            .map_err(fail)?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            let text = super::clip(text.trim(), 300);
            return Err(fail(if text.is_empty() {
                format!("the server answered {status}")
            } else {
                format!("the server answered {status}: {text}")
            }));
        }
        Ok(())
    }
}

/// A label value as one segment of a Pushgateway URL path: percent-encoded (runbook
/// names are DNS labels, so this changes nothing in practice). An empty value uses
/// the Pushgateway's base64 form.
fn path_segment(value: &str) -> String {
    if value.is_empty() {
        return "=".into();
    }
    /// Everything but RFC 3986's unreserved characters.
    const RESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_escape_backslashes_quotes_and_line_feeds() {
        assert_eq!(escape_label("plain-name"), "plain-name");
        assert_eq!(escape_label(r#"a\b"#), r#"a\\b"#);
        assert_eq!(escape_label(r#"say "hi""#), r#"say \"hi\""#);
        assert_eq!(escape_label("two\nlines"), "two\\nlines");
        assert_eq!(escape_label("\\\"\n"), "\\\\\\\"\\n");
        assert_eq!(escape_label("tab\tand ünï ✓"), "tab\tand ünï ✓");
    }

    fn step(id: &str, state: StepState, duration_ms: Option<u64>) -> StepRecord {
        StepRecord {
            warnings: Vec::new(),
            id: id.into(),
            title: None,
            action: "sleep".into(),
            cluster: None,
            state,
            attempts: Vec::new(),
            start_ms: Some(0),
            end_ms: duration_ms,
            duration_ms,
            outputs: Default::default(),
            error: None,
            reason: None,
            undo: None,
            objects: Default::default(),
            object_failures: Vec::new(),
            drift_count: 0,
            drift: Vec::new(),
        }
    }

    fn record(state: RunState, dry_run: bool) -> RunRecord {
        RunRecord {
            runbook: "we\"ird\\name\n".into(),
            description: None,
            run_id: "r1".into(),
            dry_run,
            host: "h".into(),
            started_unix: 1_800_000_000,
            started: "2027-01-15T08:00:00Z".into(),
            duration_ms: 1_234,
            state: Some(state),
            steps: vec![
                step("a", StepState::Succeeded, Some(1_000)),
                step("b", StepState::Failed, Some(5)),
                step("c", StepState::Skipped, None),
            ],
            rollback: None,
            objectives: vec![
                ObjectiveRecord {
                    name: "rto".into(),
                    target_ms: 3_600_000,
                    measured_ms: Some(1_234),
                    met: Some(true),
                },
                ObjectiveRecord {
                    name: "rpo".into(),
                    target_ms: 60_000,
                    measured_ms: None,
                    met: None,
                },
            ],
            interruption: None,
        }
    }

    #[test]
    fn the_text_has_every_family_once_and_the_success_timestamp_only_after_a_real_success() {
        let text = render(&record(RunState::Succeeded, false));
        let base = r#"runbook="we\"ird\\name\n""#;
        for line in [
            format!("lifeboat_run_success{{{base}}} 1"),
            format!("lifeboat_run_last_timestamp_seconds{{{base}}} 1800000000"),
            format!("lifeboat_run_last_success_timestamp_seconds{{{base}}} 1800000000"),
            format!("lifeboat_run_duration_seconds{{{base}}} 1.234"),
            format!("lifeboat_run_steps{{{base},state=\"skipped\"}} 1"),
            format!("lifeboat_run_steps{{{base},state=\"not_run\"}} 0"),
            format!("lifeboat_objective_target_seconds{{{base},objective=\"rpo\"}} 60.000"),
            format!("lifeboat_objective_measured_seconds{{{base},objective=\"rto\"}} 1.234"),
            format!("lifeboat_objective_met{{{base},objective=\"rto\"}} 1"),
            format!("lifeboat_step_duration_seconds{{{base},step=\"a\"}} 1.000"),
            format!("lifeboat_step_success{{{base},step=\"b\"}} 0"),
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert!(
            !text.contains("objective=\"rpo\"} 0"),
            "RPO was not measured: {text}"
        );
        assert!(
            !text.contains("step=\"c\""),
            "a skipped step has no duration: {text}"
        );
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!((types, helps), (10, 10), "{text}");

        let failed = render(&record(RunState::Failed, false));
        assert!(failed.contains("lifeboat_run_success{"), "{failed}");
        assert!(failed.contains("} 0\n"), "{failed}");
        assert!(!failed.contains("last_success"), "{failed}");
        let dry = render(&record(RunState::Succeeded, true));
        assert!(!dry.contains("last_success"), "{dry}");
        assert!(dry.contains(r#"\n",dry_run="true"} 1"#), "{dry}");
        let gw = Pushgateway::check("http://gw:9091/").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            gw.target(&record(RunState::Succeeded, true)),
            "http://gw:9091/metrics/job/lifeboat/runbook/we%22ird%5Cname%0A/dry_run/true"
        );
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("shop-failover"), "shop-failover");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("é"), "%C3%A9");
        assert_eq!(path_segment(""), "=");
    }

    #[test]
    fn pushgateway_urls_are_checked() {
        assert!(Pushgateway::check("http://pushgateway:9091").is_ok());
        assert!(Pushgateway::check("http://[::1]:9091/x").is_ok());
        assert!(Pushgateway::check("https://gw.example").is_ok());
        assert_eq!(
            Pushgateway::check("https://gw.example/prefix/")
                .map(|g| g.url)
                .unwrap_or_default(),
            "https://gw.example/prefix"
        );
        for bad in [
            "pushgateway:9091",
            "ftp://gw",
            "http://",
            "http://user:pw@gw:9091",
            "http://gw:9091/?x=1",
            "http://gw:9091/#x",
            "http://gw:notaport",
            "http://g w",
            "http://gw:0",
            "http://gw:",
        ] {
            assert!(Pushgateway::check(bad).is_err(), "{bad} was accepted");
        }
    }
}
