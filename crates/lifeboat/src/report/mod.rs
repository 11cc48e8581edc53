//! Reports of a run for people, CI and monitoring: `run --junit FILE.xml` (one testcase
//! per step and per objective), `run --report FILE.html` (a self-contained drill report
//! with an SVG timeline) and `run --metrics-file FILE` / `--pushgateway URL`
//! (Prometheus text format, `metrics.rs`). One more consumer of the engine's event stream: `RunRecorder`
//! records the run as it happens (`record.rs`), `junit.rs` and `html.rs` render the
//! record (`timeline.rs` draws the Gantt chart), `files.rs` checks the paths before the
//! run starts and writes the files atomically at its end. docs/report.md describes
//! what the files hold.

pub mod files;
pub mod html;
pub mod junit;
pub mod metrics;
pub mod record;
pub mod recorder;
mod timeline;
#[cfg(feature = "otlp")]
pub mod traces;

pub use files::{ReportFile, ReportKind};
pub use metrics::Pushgateway;
pub use record::{RunRecord, StepRecord, StepState};
pub use recorder::RunRecorder;

/// Text for XML or HTML, in content or in a quoted attribute: `& < > " '` become
/// entities, and characters XML 1.0 does not allow (most control characters; also the
/// C1 controls, which HTML rejects) become U+FFFD. A carriage return is kept as a
/// character reference (a parser would turn a raw one into a line feed).
pub fn escape(text: &str) -> String {
    escape_with(text, false)
}

/// Like `escape`, for attribute values whose line breaks and tabs must survive (an XML
/// parser turns raw ones into spaces): they become character references.
pub fn escape_attr(text: &str) -> String {
    escape_with(text, true)
}

fn escape_with(text: &str, attr: bool) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attr => out.push_str("&#10;"),
            '\t' if attr => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}' => {
                out.push('\u{fffd}');
            }
            c => out.push(c),
        }
    }
    out
}

/// A duration as people write it: `850ms`, `1.5s`, `12s`, `3m20s`, `1h5m`, `2d3h`.
/// Under a second, whole milliseconds; under a minute, seconds with at most one
/// decimal (`.0` dropped); under an hour, minutes and whole seconds; under a day, hours
/// and whole minutes; then days and whole hours. Each is rounded to its precision, and
/// a value that rounds up to the next unit is written in it (59.96 s is `1m`). Zero
/// parts are left out (`3m`, `2h`). The terminal's lines, the HTML report (its axis
/// and tables) and the JUnit messages all write durations with it; runbooks' own
/// spelling (`1s500ms`, exact) stays in `runbook::model::Duration` for what is read
/// back.
pub fn human_duration(d: std::time::Duration) -> String {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    // Rounded to a unit of `size`, half up.
    let round = |size: u64| ms / size + u64::from(ms % size >= size / 2);
    let pair = |big: u64, big_unit: &str, small: u64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let tenths = round(100);
    if tenths < 600 {
        return match tenths % 10 {
            0 => format!("{}s", tenths / 10),
            t => format!("{}.{t}s", tenths / 10),
        };
    }
    let secs = round(1_000);
    if secs < 3_600 {
        return pair(secs / 60, "m", secs % 60, "s");
    }
    let mins = round(60_000);
    if mins < 1_440 {
        return pair(mins / 60, "h", mins % 60, "m");
    }
    let hours = round(3_600_000);
    pair(hours / 24, "d", hours % 24, "h")
}

/// `human_duration` of a number of milliseconds (what records and events hold).
pub fn human_ms(ms: u64) -> String {
    human_duration(std::time::Duration::from_millis(ms))
}

/// Seconds with millisecond precision (`1.234`), as JUnit's `time` attributes want.
pub fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// At most `max` characters of `text`, saying how much was left out.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!(
            "{}… ({} more bytes; the journal and `--output json` have it all)",
            &text[..cut],
            text.len() - cut
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_quotes_and_characters_xml_forbids() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
        assert_eq!(
            escape("bell\u{7}\u{1b}[31mred\u{85}"),
            "bell\u{fffd}\u{fffd}[31mred\u{fffd}"
        );
        assert_eq!(escape("two\nlines\tand\r"), "two\nlines\tand&#13;");
        assert_eq!(escape_attr("two\nlines\tx"), "two&#10;lines&#9;x");
        assert_eq!(escape("already &amp; escaped"), "already &amp;amp; escaped");
        assert_eq!(escape("ünïcødé ✓ 😀"), "ünïcødé ✓ 😀");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            (0, "0ms"),
            (7, "7ms"),
            (850, "850ms"),
            (999, "999ms"),
            (1_000, "1s"),
            (1_049, "1s"),
            (1_050, "1.1s"),
            (1_500, "1.5s"),
            (12_000, "12s"),
            (12_345, "12.3s"),
            (59_949, "59.9s"),
            // Rounds up to a minute: written in minutes, not `60s`.
            (59_950, "1m"),
            (60_000, "1m"),
            (90_000, "1m30s"),
            (200_000, "3m20s"),
            (245_000, "4m5s"),
            (245_499, "4m5s"),
            (245_500, "4m6s"),
            (900_000, "15m"),
            (3_599_499, "59m59s"),
            (3_599_500, "1h"),
            (3_720_000, "1h2m"),
            (3_900_000, "1h5m"),
            (13_136_000, "3h39m"),
            (7_200_000, "2h"),
            (86_370_000, "1d"),
            (86_400_000, "1d"),
            (97_200_000, "1d3h"),
            (u64::MAX, "213503982334d14h"),
        ];
        for (ms, text) in cases {
            assert_eq!(human_ms(ms), text, "{ms} ms");
        }
        assert_eq!(
            human_duration(std::time::Duration::from_micros(1_500_400)),
            "1.5s"
        );
        assert_eq!(seconds(1234), "1.234");
        assert_eq!(seconds(5), "0.005");
    }

    #[test]
    fn clipping_keeps_whole_characters() {
        assert_eq!(clip("short", 10), "short");
        let long = "é".repeat(12);
        let clipped = clip(&long, 10);
        assert!(clipped.starts_with(&"é".repeat(10)), "{clipped}");
        assert!(clipped.contains("4 more bytes"), "{clipped}");
    }
}
