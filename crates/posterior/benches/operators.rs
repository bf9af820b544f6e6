//! Criterion benchmarks: apply + adjoint of every operator family at 256x256 and 512x512.
//!
//! Run with `cargo bench -p posterior --bench operators`; figures go to BENCHMARKS.md.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use posterior::AnyOperator;
use posterior::ops::{LinearOperator, build_operator};

const SPECS: &[&str] = &[
    "denoise",
    "blur:kernel=gaussian,size=9,std=1.6,boundary=circular",
    "blur:kernel=gaussian,size=9,std=1.6,boundary=zero",
    "blur:kernel=gaussian,size=9,std=1.6,boundary=reflect",
    "blur:kernel=motion,length=21,angle=30,boundary=reflect",
    "sr:factor=2",
    "sr:factor=4",
    "inpaint:keep=0.3,seed=0",
    "cs:ratio=0.25,kind=fast,seed=0",
    "mri:accel=4,center=0.08,seed=0",
    "ct:angles=60",
    "ct:angles=180",
];

fn round_trip<O: LinearOperator + ?Sized>(op: &O, c: &mut Criterion, id: BenchmarkId) {
    let x = posterior_testkit::random_array::<O::Domain>(op.domain_shape(), 0);
    let mut y =
        ndarray::ArrayD::from_elem(ndarray::IxDyn(op.range_shape()), posterior::Scalar::zero());
    let mut xb = x.clone();
    c.bench_with_input(id, &(), |b, _| {
        b.iter(|| {
            op.apply_into(x.view(), y.view_mut());
            op.adjoint_into(y.view(), xb.view_mut());
        })
    });
}

fn operators(c: &mut Criterion) {
    for &n in &[256usize, 512] {
        for spec in SPECS {
            let op = build_operator(spec, &[n, n]).expect("bench spec builds");
            let id = BenchmarkId::new(format!("apply+adjoint/{spec}"), n);
            match &op {
                AnyOperator::Real(a) => round_trip(a, c, id),
                AnyOperator::RealToComplex(a) => round_trip(a, c, id),
                AnyOperator::Complex(a) => round_trip(a, c, id),
            }
        }
    }
    // the dense Gaussian matrix is only practical at small sizes
    let op = build_operator("cs:ratio=0.25,kind=gaussian,seed=0", &[64, 64]).expect("cs");
    if let AnyOperator::Real(a) = &op {
        round_trip(
            a,
            c,
            BenchmarkId::new("apply+adjoint/cs:ratio=0.25,kind=gaussian", 64),
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(2));
    targets = operators
}
criterion_main!(benches);
