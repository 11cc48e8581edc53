//! A second Ctrl-C exits at once, and the journal it leaves is consistent: guards the
//! documented promise of `lifeboat run` (docs/journal.md, `watch_ctrl_c` in
//! src/cli/run.rs) in the one case where it matters, when the work after the first
//! Ctrl-C is slow. The run keeps its journal and lock in an S3 store reached through a
//! proxy that the test freezes mid-run (the store stops answering), so the first Ctrl-C
//! hangs on recording the interruption; the second one must end the process well
//! before the store's request timeout, and `resume` must then finish the run from what
//! the journal holds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::backup_restore::Bucket;
use crate::harness::Test;
use crate::journal::wait_for;
use crate::s3_server::{aws, endpoint};

/// How long the second Ctrl-C may take to end the process. A frozen store answers
/// nothing, so without the second Ctrl-C the process waits for the S3 client's
/// timeouts (src/store/s3.rs: 60s per attempt, 5 attempts, 300s in all; the runbook
/// format has no setting for them). The bound is far below one attempt, and far above
/// what exiting takes, so it asserts "does not hang", not a speed.
const SECOND_CTRL_C_BOUND: Duration = Duration::from_secs(20);

#[test]
fn a_second_ctrl_c_exits_at_once_while_the_store_hangs_and_the_run_resumes() {
    let bucket = Bucket::new("interrupt");
    let proxy = FreezableProxy::start(&endpoint());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = dir.path().join("hang.yaml");
    // `long` only has to outlast the steps before the first Ctrl-C (a few seconds);
    // the resume at the end runs it in full.
    std::fs::write(
        &rb,
        format!(
            "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: hang }}\nstores:\n  vault: {}\nstate: {{ store: vault }}\nsteps:\n  - {{ id: first, uses: sleep, with: {{ duration: 1ms }} }}\n  - {{ id: long, uses: sleep, with: {{ duration: 20s }} }}\n",
            bucket.store_yaml().replace(&endpoint(), &proxy.endpoint())
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));

    let mut run = Running::spawn(&["run", &rb.to_string_lossy()], dir.path());
    let seen = wait_for(&run.stdout, "start long");
    let id = seen[0]
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    // The display shows an event before the journal records it: freeze only once the
    // start of `long` is in the store, so the journal is at a known point (run started,
    // `first` started and succeeded, `long` started) and nothing is in flight.
    let started_long = wait_for_object(&bucket, &format!("dr/runs/{id}/events/00000004.json"));
    assert!(
        started_long.contains("\"event\":\"step_started\"")
            && started_long.contains("\"step\":\"long\""),
        "{started_long}"
    );
    proxy.freeze();

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
    let resume = stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("lifeboat resume"))
        .unwrap_or_else(|| panic!("no resume command after the second Ctrl-C:\n{stderr}"));
    let words: Vec<String> = resume.split_whitespace().map(str::to_string).collect();
    // The state is in a store with its own endpoint: the command finds it through the
    // runbook (an `s3://` URL would lose the endpoint and go to AWS).
    assert_eq!(words[2], id, "{resume}");
    assert_eq!(words[3], "--runbook", "{resume}");

    // The store answers again. The printed command, run anywhere, finds the state.
    proxy.thaw();
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

    // The lock left behind names this run, this host and a pid that is gone, so the
    // resume takes it back as its own (src/journal/lock.rs) without --steal-lock.
    let resumed = Test::new()
        .args(words[1..].iter().map(String::as_str))
        .current_dir(elsewhere.path())
        .run();
    assert!(resumed.stdout.contains("done  first"), "{}", resumed.stdout);
    assert!(
        !resumed.stdout.contains("start first"),
        "{}",
        resumed.stdout
    );
    assert!(resumed.stdout.contains("start long"), "{}", resumed.stdout);
    assert!(resumed.stdout.contains("ok    long"), "{}", resumed.stdout);
    lifeboat(&["status"]).stdout_contains("succeeded").run();
    assert!(!bucket.keys().contains(&lock), "{}", bucket.listing());
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

/// A TCP proxy in front of the test S3 server that can be frozen, like a store that
/// stops answering: while frozen, what either side sends is dropped and every
/// connection (old or new) is held open, so requests neither fail nor get an answer.
/// Thawing closes the connections that saw the freeze (what they carried is lost, as
/// in a network partition) and forwards again. Never forwarding a held request later
/// keeps a dead client's write from landing after the test moved on.
struct FreezableProxy {
    addr: SocketAddr,
    frozen: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
}

impl FreezableProxy {
    fn start(upstream: &str) -> FreezableProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let frozen = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let (frozen_, stopped_) = (frozen.clone(), stopped.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped_.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                // Dropping the client when the server is unreachable refuses it.
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                for (from, to) in [(client, server), (server2, client2)] {
                    let frozen = frozen_.clone();
                    std::thread::spawn(move || pump(from, to, &frozen));
                }
            }
        });
        FreezableProxy {
            addr,
            frozen,
            stopped,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.thaw();
        // Wakes the accepting thread so it sees `stopped`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` to `to` until either closes; while frozen, drops what arrives and
/// holds the connection until the thaw, then closes it.
fn pump(mut from: TcpStream, mut to: TcpStream, frozen: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            while frozen.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
