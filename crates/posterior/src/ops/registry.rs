//! The one list of forward operators. Adding an operator is adding one entry here; the
//! conformance tests (`tests/conformance.rs`) sweep every entry's example specs, and the
//! command line builds operators from the same entries.

use super::{BoxOp, Identity, LinearOperator};
use crate::error::{Error, Result};
use crate::scalar::c32;
use crate::spec::Spec;

/// An operator of any of the element-type combinations the project uses.
pub enum AnyOperator {
    /// Real images to real data (blur, CT, ...).
    Real(BoxOp<f32, f32>),
    /// Real images to complex data (MRI k-space from a real image).
    RealToComplex(BoxOp<f32, c32>),
    /// Complex images to complex data (MRI with a complex image).
    Complex(BoxOp<c32, c32>),
}

impl AnyOperator {
    /// The operator's description.
    pub fn describe(&self) -> String {
        match self {
            AnyOperator::Real(a) => a.describe(),
            AnyOperator::RealToComplex(a) => a.describe(),
            AnyOperator::Complex(a) => a.describe(),
        }
    }
    /// Domain shape.
    pub fn domain_shape(&self) -> &[usize] {
        match self {
            AnyOperator::Real(a) => a.domain_shape(),
            AnyOperator::RealToComplex(a) => a.domain_shape(),
            AnyOperator::Complex(a) => a.domain_shape(),
        }
    }
    /// Range shape.
    pub fn range_shape(&self) -> &[usize] {
        match self {
            AnyOperator::Real(a) => a.range_shape(),
            AnyOperator::RealToComplex(a) => a.range_shape(),
            AnyOperator::Complex(a) => a.range_shape(),
        }
    }
    /// Whether measurements are complex.
    pub fn complex_range(&self) -> bool {
        !matches!(self, AnyOperator::Real(_))
    }
    /// Whether images are complex.
    pub fn complex_domain(&self) -> bool {
        matches!(self, AnyOperator::Complex(_))
    }
}

/// One registered operator family.
pub struct OperatorEntry {
    /// Spec name, e.g. `blur`.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Valid keys with a short description of each (and its default).
    pub keys: &'static [(&'static str, &'static str)],
    /// Example specs; the conformance tests build and check each of them.
    pub examples: &'static [&'static str],
    /// Build the operator for images of `shape` (`[H, W]` or `[C, H, W]`).
    pub build: fn(&Spec, &[usize]) -> Result<AnyOperator>,
    /// The image shape that produces measurements of `range_shape`, when it can be
    /// inferred (it cannot for compressed sensing, which needs `--shape`).
    pub infer_domain: fn(&Spec, &[usize]) -> Result<Vec<usize>>,
}

fn same_shape(_: &Spec, range: &[usize]) -> Result<Vec<usize>> {
    Ok(range.to_vec())
}

fn build_identity(spec: &Spec, shape: &[usize]) -> Result<AnyOperator> {
    spec.args(&[])?;
    super::planes(shape)?;
    Ok(AnyOperator::Real(Box::new(Identity::<f32>::new(shape))))
}

/// All operator families, in the order the documentation lists them.
pub fn registry() -> Vec<OperatorEntry> {
    vec![
        OperatorEntry {
            name: "denoise",
            summary: "identity: y = x + n",
            keys: &[],
            examples: &["denoise"],
            build: build_identity,
            infer_domain: same_shape,
        },
        OperatorEntry {
            name: "ct",
            summary: "2-D parallel-beam CT (Radon transform): image [H, W] -> sinogram [angles, detectors]",
            keys: &[
                (
                    "angles",
                    "number of projection angles, uniform over the arc, endpoint excluded (default 180)",
                ),
                ("arc", "angular range in degrees, in (0, 360] (default 180)"),
                (
                    "detectors",
                    "detector bins per projection (default: image width W)",
                ),
                ("spacing", "detector bin spacing in pixels (default 1)"),
                (
                    "step",
                    "sampling step along each ray in pixels, >= 0.01 (default 1)",
                ),
            ],
            examples: &[
                "ct:angles=7",
                "ct:angles=5,detectors=15",
                "ct:angles=6,spacing=0.8",
                "ct:angles=4,arc=120,step=0.5",
            ],
            build: super::ct::build,
            infer_domain: super::ct::infer_domain,
        },
    ]
}

/// Find an entry by name, with an error listing the valid names.
pub fn find_entry(name: &str) -> Result<OperatorEntry> {
    let all = registry();
    let names: Vec<&str> = all.iter().map(|e| e.name).collect();
    let names = names.join(", ");
    all.into_iter().find(|e| e.name == name).ok_or_else(|| {
        Error::Spec(format!(
            "unknown operator `{name}`; valid operators: {names}"
        ))
    })
}

/// Build an operator from a spec string for images of `shape`.
pub fn build_operator(spec: &str, shape: &[usize]) -> Result<AnyOperator> {
    let spec = Spec::parse(spec)?;
    let entry = find_entry(&spec.name)?;
    (entry.build)(&spec, shape)
}
