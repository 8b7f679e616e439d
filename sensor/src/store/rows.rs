//! Whole rows of the tables later layers fill (breaches, EDR alerts, incidents), as JSON
//! objects, newest first: the API can show them before it has a type for each.

use rusqlite::{params, types::ValueRef};
use serde_json::{Map, Value};

use super::{Store, StoreError, sql};

/// The tables [`Store::table_rows`] may read.
const READABLE: [&str; 3] = ["breaches", "edr_alerts", "incidents"];

/// Most rows returned.
const LIMIT: i64 = 1000;

impl Store {
    /// The newest rows of `table` (one of [`READABLE`]); `data` columns are parsed JSON.
    pub fn table_rows(&mut self, table: &'static str) -> Result<Vec<Value>, StoreError> {
        self.rows(table, "ORDER BY id DESC LIMIT ?1", params![LIMIT])
    }

    /// Rows of `table` after id `after`, oldest first (for exporters).
    pub fn table_rows_after(
        &mut self,
        table: &'static str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Value>, StoreError> {
        self.rows(
            table,
            "WHERE id > ?1 ORDER BY id LIMIT ?2",
            params![after, limit as i64],
        )
    }

    fn rows(
        &mut self,
        table: &'static str,
        tail: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Value>, StoreError> {
        if !READABLE.contains(&table) {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn()
            .prepare_cached(&format!("SELECT * FROM {table} {tail}"))
            .map_err(sql("prepare a table query"))?;
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let rows = stmt
            .query_map(args, |r| {
                let mut obj = Map::new();
                for (i, name) in names.iter().enumerate() {
                    let v = match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(n) => Value::from(n),
                        ValueRef::Real(x) => Value::from(x),
                        ValueRef::Text(t) => {
                            let t = String::from_utf8_lossy(t).into_owned();
                            if name == "data" {
                                serde_json::from_str(&t).unwrap_or(Value::String(t))
                            } else {
                                Value::String(t)
                            }
                        }
                        ValueRef::Blob(b) => Value::from(b.len()),
                    };
                    obj.insert(name.clone(), v);
                }
                Ok(Value::Object(obj))
            })
            .map_err(sql("query a table"))?;
        rows.collect::<Result<_, _>>().map_err(sql("read a row"))
    }
}
