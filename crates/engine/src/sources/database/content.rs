//! What a database holds, as digests a deep verification can recompute:
//! per table an order-independent digest of its rows, every sequence's
//! position, and the large objects.
//!
//! Counting rows catches a lost table or a truncated load, not a changed
//! value. A digest over rows in a fixed order would need a sort of every
//! table; instead every row's COPY text is hashed on its own (SHA-256,
//! first 128 bits) and the hashes are added modulo 2^128. The sum does not
//! depend on the order rows arrive in, so it streams: through the dump's
//! own range readers for tables a parallel dump splits (ranges add up),
//! through one `COPY ... TO STDOUT` per table otherwise, and through the
//! same on the restored database, with memory independent of table size.
//! This is a check against damage, not against an adversary: the manifest
//! MAC protects the recorded digests in a keyed repository.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::client::Pg;
use super::{quote_ident, quote_qualified};
use crate::error::{Error, Result};

/// `DatabaseFacts::content.digest`: the digest described above, of rows
/// as COPY text in lifeboat's fixed session (see `parallel::common_session`).
pub const ROW_DIGEST: &str = "lifeboat-rowsum-sha256-1";

/// Order-independent digest of COPY text rows, fed in pieces of any size.
#[derive(Debug, Clone, Default)]
pub struct RowDigest {
    sum: u128,
    rows: u64,
    /// The start of a row whose end has not arrived yet.
    partial: Vec<u8>,
}

impl RowDigest {
    pub fn update(&mut self, mut piece: &[u8]) {
        while let Some(i) = memchr::memchr(b'\n', piece) {
            if self.partial.is_empty() {
                self.add_row(&piece[..i]);
            } else {
                let mut row = std::mem::take(&mut self.partial);
                row.extend_from_slice(&piece[..i]);
                self.add_row(&row);
            }
            piece = &piece[i + 1..];
        }
        self.partial.extend_from_slice(piece);
    }

    fn add_row(&mut self, row: &[u8]) {
        let h = Sha256::digest(row);
        let top = u128::from_be_bytes(h[..16].try_into().expect("16 bytes"));
        self.sum = self.sum.wrapping_add(top);
        self.rows += 1;
    }

    /// Add the rows of another part of the same table.
    pub fn merge(&mut self, other: &RowDigest) {
        self.sum = self.sum.wrapping_add(other.sum);
        self.rows += other.rows;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }
}

/// Digests of a database's contents, recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentFacts {
    /// [`ROW_DIGEST`].
    pub digest: String,
    pub tables: Vec<TableDigest>,
    pub sequences: Vec<SequenceState>,
    pub large_objects: LargeObjects,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    pub schema: String,
    pub name: String,
    pub rows: u64,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequenceState {
    pub schema: String,
    pub name: String,
    pub last_value: i64,
    pub is_called: bool,
    pub increment: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LargeObjects {
    pub count: u64,
    /// SHA-256 over `oid md5\n` lines in oid order; absent when the role
    /// could not read every large object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Pg {
    /// Ordinary tables outside the system schemas, with their dumpable
    /// columns (no dropped or generated ones), sorted in byte order.
    fn digest_tables(&self) -> Result<Vec<(String, String, Vec<String>)>> {
        let rows = self.query(
            "list tables",
            "SELECT n.nspname::text, c.relname::text,
                    array(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attnum > 0
                             AND NOT a.attisdropped AND a.attgenerated = ''
                           ORDER BY a.attnum)
               FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_toast%'
                AND n.nspname NOT LIKE 'pg\\_temp\\_%'",
            &[],
        )?;
        let mut t: Vec<(String, String, Vec<String>)> = rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect();
        t.sort();
        Ok(t)
    }

    /// [`RowDigest`] of every ordinary table but those in `skip`, read with
    /// one COPY each. The session must be set up as the dump's range
    /// readers are (`parallel::common_session`), so the text is the same.
    pub fn table_digests(&self, skip: &[(String, String)]) -> Result<Vec<TableDigest>> {
        let mut out = Vec::new();
        for (schema, name, columns) in self.digest_tables()? {
            if skip.iter().any(|(s, n)| *s == schema && *n == name) {
                continue;
            }
            let d = self.copy_digest(&schema, &name, &columns)?;
            out.push(TableDigest {
                schema,
                name,
                rows: d.rows(),
                digest: d.hex(),
            });
        }
        Ok(out)
    }

    fn copy_digest(&self, schema: &str, name: &str, columns: &[String]) -> Result<RowDigest> {
        let cols: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
        let sql = format!(
            "COPY (SELECT {} FROM ONLY {}) TO STDOUT",
            cols.join(", "),
            quote_qualified(schema, name)
        );
        let mut d = RowDigest::default();
        self.copy_out(&format!("read the rows of {schema}.{name}"), &sql, |p| {
            d.update(p);
            Ok(())
        })?;
        Ok(d)
    }

    /// Position of every sequence outside the system schemas.
    pub fn sequence_states(&self) -> Result<Vec<SequenceState>> {
        let rows = self.query(
            "list sequences",
            "SELECT n.nspname::text, c.relname::text, s.seqincrement
               FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
               JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid
              WHERE c.relkind = 'S'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                AND n.nspname NOT LIKE 'pg\\_temp\\_%'",
            &[],
        )?;
        let mut out = Vec::new();
        for r in rows {
            let (schema, name): (String, String) = (r.get(0), r.get(1));
            let state = self.query(
                &format!("read sequence {schema}.{name}"),
                &format!(
                    "SELECT last_value, is_called FROM {}",
                    quote_qualified(&schema, &name)
                ),
                &[],
            )?;
            let row = state.first().ok_or_else(|| {
                Error::external(format!("sequence {schema}.{name} returned no row"))
            })?;
            out.push(SequenceState {
                schema,
                name,
                last_value: row.get(0),
                is_called: row.get(1),
                increment: r.get(2),
            });
        }
        out.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        Ok(out)
    }

    /// Count and digest of the large objects. The digest needs every one
    /// readable: asked first, so a refusal does not abort the dump's
    /// snapshot transaction. The server reads one object at a time.
    pub fn large_objects(&self) -> Result<LargeObjects> {
        let what = "read the large objects";
        let readable: bool = self
            .query(
                what,
                "SELECT r.rolsuper OR pg_catalog.current_setting('lo_compat_privileges')::bool
                        OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_largeobject_metadata m
                                        WHERE m.lomowner <> r.oid)
                   FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
                &[],
            )?
            .first()
            .map(|r| r.get(0))
            .unwrap_or(false);
        if !readable {
            let count = self.query(
                what,
                "SELECT count(*) FROM pg_catalog.pg_largeobject_metadata",
                &[],
            )?[0]
                .get::<_, i64>(0);
            return Ok(LargeObjects {
                count: count as u64,
                digest: None,
            });
        }
        let mut hash = Sha256::new();
        let mut count = 0u64;
        self.copy_out(
            what,
            "COPY (SELECT m.oid, pg_catalog.md5(pg_catalog.lo_get(m.oid))
                     FROM pg_catalog.pg_largeobject_metadata m ORDER BY m.oid) TO STDOUT",
            |p| {
                count += memchr::memchr_iter(b'\n', p).count() as u64;
                hash.update(p);
                Ok(())
            },
        )?;
        Ok(LargeObjects {
            count,
            digest: Some(hex::encode(hash.finalize())),
        })
    }
}

/// Where `got` (read from a restored database) differs from `want` (the
/// backup's), one line per table, sequence or large-object difference.
/// Tables with no recorded digest are not compared (row counts are).
/// A sequence may have moved on while pg_dump ran (sequences are not
/// transactional and were read before it), so one that is ahead of the
/// recorded position in its own direction is taken as equal; behind it is
/// a difference.
pub fn compare_content(want: &ContentFacts, got: &ContentFacts) -> Vec<String> {
    let mut problems = Vec::new();
    for w in &want.tables {
        match got
            .tables
            .iter()
            .find(|g| g.schema == w.schema && g.name == w.name)
        {
            None => problems.push(format!("table {}.{} is missing", w.schema, w.name)),
            Some(g) if g.digest != w.digest => problems.push(format!(
                "table {}.{}: its rows differ from the backup's (content digest {}, the backup recorded {}; {} rows, the backup had {})",
                w.schema, w.name, g.digest, w.digest, g.rows, w.rows
            )),
            Some(_) => {}
        }
    }
    for w in &want.sequences {
        match got
            .sequences
            .iter()
            .find(|g| g.schema == w.schema && g.name == w.name)
        {
            None => problems.push(format!("sequence {}.{} is missing", w.schema, w.name)),
            Some(g) => {
                let pos = |s: &SequenceState| {
                    // Position along the sequence's direction; an uncalled
                    // sequence is just before its last_value.
                    let v = s.last_value as i128 * w.increment.signum() as i128;
                    v * 2 + if s.is_called { 1 } else { 0 }
                };
                if pos(g) < pos(w) {
                    problems.push(format!(
                        "sequence {}.{}: last_value {} (is_called {}), the backup recorded {} (is_called {})",
                        w.schema, w.name, g.last_value, g.is_called, w.last_value, w.is_called
                    ));
                }
            }
        }
    }
    let (w, g) = (&want.large_objects, &got.large_objects);
    if w.count != g.count {
        problems.push(format!(
            "large objects: {} restored, the backup had {}",
            g.count, w.count
        ));
    } else if let (Some(wd), Some(gd)) = (&w.digest, &g.digest) {
        if wd != gd {
            problems.push(format!(
                "large objects: their contents differ from the backup's (digest {gd}, the backup recorded {wd})"
            ));
        }
    }
    problems
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn row_digest_ignores_order_and_piece_boundaries() {
        let mut a = RowDigest::default();
        a.update(b"1\tone\n2\ttwo\n3\tthree\n");
        let mut b = RowDigest::default();
        for p in [&b"3\tth"[..], b"ree\n2", b"\ttwo\n", b"1\tone\n"] {
            b.update(p);
        }
        assert_eq!(a.hex(), b.hex());
        assert_eq!(b.rows(), 3);
        let (mut c, mut d) = (RowDigest::default(), RowDigest::default());
        c.update(b"2\ttwo\n");
        d.update(b"1\tone\n3\tthree\n");
        c.merge(&d);
        assert_eq!(c.hex(), a.hex());
        let mut e = RowDigest::default();
        e.update(b"1\tone\n2\ttwo\n3\tThree\n");
        assert_ne!(e.hex(), a.hex());
    }
}
