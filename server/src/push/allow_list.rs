//! Which push services the server sends to. An endpoint is a URL the client chooses, so without a
//! list the server would POST to any host it is told, internal ones included. By default only the
//! browsers' own push services are accepted, at subscribe time and again at send time; an operator
//! adds others with `--push-allow-host`, and tests allow the loopback host.

use std::fmt;
use std::net::IpAddr;

/// The browsers' push services, all on port 443. `Subdomains` matches below the name only (one or
/// more labels, then a dot), so `evilpush.apple.com` and `push.apple.com.example.net` are not it.
const BUILT_IN: [Pattern; 5] = [
    // Chrome, Edge on Android, Brave, Opera… (Google FCM); android.googleapis.com is its older name.
    Pattern::exact("fcm.googleapis.com"),
    Pattern::exact("android.googleapis.com"),
    // Firefox (Mozilla autopush): updates.push.services.mozilla.com.
    Pattern::subdomains("push.services.mozilla.com"),
    // Safari on macOS and iOS (Apple: "allow URLs from *.push.apple.com"), e.g. web.push.apple.com.
    Pattern::subdomains("push.apple.com"),
    // Edge on Windows (WNS), e.g. wns2-par02p.notify.windows.com.
    Pattern::subdomains("notify.windows.com"),
];

const HTTPS_PORT: u16 = 443;

/// The push service an endpoint belongs to, `host:port` in lower case: the unit of fairness and
/// back-off in the sender. Safe to log (a host is not a capability; the endpoint's path is).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostKey(String);

impl HostKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
impl From<&str> for HostKey {
    fn from(s: &str) -> Self {
        HostKey(s.to_owned())
    }
}

/// Why an endpoint's host is not one the server pushes to; the text names the host only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Lower case, no trailing dot.
    name: std::borrow::Cow<'static, str>,
    subdomains: bool,
    port: u16,
}

impl Pattern {
    const fn exact(name: &'static str) -> Pattern {
        Pattern { name: std::borrow::Cow::Borrowed(name), subdomains: false, port: HTTPS_PORT }
    }

    const fn subdomains(name: &'static str) -> Pattern {
        Pattern { name: std::borrow::Cow::Borrowed(name), subdomains: true, port: HTTPS_PORT }
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        if port != self.port {
            return false;
        }
        let name: &str = &self.name;
        if self.subdomains {
            // At least one whole label before the name: "x.push.apple.com", never "xpush.apple.com".
            host.len() > name.len() + 1
                && host.ends_with(name)
                && host.as_bytes()[host.len() - name.len() - 1] == b'.'
                && !host.starts_with('.')
        } else {
            host == name
        }
    }
}

/// The hosts this node pushes to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// From `--push-allow-host`, on top of the built-in services.
    extra: Vec<Pattern>,
    /// http:// and https:// on 127.0.0.1, ::1 and localhost, any port (tests with the emulator).
    loopback: bool,
}

impl AllowList {
    /// The built-in services plus `extra` (`HOST`, `HOST:PORT`, `*.DOMAIN` or `*.DOMAIN:PORT`; the
    /// port defaults to 443), and the loopback host when `loopback`. Blank entries are ignored (an
    /// empty `SALLYPORT_PUSH_ALLOW_HOSTS`).
    pub fn new<S: AsRef<str>>(extra: &[S], loopback: bool) -> Result<AllowList, String> {
        let extra = extra
            .iter()
            .map(|s| s.as_ref().trim())
            .filter(|s| !s.is_empty())
            .map(parse_pattern)
            .collect::<Result<_, _>>()?;
        Ok(AllowList { extra, loopback })
    }

    /// Whether http:// endpoints on the loopback host are accepted (tests only).
    pub fn allows_insecure_loopback(&self) -> bool {
        self.loopback
    }

    /// The endpoint's push service if this node pushes to it. `url` has already been checked for
    /// scheme, credentials and fragment (`subscriptions::check_endpoint`); this looks at the host
    /// and port only. IP addresses are refused (a push service has a name) except the loopback
    /// address when allowed.
    pub fn check(&self, url: &url::Url) -> Result<HostKey, NotAllowed> {
        let port = url.port_or_known_default().unwrap_or(0);
        let refused = |host: &str| NotAllowed(format!("this server does not push to {host}; use a browser's own push service"));
        match url.host() {
            Some(url::Host::Domain(domain)) => {
                let host = domain.to_ascii_lowercase();
                let allowed = (self.loopback && host == "localhost")
                    || BUILT_IN.iter().chain(&self.extra).any(|p| p.matches(&host, port));
                if allowed { Ok(HostKey(format!("{host}:{port}"))) } else { Err(refused(&host)) }
            }
            Some(url::Host::Ipv4(ip)) if self.loopback && ip.is_loopback() => Ok(HostKey(format!("{ip}:{port}"))),
            Some(url::Host::Ipv6(ip)) if self.loopback && ip.is_loopback() => Ok(HostKey(format!("[{ip}]:{port}"))),
            Some(url::Host::Ipv4(ip)) => Err(refused(&IpAddr::V4(ip).to_string())),
            Some(url::Host::Ipv6(ip)) => Err(refused(&format!("[{ip}]"))),
            None => Err(NotAllowed("the endpoint has no host".into())),
        }
    }

    /// `check` for a stored endpoint (send time): its push service, or `None` when it is not a URL
    /// or not (any longer) allowed.
    pub fn host_of(&self, endpoint: &str) -> Option<HostKey> {
        let url = url::Url::parse(endpoint).ok()?;
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        match url.scheme() {
            "https" => {}
            "http" if self.loopback && is_loopback(&url) => {}
            _ => return None,
        }
        self.check(&url).ok()
    }
}

/// Whether the URL's host is the loopback host (`localhost`, 127.0.0.0/8, `::1`).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn parse_pattern(text: &str) -> Result<Pattern, String> {
    let text = text.trim().to_ascii_lowercase();
    let (name, port) = match text.rsplit_once(':') {
        Some((name, port)) => {
            (name, port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("{text}: the port is not a number from 1 to 65535"))?)
        }
        None => (text.as_str(), HTTPS_PORT),
    };
    let (name, subdomains) = match name.strip_prefix("*.") {
        Some(rest) => (rest, true),
        None => (name, false),
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.parse::<IpAddr>().is_ok() || name.starts_with('[') {
        return Err(format!("{text}: name a push service's host, not an IP address"));
    }
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!("{text}: not a host name (letters, digits, hyphens and dots; `*.` first for every subdomain)"));
    }
    Ok(Pattern { name: std::borrow::Cow::Owned(name.to_owned()), subdomains, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(list: &AllowList, endpoint: &str) -> Option<String> {
        list.host_of(endpoint).map(|h| h.0)
    }

    #[test]
    fn the_browsers_push_services_are_allowed_by_default() {
        let list = AllowList::default();
        for (endpoint, key) in [
            ("https://fcm.googleapis.com/fcm/send/abc:APA91b", "fcm.googleapis.com:443"),
            ("https://android.googleapis.com/gcm/send/abc", "android.googleapis.com:443"),
            ("https://updates.push.services.mozilla.com/wpush/v2/gAAAA", "updates.push.services.mozilla.com:443"),
            ("https://web.push.apple.com/QGuQyavXutnMH", "web.push.apple.com:443"),
            ("https://wns2-par02p.notify.windows.com/w/?token=AwYAAAB", "wns2-par02p.notify.windows.com:443"),
            ("https://FCM.GoogleAPIs.com:443/fcm/send/x", "fcm.googleapis.com:443"),
            ("https://Web.Push.Apple.COM/x", "web.push.apple.com:443"),
        ] {
            assert_eq!(host(&list, endpoint).as_deref(), Some(key), "{endpoint}");
        }
    }

    #[test]
    fn look_alike_hosts_are_refused() {
        let list = AllowList::default();
        for endpoint in [
            "https://evilfcm.googleapis.com.attacker.com/x",
            "https://attackerfcm.googleapis.com/x",
            "https://fcm.googleapis.com.attacker.com/x",
            "https://fcm.googleapis.com./x",
            "https://sub.fcm.googleapis.com/x",
            "https://googleapis.com/x",
            "https://push.apple.com/x",
            "https://evilpush.apple.com/x",
            "https://web.push.apple.com.attacker.net/x",
            "https://notify.windows.com/x",
            "https://x.notify.windows.com.evil/x",
            "https://xnotify.windows.com/x",
            "https://push.services.mozilla.com/x",
            "https://attackerpush.services.mozilla.com/x",
            "https://push.example.net/x",
            "https://fcm.googleapis.com:8443/fcm/send/x",
            "http://fcm.googleapis.com/fcm/send/x",
        ] {
            assert_eq!(host(&list, endpoint), None, "{endpoint}");
        }
    }

    #[test]
    fn addresses_and_userinfo_tricks_are_refused() {
        let list = AllowList::default();
        for endpoint in [
            "https://127.0.0.1/x",
            "https://2130706433/x",
            "https://0x7f000001/x",
            "https://0177.0.0.1/x",
            "https://[::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://localhost/x",
            "https://fcm.googleapis.com@169.254.169.254/x",
            "https://fcm.googleapis.com:443@evil.example/x",
            "https://user:pw@fcm.googleapis.com/x",
            "https://evil.example\\@fcm.googleapis.com/x",
            "https://evil.example#@fcm.googleapis.com/x",
            "https://evil.example?@fcm.googleapis.com/x",
            "https://fcm.googleapis.com%2eattacker.com/x",
        ] {
            assert_eq!(host(&list, endpoint), None, "{endpoint}");
        }
        // The Unicode dot variants normalise (IDNA) to a plain name, which must then match as such.
        assert_eq!(host(&list, "https://fcm.googleapis\u{3002}com/x").as_deref(), Some("fcm.googleapis.com:443"));
    }

    #[test]
    fn loopback_is_allowed_only_when_asked_for() {
        let strict = AllowList::default();
        let tests = AllowList::new::<&str>(&[], true).unwrap();
        for endpoint in ["http://127.0.0.1:4000/push/t", "http://localhost:4000/push/t", "http://[::1]:4000/push/t", "https://127.0.0.1:4000/x"] {
            assert_eq!(host(&strict, endpoint), None, "{endpoint}");
            assert!(host(&tests, endpoint).is_some(), "{endpoint}");
        }
        assert_eq!(host(&tests, "http://127.0.0.1:4000/push/t").as_deref(), Some("127.0.0.1:4000"));
        assert_eq!(host(&tests, "http://[::1]:4000/push/t").as_deref(), Some("[::1]:4000"));
        // The flag allows the loopback host, not every address or plain http elsewhere.
        assert_eq!(host(&tests, "http://10.0.0.1/push/t"), None);
        assert_eq!(host(&tests, "https://[::ffff:127.0.0.1]/x"), None);
        assert_eq!(host(&tests, "http://push.example.net/x"), None);
        let port_80 = AllowList::new(&["push.example.net:80"], true).unwrap();
        assert_eq!(host(&port_80, "http://push.example.net/x"), None, "http only on the loopback host");
        assert!(host(&tests, "https://fcm.googleapis.com/fcm/send/x").is_some(), "the built-in services stay");
    }

    #[test]
    fn operators_add_hosts_ports_and_subdomains() {
        let list = AllowList::new(&["Push.Example.NET", "*.corp.example:8443", "exact.example:444"], false).unwrap();
        assert_eq!(host(&list, "https://push.example.net/x").as_deref(), Some("push.example.net:443"));
        assert_eq!(host(&list, "https://push.example.net:8443/x"), None, "the port is part of the entry");
        assert_eq!(host(&list, "https://a.push.example.net/x"), None, "no subdomains without *.");
        assert_eq!(host(&list, "https://a.b.corp.example:8443/x").as_deref(), Some("a.b.corp.example:8443"));
        assert_eq!(host(&list, "https://corp.example:8443/x"), None);
        assert_eq!(host(&list, "https://evilcorp.example:8443/x"), None);
        assert_eq!(host(&list, "https://exact.example:444/x").as_deref(), Some("exact.example:444"));
        assert!(host(&list, "https://fcm.googleapis.com/x").is_some());
        assert_eq!(AllowList::new(&["", " "], false).unwrap(), AllowList::default(), "blanks are ignored");
        for bad in ["10.0.0.1", "[::1]", "*.", "a..b", "host:0", "host:x", "-bad.example", "ho st", "*"] {
            assert!(AllowList::new(&[bad], false).is_err(), "{bad:?}");
        }
    }
}
