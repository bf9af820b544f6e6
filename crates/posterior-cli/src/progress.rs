//! A progress line for iterative solves, fed by the library's per-iteration records.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use posterior::solve::IterRecord;

/// A spinner showing iteration, residual and PSNR; hidden when quiet or not a terminal.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A new progress line (drawn on stderr).
    pub fn new(quiet: bool) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
            b.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b
        };
        Progress { bar }
    }

    /// A callback that updates the line from an iteration record.
    pub fn callback(&self) -> posterior::methods::ProgressFn {
        let bar = self.bar.clone();
        Box::new(move |r: &IterRecord| {
            let mut msg = format!("iter {}", r.iter);
            if let Some(v) = r.rel_residual {
                msg += &format!("  rel. residual {v:.3e}");
            }
            if let Some(v) = r.objective {
                msg += &format!("  objective {v:.4e}");
            }
            if let Some(v) = r.psnr {
                msg += &format!("  PSNR {v:.2} dB");
            }
            bar.set_message(msg);
            bar.tick();
        })
    }

    /// Clear the line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
