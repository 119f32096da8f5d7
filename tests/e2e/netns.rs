//! A test host in its own network namespace, joined to this one by a veth pair, so the server
//! sees a real non-loopback peer. Addresses come from 198.18.0.0/15 (benchmarking range) and
//! exist only between the two ends of the pair. Needs root and `ip` (iproute2).

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct NetnsHost {
    name: String,
    host_if: String,
    /// This side's address: bind the server here.
    pub host_ip: IpAddr,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2 is required)");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetnsHost {
    pub fn new() -> Self {
        let n = (std::process::id() % 4000) * 16 + NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("stk{n}");
        let (host_if, peer_if) = (format!("stk{n}h"), format!("stk{n}p"));
        let (a, b) = ((n / 64) as u8, ((n % 64) * 4) as u8);
        let host_ip = IpAddr::V4(Ipv4Addr::new(198, 18, a, b + 1));
        let peer_ip = IpAddr::V4(Ipv4Addr::new(198, 18, a, b + 2));
        ip(&["netns", "add", &name]);
        let host = Self {
            name: name.clone(),
            host_if: host_if.clone(),
            host_ip,
        };
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
        ]);
        ip(&["link", "set", &peer_if, "netns", &name]);
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&[
            "netns",
            "exec",
            &name,
            "ip",
            "addr",
            "add",
            &format!("{peer_ip}/30"),
            "dev",
            &peer_if,
        ]);
        ip(&["netns", "exec", &name, "ip", "link", "set", &peer_if, "up"]);
        host
    }

    /// Runs curl inside the namespace; returns (status, body).
    pub fn curl(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, String) {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.name,
            "curl",
            "-s",
            "-m",
            "20",
            "-w",
            "\n%{http_code}",
        ]);
        // `-X HEAD` would wait for a body that never comes; `-I` is curl's HEAD.
        if method == "HEAD" {
            cmd.arg("-I");
        } else {
            cmd.args(["-X", method]);
        }
        for (k, v) in headers {
            cmd.args(["-H", &format!("{k}: {v}")]);
        }
        if let Some(body) = body {
            cmd.args([
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                body,
            ]);
        }
        let out = cmd.arg(url).output().expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        // Deleting the namespace destroys its end of the pair, which removes ours too.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
    }
}
