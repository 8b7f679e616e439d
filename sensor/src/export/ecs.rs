//! Elastic Common Schema (8.x) field names. Connection records map to `event.category:
//! network`, actions to `event.type: denied`, breaches, EDR alerts and incidents to
//! `event.kind: alert`. What ECS has no field for goes under `sensor.*`.

use serde_json::{Value, json};

use super::{PRODUCT, Record, RecordKind, VERSION};
use crate::capture::ConnRecord;

fn observer() -> Value {
    json!({ "vendor": PRODUCT, "product": PRODUCT, "type": "sensor", "version": VERSION })
}

fn conn(c: &ConnRecord) -> Value {
    let mut v = json!({
        "@timestamp": c.ts,
        "ecs": { "version": "8.11.0" },
        "event": {
            "kind": "event",
            "category": ["network"],
            "type": ["connection", "end"],
            "dataset": "sensor.conn",
            "id": c.uid,
            "duration": (c.duration * 1e9) as u64,
        },
        "network": {
            "community_id": c.community_id,
            "transport": c.proto,
            "iana_number": crate::capture::live_flow::proto_number(&c.proto).map(|n| n.to_string()),
            "bytes": c.orig_bytes + c.resp_bytes,
            "packets": c.orig_pkts + c.resp_pkts,
        },
        "source": { "ip": c.orig_h, "port": c.orig_p, "bytes": c.orig_bytes, "packets": c.orig_pkts },
        "destination": { "ip": c.resp_h, "port": c.resp_p, "bytes": c.resp_bytes, "packets": c.resp_pkts },
        "observer": observer(),
        "sensor": { "conn_state": c.conn_state, "history": c.history, "device_id": c.device_id },
    });
    if let Some(outer) = c.vlan.first() {
        v["network"]["vlan"] = json!({ "id": outer.to_string() });
        if let Some(inner) = c.vlan.get(1) {
            v["network"]["inner"] = json!({ "vlan": { "id": inner.to_string() } });
        }
    }
    if let Some(service) = &c.app.service {
        v["network"]["protocol"] = json!(service);
    }
    if let Some(h) = &c.app.http {
        v["http"] =
            json!({ "request": { "method": h.method }, "response": { "status_code": h.status } });
        v["url"] = json!({ "domain": h.host, "path": h.uri, "original": h.uri });
        v["user_agent"] = json!({ "original": h.user_agent });
    }
    if let Some(d) = &c.app.dns {
        v["dns"] = json!({
            "question": { "name": d.query, "type": d.qtype },
            "answers": d.answers.iter().map(|a| json!({ "data": a })).collect::<Vec<_>>(),
            "response_code": d.rcode,
        });
    }
    if let Some(t) = &c.app.tls {
        v["tls"] = json!({ "client": { "server_name": t.sni } });
        v["sensor"]["ja4"] = json!(t.ja4);
    }
    if let Some(s) = &c.app.ssh {
        v["sensor"]["ssh"] = json!({ "client": s.client, "server": s.server });
    }
    v
}

/// One line of ECS JSON.
pub fn line(record: &Record) -> String {
    let v = match record {
        Record::Conn(c) => conn(c),
        Record::Action(a) => {
            let ips: Vec<String> = a
                .targets
                .iter()
                .flat_map(crate::ebpf::Target::addresses)
                .map(|ip| ip.to_string())
                .collect();
            json!({
                "@timestamp": a.created,
                "ecs": { "version": "8.11.0" },
                "event": {
                    "kind": "event",
                    "category": ["network"],
                    "type": ["denied"],
                    "action": a.kind,
                    "dataset": "sensor.action",
                    "id": a.id.to_string(),
                    "reason": a.why,
                    "start": a.created,
                    "end": a.until,
                },
                "user": { "name": a.who },
                "rule": { "name": a.targets.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ") },
                "related": { "ip": ips },
                "observer": observer(),
                "sensor": { "state": a.state, "targets": a.targets, "device_id": a.device_id },
            })
        }
        Record::Row { kind, row } => {
            let dataset = match kind {
                RecordKind::Breaches => "sensor.breach",
                RecordKind::EdrAlerts => "sensor.edr_alert",
                _ => "sensor.incident",
            };
            json!({
                "@timestamp": record.time(),
                "ecs": { "version": "8.11.0" },
                "event": {
                    "kind": "alert",
                    "dataset": dataset,
                    "id": row["id"].to_string(),
                    "severity": row.get("score").or_else(|| row.get("severity")),
                },
                "message": row.get("title").or_else(|| row.get("model")),
                "observer": observer(),
                "sensor": row,
            })
        }
    };
    v.to_string()
}
