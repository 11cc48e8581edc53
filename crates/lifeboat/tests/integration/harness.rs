//! A small fluent builder for "run lifeboat with these arguments and expect this", in
//! the style of just's tests. Every run is bounded in time so a hang fails the test
//! instead of stalling the suite.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use testbed::{path, root};

pub struct Test {
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    dir: PathBuf,
    /// The exit status expected; `None` takes any (the caller looks at it).
    status: Option<i32>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    stderr_absent: Vec<String>,
    limit: Duration,
}

/// What a run printed.
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Self {
        Test {
            args: Vec::new(),
            envs: Vec::new(),
            dir: root(),
            status: Some(0),
            stdout: Vec::new(),
            stderr: Vec::new(),
            stderr_absent: vec!["panicked".into()],
            limit: Duration::from_secs(60),
        }
    }

    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the run.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.dir = dir.to_path_buf();
        self
    }

    /// How long the run may take before it counts as hanging (default 60 s).
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    pub fn status(mut self, code: i32) -> Self {
        self.status = Some(code);
        self
    }

    /// Any exit status is fine: the caller decides from `Output::status`.
    pub fn status_any(mut self) -> Self {
        self.status = None;
        self
    }

    pub fn stdout_contains(mut self, s: &str) -> Self {
        self.stdout.push(s.to_string());
        self
    }

    pub fn stderr_contains(mut self, s: &str) -> Self {
        self.stderr.push(s.to_string());
        self
    }

    /// Runs and checks every expectation; returns the output for further checks.
    pub fn run(self) -> Output {
        let out = self.output();
        let show = || {
            format!(
                "args: {:?}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
                self.args, out.status, out.stdout, out.stderr
            )
        };
        if let Some(status) = self.status {
            assert_eq!(out.status, status, "unexpected exit status\n{}", show());
        }
        for s in &self.stdout {
            assert!(
                out.stdout.contains(s.as_str()),
                "stdout lacks {s:?}\n{}",
                show()
            );
        }
        for s in &self.stderr {
            assert!(
                out.stderr.contains(s.as_str()),
                "stderr lacks {s:?}\n{}",
                show()
            );
        }
        for s in &self.stderr_absent {
            assert!(
                !out.stderr.contains(s.as_str()),
                "stderr has {s:?}\n{}",
                show()
            );
        }
        out
    }

    fn output(&self) -> Output {
        let child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start lifeboat: {e}"));
        wait_output(child, self.limit, &format!("lifeboat {:?}", self.args))
    }
}

/// Waits at most `limit` for `child` (stdout and stderr piped), reading both as it
/// goes. One that outlives `limit` hangs: it is killed, with its process group when
/// it leads one, and the test fails naming `what`.
pub fn wait_output(mut child: std::process::Child, limit: Duration, what: &str) -> Output {
    let mut stdout_pipe = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("no stdout pipe"));
    let mut stderr_pipe = child
        .stderr
        .take()
        .unwrap_or_else(|| panic!("no stderr pipe"));
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout_pipe.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr_pipe.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("wait failed: {e}"))
        {
            break status;
        }
        if start.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = child.kill();
            panic!("{what} did not finish within {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Output {
        status: status.code().unwrap_or(-1),
        stdout,
        stderr,
    }
}

/// A runbook a test writes: its clusters (kubeconfig files), stores (YAML of a store
/// definition), and steps. Its runs keep their journal and lock beside it
/// (`state: { path: state }`), so tests that run at the same time never share a lock.
pub struct TestRunbook {
    name: String,
    /// The `state:` mapping (default: the `state` folder beside the runbook).
    state: String,
    /// Name, kubeconfig, and more fields of the entry (YAML, `, requests: {...}`).
    clusters: Vec<(String, PathBuf, String)>,
    stores: Vec<(String, String)>,
    params: String,
    steps: String,
}

impl TestRunbook {
    pub fn new(name: &str) -> Self {
        TestRunbook {
            name: name.to_string(),
            state: "{ path: state }".to_string(),
            clusters: Vec::new(),
            stores: Vec::new(),
            params: String::new(),
            steps: String::new(),
        }
    }

    /// A cluster reached through a kubeconfig file.
    pub fn cluster(self, name: &str, kubeconfig: &Path) -> Self {
        self.cluster_with(name, kubeconfig, "")
    }

    /// A cluster reached through a kubeconfig file, with more fields of its entry as
    /// YAML flow-mapping entries (`requests: { timeout: 2s }`).
    pub fn cluster_with(mut self, name: &str, kubeconfig: &Path, fields: &str) -> Self {
        let fields = if fields.is_empty() {
            String::new()
        } else {
            format!(", {fields}")
        };
        self.clusters
            .push((name.to_string(), kubeconfig.to_path_buf(), fields));
        self
    }

    /// A store, as the YAML value of its definition (`{ fs: { path: ... } }`).
    pub fn store(mut self, name: &str, definition: &str) -> Self {
        self.stores.push((name.to_string(), definition.to_string()));
        self
    }

    /// The params, as YAML map entries (`  token: { secret: true }` lines).
    pub fn params(mut self, params: &str) -> Self {
        self.params = params.to_string();
        self
    }

    /// The steps, as YAML list items (`  - { id: ..., uses: ... }` lines).
    /// Keeps the journal and the lock in store `name` (instead of a local folder).
    pub fn state_in(mut self, name: &str) -> Self {
        self.state = format!("{{ store: {name} }}");
        self
    }

    pub fn steps(mut self, steps: &str) -> Self {
        self.steps = steps.to_string();
        self
    }

    /// Writes `<dir>/<name>.yaml` and returns its path.
    pub fn write(self, dir: &Path) -> PathBuf {
        let mut text = format!(
            "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: {} }}\n",
            self.name
        );
        if !self.params.is_empty() {
            text.push_str(&format!("params:\n{}", self.params));
        }
        if !self.clusters.is_empty() {
            text.push_str("clusters:\n");
            for (name, kubeconfig, fields) in &self.clusters {
                text.push_str(&format!(
                    "  {name}: {{ kubeconfig: \"{}\"{fields} }}\n",
                    kubeconfig.display()
                ));
            }
        }
        if !self.stores.is_empty() {
            text.push_str("stores:\n");
            for (name, definition) in &self.stores {
                text.push_str(&format!("  {name}: {definition}\n"));
            }
        }
        text.push_str(&format!("state: {}\nsteps:\n{}", self.state, self.steps));
        let p = dir.join(format!("{}.yaml", self.name));
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        p
    }
}
