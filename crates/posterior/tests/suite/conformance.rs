//! The operator conformance suite: every example spec of every registry entry is built at
//! small sizes and checked for an exact adjoint, agreement with its dense matrix, linearity,
//! and overwriting (never reading) its output buffers.

use posterior::AnyOperator;
use posterior::ops::{
    Compose, LinearOperator, RealToComplex, Scaled, Stack, norm_estimate, registry,
};
use posterior_testkit::{check_adjoint, check_dense, check_dirty_buffer, check_linearity};

fn sweep<O: LinearOperator + ?Sized>(op: &O, dense: bool) {
    check_adjoint(op, 1, 2e-5);
    check_linearity(op, 2, 1e-5);
    check_dirty_buffer(op, 3);
    if let Some(m) = op.measured() {
        assert_eq!(
            m.shape(),
            op.range_shape(),
            "{}: measured mask shape",
            op.describe()
        );
        // unmeasured entries are structurally zero in A x
        let x = posterior_testkit::random_array::<O::Domain>(op.domain_shape(), 5);
        let ax = op.apply(x.view());
        for (v, &k) in ax.iter().zip(m.iter()) {
            assert!(
                k || posterior::Scalar::abs(*v) == 0.0,
                "{}: unmeasured entry is non-zero",
                op.describe()
            );
        }
    }
    if dense {
        check_dense(op, 1e-5);
    }
    check_gram(op);
}

/// A declared Gram structure must reproduce `AᴴA`, and the exact shifted solve must invert
/// `AᴴA + ρ I`.
fn check_gram<O: LinearOperator + ?Sized>(op: &O) {
    let Some(g) = op.gram() else { return };
    let x = posterior_testkit::random_array::<O::Domain>(op.domain_shape(), 9);
    let want = op.normal(x.view());
    let mut got = want.clone();
    posterior::solve::quadratic::apply_gram(&g, x.view(), got.view_mut()).unwrap();
    let err = (&got - &want)
        .iter()
        .map(|v| posterior::Scalar::abs2(*v) as f64)
        .sum::<f64>()
        .sqrt();
    let nrm = want
        .iter()
        .map(|v| posterior::Scalar::abs2(*v) as f64)
        .sum::<f64>()
        .sqrt();
    assert!(
        err <= 1e-5 * nrm.max(1e-12),
        "{}: Gram vs normal_into, rel err {}",
        op.describe(),
        err / nrm
    );
    let mut solver = posterior::solve::quadratic::ShiftedNormal::new(op, None).unwrap();
    assert_eq!(
        solver.mode(),
        posterior::solve::quadratic::SolveMode::Exact,
        "{}",
        op.describe()
    );
    let rho = 0.3f32;
    let mut b = want.clone();
    ndarray::Zip::from(&mut b)
        .and(&x)
        .for_each(|b, &v| *b += v * rho);
    let mut sol = x.clone();
    solver.solve_into(b.view(), rho, sol.view_mut()).unwrap();
    let err = (&sol - &x)
        .iter()
        .map(|v| posterior::Scalar::abs2(*v) as f64)
        .sum::<f64>()
        .sqrt();
    let nrm = x
        .iter()
        .map(|v| posterior::Scalar::abs2(*v) as f64)
        .sum::<f64>()
        .sqrt();
    assert!(
        err <= 1e-4 * nrm,
        "{}: exact shifted solve, rel err {}",
        op.describe(),
        err / nrm
    );
}

fn sweep_any(op: &AnyOperator, dense: bool) {
    match op {
        AnyOperator::Real(a) => sweep(a, dense),
        AnyOperator::RealToComplex(a) => sweep(a, dense),
        AnyOperator::Complex(a) => sweep(a, dense),
    }
}

/// Small shapes: non-square to catch transposition mistakes, and multi-channel.
const SMALL: &[&[usize]] = &[&[12, 10], &[2, 8, 8]];
const MEDIUM: &[usize] = &[40, 36];

#[test]
fn every_registered_operator_conforms() {
    let entries = registry();
    assert!(!entries.is_empty());
    let mut checked = 0;
    for entry in &entries {
        assert!(
            !entry.examples.is_empty(),
            "{} has no example spec",
            entry.name
        );
        for ex in entry.examples {
            let spec = posterior::Spec::parse(ex).unwrap();
            for shape in SMALL {
                let op = match (entry.build)(&spec, shape) {
                    Ok(op) => op,
                    // multi-channel or tiny shapes that a family cannot take must be refused
                    // with an error, never a panic; single-plane shapes must always work
                    Err(e) if shape.len() == 3 => {
                        eprintln!("{ex} at {shape:?}: refused ({e})");
                        continue;
                    }
                    Err(e) => panic!("{ex} at {shape:?}: {e}"),
                };
                assert_eq!(op.domain_shape(), *shape, "{ex}: domain shape");
                sweep_any(&op, true);
                checked += 1;
            }
            let op = (entry.build)(&spec, MEDIUM).unwrap_or_else(|e| panic!("{ex}: {e}"));
            sweep_any(&op, false);
            // an inferred image shape must produce measurements of the same shape
            if let Ok(d) = (entry.infer_domain)(&spec, op.range_shape()) {
                let again = (entry.build)(&spec, &d).unwrap_or_else(|e| panic!("{ex}: {e}"));
                assert_eq!(
                    again.range_shape(),
                    op.range_shape(),
                    "{ex}: inferred domain {d:?}"
                );
            }
        }
    }
    assert!(checked >= entries.len());
}

#[test]
fn combinators_conform() {
    let shape = [9, 7];
    let a = posterior::ops::Identity::<f32>::new(&shape);
    let s = Scaled::new(posterior::ops::Identity::<f32>::new(&shape), -2.5);
    sweep(&s, true);
    let c = Compose::new(
        Scaled::new(posterior::ops::Identity::<f32>::new(&shape), 3.0),
        a,
    )
    .unwrap();
    sweep(&c, true);
    let st = Stack::new(vec![
        Box::new(posterior::ops::Identity::<f32>::new(&shape)),
        Box::new(Scaled::new(
            posterior::ops::Identity::<f32>::new(&shape),
            2.0,
        )),
    ])
    .unwrap();
    sweep(&st, true);
    let r = RealToComplex::new(&shape);
    sweep(&r, true);
    // periodic finite differences, alone and stacked with the identity (a Fourier Gram)
    use posterior::transforms::finite_diff::{DiffBoundary, Gradient2d, Laplacian};
    for sh in [&[9usize, 7][..], &[2, 6, 5]] {
        let g = Gradient2d::<f32>::new(sh)
            .unwrap()
            .with_boundary(DiffBoundary::Periodic);
        sweep(&g, true);
        let gc = Gradient2d::<posterior::c32>::new(sh)
            .unwrap()
            .with_boundary(DiffBoundary::Periodic);
        sweep(&gc, true);
        let l = Laplacian::<f32>::new(sh)
            .unwrap()
            .with_boundary(DiffBoundary::Periodic);
        sweep(&l, true);
    }
    let flat = [6usize, 5];
    let gi: Stack<f32, f32> = Stack::new(vec![
        Box::new(
            Gradient2d::<f32>::new(&flat)
                .unwrap()
                .with_boundary(DiffBoundary::Periodic),
        ),
        Box::new(posterior::ops::Identity::<f32>::new(&flat)),
    ])
    .unwrap();
    assert!(gi.gram().is_some());
    sweep(&gi, true);
    // ||[I; 2I]|| = sqrt(5)
    let n = norm_estimate(&st, 50, 0);
    assert!((n - 5f64.sqrt()).abs() < 1e-4, "{n}");
}
