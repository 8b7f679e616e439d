//! Response actions: who did what to which target, why, and until when. Every kernel rule
//! (besides the configured never-block and allow lists) is owned by one of these, by id.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};

use super::{Store, StoreError, ns, sql};
use crate::response::{Action, ActionState, Cleared};

/// What is kept in the `data` column.
#[derive(serde::Serialize, serde::Deserialize)]
struct Data {
    targets: Vec<crate::ebpf::Target>,
    device_id: Option<i64>,
    // Rows written before the states were renamed say `lifted`.
    #[serde(alias = "lifted")]
    cleared: Option<Cleared>,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    duration_s: Option<u64>,
    #[serde(default)]
    activated: Option<DateTime<Utc>>,
    #[serde(default)]
    hits: u64,
}

impl Data {
    fn of(a: &Action) -> String {
        serde_json::to_string(&Self {
            targets: a.targets.clone(),
            device_id: a.device_id,
            cleared: a.cleared.clone(),
            policy: a.policy.clone(),
            duration_s: a.duration_s,
            activated: a.activated,
            hits: a.hits,
        })
        .unwrap_or_else(|_| "{}".to_owned())
    }
}

/// One entry of an action's audit log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// When.
    pub ts: DateTime<Utc>,
    /// Who: a user (`cli:alice`) or a policy and what triggered it.
    pub who: String,
    /// `created`, `pending`, `dry_run`, `approved`, `extended`, `reactivated`, `cleared`,
    /// `expired`.
    pub what: String,
    /// The details: the evidence, the new end, the blocked attempts.
    pub detail: String,
}

const COLUMNS: &str = "id, kind, state, who, why, created_ns, until_ns, data";

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Action> {
    let kind: String = r.get(1)?;
    let state: String = r.get(2)?;
    let data: String = r.get(7)?;
    let bad = |what: &str, e: String| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("action {what}: {e}").into(),
        )
    };
    let data: Data = serde_json::from_str(&data).map_err(|e| bad("data", e.to_string()))?;
    Ok(Action {
        id: r.get(0)?,
        kind: kind.parse().map_err(|e: String| bad("kind", e))?,
        state: state.parse().map_err(|e: String| bad("state", e))?,
        who: r.get(3)?,
        why: r.get(4)?,
        created: DateTime::from_timestamp_nanos(r.get(5)?),
        until: r
            .get::<_, Option<i64>>(6)?
            .map(DateTime::from_timestamp_nanos),
        targets: data.targets,
        device_id: data.device_id,
        cleared: data.cleared,
        policy: data.policy,
        duration_s: data.duration_s,
        activated: data.activated,
        hits: data.hits,
    })
}

impl Store {
    /// Records a new action (its `id` is ignored) and returns its id.
    pub fn insert_action(&mut self, action: &Action) -> Result<i64, StoreError> {
        let data = Data::of(action);
        let summary = action
            .targets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let conn = self.conn();
        conn.execute(
            "INSERT INTO actions (kind, target, state, who, why, created_ns, until_ns, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                action.kind.as_str(),
                summary,
                action.state.as_str(),
                action.who,
                action.why,
                ns(action.created),
                action.until.map(ns),
                data,
            ],
        )
        .map_err(sql("record an action"))?;
        Ok(conn.last_insert_rowid())
    }

    /// Rewrites an action's state, end and details (its kind and targets never change).
    pub fn update_action(&mut self, action: &Action) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE actions SET state = ?2, until_ns = ?3, data = ?4 WHERE id = ?1",
                params![
                    action.id,
                    action.state.as_str(),
                    action.until.map(ns),
                    Data::of(action)
                ],
            )
            .map_err(sql("update an action"))?;
        Ok(())
    }

    /// Adds an entry to action `id`'s audit log.
    pub fn audit(
        &mut self,
        id: i64,
        who: &str,
        what: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO action_audit (action_id, ts_ns, who, what, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, ns(Utc::now()), who, what, detail],
            )
            .map_err(sql("audit an action"))?;
        Ok(())
    }

    /// Action `id`'s audit log, oldest first.
    pub fn audit_log(&mut self, id: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT ts_ns, who, what, detail FROM action_audit WHERE action_id = ?1 \
                 ORDER BY ts_ns, id",
            )
            .map_err(sql("prepare the audit query"))?;
        stmt.query_map([id], |r| {
            Ok(AuditEntry {
                ts: DateTime::from_timestamp_nanos(r.get(0)?),
                who: r.get(1)?,
                what: r.get(2)?,
                detail: r.get(3)?,
            })
        })
        .map_err(sql("query the audit log"))?
        .collect::<Result<_, _>>()
        .map_err(sql("read an audit entry"))
    }

    /// How many actions `policy` took on `device` since `since` (repeat offenders).
    pub fn policy_actions_since(
        &mut self,
        policy: &str,
        device: i64,
        since: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT count(*) FROM actions WHERE created_ns >= ?3 \
                 AND json_extract(data, '$.policy') = ?1 \
                 AND json_extract(data, '$.device_id') = ?2 AND state != 'dry_run'",
                params![policy, device, ns(since)],
                |r| r.get(0),
            )
            .map_err(sql("count a policy's actions on a device"))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// One action.
    pub fn action(&mut self, id: i64) -> Result<Option<Action>, StoreError> {
        self.conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM actions WHERE id = ?1"),
                [id],
                read,
            )
            .optional()
            .map_err(sql("read an action"))
    }

    /// Actions, newest first: only those in `state` if given; at most `limit` (0: all).
    pub fn actions(
        &mut self,
        state: Option<ActionState>,
        limit: usize,
    ) -> Result<Vec<Action>, StoreError> {
        let limit = if limit == 0 { -1 } else { limit as i64 };
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM actions WHERE (?1 IS NULL OR state = ?1) \
                 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(sql("prepare the action query"))?;
        stmt.query_map(params![state.map(ActionState::as_str), limit], read)
            .map_err(sql("query actions"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read an action"))
    }

    /// Actions after id `after`, oldest first (for exporters).
    pub fn actions_after(&mut self, after: i64, limit: usize) -> Result<Vec<Action>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM actions WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))
            .map_err(sql("prepare the action export query"))?;
        stmt.query_map(params![after, limit as i64], read)
            .map_err(sql("query actions to export"))?
            .collect::<Result<_, _>>()
            .map_err(sql("read an action to export"))
    }

    /// The active actions, oldest first.
    pub fn active_actions(&mut self) -> Result<Vec<Action>, StoreError> {
        let mut actions = self.actions(Some(ActionState::Active), 0)?;
        actions.reverse();
        Ok(actions)
    }

    /// Adds an entry to a device's event log.
    pub fn log_device_event(
        &mut self,
        device_id: i64,
        ts: DateTime<Utc>,
        kind: &str,
        ref_id: Option<i64>,
        summary: &str,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO device_events (device_id, ts_ns, kind, ref_id, summary) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![device_id, ns(ts), kind, ref_id, summary],
            )
            .map_err(sql("log a device event"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use chrono::Utc;

    use crate::{
        ebpf::{Endpoint, Target},
        response::{Action, ActionKind, ActionState, Cleared},
        store::Store,
    };

    #[test]
    fn actions_round_trip_and_change_state() {
        let mut store = Store::open_in_memory().unwrap();
        let addr: IpAddr = "10.0.0.5".parse().unwrap();
        let action = Action {
            id: 0,
            kind: ActionKind::Suspend,
            state: ActionState::Active,
            targets: vec![Target::Suspend {
                endpoint: Endpoint {
                    addr,
                    port: 445,
                    proto: 6,
                },
            }],
            who: "cli:root".into(),
            why: "worm".into(),
            created: Utc::now(),
            until: Some(Utc::now() + chrono::Duration::hours(2)),
            device_id: None,
            cleared: None,
            policy: None,
            duration_s: Some(7200),
            activated: None,
            hits: 0,
        };
        let id = store.insert_action(&action).unwrap();
        let got = store.action(id).unwrap().unwrap();
        assert_eq!(got.targets, action.targets);
        assert_eq!(got.kind, ActionKind::Suspend);
        assert_eq!(store.active_actions().unwrap().len(), 1);
        let mut cleared = store.action(id).unwrap().unwrap();
        cleared.state = ActionState::Cleared;
        cleared.cleared = Some(Cleared {
            who: "cli:alice".into(),
            at: Utc::now(),
        });
        store.update_action(&cleared).unwrap();
        let got = store.action(id).unwrap().unwrap();
        assert_eq!(got.state, ActionState::Cleared);
        assert_eq!(got.cleared.unwrap().who, "cli:alice");
        assert!(store.active_actions().unwrap().is_empty());
    }
}
