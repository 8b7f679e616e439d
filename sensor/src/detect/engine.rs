//! Records in, breaches out. For each record: every enabled model whose filter admits it
//! runs its detector against the baselines as they were; findings are scored (the model's
//! score times the finding's strength) and throttled per model and key in record time;
//! then the baselines learn the record. Breaches are stored with their evidence and entered
//! in the device's event log.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use tracing::{info, warn};

pub use super::arp::{ARP, arp_record};
use super::{
    Breach, Evidence, Finding,
    baseline::{self, Baselines},
    detectors::{self, Ctx, Detector},
    hourly::Measure,
    model::{self, Model, ModelError},
};
use crate::{
    capture::ConnRecord,
    store::{Store, StoreError},
};

/// A model with its detector.
struct Active {
    model: Model,
    detector: Box<dyn Detector>,
}

/// The detection engine.
pub struct Engine {
    models: Vec<Active>,
    internal: Vec<IpNet>,
    baseline: Baselines,
    /// Last breach time per (model, key).
    throttle: HashMap<(String, String), DateTime<Utc>>,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("models", &self.models.len())
            .finish_non_exhaustive()
    }
}

/// Throttle entries kept; the oldest go first.
const MAX_THROTTLE: usize = 100_000;

impl Engine {
    /// An engine running the enabled `models`, with `internal` as the inside networks.
    pub fn new(models: Vec<Model>, internal: Vec<IpNet>) -> Result<Self, ModelError> {
        let mut active = Vec::new();
        // Combined models judge EDR alerts with breaches: fusion runs them, not this.
        for model in models
            .into_iter()
            .filter(|m| m.enabled && m.detector != crate::fusion::combined::DETECTOR)
        {
            let detector = detectors::build(&model)?;
            active.push(Active { model, detector });
        }
        Ok(Self {
            models: active,
            internal,
            baseline: Baselines::default(),
            throttle: HashMap::new(),
            first: None,
            last: None,
        })
    }

    /// Whether `device`'s pattern of life holds a connection to `peer` on `port`: it used
    /// the port before, and the peer too if it is outside (or an inside host on an admin
    /// service). What enforcing a pattern of life lets through.
    pub fn usual(
        &self,
        device: i64,
        peer: std::net::IpAddr,
        port: u16,
        proto: u8,
        inside: bool,
        ts_ns: i64,
    ) -> bool {
        let b = &self.baseline;
        let seen = |f, v: &str| b.device_count(device, f, v, ts_ns) > 0.0;
        let port_ok = seen(
            baseline::Feature::PortUsed,
            &format!("{}/{port}", crate::capture::live_flow::proto_name(proto)),
        );
        let peer_ok = if !inside {
            seen(baseline::Feature::ExternalEndpoint, &peer.to_string())
        } else if proto == 6 && baseline::ADMIN_PORTS.contains(&port) {
            seen(baseline::Feature::AdminPeer, &peer.to_string())
        } else {
            true
        };
        port_ok && peer_ok
    }

    /// The names of the models it runs.
    pub fn model_names(&self) -> Vec<&str> {
        self.models.iter().map(|a| a.model.name.as_str()).collect()
    }

    /// Loads the baselines the store holds, if any.
    pub fn restore(&mut self, store: &mut Store) -> Result<(), StoreError> {
        if let Some(blob) = store.load_baseline()? {
            match serde_json::from_slice(&blob) {
                Ok(b) => {
                    self.baseline = b;
                    self.baseline.regroup_tagged(&store.all_device_tags()?);
                    info!(
                        devices = self.baseline.device_count_total(),
                        "restored the baselines"
                    );
                }
                Err(err) => {
                    warn!(error = %err, "the stored baselines are unreadable; learning afresh");
                }
            }
        }
        Ok(())
    }

    /// Regroups peers (by tag, else by behaviour) and saves the baselines to the store, with
    /// the groups where fusion reads them.
    pub fn save(&mut self, store: &mut Store) -> Result<(), StoreError> {
        self.baseline.regroup_tagged(&store.all_device_tags()?);
        store.set_peer_groups(&self.baseline.groups())?;
        let blob = serde_json::to_vec(&self.baseline).unwrap_or_default();
        store.save_baseline(&blob, Utc::now())
    }

    /// Judges `records` (in any order; each is judged on its own time) and learns them.
    /// Within one batch, a model's findings on the same key are coalesced into the last
    /// (which has seen the most: a 100-port scan swept at once is one breach about 100
    /// ports, not one about the 30th).
    pub fn observe(&mut self, records: &[ConnRecord]) -> Vec<Breach> {
        self.judge(records, false)
    }

    /// Judges provisional records of connections still open, with the models whose
    /// detectors judge open connections (long connections, beacons inside one connection);
    /// nothing is learned from them (their final records teach the baselines).
    pub fn observe_open(&mut self, records: &[ConnRecord]) -> Vec<Breach> {
        self.judge(records, true)
    }

    fn judge(&mut self, records: &[ConnRecord], open: bool) -> Vec<Breach> {
        let mut sorted: Vec<&ConnRecord> = records.iter().collect();
        sorted.sort_by_key(|r| r.ts);
        let mut found: Vec<(usize, Finding)> = Vec::new();
        for r in sorted {
            if !open {
                self.first = Some(self.first.map_or(r.ts, |f| f.min(r.ts)));
                self.last = Some(self.last.map_or(r.ts, |l| l.max(r.ts)));
            }
            let observed_s = match (self.first, self.last) {
                (Some(f), Some(l)) => (l - f).num_milliseconds() as f64 / 1000.0,
                _ => 0.0,
            };
            let orig_inside = model::inside(&self.internal, r.orig_h);
            let resp_inside = model::inside(&self.internal, r.resp_h);
            // Once per record: the rarity models and the learning read the same values.
            let features = if r.proto == ARP {
                Vec::new()
            } else {
                baseline::features(r, orig_inside, resp_inside)
            };
            for (i, active) in self.models.iter_mut().enumerate() {
                if (open && !active.detector.judges_open())
                    || !active.model.filter.admits(r, orig_inside, resp_inside)
                {
                    continue;
                }
                // ARP pseudo-records go only to models that ask for them by name.
                if r.proto == ARP && !active.model.filter.protocols.iter().any(|p| p == ARP) {
                    continue;
                }
                let ctx = Ctx {
                    record: r,
                    orig_inside,
                    resp_inside,
                    baseline: &self.baseline,
                    features: &features,
                    observed_s,
                    window: active.model.window,
                };
                for finding in active.detector.observe(&ctx) {
                    match found
                        .iter_mut()
                        .find(|(m, f)| *m == i && f.key == finding.key)
                    {
                        Some(slot) => slot.1 = finding,
                        None => found.push((i, finding)),
                    }
                }
            }
            if !open {
                self.learn(r, orig_inside, resp_inside, features);
            }
        }
        found
            .into_iter()
            .filter_map(|(i, f)| score(&mut self.throttle, &self.models[i].model, f))
            .collect()
    }

    fn learn(
        &mut self,
        r: &ConnRecord,
        orig_inside: bool,
        resp_inside: bool,
        features: Vec<(baseline::Feature, String)>,
    ) {
        use chrono::Timelike as _;
        if r.proto == ARP {
            return;
        }
        let ts = r.ts.timestamp_nanos_opt().unwrap_or(i64::MAX);
        let device = r.device_id.filter(|_| orig_inside);
        if let Some(device) = device {
            self.baseline
                .device_mut(device, &baseline::group_of(r.orig_h), ts);
            self.baseline.hold(r.orig_h, device);
            self.baseline.add_hour(device, r.ts.hour() as usize);
            self.baseline
                .add_hourly(device, Measure::Connections, ts, 1);
            if !resp_inside {
                self.baseline
                    .add_hourly(device, Measure::BytesOut, ts, r.orig_bytes);
                self.baseline
                    .add_hourly(device, Measure::BytesIn, ts, r.resp_bytes);
            }
        }
        let server = self.baseline.holder(r.resp_h);
        for (feature, value) in features {
            // A service is the responder's; everything else the originator's.
            let owner = if feature == baseline::Feature::PortServed {
                server
            } else {
                device
            };
            if let Some(owner) = owner {
                self.baseline.learn(owner, feature, &value, ts);
            }
        }
    }
}

/// Scores and throttles a finding.
fn score(
    throttle: &mut HashMap<(String, String), DateTime<Utc>>,
    model: &Model,
    f: Finding,
) -> Option<Breach> {
    let key = (model.name.clone(), f.key.clone());
    let every = chrono::Duration::from_std(model.throttle).unwrap_or(chrono::Duration::MAX);
    if let Some(last) = throttle.get(&key)
        && f.ts < *last + every
        && f.ts >= *last
    {
        return None;
    }
    if throttle.len() >= MAX_THROTTLE
        && let Some(oldest) = throttle
            .iter()
            .min_by_key(|(_, t)| **t)
            .map(|(k, _)| k.clone())
    {
        throttle.remove(&oldest);
    }
    throttle.insert(key, f.ts);
    let score = (f64::from(model.score) * f.strength.clamp(0.0, 1.0)).round() as u8;
    Some(Breach {
        id: 0,
        model: model.name.clone(),
        model_version: model.version,
        device_id: f.device_id,
        ts: f.ts,
        score,
        evidence: Evidence {
            key: f.key,
            summary: f.summary,
            metrics: f.metrics,
            connections: f.connections,
        },
    })
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::{Engine, arp_record};
    use crate::{capture::ConnRecord, detect::model, store::Store};

    fn conn(ts: DateTime<Utc>, from: &str, to: &str, port: u16) -> ConnRecord {
        let mut r = arp_record(ts, from.parse().unwrap(), to.parse().unwrap(), Some(1));
        r.proto = "tcp".into();
        r.uid = format!("C{}", ts.timestamp());
        r.orig_p = 50_000;
        r.resp_p = port;
        r.orig_bytes = 500;
        r.resp_bytes = 5_000;
        r.resp_pkts = 5;
        r.conn_state = "SF".into();
        r
    }

    fn engine() -> Engine {
        Engine::new(
            model::load(None).unwrap(),
            vec!["10.0.0.0/8".parse().unwrap()],
        )
        .unwrap()
    }

    #[test]
    fn a_learned_device_reaching_a_new_endpoint_breaches_and_the_baseline_survives_a_restart() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut e = engine();
        // Eight days of the same habit: one web server, a few times an hour.
        let mut ts = t0;
        while ts < t0 + Duration::days(8) {
            let b = e.observe(&[conn(ts, "10.0.0.5", "203.0.113.1", 443)]);
            assert!(
                b.iter().all(|b| b.model != "rare-external-endpoint"),
                "{b:?}"
            );
            ts += Duration::minutes(17);
        }
        let novel = conn(ts, "10.0.0.5", "198.51.100.99", 443);
        let breaches = e.observe(std::slice::from_ref(&novel));
        let rare = breaches
            .iter()
            .find(|b| b.model == "rare-external-endpoint")
            .unwrap_or_else(|| panic!("{breaches:?}"));
        assert_eq!(rare.device_id, Some(1));
        assert!(rare.evidence.summary.contains("198.51.100.99"));

        // Saved and restored, the engine remembers both endpoints.
        let mut store = Store::open_in_memory().unwrap();
        e.save(&mut store).unwrap();
        let mut again = engine();
        again.restore(&mut store).unwrap();
        let later = conn(ts + Duration::days(2), "10.0.0.5", "198.51.100.99", 443);
        let b = again.observe(&[later]);
        assert!(
            b.iter().all(|b| b.model != "rare-external-endpoint"),
            "learned before the restart: {b:?}"
        );
        let other = conn(ts + Duration::days(2), "10.0.0.5", "198.51.100.100", 443);
        assert!(
            again
                .observe(&[other])
                .iter()
                .any(|b| b.model == "rare-external-endpoint"),
            "and still knows the device is learned"
        );
    }

    /// An engine running only the shipped model `name`.
    fn only(name: &str) -> Engine {
        let m = model::load(None)
            .unwrap()
            .into_iter()
            .filter(|m| m.name == name)
            .collect();
        Engine::new(m, vec!["10.0.0.0/8".parse().unwrap()]).unwrap()
    }

    fn dns(ts: DateTime<Utc>, query: &str) -> ConnRecord {
        let mut r = conn(ts, "10.0.0.5", "198.51.100.53", 53);
        r.proto = "udp".into();
        r.uid = format!("C{query}");
        r.app.dns = Some(crate::capture::protocols::dns::Dns {
            query: query.into(),
            qtype: "A".into(),
            ..Default::default()
        });
        r
    }

    #[test]
    fn each_shipped_detector_fires_on_its_behaviour_and_not_on_ordinary_traffic() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let fires = |name: &str, records: Vec<ConnRecord>| {
            let mut e = only(name);
            records
                .iter()
                .any(|r| !e.observe(std::slice::from_ref(r)).is_empty())
        };
        let secs = |s: i64| t0 + Duration::seconds(s);

        // DNS tunnelling: many unique names under one domain; ordinary lookups do not.
        let tunnel = (0..60)
            .map(|i| dns(secs(i), &format!("a{i:03}x9f.t.example.net")))
            .collect();
        assert!(fires("dns-tunnel", tunnel));
        let ordinary = (0..60)
            .map(|i| dns(secs(i), &format!("www{}.example.com", i % 3)))
            .collect();
        assert!(!fires("dns-tunnel", ordinary));

        // DGA: random-looking domains, not words.
        let dga = [
            "xjw3kq9zvbt2lp",
            "qwrtzpsdfghjklx",
            "zx8kq2vbnm4lwt",
            "plkjhgfdsq9wxz",
            "mnbvcxz7qwrtp3",
            "k9x2q8v7z6b5n4",
            "wq9rt8zx7cv6bn",
            "jh5gf4ds3aq2zx",
            "tz9xq8kw7vb6np",
        ];
        assert!(fires(
            "dga-names",
            dga.iter()
                .enumerate()
                .map(|(i, d)| dns(secs(i as i64), &format!("{d}.com")))
                .collect()
        ));
        let words = [
            "wikipedia",
            "microsoft",
            "google",
            "example",
            "university",
            "newspaper",
            "weatherapp",
            "bankonline",
            "streaming",
        ];
        assert!(!fires(
            "dga-names",
            words
                .iter()
                .enumerate()
                .map(|(i, d)| dns(secs(i as i64), &format!("{d}.com")))
                .collect()
        ));

        // Exfiltration: 150 MB out to one outside endpoint within the hour, unlearned.
        let big = (0..15)
            .map(|i| {
                let mut r = conn(secs(i * 60), "10.0.0.5", "203.0.113.77", 443);
                r.orig_bytes = 10_000_000;
                r
            })
            .collect();
        assert!(fires("exfiltration", big));
        let small = (0..15)
            .map(|i| conn(secs(i * 60), "10.0.0.5", "203.0.113.77", 443))
            .collect();
        assert!(!fires("exfiltration", small));

        // Long connection: two hours, not twenty minutes.
        let mut long = conn(t0, "10.0.0.5", "203.0.113.8", 22);
        long.duration = 7200.0;
        assert!(fires("long-connection", vec![long.clone()]));
        long.duration = 1200.0;
        assert!(!fires("long-connection", vec![long]));

        // Admin fan-out: SMB to six inside hosts in minutes; to one host six times is not.
        let fan = (0..6)
            .map(|i| conn(secs(i), "10.0.0.5", &format!("10.0.0.{}", 20 + i), 445))
            .collect();
        assert!(fires("admin-fanout", fan));
        let one = (0..6)
            .map(|i| conn(secs(i), "10.0.0.5", "10.0.0.20", 445))
            .collect();
        assert!(!fires("admin-fanout", one));

        // Tool user agents, not browsers.
        let ua = |agent: &str| {
            let mut r = conn(t0, "10.0.0.5", "203.0.113.8", 80);
            r.app.http = Some(crate::capture::protocols::http::Http {
                method: "GET".into(),
                uri: "/".into(),
                user_agent: Some(agent.into()),
                ..Default::default()
            });
            vec![r]
        };
        assert!(fires("tool-user-agent", ua("python-requests/2.31.0")));
        assert!(!fires(
            "tool-user-agent",
            ua("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0")
        ));
    }

    #[test]
    fn a_learned_server_answering_on_a_new_port_is_a_new_service() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut e = only("new-service");
        let answered = |ts, port| {
            let mut r = conn(ts, "10.0.0.5", "10.0.0.9", port);
            r.history = "ShAFaf".into();
            r
        };
        let mut ts = t0;
        while ts < t0 + Duration::days(8) {
            // The server lives its life (and so holds its address), and serves SSH.
            let mut own = conn(ts, "10.0.0.9", "203.0.113.1", 443);
            own.device_id = Some(2);
            assert!(e.observe(&[own]).is_empty());
            assert!(e.observe(&[answered(ts, 22)]).is_empty());
            ts += Duration::hours(1);
        }
        let b = e.observe(&[answered(ts, 4444)]);
        assert_eq!(b.len(), 1, "{b:?}");
        assert_eq!(
            b[0].device_id,
            Some(2),
            "the server's breach, not the client's"
        );
        assert!(
            b[0].evidence.summary.contains("10.0.0.9 serves tcp/4444"),
            "{b:?}"
        );
        // Unanswered attempts show no service.
        let mut refused = conn(ts, "10.0.0.5", "10.0.0.9", 5555);
        refused.resp_pkts = 0;
        assert!(e.observe(&[refused]).is_empty());
    }

    #[test]
    fn watched_indicators_match_subdomains_and_expire() {
        let text = r#"
            name = "watch"
            version = 1
            description = "test"
            detector = "indicator"
            score = 80
            [params]
            indicators = [
                { value = "evil.example", note = "case 7" },
                { value = "203.0.113.66", expires = "2020-01-01T00:00:00Z" },
            ]
        "#;
        let m = model::Model::parse("test", text).unwrap();
        let mut e = Engine::new(vec![m], vec!["10.0.0.0/8".parse().unwrap()]).unwrap();
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let b = e.observe(&[dns(t0, "cdn.evil.example")]);
        assert_eq!(b.len(), 1);
        assert!(b[0].evidence.summary.contains("case 7"), "{b:?}");
        // Expired in 2020: the 2023 connection is not matched.
        assert!(
            e.observe(&[conn(t0, "10.0.0.5", "203.0.113.66", 443)])
                .is_empty()
        );
    }

    #[test]
    fn findings_are_throttled_per_model_and_key() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut e = engine();
        let mut count = 0;
        // Two rounds of a 40-port scan ten minutes apart: one breach (throttle 1h).
        for round in 0..2 {
            for p in 0..40 {
                let mut r = conn(
                    t0 + Duration::minutes(10 * round) + Duration::seconds(p),
                    "10.0.0.5",
                    "10.0.0.9",
                    1000 + p as u16,
                );
                r.conn_state = "REJ".into();
                r.resp_pkts = 1;
                count += e
                    .observe(&[r])
                    .iter()
                    .filter(|b| b.model == "scan-vertical")
                    .count();
            }
        }
        assert_eq!(count, 1);
    }
}
