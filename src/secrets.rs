//! Keeping secret values out of everything a run shows or stores. The values of params
//! marked `secret: true` are replaced by `plan::MASK` wherever they appear in text:
//! step errors, outputs, skip reasons, object results. `MaskedEvents` puts the mask
//! in front of every consumer of the event stream (the lines, `--output json`, the
//! journal, progress bars, reports), so no consumer has to remember it.

use std::sync::Arc;

use crate::engine::events::{Event, EventSink, OutputValue, Outputs};
use crate::plan::MASK;
use crate::runbook::Loaded;

/// The secret values of one run, longest first (a secret that contains another is
/// masked whole).
#[derive(Clone, Debug, Default)]
pub struct SecretMask(Vec<String>);

impl SecretMask {
    /// The values of `loaded`'s secret params (empty values mask nothing).
    pub fn of(loaded: &Loaded) -> SecretMask {
        let mut values: Vec<String> = loaded
            .params
            .iter()
            .filter(|p| p.secret && !p.value.is_empty())
            .map(|p| p.value.clone())
            .collect();
        values.sort_by_key(|s| std::cmp::Reverse(s.len()));
        values.dedup();
        SecretMask(values)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every secret value replaced by the mask.
    pub fn text(&self, text: &str) -> String {
        self.0
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), MASK))
    }

    fn text_in_place(&self, text: &mut String) {
        if self.0.iter().any(|s| text.contains(s.as_str())) {
            *text = self.text(text);
        }
    }

    /// Outputs with their names and values masked.
    pub fn outputs(&self, outputs: &Outputs) -> Outputs {
        outputs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    OutputValue::Str(s) => OutputValue::Str(self.text(s)),
                    OutputValue::Map(m) => OutputValue::Map(
                        m.iter()
                            .map(|(k, v)| (self.text(k), self.text(v)))
                            .collect(),
                    ),
                };
                (self.text(k), v)
            })
            .collect()
    }

    /// The event with every text it carries masked. The match names every kind of
    /// event, so a new kind cannot be added without deciding what of it is masked.
    pub fn event(&self, event: &Event) -> Event {
        let mut e = event.clone();
        if self.is_empty() {
            return e;
        }
        match &mut e {
            Event::StepSucceeded { outputs, .. } | Event::StepResumed { outputs, .. } => {
                *outputs = self.outputs(outputs);
            }
            Event::StepFailed { error, .. } | Event::StepRetrying { error, .. } => {
                self.text_in_place(error);
            }
            Event::StepUndone { error, .. } => {
                if let Some(error) = error {
                    self.text_in_place(error);
                }
            }
            Event::StepSkipped { reason, .. } => self.text_in_place(reason),
            Event::ObjectResult { name, reason, .. } => {
                self.text_in_place(name);
                if let Some(reason) = reason {
                    self.text_in_place(reason);
                }
            }
            Event::RunInterrupted { journal_error, .. } => {
                if let Some(error) = journal_error {
                    self.text_in_place(error);
                }
            }
            Event::Checkpoint { data, .. } => self.json_in_place(data),
            // Names, ids, counts and times chosen by the runbook's author or the engine.
            Event::RunStarted { .. }
            | Event::StepStarted { .. }
            | Event::StepProgress { .. }
            | Event::RollbackStarted { .. }
            | Event::UndoStarted { .. }
            | Event::ObjectiveChecked { .. }
            | Event::RunFinished { .. } => {}
        }
        e
    }

    fn json_in_place(&self, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => self.text_in_place(s),
            serde_json::Value::Array(items) => {
                for v in items {
                    self.json_in_place(v);
                }
            }
            serde_json::Value::Object(m) => {
                for v in m.values_mut() {
                    self.json_in_place(v);
                }
            }
            _ => {}
        }
    }
}

/// A sink that masks every event before passing it on.
pub struct MaskedEvents {
    pub mask: SecretMask,
    pub inner: Arc<dyn EventSink>,
}

impl EventSink for MaskedEvents {
    fn emit(&self, event: &Event) {
        if self.mask.is_empty() {
            self.inner.emit(event);
        } else {
            self.inner.emit(&self.mask.event(event));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(values: &[&str]) -> SecretMask {
        let mut v: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        SecretMask(v)
    }

    #[test]
    fn a_secret_inside_another_is_masked_whole() {
        let m = mask(&["abc", "abcdef"]);
        assert_eq!(m.text("x abcdef y abc"), "x ******** y ********");
    }

    #[test]
    fn errors_outputs_and_reasons_are_masked() {
        let m = mask(&["s3cr3t"]);
        let failed = m.event(&Event::StepFailed {
            step: "check".into(),
            duration_ms: 1,
            error: "GET https://x/?t=s3cr3t: 500".into(),
        });
        assert!(
            matches!(failed, Event::StepFailed { error, .. } if error == "GET https://x/?t=********: 500")
        );
        let mut outputs = Outputs::new();
        outputs.insert("url".into(), OutputValue::Str("https://x/?t=s3cr3t".into()));
        let ok = m.event(&Event::StepSucceeded {
            step: "check".into(),
            duration_ms: 1,
            outputs,
            undo_state: None,
        });
        let Event::StepSucceeded { outputs, .. } = ok else {
            panic!("kind changed");
        };
        assert_eq!(
            outputs.get("url"),
            Some(&OutputValue::Str("https://x/?t=********".into()))
        );
    }
}
