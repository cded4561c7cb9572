//! Level 2: a command line → a typed [`Command`] with its [`Args`].
//!
//! Grammar (ESP-AT, `AT_Command_Set/index.rst`):
//!
//! ```text
//! line   = "AT" [ name ] [ "?" | "=?" | "=" params ]
//! name   = "+" 1*namechar                   ; AT+GMR, AT+UART_CUR
//!        | 1*namechar                       ; basic commands: ATE0, ATE1
//! namechar = ALPHA / DIGIT / "_" / "!" / "%" / "-" / "." / ":"
//! params = param *( "," param )
//! param  = ""                               ; omitted
//!        | DQUOTE *(char / "\" any) DQUOTE  ; string, escapes \\ \" \, \<any>
//!        | 1*(char / "\" any)               ; number or other bare token
//! ```
//!
//! The prefix `AT` is accepted in any case and the command name is upper-cased in place, as
//! ESP-AT's shipped firmware does (v4.1.1.0 `at_cmd_parse`; its documentation's error table
//! says `at` is rejected — the firmware wins, `docs/compat.md`). Parameters keep their case
//! and are unescaped *in place* in the line buffer, so no allocation and no copy is needed, and
//! strings are bytes (an SSID need not be UTF-8). An omitted parameter (`AT+X=1,,2`) and an
//! empty string (`AT+X=1,"",2`) are different: see [`Param`].
//!
//! Panic contract: [`parse`] never panics; it returns an [`AtError`] carrying ESP-AT's code.

use crate::error::{AtError, ErrorCode};

/// Most parameters a command line can carry. More is `PARA_NUM` error.
pub const MAX_PARAMS: usize = 32;

/// The four forms of a command, plus its parameters for the set form.
// `Args` is a fixed table (no allocation); a command exists once, on the stack, per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form<'a> {
    /// `AT+X`
    Exec,
    /// `AT+X?`
    Query,
    /// `AT+X=?`
    Test,
    /// `AT+X=...`
    Set(Args<'a>),
}

/// A parsed command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// The command name without `AT`: `+GMR`, `E0`, or empty for bare `AT`.
    pub name: &'a [u8],
    /// Form and parameters.
    pub form: Form<'a>,
}

/// One parameter of a set command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param<'a> {
    /// Nothing between the commas (or beyond the last one given).
    Omitted,
    /// A double-quoted string, unescaped. May be empty (`""`, which is *not* omitted).
    Str(&'a [u8]),
    /// A bare token (a number, or `0xC023`), unescaped.
    Bare(&'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Kind {
    #[default]
    Omitted,
    Str,
    Bare,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Span {
    start: u16,
    end: u16,
    kind: Kind,
}

/// The parameters of a set command: a view over the (unescaped) line buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Args<'a> {
    buf: &'a [u8],
    spans: [Span; MAX_PARAMS],
    count: usize,
}

impl core::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut l = f.debug_list();
        for i in 0..self.count {
            l.entry(&self.get(i));
        }
        l.finish()
    }
}

impl<'a> Args<'a> {
    /// Number of parameters given (ESP-AT's `para_num`), omitted ones included.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no parameter was given.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Parameter `i`; [`Param::Omitted`] beyond the last one given.
    pub fn get(&self, i: usize) -> Param<'a> {
        let Some(s) = self.spans.get(i).filter(|_| i < self.count) else {
            return Param::Omitted;
        };
        let bytes = self.buf.get(usize::from(s.start)..usize::from(s.end)).unwrap_or_default();
        match s.kind {
            Kind::Omitted => Param::Omitted,
            Kind::Str => Param::Str(bytes),
            Kind::Bare => Param::Bare(bytes),
        }
    }

    /// Iterate over all given parameters.
    pub fn iter(&self) -> impl Iterator<Item = Param<'a>> + '_ {
        (0..self.count).map(|i| self.get(i))
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'!' | b'%' | b'-' | b'.' | b':')
}

/// Parse a command line (without its terminator), unescaping parameters in place.
///
/// Errors carry ESP-AT's codes: `0x01030000` for a missing `AT` (or an empty line), `0x01090000`
/// for a malformed name, `0x010800xx` for a malformed parameter `xx` (e.g. an unterminated string),
/// `0x0106xxyy` for more than [`MAX_PARAMS`] parameters.
pub fn parse(line: &mut [u8]) -> Result<Command<'_>, AtError> {
    let [a, t, ..] = &*line else {
        return Err(AtError::new(ErrorCode::NO_AT, "command does not start with \"AT\""));
    };
    if !a.eq_ignore_ascii_case(&b'A') || !t.eq_ignore_ascii_case(&b'T') {
        return Err(AtError::new(ErrorCode::NO_AT, "command does not start with \"AT\""));
    }
    let rest = &line[2..];
    let name_len = match rest.first() {
        Some(b'+') => 1 + rest[1..].iter().take_while(|&&b| is_name_byte(b)).count(),
        _ => rest.iter().take_while(|&&b| is_name_byte(b)).count(),
    };
    if rest.first() == Some(&b'+') && name_len == 1 {
        return Err(AtError::new(ErrorCode::UNSUPPORTED, "empty command name"));
    }
    // Split the buffer: `line = "AT" name tail`.
    let (_, after_at) = line.split_at_mut(2);
    let (name, tail) = after_at.split_at_mut(name_len);
    name.make_ascii_uppercase();
    let name: &[u8] = name;
    let form = match &*tail {
        [] => Form::Exec,
        [b'?'] => Form::Query,
        [b'=', b'?'] => Form::Test,
        [b'=', ..] => Form::Set(parse_args(&mut tail[1..])?),
        _ => return Err(AtError::new(ErrorCode::UNSUPPORTED, "malformed command name")),
    };
    Ok(Command { name, form })
}

fn parse_args(buf: &mut [u8]) -> Result<Args<'_>, AtError> {
    let mut spans = [Span::default(); MAX_PARAMS];
    let mut count = 0usize;
    let mut r = 0usize; // read cursor
    let mut w = 0usize; // write cursor, always <= r
    loop {
        if count == MAX_PARAMS {
            return Err(AtError::new(ErrorCode::para_num(MAX_PARAMS, count + 1), "too many parameters"));
        }
        let start = w;
        let kind;
        if buf.get(r) == Some(&b'"') {
            r += 1;
            let mut closed = false;
            while let Some(&b) = buf.get(r) {
                r += 1;
                match b {
                    b'\\' => {
                        let Some(&esc) = buf.get(r) else { break };
                        r += 1;
                        buf[w] = esc;
                        w += 1;
                    }
                    b'"' => {
                        closed = true;
                        break;
                    }
                    _ => {
                        buf[w] = b;
                        w += 1;
                    }
                }
            }
            if !closed {
                return Err(AtError::new(ErrorCode::para_parse_fail(count), "unterminated string"));
            }
            if !matches!(buf.get(r), None | Some(b',')) {
                return Err(AtError::new(
                    ErrorCode::para_parse_fail(count),
                    "unexpected bytes after closing quote",
                ));
            }
            kind = Kind::Str;
        } else {
            while let Some(&b) = buf.get(r) {
                match b {
                    b',' => break,
                    b'"' => {
                        return Err(AtError::new(
                            ErrorCode::para_parse_fail(count),
                            "quote inside an unquoted parameter",
                        ));
                    }
                    b'\\' => {
                        r += 1;
                        let Some(&esc) = buf.get(r) else {
                            return Err(AtError::new(ErrorCode::para_parse_fail(count), "dangling escape"));
                        };
                        r += 1;
                        buf[w] = esc;
                        w += 1;
                    }
                    _ => {
                        r += 1;
                        buf[w] = b;
                        w += 1;
                    }
                }
            }
            kind = if w == start { Kind::Omitted } else { Kind::Bare };
        }
        // Offsets fit in u16: the buffer is a command line (<= a few hundred bytes); anything
        // larger saturates, which `get` then treats as empty.
        let to16 = |x: usize| u16::try_from(x).unwrap_or(u16::MAX);
        spans[count] = Span { start: to16(start), end: to16(w), kind };
        count += 1;
        match buf.get(r) {
            Some(b',') => r += 1,
            _ => break,
        }
    }
    Ok(Args { buf: &buf[..w], spans, count })
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    fn p(s: &[u8]) -> Result<(Vec<u8>, &'static str, Vec<Param<'static>>), AtError> {
        // Leak for test convenience: owned copies make assertions simple.
        let buf: &'static mut [u8] = std::boxed::Box::leak(s.to_vec().into_boxed_slice());
        let c = parse(buf)?;
        Ok(match c.form {
            Form::Exec => (c.name.to_vec(), "exec", Vec::new()),
            Form::Query => (c.name.to_vec(), "query", Vec::new()),
            Form::Test => (c.name.to_vec(), "test", Vec::new()),
            Form::Set(a) => (c.name.to_vec(), "set", a.iter().collect()),
        })
    }

    #[test]
    fn forms() {
        assert_eq!(p(b"AT").unwrap(), (Vec::new(), "exec", Vec::new()));
        assert_eq!(p(b"ATE0").unwrap().0, b"E0");
        assert_eq!(p(b"AT+GMR").unwrap(), (b"+GMR".to_vec(), "exec", Vec::new()));
        assert_eq!(p(b"AT+CWMODE?").unwrap().1, "query");
        assert_eq!(p(b"AT+CWMODE=?").unwrap().1, "test");
        assert_eq!(p(b"AT+UART_CUR=115200,8,1,0,3").unwrap().2.len(), 5);
    }

    #[test]
    fn prefix_rules() {
        for bad in [&b""[..], b"A", b"+GMR", b" AT", b"TA"] {
            assert_eq!(p(bad).unwrap_err().code, ErrorCode::NO_AT, "{:?}", bad.escape_ascii());
        }
        // Any case of the prefix; the name is upper-cased (ESP-AT's firmware, not its docs).
        for ok in [&b"at"[..], b"At", b"aT"] {
            assert_eq!(p(ok).unwrap().1, "exec");
        }
        assert_eq!(p(b"at+gmr").unwrap().0, b"+GMR".to_vec());
        for bad in [&b"AT+"[..], b"AT+GMR?x", b"AT+C\xffJAP", b"AT+GMR ", b"AT\0"] {
            assert_eq!(p(bad).unwrap_err().code, ErrorCode::UNSUPPORTED, "{:?}", bad.escape_ascii());
        }
    }

    #[test]
    fn omitted_versus_empty() {
        let (_, _, a) = p(b"AT+TEST=1,,\"x\",4").unwrap();
        assert_eq!(a, [Param::Bare(b"1"), Param::Omitted, Param::Str(b"x"), Param::Bare(b"4")]);
        let (_, _, a) = p(b"AT+X=a,b,").unwrap();
        assert_eq!(a, [Param::Bare(b"a"), Param::Bare(b"b"), Param::Omitted]);
        let (_, _, a) = p(b"AT+X=1,\"\",2").unwrap();
        assert_eq!(a[1], Param::Str(b""));
        let (_, _, a) = p(b"AT+CWJAP=\"ssid\",\"password\",,1").unwrap();
        assert_eq!(a[2], Param::Omitted);
        assert_eq!(a[3], Param::Bare(b"1"));
    }

    #[test]
    fn escapes_from_the_esp_at_docs() {
        let (_, _, a) = p(br#"AT+CWJAP="comma\,backslash\\ssid","1234567890""#).unwrap();
        assert_eq!(a[0], Param::Str(br"comma,backslash\ssid"));
        let (_, _, a) = p(br#"AT+CWJAP="ab\\\,c","0123456789\"\\""#).unwrap();
        assert_eq!(a, [Param::Str(br"ab\,c"), Param::Str(br#"0123456789"\"#)]);
        let (_, _, a) = p(br#"AT+MQTTPUB=0,"topic","\"{\"sensor\":012}\"",1,0"#).unwrap();
        assert_eq!(a[2], Param::Str(br#""{"sensor":012}""#));
        let (_, _, a) = p(br#"AT+X="\q""#).unwrap();
        assert_eq!(a[0], Param::Str(b"q"));
    }

    #[test]
    fn malformed_parameters() {
        let e = p(br#"AT+CWJAP="unterminated"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::para_parse_fail(0));
        let e = p(br#"AT+X=1,"a"b"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::para_parse_fail(1));
        let e = p(br#"AT+X=1,a"b""#).unwrap_err();
        assert_eq!(e.code, ErrorCode::para_parse_fail(1));
        let e = p(br#"AT+X="ab\"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::para_parse_fail(0));
        let mut many = Vec::from(&b"AT+X="[..]);
        for _ in 0..MAX_PARAMS {
            many.extend_from_slice(b"1,");
        }
        many.push(b'1');
        assert_eq!(p(&many).unwrap_err().code.sub(), 0x06);
    }

    #[test]
    fn binary_strings() {
        let (_, _, a) = p(b"AT+X=\"\xff\x00\x80\"").unwrap();
        assert_eq!(a[0], Param::Str(b"\xff\x00\x80"));
    }
}
