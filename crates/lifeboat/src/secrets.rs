//! Keeping secret values out of everything a run shows or stores. The values of params
//! marked `secret: true` are replaced wherever they appear in text: step errors,
//! outputs, skip reasons, object results, checkpoints, undo states. `MaskedEvents` puts
//! a mask in front of every consumer of the event stream (the lines, `--output json`,
//! progress bars, reports, logs: `plan::MASK`), so no consumer has to remember it. The
//! journal gets a mask that names the param instead (`${{ params.NAME }}`): it still
//! never holds the value, and a resume, given the value again with `--set`, puts it
//! back (`reveal`), so later steps get what they would have got without the
//! interruption.

use std::sync::Arc;

use crate::events::{Event, EventSink, OutputValue, Outputs};
use crate::plan::MASK;
use crate::runbook::Loaded;

/// The secret values of one run and what replaces each, longest value first (a secret
/// that contains another is masked whole).
#[derive(Clone, Debug, Default)]
pub struct SecretMask(Vec<(String, String)>);

impl SecretMask {
    /// The values of `loaded`'s secret params (empty values mask nothing), each
    /// replaced by `plan::MASK`; also as they look inside JSON text (escaped), for
    /// log lines.
    pub fn of(loaded: &Loaded) -> SecretMask {
        SecretMask::with(loaded, |_| MASK.to_string())
    }

    /// For the journal: each value replaced by `${{ params.NAME }}`, which `reveal`
    /// turns back into the value on resume.
    pub fn for_journal(loaded: &Loaded) -> SecretMask {
        SecretMask::with(loaded, reference)
    }

    fn with(loaded: &Loaded, replacement: impl Fn(&str) -> String) -> SecretMask {
        let mut values: Vec<(String, String)> = Vec::new();
        for p in loaded
            .params
            .iter()
            .filter(|p| p.secret && !p.value.is_empty())
        {
            let by = replacement(&p.name);
            values.push((p.value.clone(), by.clone()));
            let escaped = serde_json::to_string(&p.value).unwrap_or_default();
            let escaped = escaped.trim_matches('"');
            if escaped != p.value {
                values.push((escaped.to_string(), by));
            }
        }
        values.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        values.dedup_by(|a, b| a.0 == b.0);
        SecretMask(values)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `text` with every secret value replaced.
    pub fn text(&self, text: &str) -> String {
        self.0.iter().fold(text.to_string(), |t, (value, by)| {
            t.replace(value.as_str(), by)
        })
    }

    /// Undoes `for_journal` in `text`: each `${{ params.NAME }}` of a secret param back
    /// to its value.
    pub fn reveal(loaded: &Loaded, text: &str) -> String {
        loaded
            .params
            .iter()
            .filter(|p| p.secret && !p.value.is_empty())
            .fold(text.to_string(), |t, p| {
                t.replace(&reference(&p.name), &p.value)
            })
    }

    /// `reveal` through every string of a JSON value.
    pub fn reveal_json(loaded: &Loaded, value: &mut serde_json::Value) {
        match value {
            serde_json::Value::String(s) => *s = SecretMask::reveal(loaded, s),
            serde_json::Value::Array(items) => {
                for v in items {
                    SecretMask::reveal_json(loaded, v);
                }
            }
            serde_json::Value::Object(m) => {
                for v in m.values_mut() {
                    SecretMask::reveal_json(loaded, v);
                }
            }
            _ => {}
        }
    }

    /// `reveal` through outputs.
    pub fn reveal_outputs(loaded: &Loaded, outputs: &Outputs) -> Outputs {
        outputs
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    OutputValue::Str(s) => OutputValue::Str(SecretMask::reveal(loaded, s)),
                    OutputValue::Map(m) => OutputValue::Map(
                        m.iter()
                            .map(|(k, v)| (k.clone(), SecretMask::reveal(loaded, v)))
                            .collect(),
                    ),
                };
                (k.clone(), v)
            })
            .collect()
    }

    fn text_in_place(&self, text: &mut String) {
        if self.0.iter().any(|(s, _)| text.contains(s.as_str())) {
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
            Event::StepSucceeded {
                outputs,
                undo_state,
                ..
            } => {
                *outputs = self.outputs(outputs);
                if let Some(state) = undo_state {
                    self.json_in_place(state);
                }
            }
            Event::StepResumed { outputs, .. } => *outputs = self.outputs(outputs),
            Event::StepFailed { error, .. }
            | Event::StepRetrying { error, .. }
            | Event::StepWarning { message: error, .. } => {
                self.text_in_place(error);
            }
            Event::StepUndone { error, .. } => {
                if let Some(error) = error {
                    self.text_in_place(error);
                }
            }
            Event::StepSkipped { reason, .. } => self.text_in_place(reason),
            Event::ObjectResult {
                name,
                reason,
                changes,
                ..
            } => {
                self.text_in_place(name);
                if let Some(reason) = reason {
                    self.text_in_place(reason);
                }
                for change in changes {
                    self.text_in_place(change);
                }
            }
            Event::ObjectDrift { name, fields, .. } => {
                self.text_in_place(name);
                for field in fields {
                    self.text_in_place(field);
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

/// How the journal names a secret param's value.
fn reference(name: &str) -> String {
    format!("${{{{ params.{name} }}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(values: &[&str]) -> SecretMask {
        let mut v: Vec<(String, String)> = values
            .iter()
            .map(|s| (s.to_string(), MASK.to_string()))
            .collect();
        v.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
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

    #[test]
    fn the_journal_names_the_param_and_a_resume_puts_the_value_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let rb = dir.path().join("rb.yaml");
        let text = "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: s }\nparams:\n  token: { secret: true }\nsteps:\n  - { id: a, uses: sleep, with: { duration: 1ms } }\n";
        std::fs::write(&rb, text).unwrap_or_else(|e| panic!("{e}"));
        let loaded = crate::runbook::load(&rb, &[("token".into(), "p\"w".into())])
            .unwrap_or_else(|e| panic!("{e}"));
        let journal = SecretMask::for_journal(&loaded);
        let stored = journal.text("url=https://x/?t=p\"w");
        assert_eq!(stored, "url=https://x/?t=${{ params.token }}");
        assert_eq!(
            SecretMask::reveal(&loaded, &stored),
            "url=https://x/?t=p\"w"
        );
        // Inside JSON text the value is escaped; it is masked there too.
        assert_eq!(
            SecretMask::of(&loaded).text(r#"{"t":"p\"w"}"#),
            r#"{"t":"********"}"#
        );
    }
}
