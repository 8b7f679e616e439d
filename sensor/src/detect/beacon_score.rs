//! The beaconing score, after RITA's: a beacon's connections come at regular intervals,
//! carry similar sizes, spread over the hours it is alive, and last through the
//! observation. Each sub-score is 0-1; the score is their weighted mean.
//!
//! - interval: 1 - |Bowley skewness| and 1 - MAD/median of the gaps between connections;
//! - size: the same of the bytes each connection sent;
//! - histogram: the share of the 24 equal slices of the connections' span that hold one;
//! - duration: the connections' span against the whole observation's.

use serde::{Deserialize, Serialize};

/// The sub-scores and the score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BeaconScore {
    /// Regularity of the gaps.
    pub interval: f64,
    /// Regularity of the sizes.
    pub size: f64,
    /// Spread over the span.
    pub histogram: f64,
    /// Span against the observation.
    pub duration: f64,
    /// The weighted mean.
    pub score: f64,
    /// The median gap, seconds.
    pub median_interval_s: f64,
}

/// The `q` quantile of sorted values, interpolated (0 for none).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// 1 - |Bowley skewness| averaged with 1 - MAD/median: 1 for perfectly regular values.
pub fn regularity(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let (q1, q2, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
    // As RITA does, no skew when the median sits on a quartile: most gaps are equal and
    // the rest are jitter, which Bowley's formula would call maximally skewed. Likewise
    // when the quartiles lie within 5% of the median: milliseconds of scheduling jitter
    // around a steady rhythm have no shape worth scoring.
    let skew = if q3 - q1 > f64::EPSILON.max(0.05 * q2.abs())
        && (q2 - q1).abs() > f64::EPSILON
        && (q3 - q2).abs() > f64::EPSILON
    {
        (q3 + q1 - 2.0 * q2) / (q3 - q1)
    } else {
        0.0
    };
    let mut dev: Vec<f64> = v.iter().map(|x| (x - q2).abs()).collect();
    dev.sort_by(f64::total_cmp);
    let mad = quantile(&dev, 0.5);
    let mad_score = if q2 > f64::EPSILON {
        1.0 - (mad / q2).min(1.0)
    } else if mad > f64::EPSILON {
        0.0
    } else {
        1.0
    };
    f64::midpoint(1.0 - skew.abs().min(1.0), mad_score)
}

/// Scores connections at `times` (seconds, any order) that sent `sizes` bytes, within an
/// observation lasting `observed_s` seconds. `None` with fewer than four connections.
pub fn score(times: &[f64], sizes: &[f64], observed_s: f64) -> Option<BeaconScore> {
    if times.len() < 4 {
        return None;
    }
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    let gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    let span = t[t.len() - 1] - t[0];
    if span <= 0.0 {
        return None;
    }
    let interval = regularity(&gaps);
    let size = regularity(sizes);
    let mut slices = [false; 24];
    for x in &t {
        let i = (((x - t[0]) / span) * 24.0).floor() as usize;
        slices[i.min(23)] = true;
    }
    // A beacon with fewer connections than slices can fill at most that many.
    let fillable = t.len().min(24) as f64;
    let histogram = slices.iter().filter(|s| **s).count() as f64 / fillable;
    let duration = if observed_s > 0.0 {
        (span / observed_s).min(1.0)
    } else {
        1.0
    };
    let mut g = gaps.clone();
    g.sort_by(f64::total_cmp);
    let score = 0.4 * interval + 0.2 * size + 0.2 * histogram + 0.2 * duration;
    Some(BeaconScore {
        interval,
        size,
        histogram,
        duration,
        score,
        median_interval_s: quantile(&g, 0.5),
    })
}

#[cfg(test)]
mod tests {
    use super::score;

    #[test]
    fn a_regular_beacon_scores_high_and_random_traffic_low() {
        // Every 60 s with 2 s of jitter, 300 bytes each, over the whole hour observed.
        let times: Vec<f64> = (0..60)
            .map(|i| f64::from(i) * 60.0 + f64::from((i * 7) % 5) - 2.0)
            .collect();
        let sizes = vec![300.0; 60];
        let beacon = score(&times, &sizes, 3600.0).unwrap();
        assert!(beacon.score > 0.9, "{beacon:?}");
        assert!((beacon.median_interval_s - 60.0).abs() < 5.0);

        // Bursty browsing: clustered times, varied sizes.
        let mut rng = fastrand::Rng::with_seed(7);
        let times: Vec<f64> = (0..60)
            .map(|i| f64::from(i / 10) * 600.0 + rng.f64() * 30.0)
            .collect();
        let sizes: Vec<f64> = (0..60).map(|_| rng.f64() * 50_000.0).collect();
        let browsing = score(&times, &sizes, 3600.0).unwrap();
        assert!(browsing.score < 0.6, "{browsing:?}");
        assert!(score(&times[..3], &sizes[..3], 3600.0).is_none());
    }

    #[test]
    fn scheduling_jitter_is_a_rhythm_and_hourly_visits_are_not() {
        // A poll every 2 s that the scheduler delays by 5-30 ms.
        let mut rng = fastrand::Rng::with_seed(3);
        let mut t = 0.0;
        let times: Vec<f64> = (0..12)
            .map(|_| {
                t += 2.0 + 0.005 + rng.f64() * 0.025;
                t
            })
            .collect();
        let poll = score(&times, &[600.0; 12], 30.0).unwrap();
        assert!(poll.interval > 0.95, "{poll:?}");

        // A person opening the same site at a random minute of most hours.
        let mut times = Vec::new();
        for h in 0..24 {
            if rng.f64() < 0.6 {
                times.push(f64::from(h) * 3600.0 + rng.f64() * 3540.0);
            }
        }
        let sizes: Vec<f64> = times.iter().map(|_| 500.0 + rng.f64() * 9000.0).collect();
        let visits = score(&times, &sizes, 86_400.0).unwrap();
        assert!(visits.interval < 0.8, "{visits:?}");
    }
}
