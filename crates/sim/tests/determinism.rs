//! The same seed replays the same run; the checker can see a violation when there is one.

use tenge_sim::{SimConfig, run_seed};

#[test]
fn one_seed_run_twice_gives_the_same_chains() {
    let config = SimConfig::new(4);
    for seed in [1, 2985, 42_424] {
        let first = run_seed(seed, &config);
        let second = run_seed(seed, &config);
        assert_eq!(first.chains_digest, second.chains_digest, "seed {seed}");
        assert_eq!(first.events, second.events, "seed {seed}");
        assert_eq!(
            first.committed_blocks, second.committed_blocks,
            "seed {seed}"
        );
        assert!(
            first.violations.is_empty(),
            "seed {seed}: {:?}",
            first.violations
        );
        assert!(
            first.committed_blocks >= 10,
            "seed {seed} committed {}",
            first.committed_blocks
        );
    }
    let other = run_seed(2, &config);
    assert_ne!(run_seed(1, &config).chains_digest, other.chains_digest);
}

#[test]
fn seven_validators_with_two_byzantine_stay_safe_and_live() {
    let config = SimConfig::new(7);
    assert_eq!(config.byzantine, 2);
    for seed in [1006, 1150, 3426] {
        let report = run_seed(seed, &config);
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:?}",
            report.violations
        );
    }
}

#[test]
fn twins_beyond_f_are_caught_forking() {
    // Negative control: two twin pairs among four validators exceed f = 1. Within 200 seeds some
    // run forks, and the checker must say so.
    let mut config = SimConfig::new(4);
    config.twins = 2;
    let forked = (0..200).find(|seed| {
        run_seed(*seed, &config)
            .violations
            .iter()
            .any(|v| v.starts_with("agreement"))
    });
    assert!(
        forked.is_some(),
        "no agreement violation in 200 seeds with twins beyond f"
    );
}

#[test]
fn a_cluster_stopped_all_at_once_resumes_by_itself() {
    let mut config = SimConfig::new(4);
    config.faults = tenge_sim::FaultSet::default();
    config.byzantine = 0;
    config.restart_all_at_ms = Some(3_000);
    for seed in 0..5 {
        let report = run_seed(seed, &config);
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:?}",
            report.violations
        );
        assert!(
            report.committed_blocks >= 20,
            "seed {seed}: {}",
            report.committed_blocks
        );
    }
}

/// Observers follow by range sync from every validator, lying ones included: each lie is
/// refused, none halts an observer, and the observer's chain is checked like a validator's.
#[test]
fn observers_refuse_lying_sync_and_keep_up() {
    let mut config = SimConfig::new(4);
    config.observers = 2;
    config.behaviours = vec![tenge_sim::Behavior::LyingSync];
    let mut refusals = 0;
    for seed in 1000..1010 {
        let report = run_seed(seed, &config);
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:?}",
            report.violations
        );
        assert!(report.committed_blocks >= 10, "seed {seed}");
        refusals += report.sync_refusals;
        assert_eq!(
            run_seed(seed, &config).chains_digest,
            report.chains_digest,
            "seed {seed} replays"
        );
    }
    assert!(refusals > 0, "no lie was told in ten seeds");
}

#[test]
fn the_behaviour_list_parses_and_refuses_unknown_names() {
    use tenge_sim::Behavior;
    assert_eq!(
        Behavior::parse_list("all").unwrap().len(),
        Behavior::SELECTABLE.len()
    );
    assert_eq!(
        Behavior::parse_list("lying-sync, silent,lying-sync").unwrap(),
        vec![Behavior::LyingSync, Behavior::Silent]
    );
    let error = Behavior::parse_list("silent,twin").unwrap_err();
    assert!(error.contains("unknown behaviour `twin`"), "{error}");
}

/// The client runs every kind of transaction the workload has, and the run's small policy
/// limits refuse some issuance; the checker counts issuance against the limits itself.
#[test]
fn the_workload_reaches_every_kind_and_the_policy_limits() {
    let config = SimConfig::new(4);
    let mut applied: std::collections::BTreeMap<&str, u64> = Default::default();
    let mut refused_issues = 0;
    for seed in 1000..1040 {
        let report = run_seed(seed, &config);
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:?}",
            report.violations
        );
        for (kind, (ok, refused)) in &report.outcomes {
            *applied.entry(kind).or_default() += ok;
            if *kind == "issue" {
                refused_issues += refused;
            }
        }
    }
    for kind in [
        "issue",
        "issue_earmarked",
        "freeze",
        "unfreeze",
        "set_policy",
        "transfer",
        "transfer_earmarked",
        "open_wallet",
        "redeem",
    ] {
        assert!(
            applied.get(kind).is_some_and(|n| *n > 0),
            "no {kind} applied in 40 seeds: {applied:?}"
        );
    }
    assert!(refused_issues > 0, "the issuance limits were never reached");
}

/// Client transactions are gossiped between validators through the driver's gossip checks: a
/// garbage validator's invalid batches are caught (a real node would penalise it), no honest
/// node has cause to penalise an honest one, and honest leaders propose only valid transactions.
#[test]
fn invalid_gossip_is_caught_and_never_reaches_an_honest_block() {
    let mut config = SimConfig::new(4);
    config.behaviours = vec![tenge_sim::Behavior::Garbage];
    let mut penalties = 0;
    for seed in 1000..1010 {
        let report = run_seed(seed, &config);
        assert!(
            report.violations.is_empty(),
            "seed {seed}: {:?}",
            report.violations
        );
        penalties += report.gossip_penalties;
    }
    assert!(penalties > 0, "no invalid gossip in ten seeds");
}

#[test]
fn reconfiguration_adds_rotates_and_removes_validators_and_a_late_observer_catches_up() {
    let mut config = SimConfig::new(4).with_reconfiguration();
    config.observers = 1;
    let reports: Vec<_> = (0..12).map(|seed| run_seed(seed, &config)).collect();
    for report in &reports {
        assert!(
            report.violations.is_empty(),
            "seed {}: {:?}",
            report.seed,
            report.violations
        );
        assert!(
            report.epochs >= 1,
            "seed {} never changed the set",
            report.seed
        );
        let (epoch, height) = report
            .late_observer_from
            .unwrap_or_else(|| panic!("seed {}: the late observer never started", report.seed));
        // It caught up from the genesis, past the height it started at (liveness holds it to
        // 10 more blocks), through `epoch` epoch changes.
        assert!(epoch <= report.epochs && height < report.committed_blocks);
    }
    assert!(
        reports
            .iter()
            .any(|r| r.late_observer_from.is_some_and(|(epoch, _)| epoch >= 3)),
        "no late observer joined after three epoch changes in 12 seeds"
    );
    for kind in ["add_validator", "remove_validator", "rotate_validator_key"] {
        let applied: u64 = reports
            .iter()
            .map(|r| r.outcomes.get(kind).map_or(0, |(applied, _)| *applied))
            .sum();
        assert!(applied > 0, "no {kind} applied in 12 seeds");
    }
    // The same seed replays the same run, epoch changes included.
    let again = run_seed(reports[0].seed, &config);
    assert_eq!(again.chains_digest, reports[0].chains_digest);
    assert_eq!(again.epochs, reports[0].epochs);
}
