//! How far a long step has got: the objects (and bytes) it has gone through, out of a
//! total when it knows one (a restore and a verify from the backup's manifest, a copy
//! from the manifest's parts), and what it is doing now (`phase`: a restore's tier, a
//! backup's resource type). A `Meter` is what backup, restore, copy and verify tell;
//! it sends `StepProgress` events at a bounded rate (every `EMIT_EVERY`, and at once
//! when the phase or the total changes), so the bars, the journal and `status --watch`
//! follow without an event per object.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::{Event, EventSink};

/// At most one progress event in this time, unless the phase or total changes.
pub const EMIT_EVERY: Duration = Duration::from_millis(200);

/// When a change is told.
#[derive(Clone, Copy)]
enum Emit {
    Now,
    /// With the next count.
    Never,
    /// When `EMIT_EVERY` passed since the last event (or none was sent yet).
    WhenDue,
}

/// A step's progress, told as it goes.
pub struct Meter {
    step: String,
    sink: Option<Arc<dyn EventSink>>,
    state: Mutex<Tally>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tally {
    objects: u64,
    bytes: u64,
    total: Option<u64>,
    phase: Option<String>,
    emitted: Option<Instant>,
}

impl Meter {
    /// A meter of `step` that tells `sink`.
    pub fn new(step: &str, sink: Arc<dyn EventSink>) -> Meter {
        Meter {
            step: step.to_string(),
            sink: Some(sink),
            state: Mutex::new(Tally::default()),
        }
    }

    /// A meter nobody reads (tests, and work outside a step).
    pub fn unread() -> Arc<Meter> {
        Arc::new(Meter {
            step: String::new(),
            sink: None,
            state: Mutex::new(Tally::default()),
        })
    }

    /// Starts a phase that goes through `total` objects when known (a restore's
    /// objects, then their read-back): counting starts again from zero. Told at once.
    pub fn begin(&self, phase: &str, total: Option<u64>) {
        self.update(Instant::now(), Emit::Now, |t| {
            t.objects = 0;
            t.bytes = 0;
            t.total = total;
            t.phase = Some(phase.to_string());
        });
    }

    /// Names what the step does now, within its phase (a tier, a resource type); the
    /// counts go on. Told with the next count.
    pub fn label(&self, phase: String) {
        self.update(Instant::now(), Emit::Never, |t| t.phase = Some(phase));
    }

    /// Counts `objects` more objects (and `bytes` more bytes moved).
    pub fn add(&self, objects: u64, bytes: u64) {
        self.add_at(Instant::now(), objects, bytes);
    }

    fn add_at(&self, now: Instant, objects: u64, bytes: u64) {
        self.update(now, Emit::WhenDue, |t| {
            t.objects += objects;
            t.bytes += bytes;
        });
    }

    /// Applies `change`, then tells the sink as `emit` says.
    fn update(&self, now: Instant, emit: Emit, change: impl FnOnce(&mut Tally)) {
        let event = {
            let Ok(mut t) = self.state.lock() else {
                return;
            };
            change(&mut t);
            let due = match emit {
                Emit::Now => true,
                Emit::Never => false,
                Emit::WhenDue => t
                    .emitted
                    .is_none_or(|last| now.duration_since(last) >= EMIT_EVERY),
            };
            if !due {
                return;
            }
            t.emitted = Some(now);
            Event::StepProgress {
                step: self.step.clone(),
                objects: t.objects,
                bytes: t.bytes,
                total: t.total,
                phase: t.phase.clone(),
            }
        };
        if let Some(sink) = &self.sink {
            sink.emit(&event);
        }
    }
}

/// A progress as told (an event, a journal record): how people read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Told {
    pub objects: u64,
    pub bytes: u64,
    pub total: Option<u64>,
    pub phase: Option<String>,
}

impl std::fmt::Display for Told {
    /// `1,234/10,000 objects, 1.2 MiB (tier 3/7 workloads)`; bytes only when some
    /// moved.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let objects = group_thousands(self.objects);
        match self.total {
            Some(total) => write!(f, "{objects}/{} objects", group_thousands(total))?,
            None => write!(f, "{objects} objects")?,
        }
        if self.bytes > 0 {
            write!(f, ", {}", indicatif::HumanBytes(self.bytes))?;
        }
        if let Some(phase) = &self.phase {
            write!(f, " ({phase})")?;
        }
        Ok(())
    }
}

/// `12345` → `12,345`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Heard(Mutex<Vec<Event>>);

    impl EventSink for Heard {
        fn emit(&self, event: &Event) {
            if let Ok(mut told) = self.0.lock() {
                told.push(event.clone());
            }
        }
    }

    fn counts(told: &Heard) -> Vec<(u64, Option<u64>, Option<String>)> {
        told.0
            .lock()
            .map(|t| {
                t.iter()
                    .filter_map(|e| match e {
                        Event::StepProgress {
                            objects,
                            total,
                            phase,
                            ..
                        } => Some((*objects, *total, phase.clone())),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1,000");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn progress_reads_as_people_say_it() {
        let told = |objects, bytes, total, phase: Option<&str>| {
            Told {
                objects,
                bytes,
                total,
                phase: phase.map(str::to_string),
            }
            .to_string()
        };
        assert_eq!(told(1234, 0, None, None), "1,234 objects");
        assert_eq!(
            told(1234, 0, Some(10_000), Some("tier 3/7 workloads")),
            "1,234/10,000 objects (tier 3/7 workloads)"
        );
        assert_eq!(
            told(5, 2048, None, Some("configmaps")),
            "5 objects, 2.00 KiB (configmaps)"
        );
    }

    #[test]
    fn counts_are_told_at_a_bounded_rate_and_a_new_phase_at_once() {
        let told = Arc::new(Heard(Mutex::new(Vec::new())));
        let meter = Meter::new("restore", told.clone());
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        meter.add_at(at(0), 1, 0); // the first count: told
        meter.add_at(at(50), 1, 0); // too soon
        meter.add_at(at(199), 1, 0); // too soon
        meter.add_at(at(200), 1, 0); // told: 4
        meter.label("tier 2/7".into()); // told with the next count
        meter.add_at(at(300), 6, 0); // too soon after 200
        meter.add_at(at(401), 0, 0); // told: 10
        meter.begin("verify", Some(10)); // at once, from zero
        assert_eq!(
            counts(&told),
            [
                (1, None, None),
                (4, None, None),
                (10, None, Some("tier 2/7".into())),
                (0, Some(10), Some("verify".into())),
            ]
        );
    }
}
