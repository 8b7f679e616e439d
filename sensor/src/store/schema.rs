//! The database schema, as migrations applied in order on open (`rusqlite_migration`,
//! tracked in `SQLite`'s `user_version`). Never edit a released migration: add one.
//!
//! Times are UTC nanoseconds since the epoch (`*_ns`); free-form details are JSON in `data`.

use rusqlite_migration::{M, Migrations};

/// Every migration, oldest first.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(V1),
        M::up(V2),
        M::up(V3),
        M::up(V4),
        M::up(V5),
        M::up(V6),
        M::up(V7),
        M::up(V8),
        M::up(V9),
        M::up(V10),
        M::up(V11),
    ])
}

/// The first schema: connections, devices and their addresses over time, the per-device
/// event log, and the tables the detection, EDR and response layers write.
const V1: &str = "
CREATE TABLE devices (
    id            INTEGER PRIMARY KEY,
    mac           TEXT UNIQUE,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns  INTEGER NOT NULL,
    hostname      TEXT,
    internal      INTEGER NOT NULL DEFAULT 1,
    tags          TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE device_addresses (
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    addr      TEXT NOT NULL,
    from_ns   INTEGER NOT NULL,
    until_ns  INTEGER,
    PRIMARY KEY (device_id, addr, from_ns)
);
CREATE INDEX device_addresses_addr ON device_addresses(addr, from_ns);

CREATE TABLE connections (
    id           INTEGER PRIMARY KEY,
    uid          TEXT NOT NULL UNIQUE,
    community_id TEXT NOT NULL,
    ts_ns        INTEGER NOT NULL,
    duration     REAL NOT NULL,
    orig_h       TEXT NOT NULL,
    orig_p       INTEGER NOT NULL,
    resp_h       TEXT NOT NULL,
    resp_p       INTEGER NOT NULL,
    proto        TEXT NOT NULL,
    vlan         TEXT NOT NULL DEFAULT '',
    orig_pkts    INTEGER NOT NULL,
    orig_bytes   INTEGER NOT NULL,
    resp_pkts    INTEGER NOT NULL,
    resp_bytes   INTEGER NOT NULL,
    conn_state   TEXT NOT NULL,
    history      TEXT NOT NULL,
    device_id    INTEGER REFERENCES devices(id) ON DELETE SET NULL
);
CREATE INDEX connections_ts ON connections(ts_ns);
CREATE INDEX connections_orig ON connections(orig_h, ts_ns);
CREATE INDEX connections_resp ON connections(resp_h, ts_ns);
CREATE INDEX connections_community ON connections(community_id);

CREATE TABLE device_events (
    id        INTEGER PRIMARY KEY,
    device_id INTEGER REFERENCES devices(id) ON DELETE CASCADE,
    ts_ns     INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    ref_id    INTEGER,
    summary   TEXT NOT NULL,
    data      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX device_events_device_ts ON device_events(device_id, ts_ns);

CREATE TABLE breaches (
    id            INTEGER PRIMARY KEY,
    model         TEXT NOT NULL,
    model_version INTEGER NOT NULL,
    device_id     INTEGER REFERENCES devices(id) ON DELETE SET NULL,
    ts_ns         INTEGER NOT NULL,
    score         INTEGER NOT NULL,
    data          TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX breaches_device_ts ON breaches(device_id, ts_ns);

CREATE TABLE edr_alerts (
    id        INTEGER PRIMARY KEY,
    vendor    TEXT NOT NULL,
    vendor_id TEXT NOT NULL,
    device_id INTEGER REFERENCES devices(id) ON DELETE SET NULL,
    ts_ns     INTEGER NOT NULL,
    severity  INTEGER NOT NULL,
    title     TEXT NOT NULL,
    data      TEXT NOT NULL DEFAULT '{}',
    UNIQUE (vendor, vendor_id)
);
CREATE INDEX edr_alerts_device_ts ON edr_alerts(device_id, ts_ns);

CREATE TABLE incidents (
    id       INTEGER PRIMARY KEY,
    title    TEXT NOT NULL,
    ts_ns    INTEGER NOT NULL,
    score    INTEGER NOT NULL,
    data     TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE actions (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    target     TEXT NOT NULL,
    state      TEXT NOT NULL,
    who        TEXT NOT NULL,
    why        TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    until_ns   INTEGER,
    data       TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE baseline_snapshots (
    id        INTEGER PRIMARY KEY,
    device_id INTEGER REFERENCES devices(id) ON DELETE CASCADE,
    ts_ns     INTEGER NOT NULL,
    data      BLOB NOT NULL
);
";

/// The application layer of connection records: the service (indexed, for "who speaks
/// SMB") and what the protocol said, as JSON.
const V2: &str = "
ALTER TABLE connections ADD COLUMN service TEXT;
ALTER TABLE connections ADD COLUMN app TEXT NOT NULL DEFAULT '{}';
CREATE INDEX connections_service ON connections(service, ts_ns);
";

/// Two indexes cost more on every write than they save on rare reads: a Community ID is
/// looked up by the SIEM that joins on it, and "who speaks SMB" is asked over a time range,
/// which the time index narrows first.
const V3: &str = "
DROP INDEX connections_community;
DROP INDEX connections_service;
";

/// Where each exporter is: the last row id it sent, per record kind.
const V4: &str = "
CREATE TABLE export_cursors (
    name    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    last_id INTEGER NOT NULL,
    PRIMARY KEY (name, kind)
);
";

/// Where each EDR connector is: its cursor (the vendor's latest update time stored).
const V5: &str = "
CREATE TABLE edr_cursors (
    name   TEXT PRIMARY KEY,
    cursor TEXT NOT NULL
);
";

/// What each EDR knows of the hosts its alerts name (OS, vulnerabilities), and the vendor
/// device id of each alert as a column, to find them.
const V6: &str = "
CREATE TABLE edr_hosts (
    vendor           TEXT NOT NULL,
    vendor_device_id TEXT NOT NULL,
    fetched_ns       INTEGER NOT NULL,
    data             TEXT NOT NULL,
    PRIMARY KEY (vendor, vendor_device_id)
);
ALTER TABLE edr_alerts ADD COLUMN vendor_device_id TEXT;
UPDATE edr_alerts SET vendor_device_id = json_extract(data, '$.alert.vendor_device_id');
CREATE INDEX edr_alerts_vendor_device ON edr_alerts (vendor, vendor_device_id);
";

/// What fusion keeps of EDR alerts: each alert's type (`kind`) and subject (the vendor's
/// device), how unusual it was when it arrived; and each device's peer group, as the
/// detection engine last grouped them.
const V7: &str = "
ALTER TABLE edr_alerts ADD COLUMN kind TEXT;
ALTER TABLE edr_alerts ADD COLUMN subject TEXT;
ALTER TABLE edr_alerts ADD COLUMN rarity TEXT;
UPDATE edr_alerts SET kind = lower(title),
    subject = lower(coalesce(vendor_device_id, json_extract(data, '$.alert.hostname'), vendor_id));
CREATE INDEX edr_alerts_kind ON edr_alerts (vendor, kind, subject, ts_ns);
CREATE TABLE peer_groups (
    device_id INTEGER PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    grp       TEXT NOT NULL
);
CREATE INDEX peer_groups_grp ON peer_groups (grp);
";

/// Incidents: when their activity ends and when they last changed, for grouping.
const V8: &str = "
ALTER TABLE incidents ADD COLUMN last_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN updated_ns INTEGER NOT NULL DEFAULT 0;
CREATE INDEX incidents_span ON incidents (ts_ns, last_ns);
";

/// Actions: `lifted` is now `cleared`; every change of every action in an audit log.
const V9: &str = "
UPDATE actions SET state = 'cleared' WHERE state = 'lifted';
CREATE TABLE action_audit (
    id        INTEGER PRIMARY KEY,
    action_id INTEGER NOT NULL,
    ts_ns     INTEGER NOT NULL,
    who       TEXT NOT NULL,
    what      TEXT NOT NULL,
    detail    TEXT NOT NULL
);
CREATE INDEX action_audit_action ON action_audit (action_id, ts_ns);
";

/// Device tags an analyst gives (`server`, `vip`, `ot`), which policies can select on.
const V10: &str = "
CREATE TABLE device_tags (
    device_id INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    tag       TEXT NOT NULL,
    PRIMARY KEY (device_id, tag)
);
";

/// Connections: their rhythm inside themselves (bursts after silences), JSON.
const V11: &str = "
ALTER TABLE connections ADD COLUMN rhythm TEXT NOT NULL DEFAULT '{}';
";

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        assert!(super::migrations().validate().is_ok());
    }
}
