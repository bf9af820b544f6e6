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
