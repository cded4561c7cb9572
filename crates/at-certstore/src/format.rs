//! PEM/DER checks: is this a certificate, a CA bundle, a private key?
//!
//! ESP-AT stores whatever `AT+SYSMFG` is given and finds out it was wrong only when mbedTLS
//! fails on the first TLS handshake. These checks run when an item is written or loaded and
//! say precisely what is wrong.
//!
//! Accepted input, per [`Item`]:
//! * **Cert**: one or more X.509 certificates (a leaf, then its chain), as PEM `CERTIFICATE`
//!   blocks or as DER (one or more concatenated).
//! * **Ca**: the same, one or more certificates.
//! * **Key**: exactly one private key: PEM `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
//!   (PKCS#1) or `EC PRIVATE KEY` (SEC1), or the DER of any of them. `EC PARAMETERS` blocks
//!   (as `openssl ecparam -genkey` writes them) are skipped. Passphrase-protected keys are
//!   refused with [`FormatError::EncryptedKey`]: nothing on the device could decrypt them.
//!
//! Text outside PEM blocks is ignored (OpenSSL's `Bag Attributes`, a trailing NUL as mbedTLS
//! wants). Any *other* PEM block is an error naming its label: a private key pasted into a
//! certificate entry would otherwise be readable over `AT+SYSMFG`.
//!
//! "Valid" is structural: the DER must decode as an X.509 `Certificate` (RFC 5280, via
//! `x509-cert`) or as the key syntax its label names (via `pkcs8`, `pkcs1`, `sec1`), with no
//! trailing bytes. [`key_matches_certificate`] compares a key's public part with a
//! certificate's. Signatures and validity dates are checked by TLS, not here.
//!
//! **Panics:** none. Every function here takes arbitrary bytes; the fuzz target
//! `fuzz/fuzz_targets/cert_parse.rs` and a property test hold them to that.

use alloc::vec::Vec;
use core::fmt;

use der::{Decode, Reader, SliceReader};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::names::Item;

/// A PEM block's label, as far as the cert store cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemLabel {
    /// `CERTIFICATE`
    Certificate,
    /// `PRIVATE KEY` (PKCS#8)
    PrivateKey,
    /// `RSA PRIVATE KEY` (PKCS#1)
    RsaPrivateKey,
    /// `EC PRIVATE KEY` (SEC1)
    EcPrivateKey,
    /// `ENCRYPTED PRIVATE KEY` (PKCS#8, passphrase-protected)
    EncryptedPrivateKey,
    /// `EC PARAMETERS`
    EcParameters,
    /// `PUBLIC KEY`
    PublicKey,
    /// `CERTIFICATE REQUEST`
    CertificateRequest,
    /// Any other label.
    Other,
}

impl PemLabel {
    fn classify(label: &[u8]) -> PemLabel {
        match label {
            b"CERTIFICATE" => PemLabel::Certificate,
            b"PRIVATE KEY" => PemLabel::PrivateKey,
            b"RSA PRIVATE KEY" => PemLabel::RsaPrivateKey,
            b"EC PRIVATE KEY" => PemLabel::EcPrivateKey,
            b"ENCRYPTED PRIVATE KEY" => PemLabel::EncryptedPrivateKey,
            b"EC PARAMETERS" => PemLabel::EcParameters,
            b"PUBLIC KEY" => PemLabel::PublicKey,
            b"CERTIFICATE REQUEST" | b"NEW CERTIFICATE REQUEST" => PemLabel::CertificateRequest,
            _ => PemLabel::Other,
        }
    }

    /// The label text (`"CERTIFICATE"`...), or `"(other)"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            PemLabel::Certificate => "CERTIFICATE",
            PemLabel::PrivateKey => "PRIVATE KEY",
            PemLabel::RsaPrivateKey => "RSA PRIVATE KEY",
            PemLabel::EcPrivateKey => "EC PRIVATE KEY",
            PemLabel::EncryptedPrivateKey => "ENCRYPTED PRIVATE KEY",
            PemLabel::EcParameters => "EC PARAMETERS",
            PemLabel::PublicKey => "PUBLIC KEY",
            PemLabel::CertificateRequest => "CERTIFICATE REQUEST",
            PemLabel::Other => "(other)",
        }
    }
}

impl fmt::Display for PemLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a PEM block's armour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemProblem {
    /// A `-----BEGIN ` line that does not end in `-----`.
    BadBeginLine,
    /// No matching `-----END <label>-----` line.
    MissingEnd,
    /// The text between the lines is not valid Base64 (or not as RFC 7468 wraps it).
    BadBase64,
}

impl fmt::Display for PemProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemProblem::BadBeginLine => "malformed -----BEGIN line",
            PemProblem::MissingEnd => "no matching -----END line",
            PemProblem::BadBase64 => "invalid Base64 body",
        })
    }
}

/// Why bytes are not a valid certificate, CA bundle or private key. Blocks are numbered from
/// 0 in the order they appear (raw DER counts as block 0, 1, ... for concatenated items).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// Zero bytes (ESP-AT's `cert_len=0`).
    Empty,
    /// Neither PEM (no `-----BEGIN ` line) nor DER (does not start with a SEQUENCE).
    NotPemOrDer,
    /// A PEM block's armour is broken.
    Pem {
        /// Which block.
        block: u16,
        /// What is wrong.
        problem: PemProblem,
    },
    /// A PEM block of a kind this item must not contain.
    UnexpectedBlock {
        /// Which block.
        block: u16,
        /// Its label.
        found: PemLabel,
    },
    /// A passphrase-protected private key (`ENCRYPTED PRIVATE KEY`, or legacy
    /// `Proc-Type: 4,ENCRYPTED`): store it decrypted.
    EncryptedKey,
    /// PEM text with no block of the expected kind.
    NothingFound,
    /// More than one private key.
    MultipleKeys,
    /// The DER does not decode as the expected structure.
    Der {
        /// Which block.
        block: u16,
        /// Byte offset of the error within that block's DER, if known.
        position: Option<u32>,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FormatError::Empty => f.write_str("empty (length 0)"),
            FormatError::NotPemOrDer => f.write_str("neither PEM nor DER"),
            FormatError::Pem { block, problem } => write!(f, "PEM block {block}: {problem}"),
            FormatError::UnexpectedBlock { block, found } => {
                write!(f, "PEM block {block} is a {found}, which does not belong here")
            }
            FormatError::EncryptedKey => {
                f.write_str("private key is passphrase-encrypted; store it unencrypted")
            }
            FormatError::NothingFound => f.write_str("no PEM block of the expected kind"),
            FormatError::MultipleKeys => f.write_str("more than one private key"),
            FormatError::Der { block, position: Some(p) } => {
                write!(f, "block {block}: invalid DER structure at byte {p}")
            }
            FormatError::Der { block, position: None } => write!(f, "block {block}: invalid DER structure"),
        }
    }
}

impl core::error::Error for FormatError {}

/// The encoding of a private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (any algorithm).
    Pkcs8,
    /// PKCS#1 `RSAPrivateKey`.
    Pkcs1,
    /// SEC1 `ECPrivateKey`.
    Sec1,
}

/// A validated private key in DER, zeroized on drop. Never printed by `Debug`.
pub struct PrivateKey {
    der: PrivateKeyDer<'static>,
}

impl PrivateKey {
    fn new(format: KeyFormat, der: Vec<u8>) -> PrivateKey {
        let der = match format {
            KeyFormat::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            KeyFormat::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        };
        PrivateKey { der }
    }

    /// Which encoding the key is in.
    pub fn format(&self) -> KeyFormat {
        match self.der {
            PrivateKeyDer::Pkcs1(_) => KeyFormat::Pkcs1,
            PrivateKeyDer::Sec1(_) => KeyFormat::Sec1,
            _ => KeyFormat::Pkcs8,
        }
    }

    /// The key as rustls takes it (borrowed; this value stays the owner and zeroizes it).
    pub fn der(&self) -> &PrivateKeyDer<'static> {
        &self.der
    }

    /// The DER bytes.
    pub fn secret_der(&self) -> &[u8] {
        self.der.secret_der()
    }

    /// An owned copy for an API that consumes the key (rustls `with_single_cert`).
    /// The copy is **not** zeroized on drop: hand it straight to its consumer, or call
    /// [`zeroize`](Zeroize::zeroize) on it when done.
    pub fn clone_der(&self) -> PrivateKeyDer<'static> {
        self.der.clone_key()
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.der.zeroize();
    }
}

impl ZeroizeOnDrop for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("format", &self.format())
            .field("len", &self.secret_der().len())
            .finish()
    }
}

/// Whether a private key belongs to a certificate, as far as its encoding tells (no crypto).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMatch {
    /// The key's public part equals the certificate's public key.
    Match,
    /// They differ (or are of different algorithms): TLS would fail on every handshake.
    Mismatch,
    /// Cannot tell without computing the public key (e.g. a PKCS#8 Ed25519 key without its
    /// public key, a compressed EC point, an algorithm this check does not know).
    Unknown,
}

/// Compare `key` with the public key of `cert` (the leaf), structurally: RSA modulus and
/// exponent, the EC point (SEC1 and PKCS#8 carry it), or PKCS#8 v2's public key.
pub fn key_matches_certificate(key: &PrivateKey, cert: &CertificateDer<'_>) -> KeyMatch {
    let Ok(cert) = x509_cert::Certificate::from_der(cert.as_ref()) else { return KeyMatch::Unknown };
    let spki = cert.tbs_certificate().subject_public_key_info();
    let cert_alg = algorithm(spki.algorithm.oid.as_bytes());
    let Some(cert_pub) = spki.subject_public_key.as_bytes() else { return KeyMatch::Unknown };
    let Some(public) = key_public(key.format(), key.secret_der()) else { return KeyMatch::Unknown };
    if public.alg != Alg::Other && cert_alg != Alg::Other && public.alg != cert_alg {
        return KeyMatch::Mismatch;
    }
    match public.part {
        PublicPart::Rsa { n, e } => match pkcs1::RsaPublicKeyRef::from_der(cert_pub) {
            Ok(cp) if cp.modulus.as_bytes() == n && cp.public_exponent.as_bytes() == e => KeyMatch::Match,
            Ok(_) => KeyMatch::Mismatch,
            Err(_) => KeyMatch::Unknown,
        },
        // Same encoding (both compressed or both not) compares directly; otherwise unknown.
        PublicPart::Raw(p) if p.len() == cert_pub.len() => {
            if p == cert_pub {
                KeyMatch::Match
            } else {
                KeyMatch::Mismatch
            }
        }
        PublicPart::Raw(_) | PublicPart::None => KeyMatch::Unknown,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rsa,
    Ec,
    Ed25519,
    Other,
}

/// From an OID's DER content bytes.
fn algorithm(oid: &[u8]) -> Alg {
    match oid {
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01] => Alg::Rsa, // 1.2.840.113549.1.1.1
        [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01] => Alg::Ec,              // 1.2.840.10045.2.1
        [0x2b, 0x65, 0x70] => Alg::Ed25519,                                 // 1.3.101.112
        _ => Alg::Other,
    }
}

enum PublicPart<'a> {
    Rsa { n: &'a [u8], e: &'a [u8] },
    Raw(&'a [u8]),
    None,
}

struct KeyPublic<'a> {
    alg: Alg,
    part: PublicPart<'a>,
}

fn key_public(format: KeyFormat, der: &[u8]) -> Option<KeyPublic<'_>> {
    match format {
        KeyFormat::Pkcs1 => rsa_public(der),
        KeyFormat::Sec1 => Some(ec_public(der)?),
        KeyFormat::Pkcs8 => {
            let info = pkcs8::PrivateKeyInfoRef::from_der(der).ok()?;
            let alg = algorithm(info.algorithm.oid.as_bytes());
            if let Some(public) = info.public_key.and_then(|p| p.as_bytes()) {
                return Some(KeyPublic { alg, part: PublicPart::Raw(public) });
            }
            let inner = info.private_key.as_bytes();
            match alg {
                Alg::Rsa => rsa_public(inner),
                Alg::Ec => ec_public(inner),
                _ => Some(KeyPublic { alg, part: PublicPart::None }),
            }
        }
    }
}

fn rsa_public(der: &[u8]) -> Option<KeyPublic<'_>> {
    let k = pkcs1::RsaPrivateKeyRef::from_der(der).ok()?;
    Some(KeyPublic {
        alg: Alg::Rsa,
        part: PublicPart::Rsa { n: k.modulus.as_bytes(), e: k.public_exponent.as_bytes() },
    })
}

fn ec_public(der: &[u8]) -> Option<KeyPublic<'_>> {
    let k = sec1::EcPrivateKey::from_der(der).ok()?;
    Some(KeyPublic { alg: Alg::Ec, part: k.public_key.map_or(PublicPart::None, PublicPart::Raw) })
}

/// Check `bytes` against what `item` must hold, without keeping the result.
pub fn validate(item: Item, bytes: &[u8]) -> Result<(), FormatError> {
    match item {
        Item::Cert | Item::Ca => parse_certificates(bytes).map(drop),
        Item::Key => parse_private_key(bytes).map(drop),
    }
}

/// Parse one or more X.509 certificates (PEM `CERTIFICATE` blocks, or concatenated DER), in
/// order.
pub fn parse_certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, FormatError> {
    if bytes.is_empty() {
        return Err(FormatError::Empty);
    }
    let mut out = Vec::new();
    if contains(bytes, BEGIN) {
        let mut blocks = Blocks::new(bytes);
        while let Some(block) = blocks.next_block()? {
            if block.label != PemLabel::Certificate {
                return Err(FormatError::UnexpectedBlock { block: block.index, found: block.label });
            }
            let der = block.decode()?;
            check_certificate(&der, block.index)?;
            out.push(CertificateDer::from(der));
        }
        if out.is_empty() {
            return Err(FormatError::NothingFound);
        }
        return Ok(out);
    }
    if bytes.first() != Some(&SEQUENCE) {
        return Err(FormatError::NotPemOrDer);
    }
    // Concatenated DER certificates.
    let mut rest = bytes;
    let mut index = 0u16;
    while !rest.is_empty() {
        let len = der_element_len(rest).ok_or(FormatError::Der { block: index, position: None })?;
        let (one, tail) = rest.split_at(len);
        check_certificate(one, index)?;
        out.push(CertificateDer::from(one.to_vec()));
        rest = tail;
        index = index.saturating_add(1);
    }
    Ok(out)
}

/// Parse exactly one private key (PEM PKCS#8 / PKCS#1 / SEC1, or DER of any of them). All
/// intermediate copies of the key are zeroized.
pub fn parse_private_key(bytes: &[u8]) -> Result<PrivateKey, FormatError> {
    if bytes.is_empty() {
        return Err(FormatError::Empty);
    }
    if contains(bytes, BEGIN) {
        if contains(bytes, b"Proc-Type: 4,ENCRYPTED") {
            return Err(FormatError::EncryptedKey);
        }
        let mut blocks = Blocks::new(bytes);
        let mut key: Option<PrivateKey> = None;
        while let Some(block) = blocks.next_block()? {
            let format = match block.label {
                PemLabel::EcParameters => continue,
                PemLabel::EncryptedPrivateKey => return Err(FormatError::EncryptedKey),
                PemLabel::PrivateKey => KeyFormat::Pkcs8,
                PemLabel::RsaPrivateKey => KeyFormat::Pkcs1,
                PemLabel::EcPrivateKey => KeyFormat::Sec1,
                found => return Err(FormatError::UnexpectedBlock { block: block.index, found }),
            };
            if key.is_some() {
                return Err(FormatError::MultipleKeys);
            }
            let mut der = Zeroizing::new(Vec::new());
            block.decode_into(&mut der)?;
            check_key(&der, format, block.index)?;
            key = Some(PrivateKey::new(format, core::mem::take(&mut *der)));
        }
        return key.ok_or(FormatError::NothingFound);
    }
    if bytes.first() != Some(&SEQUENCE) {
        return Err(FormatError::NotPemOrDer);
    }
    // Raw DER carries no label: try each syntax; report where PKCS#8 (the usual one) failed.
    let pkcs8_error = match check_key(bytes, KeyFormat::Pkcs8, 0) {
        Ok(()) => return Ok(PrivateKey::new(KeyFormat::Pkcs8, bytes.to_vec())),
        Err(e) => e,
    };
    for format in [KeyFormat::Pkcs1, KeyFormat::Sec1] {
        if decode_key(bytes, format).is_ok() {
            return Ok(PrivateKey::new(format, bytes.to_vec()));
        }
    }
    Err(pkcs8_error)
}

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";
const SEQUENCE: u8 = 0x30;

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

fn check_certificate(der: &[u8], block: u16) -> Result<(), FormatError> {
    x509_cert::Certificate::from_der(der).map(drop).map_err(|e| der_error(block, e))
}

fn der_error(block: u16, e: der::Error) -> FormatError {
    FormatError::Der { block, position: e.position().map(u32::from) }
}

fn check_key(der: &[u8], format: KeyFormat, block: u16) -> Result<(), FormatError> {
    decode_key(der, format).map_err(|e| der_error(block, e))
}

fn decode_key(der: &[u8], format: KeyFormat) -> Result<(), der::Error> {
    match format {
        KeyFormat::Pkcs8 => pkcs8::PrivateKeyInfoRef::from_der(der).map(drop),
        KeyFormat::Pkcs1 => pkcs1::RsaPrivateKeyRef::from_der(der).map(drop),
        KeyFormat::Sec1 => sec1::EcPrivateKey::from_der(der).map(drop),
    }
}

/// Length of the first DER element (header + contents), if its header is well-formed and it
/// fits in `bytes`.
fn der_element_len(bytes: &[u8]) -> Option<usize> {
    let mut reader = SliceReader::new(bytes).ok()?;
    let header = der::Header::decode(&mut reader).ok()?;
    let header_len = usize::try_from(u32::from(reader.position())).ok()?;
    let body = usize::try_from(u32::from(header.length())).ok()?;
    let total = header_len.checked_add(body)?;
    (total <= bytes.len()).then_some(total)
}

/// One PEM block found in the input.
struct Block<'a> {
    index: u16,
    label: PemLabel,
    /// From `-----BEGIN` through the end of the `-----END <label>-----` line.
    text: &'a [u8],
}

impl Block<'_> {
    fn decode(&self) -> Result<Vec<u8>, FormatError> {
        let mut buf = Vec::new();
        self.decode_into(&mut buf)?;
        Ok(buf)
    }

    /// Decode the Base64 body into `out` (resized to fit; nothing else is allocated).
    fn decode_into(&self, out: &mut Vec<u8>) -> Result<(), FormatError> {
        let bad = FormatError::Pem { block: self.index, problem: PemProblem::BadBase64 };
        let mut decoder = pem_rfc7468::Decoder::new_detect_wrap(self.text).map_err(|_| bad)?;
        out.clear();
        out.resize(decoder.remaining_len(), 0);
        let n = decoder.decode(out).map_err(|_| bad)?.len();
        if !decoder.is_finished() {
            return Err(bad);
        }
        out.truncate(n);
        Ok(())
    }
}

/// Iterates the PEM blocks of an input, in order.
struct Blocks<'a> {
    rest: &'a [u8],
    index: u16,
}

impl<'a> Blocks<'a> {
    fn new(input: &'a [u8]) -> Self {
        Blocks { rest: input, index: 0 }
    }

    fn next_block(&mut self) -> Result<Option<Block<'a>>, FormatError> {
        let Some(start) = find(self.rest, BEGIN) else { return Ok(None) };
        let index = self.index;
        self.index = self.index.saturating_add(1);
        let err = |problem| FormatError::Pem { block: index, problem };
        let from_begin = &self.rest[start..];
        let after_begin = &from_begin[BEGIN.len()..];
        let line_end =
            after_begin.iter().position(|&c| c == b'\n' || c == b'\r').unwrap_or(after_begin.len());
        let label_len = find(&after_begin[..line_end], DASHES).ok_or(err(PemProblem::BadBeginLine))?;
        let label = &after_begin[..label_len];
        // "-----END " + label + "-----", searched after the BEGIN line, before any next BEGIN.
        let body_start = BEGIN.len() + label_len + DASHES.len();
        let body = &from_begin[body_start..];
        let end_at = find(body, END).ok_or(err(PemProblem::MissingEnd))?;
        if find(&body[..end_at], BEGIN).is_some() {
            return Err(err(PemProblem::MissingEnd));
        }
        let end_line = &body[end_at + END.len()..];
        if !end_line.starts_with(label) || !end_line[label.len()..].starts_with(DASHES) {
            return Err(err(PemProblem::MissingEnd));
        }
        let text_len = body_start + end_at + END.len() + label.len() + DASHES.len();
        let text = &from_begin[..text_len];
        self.rest = &from_begin[text_len..];
        Ok(Some(Block { index, label: PemLabel::classify(label), text }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &[u8] = include_bytes!("../demo/server_cert.pem");
    const KEY: &[u8] = include_bytes!("../demo/server_key.pem");

    #[test]
    fn demo_cert_and_key_parse() {
        assert_eq!(parse_certificates(CERT).unwrap().len(), 1);
        assert_eq!(parse_private_key(KEY).unwrap().format(), KeyFormat::Pkcs8);
    }

    #[test]
    fn der_element_len_bounds() {
        assert_eq!(der_element_len(&[0x30, 0x00]), Some(2));
        assert_eq!(der_element_len(&[0x30, 0x01]), None);
        assert_eq!(der_element_len(&[0x30, 0x82, 0x01]), None);
        assert_eq!(der_element_len(&[]), None);
    }

    #[test]
    fn broken_armour() {
        let mut no_end = CERT.to_vec();
        let cut = find(&no_end, END).unwrap();
        no_end.truncate(cut);
        assert_eq!(
            parse_certificates(&no_end),
            Err(FormatError::Pem { block: 0, problem: PemProblem::MissingEnd })
        );
        assert_eq!(
            parse_certificates(b"-----BEGIN CERTIFICATE\nAAAA\n-----END CERTIFICATE-----\n"),
            Err(FormatError::Pem { block: 0, problem: PemProblem::BadBeginLine })
        );
        let mut bad64 = CERT.to_vec();
        let at = find(&bad64, b"\n").unwrap() + 5;
        bad64[at] = b'*';
        assert_eq!(
            parse_certificates(&bad64),
            Err(FormatError::Pem { block: 0, problem: PemProblem::BadBase64 })
        );
    }

    #[test]
    fn key_in_cert_entry_is_named() {
        let mut both = CERT.to_vec();
        both.extend_from_slice(KEY);
        assert_eq!(
            parse_certificates(&both),
            Err(FormatError::UnexpectedBlock { block: 1, found: PemLabel::PrivateKey })
        );
        assert_eq!(
            parse_private_key(&both).unwrap_err(),
            FormatError::UnexpectedBlock { block: 0, found: PemLabel::Certificate }
        );
    }

    #[test]
    fn two_keys_refused() {
        let mut two = KEY.to_vec();
        two.extend_from_slice(KEY);
        assert_eq!(parse_private_key(&two).unwrap_err(), FormatError::MultipleKeys);
    }

    #[test]
    fn debug_hides_key_bytes() {
        let key = parse_private_key(KEY).unwrap();
        let dbg = alloc::format!("{key:?}");
        assert!(dbg.starts_with("PrivateKey"), "{dbg}");
        assert!(!dbg.contains('['), "no byte list: {dbg}");
    }
}
