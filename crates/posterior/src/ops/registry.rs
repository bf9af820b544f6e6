//! The one list of forward operators. Adding an operator is adding one entry here; the
//! conformance tests (`tests/suite/conformance.rs`) sweep every entry's example specs, and the
//! command line builds operators from the same entries.

use ndarray::ArrayD;

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
    /// The measured entries of the range, for operators that measure only some
    /// ([`LinearOperator::measured`]).
    pub fn measured(&self) -> Option<ArrayD<bool>> {
        match self {
            AnyOperator::Real(a) => a.measured(),
            AnyOperator::RealToComplex(a) => a.measured(),
            AnyOperator::Complex(a) => a.measured(),
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

fn build_blur(spec: &Spec, shape: &[usize]) -> Result<AnyOperator> {
    Ok(AnyOperator::Real(Box::new(super::blur::Blur::from_spec(
        spec, shape,
    )?)))
}

fn build_sr(spec: &Spec, shape: &[usize]) -> Result<AnyOperator> {
    Ok(AnyOperator::Real(Box::new(
        super::sr::SuperResolution::from_spec(spec, shape)?,
    )))
}

fn build_wavelet(spec: &Spec, shape: &[usize]) -> Result<AnyOperator> {
    Ok(AnyOperator::Real(Box::new(
        crate::transforms::Wavelet2d::from_spec(spec, shape)?,
    )))
}

fn build_dct(spec: &Spec, shape: &[usize]) -> Result<AnyOperator> {
    Ok(AnyOperator::Real(crate::transforms::dct_op::from_spec(
        spec, shape,
    )?))
}

fn build_inpaint(spec: &Spec, shape: &[usize]) -> Result<AnyOperator> {
    Ok(AnyOperator::Real(Box::new(
        super::inpaint::Inpaint::from_spec(spec, shape)?,
    )))
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
            name: "blur",
            summary: "convolution with a point-spread function: y = k * x",
            keys: &[
                ("kernel", "gaussian | box | motion (default gaussian)"),
                (
                    "size",
                    "kernel side in pixels for gaussian and box (default 9)",
                ),
                ("std", "gaussian standard deviation in pixels (default 1.6)"),
                ("length", "motion length in pixels, 1 to 4096 (default 9)"),
                (
                    "angle",
                    "motion angle in degrees, counter-clockwise from horizontal (default 0)",
                ),
                (
                    "boundary",
                    "circular (FFT) | zero | reflect (half-sample symmetric) (default circular)",
                ),
                (
                    "method",
                    "zero/reflect only: auto | direct | fft (padded FFT); auto picks the cheaper (default auto)",
                ),
            ],
            examples: &[
                "blur",
                "blur:boundary=zero",
                "blur:boundary=reflect",
                "blur:kernel=gaussian,size=4,std=1,boundary=circular",
                "blur:kernel=gaussian,size=4,std=1,boundary=reflect",
                "blur:kernel=box,size=3,boundary=zero",
                "blur:kernel=box,size=10,boundary=zero",
                "blur:kernel=box,size=10,boundary=reflect",
                "blur:kernel=gaussian,size=5,std=1.2,boundary=zero,method=fft",
                "blur:kernel=motion,length=6,angle=45,boundary=reflect,method=fft",
                "blur:kernel=gaussian,size=7,boundary=reflect,method=direct",
                "blur:kernel=motion,length=7,angle=0,boundary=circular",
                "blur:kernel=motion,length=5,angle=30,boundary=reflect",
                "blur:kernel=motion,length=6,angle=90,boundary=zero",
            ],
            build: build_blur,
            infer_domain: same_shape,
        },
        OperatorEntry {
            name: "sr",
            summary: "super-resolution: anti-aliasing blur (circular) then decimation, y = S (k * x)",
            keys: &[
                (
                    "factor",
                    "integer decimation factor; H and W must be multiples (default 2)",
                ),
                (
                    "filter",
                    "bicubic (MATLAB imresize) | gaussian | box (block mean) | none (default bicubic)",
                ),
                (
                    "std",
                    "gaussian standard deviation in pixels (default factor / 2)",
                ),
            ],
            examples: &[
                "sr",
                "sr:factor=2,filter=bicubic",
                "sr:factor=2,filter=gaussian",
                "sr:factor=2,filter=gaussian,std=0.7",
                "sr:factor=2,filter=box",
                "sr:factor=2,filter=none",
            ],
            build: build_sr,
            infer_domain: super::sr::SuperResolution::infer_domain,
        },
        OperatorEntry {
            name: "inpaint",
            summary: "pixel mask: y = m ⊙ x (same mask for every channel)",
            keys: &[
                (
                    "mask",
                    "random | box | PATH of a .png/.npy mask, non-zero = kept (default random)",
                ),
                (
                    "keep",
                    "random: probability that a pixel is kept, in (0, 1] (default 0.5)",
                ),
                ("seed", "random: seed of the mask (default 0)"),
                ("box", "box: removed centred box HxW, e.g. 16x24"),
                (
                    "box_frac",
                    "box: removed centred box sides as a fraction of the image sides (default 0.5)",
                ),
            ],
            examples: &[
                "inpaint",
                "inpaint:keep=0.3,seed=0",
                "inpaint:mask=random,keep=0.8,seed=5",
                "inpaint:mask=box,box_frac=0.5",
                "inpaint:mask=box,box=4x3",
            ],
            build: build_inpaint,
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
                    "lines (whole phase-encode rows along axis 0) | vd2d (variable-density random points) | PATH of a .npy (float32/float64) or .png mask file in centred layout, shape [H, W], or [H] / [H, 1] for whole rows; non-zero = sampled; accel, center, lines, power and seed do not apply (default lines)",
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
        OperatorEntry {
            name: "wavelet",
            summary: "orthonormal multilevel 2-D wavelet transform with periodic extension (pywt mode=periodization), coefficients in the in-place layout; orthogonal (adjoint = inverse)",
            keys: &[
                ("wavelet", "haar | db1 .. db8 | sym4 | sym8 (default db4)"),
                (
                    "levels",
                    "decomposition levels, 2^levels must divide H and W (default min(4, the most the shape allows))",
                ),
            ],
            examples: &[
                "wavelet:wavelet=haar",
                "wavelet",
                "wavelet:wavelet=db8,levels=1",
                "wavelet:wavelet=sym4",
                "wavelet:wavelet=db2,levels=1",
            ],
            build: build_wavelet,
            infer_domain: same_shape,
        },
        OperatorEntry {
            name: "dct",
            summary: "orthonormal 2-D DCT-II of each plane, global or on 8x8 tiles (shorter edge tiles at their own size); orthogonal (adjoint = inverse)",
            keys: &[(
                "block",
                "0 (one global DCT per plane) | 8 (8x8 blockwise DCT, as JPEG) (default 0)",
            )],
            examples: &["dct", "dct:block=8"],
            build: build_dct,
            infer_domain: same_shape,
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
