//! `tenge-sim`: runs the seeded cluster simulator over a range of seeds.
//!
//! ```text
//! cargo run --release -p tenge-sim -- --seeds 1000..3000 --validators 4 --faults all --observers 1
//! ```
//! Prints one line per failing seed with the command that replays it, then
//! `seeds: S, violations: V, committed blocks: B, elapsed: T s`. Exits 0 only if V is 0.

use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use clap::Parser;
use tenge_sim::{Behavior, FaultSet, SeedReport, SimConfig, epochs_line, outcomes_line, run_seed};

#[derive(Parser, Debug)]
#[command(
    name = "tenge-sim",
    about = "Seeded fault-injecting simulator of a tenge cluster"
)]
struct Args {
    /// Seeds to run: `A..B` (B excluded), or a single seed.
    #[arg(long, default_value = "0..100")]
    seeds: String,
    /// Validators in the cluster.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Faults to inject: `all`, `none`, or a list of drop,duplicate,reorder,delay,partition,crash,skew.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Byzantine validators (default f = (validators - 1) / 3).
    #[arg(long)]
    byzantine: Option<usize>,
    /// Validators run as twin pairs (two nodes sharing one key), counted as Byzantine.
    #[arg(long, default_value_t = 0)]
    twins: usize,
    /// Byzantine behaviours to choose from: `all`, or a list of silent, garbage, equivocator,
    /// double-voter, bad-signatures, lying-sync.
    #[arg(long, default_value = "all")]
    byzantine_behaviours: String,
    /// Observers (follow by range sync, never vote), checked like honest validators.
    #[arg(long, default_value_t = 0)]
    observers: usize,
    /// Change the validator set during the run: a spare validator added, keys rotated and
    /// validators removed by k-of-m transactions, across the faults and Byzantine behaviours;
    /// and an observer with an empty store that joins after three epoch changes (or the heal).
    #[arg(long)]
    reconfigure: bool,
    /// Worker threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print a line for every seed, not only failing ones.
    #[arg(long)]
    verbose: bool,
}

fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let bad = || format!("--seeds `{text}`: expected A..B or a number");
    match text.split_once("..") {
        Some((a, b)) => {
            let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if a >= b {
                return Err(format!("--seeds `{text}` is empty"));
            }
            Ok((a..b).collect())
        }
        None => Ok(vec![text.parse().map_err(|_| bad())?]),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seeds = match parse_seeds(&args.seeds) {
        Ok(seeds) => seeds,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let faults = match FaultSet::parse(&args.faults) {
        Ok(faults) => faults,
        Err(error) => {
            eprintln!("error: --faults: {error}");
            return ExitCode::from(2);
        }
    };
    let behaviours = match Behavior::parse_list(&args.byzantine_behaviours) {
        Ok(list) if !list.is_empty() => list,
        Ok(_) => {
            eprintln!("error: --byzantine-behaviours: the list is empty");
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("error: --byzantine-behaviours: {error}");
            return ExitCode::from(2);
        }
    };
    if args.observers > 16 {
        eprintln!("error: --observers must be at most 16");
        return ExitCode::from(2);
    }
    if args.validators == 0 || args.validators > 64 {
        eprintln!("error: --validators must be between 1 and 64");
        return ExitCode::from(2);
    }
    let mut config = SimConfig::new(args.validators);
    config.faults = faults;
    config.twins = args.twins;
    config.behaviours = behaviours;
    config.observers = args.observers;
    if let Some(byzantine) = args.byzantine {
        config.byzantine = byzantine;
    }
    if args.reconfigure {
        config = config.with_reconfiguration();
    }
    let replay = |seed: u64| {
        let mut command = format!(
            "cargo run --release -p tenge-sim -- --seeds {seed} --validators {} --faults {}",
            args.validators, args.faults
        );
        if let Some(byzantine) = args.byzantine {
            command += &format!(" --byzantine {byzantine}");
        }
        if args.twins > 0 {
            command += &format!(" --twins {}", args.twins);
        }
        if args.byzantine_behaviours != "all" {
            command += &format!(" --byzantine-behaviours {}", args.byzantine_behaviours);
        }
        if args.observers > 0 {
            command += &format!(" --observers {}", args.observers);
        }
        if args.reconfigure {
            command += " --reconfigure";
        }
        command
    };

    let started = Instant::now();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<SeedReport>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(index) else { break };
                    let report = run_seed(seed, &config);
                    if args.verbose || !report.violations.is_empty() {
                        eprintln!("{}", report.summary());
                    }
                    reports.lock().expect("reports lock").push(report);
                }
            });
        }
    });
    let mut reports = reports.into_inner().expect("reports lock");
    reports.sort_by_key(|r| r.seed);
    let mut violations = 0;
    let mut committed = 0;
    for report in &reports {
        committed += report.committed_blocks;
        if !report.violations.is_empty() {
            violations += report.violations.len();
            println!(
                "seed {} failed: {}; replay: {}",
                report.seed,
                report.violations.join("; "),
                replay(report.seed)
            );
        }
    }
    println!("{}", outcomes_line(&reports));
    println!("{}", epochs_line(&reports));
    println!(
        "seeds: {}, violations: {violations}, committed blocks: {committed}, elapsed: {:.1} s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    if violations == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
