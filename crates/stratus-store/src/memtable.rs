//! The embedded engine's write front: recent writes in memory (a sorted map per namespace,
//! deletions kept as tombstones) and the log records that make them durable before they are
//! acknowledged. See docs/decisions/0010-embedded-write-front.md.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::iter::Peekable;
use std::ops::Bound;

use crate::{Bytes, Scan};

/// What one entry costs beyond its bytes (map node share, allocation headers), for the size
/// that decides when the memtable is flushed.
const ENTRY_OVERHEAD: usize = 64;

/// Recent writes: `Some(value)` for a put, `None` for a deletion (a tombstone that hides an
/// older value in SQLite until the memtable is flushed).
#[derive(Default)]
pub struct Memtable {
    spaces: HashMap<String, BTreeMap<Bytes, Option<Bytes>>>,
    bytes: usize,
}

impl Memtable {
    /// `Some(entry)` when the memtable knows the key (a value or a tombstone).
    pub fn get(&self, ns: &str, key: &[u8]) -> Option<Option<&Bytes>> {
        self.spaces.get(ns)?.get(key).map(Option::as_ref)
    }

    pub fn set(&mut self, ns: &str, key: Bytes, value: Option<Bytes>) {
        let added = key.len() + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD;
        let space = match self.spaces.get_mut(ns) {
            Some(s) => s,
            None => {
                self.bytes += ns.len() + ENTRY_OVERHEAD;
                self.spaces.entry(ns.to_string()).or_default()
            }
        };
        let klen = key.len();
        if let Some(old) = space.insert(key, value) {
            self.bytes -= klen + old.map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
        }
        self.bytes += added;
    }

    /// Forgets a key.
    pub fn remove(&mut self, ns: &str, key: &[u8]) {
        if let Some(space) = self.spaces.get_mut(ns)
            && let Some(old) = space.remove(key)
        {
            self.bytes -= key.len() + old.map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.spaces.is_empty()
    }

    /// Approximate memory held, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The entries of `ns` within the scan's bounds, in the scan's direction.
    pub fn range<'a>(
        &'a self,
        ns: &str,
        scan: &Scan,
    ) -> Box<dyn Iterator<Item = (&'a [u8], Option<&'a Bytes>)> + 'a> {
        let Some(space) = self.spaces.get(ns) else {
            return Box::new(std::iter::empty());
        };
        if bounds_empty(&scan.start, &scan.end) {
            return Box::new(std::iter::empty());
        }
        let r = space
            .range::<[u8], _>((as_slice(&scan.start), as_slice(&scan.end)))
            .map(|(k, v)| (k.as_slice(), v.as_ref()));
        if scan.reverse {
            Box::new(r.rev())
        } else {
            Box::new(r)
        }
    }

    /// Every entry, namespaces in byte order and keys in order within each (the order that
    /// keeps a flush's inserts close together in SQLite's tree).
    pub fn sorted(&self) -> impl Iterator<Item = (&str, &[u8], Option<&Bytes>)> {
        let mut names: Vec<&String> = self.spaces.keys().collect();
        names.sort();
        names.into_iter().flat_map(move |ns| {
            self.spaces[ns]
                .iter()
                .map(move |(k, v)| (ns.as_str(), k.as_slice(), v.as_ref()))
        })
    }
}

fn as_slice(b: &Bound<Bytes>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// True when no key can lie between the bounds (`BTreeMap::range` panics on some of these).
fn bounds_empty(start: &Bound<Bytes>, end: &Bound<Bytes>) -> bool {
    match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s > e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => s >= e,
        _ => false,
    }
}

/// Merges two streams of `(key, entry)` sorted in the same direction; on equal keys the
/// `newer` stream's entry wins and the older one is dropped.
pub struct Merge<K, V, A: Iterator<Item = (K, Option<V>)>, B: Iterator<Item = (K, Option<V>)>> {
    newer: Peekable<A>,
    older: Peekable<B>,
    reverse: bool,
}

impl<K: Ord, V, A: Iterator<Item = (K, Option<V>)>, B: Iterator<Item = (K, Option<V>)>> Merge<K, V, A, B> {
    pub fn new(newer: A, older: B, reverse: bool) -> Self {
        Self {
            newer: newer.peekable(),
            older: older.peekable(),
            reverse,
        }
    }
}

impl<K: Ord, V, A: Iterator<Item = (K, Option<V>)>, B: Iterator<Item = (K, Option<V>)>> Iterator
    for Merge<K, V, A, B>
{
    type Item = (K, Option<V>);

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.newer.peek(), self.older.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((a, _)), Some((b, _))) if self.reverse => b.cmp(a),
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            Ordering::Less => self.newer.next(),
            Ordering::Greater => self.older.next(),
            Ordering::Equal => {
                self.older.next();
                self.newer.next()
            }
        }
    }
}

/// One put or deletion of a log record.
pub enum Op<'a> {
    Put(&'a str, &'a [u8], &'a [u8]),
    Delete(&'a str, &'a [u8]),
}

const PUT: u8 = 1;
const DELETE: u8 = 2;
/// Length and CRC-32 of the body, each a little-endian u32.
const HEADER: usize = 8;

/// Frames the writes of one transaction as one log record: a torn or damaged record (a crash
/// in the middle of writing it) fails its checksum and is ignored as a whole.
pub fn encode<'a>(ops: impl Iterator<Item = Op<'a>>) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    for op in ops {
        let (tag, ns, key, value) = match op {
            Op::Put(ns, k, v) => (PUT, ns, k, Some(v)),
            Op::Delete(ns, k) => (DELETE, ns, k, None),
        };
        out.push(tag);
        for part in [ns.as_bytes(), key].into_iter().chain(value) {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
    }
    let body = (out.len() - HEADER) as u32;
    let crc = crc32fast::hash(&out[HEADER..]);
    out[..4].copy_from_slice(&body.to_le_bytes());
    out[4..HEADER].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The records of a log file, in order, up to the first incomplete or damaged one.
pub fn decode(mut data: &[u8]) -> Vec<Vec<Op<'_>>> {
    let mut records = Vec::new();
    while data.len() >= HEADER {
        let len = u32::from_le_bytes(data[..4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(data[4..HEADER].try_into().unwrap_or_default());
        let Some(body) = data.get(HEADER..HEADER + len) else {
            break;
        };
        if crc32fast::hash(body) != crc {
            break;
        }
        match ops(body) {
            Some(ops) => records.push(ops),
            None => break,
        }
        data = &data[HEADER + len..];
    }
    records
}

fn ops(mut body: &[u8]) -> Option<Vec<Op<'_>>> {
    fn part<'a>(body: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
        let out = body.get(4..4 + len)?;
        *body = &body[4 + len..];
        Some(out)
    }
    let mut out = Vec::new();
    while let Some((&tag, rest)) = body.split_first() {
        body = rest;
        let ns = std::str::from_utf8(part(&mut body)?).ok()?;
        let key = part(&mut body)?;
        out.push(match tag {
            PUT => Op::Put(ns, key, part(&mut body)?),
            DELETE => Op::Delete(ns, key),
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_torn_tail_is_ignored() {
        let a = encode([Op::Put("ns", b"k1", b"v1"), Op::Delete("ns", b"k2")].into_iter());
        let b = encode([Op::Put("other", b"", b"")].into_iter());
        let mut log = [a.clone(), b.clone()].concat();
        let records = decode(&log);
        assert_eq!(records.len(), 2);
        assert!(matches!(records[0][0], Op::Put("ns", b"k1", b"v1")));
        assert!(matches!(records[0][1], Op::Delete("ns", b"k2")));
        assert!(matches!(records[1][0], Op::Put("other", b"", b"")));
        log.truncate(log.len() - 1);
        assert_eq!(decode(&log).len(), 1);
        let mut damaged = [a, b].concat();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert_eq!(decode(&damaged).len(), 1);
    }

    #[test]
    fn newer_entries_win_and_tombstones_pass_through() {
        let newer = vec![(1, Some("n1")), (3, None)];
        let older = vec![(1, Some("o1")), (2, Some("o2")), (3, Some("o3"))];
        let merged: Vec<_> = Merge::new(newer.into_iter(), older.into_iter(), false).collect();
        assert_eq!(merged, vec![(1, Some("n1")), (2, Some("o2")), (3, None)]);
        let newer = vec![(3, Some("n3")), (1, None)];
        let older = vec![(2, Some("o2")), (1, Some("o1"))];
        let merged: Vec<_> = Merge::new(newer.into_iter(), older.into_iter(), true).collect();
        assert_eq!(merged, vec![(3, Some("n3")), (2, Some("o2")), (1, None)]);
    }

    #[test]
    fn size_follows_overwrites_and_empty_ranges_do_not_panic() {
        let mut m = Memtable::default();
        m.set("a", b"k".to_vec(), Some(vec![0; 100]));
        let one = m.bytes();
        m.set("a", b"k".to_vec(), Some(vec![0; 10]));
        assert_eq!(m.bytes(), one - 90);
        m.set("a", b"k".to_vec(), None);
        assert_eq!(m.get("a", b"k"), Some(None));
        let before = m.bytes();
        m.set("a", b"k2".to_vec(), Some(vec![0; 10]));
        m.remove("a", b"k2");
        assert_eq!((m.bytes(), m.get("a", b"k2")), (before, None));
        let scan = Scan {
            start: Bound::Excluded(b"z".to_vec()),
            end: Bound::Excluded(b"z".to_vec()),
            reverse: false,
            limit: 10,
        };
        assert_eq!(m.range("a", &scan).count(), 0);
        let scan = Scan {
            start: Bound::Included(b"z".to_vec()),
            end: Bound::Included(b"a".to_vec()),
            reverse: true,
            limit: 10,
        };
        assert_eq!(m.range("a", &scan).count(), 0);
    }
}
