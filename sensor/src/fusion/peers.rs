//! The devices a network breach reaches besides its own: the peers of the connections it
//! cites. An SMB write-volume breach is the writer's, but the files being encrypted are
//! the server's; a combined model with `network_peer = true` pairs an alert on either.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::{
    detect::Breach,
    store::{Store, StoreError},
};

/// The other devices the connections `b` cites reach.
pub fn reached(store: &mut Store, b: &Breach) -> Result<BTreeSet<i64>, StoreError> {
    let mut devices = BTreeSet::new();
    for r in store.connections_by_uid(&b.evidence.connections)? {
        let at = r.ts.timestamp_nanos_opt().unwrap_or(i64::MAX);
        for addr in [r.orig_h, r.resp_h] {
            if let Some(d) = store.device_at(addr, at)?
                && Some(d) != b.device_id
            {
                devices.insert(d);
            }
        }
    }
    Ok(devices)
}

/// Breaches of other devices between `from` and `to` that `wanted` accepts and whose
/// connections reach `device` (only the wanted ones' connections are read).
pub fn reaching(
    store: &mut Store,
    device: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    wanted: impl Fn(&Breach) -> bool,
) -> Result<Vec<Breach>, StoreError> {
    let mut found = Vec::new();
    for b in store.breaches_in(from, to)? {
        if b.device_id != Some(device) && wanted(&b) && reached(store, &b)?.contains(&device) {
            found.push(b);
        }
    }
    Ok(found)
}
