//! Documentation that must not drift from the code: the runbook reference names every
//! field and every action input of the schema; docs/architecture.md names every module
//! of the crates it describes, and only modules that exist.

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

/// The modules docs/architecture.md names in the table of `## {crate}`: every
/// backticked `name.rs` or `name/` in the first column (a cell may name several).
fn documented_modules(doc: &str, krate: &str) -> Vec<String> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(krate))
        .unwrap_or_else(|| panic!("docs/architecture.md has no `## {krate}` section"));
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_architecture_doc_names_every_module_and_no_other() {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md"))
        .unwrap_or_else(|e| panic!("docs/architecture.md: {e}"));
    for krate in ["lifeboat", "kube-sandbox"] {
        let src = root().join(format!("crates/{krate}/src"));
        let named = documented_modules(&doc, krate);
        // A module path may be nested (`runbook/node.rs`): it must exist.
        for m in &named {
            assert!(
                src.join(m.trim_end_matches('/')).exists(),
                "docs/architecture.md names `{m}`, which crates/{krate}/src does not have"
            );
        }
        // Every top-level module (or its folder) is named, alone or as its first part.
        let mut entries: Vec<String> = std::fs::read_dir(&src)
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
            .filter_map(|e| e.ok())
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if e.path().is_dir() {
                    format!("{name}/")
                } else {
                    name
                }
            })
            .collect();
        entries.sort();
        for entry in entries {
            let stem = entry.trim_end_matches('/').trim_end_matches(".rs");
            assert!(
                named.iter().any(|m| m == &entry
                    || m.starts_with(&format!("{stem}/"))
                    || m == &format!("{stem}.rs")),
                "docs/architecture.md does not describe crates/{krate}/src/{entry}"
            );
        }
    }
}

/// Every source file under `dir`, read.
fn sources(dir: &std::path::Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
}

#[test]
fn every_test_docs_reliability_names_exists() {
    let doc = std::fs::read_to_string(root().join("docs/reliability.md"))
        .unwrap_or_else(|e| panic!("docs/reliability.md: {e}"));
    let mut code = String::new();
    sources(&root().join("crates/lifeboat"), &mut code);
    let named: Vec<&str> = doc
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|t| t.rsplit("::").next())
        .filter(|t| {
            t.len() > 24
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    assert!(named.len() > 20, "{named:?}");
    for name in named {
        assert!(
            code.contains(&format!("fn {name}(")),
            "docs/reliability.md names the test `{name}`, which does not exist"
        );
    }
}
