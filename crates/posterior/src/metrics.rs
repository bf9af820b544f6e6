//! Image quality metrics: MSE, PSNR, relative residual and SSIM.
//!
//! All sums are accumulated in `f64`. SSIM follows Wang, Bovik, Sheikh & Simoncelli,
//! "Image quality assessment: from error visibility to structural similarity", IEEE
//! Trans. Image Process. 13(4), 2004, with the two windowing conventions of
//! scikit-image's `skimage.metrics.structural_similarity`, so numbers are comparable
//! with values computed in Python (agreement to ~1e-12 is checked in the tests against
//! values printed by `scripts/peers/ssim_reference.py`).

use ndarray::{ArrayViewD, Axis, Zip};

use crate::error::{Error, Result};
use crate::ops::{check_shape, planes};
use crate::scalar::Scalar;

fn assert_same_shape(a: &[usize], b: &[usize], what: &str) {
    assert_eq!(a, b, "{what}: shapes differ ({a:?} vs {b:?})");
}

/// Mean squared error `(1/N) Σ (x_i - r_i)²`.
///
/// # Panics
/// If the shapes differ.
pub fn mse(x: ArrayViewD<f32>, reference: ArrayViewD<f32>) -> f64 {
    assert_same_shape(x.shape(), reference.shape(), "mse");
    let mut acc = 0.0f64;
    Zip::from(&x).and(&reference).for_each(|&a, &b| {
        let d = a as f64 - b as f64;
        acc += d * d;
    });
    acc / x.len().max(1) as f64
}

/// Peak signal-to-noise ratio in dB, `10 log10(R² / MSE)` with `R = data_range` (1 for
/// images in `[0, 1]`). Identical images give `+inf`.
///
/// # Panics
/// If the shapes differ or `data_range` is not a positive finite number.
pub fn psnr(x: ArrayViewD<f32>, reference: ArrayViewD<f32>, data_range: f64) -> f64 {
    assert!(
        data_range > 0.0 && data_range.is_finite(),
        "psnr: data_range must be positive and finite, got {data_range}"
    );
    let m = mse(x, reference);
    if m == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (data_range * data_range / m).log10()
    }
}

/// Relative residual `‖ax - y‖₂ / ‖y‖₂` (real or complex data), the data-fit measure of
/// an estimate `x` with forward image `ax = A x`. When `y = 0` the result is 0 if `ax` is
/// also 0 and `+inf` otherwise.
///
/// # Panics
/// If the shapes differ.
pub fn relative_residual<T: Scalar>(ax: ArrayViewD<T>, y: ArrayViewD<T>) -> f64 {
    assert_same_shape(ax.shape(), y.shape(), "relative_residual");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    Zip::from(&ax).and(&y).for_each(|&a, &b| {
        num += (a - b).abs2() as f64;
        den += b.abs2() as f64;
    });
    if den == 0.0 {
        if num == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        (num / den).sqrt()
    }
}

/// Stabilising constants of SSIM: `C1 = (K1 R)²`, `C2 = (K2 R)²`.
const K1: f64 = 0.01;
const K2: f64 = 0.03;

/// A normalised SSIM window: 1-D weights (the 2-D window is their outer product) and the
/// covariance normalisation.
struct Window {
    weights: Vec<f64>,
    cov_norm: f64,
}

impl Window {
    /// Gaussian weights `exp(-k²/(2σ²))`, `|k| ≤ r` with `r = ⌊3.5 σ + 0.5⌋`, normalised
    /// to sum 1 (scipy.ndimage's truncated kernel as used by scikit-image); population
    /// covariance.
    fn gaussian(sigma: f64) -> Window {
        let r = (3.5 * sigma + 0.5) as i64;
        let mut w: Vec<f64> = (-r..=r)
            .map(|k| (-0.5 / (sigma * sigma) * (k * k) as f64).exp())
            .collect();
        let s: f64 = w.iter().sum();
        w.iter_mut().for_each(|v| *v /= s);
        Window {
            weights: w,
            cov_norm: 1.0,
        }
    }

    /// A `size x size` box window with the sample covariance factor `N / (N - 1)`,
    /// `N = size²`.
    fn uniform(size: usize) -> Window {
        let np = (size * size) as f64;
        Window {
            weights: vec![1.0 / size as f64; size],
            cov_norm: np / (np - 1.0),
        }
    }

    fn size(&self) -> usize {
        self.weights.len()
    }
}

/// Mean SSIM of one `h x w` plane pair, over the pixels whose window lies inside the
/// image.
///
/// scikit-image filters the whole image (scipy.ndimage, `mode='reflect'`) and then
/// discards a border of `(win_size - 1) / 2` pixels before averaging. That border equals
/// the window radius, so every retained value is computed from pixels inside the image
/// and the boundary extension never enters the result: filtering only the interior
/// ("valid" correlation) gives the same mean, without padding.
fn ssim_plane(x: &[f64], y: &[f64], h: usize, w: usize, win: &Window, c1: f64, c2: f64) -> f64 {
    let k = win.size();
    let (oh, ow) = (h + 1 - k, w + 1 - k);
    let wt = &win.weights;
    // Horizontal pass over all rows: the five local sums of x, y, x², y², xy.
    let mut hor = vec![[0.0f64; 5]; h * ow];
    for i in 0..h {
        let (xr, yr) = (&x[i * w..(i + 1) * w], &y[i * w..(i + 1) * w]);
        for j in 0..ow {
            let mut s = [0.0f64; 5];
            for (t, &c) in wt.iter().enumerate() {
                let (a, b) = (xr[j + t], yr[j + t]);
                s[0] += c * a;
                s[1] += c * b;
                s[2] += c * a * a;
                s[3] += c * b * b;
                s[4] += c * a * b;
            }
            hor[i * ow + j] = s;
        }
    }
    // Vertical pass on the interior and the SSIM map, summed.
    let mut total = 0.0f64;
    let mut col = vec![[0.0f64; 5]; ow];
    for i in 0..oh {
        col.iter_mut().for_each(|v| *v = [0.0; 5]);
        for (t, &c) in wt.iter().enumerate() {
            let row = &hor[(i + t) * ow..(i + t + 1) * ow];
            for (acc, r) in col.iter_mut().zip(row) {
                for q in 0..5 {
                    acc[q] += c * r[q];
                }
            }
        }
        for s in &col {
            let (ux, uy) = (s[0], s[1]);
            let vx = win.cov_norm * (s[2] - ux * ux);
            let vy = win.cov_norm * (s[3] - uy * uy);
            let vxy = win.cov_norm * (s[4] - ux * uy);
            let num = (2.0 * ux * uy + c1) * (2.0 * vxy + c2);
            let den = (ux * ux + uy * uy + c1) * (vx + vy + c2);
            total += num / den;
        }
    }
    total / (oh * ow) as f64
}

fn ssim_with(
    x: ArrayViewD<f32>,
    reference: ArrayViewD<f32>,
    data_range: f64,
    win: &Window,
    what: &str,
) -> Result<f64> {
    check_shape(reference.shape(), x.shape(), what)?;
    let (c, h, w) = planes(x.shape())?;
    if !(data_range > 0.0 && data_range.is_finite()) {
        return Err(Error::param(
            "data_range",
            format!("must be positive and finite, got {data_range}"),
        ));
    }
    let k = win.size();
    if h < k || w < k {
        return Err(Error::param(
            "shape",
            format!(
                "{what} uses a {k}x{k} window; the image ({h}x{w}) must be at least that large"
            ),
        ));
    }
    let (c1, c2) = ((K1 * data_range).powi(2), (K2 * data_range).powi(2));
    let x3 = x.to_shape((c, h, w)).expect("planes() checked the shape");
    let r3 = reference.to_shape((c, h, w)).expect("same shape");
    let mut sum = 0.0f64;
    for (xp, rp) in x3.axis_iter(Axis(0)).zip(r3.axis_iter(Axis(0))) {
        let xs: Vec<f64> = xp.iter().map(|&v| v as f64).collect();
        let rs: Vec<f64> = rp.iter().map(|&v| v as f64).collect();
        sum += ssim_plane(&xs, &rs, h, w, win, c1, c2);
    }
    Ok(sum / c as f64)
}

/// Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window, σ = 1.5.
///
/// For local means `μ`, variances `σ²` and covariance `σ_xr` taken with the Gaussian
/// weights,
/// `SSIM = (2 μx μr + C1)(2 σxr + C2) / ((μx² + μr² + C1)(σx² + σr² + C2))`,
/// `C1 = (0.01 R)²`, `C2 = (0.03 R)²`, `R = data_range`, averaged over the pixels at least
/// 5 pixels from the border. `[C, H, W]` images: the mean over channels. This equals
/// scikit-image's `structural_similarity(x, r, data_range=R, gaussian_weights=True,
/// sigma=1.5, use_sample_covariance=False)` (with `channel_axis=0` for 3-D input), the
/// setting of the original paper. Images must be at least 11x11.
///
/// Errors: [`Error::Shape`] if the shapes differ, [`Error::Param`] for a non-image shape,
/// a too-small image or a non-positive `data_range`.
pub fn ssim(x: ArrayViewD<f32>, reference: ArrayViewD<f32>, data_range: f64) -> Result<f64> {
    ssim_with(x, reference, data_range, &Window::gaussian(1.5), "ssim")
}

/// Structural similarity with scikit-image's default window: 7x7 uniform weights and
/// the sample covariance (factor 49/48), i.e. `structural_similarity(x, r,
/// data_range=R)`. This is the variant most Python tables (including the peer
/// comparisons of this project) report; it differs from [`ssim`] by a few hundredths.
/// Averaged over pixels at least 3 from the border; images must be at least 7x7.
///
/// Errors as for [`ssim`].
pub fn ssim_uniform7(
    x: ArrayViewD<f32>,
    reference: ArrayViewD<f32>,
    data_range: f64,
) -> Result<f64> {
    ssim_with(
        x,
        reference,
        data_range,
        &Window::uniform(7),
        "ssim_uniform7",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::c32;
    use crate::data::bundled;
    use ndarray::{Array2, Array3, ArrayD, IxDyn};

    /// `x + 0.1 sin(i/3) cos(j/5)`, clipped to [0, 1] (see scripts/peers/ssim_reference.py).
    fn pattern(x: &Array2<f32>) -> Array2<f32> {
        Array2::from_shape_fn(x.dim(), |(i, j)| {
            let d = x[[i, j]] as f64 + 0.1 * (i as f64 / 3.0).sin() * (j as f64 / 5.0).cos();
            d.clamp(0.0, 1.0) as f32
        })
    }

    /// Circular 3x3 box blur, summed in the same order as the Python script.
    fn blur(x: &Array2<f32>) -> Array2<f32> {
        let (h, w) = x.dim();
        Array2::from_shape_fn((h, w), |(i, j)| {
            let mut acc = 0.0f64;
            for di in [-1i64, 0, 1] {
                for dj in [-1i64, 0, 1] {
                    // np.roll(x, (di, dj))[i, j] = x[i - di, j - dj]
                    let ii = (i as i64 - di).rem_euclid(h as i64) as usize;
                    let jj = (j as i64 - dj).rem_euclid(w as i64) as usize;
                    acc += x[[ii, jj]] as f64;
                }
            }
            (acc / 9.0) as f32
        })
    }

    /// Values printed by `python3 scripts/peers/ssim_reference.py` with numpy 2.4.6, scipy 1.17.1 and
    /// scikit-image 0.26.0: (pair, gaussian SSIM, uniform-7 SSIM, PSNR).
    const REFERENCE: &[(&str, f64, f64, f64)] = &[
        (
            "camera_pattern",
            0.7332444038539845,
            0.668022833498923,
            26.119767157681313,
        ),
        (
            "camera_blur",
            0.8557580690698375,
            0.8577895368742858,
            27.88505361235215,
        ),
        (
            "coins_crop_pattern",
            0.7979334244895389,
            0.7430428279901442,
            26.01729528302162,
        ),
        (
            "stack3_blur",
            0.8941206443820756,
            0.9005529124819462,
            28.384681919072314,
        ),
    ];

    fn pairs() -> Vec<(&'static str, ArrayD<f32>, ArrayD<f32>)> {
        let cam = bundled("camera").unwrap();
        let coins = bundled("coins").unwrap();
        // coins[20:120, 10:230] (the s! macro is unavailable under forbid(unsafe_code)).
        let crop = Array2::from_shape_fn((100, 220), |(i, j)| coins[[i + 20, j + 10]]);
        let chans = [
            bundled("astronaut").unwrap(),
            coins.clone(),
            bundled("chelsea").unwrap(),
        ];
        let mut rgb = Array3::<f32>::zeros((3, 256, 256));
        let mut rgb_blur = Array3::<f32>::zeros((3, 256, 256));
        for (c, plane) in chans.iter().enumerate() {
            rgb.index_axis_mut(Axis(0), c).assign(plane);
            rgb_blur.index_axis_mut(Axis(0), c).assign(&blur(plane));
        }
        vec![
            (
                "camera_pattern",
                cam.clone().into_dyn(),
                pattern(&cam).into_dyn(),
            ),
            ("camera_blur", cam.clone().into_dyn(), blur(&cam).into_dyn()),
            (
                "coins_crop_pattern",
                crop.clone().into_dyn(),
                pattern(&crop).into_dyn(),
            ),
            ("stack3_blur", rgb.into_dyn(), rgb_blur.into_dyn()),
        ]
    }

    #[test]
    fn matches_scikit_image() {
        let mut worst = [0.0f64; 3];
        for ((name, reference, x), (rname, g, u, p)) in pairs().into_iter().zip(REFERENCE) {
            assert_eq!(name, *rname);
            let got = [
                ssim(x.view(), reference.view(), 1.0).unwrap(),
                ssim_uniform7(x.view(), reference.view(), 1.0).unwrap(),
                psnr(x.view(), reference.view(), 1.0),
            ];
            for (k, (a, b)) in got.iter().zip([g, u, p]).enumerate() {
                let err = (a - b).abs();
                worst[k] = worst[k].max(err);
                assert!(
                    err < 1e-9,
                    "{name} metric {k}: {a} vs skimage {b} (|diff| {err:e})"
                );
            }
        }
        eprintln!(
            "max |diff| vs skimage: ssim {:e}, ssim_uniform7 {:e}, psnr {:e}",
            worst[0], worst[1], worst[2]
        );
    }

    #[test]
    fn ssim_properties() {
        let cam = bundled("camera").unwrap().into_dyn();
        // Identical images: exactly 1 (every local term is 1).
        assert!((ssim(cam.view(), cam.view(), 1.0).unwrap() - 1.0).abs() < 1e-12);
        assert!((ssim_uniform7(cam.view(), cam.view(), 1.0).unwrap() - 1.0).abs() < 1e-12);
        // Symmetric in its arguments.
        let other = bundled("coins").unwrap().into_dyn();
        let a = ssim(cam.view(), other.view(), 1.0).unwrap();
        let b = ssim(other.view(), cam.view(), 1.0).unwrap();
        assert!((a - b).abs() < 1e-12 && a < 0.5);
        // A constant offset c only changes the luminance term: for constant images x = a,
        // r = b the score is (2ab + C1) / (a² + b² + C1).
        let x = ArrayD::from_elem(IxDyn(&[16, 16]), 0.5f32);
        let r = ArrayD::from_elem(IxDyn(&[16, 16]), 0.25f32);
        let c1 = (0.01f64).powi(2);
        let want = (2.0 * 0.5 * 0.25 + c1) / (0.25 + 0.0625 + c1);
        assert!((ssim(x.view(), r.view(), 1.0).unwrap() - want).abs() < 1e-12);
        assert!((ssim_uniform7(x.view(), r.view(), 1.0).unwrap() - want).abs() < 1e-12);
        // A channel stack of identical planes equals the single-plane value.
        let ref2 = bundled("camera").unwrap();
        let x2 = pattern(&ref2);
        let single = ssim(x2.view().into_dyn(), ref2.view().into_dyn(), 1.0).unwrap();
        let stack = |a: &Array2<f32>| {
            Array3::from_shape_fn((2, 256, 256), |(_, i, j)| a[[i, j]]).into_dyn()
        };
        let double = ssim(stack(&x2).view(), stack(&ref2).view(), 1.0).unwrap();
        assert!((single - double).abs() < 1e-12);
    }

    #[test]
    fn ssim_errors() {
        let a = ArrayD::<f32>::zeros(IxDyn(&[12, 12]));
        let b = ArrayD::<f32>::zeros(IxDyn(&[12, 13]));
        assert!(matches!(
            ssim(a.view(), b.view(), 1.0),
            Err(Error::Shape { .. })
        ));
        assert!(matches!(
            ssim(a.view(), a.view(), 0.0),
            Err(Error::Param { .. })
        ));
        let small = ArrayD::<f32>::zeros(IxDyn(&[10, 30]));
        let e = ssim(small.view(), small.view(), 1.0).unwrap_err();
        assert!(e.to_string().contains("11x11"), "{e}");
        assert!(ssim_uniform7(small.view(), small.view(), 1.0).is_ok());
        let flat = ArrayD::<f32>::zeros(IxDyn(&[100]));
        assert!(matches!(
            ssim(flat.view(), flat.view(), 1.0),
            Err(Error::Param { .. })
        ));
    }

    #[test]
    fn mse_psnr_residual_known_values() {
        let r = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.0f32, 0.5, 1.0, 0.25]).unwrap();
        let x = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.1f32, 0.5, 0.8, 0.25]).unwrap();
        let m = mse(x.view(), r.view());
        let want = ((0.1f32 as f64).powi(2) + (0.8f32 as f64 - 1.0).powi(2)) / 4.0;
        assert!((m - want).abs() < 1e-15);
        assert!((psnr(x.view(), r.view(), 1.0) - 10.0 * (1.0 / want).log10()).abs() < 1e-12);
        // Doubling the range adds 20 log10(2) dB.
        let d = psnr(x.view(), r.view(), 2.0) - psnr(x.view(), r.view(), 1.0);
        assert!((d - 20.0 * 2f64.log10()).abs() < 1e-12);
        assert_eq!(psnr(r.view(), r.view(), 1.0), f64::INFINITY);

        let y = ArrayD::from_shape_vec(IxDyn(&[2]), vec![c32::new(3.0, 0.0), c32::new(0.0, 4.0)])
            .unwrap();
        let ax = ArrayD::from_shape_vec(IxDyn(&[2]), vec![c32::new(3.0, 1.0), c32::new(0.0, 4.0)])
            .unwrap();
        assert!((relative_residual(ax.view(), y.view()) - 0.2).abs() < 1e-12);
        let z = ArrayD::from_elem(IxDyn(&[2]), c32::new(0.0, 0.0));
        assert_eq!(relative_residual(z.view(), z.view()), 0.0);
        assert_eq!(relative_residual(y.view(), z.view()), f64::INFINITY);
    }

    #[test]
    #[should_panic(expected = "shapes differ")]
    fn mse_panics_on_shape_mismatch() {
        let a = ArrayD::<f32>::zeros(IxDyn(&[2, 2]));
        let b = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
        mse(a.view(), b.view());
    }
}
