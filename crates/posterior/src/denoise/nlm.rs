//! Non-local means (A. Buades, B. Coll and J.-M. Morel, "A non-local algorithm for image
//! denoising", CVPR 2005), with the noise-aware weights and the parameter table of the IPOL
//! reference (A. Buades, B. Coll and J.-M. Morel, "Non-Local Means Denoising", Image
//! Processing On Line 1 (2011), pp. 208–212).
//!
//! # Algorithm
//! Each pixel `i` is replaced by the weighted mean of the pixels `j` of the `window ×
//! window` search neighbourhood centred on it,
//! `x̂(i) = Σ_j w(i, j) y(j) / Σ_j w(i, j)`, with
//! `w(i, j) = exp(−max(d²(i, j) − 2σ², 0) / h²)` where `d²(i, j)` is the mean squared
//! difference of the `patch × patch` patches centred on `i` and `j` (averaged over pixels
//! and channels). Subtracting `2σ²`, the expected distance of two noisy copies of one patch,
//! gives weight 1 to every patch that is as similar as the noise allows (IPOL 2011, Sec. 2);
//! the centre pixel itself has `d² = 0`, weight 1. Colour channels share the weights (the
//! distance is averaged over channels). The image is extended by half-sample symmetric
//! reflection so that every pixel has a full window and full patches. This is the pixel-wise
//! variant of the 2005 paper (the IPOL code aggregates whole patches instead).
//!
//! # Default parameters
//! Patch sides, windows and `k = h/σ` of the IPOL 2011 table (`σ` on the `[0, 255]` scale):
//!
//! | gray `σ`  | patch | window | `k`  |   | colour `σ` | patch | window | `k`  |
//! |-----------|-------|--------|------|---|------------|-------|--------|------|
//! | (0, 15]   | 3×3   | 21×21  | 0.40 |   | (0, 25]    | 3×3   | 21×21  | 0.55 |
//! | (15, 30]  | 5×5   | 21×21  | 0.40 |   | (25, 55]   | 5×5   | 35×35  | 0.40 |
//! | (30, 45]  | 7×7   | 35×35  | 0.35 |   | (55, 100]  | 7×7   | 35×35  | 0.35 |
//! | (45, 75]  | 9×9   | 35×35  | 0.35 |   |            |       |        |      |
//! | (75, 100] | 11×11 | 35×35  | 0.30 |   |            |       |        |      |
//!
//! (IPOL 2011, Sec. 3; the same table is in the authors' `nlmeans_ipol` driver.) The IPOL
//! `k` is tuned for its patch-wise aggregation, which averages every pixel over `patch²`
//! patch estimates; this pixel-wise estimator needs a larger `h`, so the default is
//! `h = 2 k σ` (`nlm:h=` sets `h/σ` directly). The gray windows of 21×21 are reduced to
//! 13×13. Both choices were measured on the bundled camera image at `σ = 25/255`
//! (noisy PSNR 20.18 dB): IPOL values 28.66 dB; `h = 0.8σ` with the 21×21 window 29.56 dB
//! in 0.27 s; `h = 0.8σ` with 13×13 29.60 dB in about 0.1 s (2 shared cores).
//! Above `σ = 100/255` the last row is used. "Colour" means `[C, H, W]` with `C > 1`.
//!
//! # Cost and parallelism
//! For each offset `o` of the search window the squared-difference image
//! `D_o(i) = mean_c (y_c(i) − y_c(i + o))²` is formed once and box-filtered by separable
//! running sums, so `d²(i, i + o)` costs O(1) per pixel and offset whatever the patch size;
//! the total is `O(H W window²)`. The rows are cut into bands of [`BAND`] rows that rayon
//! processes in parallel; the bands do not depend on the number of threads and every pixel
//! accumulates its offsets in the same order, so results are identical for any thread count.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rayon::prelude::*;

use super::classic::pad_reflect;
use super::{Denoiser, DenoiserEntry, check_input};
use crate::error::{Error, Result};
use crate::spec::Spec;

/// Rows per parallel band.
pub const BAND: usize = 16;

/// Parameters of one NLM run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NlmParams {
    /// Patch side (odd).
    pub patch: usize,
    /// Search-window side (odd).
    pub window: usize,
    /// `h / σ`.
    pub h_factor: f32,
}

impl NlmParams {
    /// The default parameters for noise level `sigma` (`[0, 1]` scale) and `channels`:
    /// the IPOL 2011 table with `h = 2kσ` and 13×13 gray windows below `σ = 30/255` (see
    /// the module docs).
    pub fn ipol(sigma: f32, channels: usize) -> Self {
        let s = sigma * 255.0;
        let (patch, window, h_factor) = if channels > 1 {
            if s <= 25.0 {
                (3, 21, 0.55)
            } else if s <= 55.0 {
                (5, 35, 0.40)
            } else {
                (7, 35, 0.35)
            }
        } else if s <= 15.0 {
            (3, 13, 0.40)
        } else if s <= 30.0 {
            (5, 13, 0.40)
        } else if s <= 45.0 {
            (7, 35, 0.35)
        } else if s <= 75.0 {
            (9, 35, 0.35)
        } else {
            (11, 35, 0.30)
        };
        NlmParams {
            patch,
            window,
            h_factor: 2.0 * h_factor,
        }
    }
}

/// The non-local means denoiser (see the module docs). `None` fields take the defaults of
/// [`NlmParams::ipol`] for the noise level and channel count.
#[derive(Clone, Debug, Default)]
pub struct Nlm {
    /// Patch side (odd), or the default of [`NlmParams::ipol`].
    pub patch: Option<usize>,
    /// Search-window side (odd), or the default of [`NlmParams::ipol`].
    pub window: Option<usize>,
    /// `h / σ`, or the default of [`NlmParams::ipol`].
    pub h_factor: Option<f32>,
}

impl Nlm {
    /// The parameters used at noise level `sigma` for `channels` channels.
    pub fn params_for(&self, sigma: f32, channels: usize) -> NlmParams {
        let d = NlmParams::ipol(sigma, channels);
        NlmParams {
            patch: self.patch.unwrap_or(d.patch),
            window: self.window.unwrap_or(d.window),
            h_factor: self.h_factor.unwrap_or(d.h_factor),
        }
    }
}

/// `exp(−x)` for `x ≥ 0` (NaN-free; `x` is clamped to 87), relative error below
/// `1.5e-6 + 1e-7 x` (the f32 range reduction `t = x log2(e)` is off by up to `|t| 2^-24`, a
/// relative error of about `6e-8 x` in `2^t`; the weights need far less):
/// `2^t` split into an integer power of two (exponent bits) and `2^f`, `|f| ≤ 1/2`, by a
/// degree-6 Taylor polynomial of `e^{f ln 2}`. Branch-free so that loops over it vectorize.
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
    let t = -x.min(87.0) * std::f32::consts::LOG2_E;
    let n = (t - 0.5) as i32; // truncation toward zero: t - n in (-0.5, 0.5]
    let g = (t - n as f32) * std::f32::consts::LN_2;
    let p = 1.0
        + g * (1.0
            + g * (0.5
                + g * (1.0 / 6.0 + g * (1.0 / 24.0 + g * (1.0 / 120.0 + g * (1.0 / 720.0))))));
    f32::from_bits(((n + 127) as u32) << 23) * p
}

/// Run NLM on `c` planes of `h × w` (row-major, concatenated); returns the same layout.
fn nlm_planes(data: &[f32], c: usize, h: usize, w: usize, sigma: f32, p: &NlmParams) -> Vec<f32> {
    let f = p.patch / 2;
    let r = p.window / 2;
    let m = r + f;
    let wp = w + 2 * m;
    let padded: Vec<Vec<f32>> = (0..c)
        .map(|ch| pad_reflect(&data[ch * h * w..(ch + 1) * h * w], h, w, (m, m), (m, m)))
        .collect();
    let hf = p.h_factor * sigma;
    // (capped: a tiny h·σ underflows hf² to 0, and 0 · ∞ at the centre would be NaN,
    // which the fast exponential maps to an equal weight for every patch)
    let inv_h2 = (1.0 / (hf * hf)).min(f32::MAX);
    let two_s2 = 2.0 * sigma * sigma;
    let inv_area = 1.0 / ((p.patch * p.patch * c) as f32);
    let bands: Vec<(usize, usize)> = (0..h)
        .step_by(BAND)
        .map(|i0| (i0, (i0 + BAND).min(h)))
        .collect();
    let wd = w + 2 * f; // columns of the difference image
    let results: Vec<Vec<f32>> = bands
        .par_iter()
        .map(|&(i0, i1)| {
            let nb = i1 - i0;
            let rows_d = nb + 2 * f;
            let mut num = vec![0.0f32; c * nb * w];
            let mut den = vec![0.0f32; nb * w];
            let mut diff = vec![0.0f32; rows_d * wd];
            let mut vsum = vec![0.0f32; wd];
            let mut dist = vec![0.0f32; w];
            for dy in -(r as isize)..=(r as isize) {
                for dx in -(r as isize)..=(r as isize) {
                    // squared differences over the band rows plus the patch halo
                    for k in 0..rows_d {
                        let pr = i0 + m - f + k; // padded row of the reference
                        let qr = (pr as isize + dy) as usize;
                        let drow = &mut diff[k * wd..(k + 1) * wd];
                        for (ch, plane) in padded.iter().enumerate() {
                            let a = &plane[pr * wp + m - f..][..wd];
                            let q0 = (qr * wp) as isize + (m - f) as isize + dx;
                            let b = &plane[q0 as usize..][..wd];
                            if ch == 0 {
                                for ((d, &u), &v) in drow.iter_mut().zip(a).zip(b) {
                                    *d = (u - v) * (u - v);
                                }
                            } else {
                                for ((d, &u), &v) in drow.iter_mut().zip(a).zip(b) {
                                    *d += (u - v) * (u - v);
                                }
                            }
                        }
                    }
                    // vertical running sum over 2f+1 rows, then horizontal
                    vsum.fill(0.0);
                    for k in 0..=2 * f {
                        for (s, &d) in vsum.iter_mut().zip(&diff[k * wd..(k + 1) * wd]) {
                            *s += d;
                        }
                    }
                    for row in 0..nb {
                        if row > 0 {
                            let (old, new) = (
                                &diff[(row - 1) * wd..row * wd],
                                &diff[(row + 2 * f) * wd..][..wd],
                            );
                            for ((s, &o), &n) in vsum.iter_mut().zip(old).zip(new) {
                                *s += n - o;
                            }
                        }
                        let mut s: f32 = vsum[..2 * f + 1].iter().sum();
                        dist[0] = s;
                        for j in 1..w {
                            s += vsum[j + 2 * f] - vsum[j - 1];
                            dist[j] = s;
                        }
                        let dn = &mut den[row * w..(row + 1) * w];
                        for (d, acc) in dist.iter_mut().zip(dn.iter_mut()) {
                            let arg = (*d * inv_area - two_s2).max(0.0) * inv_h2;
                            *d = exp_neg(arg);
                            *acc += *d;
                        }
                        let qr = (i0 + row + m) as isize + dy;
                        for ch in 0..c {
                            let q0 = qr as usize * wp + (m as isize + dx) as usize;
                            let src = &padded[ch][q0..q0 + w];
                            let nm = &mut num[(ch * nb + row) * w..][..w];
                            for ((acc, &wt), &v) in nm.iter_mut().zip(&dist).zip(src) {
                                *acc += wt * v;
                            }
                        }
                    }
                }
            }
            for ch in 0..c {
                for (v, &d) in num[ch * nb * w..(ch + 1) * nb * w].iter_mut().zip(&den) {
                    *v /= d;
                }
            }
            num
        })
        .collect();
    let mut out = vec![0.0f32; c * h * w];
    for (&(i0, i1), res) in bands.iter().zip(&results) {
        let nb = i1 - i0;
        for ch in 0..c {
            out[ch * h * w + i0 * w..ch * h * w + i1 * w]
                .copy_from_slice(&res[ch * nb * w..(ch + 1) * nb * w]);
        }
    }
    out
}

impl Denoiser for Nlm {
    fn describe(&self) -> String {
        let show = |v: Option<String>| v.unwrap_or_else(|| "auto".into());
        format!(
            "nlm(patch={},window={},h={})",
            show(self.patch.map(|v| v.to_string())),
            show(self.window.map(|v| v.to_string())),
            show(self.h_factor.map(|v| v.to_string()))
        )
    }

    fn denoise(&self, y: ArrayViewD<f32>, sigma: f32) -> Result<ArrayD<f32>> {
        let (c, h, w) = check_input(&y, sigma, 1)?;
        let p = self.params_for(sigma, c);
        validate(&p)?;
        let y = y.as_standard_layout();
        let data = y.as_slice().expect("standard layout");
        let out = nlm_planes(data, c, h, w, sigma, &p);
        let out = ArrayD::from_shape_vec(IxDyn(y.shape()), out)
            .map_err(|e| Error::param("image", e.to_string()))?;
        crate::io::check_finite("nlm output", out.view())?;
        Ok(out)
    }
}

fn validate(p: &NlmParams) -> Result<()> {
    if p.patch % 2 == 0 || p.patch > 63 {
        return Err(Error::param(
            "patch",
            format!("must be odd and at most 63, got {}", p.patch),
        ));
    }
    if p.window % 2 == 0 || p.window > 101 {
        return Err(Error::param(
            "window",
            format!("must be odd and at most 101, got {}", p.window),
        ));
    }
    if !(p.h_factor.is_finite() && p.h_factor > 0.0) {
        return Err(Error::param(
            "h",
            format!("must be finite and > 0, got {}", p.h_factor),
        ));
    }
    Ok(())
}

fn build(spec: &Spec) -> Result<Box<dyn Denoiser>> {
    let args = spec.args(&["h", "patch", "window"])?;
    let nlm = Nlm {
        patch: args.usize_opt("patch")?,
        window: args.usize_opt("window")?,
        h_factor: args.f32_opt("h")?,
    };
    // validate explicit values now (the defaults are valid)
    validate(&nlm.params_for(25.0 / 255.0, 1))?;
    Ok(Box::new(nlm))
}

/// The registry entry for `nlm`.
pub fn entry() -> DenoiserEntry {
    DenoiserEntry {
        name: "nlm",
        summary: "non-local means (Buades, Coll, Morel 2005) with the IPOL 2011 weights exp(-max(d^2-2 sigma^2,0)/h^2) and parameter table",
        keys: &[
            (
                "h",
                "h / sigma (default 2x the IPOL table value: 0.6-1.1 by sigma and channels)",
            ),
            (
                "patch",
                "odd patch side (default from the IPOL table: 3, 5, 7, 9 or 11 by sigma)",
            ),
            (
                "window",
                "odd search-window side (default 13 for gray sigma <= 30/255, else the IPOL table: 21 or 35)",
            ),
        ],
        build,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_neg_is_accurate() {
        for i in 0..2000 {
            let x = i as f32 * 0.04;
            let (a, b) = (exp_neg(x), (-x).exp());
            // the documented bound: polynomial + rounding, plus the f32 range reduction
            let tol = 1.5e-6 + 1e-7 * x;
            assert!((a - b).abs() <= tol * b + 1e-38, "x = {x}: {a} vs {b}");
        }
        assert!(exp_neg(1e9) >= 0.0 && exp_neg(1e9) < 1e-37);
    }

    #[test]
    fn a_vanishing_h_weighs_only_patches_within_the_noise_offset() {
        // h·σ so small that (h·σ)² underflows in f32: only patches with d² <= 2σ² (the
        // centre among them) keep a weight, as the f64 brute force says; before the cap
        // every weight became the same e^-87 and the output the window mean.
        let (h, w) = (12, 12);
        let y: Vec<f32> = (0..h * w).map(|k| ((k * 7) % 13) as f32 / 13.0).collect();
        let p = NlmParams {
            patch: 3,
            window: 5,
            h_factor: 1e-30,
        };
        let out = nlm_planes(&y, 1, h, w, 0.1, &p);
        for &(i, j) in &[(0, 0), (3, 4), (6, 6), (11, 11)] {
            let want = brute(&y, h, w, i, j, 0.1, &p);
            assert!(
                (out[i * w + j] - want).abs() < 1e-5,
                "({i},{j}): {} vs {want}",
                out[i * w + j]
            );
        }
    }

    #[test]
    fn ipol_table_rows() {
        assert_eq!(NlmParams::ipol(10.0 / 255.0, 1).patch, 3);
        let p = NlmParams::ipol(25.0 / 255.0, 1);
        assert_eq!((p.patch, p.window, p.h_factor), (5, 13, 0.80));
        assert_eq!(NlmParams::ipol(80.0 / 255.0, 1).patch, 11);
        assert_eq!(NlmParams::ipol(30.0 / 255.0, 3).window, 35);
    }

    /// Direct O(patch²) evaluation of the same estimator at one pixel.
    fn brute(y: &[f32], h: usize, w: usize, i: usize, j: usize, sigma: f32, p: &NlmParams) -> f32 {
        let (f, r) = ((p.patch / 2) as isize, (p.window / 2) as isize);
        let at = |a: isize, b: isize| {
            y[super::super::classic::reflect(a, h) * w + super::super::classic::reflect(b, w)]
        };
        let hf = p.h_factor * sigma;
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for dy in -r..=r {
            for dx in -r..=r {
                let mut d2 = 0.0f64;
                for a in -f..=f {
                    for b in -f..=f {
                        let (ii, jj) = (i as isize + a, j as isize + b);
                        let diff = (at(ii, jj) - at(ii + dy, jj + dx)) as f64;
                        d2 += diff * diff;
                    }
                }
                d2 /= (p.patch * p.patch) as f64;
                let wt =
                    (-((d2 - 2.0 * (sigma as f64).powi(2)).max(0.0)) / (hf as f64).powi(2)).exp();
                num += wt * at(i as isize + dy, j as isize + dx) as f64;
                den += wt;
            }
        }
        (num / den) as f32
    }

    #[test]
    fn matches_brute_force() {
        let (h, w) = (37, 29);
        let mut rng = crate::rng(3);
        use rand::RngExt;
        let y: Vec<f32> = (0..h * w)
            .map(|k| ((k % w) as f32 / w as f32) + 0.2 * rng.random::<f32>())
            .collect();
        let p = NlmParams {
            patch: 5,
            window: 7,
            h_factor: 0.6,
        };
        let sigma = 0.1;
        let out = nlm_planes(&y, 1, h, w, sigma, &p);
        for &(i, j) in &[(0, 0), (5, 7), (17, 28), (36, 0), (36, 28), (20, 14)] {
            let want = brute(&y, h, w, i, j, sigma, &p);
            assert!(
                (out[i * w + j] - want).abs() < 2e-5,
                "({i},{j}): {} vs {want}",
                out[i * w + j]
            );
        }
    }
}
