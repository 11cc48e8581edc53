//! `lifeboat plan`: waves, bound params, masked secrets, and the three formats.

use crate::harness::Test;

const PARALLEL: &str = "crates/lifeboat/tests/fixtures/valid/parallel.yaml";
const SECRET: &str = "s3cr3t-t0ken";

fn plan_json(args: &[&str]) -> serde_json::Value {
    let out = Test::new()
        .args(["plan", "--format", "json"])
        .args(args)
        .run();
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --format json is not JSON: {e}\n{}", out.stdout))
}

#[test]
fn independent_steps_share_a_wave() {
    let plan = plan_json(&[PARALLEL, "--set", &format!("token={SECRET}")]);
    assert_eq!(plan["format_version"], 1);
    assert_eq!(
        plan["waves"],
        serde_json::json!([["backup"], ["copy-us", "check"], ["done"]])
    );
    assert_eq!(
        plan["steps"][3]["needs"],
        serde_json::json!(["copy-us", "check"])
    );
    assert_eq!(plan["steps"][1]["wave"], 2);
}

#[test]
fn params_are_bound_and_outputs_left_for_run_time() {
    let plan = plan_json(&[
        PARALLEL,
        "--set",
        "namespace=shop-eu",
        "--set",
        &format!("token={SECRET}"),
    ]);
    assert_eq!(
        plan["steps"][0]["inputs"]["namespaces"],
        serde_json::json!(["shop-eu"])
    );
    assert_eq!(
        plan["steps"][1]["inputs"]["backup"],
        "${{ steps.backup.outputs.backup_id }}"
    );
    assert_eq!(plan["steps"][0]["cluster"], "primary");
    assert_eq!(plan["steps"][1]["cluster"], serde_json::Value::Null);
    assert_eq!(plan["steps"][1]["stores"], serde_json::json!(["eu", "us"]));
    let ns = plan["params"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "namespace"))
        .cloned();
    assert_eq!(
        ns.map(|p| p["source"].clone()),
        Some(serde_json::json!("set"))
    );
}

#[test]
fn conditions_decided_by_params_are_evaluated() {
    let plan = plan_json(&[PARALLEL, "--set", "token=x"]);
    assert_eq!(plan["steps"][2]["condition_value"], true);
    let plan = plan_json(&[PARALLEL, "--set", "token=x", "--set", "mode=quick"]);
    assert_eq!(plan["steps"][2]["condition_value"], false);
}

#[test]
fn secrets_never_appear_in_any_format() {
    for format in ["text", "json", "markdown"] {
        let out = Test::new()
            .args([
                "plan",
                PARALLEL,
                "--format",
                format,
                "--set",
                &format!("token={SECRET}"),
            ])
            .run();
        assert!(
            !out.stdout.contains(SECRET),
            "{format} plan leaks the secret:\n{}",
            out.stdout
        );
        assert!(
            out.stdout.contains("********"),
            "{format} plan does not show the masked secret"
        );
    }
}

#[test]
fn a_required_param_must_be_given() {
    Test::new()
        .args(["plan", PARALLEL])
        .status(2)
        .stderr_contains("param `token` has no default and is not given")
        .stderr_contains("--set token=VALUE")
        .run();
}

#[test]
fn setting_an_unknown_param_is_an_error() {
    Test::new()
        .args(["plan", PARALLEL, "--set", "token=x", "--set", "mdoe=quick"])
        .status(2)
        .stderr_contains("`--set mdoe=...` names no param of this runbook")
        .stderr_contains("did you mean `mode`?")
        .run();
}

#[test]
fn markdown_has_a_mermaid_flowchart_of_the_steps() {
    let out = Test::new()
        .args(["plan", "runbooks/failover.yaml", "--format", "markdown"])
        .run();
    let md = out.stdout;
    assert!(md.contains("```mermaid\nflowchart TD\n"), "{md}");
    assert!(md.contains("s0[\"backup<br/>backup @ primary\"]"), "{md}");
    assert!(md.contains("s0 --> s1"), "{md}");
    assert!(md.contains("| 8 | `smoke` | `http_check` |"), "{md}");
}

#[test]
fn markdown_draws_parallel_branches() {
    let out = Test::new()
        .args(["plan", PARALLEL, "--format", "markdown", "--set", "token=x"])
        .run();
    for edge in ["s0 --> s1", "s0 --> s2", "s1 --> s3", "s2 --> s3"] {
        assert!(
            out.stdout.contains(edge),
            "missing edge {edge}:\n{}",
            out.stdout
        );
    }
}

#[test]
fn json_plan_of_every_example_parses() {
    for file in crate::runbooks::example_runbooks() {
        let out = Test::new()
            .args(["plan", "--format", "json"])
            .arg(&file)
            .run();
        let plan: serde_json::Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(plan["steps"].as_array().is_some_and(|s| !s.is_empty()));
    }
}

#[test]
fn text_plan_shows_waves_policies_and_undo() {
    let out = Test::new().args(["plan", "runbooks/failover.yaml"]).run();
    let t = out.stdout;
    assert!(t.contains("8 steps in 8 waves"), "{t}");
    assert!(t.contains("  hold-gitops: gitops_pause on primary"), "{t}");
    assert!(t.contains("  freeze: scale on primary"), "{t}");
    assert!(
        t.contains("undo: scale on primary {\"restore_previous\":true}"),
        "{t}"
    );
    assert!(
        t.contains("on failure: rollback; timeout: 2m; retry: 5 attempts, backoff 10s"),
        "{t}"
    );
}

#[test]
fn a_condition_on_a_secret_is_left_to_run_time() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("secret-if.yaml");
    std::fs::write(
        &file,
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: s }\n\
         params: { token: { secret: true } }\nsteps:\n\
         - { id: a, if: \"params.token == 'hunter2'\", uses: sleep, with: { duration: 1s } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Answering true or false would tell whether the secret is `hunter2`.
    for value in ["hunter2", "other"] {
        let out = Test::new()
            .args([
                "plan",
                "--format",
                "json",
                "--set",
                &format!("token={value}"),
            ])
            .arg(&file)
            .run();
        let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        assert_eq!(plan["steps"][0]["condition_value"], serde_json::Value::Null);
    }
}

#[test]
fn an_undo_on_a_cluster_defaults_to_the_only_cluster() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("undo-cluster.yaml");
    std::fs::write(
        &file,
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: u }\n\
         clusters: { prod: { context: prod } }\nsteps:\n\
         - id: check\n  uses: http_check\n  with: { url: 'https://example.com/' }\n\
         \x20 undo: { uses: scale, with: { namespace: shop, kind: Deployment, name: web, replicas: 1 } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Test::new()
        .args(["plan", "--format", "json"])
        .arg(&file)
        .run();
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    assert_eq!(plan["steps"][0]["cluster"], serde_json::Value::Null);
    assert_eq!(plan["steps"][0]["undo"]["cluster"], "prod");
}

#[test]
fn param_descriptions_are_shown() {
    let out = Test::new().args(["plan", "runbooks/restore.yaml"]).run();
    assert!(
        out.stdout
            .contains("target = shop-restored (default): namespace to restore into"),
        "{}",
        out.stdout
    );
}
