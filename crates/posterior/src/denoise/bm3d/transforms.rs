//! The small transforms BM3D is built from: the orthonormal DCT-II matrix used on blocks,
//! the orthonormal Haar transform along the third (group) dimension and the Kaiser window
//! used in the aggregation.

/// Orthonormal DCT-II matrix of size `k`, row-major: `D[u][a] = c_u cos(π (2a + 1) u / (2k))`
/// with `c_0 = √(1/k)`, `c_u = √(2/k)`. Its transpose is its inverse.
pub(super) fn dct_matrix(k: usize) -> Vec<f32> {
    let mut d = vec![0.0f32; k * k];
    let kf = k as f64;
    for u in 0..k {
        let c = if u == 0 {
            (1.0 / kf).sqrt()
        } else {
            (2.0 / kf).sqrt()
        };
        for a in 0..k {
            let angle = std::f64::consts::PI * (2 * a + 1) as f64 * u as f64 / (2.0 * kf);
            d[u * k + a] = (c * angle.cos()) as f32;
        }
    }
    d
}

/// Modified Bessel function of the first kind, order 0, by its power series
/// `I0(x) = Σ_m ((x/2)^m / m!)²` (converges quickly for the small arguments used here).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for m in 1..200 {
        term *= q / (m as f64 * m as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Separable 2-D Kaiser window `w(a) w(b)` of side `k`, with
/// `w(n) = I0(β √(1 − (2n/(k−1) − 1)²)) / I0(β)`; row-major. For `k = 1` the window is 1.
pub(super) fn kaiser_window_2d(k: usize, beta: f32) -> Vec<f32> {
    let beta = beta as f64;
    let one: Vec<f64> = (0..k)
        .map(|n| {
            if k == 1 {
                return 1.0;
            }
            let r = 2.0 * n as f64 / (k - 1) as f64 - 1.0;
            bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
        })
        .collect();
    let mut w = vec![0.0f32; k * k];
    for a in 0..k {
        for b in 0..k {
            w[a * k + b] = (one[a] * one[b]) as f32;
        }
    }
    w
}

/// The largest power of two `≤ n` (`n ≥ 1`).
pub(super) fn prev_pow2(n: usize) -> usize {
    debug_assert!(n >= 1);
    1usize << (usize::BITS - 1 - n.leading_zeros())
}

/// In-place orthonormal Haar transform (full dyadic decomposition) along the group axis of
/// `g`, an `n × len` row-major array (`n` a power of two; each row is one block's 2-D
/// coefficients). The output rows are `[approximation, coarsest detail, ..., finest detail]`.
/// `tmp` must hold at least `n * len` values.
pub(super) fn haar_forward(g: &mut [f32], n: usize, len: usize, tmp: &mut [f32]) {
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let mut m = n;
    while m > 1 {
        let half = m / 2;
        for p in 0..half {
            let (a, b) = (2 * p * len, (2 * p + 1) * len);
            for t in 0..len {
                let x = g[a + t];
                let y = g[b + t];
                tmp[p * len + t] = (x + y) * s;
                tmp[(half + p) * len + t] = (x - y) * s;
            }
        }
        g[..m * len].copy_from_slice(&tmp[..m * len]);
        m = half;
    }
}

/// Inverse of [`haar_forward`].
pub(super) fn haar_inverse(g: &mut [f32], n: usize, len: usize, tmp: &mut [f32]) {
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let mut m = 2;
    while m <= n {
        let half = m / 2;
        for p in 0..half {
            let (lo, hi) = (p * len, (half + p) * len);
            for t in 0..len {
                let x = g[lo + t];
                let y = g[hi + t];
                tmp[2 * p * len + t] = (x + y) * s;
                tmp[(2 * p + 1) * len + t] = (x - y) * s;
            }
        }
        g[..m * len].copy_from_slice(&tmp[..m * len]);
        m *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_is_orthonormal() {
        for k in [1, 5, 8, 11, 12] {
            let d = dct_matrix(k);
            for u in 0..k {
                for v in 0..k {
                    let dot: f32 = (0..k).map(|a| d[u * k + a] * d[v * k + a]).sum();
                    let want = if u == v { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-5, "k={k} u={u} v={v} dot={dot}");
                }
            }
        }
    }

    #[test]
    fn kaiser_beta2_matches_published_values() {
        // 1-D Kaiser(8, β = 2): the 2-D window's corner is w(0)², its centre w(3)²; the
        // published BM3D 8x8 window has 0.1924 in the corner and 0.9718 in the centre.
        let w = kaiser_window_2d(8, 2.0);
        assert!((w[0] - 0.1924).abs() < 1e-4, "{}", w[0]);
        assert!((w[3 * 8 + 3] - 0.9718).abs() < 1e-4, "{}", w[27]);
        assert!((w[3 * 8 + 4] - w[3 * 8 + 3]).abs() < 1e-7);
    }

    #[test]
    fn haar_is_orthonormal_and_invertible() {
        for n in [1, 2, 4, 8, 16, 32] {
            let len = 3;
            let x: Vec<f32> = (0..n * len).map(|i| ((i * 37 % 11) as f32) - 4.5).collect();
            let mut g = x.clone();
            let mut tmp = vec![0.0; n * len];
            haar_forward(&mut g, n, len, &mut tmp);
            let e0: f32 = x.iter().map(|v| v * v).sum();
            let e1: f32 = g.iter().map(|v| v * v).sum();
            assert!((e0 - e1).abs() < 1e-3 * e0.max(1.0), "n={n}");
            // The first row is the scaled mean: sum / sqrt(n).
            for t in 0..len {
                let s: f32 = (0..n).map(|m| x[m * len + t]).sum();
                assert!((g[t] - s / (n as f32).sqrt()).abs() < 1e-4);
            }
            haar_inverse(&mut g, n, len, &mut tmp);
            for (a, b) in g.iter().zip(&x) {
                assert!((a - b).abs() < 1e-4, "n={n}");
            }
        }
    }

    #[test]
    fn prev_pow2_values() {
        let got: Vec<usize> = [1, 2, 3, 4, 5, 15, 16, 17, 31, 32].map(prev_pow2).to_vec();
        assert_eq!(got, vec![1, 2, 2, 4, 4, 8, 16, 16, 16, 32]);
    }
}

/// Decomposition low-pass filter of the biorthogonal spline wavelet bior1.5 (Cohen,
/// Daubechies and Feauveau 1992), `[3, −3, −22, 22, 128, 128, 22, −22, −3, 3] / (128 √2)`;
/// its high-pass partner is the Haar difference `(x₀ − x₁)/√2`.
const BIOR15_LO: [f64; 10] = [3.0, -3.0, -22.0, 22.0, 128.0, 128.0, 22.0, -22.0, -3.0, 3.0];

/// One periodized bior1.5 analysis step on `x` (even length `n`): approximation
/// `a[i] = Σ_t h[t] x[(2i + t − 4) mod n]` and detail `d[i] = (x[2i] − x[2i+1]) / √2`.
fn bior15_step(x: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = x.len();
    let s = std::f64::consts::FRAC_1_SQRT_2;
    let scale = 1.0 / (128.0 * std::f64::consts::SQRT_2);
    let mut a = vec![0.0; n / 2];
    let mut d = vec![0.0; n / 2];
    for i in 0..n / 2 {
        let mut acc = 0.0;
        for (t, &h) in BIOR15_LO.iter().enumerate() {
            let idx = (2 * i + t + 4 * n - 4) % n;
            acc += h * scale * x[idx];
        }
        a[i] = acc;
        d[i] = (x[2 * i] - x[2 * i + 1]) * s;
    }
    (a, d)
}

/// The 1-D bior1.5 block transform of size `k` (a power of two) as a matrix, as BM3D uses
/// it: full periodized dyadic decomposition, coefficients ordered
/// `[a_L, d_L, d_{L−1}, ..., d_1]`, each row scaled to unit norm (so white noise of
/// deviation σ gives coefficients of deviation σ). Returns `(forward, inverse)`, row-major;
/// the transform is not orthogonal, the inverse is computed exactly (Gauss–Jordan, f64).
pub(super) fn bior15_matrices(k: usize) -> (Vec<f32>, Vec<f32>) {
    assert!(k.is_power_of_two());
    let mut fwd = vec![0.0f64; k * k];
    for col in 0..k {
        let mut x = vec![0.0f64; k];
        x[col] = 1.0;
        let mut details: Vec<Vec<f64>> = Vec::new();
        let mut a = x;
        while a.len() > 1 {
            let (na, d) = bior15_step(&a);
            details.push(d);
            a = na;
        }
        let mut coeffs = a;
        for d in details.iter().rev() {
            coeffs.extend_from_slice(d);
        }
        for (row, &v) in coeffs.iter().enumerate() {
            fwd[row * k + col] = v;
        }
    }
    for row in fwd.chunks_mut(k) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        for v in row.iter_mut() {
            *v /= norm;
        }
    }
    let inv = invert(&fwd, k);
    (
        fwd.iter().map(|&v| v as f32).collect(),
        inv.iter().map(|&v| v as f32).collect(),
    )
}

/// Inverse of a well-conditioned `k × k` matrix by Gauss–Jordan elimination with partial
/// pivoting.
fn invert(m: &[f64], k: usize) -> Vec<f64> {
    let w = 2 * k;
    let mut aug = vec![0.0f64; k * w];
    for r in 0..k {
        aug[r * w..r * w + k].copy_from_slice(&m[r * k..(r + 1) * k]);
        aug[r * w + k + r] = 1.0;
    }
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&a, &b| aug[a * w + col].abs().total_cmp(&aug[b * w + col].abs()))
            .expect("non-empty range");
        if pivot != col {
            for t in 0..w {
                aug.swap(col * w + t, pivot * w + t);
            }
        }
        let p = aug[col * w + col];
        for t in 0..w {
            aug[col * w + t] /= p;
        }
        for r in 0..k {
            if r != col {
                let f = aug[r * w + col];
                if f != 0.0 {
                    for t in 0..w {
                        aug[r * w + t] -= f * aug[col * w + t];
                    }
                }
            }
        }
    }
    let mut inv = vec![0.0f64; k * k];
    for r in 0..k {
        inv[r * k..(r + 1) * k].copy_from_slice(&aug[r * w + k..(r + 1) * w]);
    }
    inv
}

#[cfg(test)]
mod bior_tests {
    use super::*;

    #[test]
    fn bior15_matches_the_published_block_transform() {
        // Rows 0-3 of the normalized 8x8 bior1.5 forward matrix shipped with the authors'
        // BM3D code (rows 4-7 are the Haar differences of neighbouring pairs).
        let (f, inv) = bior15_matrices(8);
        let a = 0.353553390593274f64;
        let want_rows: [[f64; 8]; 4] = [
            [a; 8],
            [
                0.219417649252501,
                0.449283757993216,
                0.449283757993216,
                0.219417649252501,
                -0.219417649252501,
                -0.449283757993216,
                -0.449283757993216,
                -0.219417649252501,
            ],
            [
                0.569359398342846,
                0.402347308162278,
                -0.402347308162278,
                -0.569359398342846,
                -0.083506045090284,
                0.083506045090284,
                -0.083506045090284,
                0.083506045090284,
            ],
            [
                -0.083506045090284,
                0.083506045090284,
                -0.083506045090284,
                0.083506045090284,
                0.569359398342846,
                0.402347308162278,
                -0.402347308162278,
                -0.569359398342846,
            ],
        ];
        for (r, want) in want_rows.iter().enumerate() {
            for c in 0..8 {
                assert!(
                    (f64::from(f[r * 8 + c]) - want[c]).abs() < 1e-6,
                    "row {r} col {c}"
                );
            }
        }
        let s = std::f32::consts::FRAC_1_SQRT_2;
        for r in 4..8 {
            for c in 0..8 {
                let want = if c == 2 * (r - 4) {
                    s
                } else if c == 2 * (r - 4) + 1 {
                    -s
                } else {
                    0.0
                };
                assert!((f[r * 8 + c] - want).abs() < 1e-6, "row {r} col {c}");
            }
        }
        // inverse * forward = identity
        for r in 0..8 {
            for c in 0..8 {
                let v: f32 = (0..8).map(|t| inv[r * 8 + t] * f[t * 8 + c]).sum();
                let want = if r == c { 1.0 } else { 0.0 };
                assert!((v - want).abs() < 1e-5);
            }
        }
    }
}
