//! The audit log's bulk read path: `gatehouse audit verify`, evidence export and the
//! retention archive read every event in order, in keyset pages
//! (`seq > last ORDER BY seq LIMIT n`), handing each one *borrowed* to a [`Visit`]or
//! (a verifier, an exporter) and never holding more than one page.
//!
//! It bypasses sqlx's `Any` rows, which copy every value into an owned `String` twice:
//! on SQLite it reads with rusqlite straight from the statement (on a blocking thread);
//! on PostgreSQL it reads each page as `COPY ... TO STDOUT (FORMAT binary)` and parses
//! the tuples in place. That is what makes verification run at hundreds of thousands of
//! events per second in a few megabytes.

use super::db::Backend;
use super::handle::Store;
use super::types::StoreError;
use gatehouse_audit::{
    Anchor, ChainRecord, EventRef, KeyRing, LogReport, LogVerifier, WitnessedHead,
};
use sqlx::Connection;
use std::path::PathBuf;

/// Events per page.
const PAGE: i64 = 20_000;

const COLUMNS: &str = "seq, session_id, at, direction, kind, method, tool, rpc_id, payload, masked, decision, prev_hash, hash";

/// Takes the events of a scan one at a time, in `seq` order.
pub trait Visit: Send + 'static {
    /// Handles one event; false stops the scan.
    fn visit(&mut self, e: &EventRef<'_>) -> bool;
}

/// Events per page handed from the reader to a [`Pipelined`] visitor's thread.
const PIPE_PAGE: usize = 2048;

/// A page of events copied out of the reader: one string of every field, plus offsets.
#[derive(Default)]
struct Page {
    text: String,
    rows: Vec<(i64, [(u32, u32); 12])>,
}

/// Marks an absent (NULL) field in a [`Page`].
const NONE: u32 = u32::MAX;

impl Page {
    fn push(&mut self, e: &EventRef<'_>) {
        let r = &e.record;
        let fields = [
            Some(r.session_id),
            Some(r.at),
            Some(r.direction),
            Some(r.kind),
            r.method,
            r.tool,
            r.rpc_id,
            Some(r.payload),
            r.masked,
            r.decision,
            e.prev_hash,
            e.hash,
        ];
        let mut cols = [(0u32, NONE); 12];
        for (col, f) in cols.iter_mut().zip(fields) {
            if let Some(f) = f {
                *col = (self.text.len() as u32, f.len() as u32);
                self.text.push_str(f);
            }
        }
        self.rows.push((r.seq, cols));
    }

    fn get(&self, i: usize) -> EventRef<'_> {
        let (seq, cols) = &self.rows[i];
        let f = |c: usize| {
            let (at, len) = cols[c];
            (len != NONE).then(|| &self.text[at as usize..(at + len) as usize])
        };
        EventRef {
            record: ChainRecord {
                seq: *seq,
                session_id: f(0).unwrap_or_default(),
                at: f(1).unwrap_or_default(),
                direction: f(2).unwrap_or_default(),
                kind: f(3).unwrap_or_default(),
                method: f(4),
                tool: f(5),
                rpc_id: f(6),
                payload: f(7).unwrap_or_default(),
                masked: f(8),
                decision: f(9),
            },
            prev_hash: f(10),
            hash: f(11),
        }
    }

    fn clear(&mut self) {
        self.text.clear();
        self.rows.clear();
    }
}

/// Runs a visitor on a thread of its own, fed pages of events copied from the reader,
/// so reading (SQLite decoding, COPY parsing) and visiting (encoding, hashing, writing)
/// use two cores. The pages are recycled: no allocation per event.
pub struct Pipelined<V: Visit> {
    page: Page,
    to_worker: Option<std::sync::mpsc::SyncSender<Page>>,
    recycled: std::sync::mpsc::Receiver<Page>,
    worker: Option<std::thread::JoinHandle<V>>,
    stopped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<V: Visit> Pipelined<V> {
    /// Starts the visitor's thread.
    pub fn new(mut visitor: V) -> Pipelined<V> {
        use std::sync::atomic::Ordering;
        let (to_worker, pages) = std::sync::mpsc::sync_channel::<Page>(2);
        let (give_back, recycled) = std::sync::mpsc::channel::<Page>();
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = stopped.clone();
        let worker = std::thread::spawn(move || {
            for mut page in pages {
                for i in 0..page.rows.len() {
                    if !visitor.visit(&page.get(i)) {
                        stop.store(true, Ordering::Relaxed);
                        return visitor;
                    }
                }
                page.clear();
                let _ = give_back.send(page);
            }
            visitor
        });
        Pipelined {
            page: Page::default(),
            to_worker: Some(to_worker),
            recycled,
            worker: Some(worker),
            stopped,
        }
    }

    fn flush(&mut self) {
        let next = self.recycled.try_recv().unwrap_or_default();
        let full = std::mem::replace(&mut self.page, next);
        if let Some(tx) = &self.to_worker {
            // Fails only when the visitor stopped early; `stopped` says so.
            let _ = tx.send(full);
        }
    }

    /// Hands over the last page, waits for the visitor and returns it.
    pub fn finish(mut self) -> Result<V, StoreError> {
        if !self.page.rows.is_empty() {
            self.flush();
        }
        self.to_worker = None;
        self.worker
            .take()
            .map(|w| w.join())
            .and_then(Result::ok)
            .ok_or_else(|| StoreError("the audit verifier thread failed".into()))
    }
}

impl<V: Visit> Visit for Pipelined<V> {
    fn visit(&mut self, e: &EventRef<'_>) -> bool {
        if self.stopped.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        self.page.push(e);
        if self.page.rows.len() >= PIPE_PAGE {
            self.flush();
        }
        true
    }
}

impl Visit for LogVerifier {
    fn visit(&mut self, e: &EventRef<'_>) -> bool {
        self.push(e)
    }
}

/// Where the bulk reads go.
enum Source {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Source {
    fn of(store: &Store) -> Result<Source, StoreError> {
        let url = store.pool().connect_options().database_url.to_string();
        Ok(match store.backend() {
            Backend::Sqlite => {
                use std::str::FromStr;
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?;
                Source::Sqlite(opts.get_filename().to_path_buf())
            }
            Backend::Postgres => Source::Postgres(url),
        })
    }
}

impl Store {
    /// Feeds the events with `after < seq <= upto` to `visitor`, in order, one page at a
    /// time; returns the visitor.
    pub async fn scan_events<V: Visit>(
        &self,
        after: i64,
        upto: i64,
        visitor: V,
    ) -> Result<V, StoreError> {
        match Source::of(self)? {
            Source::Sqlite(path) => {
                tokio::task::spawn_blocking(move || scan_sqlite(&path, after, upto, visitor))
                    .await
                    .map_err(|e| StoreError(format!("the audit reader stopped: {e}")))?
            }
            Source::Postgres(url) => scan_postgres(&url, after, upto, visitor).await,
        }
    }

    /// The newest retention anchor: the log starts right after it.
    pub async fn newest_anchor(&self) -> Result<Option<Anchor>, StoreError> {
        let row: Option<AnchorRow> = sqlx::query_as(
            "SELECT tree_size, root_hash, chain_head, frontier, pruned_before, archive, archive_digest, at, public_key, signature \
             FROM audit_anchors ORDER BY tree_size DESC LIMIT 1",
        )
        .fetch_optional(self.pool())
        .await?;
        row.map(anchor_from_row).transpose()
    }

    /// Walks the log from the newest retention anchor (or event #1) and checks the
    /// hash chain, the anchor and every signed checkpoint (by `trusted_key` when given).
    pub(crate) async fn verify_streaming(
        &self,
        trusted_key: Option<&str>,
    ) -> Result<LogReport, StoreError> {
        let ring = trusted_key.map(KeyRing::single);
        self.verify_against(ring.as_ref(), Vec::new()).await
    }

    /// [`Store::verify_log`] trusting a ring of current and retired keys (when given),
    /// and also checking the log against tree heads witnesses kept: a history rewritten
    /// and re-signed with the real key is named by the first witnessed head it
    /// contradicts.
    pub async fn verify_against(
        &self,
        ring: Option<&KeyRing>,
        witnessed: Vec<WitnessedHead>,
    ) -> Result<LogReport, StoreError> {
        let mut retried = false;
        loop {
            let anchor = self.newest_anchor().await?;
            let checkpoints = self.checkpoints().await?;
            let start = anchor.as_ref().map_or(0, |a| a.tree_size);
            let v = Pipelined::new(
                LogVerifier::with_keys(checkpoints, anchor.as_ref(), ring)
                    .with_witnessed(witnessed.clone()),
            );
            let report = self
                .scan_events(start, i64::MAX, v)
                .await?
                .finish()?
                .finish();
            // A prune that committed between reading the anchor and the first page moves
            // the log's start: look once more before calling that a deletion.
            let moved = || async {
                self.newest_anchor()
                    .await
                    .map(|a| a.map_or(0, |a| a.tree_size) != start)
            };
            if !retried && matches!(&report, LogReport::Broken { events: 0, .. }) && moved().await?
            {
                retried = true;
                continue;
            }
            return Ok(report);
        }
    }
}

type AnchorRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
);

fn anchor_from_row(r: AnchorRow) -> Result<Anchor, StoreError> {
    let frontier: Vec<String> = serde_json::from_str(&r.3).map_err(|e| {
        StoreError(format!(
            "the retention anchor at event #{} has an unreadable frontier ({e}); run `gatehouse audit verify`",
            r.0
        ))
    })?;
    Ok(Anchor {
        tree_size: r.0,
        root_hash: r.1,
        chain_head: r.2,
        frontier,
        pruned_before: r.4,
        archive: r.5,
        archive_digest: r.6,
        at: r.7,
        public_key: r.8,
        signature: r.9,
    })
}

fn scan_sqlite<V: Visit>(
    path: &std::path::Path,
    mut after: i64,
    upto: i64,
    mut visitor: V,
) -> Result<V, StoreError> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3"
    ))?;
    loop {
        let mut rows = stmt.query(rusqlite::params![after, upto, PAGE])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            let text = |i: usize| -> Result<&str, StoreError> {
                r.get_ref(i)?
                    .as_str()
                    .map_err(|e| StoreError(format!("audit event column {i}: {e}")))
            };
            let opt = |i: usize| -> Result<Option<&str>, StoreError> {
                r.get_ref(i)?
                    .as_str_or_null()
                    .map_err(|e| StoreError(format!("audit event column {i}: {e}")))
            };
            let e = event_from_columns(r.get(0)?, text, opt)?;
            after = e.record.seq;
            n += 1;
            if !visitor.visit(&e) {
                return Ok(visitor);
            }
        }
        if n < PAGE {
            return Ok(visitor);
        }
    }
}

async fn scan_postgres<V: Visit>(
    url: &str,
    mut after: i64,
    upto: i64,
    mut visitor: V,
) -> Result<V, StoreError> {
    use futures::StreamExt;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    loop {
        // Integers formatted into the statement: COPY takes no bind parameters.
        let sql = format!(
            "COPY (SELECT {COLUMNS} FROM audit_events WHERE seq > {after} AND seq <= {upto} ORDER BY seq LIMIT {PAGE}) TO STDOUT (FORMAT binary)"
        );
        let mut stream = conn.copy_out_raw(&sql).await?;
        buf.clear();
        let mut pos = 0usize;
        let mut header = false;
        let mut n = 0i64;
        let mut stop = false;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            buf.drain(..pos);
            pos = 0;
            buf.extend_from_slice(&chunk);
            if !header {
                match copy_header(&buf) {
                    Some(len) => {
                        pos = len;
                        header = true;
                    }
                    None => continue,
                }
            }
            loop {
                match copy_tuple(&buf[pos..])? {
                    Tuple::More => break,
                    Tuple::End => break,
                    Tuple::Row(e, used) => {
                        after = e.record.seq;
                        n += 1;
                        pos += used;
                        if !visitor.visit(&e) {
                            stop = true;
                            break;
                        }
                    }
                }
            }
            if stop {
                // The rest of the page is not needed; the connection is dropped with it.
                return Ok(visitor);
            }
        }
        drop(stream);
        if n < PAGE {
            let _ = conn.close().await;
            return Ok(visitor);
        }
    }
}

/// The binary COPY header's length once it is all in `buf`.
fn copy_header(buf: &[u8]) -> Option<usize> {
    const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
    if buf.len() < 19 {
        return None;
    }
    let ext = u32::from_be_bytes(buf[15..19].try_into().ok()?) as usize;
    (buf.len() >= 19 + ext && buf.starts_with(SIGNATURE)).then_some(19 + ext)
}

// Returned by value and matched at once, never stored: boxing the row would allocate
// once per event, which is what this module avoids.
#[allow(clippy::large_enum_variant)]
enum Tuple<'a> {
    Row(EventRef<'a>, usize),
    More,
    End,
}

/// One binary COPY tuple of the 13 audit columns from the front of `buf`.
fn copy_tuple(buf: &[u8]) -> Result<Tuple<'_>, StoreError> {
    if buf.len() < 2 {
        return Ok(Tuple::More);
    }
    let fields = i16::from_be_bytes([buf[0], buf[1]]);
    if fields == -1 {
        return Ok(Tuple::End);
    }
    if fields != 13 {
        return Err(StoreError(format!(
            "reading the audit log: COPY returned {fields} columns, expected 13"
        )));
    }
    let mut pos = 2;
    let mut cols: [Option<&[u8]>; 13] = [None; 13];
    for col in &mut cols {
        let Some(len) = buf.get(pos..pos + 4) else {
            return Ok(Tuple::More);
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        pos += 4;
        if len >= 0 {
            let Some(v) = buf.get(pos..pos + len as usize) else {
                return Ok(Tuple::More);
            };
            *col = Some(v);
            pos += len as usize;
        }
    }
    let bad = |i: usize| StoreError(format!("reading the audit log: bad value in column {i}"));
    let opt = |i: usize| -> Result<Option<&str>, StoreError> {
        cols[i]
            .map(|b| std::str::from_utf8(b).map_err(|_| bad(i)))
            .transpose()
    };
    let text = |i: usize| opt(i)?.ok_or_else(|| bad(i));
    let seq = cols[0]
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(i64::from_be_bytes)
        .ok_or_else(|| bad(0))?;
    Ok(Tuple::Row(event_from_columns(seq, text, opt)?, pos))
}

/// An event from columns 1..=12 of a [`COLUMNS`] row (column 0, `seq`, already read):
/// `text` reads a NOT NULL column, `opt` a nullable one. Shared by the SQLite row reader
/// and the PostgreSQL COPY tuple parser so the two cannot disagree on the column order.
fn event_from_columns<'a>(
    seq: i64,
    text: impl Fn(usize) -> Result<&'a str, StoreError>,
    opt: impl Fn(usize) -> Result<Option<&'a str>, StoreError>,
) -> Result<EventRef<'a>, StoreError> {
    Ok(EventRef {
        record: ChainRecord {
            seq,
            session_id: text(1)?,
            at: text(2)?,
            direction: text(3)?,
            kind: text(4)?,
            method: opt(5)?,
            tool: opt(6)?,
            rpc_id: opt(7)?,
            payload: text(8)?,
            masked: opt(9)?,
            decision: opt(10)?,
        },
        prev_hash: opt(11)?,
        hash: opt(12)?,
    })
}
