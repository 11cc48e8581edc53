//! Ctrl-C while the store that holds the journal and lock misbehaves. The run keeps
//! its journal and lock in an S3 store reached through a proxy that the test turns
//! bad mid-run, while a long step runs:
//!
//! - the store hangs (it stops answering), so the first Ctrl-C hangs on recording the
//!   interruption; the second one must end the process well before the store's
//!   request timeout: the documented promise of `lifeboat run` (docs/journal.md,
//!   `watch_ctrl_c` in src/cli/run.rs) in the one case where it matters;
//! - the store fails every request, so the first Ctrl-C cannot record the
//!   interruption: lifeboat must say the journal is incomplete instead of claiming it
//!   complete, and still print the resume command.
//!
//! Either way the store then works again and the printed `resume` command, run from
//! another folder, finishes the run from what the journal holds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::backup_restore::Bucket;
use crate::harness::{Output, Test};
use crate::journal::wait_for;
use crate::s3_server::{aws, endpoint};

/// How long the second Ctrl-C may take to end the process. A frozen store answers
/// nothing, so without the second Ctrl-C the process waits for the S3 client's
/// timeouts (src/store/s3.rs: 60s per attempt, 5 attempts, 300s in all; the runbook
/// format has no setting for them). The bound is far below one attempt, and far above
/// what exiting takes, so it asserts "does not hang", not a speed.
const SECOND_CTRL_C_BOUND: Duration = Duration::from_secs(20);

/// How long the first Ctrl-C may take to end the process when the store fails every
/// request. Two requests fail after all their attempts (recording the interruption,
/// reading the lock to release it), in well under a second with the retry delay the
/// failing store asks for (`Mode::Fail`), in 30s at most with the S3 client's own
/// backoff. The bound only catches a hang (one would last the store's 300s timeout).
const FAILING_STORE_BOUND: Duration = Duration::from_secs(60);

#[test]
fn a_second_ctrl_c_exits_at_once_while_the_store_hangs_and_the_run_resumes() {
    let bucket = Bucket::new("interrupt");
    let proxy = StoreProxy::start(&endpoint());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = dir.path().join("hang.yaml");
    // `long` only has to outlast the steps before the first Ctrl-C (a few seconds);
    // the resume at the end runs it in full.
    write_runbook(&rb, &bucket, &proxy, "20s");

    let mut run = Running::spawn(&["run", &rb.to_string_lossy()], dir.path());
    let id = wait_until_long_started(&run, &bucket);
    proxy.set(Mode::Freeze);

    run.interrupt();
    wait_for(&run.stderr, "stopping after recording");
    run.interrupt();
    let code = run.exit_within(SECOND_CTRL_C_BOUND).unwrap_or_else(|| {
        panic!(
            "lifeboat did not exit within {SECOND_CTRL_C_BOUND:?} of the second Ctrl-C: it waits for the frozen store"
        )
    });
    let stdout = drain(&run.stdout).join("\n");
    let stderr = drain(&run.stderr).join("\n");
    assert_eq!(code, 130, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stderr.contains("quitting now; the journal is consistent"),
        "{stderr}"
    );
    // The first Ctrl-C's path (record the interruption, release the lock, print the
    // resume command on stdout) never got past the frozen store; the second Ctrl-C
    // printed the resume command itself.
    assert!(!stdout.contains("lifeboat resume"), "{stdout}");
    let lock = "dr/locks/hang.json".to_string();
    assert!(bucket.keys().contains(&lock), "{}", bucket.listing());
    let resume = resume_command(&stderr);
    let words: Vec<String> = resume.split_whitespace().map(str::to_string).collect();
    // The state is in a store with its own endpoint: the command finds it through the
    // runbook (an `s3://` URL would lose the endpoint and go to AWS).
    assert_eq!(words[2], id, "{resume}");
    assert_eq!(words[3], "--runbook", "{resume}");
    assert_eq!(
        words.last().map(String::as_str),
        Some("--steal-lock"),
        "{resume}"
    );

    // The store answers again. The printed command, run anywhere, finds the state.
    proxy.set(Mode::Forward);
    let elsewhere = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb_flag = ["--runbook", words[4].as_str()];
    let lifeboat = |args: &[&str]| {
        Test::new()
            .args(args.iter().copied())
            .args(rb_flag)
            .current_dir(elsewhere.path())
    };
    let runs = lifeboat(&["status"]).run();
    let listed = runs
        .stdout
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("status does not list run {id}:\n{}", runs.stdout));
    // The interruption was never recorded: the run reads as one that died in `long`.
    assert!(
        listed.contains("running or died") && listed.trim_end().ends_with("long"),
        "{listed}"
    );
    let one = lifeboat(&["status", &id]).run();
    let state_of = |step: &str| {
        one.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{step} ")))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_else(|| panic!("no row for {step}:\n{}", one.stdout))
    };
    assert_eq!(state_of("first"), "succeeded");
    assert_eq!(state_of("long"), "started");

    // The lock left behind names this run and its lease still runs: the printed
    // command of the second Ctrl-C says --steal-lock, and takes it back.
    let resumed = Test::new()
        .args(words[1..].iter().map(String::as_str))
        .current_dir(elsewhere.path())
        .run();
    assert_finishes_the_run(&resumed);
    lifeboat(&["status"]).stdout_contains("succeeded").run();
    assert!(!bucket.keys().contains(&lock), "{}", bucket.listing());
}

#[test]
fn a_ctrl_c_while_the_store_fails_says_the_journal_is_incomplete_and_the_run_resumes() {
    let bucket = Bucket::new("interrupt-fail");
    let proxy = StoreProxy::start(&endpoint());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = dir.path().join("broken.yaml");
    // `long` only has to outlast the steps before the Ctrl-C (a few seconds); the
    // resume at the end runs it in full.
    write_runbook(&rb, &bucket, &proxy, "10s");

    // A relative runbook path: the resume command must name it absolute.
    let mut run = Running::spawn(&["run", "broken.yaml"], dir.path());
    let id = wait_until_long_started(&run, &bucket);
    proxy.set(Mode::Fail);

    run.interrupt();
    wait_for(&run.stderr, "stopping after recording");
    let code = run.exit_within(FAILING_STORE_BOUND).unwrap_or_else(|| {
        panic!(
            "lifeboat did not exit within {FAILING_STORE_BOUND:?} of a Ctrl-C: it hangs on a store that fails"
        )
    });
    let stdout = drain(&run.stdout).join("\n");
    let stderr = drain(&run.stderr).join("\n");
    assert_eq!(code, 130, "stdout:\n{stdout}\nstderr:\n{stderr}");
    // The interruption could not be recorded: lifeboat says so, with the store's
    // error, instead of calling the journal complete.
    assert!(
        stdout.contains(&format!(
            "run {id} interrupted, but its journal could not record everything (failed to write the journal of run {id}"
        )) && stdout.contains("SlowDown")
            && stdout.contains("a resume redoes the steps after the last one recorded"),
        "{stdout}"
    );
    assert!(!stdout.contains("the journal is complete"), "{stdout}");
    // One Ctrl-C: the process ended on its own, not through the second Ctrl-C's exit.
    assert!(!stderr.contains("quitting now"), "{stderr}");
    let resume = resume_command(&stdout);
    // The lock could not be released (the store fails): its lease still runs, so the
    // printed command takes it back at once.
    assert_eq!(
        resume,
        format!(
            "lifeboat resume {id} --runbook {} --steal-lock",
            rb.display()
        ),
        "{stdout}"
    );
    // Nothing reached the store after the Ctrl-C: the journal ends at the start of
    // `long`, and the lock, which lifeboat could not read to release, is still there.
    let keys = bucket.keys();
    let lock = "dr/locks/broken.json".to_string();
    assert!(keys.contains(&lock), "{}", bucket.listing());
    assert!(
        !keys.contains(&format!("dr/runs/{id}/events/00000005.json")),
        "{}",
        bucket.listing()
    );

    // The store works again. The lock left behind names this run; the printed command,
    // run from another folder, takes it back (its lease still runs: --steal-lock) and
    // finishes the run.
    proxy.set(Mode::Forward);
    let elsewhere = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let resumed = Test::new()
        .args(resume.split_whitespace().skip(1))
        .current_dir(elsewhere.path())
        .run();
    assert_finishes_the_run(&resumed);
    Test::new()
        .args(["status", "--runbook", &rb.to_string_lossy()])
        .current_dir(elsewhere.path())
        .stdout_contains("succeeded")
        .run();
    assert!(!bucket.keys().contains(&lock), "{}", bucket.listing());
}

/// Writes runbook `path` (named after the file): its state in `bucket` through
/// `proxy`, a quick step `first`, then a step `long` that sleeps for `long`.
fn write_runbook(path: &Path, bucket: &Bucket, proxy: &StoreProxy, long: &str) {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_else(|| panic!("no runbook name in {}", path.display()));
    std::fs::write(
        path,
        format!(
            "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: {name} }}\nstores:\n  vault: {}\nstate: {{ store: vault }}\nsteps:\n  - {{ id: first, uses: sleep, with: {{ duration: 1ms }} }}\n  - {{ id: long, uses: sleep, with: {{ duration: {long} }} }}\n",
            bucket.store_yaml().replace(&endpoint(), &proxy.endpoint())
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Waits until `run` started `long` and the journal in `bucket` holds that start;
/// returns the run id.
fn wait_until_long_started(run: &Running, bucket: &Bucket) -> String {
    let seen = wait_for(&run.stdout, "start long");
    let id = seen[0]
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    // The display shows an event before the journal records it: the store may turn bad
    // only once the start of `long` is in it, so the journal is at a known point (run
    // started, `first` started and succeeded, `long` started) and nothing is in flight.
    let started_long = wait_for_object(bucket, &format!("dr/runs/{id}/events/00000004.json"));
    assert!(
        started_long.contains("\"event\":\"step_started\"")
            && started_long.contains("\"step\":\"long\""),
        "{started_long}"
    );
    id
}

/// The `lifeboat resume ...` line in `out`.
fn resume_command(out: &str) -> String {
    out.lines()
        .map(str::trim)
        .find(|l| l.starts_with("lifeboat resume"))
        .unwrap_or_else(|| panic!("no resume command:\n{out}"))
        .to_string()
}

/// A resume that kept `first` as done before and ran `long` in full.
fn assert_finishes_the_run(resumed: &Output) {
    let out = &resumed.stdout;
    assert!(out.contains("done  first"), "{out}");
    assert!(!out.contains("start first"), "{out}");
    assert!(out.contains("start long"), "{out}");
    assert!(out.contains("ok    long"), "{out}");
}

/// `lifeboat` running in the background, its stdout and stderr lines arriving on
/// channels; killed if the test ends while it still runs.
struct Running {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Running {
    fn spawn(args: &[&str], dir: &Path) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start lifeboat: {e}"));
        let stdout = lines(child.stdout.take());
        let stderr = lines(child.stderr.take());
        Running {
            child,
            stdout,
            stderr,
        }
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    fn interrupt(&self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT failed");
    }

    /// The exit code, if the process ends within `limit`.
    fn exit_within(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn lines(pipe: Option<impl Read + Send + 'static>) -> Receiver<String> {
    let pipe = pipe.unwrap_or_else(|| panic!("no pipe"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// The lines still to come from an exited process (until its pipe closes).
fn drain(rx: &Receiver<String>) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => out.push(line),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    out
}

/// Waits until `key` is in the bucket; returns its content.
fn wait_for_object(bucket: &Bucket, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bucket.keys().iter().any(|k| k == key) {
        assert!(
            Instant::now() < deadline,
            "{key} did not appear within 30s:\n{}",
            bucket.listing()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = aws(&["s3", "cp", &format!("s3://{}/{key}", bucket.name), "-"]);
    assert!(
        got.status.success(),
        "cp: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    String::from_utf8_lossy(&got.stdout).into_owned()
}

/// What `StoreProxy` does with the traffic between lifeboat and the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Passes everything through, both ways.
    Forward,
    /// A store that stops answering: what either side sends is dropped and every
    /// connection (old or new) is held open, so requests neither fail nor get an
    /// answer. Leaving this mode closes the connections that saw it (what they carried
    /// is lost, as in a network partition). Never forwarding a held request later
    /// keeps a dead client's write from landing after the test moved on.
    Freeze,
    /// A store that fails every request at once: a new connection gets `503 SlowDown`
    /// (how S3 turns work away), an open one is closed when it next carries anything.
    /// The answer asks for a retry after `FAIL_RETRY_AFTER`, which the S3 client
    /// honours instead of its own backoff (up to 1+2+4+8s over its 5 attempts for a
    /// refused connection or a bare 500), so a failing request fails in well under a
    /// second. Nothing reaches the store.
    Fail,
}

/// The delay `Mode::Fail` asks the client to wait before each retry.
const FAIL_RETRY_AFTER: Duration = Duration::from_millis(20);

/// A TCP proxy in front of the test S3 server, whose `Mode` the test sets to make the
/// store hang or fail mid-run and then work again.
struct StoreProxy {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    stopped: Arc<AtomicBool>,
}

impl StoreProxy {
    fn start(upstream: &str) -> StoreProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let mode = Arc::new(Mutex::new(Mode::Forward));
        let stopped = Arc::new(AtomicBool::new(false));
        let (mode_, stopped_) = (mode.clone(), stopped.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped_.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if current(&mode_) == Mode::Fail {
                    std::thread::spawn(move || answer_slow_down(client));
                    continue;
                }
                // Dropping the client when the server is unreachable refuses it.
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                for (from, to) in [(client, server), (server2, client2)] {
                    let mode = mode_.clone();
                    std::thread::spawn(move || pump(from, to, &mode));
                }
            }
        });
        StoreProxy {
            addr,
            mode,
            stopped,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }
}

impl Drop for StoreProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Ends the held connections of a freeze.
        self.set(Mode::Forward);
        // Wakes the accepting thread so it sees `stopped`.
        let _ = TcpStream::connect(self.addr);
    }
}

fn current(mode: &Mutex<Mode>) -> Mode {
    *mode.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Copies `from` to `to` until either closes, or until something arrives while the
/// proxy does not forward: a freeze drops it and holds the connection until the
/// freeze ends, a failing store drops it at once; then both are closed.
fn pump(mut from: TcpStream, mut to: TcpStream, mode: &Mutex<Mode>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        match current(mode) {
            Mode::Forward if to.write_all(&buf[..n]).is_ok() => {}
            Mode::Forward | Mode::Fail => break,
            Mode::Freeze => {
                while current(mode) == Mode::Freeze {
                    std::thread::sleep(Duration::from_millis(50));
                }
                break;
            }
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// Answers the request arriving on `client` the way S3 turns work away (`503
/// SlowDown`), asking for a retry after `FAIL_RETRY_AFTER`, and closes the connection.
fn answer_slow_down(mut client: TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    // The answer goes after the request's head: an HTTP client drops a connection that
    // speaks first.
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let answer = format!(
        "HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nx-amz-retry-after: {}\r\nconnection: close\r\n\r\n{body}",
        body.len(),
        FAIL_RETRY_AFTER.as_millis()
    );
    let _ = client.write_all(answer.as_bytes());
    let _ = client.shutdown(Shutdown::Write);
    // Reads the rest of the request until the client closes: closing with unread data
    // would reset the connection, maybe before the client read the answer.
    let _ = std::io::copy(&mut client, &mut std::io::sink());
}
