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
            name: "mri",
            summary: "single-coil Cartesian MRI: y = M F x, F the orthonormal centred 2-D FFT, M a k-space mask (range: full complex k-space, zeros where not sampled)",
            keys: &[
                (
                    "accel",
                    "acceleration R >= 1: keep round(H/R) k-space rows (mask=lines) or round(HW/R) points in expectation (mask=vd2d) (default 4)",
                ),
                (
                    "center",
                    "fully sampled centre: fraction of rows around H/2 (lines), or normalized radius of the centre ellipse (vd2d) (default 0.08)",
                ),
                (
                    "mask",
                    "lines (whole phase-encode rows along axis 0) | vd2d (variable-density random points) (default lines)",
                ),
                (
                    "lines",
                    "mask=lines only: random (uniform without replacement, seeded) | equispaced (default random)",
                ),
                (
                    "power",
                    "mask=vd2d only: exponent p of the density (1 - r/r_far)^p (default 2)",
                ),
                (
                    "complex",
                    "true: complex images (c32 domain); false: real images, adjoint Re(F^H M y) (default false)",
                ),
                ("seed", "seed of the random mask (default 0)"),
            ],
            examples: &[
                "mri:accel=2,center=0.2,seed=0",
                "mri:accel=3,lines=equispaced",
                "mri:mask=vd2d,accel=2",
                "mri:accel=2,complex=true",
                "mri:mask=vd2d,accel=3,power=3,complex=true,seed=5",
            ],
            build: super::mri::build,
            infer_domain: same_shape,
        },
        OperatorEntry {
            name: "cs",
            summary: "compressed sensing of the flattened image: y = A vec(x), m random measurements scaled so E||Ax||^2 = ||x||^2 (range [m]; needs --shape)",
            keys: &[
                (
                    "m",
                    "number of measurements, 1 <= m <= pixels (this or ratio is required)",
                ),
                ("ratio", "m / pixels in (0, 1], instead of m"),
                (
                    "kind",
                    "gaussian (dense i.i.d. N(0, 1/m) matrix) | fast (sqrt(n/m) x subsampled orthonormal DCT of the sign-flipped image, O(n log n)) (default gaussian)",
                ),
                (
                    "seed",
                    "seed of the random matrix, signs and rows (default 0)",
                ),
            ],
            examples: &[
                "cs:m=30,seed=0",
                "cs:m=30,kind=fast,seed=1",
                "cs:ratio=0.25,kind=fast",
                "cs:ratio=0.2,seed=4",
            ],
            build: super::cs::build,
            infer_domain: super::cs::infer_domain,
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
