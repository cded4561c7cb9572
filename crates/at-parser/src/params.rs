//! Typed access to [`Args`]: integers with range checks, strings as bytes, omission.
//!
//! Error codes follow ESP-AT's shipped firmware (v4.1.1.0, its `esp_at_get_para_as_*`
//! getters): a parameter of the wrong kind (a string where a number is expected or the
//! reverse), an unparsable number, or a required parameter beyond the end of the line is
//! `PARA_PARSE_FAIL(i)` and is printed with AT+SYSLOG=1. Everything the handlers check
//! themselves — a value out of range `PARA_INVALID(i)`, a string of the wrong length
//! `PARA_LENGTH(i)`, a required parameter left empty between commas `PARA_INVALID(i)`, the
//! wrong number of parameters `PARA_NUM(need, given)` — gives a bare `ERROR` there, so these
//! are kept in the API but not printed.

use core::ops::RangeInclusive;

use crate::command::{Args, Param};
use crate::error::{AtError, ErrorCode};

/// Parse an ESP-AT integer token: optional sign and decimal digits, or `0x`/`0X` and hex
/// digits. `None` on anything else, including overflow of `i64`.
pub fn parse_int(token: &[u8]) -> Option<i64> {
    let (neg, digits) = match token {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, token),
    };
    let (radix, digits) = match digits {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest),
        _ => (10, digits),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        let d = char::from(c).to_digit(radix)?;
        v = v.checked_mul(i64::from(radix))?;
        v = if neg { v.checked_sub(i64::from(d))? } else { v.checked_add(i64::from(d))? };
    }
    Some(v)
}

impl<'a> Args<'a> {
    /// Fail unless between `min` and `max` parameters were given (`PARA_NUM`).
    pub fn expect_count(&self, min: usize, max: usize) -> Result<(), AtError> {
        if self.len() < min {
            return Err(AtError::count(min, self.len(), "too few parameters"));
        }
        if self.len() > max {
            return Err(AtError::count(max, self.len(), "too many parameters"));
        }
        Ok(())
    }

    /// Whether parameter `i` is omitted (or beyond the last one given).
    pub fn is_omitted(&self, i: usize) -> bool {
        self.get(i) == Param::Omitted
    }

    fn missing(&self, i: usize) -> AtError {
        if i >= self.len() {
            AtError::new(ErrorCode::para_parse_fail(i), "required parameter missing")
        } else {
            AtError::invalid(i, "required parameter omitted")
        }
    }

    /// An optional integer.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, AtError> {
        match self.get(i) {
            Param::Omitted => Ok(None),
            Param::Str(_) => Err(AtError::new(ErrorCode::para_parse_fail(i), "parameter must be a number")),
            Param::Bare(t) => parse_int(t)
                .map(Some)
                .ok_or(AtError::new(ErrorCode::para_parse_fail(i), "parameter is not a valid integer")),
        }
    }

    /// A required integer.
    pub fn int(&self, i: usize) -> Result<i64, AtError> {
        self.opt_int(i)?.ok_or_else(|| self.missing(i))
    }

    /// An optional integer within `range`.
    pub fn opt_int_in(&self, i: usize, range: RangeInclusive<i64>) -> Result<Option<i64>, AtError> {
        match self.opt_int(i)? {
            Some(v) if !range.contains(&v) => Err(AtError::invalid(i, "parameter out of range")),
            v => Ok(v),
        }
    }

    /// A required integer within `range`.
    pub fn int_in(&self, i: usize, range: RangeInclusive<i64>) -> Result<i64, AtError> {
        self.opt_int_in(i, range)?.ok_or_else(|| self.missing(i))
    }

    /// An optional integer within `range`, or `default` if omitted.
    pub fn int_or(&self, i: usize, range: RangeInclusive<i64>, default: i64) -> Result<i64, AtError> {
        Ok(self.opt_int_in(i, range)?.unwrap_or(default))
    }

    /// An optional string (bytes, unescaped).
    pub fn opt_str(&self, i: usize) -> Result<Option<&'a [u8]>, AtError> {
        match self.get(i) {
            Param::Omitted => Ok(None),
            Param::Str(s) => Ok(Some(s)),
            Param::Bare(_) => {
                Err(AtError::new(ErrorCode::para_parse_fail(i), "parameter must be a quoted string"))
            }
        }
    }

    /// A required string.
    pub fn str(&self, i: usize) -> Result<&'a [u8], AtError> {
        self.opt_str(i)?.ok_or_else(|| self.missing(i))
    }

    /// An optional string whose length is within `len` bytes.
    pub fn opt_str_len(&self, i: usize, len: RangeInclusive<usize>) -> Result<Option<&'a [u8]>, AtError> {
        match self.opt_str(i)? {
            Some(s) if !len.contains(&s.len()) => {
                Err(AtError::quiet(ErrorCode::para_length(i), "string parameter has a bad length"))
            }
            s => Ok(s),
        }
    }

    /// A required string whose length is within `len` bytes.
    pub fn str_len(&self, i: usize, len: RangeInclusive<usize>) -> Result<&'a [u8], AtError> {
        self.opt_str_len(i, len)?.ok_or_else(|| self.missing(i))
    }

    /// A required string that is valid UTF-8 (for names, hosts and the like).
    pub fn utf8(&self, i: usize, len: RangeInclusive<usize>) -> Result<&'a str, AtError> {
        core::str::from_utf8(self.str_len(i, len)?)
            .map_err(|_| AtError::invalid(i, "string parameter is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Form, parse};

    fn with_args(line: &[u8], f: impl FnOnce(&Args<'_>)) {
        let mut buf = [0u8; 256];
        buf[..line.len()].copy_from_slice(line);
        let c = parse(&mut buf[..line.len()]).unwrap();
        let Form::Set(a) = c.form else { panic!("not a set command") };
        f(&a);
    }

    #[test]
    fn ints() {
        assert_eq!(parse_int(b"115200"), Some(115200));
        assert_eq!(parse_int(b"-500"), Some(-500));
        assert_eq!(parse_int(b"+800"), Some(800));
        assert_eq!(parse_int(b"0xC023"), Some(0xC023));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b"9223372036854775808"[..], b"", b"-", b"0x", b"1 ", b" 1", b"1e3", b"12a", b"--1"] {
            assert_eq!(parse_int(bad), None, "{:?}", bad.escape_ascii());
        }
    }

    #[test]
    fn typed_access_and_codes() {
        with_args(b"AT+X=1,,\"s\",99999999999999999999,7", |a| {
            assert_eq!(a.int(0), Ok(1));
            assert_eq!(a.opt_int(1), Ok(None));
            assert_eq!(a.int(1).unwrap_err().code, ErrorCode::para_invalid(1));
            assert_eq!(a.int(2).unwrap_err().code, ErrorCode::para_parse_fail(2));
            assert_eq!(a.str(2), Ok(&b"s"[..]));
            assert_eq!(a.str(0).unwrap_err().code, ErrorCode::para_parse_fail(0));
            assert_eq!(a.int(3).unwrap_err().code, ErrorCode::para_parse_fail(3));
            assert_eq!(a.int_in(4, 0..=5).unwrap_err().code, ErrorCode::para_invalid(4));
            assert_eq!(a.int(9).unwrap_err().code, ErrorCode::para_parse_fail(9));
            assert!(a.int(9).unwrap_err().printed && !a.int_in(4, 0..=5).unwrap_err().printed);
            assert_eq!(a.int_or(9, 0..=1, 1), Ok(1));
            assert_eq!(a.str_len(2, 2..=4).unwrap_err().code, ErrorCode::para_length(2));
            assert_eq!(a.expect_count(1, 3).unwrap_err().code, ErrorCode::para_num(3, 5));
        });
    }
}
