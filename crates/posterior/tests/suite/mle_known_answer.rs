//! CGLS on a small blur problem reaches the solution of the normal equations, computed
//! independently from the operator's dense matrix in f64.

use ndarray::{Array1, Array2, ArrayD, IxDyn};
use posterior::LinearOperator;
use posterior::ops::blur::{Blur, Boundary};
use posterior::ops::kernels::gaussian;
use posterior::solve::{Cgls, CglsParams, Driver, Stop};

fn dense<O: LinearOperator<Domain = f32, Range = f32>>(op: &O) -> Array2<f64> {
    let n: usize = op.domain_shape().iter().product();
    let m: usize = op.range_shape().iter().product();
    let mut a = Array2::zeros((m, n));
    for k in 0..n {
        let mut e = ArrayD::<f32>::zeros(IxDyn(op.domain_shape()));
        e.as_slice_mut().unwrap()[k] = 1.0;
        for (i, v) in op.apply(e.view()).iter().enumerate() {
            a[[i, k]] = *v as f64;
        }
    }
    a
}

/// Gaussian elimination with partial pivoting, f64.
fn solve(mut g: Array2<f64>, mut b: Array1<f64>) -> Array1<f64> {
    let n = b.len();
    for c in 0..n {
        let p = (c..n)
            .max_by(|&i, &j| g[[i, c]].abs().total_cmp(&g[[j, c]].abs()))
            .unwrap();
        for j in 0..n {
            g.swap([c, j], [p, j]);
        }
        b.swap(c, p);
        for r in c + 1..n {
            let f = g[[r, c]] / g[[c, c]];
            for j in c..n {
                g[[r, j]] -= f * g[[c, j]];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = Array1::zeros(n);
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|j| g[[r, j]] * x[j]).sum();
        x[r] = (b[r] - s) / g[[r, r]];
    }
    x
}

#[test]
fn cgls_matches_the_normal_equations_on_blur() {
    for boundary in [Boundary::Circular, Boundary::Zero, Boundary::Reflect] {
        let shape = [12, 10];
        let op = Blur::new(gaussian(5, 1.2).unwrap(), boundary, &shape).unwrap();
        let x_true = posterior::phantom::shepp_logan_hw(12, 10).into_dyn();
        let mut y = op.apply(x_true.view());
        let noise = posterior_testkit::random_array::<f32>(&shape, 9);
        y.zip_mut_with(&noise, |a, n| *a += 0.01 * n);
        let lambda = 1e-2;
        let a = dense(&op);
        let mut g = a.t().dot(&a);
        for i in 0..g.nrows() {
            g[[i, i]] += lambda;
        }
        let rhs = a.t().dot(&Array1::from_iter(y.iter().map(|&v| v as f64)));
        let want = solve(g, rhs);
        let mut cgls = Cgls::new(&op, y.view(), CglsParams { lambda }).unwrap();
        let report = Driver::new(500)
            .stop_when(Stop::RelNormalResidual(1e-6))
            .run(&mut cgls)
            .unwrap();
        let got: Vec<f64> = report.x.iter().map(|&v| v as f64).collect();
        let err: f64 = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).powi(2))
            .sum::<f64>()
            .sqrt()
            / want.iter().map(|w| w * w).sum::<f64>().sqrt();
        assert!(
            err < 1e-4,
            "{boundary:?}: relative error {err:.2e} ({})",
            report.summary()
        );
    }
}
