//! Combining CRCs: the CRC of `A ‖ B` from the CRCs of `A` and `B` and the length of `B`, for
//! the reflected CRCs S3 uses (CRC32, CRC32C, CRC64NVME — all with all-ones init and final
//! XOR). This is how a multipart upload's full-object checksum follows from its parts' without
//! reading the object back. Pure: polynomial arithmetic modulo the CRC polynomial (the method
//! of zlib's `crc32_combine`).

/// A reflected CRC of `BITS` bits with polynomial `POLY` (reflected form).
#[derive(Clone, Copy)]
pub struct Crc {
    poly: u64,
    bits: u32,
}

pub const CRC32: Crc = Crc {
    poly: 0xEDB8_8320,
    bits: 32,
};
pub const CRC32C: Crc = Crc {
    poly: 0x82F6_3B78,
    bits: 32,
};
pub const CRC64NVME: Crc = Crc {
    poly: 0x9A6C_9329_AC4B_C9B5,
    bits: 64,
};

impl Crc {
    pub fn by_name(algorithm: &str) -> Option<Crc> {
        match algorithm {
            "CRC32" => Some(CRC32),
            "CRC32C" => Some(CRC32C),
            "CRC64NVME" => Some(CRC64NVME),
            _ => None,
        }
    }

    fn top(self) -> u64 {
        1u64 << (self.bits - 1)
    }

    /// `a(x) · b(x) mod p(x)`, in the reflected representation.
    fn multiply(self, a: u64, mut b: u64) -> u64 {
        let mut m = self.top();
        let mut p = 0u64;
        loop {
            if a & m != 0 {
                p ^= b;
                if a & (m - 1) == 0 {
                    break;
                }
            }
            m >>= 1;
            if m == 0 {
                break;
            }
            b = if b & 1 != 0 { (b >> 1) ^ self.poly } else { b >> 1 };
        }
        p
    }

    /// `x^(8·len) mod p(x)`.
    fn shift(self, len: u64) -> u64 {
        // x^1 in the reflected representation, squared k times: x^(2^k).
        let mut power = self.top() >> 1;
        let mut result = self.top(); // x^0
        let mut n = len * 8;
        while n != 0 {
            if n & 1 != 0 {
                result = self.multiply(power, result);
            }
            power = self.multiply(power, power);
            n >>= 1;
        }
        result
    }

    /// The CRC of `A ‖ B` from `crc(A)`, `crc(B)` and `|B|`.
    pub fn combine(self, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
        self.multiply(self.shift(len_b), crc_a) ^ crc_b
    }

    /// Bytes of a CRC value as S3 prints it (big-endian, then base64).
    pub fn to_bytes(self, crc: u64) -> Vec<u8> {
        let all = crc.to_be_bytes();
        all[(8 - (self.bits / 8) as usize)..].to_vec()
    }

    pub fn parse(self, bytes: &[u8]) -> Option<u64> {
        if bytes.len() != (self.bits / 8) as usize {
            return None;
        }
        Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | *b as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bitwise reference CRC for any of the three.
    fn reference(c: Crc, data: &[u8]) -> u64 {
        let mask = if c.bits == 64 {
            u64::MAX
        } else {
            (1u64 << c.bits) - 1
        };
        let mut crc = mask;
        for &byte in data {
            crc ^= byte as u64;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ c.poly
                } else {
                    crc >> 1
                };
            }
        }
        crc ^ mask
    }

    #[test]
    fn reference_matches_known_values() {
        // The standard check values of the three CRCs over "123456789".
        assert_eq!(reference(CRC32, b"123456789"), 0xCBF4_3926);
        assert_eq!(reference(CRC32C, b"123456789"), 0xE306_9283);
        assert_eq!(reference(CRC64NVME, b"123456789"), 0xAE8B_1486_0A79_9888);
    }

    #[test]
    fn combined_equals_whole() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for c in [CRC32, CRC32C, CRC64NVME] {
            for cut in [0, 1, 7, 4096, 9_999, 10_000] {
                let (a, b) = data.split_at(cut);
                let whole = reference(c, &data);
                assert_eq!(
                    c.combine(reference(c, a), reference(c, b), b.len() as u64),
                    whole,
                    "cut {cut}"
                );
            }
            let bytes = c.to_bytes(reference(c, &data));
            assert_eq!(c.parse(&bytes), Some(reference(c, &data)));
        }
    }
}
