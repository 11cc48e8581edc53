//! `run --metrics-file` and `run --pushgateway` through the real binary. The metrics
//! file is read by a strict parser of the Prometheus text exposition format written in
//! python3 below (`prometheus_client` is not on the machine image): every line is a
//! HELP, a TYPE or a sample; every sample's family was typed before it, families are
//! contiguous, label values are unescaped per the format, no series appears twice.
//! The Pushgateway is a tiny HTTP server in the test that records what it receives.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::Test;
use crate::recording_server::{self, Received};
use crate::report::touching_runbook;

const PARSER: &str = r##"
import json, math, re, sys
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
text = open(sys.argv[1], encoding="utf-8").read()
problems, samples, typed, seen, done, current = [], [], {}, set(), set(), None
if not text.endswith("\n"):
    problems.append("the text does not end with a line feed")
def value_of(v):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v):
        raise ValueError("bad value " + repr(v))
    return float(v)
def labels_of(s):
    out, i = {}, 0
    while i < len(s):
        m = re.compile(LABEL + r'="').match(s, i)
        if not m:
            raise ValueError("bad label at " + repr(s[i:]))
        name, i, val = m.group(0)[:-2], m.end(), []
        while True:
            if i >= len(s):
                raise ValueError("unterminated label value")
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ('\\', '"', 'n'):
                    raise ValueError("bad escape \\" + nxt)
                val.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("raw line feed in a label value")
            else:
                val.append(c)
                i += 1
        if name in out:
            raise ValueError("label twice: " + name)
        out[name] = "".join(val)
        if i < len(s):
            if s[i] != ",":
                raise ValueError("expected , at " + repr(s[i:]))
            i += 1
    return out
for n, line in enumerate(text.split("\n")[:-1], 1):
    try:
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.fullmatch(NAME, parts[2]):
                raise ValueError("bad comment line")
            if parts[1] == "TYPE":
                if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise ValueError("bad type")
                if parts[2] in typed:
                    raise ValueError("typed twice")
                typed[parts[2]] = parts[3]
            if parts[2] != current:
                if parts[2] in done:
                    raise ValueError("family not contiguous")
                if current:
                    done.add(current)
                current = parts[2]
            continue
        if line.startswith("#") or not line.strip():
            raise ValueError("unexpected line")
        m = re.fullmatch("(" + NAME + r")(\{(.*)\})? (\S+)( -?\d+)?", line)
        if not m:
            raise ValueError("not a sample")
        name = m.group(1)
        if m.group(5):
            raise ValueError("samples must not carry timestamps (a Pushgateway refuses them)")
        if name not in typed or name != current:
            raise ValueError("sample before its TYPE or outside its family")
        labels = labels_of(m.group(3) or "")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ValueError("series twice")
        seen.add(key)
        samples.append({"name": name, "labels": labels, "value": value_of(m.group(4))})
    except ValueError as e:
        problems.append("line %d: %s: %r" % (n, e, line))
print(json.dumps({"problems": problems, "samples": samples, "types": typed}))
"##;

/// The samples python3 read, as `name{label=value,...}` (labels sorted) -> value.
fn parse(file: &Path) -> BTreeMap<String, f64> {
    let out = std::process::Command::new("python3")
        .args(["-c", PARSER])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("python3 is required (it is on the machine image): {e}"));
    let text = std::fs::read_to_string(file).unwrap_or_default();
    assert!(
        out.status.success(),
        "python3 failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("python3 printed no JSON: {e}"));
    assert_eq!(read["problems"], serde_json::json!([]), "{text}");
    for (name, kind) in read["types"].as_object().into_iter().flatten() {
        assert_eq!(kind, "gauge", "{name}");
    }
    let mut samples = BTreeMap::new();
    for s in read["samples"].as_array().into_iter().flatten() {
        let mut labels: Vec<String> = s["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect();
        labels.sort();
        let key = format!(
            "{}{{{}}}",
            s["name"].as_str().unwrap_or_default(),
            labels.join(",")
        );
        samples.insert(key, s["value"].as_f64().unwrap_or(f64::NAN));
    }
    samples
}

fn get(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples
        .get(key)
        .unwrap_or_else(|| panic!("no sample {key}: {samples:#?}"))
}

/// A drill with an RTO: a 30ms sleep, a short sleep, and a step whose `if:` is false.
fn drill(dir: &Path) -> PathBuf {
    let rb = dir.join("nightly.yaml");
    std::fs::write(
        &rb,
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: nightly }\n\
         objectives: { rto: 1h }\nstate: { path: state }\nsteps:\n\
         \x20 - { id: slow, uses: sleep, with: { duration: 30ms } }\n\
         \x20 - { id: quick, uses: sleep, with: { duration: 1ms } }\n\
         \x20 - { id: never, uses: sleep, if: \"${{ run.dry_run }}\", with: { duration: 1ms } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    rb
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

const RB: &str = "runbook=nightly";

#[test]
fn a_drill_writes_metrics_that_parse_with_its_result_objectives_and_steps() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = drill(dir.path());
    let prom = dir.path().join("lifeboat.prom");
    let before = now();
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--output", "json", "--metrics-file"])
        .arg(&prom)
        .current_dir(dir.path())
        .run();
    let after = now();
    let rto_ms = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "objective_checked")
        .and_then(|e| e["measured_ms"].as_u64())
        .unwrap_or_else(|| panic!("no RTO measured: {}", out.stdout));
    let m = parse(&prom);
    assert_eq!(get(&m, &format!("lifeboat_run_success{{{RB}}}")), 1.0);
    let started = get(&m, &format!("lifeboat_run_last_timestamp_seconds{{{RB}}}"));
    assert!(
        started >= before.floor() - 1.0 && started <= after,
        "{before} <= {started} <= {after}"
    );
    assert_eq!(
        get(
            &m,
            &format!("lifeboat_run_last_success_timestamp_seconds{{{RB}}}")
        ),
        started
    );
    let duration = get(&m, &format!("lifeboat_run_duration_seconds{{{RB}}}"));
    assert!(
        duration >= 0.03 && duration < after - before + 1.0,
        "{duration}"
    );
    for (state, n) in [
        ("succeeded", 2.0),
        ("skipped", 1.0),
        ("failed", 0.0),
        ("not_run", 0.0),
    ] {
        assert_eq!(
            get(&m, &format!("lifeboat_run_steps{{{RB},state={state}}}")),
            n,
            "{state}"
        );
    }
    let rto = |metric: &str| get(&m, &format!("{metric}{{objective=rto,{RB}}}"));
    assert_eq!(rto("lifeboat_objective_target_seconds"), 3600.0);
    assert_eq!(
        rto("lifeboat_objective_measured_seconds"),
        rto_ms as f64 / 1000.0,
        "the metric is the RTO the run measured"
    );
    assert_eq!(rto("lifeboat_objective_met"), 1.0);
    let step = |metric: &str, id: &str| get(&m, &format!("{metric}{{{RB},step={id}}}"));
    assert!(step("lifeboat_step_duration_seconds", "slow") >= 0.03);
    assert!(step("lifeboat_step_duration_seconds", "quick") < 1.0);
    assert_eq!(step("lifeboat_step_success", "slow"), 1.0);
    assert_eq!(step("lifeboat_step_success", "quick"), 1.0);
    assert!(
        !m.keys().any(|k| k.contains("step=never")),
        "a skipped step has no duration or result: {m:#?}"
    );
    assert!(!m.keys().any(|k| k.contains("dry_run")), "{m:#?}");
}

#[test]
fn a_failed_run_has_success_0_and_no_success_timestamp_and_a_dry_run_is_marked() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = drill(dir.path());
    let prom = dir.path().join("lifeboat.prom");
    Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--inject-failure", "quick", "--metrics-file"])
        .arg(&prom)
        .current_dir(dir.path())
        .status(1)
        .stdout_contains("wrote the metrics file to")
        .run();
    let m = parse(&prom);
    assert_eq!(get(&m, &format!("lifeboat_run_success{{{RB}}}")), 0.0);
    assert!(
        !m.keys().any(|k| k.contains("last_success")),
        "a failed run has no success timestamp: {m:#?}"
    );
    assert!(m.contains_key(&format!("lifeboat_run_last_timestamp_seconds{{{RB}}}")));
    assert_eq!(
        get(&m, &format!("lifeboat_step_success{{{RB},step=quick}}")),
        0.0
    );
    assert_eq!(
        get(&m, &format!("lifeboat_step_success{{{RB},step=slow}}")),
        1.0
    );
    assert_eq!(
        get(&m, &format!("lifeboat_run_steps{{{RB},state=failed}}")),
        1.0
    );

    // A dry run that succeeds is no drill: marked, and without a success timestamp.
    Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--dry-run", "--metrics-file"])
        .arg(&prom)
        .current_dir(dir.path())
        .run();
    let m = parse(&prom);
    assert_eq!(
        get(&m, &format!("lifeboat_run_success{{dry_run=true,{RB}}}")),
        1.0
    );
    assert!(!m.keys().any(|k| k.contains("last_success")), "{m:#?}");
    assert!(m.keys().all(|k| k.contains("dry_run=true")), "{m:#?}");
}

/// A Pushgateway answering its requests with `answers` (status line, body), in order.
fn pushgateway(answers: Vec<(&'static str, &'static str)>) -> (String, mpsc::Receiver<Received>) {
    recording_server::start(move |n| answers.get(n).copied())
}

fn received(rx: &mpsc::Receiver<Received>) -> Received {
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the pushgateway received nothing: {e}"))
}

#[test]
fn pushgateway_gets_a_post_of_the_same_text_to_the_runbooks_group() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = drill(dir.path());
    let prom = dir.path().join("lifeboat.prom");
    let (url, rx) = pushgateway(vec![
        ("200 OK", ""),
        ("202 Accepted", ""),
        (
            "400 Bad Request",
            "pushed metrics are invalid or inconsistent",
        ),
    ]);
    let gateway = format!("{url}/gw/");
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .arg("--metrics-file")
        .arg(&prom)
        .args(["--pushgateway", &gateway])
        .current_dir(dir.path())
        .run();
    let got = received(&rx);
    assert_eq!(
        got.request_line,
        "POST /gw/metrics/job/lifeboat/runbook/nightly HTTP/1.1"
    );
    assert!(
        got.header("content-type")
            .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")),
        "{:?}",
        got.headers
    );
    let file = std::fs::read_to_string(&prom).unwrap_or_else(|e| panic!("{e}"));
    let body = got.text();
    assert_eq!(body, file, "the push sends what the file holds");
    assert!(body.contains("lifeboat_run_last_success_timestamp_seconds{"));
    assert!(
        out.stdout.contains(&format!(
            "pushed the metrics to {url}/gw/metrics/job/lifeboat/runbook/nightly"
        )),
        "{}",
        out.stdout
    );

    // A dry run goes to a group of its own: it never replaces a drill's metrics.
    Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--dry-run", "--pushgateway", &url])
        .current_dir(dir.path())
        .run();
    let got = received(&rx);
    assert_eq!(
        got.request_line,
        "POST /metrics/job/lifeboat/runbook/nightly/dry_run/true HTTP/1.1"
    );
    let body = got.text();
    assert!(body.contains("dry_run=\"true\""), "{body}");
    assert!(!body.contains("last_success"), "{body}");

    // A Pushgateway that refuses the push: exit 2 after a successful run, with its answer.
    Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--pushgateway", &url])
        .current_dir(dir.path())
        .status(2)
        .stderr_contains("answered 400 Bad Request: pushed metrics are invalid")
        .stderr_contains("the run itself succeeded")
        .run();
    let _ = received(&rx);
}

#[test]
fn an_unreachable_pushgateway_exits_2_after_a_success_and_keeps_a_failures_code() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = drill(dir.path());
    let url = format!("http://127.0.0.1:{}", recording_server::closed_port());
    let prom = dir.path().join("kept.prom");
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--pushgateway", &url, "--metrics-file"])
        .arg(&prom)
        .current_dir(dir.path())
        .status(2)
        .stderr_contains(&format!(
            "cannot push the metrics to {url}/metrics/job/lifeboat/runbook/nightly: "
        ))
        .stderr_contains("the run itself succeeded; lifeboat exits 2 because the metrics push it was asked for failed")
        .stderr_contains("lifeboat status")
        .run();
    assert!(out.stdout.contains("succeeded in"), "{}", out.stdout);
    assert!(
        out.stderr.to_lowercase().contains("connect"),
        "the cause is named: {}",
        out.stderr
    );
    assert!(prom.exists(), "a failed push does not stop the file");
    Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--inject-failure", "slow", "--pushgateway", &url])
        .current_dir(dir.path())
        .status(1)
        .stderr_contains("cannot push the metrics to")
        .stderr_contains("the run's own exit code (1) is kept")
        .run();
}

#[test]
fn a_bad_pushgateway_url_or_metrics_path_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (rb, marker) = touching_runbook(dir.path());
    let refused = |args: &[&str], says: &str| {
        let out = Test::new()
            .arg("run")
            .arg(&rb)
            .args(["--output", "json"])
            .args(args)
            .current_dir(dir.path())
            .status(2)
            .stderr_contains(says)
            .run();
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        assert!(!marker.exists(), "a step ran");
        assert!(!dir.path().join("state").exists(), "the run was journaled");
    };
    refused(
        &["--pushgateway", "pushgateway:9091"],
        "cannot push the metrics to pushgateway:9091: it must start with http:// or https://",
    );
    refused(&["--pushgateway", "ftp://gw:9091"], "http:// or https://");
    refused(&["--pushgateway", "http://gw:port"], "is not a port");
    refused(
        &["--pushgateway", "http://user:pw@gw:9091"],
        "must not hold a user or password",
    );
    refused(
        &["--pushgateway", "http://gw:9091/?a=b"],
        "must not have a ?query",
    );
    refused(
        &["--metrics-file", "missing/lifeboat.prom"],
        "cannot write the metrics file missing/lifeboat.prom: the folder missing does not exist",
    );
    refused(
        &["--metrics-file", "same", "--junit", "same"],
        "--junit and --metrics-file both name same",
    );
}
