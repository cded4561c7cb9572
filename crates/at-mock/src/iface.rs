//! [`SimInterface`]: the station interface's addressing as an IP stack sees it — link state,
//! DHCP (with a latency) or a static address, hostname, DNS servers, and SNTP (a sync a
//! while after it is enabled and the interface has an address).
//!
//! Both network backends of the PC share it: [`crate::SimNet`] (sockets simulated) and
//! `at-host`'s std-socket backend (sockets real, the Wi-Fi and its addressing simulated).
//! Deterministic: it moves only when [`SimInterface::poll`] is called with a later time.

use std::collections::VecDeque;
use std::time::Duration;

use at_hal::net::{IpAddr, IpConfig, NetEvent, SntpConfig};
use at_hal::time::{Instant, UnixTime};

/// The interface simulation. See the module docs.
pub struct SimInterface {
    /// DHCP latency.
    pub dhcp_delay: Duration,
    /// From SNTP enabled (with an address) to the sync.
    pub sntp_delay: Duration,
    link_up: bool,
    dhcp: bool,
    static_ip: Option<IpConfig>,
    ip: Option<IpConfig>,
    ip_at: Option<Instant>,
    lease: IpConfig,
    hostname: String,
    dns_servers: Vec<IpAddr>,
    sntp_enabled: bool,
    sntp_at: Option<Instant>,
    wall_clock: Box<dyn Fn(Instant) -> UnixTime + Send>,
    events: VecDeque<NetEvent>,
}

impl std::fmt::Debug for SimInterface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimInterface").field("link_up", &self.link_up).field("ip", &self.ip).finish()
    }
}

impl SimInterface {
    /// An interface whose DHCP server hands out `lease`. SNTP reports
    /// `2024-01-01T00:00:00Z` plus the [`Instant`] unless [`SimInterface::set_wall_clock`].
    pub fn new(lease: IpConfig) -> Self {
        SimInterface {
            dhcp_delay: Duration::from_millis(100),
            sntp_delay: Duration::from_millis(200),
            link_up: false,
            dhcp: true,
            static_ip: None,
            ip: None,
            ip_at: None,
            lease,
            hostname: String::from("espressif"),
            dns_servers: Vec::new(),
            sntp_enabled: false,
            sntp_at: None,
            wall_clock: Box::new(|now: Instant| UnixTime(1_704_067_200 + now.as_millis() / 1000)),
            events: VecDeque::new(),
        }
    }

    /// Use `clock` as the time SNTP reports (the PC backend passes the OS clock).
    pub fn set_wall_clock(&mut self, clock: impl Fn(Instant) -> UnixTime + Send + 'static) {
        self.wall_clock = Box::new(clock);
    }

    /// The address DHCP hands out.
    pub fn set_lease(&mut self, lease: IpConfig) {
        self.lease = lease;
    }

    /// The hostname last set.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Whether DHCP is on.
    pub fn dhcp(&self) -> bool {
        self.dhcp
    }

    /// The DNS servers last set.
    pub fn dns_servers(&self) -> &[IpAddr] {
        &self.dns_servers
    }

    /// The current address, if any.
    pub fn ip_config(&self) -> Option<IpConfig> {
        self.ip
    }

    /// See [`at_hal::net::Network::set_link`].
    pub fn set_link(&mut self, up: bool, now: Instant) {
        if up == self.link_up {
            return;
        }
        self.link_up = up;
        if up {
            match (self.dhcp, self.static_ip) {
                (false, Some(s)) => self.assign(s, now),
                _ => self.ip_at = Some(now + self.dhcp_delay),
            }
        } else {
            self.ip_at = None;
            if self.ip.take().is_some() {
                self.events.push_back(NetEvent::LostIp);
            }
        }
    }

    /// See [`at_hal::net::Network::set_dhcp`].
    pub fn set_dhcp(&mut self, enabled: bool, now: Instant) {
        self.dhcp = enabled;
        if enabled && self.link_up && self.ip.is_none() && self.ip_at.is_none() {
            self.ip_at = Some(now + self.dhcp_delay);
        }
    }

    /// See [`at_hal::net::Network::set_static_ip`].
    pub fn set_static_ip(&mut self, config: IpConfig, now: Instant) {
        self.static_ip = Some(config);
        self.dhcp = false;
        self.ip_at = None;
        if self.link_up {
            self.assign(config, now);
        }
    }

    /// See [`at_hal::net::Network::set_hostname`].
    pub fn set_hostname(&mut self, hostname: &str) {
        self.hostname = hostname.to_owned();
    }

    /// See [`at_hal::net::Network::set_dns_servers`].
    pub fn set_dns_servers(&mut self, servers: &[IpAddr]) {
        self.dns_servers = servers.to_vec();
    }

    /// See [`at_hal::net::Network::configure_sntp`].
    pub fn configure_sntp(&mut self, config: &SntpConfig<'_>, now: Instant) {
        self.sntp_enabled = config.enabled;
        self.sntp_at = None;
        self.arm_sntp(now);
    }

    fn assign(&mut self, config: IpConfig, now: Instant) {
        self.ip = Some(config);
        self.events.push_back(NetEvent::GotIp(config));
        self.arm_sntp(now);
    }

    fn arm_sntp(&mut self, now: Instant) {
        if self.sntp_enabled && self.ip.is_some() && self.sntp_at.is_none() {
            self.sntp_at = Some(now + self.sntp_delay);
        }
    }

    /// Advance the timers to `now` and return one pending event.
    pub fn poll(&mut self, now: Instant) -> Option<NetEvent> {
        if let Some(t) = self.ip_at
            && now >= t
        {
            self.ip_at = None;
            self.assign(self.lease, now);
        }
        if let Some(t) = self.sntp_at
            && now >= t
            && self.ip.is_some()
        {
            self.sntp_at = None;
            self.events.push_back(NetEvent::TimeUpdated((self.wall_clock)(now)));
        }
        self.events.pop_front()
    }

    /// When [`SimInterface::poll`] next has something to report.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return Some(Instant::ZERO);
        }
        [self.ip_at, self.sntp_at].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use at_hal::net::Ipv4Addr;

    fn lease() -> IpConfig {
        IpConfig {
            ip: Ipv4Addr::new(10, 0, 0, 2),
            gateway: Ipv4Addr::new(10, 0, 0, 1),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
        }
    }

    #[test]
    fn dhcp_static_and_sntp() {
        let mut i = SimInterface::new(lease());
        let t0 = Instant::from_millis(0);
        i.set_link(true, t0);
        assert_eq!(i.poll(t0), None);
        assert_eq!(i.next_deadline(), Some(Instant::from_millis(100)));
        assert_eq!(i.poll(Instant::from_millis(100)), Some(NetEvent::GotIp(lease())));
        i.configure_sntp(&SntpConfig { enabled: true, servers: ["a", "", ""], interval_s: 3600 }, t0);
        assert!(matches!(i.poll(Instant::from_millis(300)), Some(NetEvent::TimeUpdated(_))));
        i.set_link(false, t0);
        assert_eq!(i.poll(t0), Some(NetEvent::LostIp));
        let fixed = IpConfig { ip: Ipv4Addr::new(10, 0, 0, 9), ..lease() };
        i.set_static_ip(fixed, t0);
        i.set_link(true, t0);
        assert_eq!(i.poll(t0), Some(NetEvent::GotIp(fixed)));
    }
}
