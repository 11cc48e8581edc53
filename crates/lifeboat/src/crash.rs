//! Crash points: named places where the crash matrix (docs/reliability.md) kills the
//! process with SIGKILL, as `kill -9` would, to prove that `resume` recovers from a
//! crash at each. Compiled in only with the `crash-points` feature, which the test
//! build turns on (`scripts/test`); in every other build `point` is empty.
//!
//! `LIFEBOAT_CRASH_AT=NAME:N` kills the process the `N`th time (from 1) it reaches the
//! point `NAME` (`step-started:restore`, `part-uploaded`, ...).

/// Kills the process here if `LIFEBOAT_CRASH_AT` names this point and this is the time.
#[cfg(feature = "crash-points")]
pub fn point(name: &str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PLAN: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static REACHED: AtomicU64 = AtomicU64::new(0);
    let plan = PLAN.get_or_init(|| {
        let value = std::env::var("LIFEBOAT_CRASH_AT").ok()?;
        let (at, nth) = value.rsplit_once(':')?;
        Some((at.to_string(), nth.parse().ok()?))
    });
    let Some((at, nth)) = plan else { return };
    if at != name || REACHED.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
        return;
    }
    eprintln!("crash point {name}: killed (LIFEBOAT_CRASH_AT)");
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &std::process::id().to_string()])
        .status();
    // `kill` has delivered the signal; nothing after this runs.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// Without the `crash-points` feature there are no crash points.
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub fn point(_name: &str) {}

/// How often the lock is renewed: `LIFEBOAT_LOCK_RENEW_MS` in a crash-points build (so
/// the matrix can crash a renewal without waiting for one), else `every`.
pub fn renew_every(every: std::time::Duration) -> std::time::Duration {
    #[cfg(feature = "crash-points")]
    if let Some(ms) = std::env::var("LIFEBOAT_LOCK_RENEW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return std::time::Duration::from_millis(ms);
    }
    every
}
