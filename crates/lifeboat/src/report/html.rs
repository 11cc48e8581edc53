//! `run --report FILE.html`: the drill report as one self-contained HTML file (inline
//! CSS and SVG; no scripts, fonts, images or links to fetch). Header (runbook, run id,
//! state, start, duration, dry-run badge), objectives (target against measured), the
//! step timeline, the steps table, objects per kind of backup and restore steps, and
//! the errors. Every value is escaped; it prints on A4 or Letter as it shows.

use std::fmt::Write;

use super::record::{RunRecord, StepRecord, StepState};
use super::{clip, escape, human_ms, timeline};
use crate::events::OutputValue;

/// The longest output value shown in the steps table, in characters.
const KEEP: usize = 2_000;
/// Step ids up to this long stay on one line in the steps table (`still-whole`, not
/// `still-` over `whole`); longer ones may wrap, so the table keeps to the page.
const ONE_LINE_ID: usize = 16;

const STYLE: &str = r#"
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 24px; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
header p { margin: 0 0 10px; color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 10px 0 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600;
  color: #fff; background: var(--muted); vertical-align: middle; margin-left: 6px; }
.badge.succeeded, .badge.met { background: var(--ok); }
.badge.failed, .badge.missed, .badge.rolled-back, .badge.undo-failed { background: var(--fail); }
.badge.unfinished { background: var(--unfinished); } .badge.resumed { background: var(--resumed); }
.badge.skipped, .badge.not-run, .badge.unmeasured { background: var(--skip); color: var(--ink); }
.badge.undone { background: var(--undo); } .badge.dry-run { background: #2b6cb0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.outputs { min-width: 16em; } td.error { min-width: 10em; }
td.outputs pre, td.error { overflow-wrap: anywhere; } td.num, .badge, code.id { white-space: nowrap; }
td.error, .errors li { color: var(--fail); }
ul.errors { padding-left: 20px; } ul.errors li { margin-bottom: 6px; }
.none { color: var(--muted); font-style: italic; }
svg.timeline { display: block; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 6px 0 0; padding: 0; list-style: none;
  color: var(--muted); font-size: 12px; }
.legend span { display: inline-block; width: 12px; height: 10px; margin-right: 4px; border-radius: 2px; vertical-align: -1px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print {
  body { padding: 0; max-width: none; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; } tr, svg, li { break-inside: avoid; }
  th, td { padding: 3px 5px; } code, pre, .mono { font-size: 9.5px; }
  td.outputs { min-width: 12em; } td.error { min-width: 8em; }
  @page { margin: 14mm; }
}
"#;

/// The HTML report of a run.
pub fn render(record: &RunRecord) -> String {
    let mut h = String::new();
    let title = format!("{} — drill report {}", record.runbook, record.run_id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"lifeboat {}\">\n<title>{}</title>\n<style>{}{STYLE}</style>\n</head>\n<body>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&title),
        palette()
    );
    header(&mut h, record);
    objectives(&mut h, record);
    timeline_section(&mut h, record);
    steps(&mut h, record);
    kinds(&mut h, record);
    errors(&mut h, record);
    let _ = write!(
        h,
        "<footer>Written by lifeboat {} at the end of run <span class=\"mono\">{}</span>. Times are from the start of the run.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        escape(&record.run_id)
    );
    h
}

/// The report's colors as CSS variables (the chart uses the same ones).
fn palette() -> String {
    use super::timeline::{BG, FAIL, INK, LINE, MUTED, OK, RESUMED, SKIP, UNDO, UNFINISHED};
    format!(
        "\n:root {{ --ok: {OK}; --fail: {FAIL}; --skip: {SKIP}; --unfinished: {UNFINISHED}; --resumed: {RESUMED}; --undo: {UNDO}; --ink: {INK}; --muted: {MUTED}; --line: {LINE}; --bg: {BG}; }}"
    )
}

fn badge(class: &str, text: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        escape(class),
        escape(text)
    )
}

fn header(h: &mut String, r: &RunRecord) {
    let _ = write!(
        h,
        "<header>\n<h1>{}{}{}</h1>\n",
        escape(&r.runbook),
        badge(r.state_class(), r.state_label()),
        if r.dry_run {
            badge("dry-run", "dry run: nothing changed")
        } else {
            String::new()
        }
    );
    if let Some(d) = &r.description {
        let _ = writeln!(h, "<p>{}</p>", escape(d));
    }
    let count = |st: &[StepState]| r.steps.iter().filter(|s| st.contains(&s.state)).count();
    let succeeded = count(&[
        StepState::Succeeded,
        StepState::Resumed,
        StepState::Undone,
        StepState::UndoFailed,
    ]);
    let mut facts = vec![
        (
            "run id",
            format!("<span class=\"mono\">{}</span>", escape(&r.run_id)),
        ),
        ("state", escape(r.state_label())),
        ("started", format!("{} (UTC)", escape(&r.started))),
        ("duration", escape(&human_ms(r.duration_ms))),
        (
            "steps",
            format!(
                "{} in all: {succeeded} succeeded, {} failed, {} skipped, {} not run",
                r.steps.len(),
                count(&[StepState::Failed]),
                count(&[StepState::Skipped]),
                count(&[StepState::NotRun, StepState::Unfinished]),
            ),
        ),
        ("host", escape(&r.host)),
    ];
    if let Some(rb) = &r.rollback {
        facts.push((
            "rollback",
            format!(
                "after <code>{}</code> failed: {} undo{}",
                escape(&rb.after),
                rb.undos,
                if rb.undos == 1 { "" } else { "s" }
            ),
        ));
    }
    if let Some(i) = &r.interruption {
        facts.push(("resume", format!("<code>{}</code>", escape(&i.resume))));
    }
    h.push_str("<dl class=\"facts\">\n");
    for (k, v) in facts {
        let _ = writeln!(h, "<dt>{k}</dt><dd>{v}</dd>");
    }
    h.push_str("</dl>\n</header>\n");
}

fn objectives(h: &mut String, r: &RunRecord) {
    h.push_str("<section id=\"objectives\">\n<h2>Objectives</h2>\n");
    if r.objectives.is_empty() {
        h.push_str("<p class=\"none\">The runbook sets no objectives.</p>\n</section>\n");
        return;
    }
    h.push_str("<table>\n<thead><tr><th>objective</th><th>measures</th><th class=\"num\">target</th><th class=\"num\">measured</th><th>result</th></tr></thead>\n<tbody>\n");
    for o in &r.objectives {
        let (measured, result) = match (o.measured_ms, o.met) {
            (Some(m), Some(true)) => (human_ms(m), badge("met", "met")),
            (Some(m), _) => (human_ms(m), badge("missed", "missed")),
            (None, _) => ("—".to_string(), badge("unmeasured", o.unmeasured_reason(r))),
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{result}</td></tr>",
            escape(&o.name.to_uppercase()),
            escape(o.meaning()),
            escape(&human_ms(o.target_ms)),
            escape(&measured)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

fn timeline_section(h: &mut String, r: &RunRecord) {
    h.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
    h.push_str(&timeline::render(r));
    h.push_str("<ul class=\"legend\">");
    for (color, text) in [
        ("var(--ok)", "succeeded"),
        ("var(--fail)", "failed (or a failed attempt)"),
        ("var(--skip)", "skipped"),
        ("var(--unfinished)", "unfinished"),
        ("var(--resumed)", "succeeded before a resume"),
        ("var(--undo)", "undo"),
    ] {
        let _ = write!(
            h,
            "<li><span style=\"background:{color}\"></span>{text}</li>"
        );
    }
    h.push_str("<li><span style=\"border:1px dashed #4a5568\"></span>not run</li><li><span style=\"background:repeating-linear-gradient(45deg,#c53030 0 3px,#fff 3px 5px)\"></span>wait before a retry</li></ul>\n</section>\n");
}

fn steps(h: &mut String, r: &RunRecord) {
    h.push_str("<section id=\"steps\">\n<h2>Steps</h2>\n<table class=\"steps\">\n<thead><tr><th>step</th><th>action</th><th>cluster</th><th class=\"num\">attempts</th><th class=\"num\">start</th><th class=\"num\">duration</th><th>state</th><th>outputs</th><th>error</th></tr></thead>\n<tbody>\n");
    for s in &r.steps {
        let title = s
            .title
            .as_ref()
            .map(|t| format!("<br><span class=\"none\">{}</span>", escape(t)))
            .unwrap_or_default();
        let start = s.start_ms.map(human_ms).unwrap_or_else(|| "—".into());
        let duration = match (s.duration_ms, s.start_ms, s.end_ms) {
            (Some(d), _, _) => human_ms(d),
            (None, Some(a), Some(b)) if s.ran() => human_ms(b.saturating_sub(a)),
            _ => "—".into(),
        };
        let _ = writeln!(
            h,
            "<tr><td><code{}>{}</code>{title}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"outputs\">{}</td><td class=\"error\">{}</td></tr>",
            if s.id.chars().count() <= ONE_LINE_ID {
                " class=\"id\""
            } else {
                ""
            },
            escape(&s.id),
            escape(&s.action),
            escape(s.cluster.as_deref().unwrap_or("—")),
            s.attempts.len(),
            escape(&start),
            escape(&duration),
            badge(s.state.class(), s.state.label()),
            outputs(s),
            step_problem(r, s)
        );
    }
    h.push_str("</tbody>\n</table>\n</section>\n");
}

/// A step's outputs as `name: value` lines.
fn outputs(s: &StepRecord) -> String {
    if s.outputs.is_empty() {
        return String::new();
    }
    let lines: Vec<String> = s
        .outputs
        .iter()
        .map(|(k, v)| {
            let text = match v {
                OutputValue::Str(t) => t.clone(),
                OutputValue::Map(m) => m
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            format!("{k}: {}", clip(&text, KEEP))
        })
        .collect();
    format!("<pre>{}</pre>", escape(&lines.join("\n")))
}

/// What went wrong with a step (or why it did not run), for the steps table.
fn step_problem(r: &RunRecord, s: &StepRecord) -> String {
    let mut parts = Vec::new();
    if let Some(e) = &s.error {
        parts.push(escape(&clip(e, KEEP)));
    }
    if let Some(why) = &s.reason {
        parts.push(format!("<span class=\"none\">{}</span>", escape(why)));
    }
    let retries = s.retries().count();
    if retries > 0 {
        parts.push(format!(
            "<span class=\"none\">retried {retries} time{}</span>",
            if retries == 1 { "" } else { "s" }
        ));
    }
    if let Some(u) = &s.undo {
        parts.push(match &u.error {
            Some(e) => format!("undo ({}) failed: {}", escape(&u.action), escape(e)),
            None => format!(
                "<span class=\"none\">undone ({}) in {}</span>",
                escape(&u.action),
                escape(&human_ms(u.duration_ms.unwrap_or(0)))
            ),
        });
    }
    match s.state {
        StepState::Unfinished => parts.push("interrupted before it finished".into()),
        StepState::NotRun if r.interruption.is_some() => {
            parts.push("<span class=\"none\">the run was interrupted first</span>".into());
        }
        _ => {}
    }
    parts.join("<br>")
}

fn kinds(h: &mut String, r: &RunRecord) {
    let tables: Vec<(&StepRecord, Vec<super::record::KindRow>)> = r
        .steps
        .iter()
        .map(|s| (s, s.kind_rows()))
        .filter(|(_, rows)| !rows.is_empty())
        .collect();
    if tables.is_empty() {
        return;
    }
    h.push_str("<section id=\"kinds\">\n<h2>Objects per kind</h2>\n");
    for (s, rows) in tables {
        let (done, failed) = match (s.action.as_str(), r.dry_run) {
            ("backup", _) => ("backed up", "failed"),
            (_, true) => ("would be restored", "rejected"),
            _ => ("restored", "failed"),
        };
        let _ = writeln!(
            h,
            "<h3><code>{}</code> ({})</h3>\n<table>\n<thead><tr><th>kind</th><th class=\"num\">{done}</th><th class=\"num\">skipped</th><th class=\"num\">{failed}</th></tr></thead>\n<tbody>",
            escape(&s.id),
            escape(&s.action)
        );
        let (mut t_done, mut t_skipped, mut t_failed) = (0, 0, 0);
        for row in &rows {
            t_done += row.done;
            t_skipped += row.skipped;
            t_failed += row.failed;
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&row.kind),
                row.done,
                row.skipped,
                row.failed
            );
        }
        let _ = writeln!(
            h,
            "<tr><th>all kinds</th><th class=\"num\">{t_done}</th><th class=\"num\">{t_skipped}</th><th class=\"num\">{t_failed}</th></tr>\n</tbody>\n</table>"
        );
    }
    h.push_str("<p class=\"none\">Skipped counts are per kind in dry runs; otherwise the step's <code>skipped</code> output has the total.</p>\n</section>\n");
}

fn errors(h: &mut String, r: &RunRecord) {
    let mut items: Vec<String> = Vec::new();
    for s in &r.steps {
        let id = escape(&s.id);
        for a in s.retries() {
            items.push(format!(
                "<code>{id}</code> attempt {} (retried): {}",
                a.number,
                escape(&clip(a.error.as_deref().unwrap_or(""), KEEP))
            ));
        }
        if let Some(e) = &s.error {
            items.push(format!(
                "<code>{id}</code> failed: {}",
                escape(&clip(e, KEEP))
            ));
        }
        if let Some(e) = s.undo.as_ref().and_then(|u| u.error.as_ref()) {
            items.push(format!("<code>{id}</code> undo failed: {}", escape(e)));
        }
        for w in &s.warnings {
            items.push(format!(
                "<code>{id}</code> warning: {}",
                escape(&clip(w, KEEP))
            ));
        }
        for f in &s.object_failures {
            items.push(format!(
                "<code>{id}</code> {} {}: {}",
                escape(&f.kind),
                escape(&f.name),
                escape(&f.reason)
            ));
        }
        for d in &s.drift {
            items.push(format!(
                "<code>{id}</code> drift: {} {} {}",
                escape(&d.kind),
                escape(&d.name),
                escape(&d.reason)
            ));
        }
        if s.drift_count > s.drift.len() as u64 {
            items.push(format!(
                "<code>{id}</code>: {} more objects with drift (the first {} are listed)",
                s.drift_count - s.drift.len() as u64,
                s.drift.len()
            ));
        }
        let kept = s.object_failures.len() as u64;
        let all: u64 = s.objects.values().map(|c| c.failed).sum();
        if all > kept {
            items.push(format!(
                "<code>{id}</code>: {} more failed objects (the first {kept} are listed)",
                all - kept
            ));
        }
    }
    if let Some(e) = r
        .interruption
        .as_ref()
        .and_then(|i| i.journal_error.as_ref())
    {
        items.push(format!(
            "the journal could not record everything: {}",
            escape(e)
        ));
    }
    h.push_str("<section id=\"errors\">\n<h2>Errors</h2>\n");
    if items.is_empty() {
        h.push_str("<p class=\"none\">None.</p>\n");
    } else {
        h.push_str("<ul class=\"errors\">\n");
        for i in items {
            let _ = writeln!(h, "<li>{i}</li>");
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}
