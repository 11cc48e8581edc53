//! Expressions and the references in them: every `${{ }}` of a step parsed, and each
//! reference checked (a param that exists, an output of a step that surely ran before,
//! a known run field), with the error placed on the reference inside its string.

use super::Checker;
use crate::actions;
use crate::runbook::diagnostic::{Loc, did_you_mean};
use crate::runbook::expr::{self, ExprError, RUN_FIELDS, Reference};
use crate::runbook::graph::StepSet;
use crate::runbook::model::Step;
use crate::runbook::node::Node;

impl Checker<'_> {
    /// Checks every `${{ }}` in the step's inputs, undo, name and description, and its
    /// `if:` condition.
    pub(super) fn step_expressions(&mut self, index: usize, step: &Step, before: &StepSet) {
        // (text, where, whether it belongs to the undo, which sees the step's own outputs)
        let mut strings: Vec<(&str, Loc, bool)> = Vec::new();
        step.with_node
            .visit_strings(&mut |s, loc| strings.push((s, loc, false)));
        if let Some(undo) = &step.undo {
            undo.with_node
                .visit_strings(&mut |s, loc| strings.push((s, loc, true)));
        }
        for text in [&step.head.name, &step.head.description]
            .into_iter()
            .flatten()
        {
            strings.push((&text.value, text.loc, false));
        }
        // `timeout` and `retry` written as expressions.
        let retry = step.head.retry.as_ref();
        let durations = [
            step.head.timeout.as_ref(),
            retry.and_then(|r| r.backoff.as_ref()),
        ];
        for field in durations.into_iter().flatten() {
            if let Some(text) = field.value.expr() {
                strings.push((text, field.loc, false));
            }
        }
        if let Some(a) = retry
            && let Some(text) = a.attempts.value.expr()
        {
            strings.push((text, a.attempts.loc, false));
        }
        for (text, loc, in_undo) in strings {
            if !text.contains("${{") {
                continue;
            }
            let (segments, errors) = expr::parse_template_all(text);
            for e in errors {
                self.expr_error(loc, text, e);
            }
            for seg in segments {
                if let expr::Segment::Expr { expr, .. } = seg {
                    for r in expr.references() {
                        let at = self.loc_in_string(loc, text, r.offset);
                        self.reference(index, step, before, in_undo, &r.reference, at);
                    }
                }
            }
        }
        if let Some(cond) = &step.head.condition {
            match expr::parse_condition(&cond.value) {
                Ok(e) => {
                    for r in e.references() {
                        let at = self.loc_in_string(cond.loc, &cond.value, r.offset);
                        self.reference(index, step, before, false, &r.reference, at);
                    }
                }
                Err(e) => self.expr_error(cond.loc, &cond.value, e),
            }
        }
    }

    fn expr_error(&mut self, loc: Loc, text: &str, e: ExprError) {
        let at = self.loc_in_string(loc, text, e.offset);
        self.error(at, format!("invalid expression: {}", e.message), e.hint);
    }

    /// Checks one reference; `before` holds the steps that surely ran before this one,
    /// and `own` says whether the step's own outputs are visible (in its undo).
    fn reference(
        &mut self,
        index: usize,
        step: &Step,
        before: &StepSet,
        own: bool,
        r: &Reference,
        at: Loc,
    ) {
        let rb = self.runbook;
        match r {
            Reference::Param(p) => {
                if rb.params.get(p).is_none() && !self.broken.params.contains(p) {
                    self.error(
                        at,
                        format!("unknown param `{p}`"),
                        Some(did_you_mean(p, "params", rb.params.names())),
                    );
                }
            }
            Reference::Run(field) => {
                if !RUN_FIELDS.contains(&field.as_str()) {
                    self.error(
                        at,
                        format!("unknown run field `run.{field}`"),
                        Some(did_you_mean(
                            field,
                            "run fields",
                            RUN_FIELDS.iter().copied(),
                        )),
                    );
                }
            }
            Reference::Env(_) => {}
            Reference::Output {
                step: producer,
                output,
                key,
            } => {
                if self.broken.steps.contains(producer) {
                    return;
                }
                let Some((pi, ps)) = self
                    .step_index
                    .get(producer.as_str())
                    .map(|&i| (i, &rb.steps[i]))
                else {
                    let ids = rb.steps.iter().map(|s| s.head.id.value.0.as_str());
                    self.error(
                        at,
                        format!("unknown step `{producer}`"),
                        Some(did_you_mean(producer, "steps", ids)),
                    );
                    return;
                };
                let Some(action) = actions::find(&ps.head.uses.value) else {
                    return;
                };
                let Some(out) = action.output(output) else {
                    let names = action.outputs.iter().map(|o| o.name);
                    let hint = if action.outputs.is_empty() {
                        format!("`{}` records no outputs", action.name)
                    } else {
                        did_you_mean(output, &format!("outputs of `{}`", action.name), names)
                    };
                    self.error(
                        at,
                        format!("step `{producer}` has no output `{output}`"),
                        Some(hint),
                    );
                    return;
                };
                if key.is_some() && !out.map {
                    self.error(
                        at,
                        format!(
                            "output `{output}` of step `{producer}` is a single value, not a map"
                        ),
                        Some(format!("use `steps.{producer}.outputs.{output}`")),
                    );
                }
                if pi == index && !own {
                    self.error(
                        at,
                        format!("step `{producer}` reads its own output `{output}`"),
                        Some("a step's outputs exist only after it has run".into()),
                    );
                } else if pi != index && !before.contains(pi) {
                    self.error(
                        at,
                        format!("step `{}` reads `steps.{producer}.outputs.{output}` but does not run after `{producer}`", step.head.id.value),
                        Some(format!("add `{producer}` to this step's `needs:` (directly or through a step it needs)")),
                    );
                }
            }
        }
    }

    /// Expressions are resolved in steps only.
    pub(super) fn expressions_outside_steps(&mut self, root: &Node) {
        let Some(entries) = root.as_map() else { return };
        let mut found: Vec<Loc> = Vec::new();
        for (key, value) in entries {
            if key.as_str() != Some("steps") {
                value.visit_strings(&mut |s, loc| {
                    if s.contains("${{") {
                        found.push(loc);
                    }
                });
            }
        }
        for loc in found {
            self.error(
                loc,
                "expressions are only resolved inside steps",
                Some("write the value itself here, or pass it with a param used in a step".into()),
            );
        }
    }

    /// The position of character `offset` of a string scalar that starts at `loc`.
    /// Exact when the text before `offset` stands in the file as it is (one-line plain
    /// or quoted scalars without escapes); otherwise the scalar's own start.
    fn loc_in_string(&self, loc: Loc, value: &str, offset: usize) -> Loc {
        let Some(line) = self.lines.get(loc.line.saturating_sub(1) as usize) else {
            return loc;
        };
        let start = loc.col.saturating_sub(1) as usize;
        let shift = match line.chars().nth(start) {
            Some('"') | Some('\'') => 1,
            _ => 0,
        };
        let written = line.chars().skip(start + shift);
        let prefix = value.chars().take(offset);
        let same = written.zip(prefix.clone()).filter(|(a, b)| a == b).count() == offset
            && prefix.count() == offset;
        if !same {
            return loc;
        }
        let col = start + 1 + shift + offset;
        Loc::new(loc.line, u32::try_from(col).unwrap_or(loc.col))
    }
}
