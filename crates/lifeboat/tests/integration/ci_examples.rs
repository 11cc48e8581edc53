//! docs/ci.md's CI examples, run. Each example is a file under `docs/ci/` and the same
//! bytes in a fenced block of docs/ci.md (checked here, so the YAML people copy is the
//! YAML tested). Each file is parsed, the structure the doc relies on is checked (the
//! schedule, artifacts kept `always`, GitLab's `allow_failure: exit_codes: [3]`, the
//! JUnit report path equal to the `--junit` the command writes, who may run what), and
//! then its jobs are run here the way the CI system runs them: the shell steps in
//! order, in a fresh checkout of this repository's runbooks, each with `sh -e` (POSIX
//! sh, the strictest shell either system may use), with the environment the YAML gives
//! them (secrets, variables, `$GITHUB_ENV`, `$GITHUB_STEP_SUMMARY`, GitLab's File
//! variables) filled with test values: a sandbox cluster (`lifeboat sandbox serve`,
//! seeded with the shop) as the kubeconfig, the test S3 server for the store (the one
//! variable the YAML does not set, `AWS_ENDPOINT_URL`: real S3 needs none), and small
//! HTTP receivers in the test as the Pushgateway and as GitHub's and GitLab's APIs.
//! `lifeboat` on PATH is the test's binary, behind a wrapper that records each
//! command line, so every `lifeboat` line of the examples is proven to have run. Only
//! the install step (a placeholder URL) and the steps of other actions
//! (`actions/checkout`, `actions/upload-artifact`) are not run; the upload's paths are
//! checked to exist after the job, as the action would find them.
//!
//! The drills run twice against the sandbox: once with the newest backup two days old
//! (RPO 24h missed: exit 3, shown as such), once with a fresh one (exit 0). The reviews
//! run on a pull request that changes a runbook (its plan posted, and only its) and on
//! one that adds a broken runbook (annotations at `file:line:col`, nothing posted).

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, mpsc};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Test, path, root, wait_output};
use crate::recording_server::{self, Received};
use crate::s3_server::{aws, endpoint};
use crate::served::Served;

const GITHUB_DRILL: &str = "docs/ci/github/dr-drill.yml";
const GITHUB_REVIEW: &str = "docs/ci/github/runbook-review.yml";
const GITLAB: &str = "docs/ci/gitlab/.gitlab-ci.yml";
/// The runbook the drills run, and the one the broken pull request adds.
const DRILL: &str = "runbooks/drill.yaml";
const BROKEN: &str = "crates/lifeboat/tests/fixtures/invalid/unknown-cluster.yaml";

// ---------------------------------------------------------------------------------
// The documents.

/// Every file under docs/ci/, as a path relative to the checkout.
fn example_files() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&path("docs/ci"), &mut files);
    let mut files: Vec<String> = files
        .iter()
        .filter_map(|p| p.strip_prefix(root()).ok())
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The contents of every ```yaml block of docs/ci.md.
fn yaml_blocks(doc: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find("```yaml\n") {
        let body = &rest[start + "```yaml\n".len()..];
        let end = body
            .find("\n```\n")
            .unwrap_or_else(|| panic!("docs/ci.md: a ```yaml block is not closed"));
        blocks.push(body[..=end].to_string());
        rest = &body[end + 4..];
    }
    blocks
}

/// A CI file as JSON (GitHub's `on:` stays the string `on`).
fn load(rel: &str) -> Value {
    serde_saphyr::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

/// The lines of a shell script that run lifeboat: backslash continuations joined, the
/// command alone (up to a `||`, `&&`, `;`, pipe or redirection after it), its words
/// separated by single spaces.
fn lifeboat_lines(script: &str) -> Vec<String> {
    script
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("lifeboat "))
        .map(|l| {
            let end = [" || ", " && ", ";", " | ", " >", " 2>", " <"]
                .iter()
                .filter_map(|op| l.find(op))
                .min()
                .unwrap_or(l.len());
            l[..end].split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .collect()
}

/// A command line's words, as sh splits them when nothing is expanded (double quotes
/// kept together, `$VAR` left as written).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(word);
    }
    out
}

/// The value after `flag` in a command line.
fn flag(line: &str, flag: &str) -> String {
    let w = words(line);
    w.iter()
        .position(|x| x == flag)
        .and_then(|i| w.get(i + 1))
        .cloned()
        .unwrap_or_else(|| panic!("`{line}` has no {flag}"))
}

/// The shell scripts of job `job`: a GitHub workflow's `run:` steps, or a GitLab job's
/// `before_script:` (its own or the default one) and `script:` entries.
fn scripts_of(file: &Value, job: &str) -> Vec<String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    if file["jobs"].is_object() {
        let steps = file["jobs"][job]["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        return steps
            .iter()
            .filter_map(|s| s["run"].as_str().map(str::to_string))
            .collect();
    }
    let j = &file[job];
    let before = if j["before_script"].is_null() {
        strings(&file["default"]["before_script"])
    } else {
        strings(&j["before_script"])
    };
    before.into_iter().chain(strings(&j["script"])).collect()
}

/// The jobs of a GitHub workflow or a GitLab pipeline.
fn jobs_of(file: &Value) -> Vec<String> {
    if let Some(jobs) = file["jobs"].as_object() {
        return jobs.keys().cloned().collect();
    }
    file.as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .filter(|k| !GITLAB_KEYWORDS.contains(&k.as_str()) && !k.starts_with('.'))
        .cloned()
        .collect()
}

/// Every `lifeboat` line of job `job`.
fn lifeboat_lines_of(file: &Value, job: &str) -> Vec<String> {
    scripts_of(file, job)
        .iter()
        .flat_map(|s| lifeboat_lines(s))
        .collect()
}

#[test]
fn every_example_in_ci_md_is_its_file_byte_for_byte() {
    let doc = read("docs/ci.md");
    let blocks = yaml_blocks(&doc);
    let files = example_files();
    assert_eq!(
        files,
        [GITHUB_DRILL, GITHUB_REVIEW, GITLAB]
            .map(|f| f.to_string())
            .to_vec(),
        "docs/ci/ holds other files than the three examples this test runs"
    );
    for file in &files {
        let text = read(file);
        assert_eq!(
            blocks.iter().filter(|b| **b == text).count(),
            1,
            "docs/ci.md must show {file} exactly once, byte for byte, in a ```yaml block"
        );
        assert!(
            doc.contains(&format!("`{file}`")),
            "docs/ci.md does not name {file}"
        );
    }
    for block in &blocks {
        assert!(
            files.iter().any(|f| read(f) == *block),
            "docs/ci.md has a ```yaml block that is no file of docs/ci/ (so no test runs it):\n{block}"
        );
    }
    for code in [0, 1, 2, 3, 4, 130] {
        assert!(
            doc.contains(&format!("| {code} |")),
            "docs/ci.md's exit code table lacks {code}"
        );
    }
    // What the doc says the drill needs is what drill.yaml names.
    let drill: Value = serde_saphyr::from_str(&read(DRILL)).unwrap_or_else(|e| panic!("{e}"));
    let context = drill["clusters"]["drill"]["context"]
        .as_str()
        .unwrap_or("?");
    let s3 = &drill["stores"]["vault"]["s3"];
    for said in [
        format!("context named `{context}`"),
        format!(
            "`s3://{}/{}` in `{}`",
            s3["bucket"].as_str().unwrap_or("?"),
            s3["prefix"].as_str().unwrap_or("?"),
            s3["region"].as_str().unwrap_or("?")
        ),
        format!("(`{}`)", drill["metadata"]["name"].as_str().unwrap_or("?")),
    ] {
        assert!(doc.contains(&said), "docs/ci.md does not say {said}");
    }
}

#[test]
fn the_examples_run_only_lifeboat_commands_of_runbooks_in_this_repository() {
    for file in [GITHUB_DRILL, GITHUB_REVIEW, GITLAB] {
        let doc = load(file);
        for job in jobs_of(&doc) {
            // Values reach scripts through the environment, never pasted into the
            // script (`${{ }}` in a script is an injection; the test would not run it).
            for script in scripts_of(&doc, &job) {
                assert!(!script.contains("${{"), "{file}: {job}: {script}");
            }
        }
        let lines: Vec<String> = jobs_of(&doc)
            .iter()
            .flat_map(|job| lifeboat_lines_of(&doc, job))
            .collect();
        assert!(!lines.is_empty(), "{file} runs no lifeboat command");
        for line in lines {
            for w in words(&line) {
                if w.starts_with("runbooks/") {
                    let matched = glob(&root(), &w);
                    assert!(!matched.is_empty(), "{file}: `{line}`: no {w} here");
                }
            }
        }
    }
}

/// The files of `root` a shell glob with one `*` in its last part matches.
fn glob(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let (dir, name) = pattern.rsplit_once('/').unwrap_or((".", pattern));
    let Some((before, after)) = name.split_once('*') else {
        let p = root.join(pattern);
        return if p.exists() { vec![p] } else { vec![] };
    };
    std::fs::read_dir(root.join(dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(before) && n.ends_with(after) && n.len() >= before.len() + after.len()
        })
        .map(|e| e.path())
        .collect()
}

// ---------------------------------------------------------------------------------
// A checkout, a lifeboat that records its command lines, and a shell.

/// A fresh checkout: this repository's runbooks (and their fixtures) in a folder of
/// its own, the folder the CI jobs run in.
struct Checkout {
    dir: tempfile::TempDir,
    /// Holds the recording `lifeboat`.
    bin: PathBuf,
    log: PathBuf,
}

impl Checkout {
    fn new() -> Checkout {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        copy_dir(&path("runbooks"), &dir.path().join("repo/runbooks"));
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("home")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap_or_else(|e| panic!("{e}"));
        let log = dir.path().join("lifeboat-commands.log");
        let wrapper = bin.join("lifeboat");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                env!("CARGO_BIN_EXE_lifeboat")
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let chmod = Command::new("chmod")
            .arg("+x")
            .arg(&wrapper)
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(chmod.success());
        Checkout { dir, bin, log }
    }

    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn temp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    /// The environment every CI shell starts from: PATH with the recording lifeboat
    /// first, a HOME of its own, nothing else of the test's.
    fn base_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".into(),
            format!(
                "{}:{}",
                self.bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        );
        env.insert(
            "HOME".into(),
            self.dir.path().join("home").display().to_string(),
        );
        env.insert("CI".into(), "true".into());
        env
    }

    /// The lifeboat command lines run so far (words joined by spaces).
    fn commands(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Runs git in the checkout.
    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=ci-test",
                "-c",
                "user.email=ci-test@example.invalid",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(self.repo())
            .env("HOME", self.dir.path().join("home"))
            .output()
            .unwrap_or_else(|e| panic!("git is required: {e}"));
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for entry in std::fs::read_dir(from).into_iter().flatten().flatten() {
        let p = entry.path();
        let target = to.join(entry.file_name());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}

/// Every lifeboat line of job `job` of `file` ran: a recorded command line has each of
/// its words (those the shell does not expand), in order.
fn assert_every_lifeboat_line_ran(file: &str, job: &str, checkout: &Checkout) {
    let ran = checkout.commands();
    let lines = lifeboat_lines_of(&load(file), job);
    assert!(!lines.is_empty(), "{file}: job {job} runs no lifeboat line");
    for line in lines {
        let fixed: Vec<String> = words(&line)
            .into_iter()
            .skip(1)
            .filter(|w| !w.contains('$') && !w.contains('*'))
            .collect();
        let found = ran.iter().any(|r| {
            let mut words = r.split(' ');
            fixed.iter().all(|f| words.any(|w| w == f))
        });
        assert!(found, "{file}: `{line}` never ran; lifeboat ran: {ran:#?}");
    }
}

/// What a shell printed and how it ended.
struct Shell {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `script` with `sh -e` in `dir` with exactly `env`, within two minutes (a hang
/// fails the test, and its process group is killed).
fn sh(script: &str, env: &BTreeMap<String, String>, dir: &Path) -> Shell {
    let child = Command::new("sh")
        .args(["-e", "-c", script])
        .env_clear()
        .envs(env)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    let out = wait_output(
        child,
        Duration::from_secs(120),
        &format!("the script\n{script}\n"),
    );
    Shell {
        code: out.status,
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

// ---------------------------------------------------------------------------------
// GitHub Actions and GitLab CI, as far as these examples use them.

/// What a GitHub job did: each step by name (or `uses`), its shell's result (`None`:
/// not run by its `if:`, or an action's step); the job summary.
struct GithubJob {
    steps: Vec<(String, Option<Shell>)>,
    summary: String,
    failed: bool,
}

impl GithubJob {
    fn step(&self, name: &str) -> &Shell {
        self.steps
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| s.as_ref())
            .unwrap_or_else(|| panic!("step {name} did not run"))
    }

    fn ran(&self, name: &str) -> bool {
        self.steps.iter().any(|(n, s)| n == name && s.is_some())
    }
}

/// Replaces each `${{ expr }}` with its value in `values`; an expression the test does
/// not know fails it (the doc may use only what this test fills in).
fn expand(text: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed expression in {text}"));
        let expr = rest[start + 3..start + end].trim();
        out.push_str(
            values
                .get(expr)
                .unwrap_or_else(|| panic!("the test has no value for `${{{{ {expr} }}}}`")),
        );
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Runs job `job` of workflow `file` as a GitHub runner would, in `checkout`:
/// `values` are the expressions' values, `env` the runner's own variables.
fn run_github_job(
    file: &str,
    job: &str,
    checkout: &Checkout,
    values: &BTreeMap<&str, String>,
    runner_env: &[(&str, String)],
) -> GithubJob {
    let workflow = load(file);
    let j = &workflow["jobs"][job];
    assert!(j.is_object(), "{file} has no job {job}");
    let mut env = checkout.base_env();
    env.insert("GITHUB_ACTIONS".into(), "true".into());
    env.insert(
        "GITHUB_WORKSPACE".into(),
        checkout.repo().display().to_string(),
    );
    env.insert("RUNNER_TEMP".into(), checkout.temp().display().to_string());
    for (k, v) in runner_env {
        env.insert(k.to_string(), v.clone());
    }
    let add = |env: &mut BTreeMap<String, String>, map: &Value| {
        for (k, v) in map.as_object().into_iter().flatten() {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            env.insert(k.clone(), expand(&v, values));
        }
    };
    add(&mut env, &workflow["env"]);
    add(&mut env, &j["env"]);
    let files = checkout.dir.path().join("runner");
    std::fs::create_dir_all(&files).unwrap_or_else(|e| panic!("{e}"));
    let summary = files.join("step-summary.md");
    let mut result = GithubJob {
        steps: Vec::new(),
        summary: String::new(),
        failed: false,
    };
    for (i, step) in j["steps"].as_array().into_iter().flatten().enumerate() {
        let name = step["name"]
            .as_str()
            .or(step["uses"].as_str())
            .unwrap_or_else(|| panic!("{file}: step {i} has no name"))
            .to_string();
        let runs = match step["if"].as_str() {
            None => !result.failed,
            Some("always()") => true,
            Some(other) => panic!("{file}: step {name}: the test knows no `if: {other}`"),
        };
        let Some(script) = step["run"].as_str() else {
            result.steps.push((name, None));
            continue;
        };
        if script.contains("cargo install") {
            assert!(
                script.contains("https://example.invalid/lifeboat"),
                "{file}: the install step changed: {script}"
            );
            result.steps.push((name, None));
            continue;
        }
        if !runs {
            result.steps.push((name, None));
            continue;
        }
        assert!(
            step["shell"].is_null() && step["working-directory"].is_null(),
            "{file}: step {name}: the test runs steps with the default shell in the checkout"
        );
        let mut step_env = env.clone();
        add(&mut step_env, &step["env"]);
        let github_env = files.join(format!("env-{i}"));
        let github_output = files.join(format!("output-{i}"));
        for f in [&github_env, &github_output] {
            std::fs::write(f, "").unwrap_or_else(|e| panic!("{e}"));
        }
        step_env.insert("GITHUB_ENV".into(), github_env.display().to_string());
        step_env.insert("GITHUB_OUTPUT".into(), github_output.display().to_string());
        step_env.insert("GITHUB_STEP_SUMMARY".into(), summary.display().to_string());
        let shell = sh(script, &step_env, &checkout.repo());
        // `NAME=value` lines in $GITHUB_ENV reach the steps after this one.
        for line in std::fs::read_to_string(&github_env)
            .unwrap_or_default()
            .lines()
        {
            let (k, v) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("{file}: step {name}: $GITHUB_ENV line {line:?}"));
            env.insert(k.to_string(), v.to_string());
        }
        result.failed |= shell.code != 0;
        result.steps.push((name, Some(shell)));
    }
    result.summary = std::fs::read_to_string(&summary).unwrap_or_default();
    result
}

/// The paths an `actions/upload-artifact` step of job `job` keeps, each checked to
/// be uploaded whatever happened before it (`if: always()`).
fn github_artifact_paths(file: &str, job: &str) -> Vec<String> {
    let workflow = load(file);
    let steps = workflow["jobs"][job]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let upload = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
        })
        .unwrap_or_else(|| panic!("{file}: no actions/upload-artifact step"));
    assert_eq!(
        upload["if"], "always()",
        "{file}: the reports must be uploaded also when the drill fails"
    );
    upload["with"]["path"]
        .as_str()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

const GITLAB_KEYWORDS: [&str; 10] = [
    "stages",
    "variables",
    "default",
    "workflow",
    "include",
    "image",
    "services",
    "before_script",
    "after_script",
    "cache",
];

/// Whether job `job`'s `rules:` add it to a pipeline of `source`
/// (`CI_PIPELINE_SOURCE`). Only `$VAR == "value"` conditions are known to the test.
fn gitlab_runs(pipeline: &Value, job: &str, source: &str) -> bool {
    let rules = pipeline[job]["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("GitLab job {job} has no rules"));
    rules.iter().any(|rule| {
        assert!(
            rule["when"].is_null(),
            "{job}: the test knows no `when:` in rules"
        );
        let cond = rule["if"]
            .as_str()
            .unwrap_or_else(|| panic!("{job}: a rule without if"));
        let (var, value) = cond
            .split_once("==")
            .unwrap_or_else(|| panic!("{job}: the test knows no rule `{cond}`"));
        assert_eq!(var.trim(), "$CI_PIPELINE_SOURCE", "{job}: rule `{cond}`");
        value.trim().trim_matches('"') == source
    })
}

/// Runs GitLab job `job` as a runner would: its `before_script` (or the default one)
/// and `script` entries in one `sh -e`, with the predefined and project variables in
/// `vars`, then the pipeline's and the job's `variables:`.
fn run_gitlab_job(checkout: &Checkout, job: &str, vars: &[(&str, String)]) -> Shell {
    let pipeline = load(GITLAB);
    let j = &pipeline[job];
    assert!(
        j["after_script"].is_null() && j["extends"].is_null(),
        "{job}: the test runs before_script and script only"
    );
    let mut env = checkout.base_env();
    env.insert("GITLAB_CI".into(), "true".into());
    env.insert(
        "CI_PROJECT_DIR".into(),
        checkout.repo().display().to_string(),
    );
    for (k, v) in vars {
        env.insert(k.to_string(), v.clone());
    }
    for map in [&pipeline["variables"], &j["variables"]] {
        for (k, v) in map.as_object().into_iter().flatten() {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            assert!(!v.contains('$'), "{job}: variable {k} refers to another");
            env.insert(k.clone(), v);
        }
    }
    let mut lines = Vec::new();
    for entry in scripts_of(&pipeline, job) {
        if entry.contains("cargo install") {
            assert!(
                entry.contains("https://example.invalid/lifeboat"),
                "the install entry changed: {entry}"
            );
            continue;
        }
        lines.push(entry);
    }
    sh(&lines.join("\n"), &env, &checkout.repo())
}

// ---------------------------------------------------------------------------------
// The drill's world: a sandbox cluster with the shop, the runbook's store on the test
// S3 server, a Pushgateway.

/// The drills of both systems use the bucket and prefix drill.yaml names: one at a
/// time.
static STORE: Mutex<()> = Mutex::new(());

struct DrillBed {
    _store: MutexGuard<'static, ()>,
    _sandbox: Served,
    dir: tempfile::TempDir,
    /// A kubeconfig of the sandbox whose context is the one drill.yaml names.
    kubeconfig: String,
    /// drill.yaml's store, as YAML (JSON).
    store: Value,
    runbook_name: String,
}

impl DrillBed {
    fn new() -> DrillBed {
        let guard = STORE.lock().unwrap_or_else(|e| e.into_inner());
        let drill: Value = serde_saphyr::from_str(&read(DRILL)).unwrap_or_else(|e| panic!("{e}"));
        let context = drill["clusters"]["drill"]["context"]
            .as_str()
            .unwrap_or_else(|| panic!("{DRILL}: cluster drill names no context"))
            .to_string();
        let sandbox = Served::start(&[&path("runbooks/fixtures/shop")]);
        let mut config: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(&sandbox.kubeconfig).unwrap_or_else(|e| panic!("{e}")),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        config["contexts"][0]["name"] = json!(context);
        config["current-context"] = json!(context);
        let store = drill["stores"]["vault"].clone();
        let bed = DrillBed {
            _store: guard,
            _sandbox: sandbox,
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
            kubeconfig: config.to_string(),
            store,
            runbook_name: drill["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        // An empty prefix: only this test's backups are there.
        let bucket = bed.bucket();
        if !aws(&["s3api", "head-bucket", "--bucket", &bucket])
            .status
            .success()
        {
            let made = aws(&["s3", "mb", &format!("s3://{bucket}")]);
            assert!(
                made.status.success(),
                "{}",
                String::from_utf8_lossy(&made.stderr)
            );
        }
        let rm = aws(&["s3", "rm", "--recursive", &bed.store_url()]);
        assert!(
            rm.status.success(),
            "{}",
            String::from_utf8_lossy(&rm.stderr)
        );
        bed
    }

    fn bucket(&self) -> String {
        self.store["s3"]["bucket"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn store_url(&self) -> String {
        format!(
            "s3://{}/{}",
            self.bucket(),
            self.store["s3"]["prefix"].as_str().unwrap_or_default()
        )
    }

    fn kubeconfig_file(&self) -> PathBuf {
        let file = self.dir.path().join("kubeconfig");
        std::fs::write(&file, &self.kubeconfig).unwrap_or_else(|e| panic!("{e}"));
        file
    }

    /// Backs up the shop as drill.yaml's runbook would find it (`backup: latest` of
    /// its name, in its store); `age`: the backup is made to look that old (its
    /// manifest's times moved back), as when the nightly backup stopped. The backup id.
    fn back_up(&self, age: Option<jiff::SignedDuration>) -> String {
        let rb = self.dir.path().join("backup.yaml");
        let runbook = json!({
            "apiVersion": "lifeboat.dev/v1alpha1",
            "kind": "Runbook",
            "metadata": { "name": self.runbook_name },
            "clusters": { "drill": { "kubeconfig": self.kubeconfig_file() } },
            "stores": { "vault": self.store },
            "state": { "path": self.dir.path().join("backup-state") },
            "steps": [ { "id": "backup", "uses": "backup",
                         "with": { "store": "vault", "namespaces": [ "shop" ] } } ],
        });
        std::fs::write(&rb, runbook.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let out = Test::new()
            .arg("run")
            .arg(&rb)
            .args(["--output", "json"])
            .env("AWS_ENDPOINT_URL", endpoint())
            .current_dir(self.dir.path())
            .run();
        let events = crate::backup_restore::json_lines(&out.stdout);
        let id = crate::backup_restore::outputs(&events, "backup")["backup_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(age) = age {
            let key = format!("{}backups/{id}/manifest.json", self.store_url());
            let local = self.dir.path().join("manifest.json");
            let got = aws(&["s3", "cp", &key, &local.display().to_string()]);
            assert!(
                got.status.success(),
                "{}",
                String::from_utf8_lossy(&got.stderr)
            );
            let mut manifest: Value =
                serde_json::from_slice(&std::fs::read(&local).unwrap_or_default())
                    .unwrap_or_else(|e| panic!("{e}"));
            let then = (jiff::Timestamp::now() - age).to_string();
            manifest["created"] = json!(then);
            manifest["completed"] = json!(then);
            std::fs::write(&local, manifest.to_string()).unwrap_or_else(|e| panic!("{e}"));
            let put = aws(&["s3", "cp", &local.display().to_string(), &key]);
            assert!(
                put.status.success(),
                "{}",
                String::from_utf8_lossy(&put.stderr)
            );
        }
        id
    }
}

/// An HTTP server answering every request with `status` (and `{}`); its base URL, and
/// what it receives (recorded before it is answered: when the client is done, its
/// request is there).
fn receiver(status: &'static str) -> (String, mpsc::Receiver<Received>) {
    recording_server::start(move |_| Some((status, "{}")))
}

/// The one request `rx` has (the client has finished: it is there or never came).
fn one_request(rx: &mpsc::Receiver<Received>, what: &str) -> Received {
    let got = rx
        .try_recv()
        .unwrap_or_else(|_| panic!("{what}: nothing was received"));
    assert!(rx.try_recv().is_err(), "{what}: more than one request");
    got
}

/// Checks a drill's reports where the CI keeps them, and what the Pushgateway got:
/// `missed`, the RPO was missed (exit 3), else everything passed; the backup restored
/// was `backup`.
fn check_drill_reports(
    repo: &Path,
    line: &str,
    kept: &[String],
    push: &Received,
    missed: bool,
    backup: &str,
) {
    let junit = flag(line, "--junit");
    let html = flag(line, "--report");
    let prom = flag(line, "--metrics-file");
    for file in [&junit, &html, &prom] {
        assert!(
            kept.contains(file),
            "{file}, written by `{line}`, is not kept as an artifact: {kept:?}"
        );
    }
    for file in kept {
        assert!(
            repo.join(file).is_file(),
            "the artifact's {file} was not written"
        );
    }
    let xml = std::fs::read_to_string(repo.join(&junit)).unwrap_or_default();
    assert!(
        xml.contains("<testsuite name=\"shop-drill\"")
            && xml.contains(&format!("output backup_id: {backup}")),
        "{xml}"
    );
    let html = std::fs::read_to_string(repo.join(&html)).unwrap_or_default();
    assert!(html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"));
    let metrics = std::fs::read_to_string(repo.join(&prom)).unwrap_or_default();
    assert_eq!(
        push.request_line, "POST /metrics/job/lifeboat/runbook/shop-drill HTTP/1.1",
        "the Pushgateway got {}",
        push.request_line
    );
    assert_eq!(push.text(), metrics, "the push is the metrics file");
    let success = if missed { "0" } else { "1" };
    assert!(
        metrics.contains(&format!(
            "lifeboat_run_success{{runbook=\"shop-drill\"}} {success}\n"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "lifeboat_objective_met{{runbook=\"shop-drill\",objective=\"rpo\"}} {success}\n"
        )),
        "{metrics}"
    );
    if missed {
        assert!(
            xml.contains("name=\"objective rpo\"") && xml.contains("type=\"objective missed\""),
            "{xml}"
        );
        assert!(!metrics.contains("lifeboat_run_last_success_timestamp_seconds{"));
    } else {
        assert!(!xml.contains("<failure"), "{xml}");
        assert!(metrics.contains("lifeboat_run_last_success_timestamp_seconds{"));
    }
}

// ---------------------------------------------------------------------------------
// GitHub Actions.

#[test]
fn github_the_scheduled_drill_keeps_its_reports_pushes_metrics_and_shows_exit_3_as_objectives_missed()
 {
    let workflow = load(GITHUB_DRILL);
    let cron = workflow["on"]["schedule"][0]["cron"]
        .as_str()
        .unwrap_or_else(|| panic!("{GITHUB_DRILL}: no `on: schedule: - cron:`"));
    assert_eq!(cron.split_whitespace().count(), 5, "cron `{cron}`");
    assert!(
        workflow["on"].get("workflow_dispatch").is_some(),
        "{GITHUB_DRILL}: a drill must be startable by hand"
    );
    assert_eq!(workflow["permissions"], json!({ "contents": "read" }));
    let lines = lifeboat_lines_of(&workflow, "drill");
    let [line] = lines.as_slice() else {
        panic!("{GITHUB_DRILL}: one lifeboat line expected: {lines:?}");
    };
    assert!(
        line.starts_with(&format!("lifeboat run {DRILL} --yes ")),
        "{line}"
    );
    let kept = github_artifact_paths(GITHUB_DRILL, "drill");

    let bed = DrillBed::new();
    let (gateway, pushes) = receiver("200 OK");
    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("secrets.DR_AWS_ACCESS_KEY_ID", env_of("AWS_ACCESS_KEY_ID")),
        (
            "secrets.DR_AWS_SECRET_ACCESS_KEY",
            env_of("AWS_SECRET_ACCESS_KEY"),
        ),
        ("secrets.DRILL_KUBECONFIG", bed.kubeconfig.clone()),
        ("vars.PUSHGATEWAY_URL", gateway),
    ]);
    let runner = [("AWS_ENDPOINT_URL", endpoint())];

    // The newest backup is two days old: RPO (24h) missed.
    let stale = bed.back_up(Some(jiff::SignedDuration::from_hours(48)));
    let checkout = Checkout::new();
    let job = run_github_job(GITHUB_DRILL, "drill", &checkout, &values, &runner);
    let drill = job.step("Drill");
    assert_eq!(drill.code, 3, "{}\n{}", drill.stdout, drill.stderr);
    assert!(job.failed, "a missed objective fails the job");
    assert!(
        drill.stdout.lines().any(|l| l
            == "::error title=DR drill::objectives missed: the restore worked, but too slowly (RTO) or from too old a backup (RPO) (exit code 3)"),
        "no annotation saying the objectives were missed:\n{}",
        drill.stdout
    );
    assert!(
        job.summary.starts_with("## DR drill: objectives missed")
            && job.summary.contains("Exit code 3."),
        "{}",
        job.summary
    );
    assert!(drill.stdout.contains("objective rpo: ") && drill.stdout.contains("MISSED"));
    check_drill_reports(
        &checkout.repo(),
        line,
        &kept,
        &one_request(&pushes, "the Pushgateway"),
        true,
        &stale,
    );
    assert_every_lifeboat_line_ran(GITHUB_DRILL, "drill", &checkout);

    // A fresh backup: everything passes.
    let fresh = bed.back_up(None);
    let checkout = Checkout::new();
    let job = run_github_job(GITHUB_DRILL, "drill", &checkout, &values, &runner);
    let drill = job.step("Drill");
    assert_eq!(drill.code, 0, "{}\n{}", drill.stdout, drill.stderr);
    assert!(!job.failed);
    assert!(!drill.stdout.contains("::error"), "{}", drill.stdout);
    assert!(
        job.summary.starts_with("## DR drill: passed"),
        "{}",
        job.summary
    );
    check_drill_reports(
        &checkout.repo(),
        line,
        &kept,
        &one_request(&pushes, "the Pushgateway"),
        false,
        &fresh,
    );
    // The kubeconfig the job wrote from the secret is its owner's only.
    let mode = std::fs::metadata(checkout.temp().join("kubeconfig"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mode, 0o600);
}

fn env_of(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with `scripts/test`"))
}

/// A checkout whose `main` is this repository's runbooks, on a branch `change` where
/// `change` has been committed.
fn pull_request(change: impl FnOnce(&Path)) -> (Checkout, String) {
    let checkout = Checkout::new();
    checkout.git(&["init", "-q"]);
    checkout.git(&["add", "-A"]);
    checkout.git(&["commit", "-q", "-m", "base"]);
    let base = checkout.git(&["rev-parse", "HEAD"]);
    // As `actions/checkout` with `fetch-depth: 0` leaves it: the base branch as
    // `origin/main`.
    checkout.git(&["update-ref", "refs/remotes/origin/main", &base]);
    checkout.git(&["checkout", "-q", "-b", "change"]);
    change(&checkout.repo());
    checkout.git(&["add", "-A"]);
    checkout.git(&["commit", "-q", "-m", "change"]);
    (checkout, base)
}

/// The pull request that changes drill.yaml's description (valid), and the shop's
/// manifests beside the runbooks (no runbook: it must not be planned).
fn change_the_drill(repo: &Path) {
    let shop = repo.join("runbooks/fixtures/shop/shop.yaml");
    let mut manifests = std::fs::read_to_string(&shop).unwrap_or_else(|e| panic!("{e}"));
    manifests.push_str("# reviewed\n");
    std::fs::write(&shop, manifests).unwrap_or_else(|e| panic!("{e}"));
    let file = repo.join(DRILL);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let changed = text.replacen(
        "description: Weekly restore drill",
        "description: Weekly (reviewed) restore drill",
        1,
    );
    assert_ne!(
        text, changed,
        "{DRILL}'s description changed: update this test"
    );
    std::fs::write(&file, changed).unwrap_or_else(|e| panic!("{e}"));
}

/// The pull request that adds a runbook naming a cluster it does not define.
fn add_a_broken_runbook(repo: &Path) {
    std::fs::copy(path(BROKEN), repo.join("runbooks/unknown-cluster.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
}

/// What `lifeboat plan --format markdown` prints for drill.yaml as changed.
fn plan_of_changed_drill(checkout: &Checkout) -> String {
    Test::new()
        .args(["plan", "--format", "markdown", DRILL])
        .current_dir(&checkout.repo())
        .run()
        .stdout
}

/// `file:line:col` of each error `lifeboat validate` prints for humans, run on the
/// broken runbook where the pull request adds it.
fn human_positions(checkout: &Checkout) -> Vec<String> {
    let out = Test::new()
        .args(["validate", "runbooks/unknown-cluster.yaml"])
        .current_dir(&checkout.repo())
        .status(2)
        .run();
    out.stderr
        .lines()
        .filter_map(|l| l.split_once(": error: ").map(|(at, _)| at.to_string()))
        .collect()
}

#[test]
fn github_runbook_review_annotates_errors_at_their_line_and_comments_the_plan_of_changed_runbooks()
{
    let workflow = load(GITHUB_REVIEW);
    assert!(
        workflow["on"]["pull_request"].is_object(),
        "{GITHUB_REVIEW}: runs on pull requests"
    );
    assert_eq!(
        workflow["permissions"],
        json!({ "contents": "read", "pull-requests": "write" })
    );
    assert_eq!(
        workflow["jobs"]["review"]["steps"][0]["with"]["fetch-depth"],
        json!(0),
        "the diff against the base branch needs its history"
    );
    let (api, comments) = receiver("201 Created");
    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("github.token", "ghs_test_token".to_string()),
        ("github.event.pull_request.number", "7".to_string()),
    ]);
    let runner = [
        ("GITHUB_API_URL", api),
        ("GITHUB_REPOSITORY", "acme/dr".to_string()),
        ("GITHUB_BASE_REF", "main".to_string()),
        ("GITHUB_EVENT_NAME", "pull_request".to_string()),
    ];

    // A pull request that changes the drill: valid, and its plan (only its) commented.
    let (checkout, _) = pull_request(change_the_drill);
    let job = run_github_job(GITHUB_REVIEW, "review", &checkout, &values, &runner);
    assert!(!job.failed, "{}", job.step("Validate").stderr);
    let validate = job.step("Validate");
    assert_eq!(
        validate.stdout.matches(": ok (").count(),
        glob(&root(), "runbooks/*.yaml").len(),
        "{}",
        validate.stdout
    );
    assert!(!validate.stdout.contains("::error"), "{}", validate.stdout);
    let comment = one_request(&comments, "the plan comment");
    assert_eq!(
        comment.request_line,
        "POST /repos/acme/dr/issues/7/comments HTTP/1.1"
    );
    assert_eq!(
        comment.header("authorization"),
        Some("Bearer ghs_test_token")
    );
    let body: Value = serde_json::from_slice(&comment.body)
        .unwrap_or_else(|e| panic!("the comment is not JSON: {e}: {}", comment.text()));
    let plan = plan_of_changed_drill(&checkout);
    assert!(plan.contains("Weekly (reviewed) restore drill"), "{plan}");
    assert_eq!(
        body,
        json!({ "body": format!("{plan}\n") }),
        "the comment is the plan of the changed runbook, and only that"
    );
    assert!(plan.contains("```mermaid"));
    assert_every_lifeboat_line_ran(GITHUB_REVIEW, "review", &checkout);

    // A pull request that adds a broken runbook: an annotation where the error is; the
    // job fails before the plan, nothing is posted.
    let (checkout, _) = pull_request(add_a_broken_runbook);
    let job = run_github_job(GITHUB_REVIEW, "review", &checkout, &values, &runner);
    assert!(job.failed);
    let validate = job.step("Validate");
    assert_eq!(validate.code, 2, "{}", validate.stderr);
    let mut annotated = Vec::new();
    for line in validate.stdout.lines() {
        if line.ends_with(" steps)") && line.contains(": ok (") {
            continue;
        }
        // GitHub's form: `::error file={name},line={line},col={col},title={title}::{message}`.
        let rest = line
            .strip_prefix("::error file=")
            .unwrap_or_else(|| panic!("neither ok nor an annotation: {line}"));
        let (props, message) = rest
            .split_once("::")
            .unwrap_or_else(|| panic!("no message: {line}"));
        let props: Vec<&str> = props.split(',').collect();
        let [file, line_no, col, title] = props.as_slice() else {
            panic!("unexpected properties: {line}");
        };
        let line_no = line_no.strip_prefix("line=").unwrap_or_default();
        let col = col.strip_prefix("col=").unwrap_or_default();
        assert!(
            line_no.parse::<u32>().is_ok() && col.parse::<u32>().is_ok(),
            "{line}"
        );
        assert_eq!(*title, "title=lifeboat validate");
        assert!(!message.is_empty() && !message.contains('\n'));
        annotated.push((format!("{file}:{line_no}:{col}"), message.to_string()));
    }
    assert_eq!(
        annotated
            .iter()
            .map(|(at, _)| at.clone())
            .collect::<Vec<_>>(),
        human_positions(&checkout),
        "the annotations are where `lifeboat validate` says the errors are"
    );
    assert_eq!(annotated[0].0, "runbooks/unknown-cluster.yaml:11:14");
    assert!(
        annotated[0]
            .1
            .starts_with("unknown cluster `stanby`%0Ahint: did you mean `standby`?"),
        "{}",
        annotated[0].1
    );
    assert!(
        !job.ran("Plan"),
        "the plan step runs after a failed validation"
    );
    assert!(comments.try_recv().is_err(), "a comment was posted");
}

// ---------------------------------------------------------------------------------
// GitLab CI.

#[test]
fn gitlab_the_scheduled_drill_is_a_warning_on_exit_3_keeps_its_reports_and_pushes_metrics() {
    let pipeline = load(GITLAB);
    let stages: Vec<&str> = pipeline["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let jobs = jobs_of(&pipeline);
    assert_eq!(jobs, ["drill", "review"]);
    for job in &jobs {
        let stage = pipeline[job.as_str()]["stage"].as_str().unwrap_or_default();
        assert!(
            stages.contains(&stage),
            "{job}: stage {stage} is not in {stages:?}"
        );
    }
    for (source, drill, review) in [
        ("schedule", true, false),
        ("web", true, false),
        ("push", false, false),
        ("merge_request_event", false, true),
    ] {
        assert_eq!(
            gitlab_runs(&pipeline, "drill", source),
            drill,
            "drill on {source}"
        );
        assert_eq!(
            gitlab_runs(&pipeline, "review", source),
            review,
            "review on {source}"
        );
    }
    let job = &pipeline["drill"];
    assert_eq!(
        job["allow_failure"],
        json!({ "exit_codes": [3] }),
        "only a missed objective may pass with a warning"
    );
    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"], "always");
    let kept: Vec<String> = artifacts["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    let lines = lifeboat_lines_of(&pipeline, "drill");
    let [line] = lines.as_slice() else {
        panic!("the drill job runs one lifeboat line: {lines:?}");
    };
    assert!(
        line.starts_with(&format!("lifeboat run {DRILL} --yes ")),
        "{line}"
    );
    assert_eq!(
        artifacts["reports"]["junit"].as_str(),
        Some(flag(line, "--junit").as_str()),
        "GitLab's test report is the JUnit file the drill writes"
    );

    let bed = DrillBed::new();
    let (gateway, pushes) = receiver("200 OK");
    let kubeconfig = bed.kubeconfig_file();
    // Project variables (DRILL_KUBECONFIG is of type File: its value is a path).
    let vars = [
        ("CI_PIPELINE_SOURCE", "schedule".to_string()),
        ("AWS_ACCESS_KEY_ID", env_of("AWS_ACCESS_KEY_ID")),
        ("AWS_SECRET_ACCESS_KEY", env_of("AWS_SECRET_ACCESS_KEY")),
        ("DRILL_KUBECONFIG", kubeconfig.display().to_string()),
        ("PUSHGATEWAY_URL", gateway),
        ("AWS_ENDPOINT_URL", endpoint()),
    ];
    let exit_codes = job["allow_failure"]["exit_codes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let status = |code: i32| match code {
        0 => "passed",
        c if exit_codes.contains(&json!(c)) => "passed with warnings",
        _ => "failed",
    };

    let stale = bed.back_up(Some(jiff::SignedDuration::from_hours(48)));
    let checkout = Checkout::new();
    let ran = run_gitlab_job(&checkout, "drill", &vars);
    assert_eq!(ran.code, 3, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(status(ran.code), "passed with warnings");
    assert!(ran.stdout.contains("objective rpo: ") && ran.stdout.contains("MISSED"));
    check_drill_reports(
        &checkout.repo(),
        line,
        &kept,
        &one_request(&pushes, "the Pushgateway"),
        true,
        &stale,
    );
    assert_every_lifeboat_line_ran(GITLAB, "drill", &checkout);

    let fresh = bed.back_up(None);
    let checkout = Checkout::new();
    let ran = run_gitlab_job(&checkout, "drill", &vars);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(status(ran.code), "passed");
    check_drill_reports(
        &checkout.repo(),
        line,
        &kept,
        &one_request(&pushes, "the Pushgateway"),
        false,
        &fresh,
    );
    // A failed step (exit 1) is no warning.
    assert_eq!(status(1), "failed");
}

#[test]
fn gitlab_the_merge_request_review_prints_errors_at_file_line_col_and_notes_the_plan() {
    let (api, notes) = receiver("201 Created");
    let vars = |base: &str| {
        [
            ("CI_PIPELINE_SOURCE", "merge_request_event".to_string()),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", base.to_string()),
            ("CI_API_V4_URL", format!("{api}/api/v4")),
            ("CI_PROJECT_ID", "42".to_string()),
            ("CI_MERGE_REQUEST_IID", "7".to_string()),
            ("PLAN_NOTE_TOKEN", "glpat-test-token".to_string()),
        ]
    };

    let (checkout, base) = pull_request(change_the_drill);
    let ran = run_gitlab_job(&checkout, "review", &vars(&base));
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.stdout.matches(": ok (").count(),
        glob(&root(), "runbooks/*.yaml").len(),
        "{}",
        ran.stdout
    );
    let note = one_request(&notes, "the plan note");
    assert_eq!(
        note.request_line,
        "POST /api/v4/projects/42/merge_requests/7/notes HTTP/1.1"
    );
    assert_eq!(note.header("private-token"), Some("glpat-test-token"));
    assert_eq!(
        note.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let text = note.text();
    let encoded = text
        .strip_prefix("body=")
        .unwrap_or_else(|| panic!("the note has no body field: {text}"));
    assert!(!encoded.contains('&'), "one field only: {text}");
    let body = percent_encoding::percent_decode_str(&encoded.replace('+', " "))
        .decode_utf8()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_owned();
    assert_eq!(
        body,
        format!("{}\n", plan_of_changed_drill(&checkout)),
        "the note is the plan of the changed runbook, and only that"
    );
    assert_every_lifeboat_line_ran(GITLAB, "review", &checkout);

    let (checkout, base) = pull_request(add_a_broken_runbook);
    let ran = run_gitlab_job(&checkout, "review", &vars(&base));
    assert_eq!(ran.code, 2, "{}\n{}", ran.stdout, ran.stderr);
    let positions = human_positions(&checkout);
    assert_eq!(positions, ["runbooks/unknown-cluster.yaml:11:14"]);
    assert!(
        ran.stderr.contains(
            "runbooks/unknown-cluster.yaml:11:14: error: unknown cluster `stanby`\n  hint: did you mean `standby`?"
        ),
        "{}",
        ran.stderr
    );
    assert!(notes.try_recv().is_err(), "a note was posted");
}

/// What docs/ci.md says of the other formats: `--format json` is one document with
/// each runbook and each error at its place; `--format human` is the default.
#[test]
fn validate_json_has_every_runbook_and_every_error_at_file_line_col() {
    let steps = load(DRILL)["steps"].as_array().map_or(0, Vec::len);
    let out = Test::new()
        .args(["validate", "--format", "json", BROKEN, DRILL])
        .status(2)
        .run();
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}: {}", out.stdout));
    assert_eq!(
        doc,
        json!({
            "valid": false,
            "runbooks": [
                { "file": BROKEN, "valid": false, "errors": 1 },
                { "file": DRILL, "valid": true, "steps": steps },
            ],
            "errors": [{
                "file": BROKEN, "line": 11, "col": 14,
                "message": "unknown cluster `stanby`",
                "hint": "did you mean `standby`? defined clusters: `primary`, `standby`",
            }],
        })
    );
    assert_eq!(out.stderr, "", "JSON only, on stdout");
    let human = Test::new().args(["validate", BROKEN]).status(2).run();
    assert!(
        human.stderr.starts_with(&format!(
            "{BROKEN}:11:14: error: unknown cluster `stanby`\n"
        )),
        "{}",
        human.stderr
    );
    let ok = Test::new()
        .args(["validate", "--format", "github", DRILL])
        .run();
    assert_eq!(ok.stdout, format!("{DRILL}: ok ({steps} steps)\n"));
}
