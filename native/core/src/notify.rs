//! sd_notify: tell systemd (or whoever set `$NOTIFY_SOCKET`) about our state,
//! e.g. `READY=1`. One datagram on a unix socket; Node has no unix datagram
//! sockets, hence this lives in the addon.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// A notification that could not be sent.
#[derive(Debug)]
pub struct NotifyError {
    /// The socket, as `$NOTIFY_SOCKET` named it.
    pub socket: String,
    /// What the system said.
    pub error: io::Error,
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot notify the service manager at NOTIFY_SOCKET={}: {}",
            self.socket, self.error
        )
    }
}

impl std::error::Error for NotifyError {}

/// Sends `state` to `$NOTIFY_SOCKET`; `Ok(false)` when it is unset or empty.
pub fn sd_notify(state: &str) -> Result<bool, NotifyError> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(s) if !s.is_empty() => notify_to(&s, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Sends `state` as one datagram to `socket`: a path, or an abstract
/// socket name when it starts with `@`.
pub fn notify_to(socket: &OsStr, state: &str) -> Result<(), NotifyError> {
    let fail = |error| NotifyError {
        socket: socket.to_string_lossy().into_owned(),
        error,
    };
    let sock = UnixDatagram::unbound().map_err(fail)?;
    let bytes = socket.as_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        send_abstract(&sock, name, state.as_bytes())
    } else if bytes.starts_with(b"/") {
        sock.send_to(state.as_bytes(), socket)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an absolute path or an @abstract name",
        ))
    }
    .map_err(fail)?;
    if sent != state.len() {
        return Err(fail(io::Error::new(
            io::ErrorKind::WriteZero,
            "datagram truncated",
        )));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn send_abstract(sock: &UnixDatagram, name: &[u8], data: &[u8]) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(data, &addr)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_socket() {
        let dir = crate::testutil::TempDir::new("notify");
        let p = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&p).unwrap();
        notify_to(p.as_os_str(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("realize-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(OsStr::new(&format!("@{name}")), "STATUS=hi\nREADY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STATUS=hi\nREADY=1");
    }

    #[test]
    fn failures_name_the_socket() {
        let e = notify_to(OsStr::new("/nonexistent/realize.sock"), "READY=1").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("NOTIFY_SOCKET=/nonexistent/realize.sock"),
            "{msg}"
        );
        assert!(notify_to(OsStr::new("relative.sock"), "READY=1").is_err());
    }
}
