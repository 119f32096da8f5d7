//! The egress policy's hostile table (`stockade_egress::hostile_cases::CASES`, the rows the
//! policy's own tests refuse) sent from INSIDE workspaces through their egress proxy: every
//! row must come back `403` with its code in `X-Stockade-Egress-Denied`, and a loopback test
//! server must see no connection.
//!
//! Cost: one workspace per distinct grant, and one resolver (so one manager) per "layer" of
//! rows whose scripted answers agree; all rows of a workspace go in one exec, a generated
//! script that prints `@@@ index` and pipes each raw request into `nc 127.0.0.1 3128` (two
//! processes per request: gVisor's host threads, counted by pids.max, grow with forks). The
//! answers are parsed and compared here.
//!
//! Where the proxy legitimately answers otherwise than the policy alone, the row is listed in
//! [`OTHER_CODE`] with the reason, and the test checks the list is exact. The `own_address`
//! rows are refused because the manager hands every proxy the server's own addresses (here
//! the table's `OWN_ADDRESSES` and `LOCAL_IP`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use stockade_egress::DenialCode::{self, InvalidUrl, OwnAddress};
use stockade_egress::hostile_cases::{CASES, Case};
use stockade_egress::{Destination, EgressGrant, EgressPolicy, StaticResolver};
use stockade_workspace::{ExecRequest, WorkspaceSpec};

use crate::egress::{MARKER, upstream};
use crate::harness::{TestEnv, env};

const NOT_HTTP: &str = "the proxy forwards only CONNECT and absolute-form http:// requests; \
    a request for any other scheme is refused while parsing the request line (invalid_url), \
    before the policy would say scheme_not_granted";

/// Rows the proxy refuses with another code than the policy alone: (case, code, why).
const OTHER_CODE: &[(&str, DenialCode, &str)] = &[
    ("ftp", InvalidUrl, NOT_HTTP),
    ("gopher to loopback", InvalidUrl, NOT_HTTP),
    ("file", InvalidUrl, NOT_HTTP),
    ("dict to memcached", InvalidUrl, NOT_HTTP),
];

/// How an HTTP client sends the non-ASCII rows: the WHATWG URL serialisation (UTS #46 mapping,
/// then punycode; what browsers, reqwest and the `url` crate produce, i.e.
/// `url::Url::parse(row).as_str()`), since a request target on the wire is ASCII. The raw
/// UTF-8 form is sent as well, as a hostile program could.
const CLIENT_FORMS: &[(&str, &str)] = &[
    ("fullwidth localhost", "http://localhost/"),
    ("circled localhost", "http://localhost/"),
    ("zero-width space localhost", "http://localhost/"),
    ("ideographic dot localhost", "http://localhost./"),
    ("fullwidth gcp metadata", "http://metadata.google.internal/"),
    ("cyrillic look-alike", "https://www.xn--exmple-4nf.com/"),
];

/// One request to send and the code it must be refused with.
struct Probe {
    label: String,
    request: Vec<u8>,
    expected: DenialCode,
}

/// Rows whose scripted answers agree, so one resolver serves them all; grouped by grant.
#[derive(Default)]
struct Layer {
    answers: BTreeMap<&'static str, &'static [&'static str]>,
    rows: BTreeMap<&'static [&'static str], Vec<&'static Case>>,
}

impl Layer {
    fn fits(&self, case: &Case) -> bool {
        case.3
            .iter()
            .all(|(name, addrs)| self.answers.get(name).is_none_or(|a| a == addrs))
    }

    fn resolver(&self) -> StaticResolver {
        resolver_of(self.answers.iter().map(|(n, a)| (*n, *a)))
    }
}

fn resolver_of<'a>(answers: impl Iterator<Item = (&'a str, &'a [&'a str])>) -> StaticResolver {
    answers.fold(StaticResolver::new(), |r, (name, addrs)| {
        r.with(
            name,
            addrs.iter().map(|a| a.parse::<IpAddr>().expect("address")),
        )
    })
}

/// The request line a client sends through a proxy for `url`: `CONNECT host:port` for https,
/// the absolute form for anything else.
fn request_line(url: &str) -> String {
    match url.strip_prefix("https://") {
        Some(rest) => {
            let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
            let after_brackets = authority.rsplit_once(']').map_or(authority, |(_, a)| a);
            let port = if after_brackets.contains(':') {
                ""
            } else {
                ":443"
            };
            format!("CONNECT {authority}{port} HTTP/1.1")
        }
        None => format!("GET {url} HTTP/1.1"),
    }
}

/// `bytes` as a printf format that prints exactly them: everything but a few safe ASCII
/// characters as an octal escape (so `%`, quotes, tabs and newlines survive the shell).
fn printf_format(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut out, &b| {
        if b.is_ascii_alphanumeric() || b"./:-_".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\{b:03o}");
        }
        out
    })
}

fn probes(case: &Case, upstream_port: u16) -> Vec<Probe> {
    let &(name, _, url, _, code) = case;
    let expected = OTHER_CODE
        .iter()
        .find(|o| o.0 == name)
        .map_or(code, |o| o.1);
    // The Host header names the loopback test server: the proxy must judge the request
    // target, never the Host header.
    let request = |url: &str| {
        format!(
            "{}\r\nHost: 127.0.0.1:{upstream_port}\r\n\r\n",
            request_line(url)
        )
        .into_bytes()
    };
    if url.is_ascii() {
        return vec![Probe {
            label: name.to_owned(),
            request: request(url),
            expected,
        }];
    }
    let client = CLIENT_FORMS
        .iter()
        .find(|c| c.0 == name)
        .unwrap_or_else(|| panic!("{name}: non-ASCII URL without a client form in CLIENT_FORMS"))
        .1;
    assert_eq!(
        Destination::from_url(client).map(|d| d.host),
        Destination::from_url(url).map(|d| d.host),
        "{name}: the client form names the same host"
    );
    vec![
        Probe {
            label: format!("{name} (as a client sends it: {client})"),
            request: request(client),
            expected,
        },
        Probe {
            label: format!("{name} (raw UTF-8)"),
            request: request(url),
            expected,
        },
    ]
}

/// One shell, two processes per request (the pipeline's printf and nc): a line `@@@ index`,
/// then the proxy's raw answer.
fn script(probes: &[Probe]) -> String {
    probes
        .iter()
        .enumerate()
        .map(|(i, probe)| {
            format!(
                "echo '@@@ {i}'; printf '{}' | nc 127.0.0.1 3128\n",
                printf_format(&probe.request)
            )
        })
        .collect()
}

/// The answers in `stdout`, by index: (status line, `X-Stockade-Egress-Denied` value, whether
/// the test server's marker is in it).
fn answers(stdout: &str) -> BTreeMap<usize, (String, String, bool)> {
    let mut answers = BTreeMap::new();
    for section in stdout.split("@@@ ").skip(1) {
        let (index, response) = section.split_once('\n').unwrap_or((section, ""));
        let Ok(index) = index.trim().parse::<usize>() else {
            continue;
        };
        let mut lines = response.lines().map(|l| l.trim_end_matches('\r'));
        let status = lines.next().unwrap_or_default().to_owned();
        let denied = lines
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix("X-Stockade-Egress-Denied: "))
            .unwrap_or_default()
            .to_owned();
        answers.insert(index, (status, denied, response.contains(MARKER)));
    }
    answers
}

/// Creates a workspace with `spec`, runs every probe in one exec, destroys it; returns the
/// failures.
async fn run_group(
    env: &TestEnv,
    grant: &[&str],
    spec: WorkspaceSpec,
    probes: Vec<Probe>,
) -> Vec<String> {
    let id = env.manager.create(&spec).await.expect("create workspace");
    let out = env
        .run(
            &id,
            ExecRequest::new(["sh", "-c", &script(&probes)]).timeout(Duration::from_secs(120)),
        )
        .await;
    let _ = env.manager.destroy(&id).await;
    let seen = answers(&out.stdout_text());
    let mut failures = Vec::new();
    for (i, probe) in probes.iter().enumerate() {
        match seen.get(&i) {
            None => failures.push(format!(
                "{}: no answer (exec: {:?}, stderr: {})",
                probe.label,
                out.outcome,
                out.stderr_text()
            )),
            Some((status, denied, marker))
                if status != "HTTP/1.1 403 Forbidden"
                    || denied != probe.expected.as_str()
                    || *marker =>
            {
                failures.push(format!(
                    "{}: {status:?} with code {denied:?}, expected 403 with {} (grant {grant:?})",
                    probe.label, probe.expected
                ));
            }
            Some(_) => {}
        }
    }
    failures
}

#[tokio::test]
async fn every_hostile_row_is_refused_from_inside_a_workspace() {
    let started = Instant::now();
    let (port, hits) = upstream().await;

    // The exception lists are exact: each names a row, and differs from the table.
    for (name, code, _) in OTHER_CODE {
        let case = CASES.iter().find(|c| c.0 == *name).expect("OTHER_CODE row");
        assert_ne!(case.4, *code, "{name}: OTHER_CODE lists its own code");
    }
    assert!(
        CASES.iter().any(|c| c.4 == OwnAddress),
        "the table still has own_address rows"
    );

    // Layers of rows whose answers agree; within a layer, one workspace per grant.
    let mut layers: Vec<Layer> = Vec::new();
    for case in CASES {
        let index = match layers.iter().position(|l| l.fits(case)) {
            Some(index) => index,
            None => {
                layers.push(Layer::default());
                layers.len() - 1
            }
        };
        let layer = &mut layers[index];
        layer.answers.extend(case.3.iter().map(|(n, a)| (*n, *a)));
        layer.rows.entry(case.1).or_default().push(case);
    }

    // Host side, first: under the policy the manager builds (with the own addresses) and the merged
    // resolver of its layer, each row is still refused with its table code. So a difference
    // below is the proxy's, not the grouping's.
    for layer in &layers {
        for (grant, cases) in &layer.rows {
            let policy = EgressPolicy::new(EgressGrant::parse(grant).expect("grant"))
                .with_own_addresses(own_addresses())
                .with_local_ips(local_ips());
            for &&(name, _, url, answers, code) in cases {
                let merged = layer.resolver();
                let alone = resolver_of(answers.iter().copied());
                let check = |resolver: StaticResolver| {
                    let policy = &policy;
                    async move {
                        match Destination::from_url(url) {
                            Ok(dest) => policy.resolve(&dest, &resolver).await.map(|_| ()),
                            Err(denial) => Err(denial),
                        }
                    }
                };
                assert_eq!(
                    check(merged).await.map_err(|d| d.code),
                    Err(code),
                    "{name}: merged resolver"
                );
                assert_eq!(
                    check(alone).await.map_err(|d| d.code),
                    Err(code),
                    "{name}: own answers"
                );
            }
        }
    }

    let mut envs = Vec::new();
    let mut jobs = Vec::new();
    let mut sent = 0;
    for (index, layer) in layers.iter().enumerate() {
        let Some(mut env) = env()
            .resolver(layer.resolver())
            .own_addresses(own_addresses(), local_ips())
            .start()
            .await
        else {
            return;
        };
        for (grant, cases) in &layer.rows {
            let mut spec = env.spec(&format!("hostile-{}", jobs.len()));
            spec.egress = Some(EgressGrant::parse(grant).expect("grant"));
            // Over a hundred sequential forks: gVisor's host threads, which pids.max counts,
            // grow with them (see the crate docs); the default 256 ends the sandbox.
            spec.limits.pids = 1024;
            let probes: Vec<Probe> = cases.iter().flat_map(|c| probes(c, port)).collect();
            sent += probes.len();
            jobs.push((index, *grant, spec, probes));
        }
        envs.push(env);
    }
    let workspaces = jobs.len();
    let failures: Vec<String> = futures_util::stream::iter(jobs)
        .map(|(index, grant, spec, probes)| run_group(&envs[index], grant, spec, probes))
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();
    for env in envs {
        env.finish().await;
    }
    eprintln!(
        "hostile table through the workspace proxy: {} rows ({sent} requests), {workspaces} \
         workspaces, {} resolvers, {:.1?}",
        CASES.len(),
        layers.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} requests not refused as expected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a hostile request reached the loopback test server"
    );
}

/// The table's own listeners, as the server would pass its listen addresses.
fn own_addresses() -> Vec<SocketAddr> {
    stockade_egress::hostile_cases::OWN_ADDRESSES
        .iter()
        .map(|a| a.parse().expect("own address"))
        .collect()
}

/// The table's host address.
fn local_ips() -> Vec<IpAddr> {
    vec![
        stockade_egress::hostile_cases::LOCAL_IP
            .parse()
            .expect("local ip"),
    ]
}
