//! Blur kernels (point-spread functions): Gaussian, box, linear motion, and user kernels.
//!
//! A [`Kernel`] is a validated 2-D array of finite weights. Generators return kernels that
//! sum to one (a blur then preserves the mean of the image). The kernel's origin (the tap
//! that multiplies the pixel being computed) is chosen by the operator that uses it; the
//! default in [`Blur`](super::blur::Blur) is `(kh / 2, kw / 2)`.

use ndarray::{Array2, Axis, Slice};

use crate::error::{Error, Result};

/// A 2-D convolution kernel: non-empty, every weight finite.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel(Array2<f32>);

impl Kernel {
    /// Wrap a user kernel, checking that it is non-empty and finite. The weights are kept as
    /// given (not normalized; see [`normalized`](Self::normalized)).
    pub fn new(weights: Array2<f32>) -> Result<Self> {
        if weights.is_empty() {
            return Err(Error::param(
                "kernel",
                format!(
                    "a kernel needs at least one weight, got shape {:?}",
                    weights.shape()
                ),
            ));
        }
        let bad = weights.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(Error::NonFinite {
                what: "kernel".into(),
                count: bad,
            });
        }
        Ok(Kernel(weights.as_standard_layout().into_owned()))
    }

    /// The same kernel divided by its sum, so that it sums to one. Errors when the sum is
    /// zero or too small to divide by (`|Σ k| <= 1e-12 Σ |k|`).
    pub fn normalized(&self) -> Result<Self> {
        let s: f64 = self.0.iter().map(|&v| v as f64).sum();
        let l1: f64 = self.0.iter().map(|&v| (v as f64).abs()).sum();
        if s.abs() <= 1e-12 * l1 || s == 0.0 {
            return Err(Error::param(
                "kernel",
                format!("cannot normalize a kernel whose weights sum to {s:e}"),
            ));
        }
        Ok(Kernel(self.0.mapv(|v| (v as f64 / s) as f32)))
    }

    /// The weights, `[kh, kw]`, in standard (row-major) layout.
    pub fn weights(&self) -> &Array2<f32> {
        &self.0
    }

    /// The weights, consuming the kernel.
    pub fn into_weights(self) -> Array2<f32> {
        self.0
    }

    /// `(kh, kw)`.
    pub fn dims(&self) -> (usize, usize) {
        self.0.dim()
    }

    /// Sum of the weights (in f64).
    pub fn sum(&self) -> f64 {
        self.0.iter().map(|&v| v as f64).sum()
    }
}

/// Normalize raw f64 weights into a kernel (all generators go through here).
fn from_f64(w: Array2<f64>) -> Result<Kernel> {
    let s: f64 = w.sum();
    Kernel::new(w.mapv(|v| (v / s) as f32))
}

/// Isotropic Gaussian `k[i, j] ∝ exp(-((i - c)^2 + (j - c)^2) / (2 std^2))` on a
/// `size x size` grid with `c = (size - 1) / 2`, normalized to sum to one. For even `size`
/// the centre falls between pixels, so the kernel stays symmetric.
pub fn gaussian(size: usize, std: f32) -> Result<Kernel> {
    if size == 0 {
        return Err(Error::param("size", "the kernel size must be at least 1"));
    }
    if !(std.is_finite() && std > 0.0) {
        return Err(Error::param(
            "std",
            format!("the Gaussian standard deviation must be finite and > 0, got {std}"),
        ));
    }
    let c = (size as f64 - 1.0) / 2.0;
    let s2 = 2.0 * (std as f64) * (std as f64);
    let g: Vec<f64> = (0..size)
        .map(|i| (-(i as f64 - c).powi(2) / s2).exp())
        .collect();
    from_f64(Array2::from_shape_fn((size, size), |(i, j)| g[i] * g[j]))
}

/// Uniform `size x size` kernel, every weight `1 / size^2`.
pub fn box_kernel(size: usize) -> Result<Kernel> {
    if size == 0 {
        return Err(Error::param("size", "the kernel size must be at least 1"));
    }
    from_f64(Array2::from_elem((size, size), 1.0))
}

/// The longest motion blur [`motion`] builds, in pixels (its square grid is at most
/// 4097 wide, the largest `gaussian`/`box` size).
pub const MAX_MOTION_LENGTH: f32 = 4096.0;

/// Linear motion blur: a line segment of `length` pixels through the kernel centre at
/// `angle_deg` degrees counter-clockwise from the horizontal (`0` = along rows, `90` = along
/// columns; rows point down, so at `45` the segment runs from bottom-left to top-right).
///
/// The segment `{c + t (cos θ, -sin θ) : |t| <= length / 2}` (in (x = column, y = row)
/// coordinates) is sampled at 32 points per pixel of length (midpoint rule) and each sample
/// is splatted bilinearly onto the grid, which anti-aliases oblique lines; the result is
/// normalized to sum to one. The grid is square and odd, `2 ceil(length / 2) + 1` wide,
/// then rows and columns that are zero on both sides are cropped symmetrically, so the centre
/// stays at `(kh / 2, kw / 2)` (angle `0` gives a single row). The kernel is point-symmetric
/// about its centre. `1 <= length <=` [`MAX_MOTION_LENGTH`].
pub fn motion(length: f32, angle_deg: f32) -> Result<Kernel> {
    if !(length.is_finite() && (1.0..=MAX_MOTION_LENGTH).contains(&length)) {
        return Err(Error::param(
            "length",
            format!("the motion length must be in [1, {MAX_MOTION_LENGTH}] pixels, got {length}"),
        ));
    }
    if !angle_deg.is_finite() {
        return Err(Error::param("angle", "the motion angle must be finite"));
    }
    let len = length as f64;
    let half = (len / 2.0).ceil() as usize;
    let n = 2 * half + 1;
    let c = half as f64;
    let th = (angle_deg as f64).to_radians();
    let (dx, dy) = (th.cos(), -th.sin());
    let samples = ((len * 32.0).ceil() as usize).max(2);
    let mut w = Array2::<f64>::zeros((n, n));
    for s in 0..samples {
        let t = -len / 2.0 + len * (s as f64 + 0.5) / samples as f64;
        let (x, y) = (c + t * dx, c + t * dy);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        for (yy, wy) in [(y0, 1.0 - fy), (y0 + 1.0, fy)] {
            for (xx, wx) in [(x0, 1.0 - fx), (x0 + 1.0, fx)] {
                let v = wy * wx;
                if v == 0.0 {
                    continue;
                }
                // |t| <= len / 2 <= half, so non-zero taps always land inside the grid
                w[[yy as usize, xx as usize]] += v;
            }
        }
    }
    // crop borders that are zero on both sides, keeping the centre
    let tiny = 1e-9 * w.sum();
    let zero_row = |i: usize| w.row(i).iter().all(|&v| v <= tiny);
    let zero_col = |j: usize| w.column(j).iter().all(|&v| v <= tiny);
    let mut r = 0;
    while r < half && zero_row(r) && zero_row(n - 1 - r) {
        r += 1;
    }
    let mut q = 0;
    while q < half && zero_col(q) && zero_col(n - 1 - q) {
        q += 1;
    }
    // (slicing by axis: the `s!` macro expands to an `allow(unsafe_code)` the crate forbids)
    let cropped = w
        .slice_axis(Axis(0), Slice::from(r..n - r))
        .slice_axis(Axis(1), Slice::from(q..n - q))
        .mapv(|v| if v <= tiny { 0.0 } else { v });
    from_f64(cropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_sum_one(k: &Kernel) {
        assert!((k.sum() - 1.0).abs() < 1e-6, "sum {}", k.sum());
    }

    #[test]
    fn gaussian_is_normalized_symmetric_and_peaked() {
        for size in [1, 4, 9] {
            let k = gaussian(size, 1.6).unwrap();
            assert_eq!(k.dims(), (size, size));
            assert_sum_one(&k);
            let w = k.weights();
            for i in 0..size {
                for j in 0..size {
                    let v = w[[i, j]];
                    assert!((v - w[[size - 1 - i, j]]).abs() < 1e-7);
                    assert!((v - w[[i, size - 1 - j]]).abs() < 1e-7);
                    assert!((v - w[[j, i]]).abs() < 1e-7);
                }
            }
        }
        // known ratio: centre / neighbour = exp(1 / (2 std^2))
        let k = gaussian(9, 1.6).unwrap();
        let w = k.weights();
        let ratio = w[[4, 4]] / w[[4, 5]];
        assert!(
            (ratio - (1.0f32 / (2.0 * 1.6 * 1.6)).exp()).abs() < 1e-5,
            "{ratio}"
        );
        assert!(gaussian(0, 1.0).is_err());
        assert!(gaussian(3, 0.0).is_err());
    }

    #[test]
    fn box_is_uniform() {
        let k = box_kernel(3).unwrap();
        assert_sum_one(&k);
        assert!(k.weights().iter().all(|&v| (v - 1.0 / 9.0).abs() < 1e-7));
        assert!(box_kernel(0).is_err());
    }

    #[test]
    fn motion_orientation() {
        // angle 0: a single row, all nine centre pixels equal
        let k = motion(9.0, 0.0).unwrap();
        assert_sum_one(&k);
        let (kh, kw) = k.dims();
        assert_eq!(kh, 1, "{:?}", k.weights());
        assert_eq!(kw, 11);
        let w = k.weights();
        for j in 2..9 {
            assert!((w[[0, j]] - w[[0, 5]]).abs() < 1e-4, "{w:?}");
        }
        // symmetric tails, mostly inside the nominal length
        assert!((w[[0, 0]] - w[[0, 10]]).abs() < 1e-6);
        assert!(w[[0, 0]] < 0.25 * w[[0, 5]]);

        // angle 90: a single column
        let k = motion(7.0, 90.0).unwrap();
        assert_sum_one(&k);
        assert_eq!(k.dims().1, 1, "{:?}", k.weights());

        // angle 45: mass on the anti-diagonal (bottom-left to top-right)
        let k = motion(9.0, 45.0).unwrap();
        assert_sum_one(&k);
        let w = k.weights();
        let (kh, kw) = k.dims();
        assert_eq!(kh, kw);
        let anti: f64 = (0..kh).map(|i| w[[i, kw - 1 - i]] as f64).sum();
        // the main diagonal, without the shared centre pixel
        let diag: f64 = (0..kh)
            .filter(|&i| i != kh / 2)
            .map(|i| w[[i, i]] as f64)
            .sum();
        assert!(anti > 0.5, "anti-diagonal mass {anti}");
        assert!(diag < 0.01, "diagonal mass {diag}");
        // point symmetry
        for i in 0..kh {
            for j in 0..kw {
                assert!((w[[i, j]] - w[[kh - 1 - i, kw - 1 - j]]).abs() < 1e-6);
            }
        }
        // second moment along the direction ~ L^2 / 12 (uniform segment)
        let c = (kh / 2) as f64;
        let m2: f64 = w
            .indexed_iter()
            .map(|((i, j), &v)| {
                let (x, y) = (j as f64 - c, c - i as f64);
                let t = (x + y) / 2f64.sqrt();
                v as f64 * t * t
            })
            .sum();
        // bilinear splatting adds 1/6 (tent variance) per axis, i.e. 1/6 along the line
        assert!((m2 - (81.0 / 12.0 + 1.0 / 6.0)).abs() < 0.1, "{m2}");
        assert!(motion(0.5, 0.0).is_err());
        // a length whose grid would not fit in memory is refused, not attempted
        let e = motion(1e5, 0.0).unwrap_err();
        assert!(e.to_string().contains("[1, 4096]"), "{e}");
        assert!(motion(MAX_MOTION_LENGTH, 0.0).is_ok());
    }

    #[test]
    fn user_kernels_are_validated() {
        assert!(Kernel::new(Array2::zeros((0, 3))).is_err());
        let mut a = Array2::from_elem((2, 2), 1.0f32);
        a[[0, 1]] = f32::NAN;
        assert!(matches!(
            Kernel::new(a),
            Err(Error::NonFinite { count: 1, .. })
        ));
        let k = Kernel::new(Array2::from_elem((2, 3), 2.0)).unwrap();
        let n = k.normalized().unwrap();
        assert!((n.sum() - 1.0).abs() < 1e-6);
        let z = Kernel::new(ndarray::array![[1.0, -1.0]]).unwrap();
        assert!(z.normalized().is_err());
    }
}
