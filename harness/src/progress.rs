//! Progress of a long run on standard error: on a terminal an `indicatif` bar redrawn in place
//! (runs done of the total, passed and failed so far, elapsed and an estimate of what remains);
//! elsewhere (CI logs) a plain line at every tenth of the way.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Reports the runs of one `cloudid run` or `cloudid certify`.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    bar: Option<ProgressBar>,
    last_tenth: Mutex<usize>,
}

impl Progress {
    /// Progress for a run starting now: a bar when standard error is a terminal, plain lines
    /// otherwise.
    pub fn new() -> Self {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Self::with_bar(terminal.then(|| ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())))
    }

    /// Progress drawn on `bar` (a terminal's), or as plain lines when there is none.
    fn with_bar(bar: Option<ProgressBar>) -> Self {
        if let Some(bar) = &bar {
            let style = ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} runs: {msg}, {elapsed} elapsed, ~{eta} left").expect("the template is valid").progress_chars("█▉▊▋▌▍▎▏ ");
            bar.set_style(style);
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
        }
        Self { started: Instant::now(), bar, last_tenth: Mutex::new(0) }
    }

    /// The plain line for `done` of `total` runs, `passed` and `failed` of them so far.
    pub fn line(&self, done: usize, total: usize, passed: usize, failed: usize) -> String {
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = if done == 0 { String::new() } else { format!(", ~{:.0} s left", elapsed / done as f64 * (total - done) as f64) };
        format!("{done}/{total} runs: {passed} passed, {failed} failed, {elapsed:.0} s{left}")
    }

    /// Reports one finished run.
    pub fn update(&self, done: usize, total: usize, passed: usize, failed: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!("{passed} passed, {failed} failed"));
            if done == total {
                bar.finish();
            }
            return;
        }
        let tenth = (done * 10).checked_div(total).unwrap_or(10);
        let mut last = self.last_tenth.lock().unwrap_or_else(|e| e.into_inner());
        if tenth > *last || done == total {
            *last = tenth;
            let _ = writeln!(std::io::stderr().lock(), "{}", self.line(done, total, passed, failed));
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

    #[test]
    fn the_bar_carries_the_counts_and_finishes_with_the_last_run() {
        let p = Progress::with_bar(Some(ProgressBar::hidden()));
        p.update(3, 10, 2, 1);
        let bar = p.bar.as_ref().expect("a bar");
        assert_eq!((bar.position(), bar.length()), (3, Some(10)));
        assert_eq!(bar.message(), "2 passed, 1 failed");
        assert!(!bar.is_finished());
        p.update(10, 10, 9, 1);
        assert!(bar.is_finished());
    }
}
