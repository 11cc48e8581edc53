//! The plan as Markdown for a pull-request comment: a summary table, a Mermaid
//! flowchart of the steps, and a table with each step's settings and inputs.

use std::fmt::Write;

use super::{Plan, PlanStep, compact};

pub fn render_markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let rb = &plan.runbook;
    let _ = writeln!(out, "### lifeboat plan: `{}`\n", rb.name);
    if let Some(d) = &rb.description {
        let _ = writeln!(out, "{}\n", cell(d));
    }
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| file | `{}` |", rb.file);
    let _ = writeln!(
        out,
        "| steps | {} in {} waves |",
        plan.steps.len(),
        plan.waves.len()
    );
    if plan.objectives.rto.is_some() || plan.objectives.rpo.is_some() {
        let _ = writeln!(
            out,
            "| objectives | RTO {}, RPO {} |",
            plan.objectives.rto.as_deref().unwrap_or("none"),
            plan.objectives.rpo.as_deref().unwrap_or("none")
        );
    }
    for p in &plan.params {
        let about = p
            .description
            .as_ref()
            .map(|d| format!(" – {}", cell(d)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| param `{}` | `{}`{}{about} |",
            p.name,
            cell(&p.value),
            if p.secret { " (secret)" } else { "" }
        );
    }
    for c in &plan.clusters {
        let what = if c.kind == "sandbox" {
            "sandbox".to_string()
        } else {
            format!("context `{}`", c.context.as_deref().unwrap_or("(current)"))
        };
        let _ = writeln!(out, "| cluster `{}` | {what} |", c.name);
    }
    for s in &plan.stores {
        let _ = writeln!(
            out,
            "| store `{}` | `{}`{} |",
            s.name,
            cell(&s.location),
            if s.encrypted { " (encrypted)" } else { "" }
        );
    }
    let _ = writeln!(out, "\n```mermaid\n{}```\n", mermaid(plan));
    let _ = writeln!(
        out,
        "| wave | step | action | cluster | if | timeout | retry | on failure | undo |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for s in &plan.steps {
        let _ = writeln!(
            out,
            "| {} | `{}` | `{}` | {} | {} | {} | {} | {} | {} |",
            s.wave,
            s.id,
            s.uses,
            s.cluster
                .as_deref()
                .map_or("–".to_string(), |c| format!("`{c}`")),
            s.condition
                .as_deref()
                .map_or("–".to_string(), |c| format!("`{}`", cell(c))),
            s.timeout.as_deref().unwrap_or("–"),
            s.retry
                .as_ref()
                .map_or("–".to_string(), |r| format!("{}×", r.attempts)),
            s.on_failure,
            s.undo
                .as_ref()
                .map_or("–".to_string(), |u| format!("`{}`", u.uses)),
        );
    }
    let _ = writeln!(out, "\n<details><summary>Step inputs</summary>\n");
    for s in &plan.steps {
        step_inputs(&mut out, s);
    }
    let _ = writeln!(out, "</details>");
    out
}

/// A `flowchart TD` with one node per step and an edge per dependency.
pub fn mermaid(plan: &Plan) -> String {
    let mut out = String::from("flowchart TD\n");
    let node_id = |id: &str| {
        plan.steps
            .iter()
            .position(|s| s.id == id)
            .map_or_else(|| "unknown".to_string(), |i| format!("s{i}"))
    };
    for (i, s) in plan.steps.iter().enumerate() {
        let mut label = format!("{}<br/>{}", s.id, s.uses);
        if let Some(c) = &s.cluster {
            label.push_str(&format!(" @ {c}"));
        }
        let label = label.replace('"', "#quot;");
        let shape = if s.uses == "approve" {
            format!("{{{{\"{label}\"}}}}")
        } else if s.condition.is_some() {
            format!("{{\"{label}\"}}")
        } else {
            format!("[\"{label}\"]")
        };
        let _ = writeln!(out, "    s{i}{shape}");
    }
    for (i, s) in plan.steps.iter().enumerate() {
        for need in &s.needs {
            let _ = writeln!(out, "    {} --> s{i}", node_id(need));
        }
    }
    out
}

fn step_inputs(out: &mut String, s: &PlanStep) {
    let _ = writeln!(out, "**`{}`** ({}): {}\n", s.id, s.uses, s.summary);
    if let Some(inputs) = s.inputs.as_object().filter(|o| !o.is_empty()) {
        for (k, v) in inputs {
            let _ = writeln!(out, "- `{k}`: `{}`", cell(&compact(v)));
        }
    }
    if let Some(u) = &s.undo {
        let _ = writeln!(out, "- undo: `{}` `{}`", u.uses, cell(&compact(&u.inputs)));
    }
    let _ = writeln!(out);
}

/// Keeps a value inside one table cell or inline code span.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}
