//! The step timeline of the HTML report: an inline SVG Gantt chart with one bar per
//! step from its start to its end, colored by state (the CSS in `html.rs` holds the
//! colors), failed attempts and the waits before retries drawn over the bar, each undo
//! as a second bar on its step's row, the rollback and the RTO target as vertical
//! lines, and a time axis. Hovering a bar shows its details (SVG `<title>`).

use std::fmt::Write;

use super::record::{RunRecord, StepRecord, StepState};
use super::{escape, human_ms};

const WIDTH: u64 = 960;
const LABELS: u64 = 180;
const RIGHT: u64 = 24;
const TOP: u64 = 30;
const ROW: u64 = 24;
const BAR: u64 = 14;
const BOTTOM: u64 = 16;
/// Step ids longer than this are shortened in the label column (the title has all).
const LABEL_CHARS: usize = 24;

/// The colors of the report (the HTML's CSS uses the same). The chart sets them as
/// attributes, so it looks the same wherever it is drawn (browsers, print renderers,
/// an SVG copied out of the page).
pub const OK: &str = "#2f855a";
pub const FAIL: &str = "#c53030";
pub const SKIP: &str = "#a0aec0";
pub const UNFINISHED: &str = "#dd6b20";
pub const RESUMED: &str = "#3182ce";
pub const UNDO: &str = "#805ad5";
pub const INK: &str = "#1a202c";
pub const MUTED: &str = "#4a5568";
pub const LINE: &str = "#e2e8f0";
pub const BG: &str = "#f7fafc";

/// The fill of a step's bar.
fn fill(state: StepState) -> &'static str {
    match state {
        // An undone step succeeded; its undo is its own bar.
        StepState::Succeeded | StepState::Undone | StepState::UndoFailed => OK,
        StepState::Failed => FAIL,
        StepState::Skipped => SKIP,
        StepState::Unfinished => UNFINISHED,
        StepState::Resumed => RESUMED,
        StepState::NotRun => "#ffffff",
    }
}

/// Axis steps that read well, in milliseconds.
const TICKS: &[u64] = &[
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000,
    120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000,
    43_200_000, 86_400_000,
];
/// At most this many intervals on the axis.
const MAX_TICKS: u64 = 8;
const DAY: u64 = 86_400_000;

/// The time axis of a chart showing `total` milliseconds: the interval between ticks
/// (a round value from `TICKS`, or whole days) and where the axis ends, the first
/// tick at or after `total`. The axis ends on a tick, so the bars fill the plot but
/// for at most part of one interval, and the last label marks its right edge.
fn axis(total: u64) -> (u64, u64) {
    let total = total.max(1);
    let tick = TICKS
        .iter()
        .copied()
        .find(|&t| t.saturating_mul(MAX_TICKS) >= total)
        .unwrap_or_else(|| total.div_ceil(MAX_TICKS).div_ceil(DAY).saturating_mul(DAY));
    (tick, total.div_ceil(tick).saturating_mul(tick))
}

/// The ticks of an axis ending at `end` every `tick` ms, with their labels (`0`,
/// `500ms`, `1s`, `1.5s`, ...).
fn ticks(tick: u64, end: u64) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let mut t = 0;
    while t <= end {
        out.push((t, if t == 0 { "0".into() } else { human_ms(t) }));
        match t.checked_add(tick) {
            Some(next) => t = next,
            None => break,
        }
    }
    out
}

/// The chart of a run.
pub fn render(record: &RunRecord) -> String {
    let span = record.span_ms().max(1);
    // The RTO target is drawn when it fits without squashing the bars.
    let rto = record
        .objectives
        .iter()
        .find(|o| o.name == "rto")
        .map(|o| o.target_ms)
        .filter(|&t| t <= span.saturating_mul(2));
    let (tick, total) = axis(rto.map_or(span, |t| span.max(t)));
    let plot = WIDTH - LABELS - RIGHT;
    let x =
        |ms: u64| -> f64 { LABELS as f64 + (ms.min(total) as f64 / total as f64) * plot as f64 };
    let rows = record.steps.len() as u64;
    let height = TOP + rows * ROW + BOTTOM;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {height}\" width=\"100%\" font-size=\"11\" role=\"img\" aria-label=\"timeline of the run's steps\" preserveAspectRatio=\"xMinYMin meet\">"
    );
    s.push_str(
        "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#ffffff\" stroke-width=\"3\" stroke-opacity=\"0.75\"/></pattern></defs>\n",
    );
    // Row stripes and labels.
    for (i, step) in record.steps.iter().enumerate() {
        let y = TOP + i as u64 * ROW;
        if i % 2 == 0 {
            let _ = writeln!(
                s,
                "<rect class=\"stripe\" x=\"0\" y=\"{y}\" width=\"{WIDTH}\" height=\"{ROW}\" fill=\"{BG}\"/>"
            );
        }
        let _ = writeln!(
            s,
            "<text class=\"label\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{INK}\">{}<title>{}</title></text>",
            LABELS - 8,
            y + ROW / 2 + 4,
            escape(&shorten(&step.id)),
            escape(&step.id)
        );
    }
    // The time axis and its grid: one sharp line a tick.
    for (t, label) in ticks(tick, total) {
        let tx = x(t);
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{tx:.1}\" y1=\"{}\" x2=\"{tx:.1}\" y2=\"{}\" stroke=\"{LINE}\" shape-rendering=\"crispEdges\" vector-effect=\"non-scaling-stroke\"/><text class=\"tick\" x=\"{tx:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"{MUTED}\">{}</text>",
            TOP - 6,
            TOP + rows * ROW,
            TOP - 10,
            escape(&label)
        );
    }
    // Lines across every row: the rollback, the RTO target.
    let across = |s: &mut String, class: &str, color: &str, ms: u64, text: &str| {
        let lx = x(ms);
        // Near the right edge the label goes left of its line.
        let (tx, anchor) = if lx > (WIDTH - 90) as f64 {
            (lx - 3.0, "end")
        } else {
            (lx + 3.0, "start")
        };
        let _ = writeln!(
            s,
            "<line class=\"{class}\" x1=\"{lx:.1}\" y1=\"{}\" x2=\"{lx:.1}\" y2=\"{}\" stroke=\"{color}\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/><text class=\"{class}-label\" x=\"{tx:.1}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"{color}\">{}</text>",
            TOP - 4,
            TOP + rows * ROW,
            TOP + rows * ROW + BOTTOM - 3,
            escape(text)
        );
    };
    if let Some(r) = &record.rollback {
        across(&mut s, "rollback", UNDO, r.at_ms, "rollback");
    }
    if let Some(t) = rto {
        across(&mut s, "rto", FAIL, t, &format!("RTO {}", human_ms(t)));
    }
    for (i, step) in record.steps.iter().enumerate() {
        let y = TOP + i as u64 * ROW + (ROW - BAR) / 2;
        bars(&mut s, record, step, y, &x);
    }
    s.push_str("</svg>\n");
    s
}

/// The bar of one step, with its retries and its undo.
fn bars(s: &mut String, record: &RunRecord, step: &StepRecord, y: u64, x: &dyn Fn(u64) -> f64) {
    let (start, end) = match (step.start_ms, step.end_ms) {
        (Some(a), Some(b)) => (a, b.max(a)),
        (Some(a), None) => (a, record.duration_ms.max(a)),
        // Never reached: a dashed mark where the run ended.
        _ => (record.duration_ms, record.duration_ms),
    };
    let (x0, x1) = (x(start), x(end));
    let width = (x1 - x0).max(3.0);
    let mut title = format!("{} ({}): {}", step.id, step.action, step.state.label());
    if step.start_ms.is_some() {
        let _ = write!(
            title,
            ", from {} to {} ({})",
            human_ms(start),
            human_ms(end),
            human_ms(end - start)
        );
    }
    if step.attempts.len() > 1 {
        let _ = write!(title, ", {} attempts", step.attempts.len());
    }
    if let Some(e) = &step.error {
        let _ = write!(title, "\n{e}");
    }
    if let Some(r) = &step.reason {
        let _ = write!(title, "\n{r}");
    }
    let outline = if step.state == StepState::NotRun {
        format!(" stroke=\"{MUTED}\" stroke-dasharray=\"2 2\"")
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "<rect class=\"bar s-{}\" x=\"{x0:.1}\" y=\"{y}\" width=\"{width:.1}\" height=\"{BAR}\" rx=\"2\" fill=\"{}\"{outline}><title>{}</title></rect>",
        step.state.class(),
        fill(step.state),
        escape(&super::clip(&title, 600))
    );
    // Failed attempts that were retried, and the wait before the next one.
    for a in step.retries() {
        let a_end = a.end_ms.unwrap_or(a.start_ms).max(a.start_ms);
        let (ax0, ax1) = (x(a.start_ms), x(a_end));
        let wait_end = a_end + a.backoff_ms.unwrap_or(0);
        let _ = writeln!(
            s,
            "<rect class=\"attempt-failed\" x=\"{ax0:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{FAIL}\"><title>attempt {} failed: {}</title></rect><rect class=\"backoff\" x=\"{ax1:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{BAR}\" fill=\"url(#hatch)\"><title>waiting {} before attempt {}</title></rect>",
            y + 3,
            (ax1 - ax0).max(1.5),
            BAR - 6,
            a.number,
            escape(&super::clip(a.error.as_deref().unwrap_or(""), 600)),
            (x(wait_end) - ax1).max(1.0),
            human_ms(a.backoff_ms.unwrap_or(0)),
            a.number + 1
        );
    }
    if let Some(u) = &step.undo {
        let u_end = u.end_ms.unwrap_or(u.start_ms).max(u.start_ms);
        let (ux0, ux1) = (x(u.start_ms), x(u_end));
        let (class, outline) = if u.error.is_some() {
            (
                "undo undo-error",
                format!(" stroke=\"{FAIL}\" stroke-width=\"2\""),
            )
        } else {
            ("undo", String::new())
        };
        let what = match &u.error {
            Some(e) => format!("undo of {} ({}) failed: {e}", step.id, u.action),
            None => format!(
                "undo of {} ({}) in {}",
                step.id,
                u.action,
                human_ms(u_end - u.start_ms)
            ),
        };
        let _ = writeln!(
            s,
            "<rect class=\"{class}\" x=\"{ux0:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{BAR}\" rx=\"2\" fill=\"{UNDO}\"{outline}><title>{}</title></rect>",
            (ux1 - ux0).max(3.0),
            escape(&super::clip(&what, 600))
        );
    }
    if step.state == StepState::Unfinished {
        let _ = writeln!(
            s,
            "<text class=\"mark\" x=\"{:.1}\" y=\"{}\" fill=\"{UNFINISHED}\">interrupted</text>",
            x0 + width + 4.0,
            y + BAR - 3
        );
    }
}

/// A step id short enough for the label column.
fn shorten(id: &str) -> String {
    if id.chars().count() <= LABEL_CHARS {
        id.to_string()
    } else {
        let head: String = id.chars().take(LABEL_CHARS - 1).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_axis_ends_on_a_round_tick_just_past_the_run() {
        assert_eq!(axis(0), (1, 1));
        assert_eq!(axis(1_234), (200, 1_400));
        assert_eq!(axis(1_600), (200, 1_600));
        assert_eq!(axis(801), (200, 1_000));
        assert_eq!(axis(95_000), (15_000, 105_000));
        assert_eq!(axis(200_000), (30_000, 210_000));
        assert_eq!(axis(15 * 60_000), (120_000, 960_000));
        // Past the table: whole days.
        assert_eq!(axis(20 * DAY), (3 * DAY, 21 * DAY));
        // Whatever the run, the bars fill most of the axis.
        for total in (1..200_000).step_by(997).chain([u64::MAX / 2]) {
            let (tick, end) = axis(total);
            assert!(end >= total && end - total < tick, "{total}: {tick} {end}");
            assert!(end / tick <= MAX_TICKS, "{total}: {tick} {end}");
            assert!(total as f64 / end as f64 > 0.6, "{total}: {tick} {end}");
        }
    }

    #[test]
    fn tick_labels_read_as_people_write_durations() {
        let labels = |total| {
            let (tick, end) = axis(total);
            ticks(tick, end)
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(labels(1_234), "0 200ms 400ms 600ms 800ms 1s 1.2s 1.4s");
        assert_eq!(labels(3_300), "0 500ms 1s 1.5s 2s 2.5s 3s 3.5s");
        assert_eq!(labels(95_000), "0 15s 30s 45s 1m 1m15s 1m30s 1m45s");
        assert_eq!(labels(4_000_000), "0 10m 20m 30m 40m 50m 1h 1h10m");
    }
}
