//! Documentation that must not drift from the code: the runbook reference names every
//! field and every action input of the schema.

use crate::harness::{Test, root};

fn reference() -> String {
    std::fs::read_to_string(root().join("docs/runbook-reference.md"))
        .unwrap_or_else(|e| panic!("docs/runbook-reference.md: {e}"))
}

#[test]
fn the_reference_documents_every_field_of_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&Test::new().arg("schema").run().stdout).unwrap_or_default();
    let doc = reference();
    let mut missing = Vec::new();
    let mut check = |owner: &str, props: &serde_json::Value| {
        for name in props.as_object().into_iter().flat_map(|o| o.keys()) {
            if !doc.contains(&format!("`{name}`")) {
                missing.push(format!("{owner}.{name}"));
            }
        }
    };
    check("runbook", &schema["properties"]);
    for (def, body) in schema["$defs"].as_object().into_iter().flatten() {
        check(def, &body["properties"]);
    }
    assert!(
        missing.is_empty(),
        "docs/runbook-reference.md does not mention: {}",
        missing.join(", ")
    );
}

#[test]
fn the_reference_has_a_section_per_action_listing_its_outputs() {
    let doc = reference();
    for action in lifeboat::actions::ACTIONS {
        let heading = format!("### `{}`", action.name);
        let Some(start) = doc.find(&heading) else {
            panic!("docs/runbook-reference.md has no section {heading}");
        };
        let section = &doc[start..];
        let end = section[heading.len()..]
            .find("\n### ")
            .map_or(section.len(), |e| e + heading.len());
        let section = &section[..end];
        for output in action.outputs {
            assert!(
                section.contains(&format!("`{}`", output.name)),
                "section {heading} does not list output `{}`",
                output.name
            );
        }
    }
}

#[test]
fn the_plan_json_doc_names_every_field_the_plan_has() {
    let doc = std::fs::read_to_string(root().join("docs/plan-json.md")).unwrap_or_default();
    let out = Test::new()
        .args(["plan", "--format", "json", "runbooks/failover.yaml"])
        .run();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    let mut names: Vec<String> = plan
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys().cloned())
        .collect();
    for step in plan["steps"].as_array().into_iter().flatten() {
        names.extend(step.as_object().into_iter().flat_map(|o| o.keys().cloned()));
    }
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/plan-json.md does not document: {missing:?}"
    );
}
