//! One BM3D stage on the image planes: block matching, collaborative filtering of the 3-D
//! groups (hard thresholding or empirical Wiener shrinkage) and weighted aggregation.
//!
//! Work is split into fixed bands of reference-block rows ([`BAND_ROWS`] grid steps of
//! block rows each). A band computes the 2-D DCT of every block position it can reach
//! (its rows plus the search half-window above and below), processes its reference blocks
//! in raster order and aggregates into its own buffers; the bands' buffers are then added
//! to the image in band order. The partition does not depend on the number of threads,
//! so the result is bit-identical whatever the rayon pool.

use rayon::prelude::*;

use super::BlockTransform;
use super::transforms::{
    bior15_matrices, dct_matrix, haar_forward, haar_inverse, kaiser_window_2d, prev_pow2,
};

/// Grid steps of block rows per band (see the module documentation).
const BAND_ROWS: usize = 16;

/// Settings of one stage, in the units the engine works in (intensities in `[0, 1]`).
#[derive(Clone, Debug)]
pub(super) struct StageConfig {
    /// Block side `k`.
    pub block: usize,
    /// Step of the reference grid.
    pub step: usize,
    /// Row offset added per grid column (see [`reference_rows`]).
    pub stagger: usize,
    /// Measure block distances in the domain of the block transform (rows rescaled by
    /// [`synthesis_normalized`]) rather than in the pixel domain.
    pub transform_match: bool,
    /// Smallest group (a power of two; 1 lets a reference stand alone).
    pub min_group: usize,
    /// Round the number of matches below the threshold to the nearest power of two
    /// (ties down) instead of down.
    pub round_nearest: bool,
    /// Aggregation weights from the noise retained per block (group total / n) rather
    /// than per group.
    pub per_block_weights: bool,
    /// Half side of the search window (the window is `2 half + 1` positions wide).
    pub half_window: usize,
    /// Maximum group size (a power of two).
    pub max_group: usize,
    /// Matching threshold on the sum of squared differences of two blocks (already
    /// converted from the per-pixel, `[0, 255]` convention of the papers).
    pub tau_sum: f32,
    /// Multiple of the matching channel's `σ²` (per pixel) added to the threshold
    /// (`tau_sum` grows by `tau_noise σ² k²`).
    pub tau_noise: f32,
    /// Hard-threshold multiplier `λ_3D` (hard stage only).
    pub lambda_3d: f32,
    /// Threshold multiplier `λ_2D` of the matching prefilter (0: none; hard stage only).
    pub lambda_2d: f32,
    /// Noise-variance multiplier `μ²` of the Wiener coefficients (Wiener stage only).
    pub mu2: f32,
    /// Kaiser window parameter `β`.
    pub beta: f32,
    /// 2-D transform applied to the blocks of a group.
    pub transform: BlockTransform,
    /// Number of leading group-transform rows (Haar approximation first) whose noise
    /// variance is computed exactly for the group's block positions (0: every
    /// coefficient is taken to have variance `σ²`, as in Dabov et al. 2007).
    pub exact_layers: usize,
}

/// Relative noise variances (in units of `σ²`) of the first `layers` rows of a group's
/// 3-D transform, for white noise, written to `var[..layers k²]`; `members` are the
/// block positions (a power-of-two count), `acorr` from [`row_autocorrelation`], `haar`
/// from [`haar_matrices`].
///
/// Blocks of a group may overlap, and then their noise is correlated: coefficient
/// `(u, v)` of blocks at positions `p` and `q` has covariance `σ² A_u(|Δi|) A_v(|Δj|)`
/// (`A_u` the autocorrelation of transform row `u`, zero beyond the block side), so row
/// `r` of the group transform `H` has variance
/// `σ² Σ_{a,b} H[r][a] H[r][b] A_u(|Δi_ab|) A_v(|Δj_ab|)` (Mäkinen, Azzari and Foi,
/// "Collaborative filtering of correlated noise: exact transform-domain variance for
/// improved shrinkage and patch matching", IEEE TIP 29, 2020). The diagonal terms sum to
/// `A_u(0) A_v(0) = 1` (unit-norm rows); only overlapping pairs add to it.
fn group_variance(
    acorr: &[f32],
    haar: &[Vec<f32>],
    k: usize,
    members: &[(usize, usize)],
    layers: usize,
    var: &mut [f32],
) {
    let k2 = k * k;
    let n = members.len();
    let h = &haar[n.trailing_zeros() as usize];
    let var = &mut var[..layers * k2];
    var.fill(1.0);
    for (a, &(ia, ja)) in members.iter().enumerate() {
        for (b, &(ib, jb)) in members.iter().enumerate().skip(a + 1) {
            let (di, dj) = (ia.abs_diff(ib), ja.abs_diff(jb));
            if di >= k || dj >= k {
                continue;
            }
            for r in 0..layers {
                let c = 2.0 * h[r * n + a] * h[r * n + b];
                if c == 0.0 {
                    continue;
                }
                let row = &mut var[r * k2..(r + 1) * k2];
                for u in 0..k {
                    let cu = c * acorr[u * k + di];
                    let out = &mut row[u * k..(u + 1) * k];
                    for (v, o) in out.iter_mut().enumerate() {
                        *o += cu * acorr[v * k + dj];
                    }
                }
            }
        }
    }
    for x in var.iter_mut() {
        *x = x.max(0.0);
    }
}

/// The autocorrelation of each row of the `k × k` forward transform `fwd` (row-major) at
/// every shift: `out[u k + d] = Σ_a T[u][a] T[u][a + d]`, `0 ≤ d < k`.
fn row_autocorrelation(fwd: &[f32], k: usize) -> Vec<f32> {
    let mut acorr = vec![0.0f32; k * k];
    for u in 0..k {
        for d in 0..k {
            acorr[u * k + d] = (0..k - d)
                .map(|a| fwd[u * k + a] * fwd[u * k + a + d])
                .sum();
        }
    }
    acorr
}

/// The orthonormal Haar matrices of the group sizes `2^e`, `e = 0 ..= log2(max_group)`
/// (row-major, rows in the order [`haar_forward`] produces).
fn haar_matrices(max_group: usize) -> Vec<Vec<f32>> {
    (0..=max_group.trailing_zeros())
        .map(|e| {
            let n = 1usize << e;
            // Column `a` of H is the transform of the unit vector e_a.
            let mut m = vec![0.0f32; n * n];
            let mut tmp = vec![0.0f32; n];
            for a in 0..n {
                let mut col = vec![0.0f32; n];
                col[a] = 1.0;
                haar_forward(&mut col, n, 1, &mut tmp);
                for r in 0..n {
                    m[r * n + a] = col[r];
                }
            }
            m
        })
        .collect()
}

/// Which collaborative filter a stage applies.
pub(super) enum Filter<'a> {
    /// Stage 1: hard thresholding of the noisy groups; matching on the noisy luminance.
    Hard,
    /// Stage 2: empirical Wiener shrinkage driven by the basic estimate (one plane per
    /// channel, same size); matching on the basic luminance.
    Wiener { basic: &'a [Vec<f32>] },
}

/// The positions `0, step, 2 step, ...` below `n`, plus `n - 1` when the step skips it,
/// so the blocks starting there cover every pixel.
fn grid(n: usize, step: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).step_by(step).collect();
    if *v.last().expect("n >= 1") != n - 1 {
        v.push(n - 1);
    }
    v
}

/// The transpose of the `k × k` row-major matrix `m`.
fn transpose(m: &[f32], k: usize) -> Vec<f32> {
    let mut t = vec![0.0f32; k * k];
    for u in 0..k {
        for a in 0..k {
            t[a * k + u] = m[u * k + a];
        }
    }
    t
}

/// The forward block transform `fwd` (`k × k`, row-major, inverse `inv`) with row `i`
/// scaled by the norm of column `i` of `inv`: the scaling under which the synthesis basis
/// functions have unit norm. The orthonormal DCT is unchanged; for bior1.5 the rows of
/// the coarse levels change by up to 3 %, which weighs them differently in a
/// transform-domain block distance.
fn synthesis_normalized(fwd: &[f32], inv: &[f32], k: usize) -> Vec<f32> {
    let mut out = fwd.to_vec();
    for i in 0..k {
        let norm = (0..k)
            .map(|a| f64::from(inv[a * k + i]).powi(2))
            .sum::<f64>()
            .sqrt() as f32;
        for v in &mut out[i * k..(i + 1) * k] {
            *v *= norm;
        }
    }
    out
}

/// Group size for `below` matches under the threshold (the reference included) out of
/// `found` candidates kept: `below` rounded down to a power of two, or to the nearest
/// one (ties down) when `nearest`, at least `min_group`, at most the largest power of
/// two `<= found`.
fn group_size(below: usize, found: usize, min_group: usize, nearest: bool) -> usize {
    // The reference itself is always a match (distance 0), even with τ = 0.
    let below = below.max(1);
    let f = prev_pow2(below);
    let n = if nearest && below - f > 2 * f - below {
        2 * f
    } else {
        f
    };
    n.max(min_group).min(prev_pow2(found))
}

/// The reference blocks, grouped by block row: `(row, columns)` for every row that holds
/// at least one, rows ascending. The columns are [`grid`]`(npj, step)`; grid column `j`
/// takes the rows `o_j, o_j + step, …` with `o_j = j · stagger mod step`, plus the first
/// and the last row, so the blocks still cover every pixel. `stagger = 0` is the
/// rectangular grid of Dabov et al. 2007; otherwise neighbouring columns' references
/// interleave (a sheared lattice with the same density).
fn reference_rows(npi: usize, npj: usize, step: usize, stagger: usize) -> Vec<(usize, Vec<usize>)> {
    let mut by_row: Vec<Vec<usize>> = vec![Vec::new(); npi];
    for (j, &c) in grid(npj, step).iter().enumerate() {
        let off = (j * stagger) % step;
        let mut last = None;
        let rows = std::iter::once(0)
            .chain((off..npi).step_by(step))
            .chain(std::iter::once(npi - 1));
        for r in rows {
            // ascending, so a repeat can only be the previous row
            if last.is_none_or(|l| r > l) {
                by_row[r].push(c);
                last = Some(r);
            }
        }
    }
    by_row
        .into_iter()
        .enumerate()
        .filter(|(_, cols)| !cols.is_empty())
        .collect()
}

/// Squared Euclidean distance between `a` and `b`, or `None` as soon as a partial sum
/// exceeds `bound` (`>=`). Eight independent lanes let the compiler vectorise; the
/// summation order is fixed, so the value does not depend on where it is called from.
#[inline]
fn distance_bounded(a: &[f32], b: &[f32], bound: f32) -> Option<f32> {
    let mut lanes = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    let mut chunk = 0usize;
    for (x, y) in (&mut ca).zip(&mut cb) {
        for l in 0..8 {
            let d = x[l] - y[l];
            lanes[l] += d * d;
        }
        chunk += 1;
        if chunk % 2 == 0 {
            let s = lanes.iter().sum::<f32>();
            if s >= bound {
                return None;
            }
        }
    }
    let mut s = lanes.iter().sum::<f32>();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        let d = x - y;
        s += d * d;
    }
    if s >= bound { None } else { Some(s) }
}

/// The per-band aggregation buffers: numerator and denominator for `channels` planes
/// over pixel rows `row0 .. row0 + rows`.
struct BandAcc {
    row0: usize,
    rows: usize,
    num: Vec<f32>,
    den: Vec<f32>,
}

/// Everything a band needs, shared read-only between threads.
struct Engine<'a> {
    cfg: &'a StageConfig,
    /// Plane size (the image itself: no padding).
    hp: usize,
    wp: usize,
    /// Number of block positions per column / row: `hp - k + 1`, `wp - k + 1`.
    npi: usize,
    npj: usize,
    channels: usize,
    /// Planes whose block transforms are tabulated: the noisy channels (hard) or the basic
    /// channels followed by the noisy channels (Wiener).
    sources: Vec<&'a [f32]>,
    wiener: bool,
    sigmas: &'a [f32],
    /// Forward block transform `T` (row-major) and its transpose.
    fwd: Vec<f32>,
    fwd_t: Vec<f32>,
    /// Inverse block transform `T⁻¹` and its transpose.
    inv: Vec<f32>,
    inv_t: Vec<f32>,
    /// The matching transform and its transpose: the orthonormal DCT (pixel-domain
    /// distances), or `T` with its rows rescaled so that the synthesis basis functions
    /// have unit norm ([`StageConfig::transform_match`]).
    mat: Vec<f32>,
    mat_t: Vec<f32>,
    /// Whether matching needs its own table (prefilter on, or `T` not the matching
    /// transform).
    separate_match: bool,
    kaiser: Vec<f32>,
    /// Autocorrelation of each forward-transform row at every shift
    /// ([`row_autocorrelation`]).
    acorr: Vec<f32>,
    /// The orthonormal Haar matrix of every group size ([`haar_matrices`]).
    haar: Vec<Vec<f32>>,
    /// `tau_noise σ₀² k²`: added to the matching threshold (σ₀ the matching channel's).
    tau_extra: f32,
}

impl Engine<'_> {
    /// 2-D transform `T X Tᵀ` (`mat` = `T`, `mat_t` = `Tᵀ`) of every block whose top row is
    /// in `tlo ..= thi`, for one source plane: `out[((i - tlo) npj + j) k² + u k + v]`.
    /// Separable: rows first, then columns.
    #[allow(clippy::too_many_arguments)] // reason: plain scratch buffers and two matrices
    fn table(
        &self,
        src: &[f32],
        tlo: usize,
        thi: usize,
        mat: &[f32],
        mat_t: &[f32],
        out: &mut Vec<f32>,
        tmp: &mut Vec<f32>,
    ) {
        let k = self.cfg.block;
        let k2 = k * k;
        let (wp, npj) = (self.wp, self.npj);
        let trows = thi - tlo + 1;
        let prow = trows + k - 1;
        // Horizontal 1-D DCT of every k-sample row segment: tmp[(r npj + j) k + v].
        tmp.clear();
        tmp.resize(prow * npj * k, 0.0);
        for r in 0..prow {
            let line = &src[(tlo + r) * wp..(tlo + r + 1) * wp];
            for j in 0..npj {
                let h = &mut tmp[(r * npj + j) * k..(r * npj + j + 1) * k];
                for b in 0..k {
                    let x = line[j + b];
                    let drow = &mat_t[b * k..(b + 1) * k];
                    for v in 0..k {
                        h[v] += x * drow[v];
                    }
                }
            }
        }
        // Vertical 1-D DCT over the k rows of each block.
        out.clear();
        out.resize(trows * npj * k2, 0.0);
        for i in 0..trows {
            for j in 0..npj {
                let c = &mut out[(i * npj + j) * k2..(i * npj + j + 1) * k2];
                for a in 0..k {
                    let h = &tmp[((i + a) * npj + j) * k..((i + a) * npj + j + 1) * k];
                    for u in 0..k {
                        let d = mat[u * k + a];
                        let row = &mut c[u * k..(u + 1) * k];
                        for v in 0..k {
                            row[v] += d * h[v];
                        }
                    }
                }
            }
        }
    }

    /// Process the reference blocks `refs` (consecutive rows of [`reference_rows`], each
    /// with its columns).
    fn band(&self, refs: &[(usize, Vec<usize>)]) -> BandAcc {
        let cfg = self.cfg;
        let k = cfg.block;
        let k2 = k * k;
        let hw = cfg.half_window;
        let (wp, npi, npj) = (self.wp, self.npi, self.npj);
        let nch = self.channels;
        let tlo = refs[0].0.saturating_sub(hw);
        let thi = (refs[refs.len() - 1].0 + hw).min(npi - 1);
        let trows = thi - tlo + 1;

        let mut tables: Vec<Vec<f32>> = Vec::with_capacity(self.sources.len());
        let mut tmp = Vec::new();
        for src in &self.sources {
            let mut t = Vec::new();
            self.table(src, tlo, thi, &self.fwd, &self.fwd_t, &mut t, &mut tmp);
            tables.push(t);
        }
        // Matching table: the matching transform of the first source (noisy or basic
        // luminance), hard-thresholded at λ_2D σ when the prefilter is on.
        let prefiltered: Option<Vec<f32>> = if self.separate_match {
            let mut t = Vec::new();
            self.table(
                self.sources[0],
                tlo,
                thi,
                &self.mat,
                &self.mat_t,
                &mut t,
                &mut tmp,
            );
            if !self.wiener && cfg.lambda_2d > 0.0 {
                let thr = cfg.lambda_2d * self.sigmas[0];
                for c in t.iter_mut() {
                    if c.abs() <= thr {
                        *c = 0.0;
                    }
                }
            }
            Some(t)
        } else {
            None
        };
        let mtab: &[f32] = prefiltered.as_deref().unwrap_or(&tables[0]);

        let rows = trows + k - 1;
        let mut acc = BandAcc {
            row0: tlo,
            rows,
            num: vec![0.0; nch * rows * wp],
            den: vec![0.0; nch * rows * wp],
        };

        let nmax = cfg.max_group;
        let mut best_d = vec![0.0f32; nmax];
        let mut best_p = vec![(0usize, 0usize); nmax];
        let mut group = vec![0.0f32; nmax * k2];
        let mut guide = vec![0.0f32; nmax * k2];
        let mut scratch = vec![0.0f32; nmax * k2];
        let mut block = vec![0.0f32; k2];
        let mut half = vec![0.0f32; k2];
        let mut wk = vec![0.0f32; k2];
        let mut var = vec![1.0f32; cfg.exact_layers.min(nmax) * k2];

        // With a minimum group or rounding up, candidates beyond τ may be needed: keep
        // the closest `nmax` whatever their distance.
        let unbounded = cfg.min_group > 1 || cfg.round_nearest;
        for (ir, cols) in refs {
            let ir = *ir;
            for &jr in cols {
                // Block matching: the reference first (distance 0), then every other
                // position of the window in raster order; keep the closest `nmax` with
                // distance below τ (or whatever their distance, see `unbounded`), ties
                // resolved in favour of the earlier position.
                let rvec = &mtab[((ir - tlo) * npj + jr) * k2..((ir - tlo) * npj + jr + 1) * k2];
                best_d[0] = 0.0;
                best_p[0] = (ir, jr);
                let tau_sum = cfg.tau_sum + self.tau_extra;
                let mut count = 1usize;
                let i0 = ir.saturating_sub(hw);
                let i1 = (ir + hw).min(npi - 1);
                let j0 = jr.saturating_sub(hw);
                let j1 = (jr + hw).min(npj - 1);
                for i in i0..=i1 {
                    let trow = &mtab[(i - tlo) * npj * k2..(i - tlo + 1) * npj * k2];
                    for j in j0..=j1 {
                        if i == ir && j == jr {
                            continue;
                        }
                        let bound = if count == nmax {
                            best_d[nmax - 1]
                        } else if unbounded {
                            f32::INFINITY
                        } else {
                            tau_sum
                        };
                        let cand = &trow[j * k2..(j + 1) * k2];
                        if let Some(d) = distance_bounded(rvec, cand, bound) {
                            // Insert after every entry with distance <= d.
                            let mut pos = count.min(nmax - 1);
                            if count < nmax {
                                count += 1;
                            }
                            while pos > 0 && best_d[pos - 1] > d {
                                best_d[pos] = best_d[pos - 1];
                                best_p[pos] = best_p[pos - 1];
                                pos -= 1;
                            }
                            best_d[pos] = d;
                            best_p[pos] = (i, j);
                        }
                    }
                }
                let n = if unbounded {
                    let below = best_d[..count].iter().filter(|&&d| d < tau_sum).count();
                    group_size(below, count, cfg.min_group, cfg.round_nearest)
                } else {
                    prev_pow2(count)
                };
                let members = &best_p[..n];
                // Rows `..layers` of the 3-D transform have the variances `var` (units
                // of σ²); the others have variance σ².
                let layers = cfg.exact_layers.min(n);
                if layers > 0 {
                    group_variance(&self.acorr, &self.haar, k, members, layers, &mut var);
                }
                let exact = &var[..layers * k2];

                for c in 0..nch {
                    let sigma = self.sigmas[c];
                    let tab = &tables[c];
                    for (m, &(i, j)) in members.iter().enumerate() {
                        let off = ((i - tlo) * npj + j) * k2;
                        group[m * k2..(m + 1) * k2].copy_from_slice(&tab[off..off + k2]);
                    }
                    let g = &mut group[..n * k2];
                    haar_forward(g, n, k2, &mut scratch);
                    let weight = if self.wiener {
                        let tab_noisy = &tables[nch + c];
                        let b = &mut guide[..n * k2];
                        b.copy_from_slice(g);
                        for (m, &(i, j)) in members.iter().enumerate() {
                            let off = ((i - tlo) * npj + j) * k2;
                            g[m * k2..(m + 1) * k2].copy_from_slice(&tab_noisy[off..off + k2]);
                        }
                        haar_forward(g, n, k2, &mut scratch);
                        let s2 = sigma * sigma;
                        let ms2 = cfg.mu2 * s2;
                        let mut wsum = 0.0f32;
                        let (g_exact, g_rest) = g.split_at_mut(exact.len());
                        let (b_exact, b_rest) = b.split_at(exact.len());
                        for ((y, &bv), &rel) in g_exact.iter_mut().zip(b_exact).zip(exact) {
                            let b2 = bv * bv;
                            let d = b2 + ms2 * rel;
                            // 0/0 (a zero pilot coefficient where the variance is 0): drop it
                            let w = if d > 0.0 { b2 / d } else { 0.0 };
                            *y *= w;
                            wsum += w * w * rel;
                        }
                        for (y, &bv) in g_rest.iter_mut().zip(b_rest) {
                            let b2 = bv * bv;
                            let d = b2 + ms2;
                            let w = if d > 0.0 { b2 / d } else { 0.0 };
                            *y *= w;
                            wsum += w * w;
                        }
                        // ‖W‖² is floored at 1 (as N_nz is in stage 1): a group whose
                        // coefficients are all but removed (‖W‖² → 0, e.g. a zero
                        // plane) keeps a finite weight.
                        // Per block, the group's retained noise is σ² ‖W‖² / n when
                        // `per_block_weights`.
                        let blocks = if cfg.per_block_weights { n as f32 } else { 1.0 };
                        blocks / (s2 * wsum.max(1.0))
                    } else {
                        // Threshold λσ√rel; the weight is the inverse of the retained noise
                        // variance (σ² N_nz when every rel is 1), floored at σ².
                        let thr = cfg.lambda_3d * sigma;
                        let thr2 = thr * thr;
                        let mut kept = 0.0f32;
                        let (g_exact, g_rest) = g.split_at_mut(exact.len());
                        for (y, &rel) in g_exact.iter_mut().zip(exact) {
                            if *y * *y > thr2 * rel {
                                kept += rel;
                            } else {
                                *y = 0.0;
                            }
                        }
                        let mut nnz = 0usize;
                        for y in g_rest.iter_mut() {
                            if y.abs() > thr {
                                nnz += 1;
                            } else {
                                *y = 0.0;
                            }
                        }
                        let blocks = if cfg.per_block_weights { n as f32 } else { 1.0 };
                        blocks / (sigma * sigma * (kept + nnz as f32).max(1.0))
                    };
                    haar_inverse(g, n, k2, &mut scratch);
                    for (w, &kv) in wk.iter_mut().zip(&self.kaiser) {
                        *w = weight * kv;
                    }
                    let base = c * rows * wp;
                    for (m, &(i, j)) in members.iter().enumerate() {
                        self.inverse_block(&g[m * k2..(m + 1) * k2], &mut block, &mut half);
                        for a in 0..k {
                            let o = base + (i - tlo + a) * wp + j;
                            let nrow = &mut acc.num[o..o + k];
                            let wrow = &wk[a * k..(a + 1) * k];
                            let brow = &block[a * k..(a + 1) * k];
                            for t in 0..k {
                                nrow[t] += wrow[t] * brow[t];
                            }
                            let drow = &mut acc.den[o..o + k];
                            for t in 0..k {
                                drow[t] += wrow[t];
                            }
                        }
                    }
                }
            }
        }
        acc
    }

    /// Inverse 2-D transform `T⁻¹ C T⁻ᵀ` of one block of coefficients `c` into `x`
    /// (`half`: scratch).
    #[inline]
    fn inverse_block(&self, c: &[f32], x: &mut [f32], half: &mut [f32]) {
        let k = self.cfg.block;
        // half[u][b] = Σ_v c[u][v] T⁻¹[b][v]
        half.fill(0.0);
        for u in 0..k {
            let hrow = &mut half[u * k..(u + 1) * k];
            for v in 0..k {
                let cv = c[u * k + v];
                let drow = &self.inv_t[v * k..(v + 1) * k];
                for b in 0..k {
                    hrow[b] += cv * drow[b];
                }
            }
        }
        // x[a][b] = Σ_u T⁻¹[a][u] half[u][b]
        x.fill(0.0);
        for a in 0..k {
            let xrow = &mut x[a * k..(a + 1) * k];
            for u in 0..k {
                let d = self.inv[a * k + u];
                let hrow = &half[u * k..(u + 1) * k];
                for b in 0..k {
                    xrow[b] += d * hrow[b];
                }
            }
        }
    }
}

/// Run one stage on `channels` planes of size `hp × wp` (`noisy[c]`), with noise
/// standard deviations `sigmas[c]`; grouping is computed once on channel 0 and shared by
/// all channels. Returns the aggregated estimate, one plane per channel.
pub(super) fn run_stage(
    noisy: &[Vec<f32>],
    hp: usize,
    wp: usize,
    sigmas: &[f32],
    cfg: &StageConfig,
    filter: Filter<'_>,
) -> Vec<Vec<f32>> {
    let k = cfg.block;
    debug_assert!(hp >= k && wp >= k && cfg.max_group.is_power_of_two());
    let channels = noisy.len();
    let npi = hp - k + 1;
    let npj = wp - k + 1;
    let (sources, wiener): (Vec<&[f32]>, bool) = match filter {
        Filter::Hard => (noisy.iter().map(|p| p.as_slice()).collect(), false),
        Filter::Wiener { basic } => (
            basic
                .iter()
                .chain(noisy.iter())
                .map(|p| p.as_slice())
                .collect(),
            true,
        ),
    };
    let transpose = |m: &[f32]| transpose(m, k);
    let dct = dct_matrix(k);
    let dct_t = transpose(&dct);
    let (fwd, inv) = match cfg.transform {
        BlockTransform::Dct => (dct.clone(), dct_t.clone()),
        BlockTransform::Bior15 => bior15_matrices(k),
    };
    let acorr = row_autocorrelation(&fwd, k);
    let haar = haar_matrices(cfg.max_group);
    let mat = match (cfg.transform_match, cfg.transform) {
        (true, BlockTransform::Bior15) => synthesis_normalized(&fwd, &inv, k),
        _ => dct.clone(),
    };
    let mat_t = transpose(&mat);
    let separate_match = mat != fwd || (!wiener && cfg.lambda_2d > 0.0);
    let engine = Engine {
        cfg,
        hp,
        wp,
        npi,
        npj,
        channels,
        sources,
        wiener,
        sigmas,
        fwd_t: transpose(&fwd),
        inv_t: transpose(&inv),
        fwd,
        inv,
        mat,
        mat_t,
        separate_match,
        kaiser: kaiser_window_2d(k, cfg.beta),
        acorr,
        haar,
        tau_extra: cfg.tau_noise * sigmas[0] * sigmas[0] * (k * k) as f32,
    };
    // Bands span `BAND_ROWS` grid steps of block rows each, whatever the stagger.
    let refs = reference_rows(npi, npj, cfg.step, cfg.stagger);
    let span = BAND_ROWS * cfg.step;
    let mut chunks: Vec<&[(usize, Vec<usize>)]> = Vec::new();
    let mut start = 0;
    for i in 1..=refs.len() {
        if i == refs.len() || refs[i].0 / span != refs[start].0 / span {
            chunks.push(&refs[start..i]);
            start = i;
        }
    }
    let bands: Vec<BandAcc> = chunks.par_iter().map(|r| engine.band(r)).collect();
    let mut num = vec![0.0f32; channels * hp * wp];
    let mut den = vec![0.0f32; channels * hp * wp];
    for b in &bands {
        for c in 0..channels {
            let src = c * b.rows * wp;
            let dst = c * engine.hp * wp + b.row0 * wp;
            let len = b.rows * wp;
            for (d, s) in num[dst..dst + len].iter_mut().zip(&b.num[src..src + len]) {
                *d += s;
            }
            for (d, s) in den[dst..dst + len].iter_mut().zip(&b.den[src..src + len]) {
                *d += s;
            }
        }
    }
    (0..channels)
        .map(|c| {
            let n = &num[c * hp * wp..(c + 1) * hp * wp];
            let d = &den[c * hp * wp..(c + 1) * hp * wp];
            let y = &noisy[c];
            // Every pixel is covered by at least one reference block (the grid includes
            // the last position), so `d > 0`; the fallback only guards against underflow.
            n.iter()
                .zip(d)
                .zip(y)
                .map(|((&n, &d), &y)| if d > 0.0 { n / d } else { y })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact group variances agree with the empirical variances of the 3-D transform
    /// of white noise, for overlapping and disjoint blocks and both block transforms.
    /// 2-D transform `T X Tᵀ` of the `k × k` block of `field` (row length `size`) at `(i, j)`.
    fn block_coeffs(
        fwd: &[f32],
        field: &[f32],
        size: usize,
        (i, j): (usize, usize),
        k: usize,
    ) -> Vec<f32> {
        let mut tmp = vec![0.0f32; k * k];
        for a in 0..k {
            let line = &field[(i + a) * size + j..(i + a) * size + j + k];
            for v in 0..k {
                tmp[a * k + v] = line
                    .iter()
                    .zip(&fwd[v * k..(v + 1) * k])
                    .map(|(x, t)| x * t)
                    .sum();
            }
        }
        let mut out = vec![0.0f32; k * k];
        for u in 0..k {
            for v in 0..k {
                out[u * k + v] = (0..k).map(|a| fwd[u * k + a] * tmp[a * k + v]).sum();
            }
        }
        out
    }

    #[test]
    fn group_variance_matches_monte_carlo() {
        use crate::denoise::bm3d::transforms::{bior15_matrices, dct_matrix};
        use crate::scalar::Scalar;
        let k = 8;
        let k2 = k * k;
        // Two nearly coincident blocks, a diagonal neighbour, one far away.
        let members = [(3usize, 3usize), (3, 4), (6, 1), (14, 13)];
        let n = members.len();
        let layers = n;
        let haar = haar_matrices(n);
        let mut rng = crate::rng(17);
        let size = 24;
        let trials = 20_000;
        for fwd in [dct_matrix(k), bior15_matrices(k).0] {
            let acorr = row_autocorrelation(&fwd, k);
            let mut var = vec![0.0f32; layers * k2];
            group_variance(&acorr, &haar, k, &members, layers, &mut var);
            let mut emp = vec![0.0f64; n * k2];
            let mut field = vec![0.0f32; size * size];
            let mut g = vec![0.0f32; n * k2];
            let mut tmp = vec![0.0f32; n * k2];
            for _ in 0..trials {
                for v in field.iter_mut() {
                    *v = f32::standard_normal(&mut rng);
                }
                for (m, &pos) in members.iter().enumerate() {
                    g[m * k2..(m + 1) * k2]
                        .copy_from_slice(&block_coeffs(&fwd, &field, size, pos, k));
                }
                haar_forward(&mut g, n, k2, &mut tmp);
                for (e, &c) in emp.iter_mut().zip(&g) {
                    *e += (c as f64) * (c as f64);
                }
            }
            // Relative errors (variances below 0.1 compared in absolute terms). Written with
            // `fold`: the same maxima taken in a `for` loop crash rustc 1.95 (LLVM 22,
            // SelectionDAG) at the test profile's opt-level 2.
            let errors: Vec<f64> = emp
                .iter()
                .zip(&var)
                .map(|(e, &v)| {
                    let v = f64::from(v);
                    (e / trials as f64 - v).abs() / if v > 0.1 { v } else { 0.1 }
                })
                .collect();
            let worst = errors.iter().copied().fold(0.0, f64::max);
            let spread = var.iter().map(|v| (v - 1.0).abs()).fold(0.0, f32::max);
            assert!(
                worst < 0.06,
                "exact vs empirical variance: relative error {worst}"
            );
            // The overlaps matter: some variances are far from the white value 1.
            assert!(spread > 0.5, "largest departure from 1: {spread}");
        }
    }

    #[test]
    fn grid_covers_the_end() {
        assert_eq!(grid(10, 3), vec![0, 3, 6, 9]);
        assert_eq!(grid(11, 3), vec![0, 3, 6, 9, 10]);
        assert_eq!(grid(1, 3), vec![0]);
    }

    /// Every pixel is covered by a reference block, the stagger only shifts rows, and at
    /// step 3 with stagger 2 the column offsets run 0, 2, 1 as in the `bm3d` package.
    #[test]
    fn staggered_references_cover_the_plane() {
        for (npi, npj) in [(1, 1), (1, 7), (7, 1), (10, 11), (249, 249)] {
            for stagger in 0..3 {
                let refs = reference_rows(npi, npj, 3, stagger);
                let mut covered = vec![false; (npi + 7) * (npj + 7)];
                for (r, cols) in &refs {
                    assert!(cols.windows(2).all(|w| w[0] < w[1]));
                    for &c in cols {
                        for a in 0..8 {
                            for b in 0..8 {
                                covered[(r + a) * (npj + 7) + c + b] = true;
                            }
                        }
                    }
                }
                assert!(covered.iter().all(|&c| c), "{npi}x{npj} stagger {stagger}");
                assert!(refs.windows(2).all(|w| w[0].0 < w[1].0));
            }
        }
        // Stagger 0 is the rectangular grid.
        let rect = reference_rows(10, 11, 3, 0);
        let rows: Vec<usize> = rect.iter().map(|(r, _)| *r).collect();
        assert_eq!(rows, grid(10, 3));
        assert!(rect.iter().all(|(_, c)| *c == grid(11, 3)));
        // Stagger 2: grid column j starts its rows at 2j mod 3 (plus row 0 and the last).
        let st = reference_rows(20, 20, 3, 2);
        let rows_of = |col: usize| -> Vec<usize> {
            st.iter()
                .filter(|(_, c)| c.contains(&col))
                .map(|(r, _)| *r)
                .collect()
        };
        assert_eq!(rows_of(0), vec![0, 3, 6, 9, 12, 15, 18, 19]);
        assert_eq!(rows_of(3), vec![0, 2, 5, 8, 11, 14, 17, 19]);
        assert_eq!(rows_of(6), vec![0, 1, 4, 7, 10, 13, 16, 19]);
        assert_eq!(rows_of(9), rows_of(0));
    }

    #[test]
    fn group_sizes_round_as_configured() {
        // (below, found) -> (floor, min 1), (nearest, min 2)
        for (below, found, floor, nearest) in [
            (1, 32, 1, 2),
            (2, 32, 2, 2),
            (3, 32, 2, 2),
            (5, 32, 4, 4),
            (6, 32, 4, 4),
            (7, 32, 4, 8),
            (12, 32, 8, 8),
            (13, 32, 8, 16),
            (25, 32, 16, 32),
            (32, 32, 32, 32),
            (13, 9, 8, 8),
            (1, 1, 1, 1),
            (0, 32, 1, 2),
        ] {
            assert_eq!(group_size(below, found, 1, false), floor, "{below}/{found}");
            assert_eq!(
                group_size(below, found, 2, true),
                nearest,
                "{below}/{found}"
            );
        }
    }

    /// The synthesis-normalized transform leaves the orthonormal DCT alone and gives
    /// bior1.5 an inverse with unit-norm columns.
    #[test]
    fn synthesis_normalization() {
        use crate::denoise::bm3d::transforms::{bior15_matrices, dct_matrix};
        let k = 8;
        let dct = dct_matrix(k);
        let same = synthesis_normalized(&dct, &transpose(&dct, k), k);
        assert!(same.iter().zip(&dct).all(|(a, b)| (a - b).abs() < 1e-6));
        let (fwd, inv) = bior15_matrices(k);
        let m = synthesis_normalized(&fwd, &inv, k);
        // inverse of m = inv with column i divided by the scale of row i
        for i in 0..k {
            let row = |t: &[f32]| t[i * k..(i + 1) * k].iter().map(|v| v * v).sum::<f32>();
            let scale = (row(&m) / row(&fwd)).sqrt();
            let norm: f32 = (0..k)
                .map(|a| (inv[a * k + i] / scale).powi(2))
                .sum::<f32>()
                .sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "row {i}: {norm}");
        }
        // and it differs from the unit-row forward transform
        assert!(m.iter().zip(&fwd).any(|(a, b)| (a - b).abs() > 1e-3));
    }

    #[test]
    fn bounded_distance_is_exact_or_none() {
        let a: Vec<f32> = (0..121).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..121).map(|i| (i as f32 * 0.21).cos()).collect();
        let exact: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
        let d = distance_bounded(&a, &b, f32::INFINITY).unwrap();
        assert!((d - exact).abs() < 1e-3 * exact);
        assert!(distance_bounded(&a, &b, exact * 0.5).is_none());
        assert!(distance_bounded(&a, &b, exact * 1.01).is_some());
    }
}
