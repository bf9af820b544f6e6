//! Proximal building blocks: finite differences, norms, indicators, total variation and
//! data fidelities, checked by `posterior_testkit::check_prox` and by known answers.

use ndarray::{ArrayD, IxDyn};
use posterior::c32;
use posterior::linalg::norm2;
use posterior::ops::norm_estimate;
use posterior::prox::{
    BoxConstraint, Functional, L1, L2Norm, L21, NonNegative, Prox, SquaredL2, TotalVariation,
};
use posterior::transforms::{Gradient2d, Laplacian};
use posterior_testkit::{check_adjoint, check_dense, check_dirty_buffer, check_prox, random_array};

// ---------- finite differences ----------

#[test]
fn gradient_adjoint_dense_and_norm() {
    for shape in [vec![5usize, 7], vec![3, 4, 6], vec![1, 1], vec![1, 5]] {
        let g = Gradient2d::<f32>::new(&shape).unwrap();
        check_adjoint(&g, 1, 1e-5);
        check_dense(&g, 1e-5);
        check_dirty_buffer(&g, 3);
        let gc = Gradient2d::<c32>::new(&shape).unwrap();
        check_adjoint(&gc, 2, 1e-5);
        check_dense(&gc, 1e-5);
        let l = Laplacian::<f32>::new(&shape).unwrap();
        check_adjoint(&l, 4, 1e-5);
        check_dense(&l, 1e-5);
    }
    let g = Gradient2d::<f32>::new(&[32, 32]).unwrap();
    let n = norm_estimate(&g, 500, 0);
    assert!(n * n <= 8.0, "||D||² = {} > 8", n * n);
    // the largest eigenvalue of DᵀD on 32x32 is 8 sin²(31π/64)·... ≈ 7.98
    let exact = 4.0 * (31.0 * std::f64::consts::PI / 64.0).sin().powi(2) * 2.0;
    assert!(
        (n * n - exact).abs() < 0.05,
        "||D||² = {} vs {exact}",
        n * n
    );
    let l = Laplacian::<f32>::new(&[16, 16]).unwrap();
    assert!(norm_estimate(&l, 500, 0) <= 8.0);
}

// ---------- norms and indicators ----------

#[test]
fn l1_soft_threshold_known_values_and_checks() {
    let g = L1 { weight: 2.0 };
    let v = ArrayD::from_shape_vec(IxDyn(&[4]), vec![3.0f32, -0.5, -4.0, 1.0]).unwrap();
    let u = g.prox(v.view(), 0.5);
    for (a, b) in u.iter().zip([2.0f32, 0.0, -3.0, 0.0]) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    assert_eq!(Functional::<f32>::value(&g, v.view()), 2.0 * 8.5);
    let v: ArrayD<f32> = random_array(&[6, 5], 1);
    check_prox(&g, &v, 0.3, 1, 1e-5);
    // complex: the modulus shrinks, the phase stays
    let z = ArrayD::from_shape_vec(IxDyn(&[1]), vec![c32::new(3.0, 4.0)]).unwrap();
    let uz = g.prox(z.view(), 1.0);
    assert!((uz[[0]] - c32::new(1.8, 2.4)).norm() < 1e-6);
    let vc: ArrayD<c32> = random_array(&[4, 5], 2);
    check_prox(&g, &vc, 0.4, 2, 1e-5);
}

#[test]
fn squared_l2_and_l2norm() {
    let g = SquaredL2 { weight: 3.0 };
    let v: ArrayD<f32> = random_array(&[5, 4], 3);
    let u = g.prox(v.view(), 0.5);
    assert!(norm2((&u - &v.mapv(|a| a / 2.5)).view()) < 1e-6);
    check_prox(&g, &v, 0.5, 3, 1e-5);
    let vc: ArrayD<c32> = random_array(&[3, 4], 4);
    check_prox(&g, &vc, 0.7, 4, 1e-5);

    let g = L2Norm { weight: 1.5 };
    let v = ArrayD::from_shape_vec(IxDyn(&[2]), vec![3.0f32, 4.0]).unwrap();
    let u = g.prox(v.view(), 2.0); // ||v|| = 5, threshold 3 -> scale 2/5
    assert!((u[[0]] - 1.2).abs() < 1e-6 && (u[[1]] - 1.6).abs() < 1e-6);
    assert!(norm2(g.prox(v.view(), 4.0).view()) == 0.0);
    let v: ArrayD<f32> = random_array(&[4, 4], 5);
    check_prox(&g, &v, 0.5, 5, 1e-5);
    check_prox(&g, &v, 5.0, 6, 1e-5); // threshold above ||v||: prox = 0
    let vc: ArrayD<c32> = random_array(&[4, 3], 6);
    check_prox(&g, &vc, 0.8, 7, 1e-5);
}

#[test]
fn l21_group_threshold_and_checks() {
    let g = L21::new(1.0);
    // one pixel: group (3, 4) of norm 5, threshold 2.5 -> (1.5, 2); another pixel zeroed
    let v = ArrayD::from_shape_vec(IxDyn(&[2, 1, 2]), vec![3.0f32, 1.0, 4.0, 1.0]).unwrap();
    let u = g.prox(v.view(), 2.5);
    assert_eq!(u.as_slice().unwrap(), &[1.5, 0.0, 2.0, 0.0]);
    assert!((Functional::<f32>::value(&g, v.view()) - (5.0 + 2f64.sqrt())).abs() < 1e-6);
    let mut p = ArrayD::zeros(IxDyn(&[2, 1, 2]));
    g.prox_conj_into(v.view(), 1.0, p.view_mut());
    assert!((p[[0, 0, 0]] - 0.6).abs() < 1e-6 && (p[[1, 0, 0]] - 0.8).abs() < 1e-6);
    let v: ArrayD<f32> = random_array(&[2, 5, 4], 8);
    check_prox(&g, &v, 0.7, 8, 1e-5);
    let v: ArrayD<f32> = random_array(&[3, 2, 4, 4], 9);
    check_prox(&L21::new(0.5), &v, 1.3, 9, 1e-5);
    let vc: ArrayD<c32> = random_array(&[2, 4, 3], 10);
    check_prox(&g, &vc, 0.6, 10, 1e-5);
    // pixel_axes = 1: groups are columns of a [G, M] array
    let g1 = L21 {
        weight: 0.8,
        pixel_axes: 1,
    };
    let v: ArrayD<f32> = random_array(&[3, 7], 11);
    check_prox(&g1, &v, 0.9, 11, 1e-5);
}

#[test]
fn indicators_project() {
    let b = BoxConstraint::new(-0.5, 1.0);
    let v = ArrayD::from_shape_vec(IxDyn(&[4]), vec![-2.0f32, 0.3, 1.5, f32::NAN]).unwrap();
    let u = b.prox(v.view(), 1.0);
    assert_eq!(&u.as_slice().unwrap()[..3], &[-0.5, 0.3, 1.0]);
    assert!(u[[3]].is_nan(), "NaN must propagate");
    let inside = ArrayD::from_shape_vec(IxDyn(&[3]), u.as_slice().unwrap()[..3].to_vec()).unwrap();
    let outside = ArrayD::from_shape_vec(IxDyn(&[3]), v.as_slice().unwrap()[..3].to_vec()).unwrap();
    assert_eq!(b.value(inside.view()), 0.0);
    assert_eq!(b.value(outside.view()), f64::INFINITY);
    let v: ArrayD<f32> = random_array(&[5, 5], 12);
    check_prox(&b, &v, 1.0, 12, 1e-6);
    check_prox(&NonNegative, &v, 2.0, 13, 1e-6);
    let u = NonNegative.prox(v.view(), 1.0);
    assert!(norm2((&u - &v.mapv(|a| a.max(0.0))).view()) == 0.0);
}

// ---------- total variation ----------

/// A `rows x (n1 + n2)` image: `a` on the first `n1` columns and `b` on the rest.
fn step_image(rows: usize, n1: usize, n2: usize, a: f32, b: f32) -> ArrayD<f32> {
    ArrayD::from_shape_fn(IxDyn(&[rows, n1 + n2]), |i| if i[1] < n1 { a } else { b })
}

#[test]
fn tv_step_known_answer() {
    // 1-D TV denoising of a step (constant along the rows): with λ(1/n1 + 1/n2) < b − a the
    // solution stays a step, a + λ/n1 on the left and b − λ/n2 on the right (dual field
    // p_j = (j+1)/n1 rising to 1 at the jump, then falling linearly to 0); otherwise the
    // solution is the constant mean.
    let (n1, n2, a, b) = (4usize, 6usize, 1.0f32, 3.0f32);
    let v = step_image(3, n1, n2, a, b);
    for tv in [
        TotalVariation::new(1.0),
        TotalVariation::new(1.0).anisotropic(),
    ] {
        let lambda = 1.5f32;
        let u = tv.clone().with_iters(5000, 1e-9).prox(v.view(), lambda);
        let expect = step_image(3, n1, n2, a + lambda / n1 as f32, b - lambda / n2 as f32);
        let err = (&u - &expect).mapv(f32::abs).fold(0.0f32, |m, &x| m.max(x));
        assert!(err < 1e-4, "step: max error {err}");
        // large λ: constant mean
        let u = tv.clone().with_iters(5000, 1e-9).prox(v.view(), 20.0);
        let mean = (n1 as f32 * a + n2 as f32 * b) / (n1 + n2) as f32;
        let err = u.mapv(|x| (x - mean).abs()).fold(0.0f32, |m, &x| m.max(x));
        assert!(err < 1e-4, "constant: max error {err}");
    }
    // two identical channels, coupled isotropic TV: the jump's group norm is √2 |Δ|, so each
    // channel sees the weight λ/√2
    let v2 = ndarray::stack(ndarray::Axis(0), &[v.view(), v.view()]).unwrap();
    let lambda = 1.5f32;
    let u = TotalVariation::new(1.0)
        .with_iters(5000, 1e-9)
        .prox(v2.view(), lambda);
    let l = lambda / 2f32.sqrt();
    let expect = step_image(3, n1, n2, a + l / n1 as f32, b - l / n2 as f32);
    for ch in 0..2 {
        let err = (&u.index_axis(ndarray::Axis(0), ch) - &expect)
            .mapv(f32::abs)
            .fold(0.0f32, |m, &x| m.max(x));
        assert!(err < 1e-4, "vectorial step: max error {err}");
    }
    // complex: a global phase commutes with the prox
    let phase = c32::from_polar(1.0, 0.7);
    let vc = v.mapv(|x| phase * x);
    let uc = TotalVariation::new(1.0)
        .with_iters(5000, 1e-9)
        .prox(vc.view(), lambda);
    let expect = step_image(3, n1, n2, a + lambda / n1 as f32, b - lambda / n2 as f32);
    let err = (&uc - &expect.mapv(|x| phase * x))
        .mapv(|z| z.norm())
        .fold(0.0f32, |m, &x| m.max(x));
    assert!(err < 1e-4, "complex step: max error {err}");
}

#[test]
fn tv_constant_fixed_point_bounds_and_value() {
    let tv = TotalVariation::new(0.7);
    let c = ArrayD::from_elem(IxDyn(&[6, 5]), 2.5f32);
    let u = tv.prox(c.view(), 3.0);
    assert!(norm2((&u - &c).view()) < 1e-5);
    assert_eq!(Functional::<f32>::value(&tv, c.view()), 0.0);
    // nonnegativity: a negative constant maps to 0
    let neg = ArrayD::from_elem(IxDyn(&[4, 4]), -1.0f32);
    let u = TotalVariation::new(1.0).nonneg().prox(neg.view(), 1.0);
    assert!(u.iter().all(|&x| x == 0.0));
    // value: ramp x[i,j] = j on 3x4 has |∇x| = 1 on 3x3 pixels (last column 0)
    let ramp = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| i[1] as f32);
    assert!((Functional::<f32>::value(&tv, ramp.view()) - 0.7 * 9.0).abs() < 1e-6);
    // isotropic vs anisotropic on a diagonal ramp: |(1,1)| = √2 vs 2 on the 4 pixels with
    // both differences, 1 on the 4 boundary pixels with one
    let diag = ArrayD::from_shape_fn(IxDyn(&[3, 3]), |i| (i[0] + i[1]) as f32);
    let iso = TotalVariation::new(1.0).tv(diag.view());
    let ani = TotalVariation::new(1.0).anisotropic().tv(diag.view());
    assert!((iso - (4.0 * 2f64.sqrt() + 4.0)).abs() < 1e-6, "iso {iso}");
    assert!((ani - 12.0).abs() < 1e-6, "ani {ani}");
}

#[test]
fn tv_prox_checks() {
    let v: ArrayD<f32> = random_array(&[6, 7], 20);
    let tv = TotalVariation::new(1.0).with_iters(20000, 1e-9);
    check_prox(&tv, &v, 0.3, 20, 2e-4);
    check_prox(&tv.clone().anisotropic(), &v, 0.3, 21, 2e-4);
    check_prox(&tv.clone().nonneg(), &v, 0.3, 22, 2e-4);
    let v3: ArrayD<f32> = random_array(&[2, 5, 5], 23);
    check_prox(&tv, &v3, 0.2, 23, 2e-4);
    let vc: ArrayD<c32> = random_array(&[5, 6], 24);
    check_prox(&tv, &vc, 0.25, 24, 2e-4);
    // periodic differences: the prox of the periodic TV (value includes the wrap-around terms)
    let per = tv
        .clone()
        .with_boundary(posterior::transforms::finite_diff::DiffBoundary::Periodic);
    check_prox(&per, &v, 0.3, 25, 2e-4);
    check_prox(&per.clone().anisotropic(), &v3, 0.2, 26, 2e-4);
    check_prox(&per, &vc, 0.25, 27, 2e-4);
    // a periodic ramp has a jump at the wrap: periodic TV > Neumann TV
    let ramp = ArrayD::from_shape_fn(ndarray::IxDyn(&[4, 5]), |i| i[1] as f32);
    assert!(
        (posterior::prox::Functional::value(&per, ramp.view())
            - posterior::prox::Functional::value(&tv, ramp.view())
            - 4.0 * 4.0)
            .abs()
            < 1e-4
    );
}

#[test]
fn tv_warm_start_converges_faster_and_agrees() {
    let v: ArrayD<f32> = random_array(&[32, 32], 30);
    let reference = TotalVariation::new(1.0)
        .with_iters(3000, 1e-9)
        .prox(v.view(), 0.3);
    let warm = TotalVariation::new(1.0)
        .with_iters(20, 0.0)
        .with_warm_start(true);
    let first = warm.prox(v.view(), 0.3);
    let e_first = norm2((&first - &reference).view());
    let mut last = first;
    for _ in 0..10 {
        last = warm.prox(v.view(), 0.3);
    }
    let e_last = norm2((&last - &reference).view());
    assert!(
        e_last < 0.2 * e_first,
        "warm restarts should keep improving: {e_first:.3e} -> {e_last:.3e}"
    );
}

#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn tv_timing_256() {
    let v: ArrayD<f32> = random_array(&[256, 256], 40);
    let tv = TotalVariation::new(1.0).with_iters(20, 0.0);
    let mut out = ArrayD::zeros(IxDyn(&[256, 256]));
    tv.prox_into(v.view(), 0.1, out.view_mut());
    let t = std::time::Instant::now();
    for _ in 0..10 {
        tv.prox_into(v.view(), 0.1, out.view_mut());
    }
    println!(
        "TV prox 256x256, 20 FGP iterations: {:.2} ms",
        t.elapsed().as_secs_f64() * 100.0
    );
}

// ---------- data fidelities ----------

#[test]
fn least_squares_value_gradient_prox() {
    use posterior::ops::Identity;
    use posterior::prox::{Gradient, LeastSquares};
    // A = I: prox is (v + τ y) / (1 + τ)
    let y: ArrayD<f32> = random_array(&[4, 5], 50);
    let f = LeastSquares::new(Identity::<f32>::new(&[4, 5]), y.clone()).unwrap();
    assert!((f.lipschitz().unwrap() - 1.01).abs() < 1e-3);
    let v: ArrayD<f32> = random_array(&[4, 5], 51);
    let u = f.prox(v.view(), 0.5);
    let expect = (&v + &y.mapv(|a| a * 0.5)).mapv(|a| a / 1.5);
    assert!(norm2((&u - &expect).view()) < 1e-5);
    // A = finite differences: gradient by finite differences, Lipschitz ≈ ||D||², prox checks
    let d = Gradient2d::<f32>::new(&[5, 6]).unwrap();
    let y: ArrayD<f32> = random_array(&[2, 5, 6], 52);
    let f = LeastSquares::new(d, y).unwrap();
    let x: ArrayD<f32> = random_array(&[5, 6], 53);
    posterior_testkit::check_gradient(
        |x| f.value(x.view()),
        |x| f.gradient(x.view()),
        &x,
        1e-2,
        54,
        1e-3,
    );
    let l = f.lipschitz().unwrap();
    let exact = 4.0 * (4.0 * std::f64::consts::PI / 10.0).sin().powi(2)
        + 4.0 * (5.0 * std::f64::consts::PI / 12.0).sin().powi(2);
    assert!(
        l >= exact && l < 1.02 * exact,
        "L = {l} vs ||D||² = {exact}"
    );
    check_prox(&f, &x, 0.7, 55, 1e-4);
    // complex operator and data
    let dc = Gradient2d::<c32>::new(&[4, 4]).unwrap();
    let yc: ArrayD<c32> = random_array(&[2, 4, 4], 56);
    let fc = LeastSquares::new(dc, yc).unwrap();
    let vc: ArrayD<c32> = random_array(&[4, 4], 57);
    check_prox(&fc, &vc, 0.4, 57, 1e-4);
}

#[test]
fn poisson_value_gradient_prox() {
    use posterior::ops::Identity;
    use posterior::prox::{Gradient, PoissonLikelihood};
    let y = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.0f32, 1.0, 3.0, 7.0, 0.5, 2.0]).unwrap();
    let f = PoissonLikelihood::new(Identity::<f32>::new(&[2, 3]), y.clone()).unwrap();
    // zero at x = y, infinite for a negative mean, positive elsewhere
    assert!(f.value(y.view()).abs() < 1e-9);
    let mut neg = y.clone();
    neg[[0, 0]] = -0.1;
    assert_eq!(f.value(neg.view()), f64::INFINITY);
    let x = y.mapv(|a| a + 0.7);
    assert!(f.value(x.view()) > 0.0);
    posterior_testkit::check_gradient(
        |x| f.value(x.view()),
        |x| f.gradient(x.view()),
        &x,
        1e-2,
        60,
        1e-3,
    );
    assert!(f.lipschitz().is_none());
    // closed-form prox satisfies τ(1 − y/u) + u − v = 0 and passes the generic checks
    let v =
        ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0.5f32, -2.0, 3.0, 1.0, 0.1, 10.0]).unwrap();
    let tau = 0.8f32;
    let u = f.prox(v.view(), tau);
    for ((&u, &v), &y) in u.iter().zip(v.iter()).zip(y.iter()) {
        if y > 0.0 {
            let r = tau * (1.0 - y / u) + u - v;
            assert!(u > 0.0 && r.abs() < 1e-5, "u = {u}, residual {r}");
        } else {
            assert!((u - (v - tau).max(0.0)).abs() < 1e-6);
        }
    }
    let yb = ArrayD::from_shape_fn(IxDyn(&[4, 4]), |i| (i[0] + 2 * i[1]) as f32 * 0.5);
    let fb = PoissonLikelihood::new(Identity::<f32>::new(&[4, 4]), yb.clone()).unwrap();
    let vb = &yb + &random_array::<f32>(&[4, 4], 61);
    check_prox(&fb, &vb, 0.6, 61, 1e-5);
    // a general operator A = 2 I: gradient 2 (1 − y / (2x)) by finite differences
    let a = posterior::ops::Scaled::new(Identity::<f32>::new(&[2, 3]), 2.0);
    let f2 = PoissonLikelihood::new(a, y.clone()).unwrap();
    posterior_testkit::check_gradient(
        |x| f2.value(x.view()),
        |x| f2.gradient(x.view()),
        &x,
        1e-2,
        62,
        1e-3,
    );
    let g = f2.gradient(x.view());
    for ((&g, &x), &y) in g.iter().zip(x.iter()).zip(y.iter()) {
        assert!((g - 2.0 * (1.0 - y / (2.0 * x))).abs() < 1e-5);
    }
    // invalid counts are refused
    assert!(PoissonLikelihood::new(Identity::<f32>::new(&[2, 3]), y.mapv(|v| -v - 1.0)).is_err());
}

#[test]
fn squared_distance_and_separable_sum() {
    use posterior::prox::{L21, Separable2, SquaredDistance};
    let c: ArrayD<f32> = random_array(&[4, 5], 40);
    let g = SquaredDistance {
        weight: 3.0,
        center: c.clone(),
    };
    let v: ArrayD<f32> = random_array(&[4, 5], 41);
    check_prox(&g, &v, 0.4, 42, 1e-5);
    // a heavy weight: the direct conjugate prox stays accurate where Moreau's identity would not
    let heavy = SquaredDistance {
        weight: 1.4e4,
        center: c.clone(),
    };
    let mut p = v.clone();
    heavy.prox_conj_into(v.view(), 0.011, p.view_mut());
    for ((&pv, &vv), &cv) in p.iter().zip(v.iter()).zip(c.iter()) {
        let want = (1.4e4f64 * (vv as f64 - 0.011 * cv as f64)) / (0.011 + 1.4e4);
        assert!((pv as f64 - want).abs() < 1e-6, "{pv} vs {want}");
    }
    let vc: ArrayD<c32> = random_array(&[3, 4], 43);
    let gc = SquaredDistance {
        weight: 0.5,
        center: random_array::<c32>(&[3, 4], 44),
    };
    check_prox(&gc, &vc, 0.7, 45, 1e-5);
    // separable sum over [4x5 | 2x3x3] blocks
    let l21 = L21::new(0.3);
    let sep = Separable2::new(&g, &[4, 5], &l21, &[2, 3, 3]).with_values(&g, &l21);
    let w: ArrayD<f32> = random_array(&[38], 46);
    check_prox(&sep, &w, 0.6, 47, 1e-5);
}
