//! The integration tests of `posterior`, one binary: each module was a test file of its own.
//! One binary compiles and links once instead of once per file (CI time).

mod bm3d;
mod conformance;
mod denoisers;
mod map;
mod mle_known_answer;
mod pnp;
mod prox;
mod transforms;
