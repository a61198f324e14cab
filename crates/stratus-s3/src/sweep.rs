//! Removes blob files no record references. A crash between a body's rename into the blob
//! store and the commit of its record, or between a record's deletion and the removal of its
//! body, leaves such files; nothing ever reads them, they only take disk space. The sweep
//! runs once in the background after start: it lists the blobs stored before the server
//! started, then collects every id the store references (objects, versions, multipart
//! parts), and removes the listed ones nobody references — rechecking that each is still
//! unchanged, so a body a copy has just linked again is kept.

use std::collections::HashSet;
use std::time::SystemTime;

use stratus_store::{Scan, Store};

use crate::backend::Backend;
use crate::model::{OBJECTS, ObjectRecord, PARTS, PartRecord, VERSIONS};

/// Rows read per store scan while collecting references.
const PAGE: usize = 1_000;

/// Every blob id a record of `ns` names.
async fn referenced(
    store: &Store,
    ns: &str,
    ids: &mut HashSet<String>,
) -> Result<(), stratus_store::StoreError> {
    let mut scan = Scan::all().limit(PAGE);
    loop {
        let rows = store.scan(ns, &scan).await?;
        for (_, v) in &rows {
            if ns == PARTS {
                if let Ok(part) = serde_json::from_slice::<PartRecord>(v) {
                    ids.insert(part.blob);
                }
            } else if let Some(rec) = ObjectRecord::decode(v) {
                ids.extend(rec.blob_ids());
            }
        }
        match rows.last() {
            Some((k, _)) if rows.len() == PAGE => scan = Scan::all().limit(PAGE).after(k),
            _ => return Ok(()),
        }
    }
}

/// Removes the unreferenced blobs stored before `started`; returns how many.
pub async fn sweep(backend: &Backend, started: SystemTime) -> usize {
    let candidates = match backend.blobs.stored_before(started).await {
        Ok(c) if c.is_empty() => return 0,
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "blob sweep: could not list blobs");
            return 0;
        }
    };
    let mut ids = HashSet::new();
    for ns in [OBJECTS, VERSIONS, PARTS] {
        if let Err(e) = referenced(&backend.store, ns, &mut ids).await {
            tracing::warn!(error = %e, "blob sweep: could not read the store; nothing removed");
            return 0;
        }
    }
    let mut removed = 0;
    for id in candidates.iter().filter(|id| !ids.contains(*id)) {
        if backend.blobs.delete_unchanged(id, started).await {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(removed, "blob sweep: removed bodies no record references");
    }
    removed
}
