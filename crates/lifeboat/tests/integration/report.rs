//! `run --junit` and `run --report` through the real binary. The JUnit file is read by
//! python3's `xml.etree` and the HTML report by python3's `html.parser` (real tools,
//! not string matching): counts, failure messages, objective testcases, one SVG bar per
//! step, no external assets, no secret. Unwritable paths are refused before any step
//! runs; a report that cannot be written at the end keeps the run's own result; an
//! interrupted run still writes what happened.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Test, TestRunbook, path};

/// The secret param's value: it must never reach a report.
const SECRET: &str = "hunter2-s3cr3t-value";

/// Reads a report with python3 and returns what it found, as JSON.
const READER: &str = r#"
import json, sys
kind, path = sys.argv[1], sys.argv[2]
if kind == "junit":
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    out = {"root": root.tag, "root_attrs": dict(root.attrib), "suites": []}
    for s in suites:
        cases = []
        for c in s.findall("testcase"):
            def message(tag):
                e = c.find(tag)
                return None if e is None else e.get("message")
            so = c.find("system-out")
            cases.append({"classname": c.get("classname"), "name": c.get("name"),
                          "time": float(c.get("time")), "failure": message("failure"),
                          "skipped": message("skipped"), "error": message("error"),
                          "out": None if so is None else so.text})
        props = {p.get("name"): p.get("value") for p in s.iter("property")}
        out["suites"].append({"attrs": dict(s.attrib), "cases": cases, "properties": props})
    print(json.dumps(out))
else:
    from html.parser import HTMLParser
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}
    class Reader(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.stack, self.problems, self.text, self.bars, self.urls = [], [], [], [], []
            self.svgs, self.tags = 0, set()
        def handle_starttag(self, tag, attrs):
            self.tags.add(tag)
            a = dict(attrs)
            for k, v in attrs:
                if k in ("src", "href", "xlink:href", "srcset", "action", "poster", "data") \
                        and v and ("://" in v or v.startswith("//")):
                    self.urls.append(tag + " " + k + "=" + v)
            if tag == "svg":
                self.svgs += 1
            if tag == "rect" and "bar" in (a.get("class") or "").split():
                self.bars.append(a.get("class"))
            if tag not in VOID:
                self.stack.append(tag)
        def handle_startendtag(self, tag, attrs):
            self.handle_starttag(tag, attrs)
            if tag not in VOID:
                self.stack.pop()
        def handle_endtag(self, tag):
            if not self.stack or self.stack[-1] != tag:
                self.problems.append("</" + tag + "> while open: " + repr(self.stack[-3:]))
            else:
                self.stack.pop()
        def handle_data(self, d):
            self.text.append(d)
    r = Reader()
    r.feed(open(path, encoding="utf-8").read())
    r.close()
    if r.stack:
        r.problems.append("unclosed: " + repr(r.stack))
    print(json.dumps({"problems": r.problems, "svgs": r.svgs, "bars": r.bars, "urls": r.urls,
                      "tags": sorted(r.tags), "text": " ".join(r.text)}))
"#;

/// What python3 read in a report (`junit` or `html`).
fn read(kind: &str, file: &Path) -> Value {
    let out = Command::new("python3")
        .args(["-c", READER, kind])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("python3 is required (it is on the machine image): {e}"));
    assert!(
        out.status.success(),
        "python3 could not read {}: {}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("python3 printed no JSON: {e}"))
}

/// The testcase `name` of the (one) suite.
/// A runbook whose one step touches a file (returned with it): that the file is
/// absent proves nothing ran.
pub(crate) fn touching_runbook(dir: &Path) -> (PathBuf, PathBuf) {
    let marker = dir.join("touched");
    let rb = TestRunbook::new("side-effect")
        .steps(&format!(
            "  - {{ id: touch, uses: exec_local, with: {{ argv: [ touch, \"{}\" ] }} }}\n",
            marker.display()
        ))
        .write(dir);
    (rb, marker)
}

fn case<'a>(junit: &'a Value, name: &str) -> &'a Value {
    junit["suites"][0]["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no testcase {name}: {junit:#}"))
}

/// One field of a testcase as text (empty when it has none).
fn text(junit: &Value, name: &str, field: &str) -> String {
    case(junit, name)[field]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn attr(junit: &Value, name: &str) -> String {
    junit["suites"][0]["attrs"][name]
        .as_str()
        .unwrap_or_else(|| panic!("the testsuite has no {name}: {junit:#}"))
        .to_string()
}

/// A drill (written out: `TestRunbook` has no params or objectives): a restore of the stored version-1 backup into an in-process sandbox (RPO 1s:
/// missed, the backup is old; RTO 1h: met), a sleep, an http_check that fails with
/// `on_failure: continue` (its URL holds the secret), a step whose `if:` is false, and
/// an exec_local printing markup and the secret.
fn drill(dir: &Path) -> PathBuf {
    let rb = dir.join("drill.yaml");
    std::fs::write(
        &rb,
        format!(
            "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: drill, description: \"Restore <shop> & check\" }}\n\
             params:\n  token: {{ secret: true, default: {SECRET} }}\n\
             objectives: {{ rto: 1h, rpo: 1s }}\n\
             clusters:\n  b: {{ sandbox: {{}} }}\n\
             stores:\n  old: {{ fs: {{ path: \"{}\" }} }}\n\
             state: {{ path: state }}\nsteps:\n\
             \x20 - {{ id: restore, uses: restore, cluster: b, with: {{ store: old, backup: shop-v1 }} }}\n\
             \x20 - {{ id: nap, uses: sleep, with: {{ duration: 20ms }} }}\n\
             \x20 - {{ id: broken, uses: http_check, with: {{ url: \"http://127.0.0.1:9/${{{{ params.token }}}}\" }}, on_failure: continue }}\n\
             \x20 - {{ id: never, uses: sleep, if: \"${{{{ run.dry_run }}}}\", with: {{ duration: 1s }} }}\n\
             \x20 - {{ id: echo, uses: exec_local, with: {{ argv: [ echo, \"<b>&'\\\"</b>\", \"${{{{ params.token }}}}\" ] }} }}\n",
            path("crates/lifeboat/tests/fixtures/backups-v1").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    rb
}

fn events(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn no_secret(file: &Path) {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        !String::from_utf8_lossy(&bytes).contains(SECRET),
        "{} holds the secret param's value",
        file.display()
    );
}

#[test]
fn junit_and_html_report_steps_failures_skips_and_objectives() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = drill(dir.path());
    let (xml, html) = (dir.path().join("drill.xml"), dir.path().join("drill.html"));
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--output", "json", "--junit"])
        .arg(&xml)
        .arg("--report")
        .arg(&html)
        .current_dir(dir.path())
        .status(1)
        .run();
    let events = events(&out.stdout);
    let rto_ms = events
        .iter()
        .find(|e| e["event"] == "objective_checked" && e["objective"] == "rto")
        .and_then(|e| e["measured_ms"].as_u64())
        .unwrap_or_else(|| panic!("no RTO measured: {events:#?}"));

    let junit = read("junit", &xml);
    assert_eq!(junit["root"], "testsuites");
    assert_eq!(junit["suites"].as_array().map(Vec::len), Some(1));
    assert_eq!(attr(&junit, "name"), "drill");
    // 5 steps and 2 objectives; `broken` and the RPO failed; `never` was skipped.
    assert_eq!(attr(&junit, "tests"), "7");
    assert_eq!(attr(&junit, "failures"), "2");
    assert_eq!(attr(&junit, "skipped"), "1");
    assert_eq!(attr(&junit, "errors"), "0");
    let time: f64 = attr(&junit, "time").parse().unwrap_or(-1.0);
    assert!(time >= 0.02, "{time}");
    let stamp = attr(&junit, "timestamp");
    assert!(
        stamp.len() == 19 && stamp.as_bytes()[10] == b'T',
        "timestamp {stamp}"
    );
    let props = &junit["suites"][0]["properties"];
    assert_eq!(props["state"], "failed");
    assert_eq!(props["dry_run"], "false");
    assert!(props["run_id"].as_str().is_some_and(|id| !id.is_empty()));
    for c in junit["suites"][0]["cases"].as_array().into_iter().flatten() {
        assert_eq!(c["classname"], "drill", "{c:#}");
    }
    let restore = case(&junit, "restore");
    assert!(
        restore["failure"].is_null() && restore["skipped"].is_null(),
        "{restore:#}"
    );
    assert!(restore["time"].as_f64().unwrap_or(0.0) > 0.0, "{restore:#}");
    let nap = case(&junit, "nap");
    assert!(nap["time"].as_f64().unwrap_or(0.0) >= 0.02, "{nap:#}");
    let broken = text(&junit, "broken", "failure");
    assert!(
        broken.contains("request to http://127.0.0.1:9/") && broken.contains("********"),
        "{broken}"
    );
    let never = text(&junit, "never", "skipped");
    assert!(never.contains("is false"), "{never}");
    // Markup printed by a step comes back as it was printed.
    let echo = text(&junit, "echo", "out");
    assert!(echo.contains("<b>&'\"</b> ********"), "{echo}");
    let rto = case(&junit, "objective rto");
    assert!(rto["failure"].is_null(), "{rto:#}");
    let rpo = text(&junit, "objective rpo", "failure");
    assert!(
        rpo.starts_with("RPO missed: measured ") && rpo.ends_with("against a target of 1s"),
        "{rpo}"
    );

    let page = read("html", &html);
    assert_eq!(page["problems"], serde_json::json!([]), "{page:#}");
    assert_eq!(page["svgs"], 1);
    let bars: Vec<&str> = page["bars"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(bars.len(), 5, "one bar per step: {bars:?}");
    assert!(
        bars.contains(&"bar s-failed") && bars.contains(&"bar s-skipped"),
        "{bars:?}"
    );
    assert_eq!(page["urls"], serde_json::json!([]), "external references");
    let raw = std::fs::read_to_string(&html).unwrap_or_default();
    for banned in [
        "<script",
        "<link",
        "@import",
        "@font-face",
        "url(http",
        "<img",
        "<iframe",
    ] {
        assert!(!raw.contains(banned), "the report holds {banned}");
    }
    let text = page["text"].as_str().unwrap_or_default();
    for id in ["restore", "nap", "broken", "never", "echo"] {
        assert!(text.contains(id), "the report does not name step {id}");
    }
    // As people write durations (`1.2s`), not as runbooks do (`1s234ms`).
    let measured = lifeboat::report::human_ms(rto_ms);
    assert!(
        text.contains(&measured),
        "the report lacks the measured RTO {measured}"
    );
    assert!(
        text.contains("Restore <shop> & check"),
        "the description is escaped, not dropped"
    );
    assert!(
        text.contains("<b>&'\"</b>"),
        "outputs are escaped, not dropped"
    );
    // Per-kind restore counts: the stored backup holds two Deployments.
    assert!(
        text.contains("Objects per kind") && text.contains("Deployment"),
        "{text}"
    );

    no_secret(&xml);
    no_secret(&html);

    // Without the failing step, the missed RPO alone exits 3.
    std::fs::remove_file(&xml).unwrap_or_else(|e| panic!("{e}"));
    Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--only", "restore", "--junit"])
        .arg(&xml)
        .current_dir(dir.path())
        .status(3)
        .stdout_contains("wrote the JUnit XML to")
        .run();
    let junit = read("junit", &xml);
    assert_eq!(attr(&junit, "failures"), "1");
    assert_eq!(attr(&junit, "skipped"), "4");
    assert!(case(&junit, "objective rpo")["failure"].is_string());
    assert!(case(&junit, "objective rto")["failure"].is_null());
    assert_eq!(
        junit["suites"][0]["properties"]["state"],
        "objectives missed"
    );
    no_secret(&xml);
}

#[test]
fn an_unwritable_report_path_is_refused_before_any_step_runs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (rb, marker) = touching_runbook(dir.path());
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, "").unwrap_or_else(|e| panic!("{e}"));
    let refused = |flag: &str, target: PathBuf, says: &str| {
        let out = Test::new()
            .arg("run")
            .arg(&rb)
            .args(["--output", "json", flag])
            .arg(&target)
            .current_dir(dir.path())
            .status(2)
            .stderr_contains(says)
            .run();
        assert!(
            !out.stdout.contains("step_started") && !out.stdout.contains("run_started"),
            "{}",
            out.stdout
        );
        assert!(!marker.exists(), "a step ran");
        assert!(!dir.path().join("state").exists(), "the run was journaled");
    };
    refused(
        "--report",
        dir.path().join("missing/drill.html"),
        "does not exist; create it first (nothing ran",
    );
    refused("--junit", a_file.join("drill.xml"), "is not a folder");
    refused("--junit", dir.path().to_path_buf(), "it is a folder");
    refused("--report", rb.clone(), "that is the runbook itself");
    let same = dir.path().join("same");
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .arg("--report")
        .arg(&same)
        .arg("--junit")
        .arg(&same)
        .current_dir(dir.path())
        .status(2)
        .stderr_contains("give each report its own file")
        .run();
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(!marker.exists(), "a step ran");
}

#[test]
fn a_report_that_cannot_be_written_at_the_end_keeps_the_runs_result() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let doomed = dir.path().join("doomed");
    std::fs::create_dir(&doomed).unwrap_or_else(|e| panic!("{e}"));
    // The run itself removes the folder its JUnit file goes to.
    let rb = TestRunbook::new("vanish")
        .steps(&format!(
            "  - {{ id: remove, uses: exec_local, with: {{ argv: [ rm, -r, \"{}\" ] }} }}\n  - {{ id: last, uses: sleep, with: {{ duration: 1ms }} }}\n",
            doomed.display()
        ))
        .write(dir.path());
    let html = dir.path().join("kept.html");
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .arg("--junit")
        .arg(doomed.join("drill.xml"))
        .arg("--report")
        .arg(&html)
        .current_dir(dir.path())
        .status(2)
        .stderr_contains("cannot write the JUnit XML")
        .stderr_contains("the run itself succeeded")
        .stderr_contains("lifeboat status")
        .run();
    assert!(out.stdout.contains("succeeded in"), "{}", out.stdout);
    // One report failing does not stop the other.
    assert_eq!(read("html", &html)["problems"], serde_json::json!([]));

    // A run that failed keeps its own exit code.
    std::fs::create_dir(&doomed).unwrap_or_else(|e| panic!("{e}"));
    Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--inject-failure", "last", "--junit"])
        .arg(doomed.join("drill.xml"))
        .current_dir(dir.path())
        .status(1)
        .stderr_contains("cannot write the JUnit XML")
        .stderr_contains("the run's own exit code (1) is kept")
        .run();
}

#[test]
fn an_interrupted_run_writes_what_happened_and_marks_unfinished_steps() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Written out: `TestRunbook` has no objectives.
    let rb = dir.path().join("stopped.yaml");
    std::fs::write(
        &rb,
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: stopped }\nobjectives: { rto: 1h }\nstate: { path: state }\nsteps:\n  - { id: first, uses: sleep, with: { duration: 1ms } }\n  - { id: long, uses: sleep, with: { duration: 60s } }\n  - { id: after, uses: sleep, with: { duration: 1ms } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (xml, html) = (dir.path().join("s.xml"), dir.path().join("s.html"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("run")
        .arg(&rb)
        .arg("--junit")
        .arg(&xml)
        .arg("--report")
        .arg(&html)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start lifeboat: {e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !printed.iter().any(|l: &String| l.contains("start long")) {
        assert!(
            Instant::now() < deadline,
            "`long` never started: {printed:#?}"
        );
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            printed.push(line);
        }
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(sent.is_ok_and(|s| s.success()), "kill -INT failed");
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lifeboat did not stop after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    printed.extend(rx.iter());
    let last = printed.last().cloned().unwrap_or_default();
    assert!(
        last.contains("lifeboat resume"),
        "the resume command is printed last: {printed:#?}"
    );

    let junit = read("junit", &xml);
    assert_eq!(attr(&junit, "tests"), "4");
    assert_eq!(attr(&junit, "errors"), "1");
    assert_eq!(
        attr(&junit, "skipped"),
        "2",
        "`after` and the unmeasured RTO"
    );
    assert!(case(&junit, "first")["error"].is_null());
    let long = text(&junit, "long", "error");
    assert!(
        long.contains("interrupted before it finished") && long.contains("lifeboat resume"),
        "{long}"
    );
    let after = text(&junit, "after", "skipped");
    assert!(after.starts_with("not run"), "{after}");
    assert!(
        case(&junit, "objective rto")["skipped"]
            .as_str()
            .is_some_and(|m| m.contains("interrupted")),
        "{junit:#}"
    );
    assert_eq!(junit["suites"][0]["properties"]["state"], "interrupted");

    let page = read("html", &html);
    assert_eq!(page["problems"], serde_json::json!([]), "{page:#}");
    let bars: Vec<&str> = page["bars"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        bars,
        ["bar s-succeeded", "bar s-unfinished", "bar s-not-run"]
    );
    assert!(
        page["text"]
            .as_str()
            .is_some_and(|t| t.contains("lifeboat resume"))
    );
}
