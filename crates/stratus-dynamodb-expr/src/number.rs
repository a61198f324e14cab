//! DynamoDB numbers: up to 38 significant decimal digits, magnitudes from 1E-130 to
//! 9.99…9E+125, exact (no binary floating point anywhere), printed in plain notation as
//! DynamoDB prints them (`1.5E2` → `150`, `-0` → `0`, `1.0` → `1`).

use std::cmp::Ordering;
use std::fmt;

/// Most significant digits a number may have.
pub const MAX_DIGITS: usize = 38;

/// Why a string is not a DynamoDB number; the messages are DynamoDB's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("The parameter cannot be converted to a numeric value: {0}")]
    NotNumeric(String),
    #[error("Attempting to store more than 38 significant digits in a Number")]
    TooManyDigits,
    #[error("Number overflow. Attempting to store a number with magnitude larger than supported range")]
    Overflow,
    #[error("Number underflow. Attempting to store a number with magnitude smaller than supported range")]
    Underflow,
}

/// An exact decimal: `(-1)^neg × 0.d₁d₂…dₙ × 10^exp`, digits without leading or trailing
/// zeros; zero has no digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Number {
    neg: bool,
    digits: Vec<u8>,
    exp: i32,
}

impl Number {
    pub fn zero() -> Self {
        Number {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Parses DynamoDB's number syntax (optional sign, digits with an optional point,
    /// optional exponent) and checks precision and range.
    pub fn parse(s: &str) -> Result<Number, NumberError> {
        let bad = || NumberError::NotNumeric(s.to_string());
        let t = s.trim();
        let (neg, rest) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int_part, frac_part) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(bad());
        }
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let exp10: i64 = match exponent {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                // Saturate absurd exponents; the range check below rejects them.
                e.parse::<i64>()
                    .unwrap_or(if e.starts_with('-') { -1_000_000 } else { 1_000_000 })
            }
        };
        let mut digits: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .map(|b| b - b'0')
            .collect();
        // value = 0.digits × 10^(len(int_part) + exp10), before trimming.
        let mut exp = int_part.len() as i64 + exp10;
        let leading = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..leading);
        exp -= leading as i64;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        let n = Number {
            neg,
            digits,
            exp: exp.clamp(i32::MIN as i64 / 2, i32::MAX as i64 / 2) as i32,
        };
        n.check()
    }

    fn check(self) -> Result<Number, NumberError> {
        if self.digits.len() > MAX_DIGITS {
            return Err(NumberError::TooManyDigits);
        }
        // Largest: 9.99…9E+125 = 0.999…9 × 10^126; smallest: 1E-130 = 0.1 × 10^-129.
        if self.exp > 126 {
            return Err(NumberError::Overflow);
        }
        if self.exp < -129 {
            return Err(NumberError::Underflow);
        }
        Ok(self)
    }

    /// Digits and the exponent of the last digit: value = ±digits × 10^scale.
    fn scaled(&self) -> (i64, i32) {
        (0, self.exp - self.digits.len() as i32)
    }

    fn from_parts(neg: bool, mut digits: Vec<u8>, last_digit_exp: i32) -> Result<Number, NumberError> {
        // digits are most significant first; value = digits × 10^last_digit_exp
        let leading = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..leading);
        let mut exp = last_digit_exp + digits.len() as i32;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        if digits.len() > MAX_DIGITS {
            // Keep 38 digits, as DynamoDB's arithmetic does, rounding half up.
            let round_up = digits[MAX_DIGITS] >= 5;
            digits.truncate(MAX_DIGITS);
            if round_up {
                let mut i = MAX_DIGITS;
                loop {
                    if i == 0 {
                        digits.insert(0, 1);
                        exp += 1;
                        digits.truncate(MAX_DIGITS);
                        break;
                    }
                    i -= 1;
                    if digits[i] == 9 {
                        digits[i] = 0;
                    } else {
                        digits[i] += 1;
                        break;
                    }
                }
            }
            while digits.last() == Some(&0) {
                digits.pop();
            }
        }
        let _ = &mut exp;
        Number { neg, digits, exp }.check()
    }

    fn aligned(&self, scale: i32, width: usize) -> Vec<u8> {
        // The magnitude as `width` digits whose last digit has exponent `scale`.
        let mut out = vec![0u8; width];
        let (_, my_scale) = self.scaled();
        let shift = (my_scale - scale) as usize;
        let n = self.digits.len();
        for (i, d) in self.digits.iter().enumerate() {
            let pos = width - shift - (n - i);
            out[pos] = *d;
        }
        out
    }

    fn add_signed(&self, other: &Number, negate_other: bool) -> Result<Number, NumberError> {
        let other_neg = other.neg ^ negate_other;
        if other.is_zero() {
            return Ok(self.clone());
        }
        if self.is_zero() {
            return Ok(Number {
                neg: other_neg,
                ..other.clone()
            });
        }
        let scale = self.scaled().1.min(other.scaled().1);
        let top = self.exp.max(other.exp);
        let width = (top - scale) as usize + 1;
        let a = self.aligned(scale, width);
        let b = other.aligned(scale, width);
        if self.neg == other_neg {
            let mut out = vec![0u8; width];
            let mut carry = 0;
            for i in (0..width).rev() {
                let s = a[i] + b[i] + carry;
                out[i] = s % 10;
                carry = s / 10;
            }
            Number::from_parts(self.neg, out, scale)
        } else {
            let (big, small, neg) = match a.cmp(&b) {
                Ordering::Equal => return Ok(Number::zero()),
                Ordering::Greater => (a, b, self.neg),
                Ordering::Less => (b, a, other_neg),
            };
            let mut out = vec![0u8; width];
            let mut borrow = 0i8;
            for i in (0..width).rev() {
                let mut d = big[i] as i8 - small[i] as i8 - borrow;
                borrow = 0;
                if d < 0 {
                    d += 10;
                    borrow = 1;
                }
                out[i] = d as u8;
            }
            Number::from_parts(neg, out, scale)
        }
    }

    /// `self + other`, exact up to 38 digits.
    pub fn add(&self, other: &Number) -> Result<Number, NumberError> {
        self.add_signed(other, false)
    }

    /// `self - other`, exact up to 38 digits.
    pub fn sub(&self, other: &Number) -> Result<Number, NumberError> {
        self.add_signed(other, true)
    }

    /// An order-preserving binary form: byte order of encodings equals numeric order.
    pub fn key_bytes(&self) -> Vec<u8> {
        if self.is_zero() {
            return vec![0x80];
        }
        let mut out = Vec::with_capacity(self.digits.len() + 4);
        // Exponent range -129..=126 maps to 1..=256; stored as two bytes.
        let e = (self.exp + 130) as u16;
        if self.neg {
            out.push(0x7F);
            out.extend_from_slice(&(!e).to_be_bytes());
            out.extend(self.digits.iter().map(|d| 0xFE - d));
            out.push(0xFF);
        } else {
            out.push(0x81);
            out.extend_from_slice(&e.to_be_bytes());
            out.extend(self.digits.iter().map(|d| d + 1));
            out.push(0x00);
        }
        out
    }

    /// Reads a number back from [`Number::key_bytes`]; returns it and the bytes after it.
    pub fn from_key_bytes(b: &[u8]) -> Option<(Number, &[u8])> {
        match *b.first()? {
            0x80 => Some((Number::zero(), &b[1..])),
            0x81 => {
                let e = u16::from_be_bytes([*b.get(1)?, *b.get(2)?]);
                let end = 3 + b[3..].iter().position(|x| *x == 0x00)?;
                let digits = b[3..end].iter().map(|d| d - 1).collect();
                Some((
                    Number {
                        neg: false,
                        digits,
                        exp: e as i32 - 130,
                    },
                    &b[end + 1..],
                ))
            }
            0x7F => {
                let e = !u16::from_be_bytes([*b.get(1)?, *b.get(2)?]);
                let end = 3 + b[3..].iter().position(|x| *x == 0xFF)?;
                let digits = b[3..end].iter().map(|d| 0xFE - d).collect();
                Some((
                    Number {
                        neg: true,
                        digits,
                        exp: e as i32 - 130,
                    },
                    &b[end + 1..],
                ))
            }
            _ => None,
        }
    }

    /// Significant digits (for DynamoDB's item size rules).
    pub fn significant_digits(&self) -> usize {
        self.digits.len()
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        let class = |n: &Number| {
            if n.is_zero() {
                1
            } else if n.neg {
                0
            } else {
                2
            }
        };
        match class(self).cmp(&class(other)) {
            Ordering::Equal => {}
            o => return o,
        }
        if self.is_zero() {
            return Ordering::Equal;
        }
        let magnitude = self
            .exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits));
        if self.neg { magnitude.reverse() } else { magnitude }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Number {
    /// Plain notation, as DynamoDB returns numbers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 8);
        if self.neg {
            s.push('-');
        }
        let n = self.digits.len() as i32;
        let digit = |d: &u8| (b'0' + d) as char;
        if self.exp <= 0 {
            s.push_str("0.");
            for _ in 0..(-self.exp) {
                s.push('0');
            }
            s.extend(self.digits.iter().map(digit));
        } else if self.exp >= n {
            s.extend(self.digits.iter().map(digit));
            for _ in 0..(self.exp - n) {
                s.push('0');
            }
        } else {
            let (int, frac) = self.digits.split_at(self.exp as usize);
            s.extend(int.iter().map(digit));
            s.push('.');
            s.extend(frac.iter().map(digit));
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn canonical_forms_as_dynamodb_prints_them() {
        for (input, out) in [
            ("00042", "42"),
            ("-0", "0"),
            ("1.5E2", "150"),
            ("1.0", "1"),
            ("0.001", "0.001"),
            ("1e-3", "0.001"),
            ("-12.3400", "-12.34"),
            (".5", "0.5"),
            ("5.", "5"),
            ("+7", "7"),
            ("1E+2", "100"),
            (
                "1.00000000000000007629769841092E+50",
                "100000000000000007629769841092000000000000000000000",
            ),
        ] {
            assert_eq!(n(input).to_string(), out, "{input}");
        }
        assert_eq!(n("1E125").to_string().len(), 126);
        assert_eq!(n("1E-130").to_string(), format!("0.{}1", "0".repeat(129)));
    }

    #[test]
    fn limits_and_errors() {
        assert_eq!(Number::parse("abc"), Err(NumberError::NotNumeric("abc".into())));
        for bad in [
            "", "-", ".", "1e", "1e+", "1.2.3", "0x10", "1 2", "NaN", "Infinity",
        ] {
            assert!(
                matches!(Number::parse(bad), Err(NumberError::NotNumeric(_))),
                "{bad}"
            );
        }
        assert_eq!(Number::parse(&"1".repeat(39)), Err(NumberError::TooManyDigits));
        assert!(Number::parse(&format!("{}000", "1".repeat(38))).is_ok());
        assert_eq!(Number::parse("1E126"), Err(NumberError::Overflow));
        assert!(Number::parse("9.9999999999999999999999999999999999999E+125").is_ok());
        assert_eq!(Number::parse("1E-131"), Err(NumberError::Underflow));
        assert_eq!(
            Number::parse("1E999999999999999999999"),
            Err(NumberError::Overflow)
        );
        assert_eq!(Number::parse("0E999999"), Ok(Number::zero()));
    }

    #[test]
    fn arithmetic() {
        assert_eq!(n("1.5").add(&n("2.25")).unwrap().to_string(), "3.75");
        assert_eq!(n("1").sub(&n("3")).unwrap().to_string(), "-2");
        assert_eq!(n("-1.5").add(&n("1.5")).unwrap().to_string(), "0");
        assert_eq!(
            n("99999999999999999999999999999999999999")
                .add(&n("1"))
                .unwrap()
                .to_string(),
            "100000000000000000000000000000000000000"
        );
        assert_eq!(n("0.1").add(&n("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(n("1E125").add(&n("9E125")), Err(NumberError::Overflow));
    }

    fn arb_number() -> impl Strategy<Value = Number> {
        (any::<bool>(), prop::collection::vec(0u8..10, 1..12), -20i32..20).prop_map(|(neg, digits, exp)| {
            let s: String = digits.iter().map(|d| (b'0' + d) as char).collect();
            Number::parse(&format!("{}{}E{}", if neg { "-" } else { "" }, s, exp)).unwrap()
        })
    }

    proptest! {
        #[test]
        fn key_bytes_preserve_order(a in arb_number(), b in arb_number()) {
            prop_assert_eq!(a.cmp(&b), a.key_bytes().cmp(&b.key_bytes()));
            let mut k = a.key_bytes();
            k.push(0x42);
            let (back, rest) = Number::from_key_bytes(&k).unwrap();
            prop_assert_eq!(&back, &a);
            prop_assert_eq!(rest, &[0x42u8][..]);
        }

        #[test]
        fn display_round_trips(a in arb_number()) {
            prop_assert_eq!(Number::parse(&a.to_string()).unwrap(), a);
        }

        #[test]
        fn arithmetic_matches_i128(x in -1_000_000_000_000i128..1_000_000_000_000, y in -1_000_000_000_000i128..1_000_000_000_000, sx in 0u32..6, sy in 0u32..6) {
            // x / 10^sx ± y / 10^sy, compared exactly in units of 10^-12.
            let a = Number::parse(&format!("{x}E-{sx}")).unwrap();
            let b = Number::parse(&format!("{y}E-{sy}")).unwrap();
            let unit = |v: i128, s: u32| v * 10i128.pow(12 - s);
            let sum = unit(x, sx) + unit(y, sy);
            let diff = unit(x, sx) - unit(y, sy);
            prop_assert_eq!(a.add(&b).unwrap(), Number::parse(&format!("{sum}E-12")).unwrap());
            prop_assert_eq!(a.sub(&b).unwrap(), Number::parse(&format!("{diff}E-12")).unwrap());
            prop_assert_eq!(a.cmp(&b), unit(x, sx).cmp(&unit(y, sy)));
        }
    }
}
