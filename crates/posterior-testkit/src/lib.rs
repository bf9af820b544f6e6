//! Dev-only checks shared by the test suites of the posterior crates.
//!
//! Each check panics with a message that carries the numbers when it fails, so tests read as
//! `check_adjoint(&op, 0, 1e-4)`.

use ndarray::{ArrayD, IxDyn};
use posterior::linalg::{dot, norm2};
use posterior::{LinearOperator, Scalar};

/// A seeded standard-normal array of the given shape.
pub fn random_array<T: Scalar>(shape: &[usize], seed: u64) -> ArrayD<T> {
    let mut rng = posterior::rng(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || T::standard_normal(&mut rng))
}

/// Normalized dot-product test: `|<A x, y> - <x, A^H y>| / (||A x|| ||y||) <= tol` for
/// random `x`, `y` (three seeded pairs). Returns the worst relative error seen.
pub fn check_adjoint<O: LinearOperator + ?Sized>(op: &O, seed: u64, tol: f64) -> f64 {
    let mut worst = 0.0f64;
    for s in 0..3 {
        let x: ArrayD<O::Domain> = random_array(op.domain_shape(), seed * 1000 + 2 * s);
        let y: ArrayD<O::Range> = random_array(op.range_shape(), seed * 1000 + 2 * s + 1);
        let ax = op.apply(x.view());
        let aty = op.adjoint(y.view());
        let lhs = dot(ax.view(), y.view());
        let rhs = dot(x.view(), aty.view());
        let scale = (norm2(ax.view()) * norm2(y.view())).max(norm2(x.view()) * norm2(aty.view()));
        let rel = if scale == 0.0 {
            (lhs - rhs).abs()
        } else {
            (lhs - rhs).abs() / scale
        };
        worst = worst.max(rel);
        assert!(
            rel <= tol,
            "{}: adjoint test failed: <Ax,y> = {lhs:.8e}, <x,A^H y> = {rhs:.8e}, relative error {rel:.3e} > {tol:.1e}",
            op.describe()
        );
    }
    worst
}

fn unit<T: Scalar>(shape: &[usize], k: usize, value: T) -> ArrayD<T> {
    let mut e = ArrayD::from_elem(IxDyn(shape), T::zero());
    e.as_slice_mut().unwrap()[k] = value;
    e
}

fn basis_values<T: Scalar>() -> Vec<T> {
    if T::IS_COMPLEX {
        vec![T::from_real(1.0), T::from_parts(0.0, 1.0)]
    } else {
        vec![T::from_real(1.0)]
    }
}

/// Dense agreement: build the matrix of `A` column by column (`A e_k`) and of `A^H` column
/// by column (`A^H e_j`), and check `Re <A e_k, e_j> = Re <e_k, A^H e_j>` for every pair,
/// then that `A x` equals the dense matrix times `x` for a random `x`. Only for small
/// operators (domain and range up to a few thousand entries).
pub fn check_dense<O: LinearOperator + ?Sized>(op: &O, tol: f64) {
    let dshape = op.domain_shape().to_vec();
    let rshape = op.range_shape().to_vec();
    let n: usize = dshape.iter().product();
    let m: usize = rshape.iter().product();
    assert!(
        n * m <= 20_000_000,
        "check_dense: operator too large ({m}x{n})"
    );
    let dvals = basis_values::<O::Domain>();
    let rvals = basis_values::<O::Range>();
    // columns of A
    let mut cols: Vec<ArrayD<O::Range>> = Vec::with_capacity(n * dvals.len());
    for k in 0..n {
        for &v in &dvals {
            cols.push(op.apply(unit(&dshape, k, v).view()));
        }
    }
    let scale = cols
        .iter()
        .map(|c| norm2(c.view()))
        .fold(0.0f64, f64::max)
        .max(1e-30);
    for j in 0..m {
        for &rv in &rvals {
            let ej = unit(&rshape, j, rv);
            let row = op.adjoint(ej.view());
            let row = row.as_slice().unwrap();
            for k in 0..n {
                for (d, &dv) in dvals.iter().enumerate() {
                    let a = cols[k * dvals.len() + d].as_slice().unwrap()[j].dot_re(rv);
                    let b = dv.dot_re(row[k]);
                    assert!(
                        (a - b).abs() <= tol * scale,
                        "{}: A^H is not the transpose of A at (range {j}, domain {k}): {a:.6e} vs {b:.6e}",
                        op.describe()
                    );
                }
            }
        }
    }
    // A x against the dense product
    let x: ArrayD<O::Domain> = random_array(&dshape, 77);
    let ax = op.apply(x.view());
    let mut dense = ArrayD::from_elem(IxDyn(&rshape), O::Range::zero());
    let xs = x.as_slice().unwrap();
    for (k, col) in cols.iter().enumerate() {
        // columns are A e_k (and A (i e_k) for complex domains); the coefficients are the
        // real and imaginary parts of x_k (the checks hold for real-linear operators)
        let xk = xs[k / dvals.len()];
        let coef = if k % dvals.len() == 0 {
            xk.re()
        } else {
            xk.im()
        };
        dense.zip_mut_with(col, |d, &c| *d += c * coef);
    }
    {
        let err = norm2((&ax - &dense).view());
        let s = norm2(ax.view()).max(1e-30);
        assert!(
            err <= tol * s * 10.0,
            "{}: A x differs from the dense matrix product: relative error {:.3e}",
            op.describe(),
            err / s
        );
    }
}

/// Linearity: `A(a x + b z) = a A x + b A z` for random `x`, `z` and real `a`, `b`.
pub fn check_linearity<O: LinearOperator + ?Sized>(op: &O, seed: u64, tol: f64) {
    let x: ArrayD<O::Domain> = random_array(op.domain_shape(), seed);
    let z: ArrayD<O::Domain> = random_array(op.domain_shape(), seed + 1);
    let (a, b) = (0.7f32, -1.3f32);
    let comb = x.mapv(|v| v * a) + z.mapv(|v| v * b);
    let lhs = op.apply(comb.view());
    let rhs = op.apply(x.view()).mapv(|v| v * a) + op.apply(z.view()).mapv(|v| v * b);
    let err = norm2((&lhs - &rhs).view());
    let s = norm2(rhs.view()).max(1e-30);
    assert!(
        err <= tol * s,
        "{}: not linear: relative error {:.3e}",
        op.describe(),
        err / s
    );
}

/// `*_into` must overwrite its output: results with a NaN-filled (dirty) buffer equal those
/// with a zeroed one, for the forward, adjoint and normal maps.
pub fn check_dirty_buffer<O: LinearOperator + ?Sized>(op: &O, seed: u64) {
    let x: ArrayD<O::Domain> = random_array(op.domain_shape(), seed);
    let y: ArrayD<O::Range> = random_array(op.range_shape(), seed + 1);
    let nan_r = O::Range::from_real(f32::NAN);
    let nan_d = O::Domain::from_real(f32::NAN);
    let mut dirty = ArrayD::from_elem(IxDyn(op.range_shape()), nan_r);
    op.apply_into(x.view(), dirty.view_mut());
    assert!(
        dirty == op.apply(x.view()),
        "{}: apply_into reads its output buffer",
        op.describe()
    );
    let mut dirty = ArrayD::from_elem(IxDyn(op.domain_shape()), nan_d);
    op.adjoint_into(y.view(), dirty.view_mut());
    assert!(
        dirty == op.adjoint(y.view()),
        "{}: adjoint_into reads its output buffer",
        op.describe()
    );
    let mut dirty = ArrayD::from_elem(IxDyn(op.domain_shape()), nan_d);
    op.normal_into(x.view(), dirty.view_mut());
    let reference = op.adjoint(op.apply(x.view()).view());
    let err = norm2((&dirty - &reference).view());
    let s = norm2(reference.view()).max(1e-30);
    assert!(
        err <= 1e-4 * s,
        "{}: normal_into disagrees with A^H A (relative error {:.3e}) or reads its buffer",
        op.describe(),
        err / s
    );
}

/// Finite-difference gradient check of `f` at `x` along random directions: the directional
/// derivative `<grad, d>` must match `(f(x + h d) - f(x - h d)) / 2h` to relative `tol`.
pub fn check_gradient<F, G>(f: F, grad: G, x: &ArrayD<f32>, h: f32, seed: u64, tol: f64)
where
    F: Fn(&ArrayD<f32>) -> f64,
    G: Fn(&ArrayD<f32>) -> ArrayD<f32>,
{
    let g = grad(x);
    for s in 0..3 {
        let d: ArrayD<f32> = random_array(x.shape(), seed + s);
        let fd = (f(&(x + &d.mapv(|v| v * h))) - f(&(x - &d.mapv(|v| v * h)))) / (2.0 * h as f64);
        let an = dot(g.view(), d.view());
        let rel = (fd - an).abs() / an.abs().max(fd.abs()).max(1e-12);
        assert!(
            rel <= tol,
            "gradient check failed: analytic {an:.6e} vs finite difference {fd:.6e} (relative {rel:.3e})"
        );
    }
}

/// The prox objective `τ g(u) + ½ ||u − v||²`.
fn prox_objective<T: Scalar, G: posterior::prox::Functional<T> + ?Sized>(
    g: &G,
    u: &ArrayD<T>,
    v: &ArrayD<T>,
    tau: f32,
) -> f64 {
    let gu = g.value(u.view());
    let d = norm2((u - v).view());
    tau as f64 * gu + 0.5 * d * d
}

/// Checks of a proximal operator `prox_{τg}` at the point `v` (panicking with numbers):
///
/// - (a) optimality by brute force: `u = prox_{τg}(v)` has a finite prox objective
///   `τ g(u) + ½||u − v||²` that is not above (up to `tol · (1 + |objective|)`) the objective
///   at 400 random perturbations `u + δ` (dense Gaussian and single-entry, at relative sizes
///   `1` to `1e-3`), at `v` itself and at `0`;
/// - (b) Moreau's identity: `prox_conj_into(v, σ)` equals `v − σ prox_{g/σ}(v/σ)` (the
///   formula, evaluated through `prox_into`) for `σ ∈ {τ, 1/τ, 1}`, and
///   `prox_{τg}(v) + τ prox_{g*/τ}(v/τ) = v`, to relative `tol`;
/// - (c) firm non-expansiveness: `||P a − P b||² ≤ <P a − P b, a − b>` (up to
///   `tol · ||a − b||²`) for random pairs `a`, `b` around `v`, including `(v, b)`;
/// - (d) `prox_into` overwrites a NaN-filled (dirty) output buffer.
///
/// Use `tol` around `1e-5` for closed-form proxes and larger for iterative ones.
pub fn check_prox<T, G>(g: &G, v: &ArrayD<T>, tau: f32, seed: u64, tol: f64)
where
    T: Scalar,
    G: posterior::prox::Prox<T> + posterior::prox::Functional<T> + ?Sized,
{
    use rand::RngExt;
    let shape = v.shape().to_vec();
    let n = v.len();
    let u = g.prox(v.view(), tau);
    assert!(
        u.iter().all(|a| a.is_finite()),
        "check_prox: prox(v) has non-finite entries"
    );
    let obj = prox_objective(g, &u, v, tau);
    assert!(
        obj.is_finite(),
        "check_prox: the prox objective at prox(v) is not finite ({obj})"
    );
    let slack = tol * (1.0 + obj.abs());
    // (a) candidates
    let zero = ArrayD::from_elem(IxDyn(&shape), T::zero());
    for (name, cand) in [("v", v), ("0", &zero)] {
        let o = prox_objective(g, cand, v, tau);
        assert!(
            obj <= o + slack,
            "check_prox: objective at prox(v) = {obj:.8e} exceeds that at {name} = {o:.8e}"
        );
    }
    let scale = (norm2(v.view()) / (n as f64).sqrt()).max(1e-3) as f32;
    let mut rng = posterior::rng(seed);
    for k in 0..400u64 {
        let rel = [1.0f32, 0.1, 0.01, 0.001][(k % 4) as usize] * scale;
        let mut cand = u.clone();
        if k % 2 == 0 {
            let d: ArrayD<T> = random_array(&shape, seed * 7919 + k);
            cand.zip_mut_with(&d, |c, &d| *c += d * (rel / (n as f32).sqrt()));
        } else {
            let i = rng.random_range(0..n);
            let d = T::standard_normal(&mut rng) * rel;
            cand.as_slice_mut().unwrap()[i] += d;
        }
        let o = prox_objective(g, &cand, v, tau);
        assert!(
            obj <= o + slack,
            "check_prox: a perturbation (size {rel:.1e}) lowers the prox objective: {o:.8e} < {obj:.8e}"
        );
    }
    // (b) Moreau
    let vn = norm2(v.view()).max(1e-12);
    for sigma in [tau, 1.0 / tau, 1.0] {
        let mut direct = ArrayD::from_elem(IxDyn(&shape), T::from_real(f32::NAN));
        g.prox_conj_into(v.view(), sigma, direct.view_mut());
        let scaled = v.mapv(|a| a * (1.0 / sigma));
        let inner = g.prox(scaled.view(), 1.0 / sigma);
        let formula = v - &inner.mapv(|a| a * sigma);
        let err = norm2((&direct - &formula).view());
        assert!(
            err <= tol * (vn + 1.0),
            "check_prox: prox_conj_into(σ = {sigma}) differs from Moreau's formula by {err:.3e} (||v|| = {vn:.3e})"
        );
    }
    {
        let scaled = v.mapv(|a| a * (1.0 / tau));
        let mut p = ArrayD::from_elem(IxDyn(&shape), T::zero());
        g.prox_conj_into(scaled.view(), 1.0 / tau, p.view_mut());
        let recon = &u + &p.mapv(|a| a * tau);
        let err = norm2((&recon - v).view());
        assert!(
            err <= tol * (vn + 1.0),
            "check_prox: prox_τg(v) + τ prox_(g*/τ)(v/τ) differs from v by {err:.3e} (||v|| = {vn:.3e})"
        );
    }
    // (c) firm non-expansiveness
    for k in 0..20u64 {
        let da: ArrayD<T> = random_array(&shape, seed * 104_729 + 2 * k);
        let db: ArrayD<T> = random_array(&shape, seed * 104_729 + 2 * k + 1);
        let s = [2.0f32, 0.5, 0.05][(k % 3) as usize] * scale;
        let a = if k == 0 {
            v.clone()
        } else {
            v + &da.mapv(|x| x * s)
        };
        let b = v + &db.mapv(|x| x * s);
        let pa = g.prox(a.view(), tau);
        let pb = g.prox(b.view(), tau);
        let dp = &pa - &pb;
        let dab = &a - &b;
        let lhs = norm2(dp.view()).powi(2);
        let rhs = dot(dp.view(), dab.view());
        let d2 = norm2(dab.view()).powi(2);
        assert!(
            lhs <= rhs + tol * d2,
            "check_prox: not firmly non-expansive: ||Pa − Pb||² = {lhs:.8e} > <Pa − Pb, a − b> = {rhs:.8e}"
        );
    }
    // (d) dirty buffer
    let mut dirty = ArrayD::from_elem(IxDyn(&shape), T::from_real(f32::NAN));
    g.prox_into(v.view(), tau, dirty.view_mut());
    let err = norm2((&dirty - &u).view());
    assert!(
        err <= tol * (norm2(u.view()) + 1.0),
        "check_prox: prox_into depends on its output buffer (difference {err:.3e})"
    );
}
