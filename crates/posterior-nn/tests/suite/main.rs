//! The integration tests of `posterior-nn`, one binary: each module was a test file of its own.
//! One binary links the crate (and burn) once instead of once per file.

mod csgm;
mod generative;
mod nn;
mod output_scale;
mod shipped;
mod shipped_generative;
mod unet;
