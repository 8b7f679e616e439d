//! OCSF 1.3: connection records as Network Activity (class 4001), actions, breaches, EDR
//! alerts and incidents as Detection Finding (class 2004). Times are epoch milliseconds.

use serde_json::{Value, json};

use super::{PRODUCT, Record, VERSION};
use crate::{capture::ConnRecord, response::ActionState};

const SCHEMA: &str = "1.3.0";

fn metadata(uid: &str, log_name: &str) -> Value {
    json!({
        "version": SCHEMA,
        "uid": uid,
        "log_name": log_name,
        "product": { "name": PRODUCT, "vendor_name": PRODUCT, "version": VERSION },
    })
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

fn network_activity(c: &ConnRecord) -> Value {
    // Close for an ended connection, Reset if a side reset it, Refuse if it was rejected.
    let (activity_id, activity) = match c.conn_state.as_str() {
        "REJ" => (5, "Refuse"),
        "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" => (3, "Reset"),
        _ => (2, "Close"),
    };
    let end = c.ts + chrono::Duration::milliseconds((c.duration * 1000.0) as i64);
    let protocol_num = crate::capture::live_flow::proto_number(&c.proto);
    let mut v = json!({
        "class_uid": 4001,
        "class_name": "Network Activity",
        "category_uid": 4,
        "category_name": "Network Activity",
        "activity_id": activity_id,
        "activity_name": activity,
        "type_uid": 400_100 + activity_id,
        "severity_id": 1,
        "time": ms(c.ts),
        "start_time": ms(c.ts),
        "end_time": ms(end),
        "duration": (c.duration * 1000.0) as i64,
        "metadata": metadata(&c.uid, "conn"),
        "src_endpoint": { "ip": c.orig_h, "port": c.orig_p },
        "dst_endpoint": { "ip": c.resp_h, "port": c.resp_p },
        "connection_info": {
            "uid": c.uid,
            "community_uid": c.community_id,
            "protocol_name": c.proto,
            "protocol_num": protocol_num,
            "flag_history": c.history,
        },
        "traffic": {
            "bytes_out": c.orig_bytes,
            "bytes_in": c.resp_bytes,
            "packets_out": c.orig_pkts,
            "packets_in": c.resp_pkts,
            "bytes": c.orig_bytes + c.resp_bytes,
            "packets": c.orig_pkts + c.resp_pkts,
        },
        "status_code": c.conn_state,
        "unmapped": { "device_id": c.device_id, "vlan": c.vlan },
    });
    if let Some(s) = &c.app.service {
        v["app_name"] = json!(s);
    }
    if let Some(h) = &c.app.http {
        v["http_request"] = json!({
            "http_method": h.method,
            "url": { "hostname": h.host, "path": h.uri },
            "user_agent": h.user_agent,
        });
    }
    if let Some(d) = &c.app.dns {
        v["query"] = json!({ "hostname": d.query, "type": d.qtype });
        v["answers"] = json!(
            d.answers
                .iter()
                .map(|a| json!({ "rdata": a }))
                .collect::<Vec<_>>()
        );
    }
    if let Some(t) = &c.app.tls {
        v["tls"] = json!({ "sni": t.sni, "ja3_hash": null });
        v["unmapped"]["ja4"] = json!(t.ja4);
    }
    v
}

fn finding(uid: &str, title: &str, time: i64, severity_id: u8, extra: Value) -> Value {
    let mut v = json!({
        "class_uid": 2004,
        "class_name": "Detection Finding",
        "category_uid": 2,
        "category_name": "Findings",
        "activity_id": 1,
        "activity_name": "Create",
        "type_uid": 200_401,
        "severity_id": severity_id,
        "time": time,
        "metadata": metadata(uid, "findings"),
        "finding_info": { "uid": uid, "title": title },
    });
    if let (Some(obj), Value::Object(more)) = (v.as_object_mut(), extra) {
        obj.extend(more);
    }
    v
}

/// One line of OCSF JSON.
pub fn line(record: &Record) -> String {
    let v = match record {
        Record::Conn(c) => network_activity(c),
        Record::Action(a) => finding(
            &format!("action-{}", a.id),
            &format!("{} by {}", a.kind, a.who),
            ms(a.created),
            3,
            json!({
                // Blocked while in force; the rules' end is in `end_time`.
                "disposition_id": if a.state == ActionState::Active { 2 } else { 1 },
                "action": a.kind,
                "end_time": a.until.map(ms),
                "finding_info": {
                    "uid": format!("action-{}", a.id),
                    "title": format!("{} by {}", a.kind, a.who),
                    "desc": a.why,
                    "types": a.targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
                },
                "unmapped": { "state": a.state, "targets": a.targets, "device_id": a.device_id },
            }),
        ),
        Record::Row { kind, row } => {
            let score = row
                .get("score")
                .or_else(|| row.get("severity"))
                .and_then(Value::as_i64)
                .unwrap_or(0);
            // 0-100 scores to OCSF's 1 (informational) .. 5 (critical).
            let severity = (1 + score.clamp(0, 100) / 25) as u8;
            finding(
                &format!("{}-{}", kind.as_str(), row["id"]),
                row.get("title")
                    .or_else(|| row.get("model"))
                    .and_then(Value::as_str)
                    .unwrap_or(kind.as_str()),
                ms(record.time()),
                severity,
                json!({ "unmapped": row }),
            )
        }
    };
    v.to_string()
}
