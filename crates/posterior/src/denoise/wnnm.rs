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
//!    patch `μ`, `Y − μ = U diag(σ_i(Y)) Vᵀ` (computed through the eigendecomposition of
//!    the smaller Gram matrix, see `Shrinker`), and the weighted nuclear norm
//!    problem `min_X ‖Y − X‖²_F / σ̂² + ‖X‖_{w,*}` with `w_i = c √m / (σ_i(X) + ε)` is solved
//!    in closed form (the paper's Remark/Corollary for non-descending weights):
//!    `σ_i(X) = (σ_i(Y) − ε + sqrt(Δ_i)) / 2` when `Δ_i = (σ_i(Y) + ε)² − 4 C > 0`, else 0,
//!    with `C = 2 c √m σ̂²`; the group estimate is `U diag(σ_i(X)) Vᵀ + μ`;
//! 5. `x̂ᵏ` is the plain average of all patch estimates covering each pixel.
//!
//! # Parameters
//! `profile=paper` ([`WnnmParams::paper`]) takes, for `σ ≤ 20, 40, 60` and above (on the
//! `[0, 255]` scale), the parameters of the paper / authors' code; `c = 2√2`, `δ = 0.1`,
//! search radius `W = 30`, step `s = ⌊p/2 − 1⌋`. The default, `profile=tuned`
//! ([`WnnmParams::tuned`]), changes only `c` (to 1.5) and `K`, chosen on the project's
//! tuning image: with the paper's `c` WNNM is 0.29 dB below BM3D on average over the nine
//! bundled 256² images at σ = 25, with the tuned values above it (BENCHMARKS.md, issue 4).
//! Colour images are denoised channel by channel.
//!
//! # Parallelism and determinism
//! References are processed in bands of [`BAND_ROWS`] grid rows in parallel (rayon); each
//! band aggregates into its own buffer and the buffers are summed in band order, and the
//! decompositions run sequentially inside a band, so results are identical for any thread
//! count.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{ComputeEigenvectors, self_adjoint_evd, self_adjoint_evd_scratch};
use faer::linalg::matmul::matmul;
use faer::{Accum, Col, Mat, MatRef, Par};
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
    /// Smallest group size the decrement may reach.
    pub floor: usize,
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
            floor: 1,
        }
    }

    /// The default (`profile=tuned`): the paper's parameters with the weight constant `c`
    /// and the iteration count `K` chosen on the project's tuning image (astronaut 256²,
    /// see BENCHMARKS.md): `σ ≤ 20/255`: `c = 1.5`, `K = 12`; `σ ≤ 40/255`:
    /// `c = 1.5`, `K = 14`; above: `c = 1.5`, `K = 16`. The paper's `c = 2√2` over-shrinks
    /// the groups of these 256² images, which hold less exact repetition than the paper's
    /// test images.
    pub fn tuned(sigma: f32) -> Self {
        let s = sigma * 255.0;
        let (c, iters) = if s <= 20.0 {
            (1.5, 12)
        } else if s <= 40.0 {
            (1.5, 14)
        } else {
            (1.5, 16)
        };
        WnnmParams {
            c,
            iters,
            ..Self::paper(sigma)
        }
    }
}

/// The parameter set a [`Wnnm`] starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// [`WnnmParams::tuned`] (the default).
    #[default]
    Tuned,
    /// [`WnnmParams::paper`]: the published parameters.
    Paper,
}

/// The WNNM denoiser (see the module docs); `None` fields take the profile's value.
#[derive(Clone, Debug, Default)]
pub struct Wnnm {
    /// The parameter set the `None` fields take.
    pub profile: Profile,
    /// Iterations `K`, or the profile's.
    pub iters: Option<usize>,
    /// Search radius `W`, or 30.
    pub window: Option<usize>,
    /// Reference grid step, or `⌊p/2 − 1⌋`.
    pub step: Option<usize>,
    /// Patch side, or the paper's.
    pub patch: Option<usize>,
    /// Group size before the first decrement, or the paper's.
    pub group: Option<usize>,
    /// Smallest group size the decrement by 10 may reach, or 1 (the paper's schedule).
    pub floor: Option<usize>,
    /// `λ` of the re-estimated noise level, or the paper's.
    pub lambda: Option<f32>,
    /// Weight constant `c`, or the profile's (1.5 tuned, `2√2` paper).
    pub c: Option<f32>,
    /// Iterative regularization `δ`, or 0.1.
    pub delta: Option<f32>,
}

impl Wnnm {
    /// The parameters used at noise level `sigma`.
    pub fn params_for(&self, sigma: f32) -> WnnmParams {
        let mut p = match self.profile {
            Profile::Tuned => WnnmParams::tuned(sigma),
            Profile::Paper => WnnmParams::paper(sigma),
        };
        fn set<T: Copy>(dst: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *dst = v;
            }
        }
        if let Some(q) = self.patch {
            p.patch = q;
            p.step = (q / 2).saturating_sub(1).max(1);
        }
        set(&mut p.step, self.step);
        set(&mut p.iters, self.iters);
        set(&mut p.window, self.window);
        set(&mut p.group, self.group);
        set(&mut p.floor, self.floor);
        set(&mut p.lambda, self.lambda);
        set(&mut p.c, self.c);
        set(&mut p.delta, self.delta);
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
                .max(par.floor)
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
                let mut shrinker = Shrinker::new(d, m);
                let mut mean = vec![0.0f64; d];
                for members in g.chunks(m) {
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
                    mean.fill(0.0);
                    let mat = &mut shrinker.group;
                    for (t, &pos) in members.iter().enumerate() {
                        let (ri, rj) = (pos as usize / w, pos as usize % w);
                        for a in 0..p {
                            for b in 0..p {
                                let v = f64::from(yk[(ri + a) * w + rj + b]);
                                mat[(a * p + b, t)] = v;
                                mean[a * p + b] += v;
                            }
                        }
                    }
                    for mv in mean.iter_mut() {
                        *mv /= m as f64;
                    }
                    for t in 0..m {
                        for (i, &mv) in mean.iter().enumerate() {
                            mat[(i, t)] -= mv;
                        }
                    }
                    let cc = 2.0 * f64::from(par.c) * (m as f64).sqrt() * f64::from(sig).powi(2);
                    let est = shrinker.shrink(cc);
                    for (t, &pos) in members.iter().enumerate() {
                        let (ri, rj) = (pos as usize / w, pos as usize % w);
                        for a in 0..p {
                            let o = (ri + a - lo) * w + rj;
                            for b in 0..p {
                                let e = a * p + b;
                                num[o + b] += (mean[e] + est[(e, t)]) as f32;
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

/// Weighted nuclear norm shrinkage of centred `d × m` groups through the eigendecomposition
/// of the smaller Gram matrix (`Y Yᵀ` when `d ≤ m`, else `Yᵀ Y`), in `f64`: its eigenvalues
/// are the squared singular values of `Y` and its eigenvectors the left (right) singular
/// vectors, so `U diag(σ_i(X)) Vᵀ = U diag(f) Uᵀ Y` (`Y V diag(f) Vᵀ`) with
/// `f_i = σ_i(X) / σ_i(Y)`, over the components the shrinkage keeps. Equal to the thin-SVD
/// form to rounding (tested), and cheaper than faer's thin SVD at these sizes (a whole σ = 25
/// run on a 256² image: 34 → 28 s).
struct Shrinker {
    d: usize,
    m: usize,
    /// The centred group `Y` (`d × m`), written by the caller.
    group: Mat<f64>,
    gram: Mat<f64>,
    evec: Mat<f64>,
    eval: Col<f64>,
    /// `f_i` per eigenvalue (valid for the kept ones).
    factor: Col<f64>,
    /// The kept eigenvectors scaled by `f`.
    scaled: Mat<f64>,
    /// `r × m` (`d ≤ m`) or `d × r` products.
    tmp: Mat<f64>,
    out: Mat<f64>,
    buf: MemBuffer,
}

impl Shrinker {
    fn new(d: usize, m: usize) -> Self {
        let n = d.min(m);
        Shrinker {
            d,
            m,
            group: Mat::zeros(d, m),
            gram: Mat::zeros(n, n),
            evec: Mat::zeros(n, n),
            eval: Col::zeros(n),
            factor: Col::zeros(n),
            scaled: Mat::zeros(n, n),
            tmp: Mat::zeros(d, m),
            out: Mat::zeros(d, m),
            buf: MemBuffer::new(self_adjoint_evd_scratch::<f64>(
                n,
                ComputeEigenvectors::Yes,
                Par::Seq,
                Default::default(),
            )),
        }
    }

    /// `U diag(σ_i(X)) Vᵀ` of the group, with `σ_i(X)` the closed-form weighted shrinkage
    /// of `σ_i(Y)` for the constant `cc` (`C` of the module docs); zero if the
    /// eigendecomposition fails.
    fn shrink(&mut self, cc: f64) -> MatRef<'_, f64> {
        let (d, m) = (self.d, self.m);
        let n = d.min(m);
        let y = self.group.as_ref();
        // the smaller Gram matrix: Y Yᵀ (d × d) or Yᵀ Y (m × m)
        let (lhs, rhs) = if d <= m {
            (y, y.transpose())
        } else {
            (y.transpose(), y)
        };
        matmul(self.gram.as_mut(), Accum::Replace, lhs, rhs, 1.0, Par::Seq);
        let ok = self_adjoint_evd(
            self.gram.as_ref(),
            self.eval.as_mut().as_diagonal_mut(),
            Some(self.evec.as_mut()),
            Par::Seq,
            MemStack::new(&mut self.buf),
            Default::default(),
        )
        .is_ok();
        let eps = f64::from(EPS);
        let mut r = 0;
        if ok {
            // eigenvalues ascending: singular values descending from the last one; Δ grows
            // with σ_i(Y), so the kept components are a leading run
            for j in (0..n).rev() {
                let sy = self.eval[j].max(0.0).sqrt();
                let disc = (sy + eps) * (sy + eps) - 4.0 * cc;
                if disc <= 0.0 {
                    break;
                }
                let sx = ((sy - eps + disc.sqrt()) / 2.0).max(0.0);
                self.factor[j] = if sy > 0.0 { sx / sy } else { 0.0 };
                r += 1;
            }
        }
        if r == 0 {
            self.out.fill(0.0);
            return self.out.as_ref();
        }
        // the kept components are the last r eigenvectors; scale a copy of them by f
        let kept = self.evec.as_ref().subcols(n - r, r);
        for c in 0..r {
            let f = self.factor[n - r + c];
            for i in 0..n {
                self.scaled[(i, c)] = kept[(i, c)] * f;
            }
        }
        let scaled = self.scaled.as_ref().subcols(0, r);
        if d <= m {
            let mut t = self.tmp.as_mut().submatrix_mut(0, 0, r, m);
            matmul(
                t.as_mut(),
                Accum::Replace,
                kept.transpose(),
                y,
                1.0,
                Par::Seq,
            );
            matmul(
                self.out.as_mut(),
                Accum::Replace,
                scaled,
                t.as_ref(),
                1.0,
                Par::Seq,
            );
        } else {
            let mut t = self.tmp.as_mut().submatrix_mut(0, 0, d, r);
            matmul(t.as_mut(), Accum::Replace, y, scaled, 1.0, Par::Seq);
            matmul(
                self.out.as_mut(),
                Accum::Replace,
                t.as_ref(),
                kept.transpose(),
                1.0,
                Par::Seq,
            );
        }
        self.out.as_ref()
    }
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
    let mut rowdist = vec![0.0f32; 2 * rw + 1];
    for &ri in band {
        for &rj in cols {
            for a in 0..p {
                rpatch[a * p..(a + 1) * p].copy_from_slice(&img[(ri + a) * w + rj..][..p]);
            }
            cands.clear();
            let (i0, i1) = (ri.saturating_sub(rw), (ri + rw).min(h - p));
            let (j0, j1) = (rj.saturating_sub(rw), (rj + rw).min(w - p));
            let ncj = j1 - j0 + 1;
            for ci in i0..=i1 {
                // the distances of the whole row of candidates at once (vectorizes over
                // cj); each sum runs over (a, b) in the same order as a per-candidate loop
                let dist = &mut rowdist[..ncj];
                dist.fill(0.0);
                for a in 0..p {
                    let row = &img[(ci + a) * w..(ci + a + 1) * w];
                    for b in 0..p {
                        let rv = rpatch[a * p + b];
                        for (dd, &v) in dist.iter_mut().zip(&row[j0 + b..=j1 + b]) {
                            let e = rv - v;
                            *dd += e * e;
                        }
                    }
                }
                for (o, &dv) in dist.iter().enumerate() {
                    let cj = j0 + o;
                    if ci == ri && cj == rj {
                        continue;
                    }
                    cands.push((dv, (ci * w + cj) as u32));
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
        let extra: String = [
            ("patch", self.patch.map(|v| v.to_string())),
            ("group", self.group.map(|v| v.to_string())),
            ("floor", self.floor.map(|v| v.to_string())),
            ("lambda", self.lambda.map(|v| v.to_string())),
            ("c", self.c.map(|v| v.to_string())),
            ("delta", self.delta.map(|v| v.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!(",{k}={v}")))
        .collect();
        let profile = match self.profile {
            Profile::Tuned => "tuned",
            Profile::Paper => "paper",
        };
        format!(
            "wnnm(profile={profile},iters={},window={},step={}{extra})",
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
    if p.patch < 2 || p.patch > 16 {
        return Err(Error::param(
            "patch",
            format!("must be in 2..=16, got {}", p.patch),
        ));
    }
    if p.group < 2 || p.group > 1000 || p.floor > 1000 {
        return Err(Error::param(
            "group",
            format!(
                "group must be in 2..=1000 and floor at most 1000, got {} and {}",
                p.group, p.floor
            ),
        ));
    }
    for (name, v, ok, range) in [
        (
            "lambda",
            p.lambda,
            p.lambda > 0.0 && p.lambda <= 10.0,
            "(0, 10]",
        ),
        ("c", p.c, p.c > 0.0 && p.c <= 100.0, "(0, 100]"),
        ("delta", p.delta, (0.0..=1.0).contains(&p.delta), "[0, 1]"),
    ] {
        if !ok {
            return Err(Error::param(name, format!("must be in {range}, got {v}")));
        }
    }
    if p.step == 0 || p.step >= p.patch {
        return Err(Error::param(
            "step",
            format!("must be in 1..{} (the patch side), got {}", p.patch, p.step),
        ));
    }
    Ok(())
}

/// The denoiser a `wnnm:...` spec describes, checked at every noise band.
fn parse(spec: &Spec) -> Result<Wnnm> {
    let args = spec.args(&[
        "profile", "iters", "window", "step", "patch", "group", "floor", "lambda", "c", "delta",
    ])?;
    let d = Wnnm {
        profile: match args
            .choice("profile", &["tuned", "paper"], "tuned")?
            .as_str()
        {
            "paper" => Profile::Paper,
            _ => Profile::Tuned,
        },
        iters: args.usize_opt("iters")?,
        window: args.usize_opt("window")?,
        step: args.usize_opt("step")?,
        patch: args.usize_opt("patch")?,
        group: args.usize_opt("group")?,
        floor: args.usize_opt("floor")?,
        lambda: args.f32_opt("lambda")?,
        c: args.f32_opt("c")?,
        delta: args.f32_opt("delta")?,
    };
    for s in [10.0f32, 30.0, 50.0, 80.0] {
        validate(&d.params_for(s / 255.0))?;
    }
    Ok(d)
}

fn build(spec: &Spec) -> Result<Box<dyn Denoiser>> {
    Ok(Box::new(parse(spec)?))
}

/// The registry entry for `wnnm`.
pub fn entry() -> DenoiserEntry {
    DenoiserEntry {
        name: "wnnm",
        summary: "WNNM (Gu et al. 2014): block matching + weighted nuclear norm shrinkage of patch groups, iterative regularization; slow",
        keys: &[
            (
                "profile",
                "tuned (default: c and iterations chosen on astronaut 256^2: c = 1.5, K = 12, 14, 16 for sigma <= 20, 40, above) | paper (the published c = 2 sqrt 2, K = 8, 12, 14, 14)",
            ),
            ("iters", "iterations K (default the profile's)"),
            (
                "c",
                "weight constant c of w_i = c sqrt(m) / (sigma_i + eps) (default the profile's)",
            ),
            (
                "patch",
                "patch side p (default the paper's: 6, 7, 8, 9 for sigma <= 20, 40, 60, above)",
            ),
            (
                "group",
                "group size before the first decrement by 10 (default the paper's: 70, 90, 120, 140)",
            ),
            (
                "floor",
                "smallest group size the decrement may reach (default 1)",
            ),
            (
                "lambda",
                "factor of the re-estimated noise level (default the paper's: 0.54, 0.56, 0.58, 0.58)",
            ),
            (
                "delta",
                "iterative regularization delta in [0, 1] (default 0.1)",
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
    fn tuned_profile_changes_only_c_and_iterations() {
        for (s255, k) in [(15.0f32, 12), (25.0, 14), (50.0, 16), (80.0, 16)] {
            let (t, p) = (
                WnnmParams::tuned(s255 / 255.0),
                WnnmParams::paper(s255 / 255.0),
            );
            assert_eq!((t.c, t.iters), (1.5, k), "sigma {s255}");
            assert_eq!(
                WnnmParams {
                    c: p.c,
                    iters: p.iters,
                    ..t
                },
                p
            );
        }
        let spec = |t: &str| Spec::parse(t).unwrap();
        let sig = 25.0 / 255.0;
        let get = |t: &str| parse(&spec(t)).unwrap().params_for(sig);
        assert_eq!(get("wnnm"), WnnmParams::tuned(sig));
        assert_eq!(get("wnnm:profile=paper"), WnnmParams::paper(sig));
        assert_eq!(
            get("wnnm:profile=paper,c=1.5,iters=14"),
            WnnmParams::tuned(sig)
        );
        for bad in [
            "wnnm:profile=fast",
            "wnnm:c=0",
            "wnnm:c=nan",
            "wnnm:lambda=-1",
            "wnnm:delta=1.5",
            "wnnm:patch=1",
            "wnnm:patch=4,step=4",
            "wnnm:group=1",
            "wnnm:iters=0",
            "wnnm:shape=3",
        ] {
            assert!(build(&spec(bad)).is_err(), "{bad}");
        }
        assert!(build(&spec("wnnm:delta=0,floor=30,group=60,patch=5,lambda=0.6")).is_ok());
    }

    #[test]
    fn paper_parameters() {
        let p = WnnmParams::paper(25.0 / 255.0);
        assert_eq!((p.patch, p.group, p.iters, p.step), (7, 90, 12, 2));
        assert_eq!(WnnmParams::paper(70.0 / 255.0).patch, 9);
        assert_eq!(WnnmParams::paper(10.0 / 255.0).step, 2);
    }

    /// The Gram-eigendecomposition shrinkage equals the thin-SVD form
    /// `U diag(σ_i(X)) Vᵀ` of the module docs, for tall and wide groups.
    #[test]
    fn shrinker_matches_the_svd_form() {
        use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for (d, m) in [(49usize, 80usize), (36, 10), (16, 16)] {
            let mut sh = Shrinker::new(d, m);
            // a rank-3 signal plus small noise, so the shrinkage keeps a few components
            let basis: Vec<f64> = (0..d * 3).map(|_| rnd()).collect();
            let coef: Vec<f64> = (0..3 * m).map(|_| rnd() * 4.0).collect();
            for i in 0..d {
                for t in 0..m {
                    let sig: f64 = (0..3).map(|k| basis[i * 3 + k] * coef[k * m + t]).sum();
                    sh.group[(i, t)] = sig + 0.05 * rnd();
                }
            }
            let n = d.min(m);
            let (mut u, mut v, mut sv) = (
                Mat::<f64>::zeros(d, n),
                Mat::<f64>::zeros(m, n),
                Col::<f64>::zeros(n),
            );
            let mut buf = MemBuffer::new(svd_scratch::<f64>(
                d,
                m,
                ComputeSvdVectors::Thin,
                ComputeSvdVectors::Thin,
                Par::Seq,
                Default::default(),
            ));
            svd(
                sh.group.as_ref(),
                sv.as_mut().as_diagonal_mut(),
                Some(u.as_mut()),
                Some(v.as_mut()),
                Par::Seq,
                MemStack::new(&mut buf),
                Default::default(),
            )
            .unwrap();
            for cc in [0.0f64, 0.01, 1.0, 1e6] {
                let eps = f64::from(EPS);
                let mut want = Mat::<f64>::zeros(d, m);
                let mut kept = 0;
                for i in 0..n {
                    let disc = (sv[i] + eps).powi(2) - 4.0 * cc;
                    if disc > 0.0 {
                        kept += 1;
                        let sx = ((sv[i] - eps + disc.sqrt()) / 2.0).max(0.0);
                        for a in 0..d {
                            for t in 0..m {
                                want[(a, t)] += sx * u[(a, i)] * v[(t, i)];
                            }
                        }
                    }
                }
                let got = sh.shrink(cc);
                let mut err = 0.0f64;
                for a in 0..d {
                    for t in 0..m {
                        err = err.max((got[(a, t)] - want[(a, t)]).abs());
                    }
                }
                assert!(err < 1e-9, "d {d} m {m} cc {cc}: max error {err}");
                if cc == 1.0 {
                    // the case must exercise a partial shrinkage
                    assert!(kept > 0 && kept < n, "d {d} m {m}: kept {kept} of {n}");
                }
            }
        }
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
