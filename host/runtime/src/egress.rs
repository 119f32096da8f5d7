//! Outbound network for plugins: every wasi:http request and wasi:sockets connection goes
//! through one [`EgressPolicy`] (crate `stockade-egress`), and every attempt is recorded.
//!
//! The wasi:http path is [`EgressHooks::send_request`], the `WasiHttpHooks` hook that
//! wasmtime-wasi-http calls for each outgoing request (its own client is compiled out):
//!
//! 1. the request's URI becomes a [`Destination`] (scheme first, then the parsed host);
//! 2. the per-call request count and the per-agent rate are charged;
//! 3. [`EgressPolicy::resolve`] checks the destination, looks the name up once and checks
//!    every address; the connection goes only to those checked addresses (no second lookup);
//! 4. `{{secret:NAME}}` placeholders in header values are replaced by the secrets the call was
//!    given for this destination ([`SecretInjection`], see [`secrets`]); a placeholder for a
//!    secret not granted here refuses the whole request (`secret_not_granted`);
//! 5. TCP, then TLS with the system roots for `https`, then one HTTP/1.1 exchange. Redirects
//!    are returned to the plugin as they are: a follow-up is a new request, checked again;
//! 6. request and response bodies are counted and cut at their caps.
//!
//! A refusal reaches the guest as `internal-error("egress denied: <code>: <reason>")`, the
//! contract the first-party `http` plugin reads (wasi:http's denial cases carry no reason), and
//! the host remembers it in the call's [`EgressLog`] so the caller gets `egress_denied` with
//! the reason even if the plugin words it differently.
//!
//! wasi:sockets: TCP and UDP are enabled only when the grant has `tcp://` / `udp://` rules, and
//! each connect or send address is judged by the same policy. Socket rules name addresses or
//! CIDRs: `wasi:sockets/ip-name-lookup` stays off (the host cannot tie a looked-up address
//! back to a granted name there), so a `tcp://name` rule opens nothing yet.
//!
//! Secret values never appear in a refusal, a record or `Debug` output: records list the
//! names injected ([`EgressRecord::secrets_injected`]). Responses are not scanned here.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use serde::Serialize;
use stockade_egress::{Denial, DenialCode, Destination, EgressPolicy, Resolver, SocketProtocol};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

mod secrets;

pub use secrets::{MAX_SECRET_NAME, SecretInjection};

/// Caps on one call's outbound traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressLimits {
    /// Requests (and socket connections) one call may make (default 16).
    pub max_requests: u32,
    /// Largest request body in bytes (default 1 MiB).
    pub max_request_bytes: u64,
    /// Largest response body in bytes (default 8 MiB).
    pub max_response_bytes: u64,
    /// How long a TCP connect (and TLS handshake) may take (default 10 s).
    pub connect_timeout: Duration,
}

impl Default for EgressLimits {
    fn default() -> Self {
        Self {
            max_requests: 16,
            max_request_bytes: 1024 * 1024,
            max_response_bytes: 8 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A sliding-window request rate shared by every call of one agent (the embedder keeps one per
/// agent and hands it to each call).
#[derive(Debug)]
pub struct AgentRate {
    limit: u32,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl AgentRate {
    /// At most `limit` requests per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Takes one request from the window, or says how long until one is free.
    fn take(&self, now: Instant) -> Result<(), Duration> {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            sent.pop_front();
        }
        if sent.len() >= self.limit as usize {
            let oldest = sent.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)));
        }
        sent.push_back(now);
        Ok(())
    }
}

/// What a call may reach and how much: given per call by the embedder. The default
/// ([`Egress::none`]) denies everything.
#[derive(Clone)]
pub struct Egress {
    /// The policy built from the tool's egress grant.
    pub policy: Arc<EgressPolicy>,
    /// Name resolution (the system resolver in production).
    pub resolver: Arc<dyn Resolver>,
    /// Per-call caps.
    pub limits: EgressLimits,
    /// The calling agent's request rate, if one is enforced.
    pub rate: Option<Arc<AgentRate>>,
    /// Where this call's requests and denials are recorded.
    pub log: EgressLog,
    /// Secrets injected into request headers for their destinations (default none).
    pub secrets: Vec<SecretInjection>,
}

impl fmt::Debug for Egress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Egress")
            .field("grant", &self.policy.grant().to_string())
            .field("limits", &self.limits)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Egress {
    fn eq(&self, other: &Self) -> bool {
        self.policy.grant() == other.policy.grant()
            && self.limits == other.limits
            && self.secrets == other.secrets
    }
}

impl Eq for Egress {}

impl Default for Egress {
    fn default() -> Self {
        Self::none()
    }
}

impl Egress {
    /// No network at all (an empty grant), nothing recorded anywhere else. Every call without
    /// an egress grant gets one, so the empty policy and its resolver are built once and shared.
    pub fn none() -> Self {
        static NONE: OnceLock<(Arc<EgressPolicy>, Arc<dyn Resolver>)> = OnceLock::new();
        let (policy, resolver) = NONE.get_or_init(|| {
            (
                Arc::new(EgressPolicy::new(stockade_egress::EgressGrant::default())),
                Arc::new(stockade_egress::SystemResolver::new()),
            )
        });
        Self {
            policy: Arc::clone(policy),
            resolver: Arc::clone(resolver),
            limits: EgressLimits::default(),
            rate: None,
            log: EgressLog::default(),
            secrets: Vec::new(),
        }
    }

    /// `policy` with default limits, no agent rate, no secrets and a fresh log.
    pub fn new(policy: EgressPolicy, resolver: Arc<dyn Resolver>) -> Self {
        Self {
            policy: Arc::new(policy),
            resolver,
            limits: EgressLimits::default(),
            rate: None,
            log: EgressLog::default(),
            secrets: Vec::new(),
        }
    }

    /// Adds a secret to inject into request headers (see [`SecretInjection`]).
    pub fn with_secret(mut self, secret: SecretInjection) -> Self {
        self.secrets.push(secret);
        self
    }

    /// Whether the grant has any rule for this socket protocol.
    pub(crate) fn allows_sockets(&self, protocol: SocketProtocol) -> bool {
        let scheme = match protocol {
            SocketProtocol::Tcp => stockade_egress::Scheme::Tcp,
            SocketProtocol::Udp => stockade_egress::Scheme::Udp,
        };
        self.policy
            .grant()
            .rules()
            .iter()
            .any(|rule| rule.scheme() == scheme)
    }
}

/// How one outbound attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EgressOutcome {
    /// The request was sent and a response head came back.
    Response {
        /// HTTP status.
        status: u16,
    },
    /// A socket connection or datagram destination was allowed.
    Allowed,
    /// Refused by policy or a cap; nothing was sent.
    Denied {
        /// `address_denied`, `host_not_granted`, ..., `egress_rate_limited`, ...
        code: String,
        /// One sentence naming the destination and why.
        reason: String,
    },
    /// Allowed, but the network failed (connect, TLS, protocol) or a body hit its cap.
    Failed {
        /// What went wrong.
        error: String,
    },
}

/// One outbound attempt: for the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EgressRecord {
    /// `http`, `https`, `tcp`, `udp`.
    pub scheme: String,
    /// The host as requested (normalised name or address).
    pub host: String,
    /// The port.
    pub port: u16,
    /// The checked address the connection went to, if it got that far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<SocketAddr>,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: EgressOutcome,
    /// Request body bytes sent.
    pub bytes_sent: u64,
    /// Response body bytes received (as far as the plugin read).
    pub bytes_received: u64,
    /// The names of the secrets injected into the request's headers as sent (never values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets_injected: Vec<String>,
}

#[derive(Debug)]
struct Slot {
    record: EgressRecord,
    /// Live byte counts and cap hits of the exchange, read when the records are taken.
    counters: Counters,
}

/// The records of one call, filled by the hooks while the guest runs and read by the embedder
/// afterwards. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct EgressLog {
    slots: Arc<Mutex<Vec<Slot>>>,
}

impl EgressLog {
    /// Records an attempt that moved no bytes (a refusal, a failed connect).
    fn push(&self, record: EgressRecord) {
        self.push_counted(record, Counters::default());
    }

    /// Records an exchange whose `counters` the bodies keep updating; returns its index for
    /// [`EgressLog::set_outcome`].
    fn push_counted(&self, record: EgressRecord, counters: Counters) -> usize {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.push(Slot { record, counters });
        slots.len() - 1
    }

    fn set_outcome(&self, slot: usize, outcome: EgressOutcome) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = slots.get_mut(slot) {
            slot.record.outcome = outcome;
        }
    }

    /// The records so far, with the byte counts as of now.
    pub fn records(&self) -> Vec<EgressRecord> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .map(|slot| {
                let mut record = slot.record.clone();
                record.bytes_sent = slot.counters.sent.load(Ordering::Relaxed);
                record.bytes_received = slot.counters.received.load(Ordering::Relaxed);
                if let Some((code, reason)) = slot
                    .counters
                    .cut
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                {
                    record.outcome = EgressOutcome::Denied { code, reason };
                }
                record
            })
            .collect()
    }

    /// The first refusal of this call (policy or cap), as `(code, reason)`.
    pub fn first_denial(&self) -> Option<(String, String)> {
        self.records().into_iter().find_map(|r| match r.outcome {
            EgressOutcome::Denied { code, reason } => Some((code, reason)),
            _ => None,
        })
    }
}

/// Shared between a recorded exchange and its request/response bodies.
#[derive(Debug, Default, Clone)]
struct Counters {
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    /// Set when a body cap cut the exchange: the code and reason to report.
    cut: Arc<Mutex<Option<(String, String)>>>,
}

/// Stable codes of the caps and of secret injection (policy denials use [`DenialCode`]'s
/// codes).
pub mod codes {
    /// The per-agent request rate is used up.
    pub const RATE_LIMITED: &str = "egress_rate_limited";
    /// The call made more requests than `max_requests`.
    pub const TOO_MANY_REQUESTS: &str = "egress_too_many_requests";
    /// The request body is over `max_request_bytes`.
    pub const REQUEST_TOO_LARGE: &str = "egress_request_too_large";
    /// The response body is over `max_response_bytes`.
    pub const RESPONSE_TOO_LARGE: &str = "egress_response_too_large";
    /// A header names `{{secret:NAME}}` and the call has no secret of that name for the
    /// request's destination.
    pub const SECRET_NOT_GRANTED: &str = "secret_not_granted";
    /// A header with a secret put in is not a valid header value (the secret holds a control
    /// character or line break).
    pub const SECRET_INVALID_HEADER: &str = "secret_invalid_header";
}

/// The per-call wasi:http hooks: the policy, the caps, the count of requests so far.
pub(crate) struct EgressHooks {
    egress: Egress,
    requests: Arc<AtomicU64>,
}

impl EgressHooks {
    pub(crate) fn new(egress: Egress) -> Self {
        Self {
            egress,
            requests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The `socket_addr_check` for this call's `WasiCtx`: binds to a wildcard or loopback
    /// address with any port are local and allowed; every connect and send address is judged
    /// by the policy and recorded.
    pub(crate) fn socket_check(
        &self,
    ) -> impl Fn(SocketAddr, SocketAddrUse) -> Pin<Box<dyn Future<Output = bool> + Send + Sync>>
    + Send
    + Sync
    + 'static {
        let egress = self.egress.clone();
        let requests = Arc::clone(&self.requests);
        move |addr, usage| {
            let protocol = match usage {
                SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
                    let local = addr.ip().is_unspecified();
                    return Box::pin(std::future::ready(local));
                }
                // No inbound service: a plugin never listens or accepts.
                SocketAddrUse::TcpListen | SocketAddrUse::TcpAccept => {
                    return Box::pin(std::future::ready(false));
                }
                // Datagrams only from addresses the plugin may send to; not a new request.
                SocketAddrUse::UdpReceive => {
                    let dest = Destination::socket(SocketProtocol::Udp, addr.ip(), addr.port());
                    let ok = egress.policy.check_addresses(&dest, &[addr.ip()]).is_ok();
                    return Box::pin(std::future::ready(ok));
                }
                SocketAddrUse::TcpConnect => SocketProtocol::Tcp,
                SocketAddrUse::UdpSend => SocketProtocol::Udp,
            };
            let dest = Destination::socket(protocol, addr.ip(), addr.port());
            let verdict = charge(&egress, &requests)
                .and_then(|()| {
                    egress
                        .policy
                        .check_addresses(&dest, &[addr.ip()])
                        .map_err(|d| (d.code.as_str().to_owned(), d.reason))
                })
                .map(|_| ());
            let outcome = match &verdict {
                Ok(()) => EgressOutcome::Allowed,
                Err((code, reason)) => EgressOutcome::Denied {
                    code: code.clone(),
                    reason: reason.clone(),
                },
            };
            egress.log.push(record(&dest, Some(addr), outcome));
            Box::pin(std::future::ready(verdict.is_ok()))
        }
    }
}

/// Charges one request against the per-call count and the agent's rate.
fn charge(egress: &Egress, requests: &AtomicU64) -> Result<(), (String, String)> {
    let made = requests.fetch_add(1, Ordering::Relaxed) + 1;
    if made > u64::from(egress.limits.max_requests) {
        return Err((
            codes::TOO_MANY_REQUESTS.into(),
            format!(
                "this call already made {} outbound requests, the most one call may make",
                egress.limits.max_requests
            ),
        ));
    }
    if let Some(rate) = &egress.rate
        && let Err(wait) = rate.take(Instant::now())
    {
        return Err((
            codes::RATE_LIMITED.into(),
            format!(
                "the agent's outbound request rate ({} per {} s) is used up; retry in {} ms",
                rate.limit,
                rate.window.as_secs(),
                wait.as_millis()
            ),
        ));
    }
    Ok(())
}

fn record(dest: &Destination, address: Option<SocketAddr>, outcome: EgressOutcome) -> EgressRecord {
    EgressRecord {
        scheme: dest.scheme.as_str().to_owned(),
        host: dest.host.to_string(),
        port: dest.port,
        address,
        outcome,
        bytes_sent: 0,
        bytes_received: 0,
        secrets_injected: Vec::new(),
    }
}

/// What the guest sees for a refusal: the reason, in the form the `http` plugin reads.
fn refusal(code: &str, reason: &str) -> HttpError {
    HttpError::InternalError(Some(format!("egress denied: {code}: {reason}")))
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for EgressHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let egress = self.egress.clone();
        let requests = Arc::clone(&self.requests);
        Box::new(async move { send(egress, &requests, request).await })
    }
}

async fn send(
    egress: Egress,
    requests: &AtomicU64,
    mut request: http::Request<WasiBody>,
) -> wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)> {
    let uri = request.uri().to_string();
    let dest = match Destination::from_url(&uri) {
        Ok(dest) => dest,
        Err(denial) => {
            // No parsed destination to name: record what the URI claimed, without any
            // userinfo (it may hold credentials).
            let authority = request
                .uri()
                .authority()
                .map(|a| a.host().to_owned())
                .unwrap_or_default();
            egress.log.push(EgressRecord {
                scheme: request.uri().scheme_str().unwrap_or("").to_owned(),
                host: authority,
                port: request.uri().port_u16().unwrap_or(0),
                address: None,
                outcome: EgressOutcome::Denied {
                    code: denial.code.as_str().into(),
                    reason: denial.reason.clone(),
                },
                bytes_sent: 0,
                bytes_received: 0,
                secrets_injected: Vec::new(),
            });
            return Err(refusal(denial.code.as_str(), &denial.reason));
        }
    };
    let deny = |code: String, reason: String| {
        let err = refusal(&code, &reason);
        egress
            .log
            .push(record(&dest, None, EgressOutcome::Denied { code, reason }));
        err
    };
    if let Err((code, reason)) = charge(&egress, requests) {
        return Err(deny(code, reason));
    }
    let declared = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > egress.limits.max_request_bytes) {
        return Err(deny(
            codes::REQUEST_TOO_LARGE.into(),
            format!(
                "the request body is {} bytes, over the {} byte cap",
                declared.unwrap_or_default(),
                egress.limits.max_request_bytes
            ),
        ));
    }
    let addresses = match egress.policy.resolve(&dest, egress.resolver.as_ref()).await {
        Ok(addresses) => addresses,
        Err(Denial { code, reason }) => {
            // A failed lookup is the network's doing, not a policy refusal.
            if code == DenialCode::ResolveFailed || code == DenialCode::NoAddress {
                egress.log.push(record(
                    &dest,
                    None,
                    EgressOutcome::Failed {
                        error: reason.clone(),
                    },
                ));
                return Err(HttpError::DnsError {
                    rcode: Some(reason),
                    info_code: None,
                });
            }
            return Err(deny(code.as_str().into(), reason));
        }
    };
    // Only now, with the destination checked: the value goes nowhere the policy refuses.
    let injected = match secrets::inject(&egress.secrets, &dest, request.headers_mut()) {
        Ok(injected) => injected,
        Err((code, reason)) => return Err(deny(code, reason)),
    };

    let counters = Counters::default();
    let (stream, address) = match connect(&addresses, egress.limits.connect_timeout).await {
        Ok(connected) => connected,
        Err(err) => {
            egress.log.push(record(
                &dest,
                None,
                EgressOutcome::Failed {
                    error: err.to_string(),
                },
            ));
            return Err(err);
        }
    };
    let stream: Box<dyn Stream> = if dest.scheme == stockade_egress::Scheme::Https {
        match tls(stream, &dest, egress.limits.connect_timeout).await {
            Ok(stream) => stream,
            Err(err) => {
                egress.log.push(record(
                    &dest,
                    Some(address),
                    EgressOutcome::Failed {
                        error: err.to_string(),
                    },
                ));
                return Err(err);
            }
        }
    } else {
        Box::new(stream)
    };

    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake::<_, Capped>(wasmtime_wasi_http::io::TokioIo::new(stream))
        .await
        .map_err(HttpError::from)?;
    let connection = tokio::spawn(conn);

    // Origin-form on the wire: the Host header (set by wasi-http) names the authority.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = path.parse().map_err(|_| HttpError::HttpRequestUriInvalid)?;
    let request = request.map(|body| Capped {
        inner: body,
        count: Arc::clone(&counters.sent),
        cap: egress.limits.max_request_bytes,
        cut: Arc::clone(&counters.cut),
        too_large: |cap| {
            (
                codes::REQUEST_TOO_LARGE,
                format!("the request body is over the {cap} byte cap"),
                HttpError::HttpRequestBodySize(Some(cap)),
            )
        },
    });

    let pending = EgressOutcome::Failed {
        error: "no response".into(),
    };
    let slot = egress.log.push_counted(
        EgressRecord {
            secrets_injected: injected,
            ..record(&dest, Some(address), pending)
        },
        counters.clone(),
    );
    let response = match sender.send_request(request).await {
        Ok(response) => response,
        Err(err) => {
            egress.log.set_outcome(
                slot,
                EgressOutcome::Failed {
                    error: err.to_string(),
                },
            );
            return Err(HttpError::from(err));
        }
    };
    egress.log.set_outcome(
        slot,
        EgressOutcome::Response {
            status: response.status().as_u16(),
        },
    );
    let cap = egress.limits.max_response_bytes;
    let response = response.map(|incoming| {
        Capped {
            inner: incoming.map_err(HttpError::from).boxed_unsync(),
            count: Arc::clone(&counters.received),
            cap,
            cut: Arc::clone(&counters.cut),
            too_large: |cap| {
                (
                    codes::RESPONSE_TOO_LARGE,
                    format!("the response body is over the {cap} byte cap"),
                    HttpError::HttpResponseBodySize(Some(cap)),
                )
            },
        }
        .boxed_unsync()
    });
    let io: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
        Box::new(async move {
            match connection.await {
                Ok(result) => result.map_err(HttpError::from),
                Err(join) => Err(HttpError::InternalError(Some(join.to_string()))),
            }
        });
    Ok((response, io))
}

/// Connects to the first checked address that answers.
async fn connect(
    addresses: &[SocketAddr],
    timeout: Duration,
) -> wasmtime_wasi_http::Result<(TcpStream, SocketAddr)> {
    let mut last = HttpError::DestinationUnavailable;
    for address in addresses {
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => return Ok((stream, *address)),
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = HttpError::ConnectionRefused;
            }
            Ok(Err(err)) => last = HttpError::Connect(err),
            Err(_) => last = HttpError::ConnectionTimeout,
        }
    }
    Err(last)
}

/// The TLS client configuration: the system's root certificates, loaded once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                // A certificate the parser rejects is skipped, as browsers do.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("no system root certificates found (install ca-certificates)".into());
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

async fn tls(
    stream: TcpStream,
    dest: &Destination,
    timeout: Duration,
) -> wasmtime_wasi_http::Result<Box<dyn Stream>> {
    let config = tls_config().map_err(|e| HttpError::InternalError(Some(e)))?;
    let name = match &dest.host {
        stockade_egress::Host::Name(name) => rustls::pki_types::ServerName::try_from(name.clone())
            .map_err(|_| HttpError::HttpRequestUriInvalid)?,
        stockade_egress::Host::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
    };
    let connector = tokio_rustls::TlsConnector::from(config);
    match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(stream)) => Ok(Box::new(stream)),
        Ok(Err(err)) => Err(HttpError::Tls(err)),
        Err(_) => Err(HttpError::ConnectionTimeout),
    }
}

/// A body that counts its bytes and fails once they pass `cap`, remembering why in `cut`.
struct Capped {
    inner: WasiBody,
    count: Arc<AtomicU64>,
    cap: u64,
    cut: Arc<Mutex<Option<(String, String)>>>,
    too_large: fn(u64) -> (&'static str, String, HttpError),
}

impl Body for Capped {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let frame = std::task::ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            let total =
                self.count.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
            if total > self.cap {
                let (code, reason, err) = (self.too_large)(self.cap);
                *self.cut.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((code.to_owned(), reason));
                return Poll::Ready(Some(Err(err)));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connected stream, plain or TLS.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}
