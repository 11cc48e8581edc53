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

/// A duration for people: `450ms`, `12.3s`, `4m05s`, `1h02m`.
pub fn human_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// A duration as runbooks write it (`1h`, `5m`, `1s500ms`): how objectives are shown.
pub fn runbook_ms(ms: u64) -> String {
    crate::runbook::model::Duration(std::time::Duration::from_millis(ms)).to_string()
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
    fn durations_read_well() {
        assert_eq!(human_ms(450), "450ms");
        assert_eq!(human_ms(12_345), "12.3s");
        assert_eq!(human_ms(245_000), "4m05s");
        assert_eq!(human_ms(3_720_000), "1h02m");
        assert_eq!(seconds(1234), "1.234");
        assert_eq!(seconds(5), "0.005");
        assert_eq!(runbook_ms(300_000), "5m");
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
