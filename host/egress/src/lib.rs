//! Stockade's egress policy: the one decision about where a plugin's wasi:http requests and
//! wasi:sockets connections (and, through a proxy, a workspace's traffic) may go.
//!
//! Deny by default. An operator grants [`EgressRule`]s (`https://api.example.com`,
//! `https://*.example.com:443,8443`, `tcp://10.1.2.0/24:5432`), collected in an
//! [`EgressGrant`] that must be [`within`](EgressGrant::within) what the bundle manifest
//! requests. The runtime turns each request into a [`Destination`] (from a URL with
//! [`Destination::from_url`], or from a socket address) and asks an [`EgressPolicy`]:
//!
//! ```text
//! URL ─ Destination::from_url ─ EgressPolicy::resolve(dest, &dyn Resolver) ─┬─ Vec<SocketAddr>: connect to these only
//!                                 check ─ lookup once ─ check_addresses    └─ Denial { code, reason }
//! ```
//!
//! - [`Host`] normalisation (WHATWG host parsing, IDNA, IPv4 number spellings) is shared by
//!   rules, URLs and socket name lookups; [`denied_name`] refuses names such as `localhost`
//!   and `metadata.google.internal` before any resolution.
//! - [`denied_range`] classifies addresses (loopback, private, metadata, documentation,
//!   IPv4-mapped, NAT64, 6to4, Teredo, ...); only an explicit IP or CIDR rule opens a denied
//!   range, and never the server's own listen addresses.
//! - [`Resolver`] is the pluggable lookup: [`SystemResolver`] in production, [`StaticResolver`]
//!   in tests.
//! - Every refusal is a [`Denial`] with a stable [`DenialCode`] for the event log and the API.
//!
//! No HTTP client lives here: the runtime sends the request itself, to an address this crate
//! returned. It never follows redirects; each hop is a new checked destination.
//!
//! ```
//! use stockade_egress::{DenialCode, Destination, EgressGrant, EgressPolicy, StaticResolver};
//!
//! let grant = EgressGrant::parse(&["https://api.example.com", "https://*.cdn.example.com"])?;
//! let policy = EgressPolicy::new(grant);
//! let resolver = StaticResolver::new()
//!     .with("api.example.com", ["93.184.216.34".parse()?])
//!     .with("evil.cdn.example.com", ["10.0.0.7".parse()?]);
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//!
//! let dest = Destination::from_url("https://api.example.com/v1/items")?;
//! let addresses = runtime.block_on(policy.resolve(&dest, &resolver))?;
//! assert_eq!(addresses, ["93.184.216.34:443".parse()?]);
//!
//! let dest = Destination::from_url("https://evil.cdn.example.com/")?;
//! let denial = runtime.block_on(policy.resolve(&dest, &resolver)).unwrap_err();
//! assert_eq!(denial.code, DenialCode::AddressDenied);
//! assert_eq!(
//!     denial.reason,
//!     "evil.cdn.example.com resolved to 10.0.0.7, which is in a denied range (private 10.0.0.0/8)"
//! );
//!
//! let denial = Destination::from_url("http://2130706433/").and_then(|d| policy.check(&d));
//! assert_eq!(denial.unwrap_err().code, DenialCode::SchemeNotGranted);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod denial;
mod destination;
mod host;
#[doc(hidden)]
pub mod hostile_cases;
mod local;
mod policy;
mod range;
mod resolver;
mod rule;

pub use denial::{Denial, DenialCode};
pub use destination::{Destination, MAX_URL_LEN, SocketProtocol};
pub use host::{DENIED_NAMES, DENIED_SUFFIXES, Host, denied_name, normalize_name};
pub use local::local_ips;
pub use policy::{Checked, EgressPolicy};
pub use range::{DeniedRange, EmbeddedV4, RangeKind, denied_range};
pub use resolver::{Lookup, Resolver, StaticResolver, SystemResolver};
pub use rule::{
    EgressGrant, EgressRule, HostPattern, InvalidRule, MAX_RULE_LEN, MAX_RULES, NotWithin, PortSet,
    RuleError, Scheme,
};
