//! The library's error type: every variant carries the numbers that explain it.

use std::path::PathBuf;

/// Errors raised by the library. Messages are one line and say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An array has the wrong shape for the operator or method it was given to.
    #[error("shape mismatch in {context}: expected {expected:?}, got {got:?}")]
    Shape {
        /// Where the mismatch was found.
        context: String,
        /// The shape that was required.
        expected: Vec<usize>,
        /// The shape that was given.
        got: Vec<usize>,
    },
    /// A parameter is out of its valid range or inconsistent with others.
    #[error("invalid parameter `{name}`: {reason}")]
    Param {
        /// Parameter name as the user wrote it.
        name: String,
        /// What is wrong and what is valid.
        reason: String,
    },
    /// A `name:key=value` specification could not be understood.
    #[error("{0}")]
    Spec(String),
    /// Input data contains NaN or infinite values.
    #[error("{what} contains {count} non-finite value(s) (NaN or Inf); clean the input first")]
    NonFinite {
        /// Which input.
        what: String,
        /// How many entries are not finite.
        count: usize,
    },
    /// An iterative method produced non-finite values or blew up.
    /// The display adds the generic advice only when `reason` carries none of its own
    /// (advice follows a `; ` in the reason, e.g. training's "lower --lr").
    #[error(
        "{solver} diverged at iteration {iteration}: {reason}{}",
        if reason.contains("; ") { "" } else { "; try a smaller step or more regularization" }
    )]
    Diverged {
        /// Solver name.
        solver: String,
        /// Iteration at which the problem was detected.
        iteration: usize,
        /// What was observed.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A file was read but its content is malformed or unsupported.
    #[error("{path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::Param`].
    pub fn param(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Param {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverged_adds_generic_advice_only_without_its_own() {
        let plain = Error::Diverged {
            solver: "fista".into(),
            iteration: 3,
            reason: "objective grew".into(),
        };
        assert_eq!(
            plain.to_string(),
            "fista diverged at iteration 3: objective grew; try a smaller step or more regularization"
        );
        let advised = Error::Diverged {
            solver: "training".into(),
            iteration: 1,
            reason: "loss NaN; lower --lr".into(),
        };
        assert_eq!(
            advised.to_string(),
            "training diverged at iteration 1: loss NaN; lower --lr"
        );
    }
}
