//! Latent MAP (CSGM) and its sparse-deviation variant on toy generators with known answers.

use std::sync::Mutex;

use ndarray::{Array1, Array2, ArrayD, ArrayView2, ArrayViewD, IxDyn};
use posterior::ops::LinearOperator;
use posterior::ops::cs::Gaussian;
use posterior::solve::{Cgls, CglsParams, Driver, Iterative, Termination};
use posterior::{Error, Spec};
use posterior_nn::csgm::{
    CSGM_KEYS, CSGM_SPARSE_KEYS, Csgm, CsgmInit, CsgmOptimizer, CsgmParams, solve,
};
use posterior_nn::prior::GenerativePrior;
use rand_distr::{Distribution, StandardNormal};

const SHAPE: [usize; 2] = [6, 6];
const N: usize = 36;
const K: usize = 5;

fn normal_vec(len: usize, seed: u64, scale: f64) -> Vec<f64> {
    let mut rng = posterior::rng(seed);
    (0..len)
        .map(|_| {
            let g: f64 = StandardNormal.sample(&mut rng);
            g * scale
        })
        .collect()
}

/// `G(z) = W z + b` (`linear`) or `G(z) = sigmoid(W z + b)`, computed in f64, with an
/// optional encoder that returns a fixed latent (and records what it was given).
struct Toy {
    w: Array2<f64>, // N x K
    b: Array1<f64>,
    sigmoid: bool,
    encoder: Option<Vec<f32>>,
    seen: Mutex<Vec<f32>>,
}

impl Toy {
    fn new(seed: u64, sigmoid: bool) -> Self {
        let (ws, bs) = if sigmoid { (1.0, 0.0) } else { (0.3, 0.5) };
        let w = Array2::from_shape_vec((N, K), normal_vec(N * K, seed, ws)).unwrap();
        let b = Array1::from(normal_vec(N, seed + 1000, 0.2)) + bs;
        Toy {
            w,
            b,
            sigmoid,
            encoder: None,
            seen: Mutex::new(Vec::new()),
        }
    }

    /// A linear generator with an ill-conditioned, non-axis-aligned Jacobian
    /// `W = W₀ Q₁ diag(1, 0.6, 0.6², 0.6³, 0.6⁴) Q₂` (`Q` random orthogonal), so that
    /// steepest descent is slow while quasi-Newton methods are not.
    fn ill_conditioned(seed: u64) -> Self {
        let mut t = Toy::new(seed, false);
        let q1 = orthogonal(seed + 2000);
        let q2 = orthogonal(seed + 3000);
        let d = Array2::from_diag(&Array1::from_iter((0..K).map(|j| 0.6f64.powi(j as i32))));
        t.w = t.w.dot(&q1).dot(&d).dot(&q2);
        t
    }

    /// Pre-activation `W z + b` and `G(z)` for one latent, in f64.
    fn forward(&self, z: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let pre: Vec<f64> = (0..N)
            .map(|i| self.b[i] + (0..K).map(|j| self.w[[i, j]] * z[j]).sum::<f64>())
            .collect();
        let out = if self.sigmoid {
            pre.iter().map(|&a| 1.0 / (1.0 + (-a).exp())).collect()
        } else {
            pre.clone()
        };
        (pre, out)
    }

    fn image(&self, z: &[f64]) -> ArrayD<f32> {
        let (_, g) = self.forward(z);
        ArrayD::from_shape_vec(IxDyn(&SHAPE), g.iter().map(|&v| v as f32).collect()).unwrap()
    }
}

impl GenerativePrior for Toy {
    fn describe(&self) -> String {
        if self.sigmoid {
            "toy-sigmoid"
        } else {
            "toy-linear"
        }
        .into()
    }
    fn latent_dim(&self) -> usize {
        K
    }
    fn image_shape(&self) -> Vec<usize> {
        SHAPE.to_vec()
    }
    fn decode(&self, z: ArrayView2<f32>) -> posterior::Result<ArrayD<f32>> {
        let mut out = Vec::with_capacity(z.nrows() * N);
        for zr in z.rows() {
            let zf: Vec<f64> = zr.iter().map(|&v| v as f64).collect();
            out.extend(self.forward(&zf).1.iter().map(|&v| v as f32));
        }
        Ok(ArrayD::from_shape_vec(IxDyn(&[z.nrows(), 6, 6]), out).unwrap())
    }
    fn vjp(
        &self,
        z: ArrayView2<f32>,
        r: ArrayViewD<f32>,
    ) -> posterior::Result<(ArrayD<f32>, Array2<f32>)> {
        assert_eq!(r.shape(), &[z.nrows(), 6, 6]);
        let g = self.decode(z)?;
        let mut jt = Array2::<f32>::zeros((z.nrows(), K));
        let rf: Vec<f32> = r.iter().copied().collect();
        for (bi, zr) in z.rows().into_iter().enumerate() {
            let zf: Vec<f64> = zr.iter().map(|&v| v as f64).collect();
            let (_, out) = self.forward(&zf);
            for j in 0..K {
                let mut acc = 0.0;
                for i in 0..N {
                    let d = if self.sigmoid {
                        out[i] * (1.0 - out[i])
                    } else {
                        1.0
                    };
                    acc += self.w[[i, j]] * d * rf[bi * N + i] as f64;
                }
                jt[[bi, j]] = acc as f32;
            }
        }
        Ok((g, jt))
    }
    fn encode_mean(&self, x: ArrayViewD<f32>) -> posterior::Result<Option<Array2<f32>>> {
        match &self.encoder {
            None => Ok(None),
            Some(z) => {
                assert_eq!(x.shape(), &[1, 6, 6]);
                *self.seen.lock().unwrap() = x.iter().copied().collect();
                Ok(Some(Array2::from_shape_vec((1, K), z.clone()).unwrap()))
            }
        }
    }
}

/// A random K x K orthogonal matrix (Gram-Schmidt on Gaussian columns).
fn orthogonal(seed: u64) -> Array2<f64> {
    let mut q = Array2::from_shape_vec((K, K), normal_vec(K * K, seed, 1.0)).unwrap();
    for j in 0..K {
        for i in 0..j {
            let d = q.column(i).dot(&q.column(j));
            let ci = q.column(i).to_owned();
            q.column_mut(j).scaled_add(-d, &ci);
        }
        let n = q.column(j).dot(&q.column(j)).sqrt();
        q.column_mut(j).mapv_inplace(|v| v / n);
    }
    q
}

fn matrix(op: &Gaussian) -> Array2<f64> {
    op.matrix().mapv(|v| v as f64)
}

/// `y = A x + noise` with noise of standard deviation `sigma`.
fn measure(op: &Gaussian, x: &ArrayD<f32>, sigma: f64, seed: u64) -> ArrayD<f32> {
    let mut y = op.apply(x.view());
    let noise = normal_vec(y.len(), seed, sigma);
    for (v, e) in y.iter_mut().zip(noise) {
        *v += e as f32;
    }
    y
}

/// Solve a small dense system by Gaussian elimination with partial pivoting.
fn solve_dense(mut a: Array2<f64>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| a[[i, c]].abs().total_cmp(&a[[j, c]].abs()))
            .unwrap();
        for j in 0..n {
            a.swap([c, j], [p, j]);
        }
        b.swap(c, p);
        for r in c + 1..n {
            let f = a[[r, c]] / a[[c, c]];
            for j in c..n {
                a[[r, j]] -= f * a[[c, j]];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|j| a[[r, j]] * x[j]).sum();
        x[r] = (b[r] - s) / a[[r, r]];
    }
    x
}

/// The closed-form MAP of the linear generator:
/// `(Wᵀ Aᵀ A W / s² + λ I) z = Wᵀ Aᵀ (y − A b) / s²`.
fn linear_map(g: &Toy, a: &Array2<f64>, y: &ArrayD<f32>, sigma: f64, lambda: f64) -> Vec<f64> {
    let aw = a.dot(&g.w);
    let s2 = sigma * sigma;
    let mut h = aw.t().dot(&aw) / s2;
    for i in 0..K {
        h[[i, i]] += lambda;
    }
    let yv = Array1::from(y.iter().map(|&v| v as f64).collect::<Vec<_>>());
    let rhs = aw.t().dot(&(yv - a.dot(&g.b))) / s2;
    solve_dense(h, rhs.to_vec())
}

fn rel_err(got: &[f32], want: &[f64]) -> f64 {
    let d: f64 = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).powi(2))
        .sum();
    let n: f64 = want.iter().map(|w| w * w).sum();
    (d / n).sqrt()
}

/// `f(z) = ‖A G(z) − y‖²/(2σ²) + λ‖z‖²/2` in f64.
fn objective(g: &Toy, a: &Array2<f64>, y: &ArrayD<f32>, sigma: f64, lambda: f64, z: &[f64]) -> f64 {
    let (_, x) = g.forward(z);
    let ax = a.dot(&Array1::from(x));
    let fit: f64 = ax
        .iter()
        .zip(y.iter())
        .map(|(p, &q)| (p - q as f64).powi(2))
        .sum();
    fit / (2.0 * sigma * sigma) + 0.5 * lambda * z.iter().map(|v| v * v).sum::<f64>()
}

fn params(sigma: f64) -> CsgmParams {
    CsgmParams {
        sigma: Some(sigma),
        restarts: 3,
        init: CsgmInit::Random,
        ..CsgmParams::default()
    }
}

/// Steps until the chosen restart's latent is within `tol` of `want` (relative), or `None`.
fn iterations_to(
    g: &Toy,
    op: &Gaussian,
    y: &ArrayD<f32>,
    p: &CsgmParams,
    want: &[f64],
    tol: f64,
    max: usize,
) -> Option<usize> {
    let mut s = Csgm::new(g, op, y.view(), p).unwrap();
    for it in 1..=max {
        s.step().unwrap();
        let z = s.latents().row(s.best()).to_vec();
        if rel_err(&z, want) < tol {
            return Some(it);
        }
    }
    None
}

#[test]
fn linear_generator_reaches_the_closed_form_map_with_adam_and_lbfgs() {
    let g = Toy::ill_conditioned(1);
    let op = Gaussian::new(&SHAPE, 20, 2).unwrap();
    let a = matrix(&op);
    let z_true = normal_vec(K, 3, 1.0);
    let sigma = 0.05;
    let y = measure(&op, &g.image(&z_true), sigma, 4);
    let lambda = 1.0;
    let want = linear_map(&g, &a, &y, sigma, lambda);
    // The MAP is not the truth (noise and prior pull it away): the test must see the MAP.
    assert!(rel_err(&want.iter().map(|&v| v as f32).collect::<Vec<_>>(), &z_true) > 1e-3);

    let adam = CsgmParams {
        iters: 3000,
        ..params(sigma)
    };
    let out = solve(&g, &op, y.view(), &adam).unwrap();
    let e = rel_err(out.z.as_slice().unwrap(), &want);
    assert!(
        e < 1e-3,
        "adam: rel error {e:.2e}; {}",
        out.report.summary()
    );
    // The tol test ended the run, well before the iteration limit.
    assert!(
        matches!(out.report.termination, Termination::Converged(_)) && out.report.iterations < 3000,
        "{}",
        out.report.summary()
    );
    assert!(!out.encoder_used);
    // Every restart reaches the same (unique) minimizer of the convex problem.
    let f_map = objective(&g, &a, &y, sigma, lambda, &want);
    for f in &out.objectives {
        assert!(
            (f - f_map).abs() <= 1e-4 * f_map,
            "{f} vs {f_map}; {}",
            out.report.summary()
        );
    }

    let lbfgs = CsgmParams {
        optimizer: CsgmOptimizer::Lbfgs,
        iters: 200,
        ..params(sigma)
    };
    let out = solve(&g, &op, y.view(), &lbfgs).unwrap();
    let e = rel_err(out.z.as_slice().unwrap(), &want);
    assert!(
        e < 1e-3,
        "lbfgs: rel error {e:.2e}; {}",
        out.report.summary()
    );
    assert!(
        matches!(out.report.termination, Termination::Converged(_)),
        "{}",
        out.report.summary()
    );
    // At the end the latent gradient has all but vanished.
    let g_rel = out.report.last().unwrap().rel_normal_residual.unwrap();
    assert!(g_rel < 1e-3, "{g_rel:.2e}");

    let n_adam = iterations_to(&g, &op, &y, &adam, &want, 1e-3, 3000).expect("adam reaches 1e-3");
    let n_lbfgs = iterations_to(&g, &op, &y, &lbfgs, &want, 1e-3, 200).expect("lbfgs reaches 1e-3");
    assert!(
        5 * n_lbfgs < n_adam,
        "L-BFGS took {n_lbfgs} iterations, Adam {n_adam}"
    );
}

#[test]
fn operator_counts_are_exact_for_adam() {
    let g = Toy::new(1, false);
    let op = Gaussian::new(&SHAPE, 20, 2).unwrap();
    let y = measure(&op, &g.image(&normal_vec(K, 3, 1.0)), 0.05, 4);
    let p = CsgmParams {
        iters: 7,
        restarts: 4,
        tol: 0.0,
        ..params(0.05)
    };
    let out = solve(&g, &op, y.view(), &p).unwrap();
    assert_eq!(out.report.iterations, 7);
    // One A and one Aᵀ per restart at set-up and in every iteration.
    assert_eq!(out.report.counts.forward, 4 * 8);
    assert_eq!(out.report.counts.adjoint, 4 * 8);
    // The sparse variant: two of each per restart and iteration (the ν step and the new
    // residual); the set-up adds the norm estimate and the μ probes.
    let sparse = |iters| {
        let p = CsgmParams {
            sparse: true,
            iters,
            ..p.clone()
        };
        solve(&g, &op, y.view(), &p).unwrap().report.counts
    };
    let (c10, c20) = (sparse(10), sparse(20));
    assert_eq!(c20.forward - c10.forward, 2 * 4 * 10);
    assert_eq!(c20.adjoint - c10.adjoint, 2 * 4 * 10);
}

#[test]
fn latent_gradient_matches_finite_differences_of_the_objective() {
    let g = Toy::new(5, true);
    let op = Gaussian::new(&SHAPE, 24, 6).unwrap();
    let a = matrix(&op);
    let sigma = 0.1;
    let lambda = 0.7;
    let y = measure(&op, &g.image(&normal_vec(K, 7, 1.0)), sigma, 8);
    let p = CsgmParams {
        lambda,
        restarts: 3,
        ..params(sigma)
    };
    let mut s = Csgm::new(&g, &op, y.view(), &p).unwrap();
    for _ in 0..2 {
        for r in 0..3 {
            let z: Vec<f64> = s.latents().row(r).iter().map(|&v| v as f64).collect();
            let f = objective(&g, &a, &y, sigma, lambda, &z);
            let got = s.objectives()[r];
            assert!((got - f).abs() <= 1e-5 * f, "objective {got} vs {f}");
            let grad = s.latent_gradients().row(r).to_vec();
            let h = 1e-4;
            let fd: Vec<f64> = (0..K)
                .map(|j| {
                    let (mut zp, mut zm) = (z.clone(), z.clone());
                    zp[j] += h;
                    zm[j] -= h;
                    (objective(&g, &a, &y, sigma, lambda, &zp)
                        - objective(&g, &a, &y, sigma, lambda, &zm))
                        / (2.0 * h)
                })
                .collect();
            let e = rel_err(&grad, &fd);
            assert!(e < 1e-4, "restart {r}: gradient rel error {e:.2e}");
        }
        // And again after a few steps, away from the random start.
        for _ in 0..20 {
            s.step().unwrap();
        }
    }
}

#[test]
fn restarts_keep_the_lowest_data_fit_sparse_ones_the_lowest_objective_and_are_seeded() {
    let g = Toy::new(9, true);
    let op = Gaussian::new(&SHAPE, 18, 10).unwrap();
    let sigma = 0.05;
    let y = measure(&op, &g.image(&normal_vec(K, 11, 1.5)), sigma, 12);
    let p = CsgmParams {
        restarts: 6,
        iters: 150,
        lambda: 0.1,
        ..params(sigma)
    };
    let out = solve(&g, &op, y.view(), &p).unwrap();
    let argmin = (0..6)
        .min_by(|&i, &j| out.data_fits[i].total_cmp(&out.data_fits[j]))
        .unwrap();
    assert_eq!(out.restart, argmin, "fits {:?}", out.data_fits);
    // The restarts really are different runs.
    let spread = out.data_fits.iter().cloned().fold(0.0, f64::max)
        - out.data_fits.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(spread > 1e-6, "fits {:?}", out.data_fits);
    // The returned image is that restart's G(z), and its reported fit is ‖A x − y‖.
    let z: Vec<f64> = out.z.iter().map(|&v| v as f64).collect();
    let x = g.image(&z);
    let d: f32 = x
        .iter()
        .zip(&out.x)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(d < 1e-6);
    let r = &op.apply(out.x.view()) - &y;
    let fit = r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
    assert!((fit - out.data_fits[out.restart]).abs() < 1e-5 * fit);
    let last = out.report.last().unwrap();
    let ynorm = y.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
    assert!((last.rel_residual.unwrap() - fit / ynorm).abs() < 1e-6);

    // With a strong latent prior the objective ranks the random starts differently from
    // the data fit; the selection follows the data fit (Bora et al.), and current() is that
    // restart's image.
    let strong = CsgmParams {
        lambda: 1000.0,
        ..p.clone()
    };
    let mut s = Csgm::new(&g, &op, y.view(), &strong).unwrap();
    for it in 0..3 {
        let fits = s.data_fits();
        let by_fit = (0..6).min_by(|&i, &j| fits[i].total_cmp(&fits[j])).unwrap();
        let f = s.objectives();
        let by_obj = (0..6).min_by(|&i, &j| f[i].total_cmp(&f[j])).unwrap();
        if it == 0 {
            assert_ne!(by_fit, by_obj, "the check needs rankings that differ");
        }
        assert_eq!(s.best(), by_fit);
        assert_eq!(s.current(), s.images().index_axis(ndarray::Axis(0), by_fit));
        s.step().unwrap();
    }

    // The sparse variant ranks by its objective: its ν can lower any restart's data fit
    // at the price of μ‖ν‖₁, so the fit no longer says which restart the model explains best.
    let sparse = CsgmParams {
        sparse: true,
        ..strong.clone()
    };
    let mut s = Csgm::new(&g, &op, y.view(), &sparse).unwrap();
    let mut differed = 0;
    for _ in 0..40 {
        let fits = s.data_fits();
        let by_fit = (0..6).min_by(|&i, &j| fits[i].total_cmp(&fits[j])).unwrap();
        let f = s.objectives();
        let by_obj = (0..6).min_by(|&i, &j| f[i].total_cmp(&f[j])).unwrap();
        differed += usize::from(by_fit != by_obj);
        assert_eq!(s.best(), by_obj);
        assert_eq!(s.current(), s.images().index_axis(ndarray::Axis(0), by_obj));
        s.step().unwrap();
    }
    assert!(differed > 0, "the check needs rankings that differ");

    // Same seed: bit-identical. Another seed: other restarts.
    let again = solve(&g, &op, y.view(), &p).unwrap();
    assert_eq!(again.x, out.x);
    assert_eq!(again.z, out.z);
    assert_eq!(again.data_fits, out.data_fits);
    let other = CsgmParams {
        seed: 1,
        ..p.clone()
    };
    let a = Csgm::new(&g, &op, y.view(), &p).unwrap();
    let b = Csgm::new(&g, &op, y.view(), &other).unwrap();
    assert_ne!(a.latents(), b.latents());
    let other = solve(&g, &op, y.view(), &other).unwrap();
    assert_ne!(other.data_fits, out.data_fits);
}

#[test]
fn lbfgs_matches_adam_on_a_nonlinear_generator() {
    let g = Toy::new(9, true);
    let op = Gaussian::new(&SHAPE, 18, 10).unwrap();
    let sigma = 0.05;
    let y = measure(&op, &g.image(&normal_vec(K, 11, 1.5)), sigma, 12);
    let adam = CsgmParams {
        restarts: 10,
        iters: 3000,
        ..params(sigma)
    };
    let a = solve(&g, &op, y.view(), &adam).unwrap();
    let lbfgs = CsgmParams {
        optimizer: CsgmOptimizer::Lbfgs,
        ..adam.clone()
    };
    let b = solve(&g, &op, y.view(), &lbfgs).unwrap();
    let fa = a.objectives.iter().cloned().fold(f64::INFINITY, f64::min);
    let fb = b.objectives.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(fb <= fa * (1.0 + 1e-5), "lbfgs {fb} vs adam {fa}");
    assert!(
        b.report.iterations * 5 < a.report.iterations,
        "{} / {}",
        b.report.summary(),
        a.report.summary()
    );
    // Each restart's objective never increases under the Armijo line search.
    let mut s = Csgm::new(&g, &op, y.view(), &lbfgs).unwrap();
    let mut prev = s.objectives().to_vec();
    for _ in 0..15 {
        s.step().unwrap();
        for (f, p) in s.objectives().iter().zip(&prev) {
            assert!(f <= p, "{f} > {p}");
        }
        prev = s.objectives().to_vec();
    }
}

#[test]
fn sparse_deviations_recover_spikes_csgm_cannot_and_satisfy_the_kkt_conditions() {
    let g = Toy::new(13, false);
    let op = Gaussian::new(&SHAPE, 30, 14).unwrap();
    let a = matrix(&op);
    let sigma = 0.01;
    let z_true = normal_vec(K, 15, 1.0);
    let mut truth = g.image(&z_true);
    for (i, s) in [(3, 0.8f32), (17, -0.6), (29, 1.0)] {
        truth.as_slice_mut().unwrap()[i] += s;
    }
    let y = measure(&op, &truth, sigma, 16);
    let err = |x: &ArrayD<f32>| {
        let d: f64 = x
            .iter()
            .zip(&truth)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let n: f64 = truth.iter().map(|&v| (v as f64).powi(2)).sum();
        (d / n).sqrt()
    };
    let plain = CsgmParams {
        iters: 3000,
        restarts: 2,
        ..params(sigma)
    };
    let csgm = solve(&g, &op, y.view(), &plain).unwrap();
    let sparse = CsgmParams {
        sparse: true,
        tol: 0.0,
        ..plain.clone()
    };
    let out = solve(&g, &op, y.view(), &sparse).unwrap();
    let (e_plain, e_sparse) = (err(&csgm.x), err(&out.x));
    assert!(
        e_sparse < 0.3 * e_plain && e_sparse < 0.02,
        "csgm {e_plain:.3e}, csgm-sparse {e_sparse:.3e}"
    );
    assert_eq!(out.report.solver, "csgm-sparse");

    // KKT of the l1 term at the solution: with r = Aᵀ(A x − y)/σ²,
    // r_i = −μ sign(ν_i) where ν_i ≠ 0 and |r_i| <= μ where ν_i = 0.
    let mu = out.mu.unwrap();
    let nu = out.nu.as_ref().unwrap();
    let res = &op.apply(out.x.view()) - &y;
    let r = a.t().dot(&Array1::from(
        res.iter().map(|&v| v as f64).collect::<Vec<_>>(),
    )) / (sigma * sigma);
    let mut support = 0;
    for (i, &v) in nu.iter().enumerate() {
        if v != 0.0 {
            support += 1;
            let want = -mu * (v as f64).signum();
            assert!(
                (r[i] - want).abs() <= 1e-2 * mu,
                "pixel {i}: r {} vs {want}",
                r[i]
            );
        } else {
            assert!(
                r[i].abs() <= mu * (1.0 + 1e-2),
                "pixel {i}: |r| {} > mu {mu}",
                r[i]
            );
        }
    }
    // The spikes are found and noise does not create many spurious deviations.
    for i in [3, 17, 29] {
        assert!(nu.as_slice().unwrap()[i] != 0.0, "spike {i} missed");
    }
    assert!(support <= 8, "support {support}");
    // The default mu is the universal threshold: about sqrt(2 ln 36)/sigma for unit columns.
    assert!(mu > 1.5 / sigma && mu < 4.0 / sigma, "mu {mu}");

    // With the default tol and an iteration limit more than twice what plain CSGM needs to
    // meet it, the generator settles while ν is still held at 0: ν is admitted then (the
    // run does not stop there and return plain CSGM).
    let long = CsgmParams {
        sparse: true,
        iters: 2 * csgm.report.iterations + 200,
        ..plain.clone()
    };
    assert!(
        csgm.report.iterations < plain.iters,
        "{}",
        csgm.report.summary()
    );
    let late = solve(&g, &op, y.view(), &long).unwrap();
    let nu = late.nu.as_ref().unwrap();
    assert!(nu.iter().filter(|&&v| v != 0.0).count() >= 3);
    assert!(
        err(&late.x) < 0.3 * e_plain,
        "csgm {e_plain:.3e}, csgm-sparse (default tol) {:.3e}",
        err(&late.x)
    );
}

#[test]
fn encoder_init_starts_at_the_encoded_image() {
    let mut g = Toy::new(17, true);
    let z_true: Vec<f64> = normal_vec(K, 18, 1.0);
    g.encoder = Some(z_true.iter().map(|&v| v as f32).collect());
    let op = Gaussian::new(&SHAPE, 30, 19).unwrap();
    let x_true = g.image(&z_true);
    let y = op.apply(x_true.view());
    for init in [CsgmInit::Encoder, CsgmInit::Auto] {
        let p = CsgmParams {
            init,
            restarts: 4,
            ..params(0.1)
        };
        let s = Csgm::new(&g, &op, y.view(), &p).unwrap();
        assert!(s.encoder_used());
        let z0: Vec<f64> = s.latents().row(0).iter().map(|&v| v as f64).collect();
        assert!(rel_err(&g.encoder.clone().unwrap(), &z0) == 0.0);
        // Iteration 0 shows the encoded start: it fits the noiseless data best.
        assert_eq!(s.best(), 0);
        let d = s
            .current()
            .iter()
            .zip(&x_true)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-6, "max difference {d}");
        // The encoder saw clip(A⁺ y, 0, 1), A⁺ y by 30 CGLS iterations from 0.
        let mut cgls = Cgls::new(&op, y.view(), CglsParams::default()).unwrap();
        let pinv = Driver::new(30).run(&mut cgls).unwrap().x;
        assert!(pinv.iter().any(|&v| !(0.0..=1.0).contains(&v)));
        let seen = g.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), N);
        for (&s, &p) in seen.iter().zip(&pinv) {
            assert!((s - p.clamp(0.0, 1.0)).abs() <= 1e-6, "{s} vs {p}");
        }
        // Restarts 1.. are the same random draws as with init=random (and any R).
        let r = Csgm::new(&g, &op, y.view(), &params(0.1)).unwrap();
        let p4 = CsgmParams {
            restarts: 4,
            ..params(0.1)
        };
        let r4 = Csgm::new(&g, &op, y.view(), &p4).unwrap();
        assert!(!r4.encoder_used());
        assert_eq!(s.latents().row(1), r4.latents().row(1));
        assert_eq!(s.latents().row(1), r.latents().row(1));
    }
    // Without an encoder: auto falls back to random, encoder is an error.
    let plain = Toy::new(17, true);
    let p = CsgmParams {
        init: CsgmInit::Auto,
        ..params(0.1)
    };
    assert!(!Csgm::new(&plain, &op, y.view(), &p).unwrap().encoder_used());
    let p = CsgmParams {
        init: CsgmInit::Encoder,
        ..params(0.1)
    };
    let e = Csgm::new(&plain, &op, y.view(), &p).err().unwrap();
    assert!(
        matches!(e, Error::Param { ref name, .. } if name == "init"),
        "{e}"
    );
    assert!(e.to_string().contains("no encoder"), "{e}");
}

#[test]
fn spec_parsing_and_defaults() {
    let d = CsgmParams::default();
    assert_eq!(
        (d.lambda, d.restarts, d.iters, d.lr, d.seed, d.pinv_iters),
        (1.0, 10, 1000, 0.1, 0, 30)
    );
    assert_eq!(
        (d.optimizer, d.init, d.sigma, d.sparse, d.mu),
        (CsgmOptimizer::Adam, CsgmInit::Auto, None, false, None)
    );
    let p = CsgmParams::from_spec(&Spec::parse("csgm").unwrap()).unwrap();
    assert_eq!(p, d);
    let p = CsgmParams::from_spec(
        &Spec::parse(
            "csgm:lambda=0.5,restarts=3,iters=20,lr=0.1,optimizer=lbfgs,init=encoder,sigma=0.2,seed=7,pinv_iters=5,tol=0",
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(p.lambda, 0.5);
    assert_eq!((p.restarts, p.iters, p.seed, p.pinv_iters), (3, 20, 7, 5));
    assert_eq!((p.lr, p.tol), (0.1, 0.0));
    assert_eq!(
        (p.optimizer, p.init),
        (CsgmOptimizer::Lbfgs, CsgmInit::Encoder)
    );
    assert_eq!(p.sigma, Some(0.2));
    let p = CsgmParams::from_spec(&Spec::parse("csgm-sparse:mu=3").unwrap()).unwrap();
    assert!(p.sparse && p.mu == Some(3.0));
    assert_eq!(
        p,
        CsgmParams {
            mu: Some(3.0),
            ..CsgmParams::sparse()
        }
    );
    // Every key is documented with its default.
    let names = [
        "lambda",
        "restarts",
        "iters",
        "lr",
        "optimizer",
        "init",
        "sigma",
        "seed",
        "pinv_iters",
        "tol",
    ];
    for k in names {
        assert!(
            CSGM_KEYS
                .iter()
                .any(|(n, doc)| *n == k && doc.contains("default")),
            "{k}"
        );
        assert!(CSGM_SPARSE_KEYS.iter().any(|(n, _)| *n == k), "{k}");
    }
    assert!(CSGM_SPARSE_KEYS.iter().any(|(n, _)| *n == "mu"));
    assert!(!CSGM_KEYS.iter().any(|(n, _)| *n == "mu"));

    for (text, needle) in [
        ("csgm:lambda=-1", "lambda"),
        ("csgm:restarts=0", "restarts"),
        ("csgm:sigma=0", "sigma"),
        ("csgm:bogus=1", "bogus"),
        ("csgm:mu=1", "mu"),
        ("csgm:optimizer=sgd", "optimizer"),
        ("csgm-sparse:optimizer=lbfgs", "lbfgs"),
        ("tv:lambda=1", "csgm"),
    ] {
        let e = CsgmParams::from_spec(&Spec::parse(text).unwrap()).err();
        let e = e.unwrap_or_else(|| panic!("{text} accepted")).to_string();
        assert!(e.contains(needle), "{text}: {e}");
    }
}

#[test]
fn invalid_problems_are_refused_with_clear_errors() {
    let g = Toy::new(1, false);
    let op = Gaussian::new(&SHAPE, 20, 2).unwrap();
    let y = op.apply(g.image(&[0.0; K]).view());
    // Generator image shape != operator domain shape: both are named.
    let other = Gaussian::new(&[5, 5], 20, 2).unwrap();
    let e = Csgm::new(&g, &other, y.view(), &params(0.1)).err().unwrap();
    let msg = e.to_string();
    assert!(matches!(e, Error::Shape { .. }));
    assert!(msg.contains("[6, 6]") && msg.contains("[5, 5]"), "{msg}");
    // Data of the wrong shape, non-finite data.
    let short = ArrayD::<f32>::zeros(IxDyn(&[19]));
    assert!(matches!(
        Csgm::new(&g, &op, short.view(), &params(0.1))
            .err()
            .unwrap(),
        Error::Shape { .. }
    ));
    let mut bad = y.clone();
    bad[[4]] = f32::NAN;
    assert!(matches!(
        Csgm::new(&g, &op, bad.view(), &params(0.1)).err().unwrap(),
        Error::NonFinite { count: 1, .. }
    ));
    let refused = |p: CsgmParams, name: &str| {
        let e = Csgm::new(&g, &op, y.view(), &p).err().unwrap();
        assert!(
            matches!(&e, Error::Param { name: n, .. } if n == name),
            "{name}: {e}"
        );
    };
    refused(
        CsgmParams {
            lambda: -0.1,
            ..params(0.1)
        },
        "lambda",
    );
    refused(
        CsgmParams {
            restarts: 0,
            ..params(0.1)
        },
        "restarts",
    );
    refused(
        CsgmParams {
            sigma: None,
            ..params(0.1)
        },
        "sigma",
    );
    refused(
        CsgmParams {
            sigma: Some(0.0),
            ..params(0.1)
        },
        "sigma",
    );
    refused(
        CsgmParams {
            sigma: Some(-1.0),
            ..params(0.1)
        },
        "sigma",
    );
    refused(
        CsgmParams {
            sparse: true,
            optimizer: CsgmOptimizer::Lbfgs,
            ..params(0.1)
        },
        "optimizer",
    );
    refused(
        CsgmParams {
            mu: Some(1.0),
            ..params(0.1)
        },
        "mu",
    );
}

/// A generator whose output is NaN: the solver reports divergence, it does not panic.
struct Broken;

impl GenerativePrior for Broken {
    fn describe(&self) -> String {
        "broken".into()
    }
    fn latent_dim(&self) -> usize {
        2
    }
    fn image_shape(&self) -> Vec<usize> {
        SHAPE.to_vec()
    }
    fn decode(&self, z: ArrayView2<f32>) -> posterior::Result<ArrayD<f32>> {
        Ok(ArrayD::from_elem(IxDyn(&[z.nrows(), 6, 6]), f32::NAN))
    }
    fn vjp(
        &self,
        z: ArrayView2<f32>,
        _r: ArrayViewD<f32>,
    ) -> posterior::Result<(ArrayD<f32>, Array2<f32>)> {
        Ok((self.decode(z)?, Array2::from_elem((z.nrows(), 2), f32::NAN)))
    }
}

#[test]
fn non_finite_generator_output_is_divergence() {
    let op = Gaussian::new(&SHAPE, 20, 2).unwrap();
    let y = ArrayD::<f32>::ones(IxDyn(&[20]));
    let e = Csgm::new(&Broken, &op, y.view(), &params(0.1))
        .err()
        .unwrap();
    assert!(matches!(e, Error::Diverged { .. }), "{e}");
    // The Driver runs the solver and its stopping rules (a usable Iterative).
    let g = Toy::new(1, false);
    let y = op.apply(g.image(&[0.1; K]).view());
    let mut s = Csgm::new(&g, &op, y.view(), &params(0.1)).unwrap();
    let r = Driver::new(5).run(&mut s).unwrap();
    assert_eq!(r.iterations, 5);
    assert_eq!(r.solver, "csgm");
    assert!(r.history.iter().all(|h| h.rel_normal_residual.is_some()));
}

#[test]
fn default_mu_holds_the_deviation_at_zero_for_the_first_half() {
    use posterior::solve::Iterative;
    let g = Toy::new(13, false);
    let op = Gaussian::new(&SHAPE, 30, 14).unwrap();
    let sigma = 0.01;
    let mut truth = g.image(&normal_vec(K, 15, 1.0));
    truth.as_slice_mut().unwrap()[3] += 0.8;
    let y = measure(&op, &truth, sigma, 16);
    let p = CsgmParams {
        sparse: true,
        iters: 40,
        restarts: 2,
        tol: 0.0,
        ..params(sigma)
    };
    let mut s = posterior_nn::csgm::Csgm::new(&g, &op, y.view(), &p).unwrap();
    for _ in 0..20 {
        s.step().unwrap();
    }
    assert!(
        s.deviation().unwrap().iter().all(|&v| v == 0.0),
        "nu admitted during the warm-up"
    );
    for _ in 0..20 {
        s.step().unwrap();
    }
    assert!(
        s.deviation().unwrap().iter().any(|&v| v != 0.0),
        "nu never admitted after the warm-up"
    );
    // An explicit mu admits it from the first iteration.
    let explicit = CsgmParams {
        mu: Some(s.mu().unwrap()),
        ..p
    };
    let mut s = posterior_nn::csgm::Csgm::new(&g, &op, y.view(), &explicit).unwrap();
    s.step().unwrap();
    assert!(s.deviation().unwrap().iter().any(|&v| v != 0.0));
}

/// The toy generator with a gradient that turns non-finite.
struct NanGradient(Toy);

impl GenerativePrior for NanGradient {
    fn describe(&self) -> String {
        "toy-nan-gradient".into()
    }
    fn latent_dim(&self) -> usize {
        K
    }
    fn image_shape(&self) -> Vec<usize> {
        SHAPE.to_vec()
    }
    fn decode(&self, z: ArrayView2<f32>) -> posterior::Result<ArrayD<f32>> {
        self.0.decode(z)
    }
    fn vjp(
        &self,
        z: ArrayView2<f32>,
        r: ArrayViewD<f32>,
    ) -> posterior::Result<(ArrayD<f32>, Array2<f32>)> {
        let (g, mut jt) = self.0.vjp(z, r)?;
        jt[[z.nrows() - 1, 0]] = f32::NAN;
        Ok((g, jt))
    }
}

#[test]
fn a_non_finite_latent_gradient_is_a_divergence_not_convergence() {
    let g = NanGradient(Toy::new(21, true));
    let op = Gaussian::new(&SHAPE, 20, 22).unwrap();
    let y = op.apply(g.0.image(&normal_vec(K, 23, 1.0)).view());
    for optimizer in [CsgmOptimizer::Adam, CsgmOptimizer::Lbfgs] {
        let p = CsgmParams {
            optimizer,
            ..params(0.1)
        };
        let e = match Csgm::new(&g, &op, y.view(), &p) {
            Err(e) => e,
            Ok(mut s) => Driver::new(5).run(&mut s).unwrap_err(),
        };
        assert!(
            matches!(&e, Error::Diverged { reason, .. } if reason.contains("restart 2")),
            "{e}"
        );
    }
}
