//! Model-based property test: random transactions (puts, deletes, prefix deletes, with
//! exists/absent/equals preconditions) applied to an engine and to a `BTreeMap` give the same
//! outcomes, the same contents, the same scans in both directions and the same counts.

use std::collections::BTreeMap;
use std::ops::Bound;

use proptest::prelude::*;
use stratus_store::{Check, EmbeddedEngine, PostgresEngine, Scan, Store, StoreError, Txn, Write};

type Model = BTreeMap<(String, Vec<u8>), Vec<u8>>;

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0x7f, 0xff]), 0..3)
}

/// A value: short bytes, sometimes with a size header (which `stats` counts instead of the
/// length).
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => key(),
        1 => (0u32..100_000, key()).prop_map(|(size, body)| [&stratus_store::sized_header(size)[..], &body].concat()),
    ]
}

fn ns() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a".to_string(), "b".to_string()])
}

fn check() -> impl Strategy<Value = Check> {
    prop_oneof![
        (ns(), key()).prop_map(|(ns, key)| Check::Exists { ns, key }),
        (ns(), key()).prop_map(|(ns, key)| Check::Absent { ns, key }),
        (ns(), key(), key()).prop_map(|(ns, key, value)| Check::Equals { ns, key, value }),
    ]
}

fn write() -> impl Strategy<Value = Write> {
    prop_oneof![
        4 => (ns(), key(), value()).prop_map(|(ns, key, value)| Write::Put { ns, key, value }),
        2 => (ns(), key()).prop_map(|(ns, key)| Write::Delete { ns, key }),
        1 => (ns(), key()).prop_map(|(ns, prefix)| Write::DeletePrefix { ns, prefix }),
    ]
}

/// A transaction, and whether the embedded engine's memtable is flushed into SQLite after it
/// (so that reads and checks meet keys in the memtable, in SQLite, and in both).
fn txn() -> impl Strategy<Value = (Txn, bool)> {
    (
        prop::collection::vec(check(), 0..3),
        prop::collection::vec(write(), 1..5),
        prop::bool::weighted(0.25),
    )
        .prop_map(|(checks, writes, flush)| {
            (
                Txn {
                    checks,
                    writes,
                    notify: vec![],
                },
                flush,
            )
        })
}

/// What the model says a transaction does: Ok, or the index of the first failing check.
fn apply(model: &mut Model, txn: &Txn) -> Result<(), usize> {
    for (i, c) in txn.checks.iter().enumerate() {
        let holds = match c {
            Check::Exists { ns, key } => model.contains_key(&(ns.clone(), key.clone())),
            Check::Absent { ns, key } => !model.contains_key(&(ns.clone(), key.clone())),
            Check::Equals { ns, key, value } => model.get(&(ns.clone(), key.clone())) == Some(value),
        };
        if !holds {
            return Err(i);
        }
    }
    for w in &txn.writes {
        match w {
            Write::Put { ns, key, value } => {
                model.insert((ns.clone(), key.clone()), value.clone());
            }
            Write::Delete { ns, key } => {
                model.remove(&(ns.clone(), key.clone()));
            }
            Write::DeletePrefix { ns, prefix } => {
                model.retain(|(n, k), _| !(n == ns && k.starts_with(prefix)))
            }
        }
    }
    Ok(())
}

async fn run(store: &Store, txns: &[(Txn, bool)], lo: &[u8], hi: &[u8]) -> Result<(), TestCaseError> {
    let mut model = Model::new();
    for (t, flush) in txns {
        let expected = apply(&mut model, t);
        let got = match store.commit(t.clone()).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { index }) => Err(index),
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        prop_assert_eq!(got, expected);
        if let (true, Some(engine)) = (flush, store.embedded()) {
            engine
                .flush_now()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        // Point reads of every key the transaction touched (these fill and must invalidate
        // the embedded engine's row cache).
        let touched = t.checks.iter().map(|c| match c {
            Check::Exists { ns, key } | Check::Absent { ns, key } | Check::Equals { ns, key, .. } => {
                (ns, key)
            }
        });
        let written = t.writes.iter().map(|w| match w {
            Write::Put { ns, key, .. } | Write::Delete { ns, key } => (ns, key),
            Write::DeletePrefix { ns, prefix } => (ns, prefix),
        });
        for (ns, key) in touched.chain(written) {
            let got = store
                .get(ns, key)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got.as_ref(), model.get(&(ns.clone(), key.clone())));
        }
    }
    for ns in ["a", "b"] {
        let want: Vec<(Vec<u8>, Vec<u8>)> = model
            .iter()
            .filter(|((n, _), _)| n == ns)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect();
        prop_assert_eq!(&store.scan(ns, &Scan::all()).await.unwrap(), &want);
        let mut rev = want.clone();
        rev.reverse();
        prop_assert_eq!(&store.scan(ns, &Scan::all().reverse()).await.unwrap(), &rev);
        let range = Scan {
            start: Bound::Included(lo.to_vec()),
            end: Bound::Excluded(hi.to_vec()),
            reverse: false,
            limit: 3,
        };
        let want_range: Vec<_> = want
            .iter()
            .filter(|(k, _)| k.as_slice() >= lo && k.as_slice() < hi)
            .take(3)
            .cloned()
            .collect();
        prop_assert_eq!(&store.scan(ns, &range).await.unwrap(), &want_range);
        // The same range by values: the last key comes back only when the limit stopped it.
        let by_values = store.scan_values(ns, &range).await.unwrap();
        let want_values: Vec<_> = want_range.iter().map(|(_, v)| v.clone()).collect();
        prop_assert_eq!(&by_values.values, &want_values);
        let want_last = (want_range.len() == 3).then(|| want_range[2].0.clone());
        prop_assert_eq!(&by_values.last_key, &want_last);
        let mut want_rev_range: Vec<_> = want
            .iter()
            .filter(|(k, _)| k.as_slice() >= lo && k.as_slice() < hi)
            .cloned()
            .collect();
        want_rev_range.reverse();
        want_rev_range.truncate(2);
        prop_assert_eq!(
            &store
                .scan(
                    ns,
                    &Scan {
                        reverse: true,
                        limit: 2,
                        ..range.clone()
                    }
                )
                .await
                .unwrap(),
            &want_rev_range
        );
        let size = want
            .iter()
            .map(|(_, v)| stratus_store::value_size(v))
            .sum::<u64>();
        prop_assert_eq!(store.stats(ns).await.unwrap(), (want.len() as u64, size));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn embedded_matches_the_model(txns in prop::collection::vec(txn(), 1..24), lo in key(), hi in key()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::from_embedded(EmbeddedEngine::open(&dir.path().join("m.db"), false).unwrap());
        rt.block_on(run(&store, &txns, &lo, &hi))?;
    }

    #[test]
    fn postgres_matches_the_model(txns in prop::collection::vec(txn(), 1..24), lo in key(), hi in key()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let base = std::env::var("STRATUS_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        rt.block_on(async {
            let url = format!("{base}?stratus_schema=model_{}", std::process::id());
            let store = Store::from_postgres(PostgresEngine::connect(&url, false).await.unwrap());
            store.wipe().await.unwrap();
            run(&store, &txns, &lo, &hi).await
        })?;
    }
}
