//! The integration tests of `posterior-cli`, one binary: each module was a test file of its own.
//! One binary links the crate (and burn) once instead of once per file.

mod cli;
mod generative;
