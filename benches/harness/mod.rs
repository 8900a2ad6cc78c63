//! A small interleaved A/B harness shared by the benches (no criterion: the comparison we want is
//! "this crate against 0.1.4 in the same process, under the same noise").
//!
//! Each case runs both sides in alternating batches (A B, B A, A B, ...), so a burst of noise
//! from other processes hits both; the reported figure is the median of the per-batch ns/op.
//! `JDB_BENCH_QUICK=1` shrinks the time budget; `JDB_BENCH_FILTER=text` runs only cases whose
//! name contains `text`.
//!
//! `compare_many` puts more than two sides in one case (the recycling cases); only
//! `benches/compare.rs` uses it.

#![allow(dead_code)] // each includer uses part of it

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

/// `true` when run by `cargo bench` (which passes `--bench`); `cargo test --all-targets` runs
/// `harness = false` benches too, and should not spend minutes on them.
pub fn run_by_cargo_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Time budget and sample limits of one run.
pub struct Bench {
    quick: bool,
    filter: Option<String>,
    rows: Vec<Row>,
    labels: (&'static str, &'static str),
    many: Vec<ManyRow>,
}

/// One case measured on several sides ([`Bench::compare_many`]): a median per side, `None` where
/// a side has no such operation.
struct ManyRow {
    name: String,
    ns: Vec<Option<f64>>,
    samples: usize,
}

/// One side of a [`Bench::compare_many`] case: something that runs a batch of one operation.
/// Every `FnMut() -> R` is one (its result goes through `black_box`); the batch loop is
/// monomorphised, so only the call per batch is dynamic.
pub trait Side {
    /// Runs the operation `iters` times; returns ns per operation.
    fn batch(&mut self, iters: usize) -> f64;
}

impl<F: FnMut() -> R, R> Side for F {
    fn batch(&mut self, iters: usize) -> f64 {
        batch_ns(self, iters)
    }
}

/// One measured case.
struct Row {
    name: String,
    a_ns: f64,
    b_ns: f64,
    samples: usize,
}

impl Bench {
    /// A run comparing side `a` (printed first) with side `b`, configured from the environment.
    pub fn from_env(a: &'static str, b: &'static str) -> Self {
        let quick = std::env::var_os("JDB_BENCH_QUICK").is_some_and(|v| v != "0");
        let filter = std::env::var("JDB_BENCH_FILTER")
            .ok()
            .filter(|f| !f.is_empty());
        Self {
            quick,
            filter,
            rows: Vec::new(),
            labels: (a, b),
            many: Vec::new(),
        }
    }

    /// Whether a case named `name` passes the filter.
    pub fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }

    /// Measures one operation of side `a` against one of side `b`, interleaved, and records the
    /// medians. Each closure performs exactly one operation; its result goes through
    /// `black_box`.
    pub fn compare<A, B, RA, RB>(&mut self, name: &str, mut a: A, mut b: B)
    where
        A: FnMut() -> RA,
        B: FnMut() -> RB,
    {
        if !self.wants(name) {
            return;
        }
        let (batch, budget, min_samples, max_samples) = if self.quick {
            (Duration::from_millis(2), Duration::from_millis(1200), 3, 41)
        } else {
            (Duration::from_millis(10), Duration::from_secs(6), 9, 201)
        };
        // Warm up both sides (first-touch of allocator state, code paths) and estimate the cost.
        let per_op = time_once(&mut a).max(time_once(&mut b));
        let iters = (batch.as_nanos() / per_op.as_nanos().max(1)).clamp(1, 1_000_000) as usize;
        let per_sample = per_op * iters as u32 * 2;
        let samples = (budget.as_nanos() / per_sample.as_nanos().max(1))
            .clamp(min_samples, max_samples) as usize;

        let mut a_ns = Vec::with_capacity(samples);
        let mut b_ns = Vec::with_capacity(samples);
        for s in 0..samples {
            if s % 2 == 0 {
                a_ns.push(batch_ns(&mut a, iters));
                b_ns.push(batch_ns(&mut b, iters));
            } else {
                b_ns.push(batch_ns(&mut b, iters));
                a_ns.push(batch_ns(&mut a, iters));
            }
        }
        let row = Row {
            name: name.to_owned(),
            a_ns: median(&mut a_ns),
            b_ns: median(&mut b_ns),
            samples,
        };
        eprintln!(
            "  {:<48} {:>14} {:>14} {:>8.3}",
            row.name,
            fmt_ns(row.a_ns),
            fmt_ns(row.b_ns),
            row.a_ns / row.b_ns
        );
        self.rows.push(row);
    }

    /// Measures one operation on each of several sides (`None`: the side has no such operation),
    /// interleaved in rotating order, and records the medians; returns them when the case ran.
    pub fn compare_many(
        &mut self,
        name: &str,
        sides: &mut [Option<&mut dyn Side>],
    ) -> Option<Vec<Option<f64>>> {
        if !self.wants(name) {
            return None;
        }
        let (batch, budget, min_samples, max_samples) = if self.quick {
            (Duration::from_millis(2), Duration::from_millis(800), 3, 31)
        } else {
            (Duration::from_millis(10), Duration::from_secs(4), 9, 101)
        };
        // Warm-up (first touches, lazy initialisation), then a cost estimate from batches long
        // enough to time: the slowest side sets the batch length.
        let mut per_op = Duration::ZERO;
        for side in sides.iter_mut().flatten() {
            side.batch(1);
            let mut k = 1;
            let ns = loop {
                let ns = side.batch(k);
                if ns * k as f64 >= 100_000.0 || k >= 1 << 16 {
                    break ns;
                }
                k *= 4;
            };
            per_op = per_op.max(Duration::from_nanos(ns.ceil() as u64));
        }
        let iters = (batch.as_nanos() / per_op.as_nanos().max(1)).clamp(1, 1_000_000) as usize;
        let present = sides.iter().flatten().count().max(1) as u32;
        let per_sample = per_op * iters as u32 * present;
        let samples = (budget.as_nanos() / per_sample.as_nanos().max(1))
            .clamp(min_samples, max_samples) as usize;
        let mut ns: Vec<Vec<f64>> = vec![Vec::with_capacity(samples); sides.len()];
        for s in 0..samples {
            // Rotate the starting side so that no side always runs right after another.
            for k in 0..sides.len() {
                let i = (s + k) % sides.len();
                if let Some(side) = sides[i].as_mut() {
                    ns[i].push(side.batch(iters));
                }
            }
        }
        let medians: Vec<Option<f64>> = ns
            .iter_mut()
            .map(|v| (!v.is_empty()).then(|| median(v)))
            .collect();
        let shown: Vec<String> = medians
            .iter()
            .map(|m| m.map_or_else(|| "-".to_owned(), fmt_ns))
            .collect();
        eprintln!("  {name:<48} {}", shown.join(" / "));
        self.many.push(ManyRow {
            name: name.to_owned(),
            ns: medians.clone(),
            samples,
        });
        Some(medians)
    }

    /// Prints every [`compare_many`](Self::compare_many) case as a Markdown table: one column
    /// per side (`labels`, in the order the sides were given), then `ratios`, each
    /// `(numerator, denominator)` as indices into the sides.
    pub fn print_many_table(&self, title: &str, labels: &[&str], ratios: &[(usize, usize)]) {
        println!("\n### {title}\n");
        let mut head = String::from("| case |");
        let mut rule = String::from("|---|");
        for l in labels {
            head += &format!(" {l} ns/op |");
            rule += "---:|";
        }
        for &(a, b) in ratios {
            head += &format!(" {}/{} |", labels[a], labels[b]);
            rule += "---:|";
        }
        println!("{head} samples |\n{rule}---:|");
        for r in &self.many {
            let mut line = format!("| {} |", r.name);
            for v in &r.ns {
                line += &format!(" {} |", v.map_or_else(|| "-".to_owned(), fmt_ns));
            }
            for &(a, b) in ratios {
                match (
                    r.ns.get(a).copied().flatten(),
                    r.ns.get(b).copied().flatten(),
                ) {
                    (Some(x), Some(y)) => line += &format!(" {:.2} |", x / y),
                    _ => line += " - |",
                }
            }
            println!("{line} {} |", r.samples);
        }
    }

    /// Prints every recorded case as a Markdown table.
    pub fn print_table(&self, title: &str) {
        let (a, b) = self.labels;
        println!("\n### {title}\n");
        println!("| case | {a} ns/op | {b} ns/op | {a}/{b} | samples |");
        println!("|---|---:|---:|---:|---:|");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {:.3} | {} |",
                r.name,
                fmt_ns(r.a_ns),
                fmt_ns(r.b_ns),
                r.a_ns / r.b_ns,
                r.samples
            );
        }
    }
}

fn time_once<R>(f: &mut impl FnMut() -> R) -> Duration {
    let t = Instant::now();
    black_box(f());
    t.elapsed()
}

fn batch_ns<R>(f: &mut impl FnMut() -> R, iters: usize) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// ns/op with digit grouping, and one decimal below 100 ns.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 100.0 {
        return format!("{ns:.1}");
    }
    let digits = format!("{:.0}", ns);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
