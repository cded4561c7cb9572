//! SNTP (RFC 4330) client messages: the 48-byte request and the checks on a reply.
//!
//! The client's schedule (which server, when) lives in [`crate::SmolNet`]; this module only
//! builds and parses packets.

use at_hal::time::UnixTime;

/// Length of an SNTP message without extensions.
pub const PACKET_LEN: usize = 48;
/// The SNTP server port.
pub const PORT: u16 = 123;
/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
const NTP_TO_UNIX: u64 = 2_208_988_800;

/// A client request (LI 0, version 4, mode 3) whose transmit timestamp is `nonce`; the server
/// copies it into the reply's originate timestamp, which is how the reply is matched.
pub fn request(nonce: u64) -> [u8; PACKET_LEN] {
    let mut p = [0u8; PACKET_LEN];
    p[0] = 0x23; // LI 0, VN 4, mode 3 (client)
    p[40..48].copy_from_slice(&nonce.to_be_bytes());
    p
}

/// Why a reply was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// Shorter than 48 bytes, not mode 4 (server), or an unsupported version.
    Malformed,
    /// The originate timestamp is not our request's.
    NotOurs,
    /// Stratum 0 (a kiss-o'-death), or LI 3 (the server's clock is not synchronised).
    Unsynchronised,
}

/// The server's transmit time from a reply to the request made with `nonce`.
///
/// Era: a seconds field below 2^31 is read as NTP era 1 (from 2036-02-07), as RFC 4330
/// section 3 suggests for clients built after 1968.
pub fn parse_reply(p: &[u8], nonce: u64) -> Result<UnixTime, ReplyError> {
    if p.len() < PACKET_LEN {
        return Err(ReplyError::Malformed);
    }
    let li = p[0] >> 6;
    let version = (p[0] >> 3) & 7;
    let mode = p[0] & 7;
    if mode != 4 || !(1..=4).contains(&version) {
        return Err(ReplyError::Malformed);
    }
    if p[24..32] != nonce.to_be_bytes() {
        return Err(ReplyError::NotOurs);
    }
    if li == 3 || p[1] == 0 {
        return Err(ReplyError::Unsynchronised);
    }
    let secs = u64::from(u32::from_be_bytes([p[40], p[41], p[42], p[43]]));
    let secs = if secs < 1 << 31 { secs + (1 << 32) } else { secs };
    Ok(UnixTime(secs - NTP_TO_UNIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(nonce: u64, secs: u32) -> [u8; PACKET_LEN] {
        let mut p = [0u8; PACKET_LEN];
        p[0] = 0x24; // LI 0, VN 4, mode 4
        p[1] = 2;
        p[24..32].copy_from_slice(&nonce.to_be_bytes());
        p[40..44].copy_from_slice(&secs.to_be_bytes());
        p
    }

    #[test]
    fn request_layout() {
        let r = request(0x0102_0304_0506_0708);
        assert_eq!(r[0], 0x23);
        assert_eq!(&r[40..48], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn replies() {
        // 2024-01-01T00:00:00Z = 1_704_067_200 Unix = 3_913_056_000 NTP.
        assert_eq!(parse_reply(&reply(7, 3_913_056_000), 7), Ok(UnixTime(1_704_067_200)));
        assert_eq!(parse_reply(&reply(7, 3_913_056_000), 8), Err(ReplyError::NotOurs));
        let mut kod = reply(7, 3_913_056_000);
        kod[1] = 0;
        assert_eq!(parse_reply(&kod, 7), Err(ReplyError::Unsynchronised));
        assert_eq!(parse_reply(&request(7), 7), Err(ReplyError::Malformed));
        assert_eq!(parse_reply(&[0x24; 47], 7), Err(ReplyError::Malformed));
        // Era 1: 2036-02-07T06:28:16Z + 100 s.
        assert_eq!(parse_reply(&reply(7, 100), 7), Ok(UnixTime((1u64 << 32) + 100 - NTP_TO_UNIX)));
    }
}
