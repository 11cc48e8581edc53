//! The HTML drill report, looked at: `runbooks/drill.yaml` runs on the embedded sandbox
//! (its cluster `drill` seeded with the shop, its store a local folder holding a backup
//! taken first), once succeeding and once rolled back, and each report is rendered by
//! headless Chromium (Debian's `chromium`, which `scripts/test` installs) to a PNG in
//! `target/report-render/` beside its HTML, for people to look at. Checked:
//!
//! - no external requests: Chromium's net log of the page holds no request the page
//!   made other than for the report itself (`file:`, `data:`, `about:`), and the HTML
//!   has no `http(s)://` in a `src`, `href` or `url(...)`; a page with an external
//!   image shows both checks fail when they should;
//! - the timeline is wider than it is empty: in the PNG, the step bars (found by their
//!   fill colors) cover more than half of the plot's width (found by its gridlines),
//!   the bars of the expected states are drawn, and the page is not blank; a drawn
//!   timeline with its bars in a sliver at one edge fails the check;
//! - the page keeps to its column: nothing is drawn right of the headings' rule (the
//!   steps table once stuck out);
//! - durations on the axis and in the tables read as people write them (`1.5s`,
//!   `3m20s`), not as runbooks do (`1s500ms`), which the check is shown to refuse.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Test, path, root};

/// Where the rendered reports land, for people to look at.
fn out_dir() -> PathBuf {
    let dir = root().join("target/report-render");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// The report's colors (`src/report/timeline.rs`): the gridlines, and the fills of
/// bars (succeeded, failed, skipped, unfinished, resumed, undo).
const LINE: [u8; 3] = [0xe2, 0xe8, 0xf0];
const FILLS: [(&str, [u8; 3]); 6] = [
    ("succeeded", [0x2f, 0x85, 0x5a]),
    ("failed", [0xc5, 0x30, 0x30]),
    ("skipped", [0xa0, 0xae, 0xc0]),
    ("unfinished", [0xdd, 0x6b, 0x20]),
    ("resumed", [0x31, 0x82, 0xce]),
    ("undo", [0x80, 0x5a, 0xd5]),
];
/// A bar is at least this many pixels tall where it is drawn (14 units at about 1.1
/// pixels each); the dashed rollback and RTO lines, in the same colors, are shorter.
const BAR_PIXELS: usize = 8;
/// A gridline runs down the chart at least this far between bars; the report's other
/// lines of this color (table borders, headings) are horizontal.
const GRID_PIXELS: usize = 10;

/// `runbooks/drill.yaml` made runnable here: its cluster is a sandbox seeded with the
/// shop, its store a folder of `dir`, its state in `dir`. `rolled_back` adds the
/// rollback the runbook does not have: `still-whole` failing rolls back, and the
/// restore's undo deletes the scratch namespace. Returns the runbook and, first, takes
/// the backup its `restore` step reads (`latest` of the same runbook name).
fn drill(dir: &Path, rolled_back: bool) -> PathBuf {
    let text = std::fs::read_to_string(path("runbooks/drill.yaml"))
        .unwrap_or_else(|e| panic!("runbooks/drill.yaml: {e}"));
    let mut rb: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let cluster = json!({ "sandbox": { "seed": [path("runbooks/fixtures/shop")] } });
    let store = json!({ "fs": { "path": dir.join("backups") } });
    let state = json!({ "path": dir.join("state") });
    assert!(
        rb["clusters"].get("drill").is_some() && rb["stores"].get("vault").is_some(),
        "runbooks/drill.yaml no longer has cluster `drill` and store `vault`: update this test"
    );
    rb["clusters"]["drill"] = cluster.clone();
    rb["stores"]["vault"] = store.clone();
    rb["state"] = state.clone();
    if rolled_back {
        for step in rb["steps"].as_array_mut().into_iter().flatten() {
            match step["id"].as_str() {
                Some("restore") => {
                    step["undo"] = json!({ "uses": "delete", "with": {
                        "kind": "Namespace", "name": "${{ params.scratch }}" } });
                }
                Some("still-whole") => step["on_failure"] = json!("rollback"),
                _ => {}
            }
        }
    }
    let name = rb["metadata"]["name"].clone();
    let backup = json!({
        "apiVersion": "lifeboat.dev/v1alpha1", "kind": "Runbook",
        "metadata": { "name": name },
        "clusters": { "drill": cluster }, "stores": { "vault": store }, "state": state,
        "steps": [{ "id": "backup", "uses": "backup",
                    "with": { "store": "vault", "namespaces": ["shop"] } }],
    });
    // JSON is YAML.
    let prepare = dir.join("backup.yaml");
    std::fs::write(&prepare, backup.to_string()).unwrap_or_else(|e| panic!("{e}"));
    Test::new()
        .arg("run")
        .arg(&prepare)
        .arg("--yes")
        .current_dir(dir)
        .run();
    let file = dir.join("drill.yaml");
    std::fs::write(&file, rb.to_string()).unwrap_or_else(|e| panic!("{e}"));
    file
}

/// `chromium` on PATH, or a failure that says how to get it.
fn chromium() -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`chromium` is not on PATH: the report is rendered with Debian's chromium \
                 package; run the tests with scripts/test, which installs it \
                 (apt-get install chromium)"
            )
        })
}

/// `file://` URL of an absolute path, percent-encoded.
fn file_url(file: &Path) -> String {
    let mut url = String::from("file://");
    for b in file.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Renders `html` with headless Chromium to `png` (1280 by 2400 pixels) and returns
/// what the page requested over the network (`page_requests` of its net log). The
/// browser resolves no host name (`--host-resolver-rules`), so nothing leaves the
/// machine, but every request is still logged.
fn render(html: &Path, png: &Path) -> Vec<String> {
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let netlog = scratch.path().join("netlog.json");
    let log = scratch.path().join("chromium.log");
    let _ = std::fs::remove_file(png);
    let output = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
    let errors = output.try_clone().unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1280,2400",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND",
        ])
        .arg(format!(
            "--user-data-dir={}",
            scratch.path().join("profile").display()
        ))
        .arg(format!("--log-net-log={}", netlog.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(file_url(html))
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromium: {e}"));
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("wait failed: {e}"))
        {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not render {} in 2 minutes:\n{}",
                html.display(),
                said()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium failed ({status}):\n{}", said());
    assert!(
        png.is_file(),
        "chromium wrote no {}:\n{}",
        png.display(),
        said()
    );
    let text = std::fs::read_to_string(&netlog)
        .unwrap_or_else(|e| panic!("chromium wrote no net log: {e}\n{}", said()));
    let log: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the net log is not JSON: {e}\n{}", said()));
    page_requests(&log)
}

/// What the page asked the network for, from a Chromium net log: the `url` (or
/// `host`, for name lookups) of each event made for the page, which carry the page's
/// network isolation key (`file://` for a file) or an initiating origin. Chromium's own
/// traffic (updates, sign-in, time) has neither and is left out.
fn page_requests(log: &Value) -> Vec<String> {
    let mut found = BTreeSet::new();
    for event in log["events"].as_array().into_iter().flatten() {
        let params = &event["params"];
        let Some(target) = params["url"].as_str().or(params["host"].as_str()) else {
            continue;
        };
        let keyed = ["network_isolation_key", "network_anonymization_key"]
            .iter()
            .any(|k| params[*k].as_str().is_some_and(|v| v.contains("file://")));
        let initiated = params["initiator"]
            .as_str()
            .is_some_and(|i| i != "not an origin");
        if keyed || initiated {
            found.insert(target.to_string());
        }
    }
    assert!(
        log["events"].as_array().is_some_and(|e| !e.is_empty()),
        "the net log has no events"
    );
    found.into_iter().collect()
}

/// The page's requests that are not for the report itself.
fn external(requests: &[String], own: &str) -> Vec<String> {
    requests
        .iter()
        .filter(|u| u.as_str() != own && !u.starts_with("data:") && !u.starts_with("about:"))
        .cloned()
        .collect()
}

/// Where the HTML refers to a remote resource: `src=`, `href=` or `url(` followed by
/// `http://`, `https://` or `//`, and `@import`.
fn remote_references(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for lead in ["src=", "href=", "url("] {
        for (at, _) in lower.match_indices(lead) {
            let rest = lower[at + lead.len()..].trim_start_matches(['"', '\'', ' ']);
            if ["http://", "https://", "//"]
                .iter()
                .any(|p| rest.starts_with(p))
            {
                let end = (at + 80).min(html.len());
                found.push(lower[at..end].to_string());
            }
        }
    }
    if lower.contains("@import") {
        found.push("@import".into());
    }
    found
}

/// A decoded screenshot, as RGB pixels.
struct Image {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Image {
    fn read(file: &Path) -> Image {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let mut decoder = png::Decoder::new(std::io::Cursor::new(data));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder
            .read_info()
            .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", file.display()));
        let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
        let info = reader
            .next_frame(&mut buf)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("{}: unexpected color type {other:?}", file.display()),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(channels)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Image {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        }
    }

    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.width + x]
    }

    /// The longest run of pixels down column `x`, within `rows`, that `hit` accepts.
    fn run_down(&self, x: usize, rows: (usize, usize), hit: impl Fn([u8; 3]) -> bool) -> usize {
        let (mut best, mut run) = (0, 0);
        for y in rows.0..=rows.1 {
            run = if hit(self.at(x, y)) { run + 1 } else { 0 };
            best = best.max(run);
        }
        best
    }

    /// The first pixel drawn right of the page's column, whose right edge is where
    /// the first heading's rule (a row of `LINE` across most of the page) ends.
    fn past_the_column(&self) -> Option<(usize, usize)> {
        let edge = (0..self.height).find_map(|y| {
            let mut run = 0;
            for x in 0..self.width {
                run = if self.at(x, y) == LINE { run + 1 } else { 0 };
                if run > self.width / 2 && (x + 1 == self.width || self.at(x + 1, y) != LINE) {
                    return Some(x);
                }
            }
            None
        })?;
        (0..self.height)
            .flat_map(|y| (edge + 2..self.width).map(move |x| (x, y)))
            .find(|&(x, y)| self.at(x, y) != [255, 255, 255])
    }

    fn colors(&self) -> usize {
        self.rgb.iter().collect::<BTreeSet<_>>().len()
    }
}

/// What the timeline of a screenshot shows.
#[derive(Debug)]
struct Timeline {
    /// The plot's first and last column: the first and last gridline (the axis
    /// starts at 0 and ends on a tick).
    plot: (usize, usize),
    /// Columns of the plot with a bar.
    covered: usize,
    /// Columns with a bar of each fill.
    fills: BTreeMap<&'static str, usize>,
}

impl Timeline {
    fn find(img: &Image) -> Option<Timeline> {
        let mut grid: Vec<usize> = Vec::new();
        let (mut top, mut bottom) = (usize::MAX, 0);
        for x in 0..img.width {
            let mut run = 0;
            for y in 0..img.height {
                if img.at(x, y) == LINE {
                    run += 1;
                    if run >= GRID_PIXELS {
                        top = top.min(y + 1 - run);
                        bottom = bottom.max(y);
                        if grid.last() != Some(&x) {
                            grid.push(x);
                        }
                    }
                } else {
                    run = 0;
                }
            }
        }
        let plot = (*grid.first()?, *grid.last()?);
        if plot.1 <= plot.0 {
            return None;
        }
        // Its rows: from the top to the bottom of the gridlines.
        let rows = (top, bottom);
        let mut covered = 0;
        let mut fills = BTreeMap::new();
        for x in plot.0..=plot.1 {
            if img.run_down(x, rows, |p| FILLS.iter().any(|(_, c)| *c == p)) >= BAR_PIXELS {
                covered += 1;
            }
            for (name, color) in FILLS {
                if img.run_down(x, rows, |p| p == color) >= BAR_PIXELS {
                    *fills.entry(name).or_insert(0) += 1;
                }
            }
        }
        Some(Timeline {
            plot,
            covered,
            fills,
        })
    }

    fn width(&self) -> usize {
        self.plot.1 - self.plot.0 + 1
    }

    /// Bars cover more than half of the plot.
    fn filled(&self) -> bool {
        self.covered * 2 > self.width()
    }
}

/// A duration written as people write it: `0`, `850ms`, `1.5s`, `12s`, `3m20s`, `1h5m`,
/// `2d3h` (no `1s500ms`, `60s`, `4m05s`, `1.0s`).
fn reads_as_people_write(text: &str) -> bool {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let unit = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map_or(rest.len(), |u| digits + u);
        parts.push((&rest[..digits], &rest[digits..unit]));
        rest = &rest[unit..];
    }
    let whole = |n: &str, below: u64, zero: bool| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (n == "0" || !n.starts_with('0'))
            && n.parse::<u64>().is_ok_and(|v| v < below && (zero || v > 0))
    };
    match parts.as_slice() {
        [("0", "")] => true,
        [(n, "ms")] => whole(n, 1_000, true),
        [(n, "s")] => match n.split_once('.') {
            Some((s, tenth)) => whole(s, 60, true) && tenth.len() == 1 && whole(tenth, 10, false),
            None => whole(n, 60, false),
        },
        [(n, "m")] => whole(n, 60, false),
        [(n, "h")] => whole(n, 24, false),
        [(n, "d")] => whole(n, u64::MAX, false),
        [(m, "m"), (s, "s")] => whole(m, 60, false) && whole(s, 60, false),
        [(h, "h"), (m, "m")] => whole(h, 24, false) && whole(m, 60, false),
        [(d, "d"), (h, "h")] => whole(d, u64::MAX, false) && whole(h, 24, false),
        _ => false,
    }
}

/// The texts of the elements in `html` that open with `open` (up to the next `<`).
fn texts_after<'a>(html: &'a str, open: &str) -> Vec<&'a str> {
    html.match_indices(open)
        .map(|(at, _)| {
            let rest = &html[at + open.len()..];
            let rest = &rest[rest.find('>').map_or(0, |i| i + 1)..];
            rest[..rest.find('<').unwrap_or(rest.len())].trim()
        })
        .collect()
}

/// Every duration the report shows on its axis and in its tables: the tick labels,
/// the objectives' target and measure, the steps' start and duration, the run's.
fn shown_durations(html: &str) -> Vec<String> {
    let mut found: Vec<String> = texts_after(html, "<text class=\"tick\"")
        .into_iter()
        .map(str::to_string)
        .collect();
    let section = |id: &str| {
        let start = html
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("the report has no section {id}"));
        let end = html[start..]
            .find("</section>")
            .map_or(html.len(), |e| start + e);
        &html[start..end]
    };
    for row in section("objectives").split("<tr>").skip(2) {
        // target, measured ("—" when not measured)
        found.extend(
            texts_after(row, "<td class=\"num\"")
                .iter()
                .map(|t| t.to_string()),
        );
    }
    for row in section("steps").split("<tr>").skip(2) {
        // attempts, start, duration
        found.extend(
            texts_after(row, "<td class=\"num\"")
                .iter()
                .skip(1)
                .map(|t| t.to_string()),
        );
    }
    found.extend(
        texts_after(html, "<dt>duration</dt><dd")
            .iter()
            .map(|t| t.to_string()),
    );
    found.retain(|t| t != "—");
    found
}

/// Runs the drill, renders its report, checks it, and says where the PNG is.
fn drill_report_renders(rolled_back: bool) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = drill(dir.path(), rolled_back);
    let name = if rolled_back {
        "drill-rolled-back"
    } else {
        "drill-succeeded"
    };
    let (html, png) = (
        out_dir().join(format!("{name}.html")),
        out_dir().join(format!("{name}.png")),
    );
    let mut run = Test::new()
        .arg("run")
        .arg(&rb)
        .arg("--yes")
        .arg("--report")
        .arg(&html)
        .current_dir(dir.path());
    run = if rolled_back {
        run.args(["--inject-failure", "still-whole"])
            .status(1)
            .stdout_contains("FAILED and was rolled back")
            .stdout_contains("undone restore in ")
    } else {
        run.status(0).stdout_contains("succeeded in")
    };
    run.run();
    let page = std::fs::read_to_string(&html).unwrap_or_else(|e| panic!("{e}"));

    let requests = render(&html, &png);
    let own = file_url(&html);
    assert_eq!(
        external(&requests, &own),
        Vec::<String>::new(),
        "{name}: the page made requests other than for itself"
    );
    assert_eq!(
        remote_references(&page),
        Vec::<String>::new(),
        "{name}: the HTML refers to remote resources"
    );

    let img = Image::read(&png);
    assert_eq!((img.width, img.height), (1280, 2400), "{}", png.display());
    let colors = img.colors();
    assert!(colors > 64, "{} is blank: {colors} colors", png.display());
    // The steps table once stuck out of the page when a step id stayed on one line.
    assert_eq!(
        img.past_the_column(),
        None,
        "{}: something is drawn right of the page's column",
        png.display()
    );
    let timeline = Timeline::find(&img)
        .unwrap_or_else(|| panic!("{}: no timeline (no gridlines)", png.display()));
    assert!(
        timeline.filled(),
        "{}: the bars cover {} of the timeline's {} columns: it is mostly empty: {timeline:?}",
        png.display(),
        timeline.covered,
        timeline.width()
    );
    let expected: &[&str] = if rolled_back {
        &["failed", "skipped", "succeeded", "undo"]
    } else {
        &["succeeded"]
    };
    let drawn: Vec<&str> = timeline.fills.keys().copied().collect();
    assert_eq!(
        drawn,
        expected,
        "{}: bars drawn {timeline:?}",
        png.display()
    );

    let durations = shown_durations(&page);
    assert!(
        durations.len() >= 5 + 2 + 2,
        "too few durations found: {durations:?}"
    );
    let odd: Vec<&String> = durations
        .iter()
        .filter(|d| !reads_as_people_write(d))
        .collect();
    assert!(
        odd.is_empty(),
        "{name}: durations not as people write them: {odd:?} (all: {durations:?})"
    );
    eprintln!(
        "{name}: {} ({} of {} timeline columns have bars)",
        png.display(),
        timeline.covered,
        timeline.width()
    );
}

#[test]
fn the_drill_report_of_a_successful_run_renders_offline_with_a_full_timeline() {
    drill_report_renders(false);
}

#[test]
fn the_drill_report_of_a_rolled_back_run_renders_offline_with_a_full_timeline() {
    drill_report_renders(true);
}

/// The no-external-requests checks can fail: a page with an external image and an
/// external background is caught by the net log and by the HTML scan.
#[test]
fn a_page_with_external_references_is_caught() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let html = dir.path().join("external.html");
    let page = "<!DOCTYPE html><html><body><h1>external</h1>\
                <img src=\"http://127.0.0.1:1/x.png\">\
                <div style=\"width:40px;height:40px;background:url('http://lifeboat.invalid/bg.png')\"></div>\
                </body></html>";
    std::fs::write(&html, page).unwrap_or_else(|e| panic!("{e}"));
    let requests = render(&html, &dir.path().join("external.png"));
    let external = external(&requests, &file_url(&html));
    for url in ["http://127.0.0.1:1/x.png", "http://lifeboat.invalid/bg.png"] {
        assert!(
            external.iter().any(|u| u == url),
            "the net log check missed {url}: {external:?}"
        );
    }
    assert_eq!(remote_references(page).len(), 2, "{page}");
}

/// The timeline check can fail: bars in a sliver at one edge of the plot are caught,
/// bars across it pass.
#[test]
fn a_timeline_squeezed_to_one_edge_is_caught() {
    let image = |bar: (usize, usize)| {
        let (width, height) = (300, 100);
        let mut rgb = vec![[255, 255, 255]; width * height];
        for y in 10..90 {
            for x in [50, 150, 250] {
                rgb[y * width + x] = LINE;
            }
        }
        for y in 20..36 {
            for x in bar.0..bar.1 {
                rgb[y * width + x] = FILLS[0].1;
            }
        }
        Image { width, height, rgb }
    };
    let squeezed = Timeline::find(&image((50, 70))).unwrap_or_else(|| panic!("no timeline"));
    assert_eq!(squeezed.plot, (50, 250));
    assert_eq!(squeezed.covered, 20);
    assert!(!squeezed.filled(), "{squeezed:?}");
    let full = Timeline::find(&image((50, 240))).unwrap_or_else(|| panic!("no timeline"));
    assert!(full.filled(), "{full:?}");
    assert!(
        Timeline::find(&Image {
            width: 10,
            height: 10,
            rgb: vec![[255, 255, 255]; 100],
        })
        .is_none()
    );
}

/// The duration check can fail: runbook spellings and zero-padded parts are caught.
#[test]
fn durations_written_as_runbooks_write_them_are_caught() {
    for good in [
        "0", "0ms", "850ms", "1s", "1.5s", "59.9s", "12s", "1m", "3m20s", "1h5m", "2d3h",
    ] {
        assert!(reads_as_people_write(good), "{good}");
    }
    for bad in [
        "1s500ms", "60s", "1.0s", "4m05s", "1h02m", "90m", "24h", "1000ms", "1m0s", "", "ms",
    ] {
        assert!(!reads_as_people_write(bad), "{bad}");
    }
}
