//! Order-preserving key encoding: composite keys whose byte order equals the order of their
//! parts, so range scans return rows in the order AWS defines.
//!
//! Strings and byte strings are escaped (`00` → `00 FF`) and terminated by `00 01`, so a
//! shorter part sorts before any longer part that extends it; integers are big-endian with the
//! sign bit flipped.

/// Builds a composite key part by part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyBuf(pub Vec<u8>);

impl KeyBuf {
    pub fn new() -> Self {
        // Room for a typical key: parts are appended without growing the buffer.
        Self(Vec::with_capacity(64))
    }
    pub fn bytes(mut self, part: &[u8]) -> Self {
        encode_bytes(&mut self.0, part);
        self
    }
    pub fn str(self, part: &str) -> Self {
        self.bytes(part.as_bytes())
    }
    pub fn u64(mut self, part: u64) -> Self {
        self.0.extend_from_slice(&part.to_be_bytes());
        self
    }
    pub fn i64(mut self, part: i64) -> Self {
        self.0
            .extend_from_slice(&((part as u64) ^ (1 << 63)).to_be_bytes());
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Appends the escaped, terminated form of `part`.
pub fn encode_bytes(out: &mut Vec<u8>, part: &[u8]) {
    out.reserve(part.len() + 2);
    // Runs between zero bytes are copied whole: keys rarely hold a zero byte.
    for run in part.split_inclusive(|&b| b == 0) {
        out.extend_from_slice(run);
        if run.last() == Some(&0) {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

/// Reads one escaped part from the front of `input`; returns it and the rest.
pub fn decode_bytes(input: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == 0 {
            match input.get(i + 1) {
                Some(0xFF) => {
                    out.push(0);
                    i += 2;
                }
                Some(1) => return Some((out, &input[i + 2..])),
                _ => return None,
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    None
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.iter().fold(KeyBuf::new(), |k, p| k.bytes(p)).finish()
    }

    #[test]
    fn zero_bytes_are_escaped_wherever_they_are() {
        assert_eq!(enc(&[vec![]]), [0, 1]);
        assert_eq!(enc(&[b"ab".to_vec()]), [b'a', b'b', 0, 1]);
        assert_eq!(enc(&[vec![0, 7, 0, 0]]), [0, 0xFF, 7, 0, 0xFF, 0, 0xFF, 0, 1]);
        assert_eq!(enc(&[vec![7, 0], vec![0]]), [7, 0, 0xFF, 0, 1, 0, 0xFF, 0, 1]);
    }

    proptest! {
        #[test]
        fn byte_tuples_keep_their_order(a in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 1..4),
                                        b in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..6), 1..4)) {
            prop_assert_eq!(a.cmp(&b), enc(&a).cmp(&enc(&b)));
        }

        #[test]
        fn integers_keep_their_order(a: i64, b: i64, x: u64, y: u64) {
            prop_assert_eq!(a.cmp(&b), KeyBuf::new().i64(a).finish().cmp(&KeyBuf::new().i64(b).finish()));
            prop_assert_eq!(x.cmp(&y), KeyBuf::new().u64(x).finish().cmp(&KeyBuf::new().u64(y).finish()));
        }

        #[test]
        fn bytes_round_trip(a in proptest::collection::vec(any::<u8>(), 0..32), rest in proptest::collection::vec(any::<u8>(), 0..8)) {
            let mut k = Vec::new();
            encode_bytes(&mut k, &a);
            k.extend_from_slice(&rest);
            let (back, tail) = decode_bytes(&k).unwrap();
            prop_assert_eq!(back, a);
            prop_assert_eq!(tail, rest.as_slice());
        }

        #[test]
        fn prefix_end_bounds_every_extension(p in proptest::collection::vec(any::<u8>(), 0..6), ext in proptest::collection::vec(any::<u8>(), 0..6)) {
            let mut k = p.clone();
            k.extend_from_slice(&ext);
            if let Some(end) = prefix_end(&p) {
                prop_assert!(k < end);
                prop_assert!(p < end);
            }
        }
    }
}
