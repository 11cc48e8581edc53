//! The plan as plain text for a terminal: header, then each wave with its steps.

use std::fmt::Write;

use super::{Plan, PlanStep, compact};

pub fn render_text(plan: &Plan) -> String {
    let mut out = String::new();
    let rb = &plan.runbook;
    let _ = writeln!(out, "plan for runbook {} ({})", rb.name, rb.file);
    if let Some(d) = &rb.description {
        let _ = writeln!(out, "  {d}");
    }
    if !plan.params.is_empty() {
        let _ = writeln!(out, "params:");
        for p in &plan.params {
            let source = match p.source {
                crate::runbook::ParamSource::Default => "default",
                crate::runbook::ParamSource::Set => "--set",
            };
            let secret = if p.secret { ", secret" } else { "" };
            let about = p
                .description
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {} = {} ({source}{secret}){about}", p.name, p.value);
        }
    }
    let o = &plan.objectives;
    if o.rto.is_some() || o.rpo.is_some() {
        let _ = writeln!(
            out,
            "objectives: rto {}, rpo {}",
            o.rto.as_deref().unwrap_or("none"),
            o.rpo.as_deref().unwrap_or("none")
        );
    }
    for c in &plan.clusters {
        let what = match (c.kind, &c.context, &c.kubeconfig) {
            ("sandbox", ..) => format!("sandbox, seeded from {}", list_or_none(&c.seed)),
            (_, ctx, kc) => format!(
                "context {}, kubeconfig {}",
                ctx.as_deref().unwrap_or("(current)"),
                kc.as_deref().unwrap_or("(default)")
            ),
        };
        let _ = writeln!(out, "cluster {}: {what}", c.name);
    }
    for s in &plan.stores {
        let enc = if s.encrypted {
            ", encrypted with age"
        } else {
            ""
        };
        let _ = writeln!(out, "store {}: {}{enc}", s.name, s.location);
    }
    let _ = writeln!(out, "state: {} {}", plan.state.kind, plan.state.location);
    let _ = writeln!(
        out,
        "\n{} steps in {} waves",
        plan.steps.len(),
        plan.waves.len()
    );
    for (w, ids) in plan.waves.iter().enumerate() {
        let parallel = if ids.len() > 1 { " (in parallel)" } else { "" };
        let _ = writeln!(out, "\nwave {}{parallel}", w + 1);
        for id in ids {
            if let Some(step) = plan.steps.iter().find(|s| &s.id == id) {
                step_text(&mut out, step);
            }
        }
    }
    out
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".to_string()
    } else {
        items.join(", ")
    }
}

fn step_text(out: &mut String, s: &PlanStep) {
    let on = s
        .cluster
        .as_ref()
        .map(|c| format!(" on {c}"))
        .unwrap_or_default();
    let _ = writeln!(out, "  {}: {}{on}", s.id, s.uses);
    if let Some(name) = &s.name {
        let _ = writeln!(out, "      name: {name}");
    }
    if !s.needs.is_empty() {
        let _ = writeln!(out, "      after: {}", s.needs.join(", "));
    }
    if let Some(c) = &s.condition {
        let known = match s.condition_value {
            Some(true) => " (true: runs)",
            Some(false) => " (false: skipped)",
            None => " (decided at run time)",
        };
        let _ = writeln!(out, "      if: {c}{known}");
    }
    if let Some(inputs) = s.inputs.as_object() {
        for (k, v) in inputs {
            match v.as_array() {
                // A list of rules (`modifiers`): one a line.
                Some(items) if !items.is_empty() && items.iter().all(|i| i.is_object()) => {
                    let _ = writeln!(out, "      {k}:");
                    for item in items {
                        let _ = writeln!(out, "        - {}", compact(item));
                    }
                }
                _ => {
                    let _ = writeln!(out, "      {k}: {}", compact(v));
                }
            }
        }
    }
    let mut policy = vec![format!("on failure: {}", s.on_failure)];
    if let Some(t) = &s.timeout {
        policy.push(format!("timeout: {t}"));
    }
    if let Some(r) = &s.retry {
        let backoff = r
            .backoff
            .as_ref()
            .map(|b| format!(", backoff {b}"))
            .unwrap_or_default();
        policy.push(format!("retry: {} attempts{backoff}", r.attempts));
    }
    let _ = writeln!(out, "      {}", policy.join("; "));
    if let Some(u) = &s.undo {
        let on = u
            .cluster
            .as_ref()
            .map(|c| format!(" on {c}"))
            .unwrap_or_default();
        let _ = writeln!(out, "      undo: {}{on} {}", u.uses, compact(&u.inputs));
    }
}
