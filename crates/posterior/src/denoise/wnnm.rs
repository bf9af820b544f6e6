//! Weighted nuclear norm minimization (WNNM) denoising (S. Gu, L. Zhang, W. Zuo and X. Feng,
//! "Weighted nuclear norm minimization with application to image denoising", CVPR 2014),
//! following the structure and parameters of the authors' released code.
//!
//! # Algorithm
//! Start from `x̂⁰ = y`. For `k = 1 … K`:
//! 1. iterative regularization `yᵏ = x̂ᵏ⁻¹ + δ (y − x̂ᵏ⁻¹)`;
//! 2. every second iteration (`k = 1, 3, 5, …`) block matching on `yᵏ`: for each reference
//!    patch (`p × p`, positions on a grid of step `s`, the last row and column of positions
//!    always included) the `m − 1` patches of the `(2W + 1)²` search window (clipped to the
//!    image) with the smallest squared distance join the reference to form a group
//!    (ties broken by position); `m` starts at the paper's group size minus 10 and
//!    decreases by 10 at each re-matching (as the authors' code does);
//! 3. per-reference noise level `σ̂ = σ` at `k = 1` and
//!    `σ̂ = λ sqrt(|σ² − mean_patch (y − yᵏ)²|)` afterwards (the noise left in `yᵏ`);
//! 4. each group matrix `Y` (`p² × m`, columns the patches of `yᵏ`) is centred on its mean
//!    patch `μ`, `Y − μ = U diag(σ_i(Y)) Vᵀ` (thin SVD), and the weighted nuclear norm
//!    problem `min_X ‖Y − X‖²_F / σ̂² + ‖X‖_{w,*}` with `w_i = c √m / (σ_i(X) + ε)` is solved
//!    in closed form (the paper's Remark/Corollary for non-descending weights):
//!    `σ_i(X) = (σ_i(Y) − ε + sqrt(Δ_i)) / 2` when `Δ_i = (σ_i(Y) + ε)² − 4 C > 0`, else 0,
//!    with `C = 2 c √m σ̂²`; the group estimate is `U diag(σ_i(X)) Vᵀ + μ`;
//! 5. `x̂ᵏ` is the plain average of all patch estimates covering each pixel.
//!
//! Parameters for `σ ≤ 20, 40, 60` and above (on the `[0, 255]` scale, see [`WnnmParams::paper`])
//! are those of the paper / authors' code; `c = 2√2`, `δ = 0.1`, search radius `W = 30`,
//! step `s = ⌊p/2 − 1⌋`. Colour images are denoised channel by channel.
//!
//! # Parallelism and determinism
//! References are processed in bands of [`BAND_ROWS`] grid rows in parallel (rayon); each
//! band aggregates into its own buffer and the buffers are summed in band order, and the
//! SVDs run sequentially inside a band, so results are identical for any thread count.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
use faer::{Col, Mat, Par};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use rayon::prelude::*;

use super::{Denoiser, DenoiserEntry, check_input};
use crate::error::{Error, Result};
use crate::spec::Spec;

/// Grid rows of reference patches per parallel band.
pub const BAND_ROWS: usize = 2;

/// The `ε` of the weights `w_i = c √m / (σ_i(X) + ε)` (data on the `[0, 1]` scale).
pub const EPS: f32 = 1e-6;

/// WNNM parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct WnnmParams {
    /// Patch side `p`.
    pub patch: usize,
    /// Group size before the first decrement (the paper's "number of similar patches").
    pub group: usize,
    /// Iterations `K`.
    pub iters: usize,
    /// `λ` of the re-estimated noise level.
    pub lambda: f32,
    /// Weight constant `c`.
    pub c: f32,
    /// Iterative regularization `δ`.
    pub delta: f32,
    /// Search radius `W` (window `(2W + 1)²`).
    pub window: usize,
    /// Step `s` of the reference grid.
    pub step: usize,
}

impl WnnmParams {
    /// The parameters of the paper / authors' code for noise level `sigma` (`[0, 1]`
    /// scale): `σ ≤ 20/255`: `p = 6`, group 70, `K = 8`, `λ = 0.54`; `σ ≤ 40/255`: `p = 7`,
    /// 90, `K = 12`, `λ = 0.56`; `σ ≤ 60/255`: `p = 8`, 120, `K = 14`, `λ = 0.58`; above:
    /// `p = 9`, 140, `K = 14`, `λ = 0.58`; always `c = 2√2`, `δ = 0.1`, `W = 30`,
    /// `s = ⌊p/2 − 1⌋`.
    pub fn paper(sigma: f32) -> Self {
        let s = sigma * 255.0;
        let (patch, group, iters, lambda) = if s <= 20.0 {
            (6, 70, 8, 0.54)
        } else if s <= 40.0 {
            (7, 90, 12, 0.56)
        } else if s <= 60.0 {
            (8, 120, 14, 0.58)
        } else {
            (9, 140, 14, 0.58)
        };
        WnnmParams {
            patch,
            group,
            iters,
            lambda,
            c: 2.0 * std::f32::consts::SQRT_2,
            delta: 0.1,
            window: 30,
            step: (patch / 2 - 1).max(1),
        }
    }
}

/// The WNNM denoiser (see the module docs); `None` fields take [`WnnmParams::paper`].
#[derive(Clone, Debug, Default)]
pub struct Wnnm {
    /// Iterations `K`, or the paper's.
    pub iters: Option<usize>,
    /// Search radius `W`, or 30.
    pub window: Option<usize>,
    /// Reference grid step, or `⌊p/2 − 1⌋`.
    pub step: Option<usize>,
}

impl Wnnm {
    /// The parameters used at noise level `sigma`.
    pub fn params_for(&self, sigma: f32) -> WnnmParams {
        let mut p = WnnmParams::paper(sigma);
        if let Some(k) = self.iters {
            p.iters = k;
        }
        if let Some(wn) = self.window {
            p.window = wn;
        }
        if let Some(s) = self.step {
            p.step = s;
        }
        p
    }
}

/// Positions `0, s, 2s, …` below `n − p + 1`, plus `n − p` if missing.
fn grid(n: usize, p: usize, s: usize) -> Vec<usize> {
    let last = n - p;
    let mut g: Vec<usize> = (0..=last).step_by(s).collect();
    if *g.last().expect("non-empty") != last {
        g.push(last);
    }
    g
}

/// WNNM on one `h × w` plane.
fn wnnm_plane(y: &[f32], h: usize, w: usize, sigma: f32, par: &WnnmParams) -> Vec<f32> {
    let p = par.patch;
    let d = p * p;
    let rw = par.window;
    let rows = grid(h, p, par.step);
    let cols = grid(w, p, par.step);
    let bands: Vec<&[usize]> = rows.chunks(BAND_ROWS).collect();
    // fewest candidates of any reference (a corner one)
    let min_cand = (rw + 1).min(h - p + 1) * (rw + 1).min(w - p + 1);
    let mut x = y.to_vec();
    let mut yk = vec![0.0f32; h * w];
    let mut groups: Vec<Vec<u32>> = vec![Vec::new(); bands.len()];
    let mut m = par.group;
    for k in 0..par.iters {
        for ((t, &xv), &yv) in yk.iter_mut().zip(&x).zip(y) {
            *t = xv + par.delta * (yv - xv);
        }
        if k % 2 == 0 {
            m = par
                .group
                .saturating_sub(10 * (k / 2 + 1))
                .max(1)
                .min(min_cand);
            let yk = &yk;
            groups = bands
                .par_iter()
                .map(|band| match_band(yk, w, h, band, &cols, p, rw, m))
                .collect();
        }
        let parts: Vec<(usize, Vec<f32>, Vec<f32>)> = bands
            .par_iter()
            .zip(groups.par_iter())
            .map(|(band, g)| {
                let lo = band[0].saturating_sub(rw);
                let hi = (band[band.len() - 1] + rw + p).min(h);
                let mut num = vec![0.0f32; (hi - lo) * w];
                let mut den = vec![0.0f32; (hi - lo) * w];
                let mut buf = MemBuffer::new(svd_scratch::<f32>(
                    d,
                    m,
                    ComputeSvdVectors::Thin,
                    ComputeSvdVectors::Thin,
                    Par::Seq,
                    Default::default(),
                ));
                let stack = MemStack::new(&mut buf);
                let r = d.min(m);
                let mut mat = Mat::<f32>::zeros(d, m);
                let mut u = Mat::<f32>::zeros(d, r);
                let mut v = Mat::<f32>::zeros(m, r);
                let mut s = Col::<f32>::zeros(r);
                let mut mean = vec![0.0f32; d];
                let mut shrunk = vec![0.0f32; r];
                let mut patch_est = vec![0.0f32; d];
                for (gi, members) in g.chunks(m).enumerate() {
                    let refpos = members[0] as usize;
                    let sig = if k == 0 {
                        sigma
                    } else {
                        let (ri, rj) = (refpos / w, refpos % w);
                        let mut acc = 0.0f32;
                        for a in 0..p {
                            for b in 0..p {
                                let q = (ri + a) * w + rj + b;
                                let e = y[q] - yk[q];
                                acc += e * e;
                            }
                        }
                        par.lambda * (sigma * sigma - acc / d as f32).abs().sqrt()
                    };
                    let _ = gi;
                    mean.fill(0.0);
                    for (t, &pos) in members.iter().enumerate() {
                        let (ri, rj) = (pos as usize / w, pos as usize % w);
                        for a in 0..p {
                            for b in 0..p {
                                let v = yk[(ri + a) * w + rj + b];
                                mat[(a * p + b, t)] = v;
                                mean[a * p + b] += v;
                            }
                        }
                    }
                    for mv in mean.iter_mut() {
                        *mv /= m as f32;
                    }
                    for t in 0..m {
                        for (i, &mv) in mean.iter().enumerate() {
                            mat[(i, t)] -= mv;
                        }
                    }
                    let cc = 2.0 * par.c * (m as f32).sqrt() * sig * sig;
                    let ok = svd(
                        mat.as_ref(),
                        s.as_mut().as_diagonal_mut(),
                        Some(u.as_mut()),
                        Some(v.as_mut()),
                        Par::Seq,
                        stack,
                        Default::default(),
                    )
                    .is_ok();
                    let mut svp = 0;
                    if ok {
                        for i in 0..r {
                            let sy = s[i];
                            let disc = (sy + EPS) * (sy + EPS) - 4.0 * cc;
                            shrunk[i] = if disc > 0.0 {
                                ((sy - EPS + disc.sqrt()) / 2.0).max(0.0)
                            } else {
                                0.0
                            };
                            if shrunk[i] > 0.0 {
                                svp = i + 1;
                            }
                        }
                    }
                    for (t, &pos) in members.iter().enumerate() {
                        patch_est.copy_from_slice(&mean);
                        for i in 0..svp {
                            let coef = shrunk[i] * v[(t, i)];
                            if coef != 0.0 {
                                for (e, a) in patch_est.iter_mut().enumerate() {
                                    *a += coef * u[(e, i)];
                                }
                            }
                        }
                        let (ri, rj) = (pos as usize / w, pos as usize % w);
                        for a in 0..p {
                            let o = (ri + a - lo) * w + rj;
                            for b in 0..p {
                                num[o + b] += patch_est[a * p + b];
                                den[o + b] += 1.0;
                            }
                        }
                    }
                }
                (lo, num, den)
            })
            .collect();
        let mut num = vec![0.0f32; h * w];
        let mut den = vec![0.0f32; h * w];
        for (lo, pn, pd) in &parts {
            let off = lo * w;
            for (a, &b) in num[off..off + pn.len()].iter_mut().zip(pn) {
                *a += b;
            }
            for (a, &b) in den[off..off + pd.len()].iter_mut().zip(pd) {
                *a += b;
            }
        }
        for ((xv, &n), &dd) in x.iter_mut().zip(&num).zip(&den) {
            // every pixel lies in a reference patch (grid step < patch side), so dd >= 1
            *xv = n / dd;
        }
    }
    x
}

/// Block matching for the references of one band: for each reference (row-major over
/// `band × cols`), the reference then its `m − 1` nearest other patches (squared distance,
/// ties by position), as flat positions `i * w + j`.
#[allow(clippy::too_many_arguments)] // reason: a private kernel with plain inputs
fn match_band(
    img: &[f32],
    w: usize,
    h: usize,
    band: &[usize],
    cols: &[usize],
    p: usize,
    rw: usize,
    m: usize,
) -> Vec<u32> {
    let mut out = Vec::with_capacity(band.len() * cols.len() * m);
    let mut cands: Vec<(f32, u32)> = Vec::new();
    let mut rpatch = vec![0.0f32; p * p];
    for &ri in band {
        for &rj in cols {
            for a in 0..p {
                rpatch[a * p..(a + 1) * p].copy_from_slice(&img[(ri + a) * w + rj..][..p]);
            }
            cands.clear();
            let (i0, i1) = (ri.saturating_sub(rw), (ri + rw).min(h - p));
            let (j0, j1) = (rj.saturating_sub(rw), (rj + rw).min(w - p));
            for ci in i0..=i1 {
                for cj in j0..=j1 {
                    if ci == ri && cj == rj {
                        continue;
                    }
                    let mut dist = 0.0f32;
                    for a in 0..p {
                        let row = &img[(ci + a) * w + cj..][..p];
                        for (&u, &v) in rpatch[a * p..(a + 1) * p].iter().zip(row) {
                            dist += (u - v) * (u - v);
                        }
                    }
                    cands.push((dist, (ci * w + cj) as u32));
                }
            }
            out.push((ri * w + rj) as u32);
            let need = m - 1;
            if need > 0 {
                let cmp = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                if need < cands.len() {
                    cands.select_nth_unstable_by(need - 1, cmp);
                }
                cands[..need].sort_unstable_by(cmp);
                out.extend(cands[..need].iter().map(|c| c.1));
            }
        }
    }
    out
}

impl Denoiser for Wnnm {
    fn describe(&self) -> String {
        let show = |v: Option<usize>| v.map_or("auto".to_string(), |v| v.to_string());
        format!(
            "wnnm(iters={},window={},step={})",
            show(self.iters),
            show(self.window),
            show(self.step)
        )
    }

    fn denoise(&self, y: ArrayViewD<f32>, sigma: f32) -> Result<ArrayD<f32>> {
        let par = self.params_for(if sigma.is_finite() { sigma } else { 0.0 });
        let (c, h, w) = check_input(&y, sigma, par.patch)?;
        validate(&par)?;
        let y = y.as_standard_layout();
        let data = y.as_slice().expect("standard layout");
        let mut out = Vec::with_capacity(c * h * w);
        for ch in 0..c {
            out.extend(wnnm_plane(
                &data[ch * h * w..(ch + 1) * h * w],
                h,
                w,
                sigma,
                &par,
            ));
        }
        let out = ArrayD::from_shape_vec(IxDyn(y.shape()), out)
            .map_err(|e| Error::param("image", e.to_string()))?;
        crate::io::check_finite("wnnm output", out.view())?;
        Ok(out)
    }
}

fn validate(p: &WnnmParams) -> Result<()> {
    if p.iters == 0 || p.iters > 100 {
        return Err(Error::param(
            "iters",
            format!("must be in 1..=100, got {}", p.iters),
        ));
    }
    if p.window == 0 || p.window > 100 {
        return Err(Error::param(
            "window",
            format!("must be in 1..=100, got {}", p.window),
        ));
    }
    if p.step == 0 || p.step >= p.patch {
        return Err(Error::param(
            "step",
            format!("must be in 1..{} (the patch side), got {}", p.patch, p.step),
        ));
    }
    Ok(())
}

fn build(spec: &Spec) -> Result<Box<dyn Denoiser>> {
    let args = spec.args(&["iters", "window", "step"])?;
    let d = Wnnm {
        iters: args.usize_opt("iters")?,
        window: args.usize_opt("window")?,
        step: args.usize_opt("step")?,
    };
    for s in [10.0f32, 30.0, 50.0, 80.0] {
        validate(&d.params_for(s / 255.0))?;
    }
    Ok(Box::new(d))
}

/// The registry entry for `wnnm`.
pub fn entry() -> DenoiserEntry {
    DenoiserEntry {
        name: "wnnm",
        summary: "WNNM (Gu et al. 2014): block matching + weighted nuclear norm shrinkage of patch groups, iterative regularization; slow",
        keys: &[
            (
                "iters",
                "iterations K (default the paper's: 8, 12, 14, 14 for sigma <= 20, 40, 60, above)",
            ),
            ("window", "search radius W, window (2W+1)^2 (default 30)"),
            (
                "step",
                "reference grid step, 1..patch-1 (default floor(patch/2 - 1): 2 or 3)",
            ),
        ],
        build,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_includes_last_position() {
        assert_eq!(grid(10, 3, 3), vec![0, 3, 6, 7]);
        assert_eq!(grid(9, 3, 3), vec![0, 3, 6]);
        assert_eq!(grid(6, 6, 2), vec![0]);
    }

    #[test]
    fn paper_parameters() {
        let p = WnnmParams::paper(25.0 / 255.0);
        assert_eq!((p.patch, p.group, p.iters, p.step), (7, 90, 12, 2));
        assert_eq!(WnnmParams::paper(70.0 / 255.0).patch, 9);
        assert_eq!(WnnmParams::paper(10.0 / 255.0).step, 2);
    }

    #[test]
    fn matching_finds_exact_copies() {
        // a 4x4 pattern tiled periodically: the nearest patches of a reference are its
        // exact copies (distance 0), in position order
        let (h, w) = (16, 16);
        let img: Vec<f32> = (0..h * w)
            .map(|q| (((q / w) % 4) * 4 + (q % w) % 4) as f32 / 16.0)
            .collect();
        let g = match_band(&img, w, h, &[0], &[0], 3, 8, 4);
        assert_eq!(g, vec![0, 4, 8, 4 * w as u32]);
    }
}
