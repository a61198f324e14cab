//! The PostgreSQL engine, for several Stratus nodes sharing one database.
//!
//! A transaction is one round trip: the `stratus_commit` function takes the checks and writes
//! as arrays, locks the touched keys (transaction-scoped advisory locks, in a stable order, so
//! that a precondition on an absent key is as safe as one on a present key), checks, writes
//! and queues `pg_notify` wake-ups that PostgreSQL delivers at commit to every node.

use std::ops::Bound;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::{Bytes, Check, Engine, Result, Scan, StoreError, Txn, Write, notify};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS stratus_kv (ns text NOT NULL, k bytea NOT NULL, v bytea NOT NULL, PRIMARY KEY (ns, k));
CREATE TABLE IF NOT EXISTS stratus_leases (name text PRIMARY KEY, holder text NOT NULL, expires_ms bigint NOT NULL);
CREATE OR REPLACE FUNCTION stratus_commit(c_kind int[], c_ns text[], c_k bytea[], c_v bytea[],
                                          w_kind int[], w_ns text[], w_k bytea[], w_v bytea[],
                                          topics text[]) RETURNS int AS $$
DECLARE
  i int;
  cur bytea;
  present boolean;
BEGIN
  PERFORM pg_advisory_xact_lock(h) FROM (
    SELECT DISTINCT hashtextextended(n || ':' || encode(key, 'hex'), 0) AS h
    FROM unnest(c_ns || w_ns, c_k || w_k) AS t(n, key) ORDER BY 1) s;
  FOR i IN 1 .. coalesce(array_length(c_kind, 1), 0) LOOP
    SELECT v INTO cur FROM stratus_kv WHERE ns = c_ns[i] AND k = c_k[i];
    present := FOUND;
    IF (c_kind[i] = 0 AND NOT present) OR (c_kind[i] = 1 AND present)
       OR (c_kind[i] = 2 AND (NOT present OR cur IS DISTINCT FROM c_v[i])) THEN
      RETURN i - 1;
    END IF;
  END LOOP;
  FOR i IN 1 .. coalesce(array_length(w_kind, 1), 0) LOOP
    IF w_kind[i] = 0 THEN
      INSERT INTO stratus_kv (ns, k, v) VALUES (w_ns[i], w_k[i], w_v[i])
        ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v;
    ELSIF w_kind[i] = 1 THEN
      DELETE FROM stratus_kv WHERE ns = w_ns[i] AND k = w_k[i];
    ELSE
      DELETE FROM stratus_kv WHERE ns = w_ns[i] AND k >= w_k[i] AND (w_v[i] IS NULL OR k < w_v[i]);
    END IF;
  END LOOP;
  FOR i IN 1 .. coalesce(array_length(topics, 1), 0) LOOP
    PERFORM pg_notify('stratus', topics[i]);
  END LOOP;
  RETURN -1;
END $$ LANGUAGE plpgsql;
"#;

/// Serializes schema set-up between nodes starting at the same time.
const INIT_LOCK: i64 = 0x5354_5241_5455_5301;

pub struct PostgresEngine {
    pool: Pool,
    config: tokio_postgres::Config,
}

fn engine_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

fn pg_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Engine(format!("postgres: {}: {}", db.code().code(), db.message())),
        None => StoreError::Engine(format!("postgres: {e}")),
    }
}

/// Splits our own `stratus_schema=NAME` parameter off a connection URL.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|p| match p.strip_prefix("stratus_schema=") {
            Some(s) => {
                schema = Some(s.to_string());
                false
            }
            None => true,
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, schema)
}

impl PostgresEngine {
    /// Connects to `url` (a `postgres://` URL; `stratus_schema=NAME` keeps the tables in a
    /// schema of their own) and creates the tables if needed.
    pub async fn connect(url: &str, fsync: bool) -> Result<Self> {
        let (url, schema) = split_schema(url);
        let mut config: tokio_postgres::Config = url.parse().map_err(engine_err)?;
        if let Some(s) = &schema
            && !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StoreError::Engine(format!("invalid schema name '{s}'")));
        }
        // Without fsync a commit is acknowledged once PostgreSQL has it: a kill -9 of Stratus
        // loses nothing; only a crash of the database host may lose the last few commits.
        let mut options = format!("-c synchronous_commit={}", if fsync { "on" } else { "off" });
        if let Some(s) = &schema {
            options.push_str(&format!(" -c search_path={s}"));
        }
        config.options(&options);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let mgr = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr).max_size(16).build().map_err(engine_err)?;
        let client = pool.get().await.map_err(engine_err)?;
        if let Some(s) = &schema {
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
                .await
                .or_else(|e| {
                    if e.code().is_some_and(|c| c.code() == "23505") {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(pg_err)?;
        }
        client
            .execute("SELECT pg_advisory_lock($1)", &[&INIT_LOCK])
            .await
            .map_err(pg_err)?;
        let created = client.batch_execute(SCHEMA).await.map_err(pg_err);
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&INIT_LOCK])
            .await
            .map_err(pg_err)?;
        created?;
        drop(client);
        Ok(Self { pool, config })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(engine_err)
    }
}

impl Engine for PostgresEngine {
    async fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Bytes>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT v FROM stratus_kv WHERE ns = $1 AND k = $2")
            .await
            .map_err(pg_err)?;
        let row = c.query_opt(&stmt, &[&ns, &key]).await.map_err(pg_err)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn scan(&self, ns: &str, scan: &Scan) -> Result<Vec<(Bytes, Bytes)>> {
        let mut sql = String::from("SELECT k, v FROM stratus_kv WHERE ns = $1");
        let mut args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&ns];
        let (start, end);
        match &scan.start {
            Bound::Included(s) | Bound::Excluded(s) => {
                start = s.as_slice();
                args.push(&start);
                let op = if matches!(scan.start, Bound::Included(_)) {
                    ">="
                } else {
                    ">"
                };
                sql.push_str(&format!(" AND k {op} ${}", args.len()));
            }
            Bound::Unbounded => {}
        }
        match &scan.end {
            Bound::Included(e) | Bound::Excluded(e) => {
                end = e.as_slice();
                args.push(&end);
                let op = if matches!(scan.end, Bound::Included(_)) {
                    "<="
                } else {
                    "<"
                };
                sql.push_str(&format!(" AND k {op} ${}", args.len()));
            }
            Bound::Unbounded => {}
        }
        sql.push_str(if scan.reverse {
            " ORDER BY k DESC"
        } else {
            " ORDER BY k ASC"
        });
        if scan.limit < i64::MAX as usize {
            sql.push_str(&format!(" LIMIT {}", scan.limit));
        }
        let c = self.client().await?;
        let stmt = c.prepare_cached(&sql).await.map_err(pg_err)?;
        let rows = c.query(&stmt, &args).await.map_err(pg_err)?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn commit(&self, txn: Txn) -> Result<()> {
        let (mut c_kind, mut c_ns, mut c_k, mut c_v) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for check in &txn.checks {
            let (kind, ns, key, value) = match check {
                Check::Exists { ns, key } => (0i32, ns, key, None),
                Check::Absent { ns, key } => (1, ns, key, None),
                Check::Equals { ns, key, value } => (2, ns, key, Some(value.as_slice())),
            };
            c_kind.push(kind);
            c_ns.push(ns.as_str());
            c_k.push(key.as_slice());
            c_v.push(value);
        }
        let mut ends = Vec::new();
        for write in &txn.writes {
            if let Write::DeletePrefix { prefix, .. } = write {
                ends.push(crate::keys::prefix_end(prefix));
            }
        }
        let (mut w_kind, mut w_ns, mut w_k, mut w_v) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut ends = ends.iter();
        for write in &txn.writes {
            let (kind, ns, key, value) = match write {
                Write::Put { ns, key, value } => (0i32, ns, key, Some(value.as_slice())),
                Write::Delete { ns, key } => (1, ns, key, None),
                Write::DeletePrefix { ns, prefix } => (2, ns, prefix, ends.next().and_then(|e| e.as_deref())),
            };
            w_kind.push(kind);
            w_ns.push(ns.as_str());
            w_k.push(key.as_slice());
            w_v.push(value);
        }
        let topics: Vec<&str> = txn.notify.iter().map(String::as_str).collect();
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT stratus_commit($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .await
            .map_err(pg_err)?;
        let row = c
            .query_one(
                &stmt,
                &[&c_kind, &c_ns, &c_k, &c_v, &w_kind, &w_ns, &w_k, &w_v, &topics],
            )
            .await
            .map_err(pg_err)?;
        let failed: i32 = row.get(0);
        if failed >= 0 {
            return Err(StoreError::ConditionFailed {
                index: failed as usize,
            });
        }
        Ok(())
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO stratus_leases (name, holder, expires_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                 WHERE stratus_leases.holder = excluded.holder OR stratus_leases.expires_ms <= $4",
                &[&name, &holder, &(now_ms + ttl_ms), &now_ms],
            )
            .await
            .map_err(pg_err)?;
        Ok(n > 0)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM stratus_leases WHERE name = $1 AND holder = $2",
            &[&name, &holder],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    async fn wipe(&self) -> Result<()> {
        let c = self.client().await?;
        c.batch_execute("TRUNCATE stratus_kv, stratus_leases")
            .await
            .map_err(pg_err)
    }

    async fn stats(&self, ns: &str) -> Result<(u64, u64)> {
        let c = self.client().await?;
        let row = c
            .query_one(
                // The size a value declares (`crate::value_size`), else its length.
                "SELECT count(*), coalesce(sum(CASE WHEN length(v) >= 5 AND get_byte(v, 0) = 1 \
                 THEN get_byte(v, 1)::bigint + get_byte(v, 2)::bigint * 256 \
                 + get_byte(v, 3)::bigint * 65536 + get_byte(v, 4)::bigint * 16777216 \
                 ELSE length(v) END), 0)::bigint FROM stratus_kv WHERE ns = $1",
                &[&ns],
            )
            .await
            .map_err(pg_err)?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    fn subscribe_remote(&self, hub: notify::Hub) {
        let config = self.config.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = listen(&config, &hub).await {
                    tracing::warn!(error = %e, "postgres LISTEN connection lost; reconnecting");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// Forwards NOTIFY payloads (topics) from other nodes into the local hub until the connection drops.
async fn listen(config: &tokio_postgres::Config, hub: &notify::Hub) -> Result<()> {
    let (client, mut connection) = config.connect(NoTls).await.map_err(pg_err)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(msg) = messages.next().await {
            match msg {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    client.batch_execute("LISTEN stratus").await.map_err(pg_err)?;
    while let Some(topic) = rx.recv().await {
        hub.wake(&topic);
    }
    driver.abort();
    Ok(())
}
