//! Progress of a long run on standard error: on a terminal one line redrawn in place (runs done
//! of the total, passed and failed so far, elapsed and an estimate of what remains); elsewhere (CI
//! logs) a plain line at every tenth of the way.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Reports the runs of one `cloudid run` or `cloudid certify`.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    terminal: bool,
    last_tenth: Mutex<usize>,
}

impl Progress {
    /// Progress for a run starting now; redrawn in place when standard error is a terminal.
    pub fn new() -> Self {
        Self { started: Instant::now(), terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()), last_tenth: Mutex::new(0) }
    }

    /// The line for `done` of `total` runs, `passed` and `failed` of them so far.
    pub fn line(&self, done: usize, total: usize, passed: usize, failed: usize) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = if done == 0 { String::new() } else { format!(", ~{:.0} s left", elapsed / done as f64 * (total - done) as f64) };
        format!("{done}/{total} runs: {passed} passed, {failed} failed, {elapsed:.0} s{left}")
    }

    /// Reports one finished run.
    pub fn update(&self, done: usize, total: usize, passed: usize, failed: usize) {
        let line = self.line(done, total, passed, failed);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
            if done == total {
                let _ = writeln!(err);
            }
            return;
        }
        let tenth = (done * 10).checked_div(total).unwrap_or(10);
        let mut last = self.last_tenth.lock().unwrap_or_else(|e| e.into_inner());
        if tenth > *last || done == total {
            *last = tenth;
            let _ = writeln!(err, "{line}");
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_runs_verdicts_and_time_left() {
        let p = Progress::new();
        let line = p.line(5, 20, 4, 1);
        assert!(line.starts_with("5/20 runs: 4 passed, 1 failed, "), "{line}");
        assert!(line.contains("s left"), "{line}");
        assert!(!p.line(0, 20, 0, 0).contains("left"));
    }
}
