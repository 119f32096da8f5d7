//! Name resolution behind a trait, so the policy resolves exactly once and tests can script
//! the answers (including a DNS rebinding attacker's).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

/// The future a [`Resolver`] returns.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Resolves a normalised DNS name to addresses. Object safe: the policy takes `&dyn Resolver`.
pub trait Resolver: Send + Sync {
    /// Every address `name` resolves to, in the resolver's order.
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a>;
}

/// The operating system's resolver, through tokio's `lookup_host`.
///
/// By default names are looked up as absolute names (with a trailing dot), so the resolver
/// never appends the server's search domains: `api.example.com` must not become
/// `api.example.com.corp.internal` or, under Kubernetes' `ndots:5`,
/// `api.example.com.default.svc.cluster.local`. On glibc, absolute names are not matched
/// against `/etc/hosts`; [`SystemResolver::relative`] restores both behaviours.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver {
    relative: bool,
}

impl SystemResolver {
    /// Absolute lookups (the default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Lookups as the system resolves relative names: hosts file and search domains apply.
    /// Every address is still checked by the policy.
    pub fn relative() -> Self {
        Self { relative: true }
    }
}

impl Resolver for SystemResolver {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        Box::pin(async move {
            let query = if self.relative || name.ends_with('.') {
                name.to_owned()
            } else {
                format!("{name}.")
            };
            let mut addresses: Vec<IpAddr> = Vec::new();
            for addr in tokio::net::lookup_host((query.as_str(), 0)).await? {
                if !addresses.contains(&addr.ip()) {
                    addresses.push(addr.ip());
                }
            }
            Ok(addresses)
        })
    }
}

/// A scripted resolver for tests: each name has a sequence of answers; lookup `n` of a name
/// gets answer `n` (the last answer repeats). Unknown names fail with `NotFound`. Every lookup
/// is counted, so a test can assert a name was resolved exactly once.
#[derive(Debug, Default)]
pub struct StaticResolver {
    answers: HashMap<String, Vec<Answer>>,
    lookups: Mutex<HashMap<String, usize>>,
}

#[derive(Debug, Clone)]
enum Answer {
    Addresses(Vec<IpAddr>),
    Error(io::ErrorKind),
}

impl StaticResolver {
    /// A resolver that knows no name.
    pub fn new() -> Self {
        Self::default()
    }

    /// `name` always resolves to `addresses` (replacing earlier answers for it).
    pub fn with(self, name: &str, addresses: impl IntoIterator<Item = IpAddr>) -> Self {
        self.with_sequence(name, [addresses.into_iter().collect()])
    }

    /// `name` resolves to each answer in turn, then keeps giving the last one.
    pub fn with_sequence(
        mut self,
        name: &str,
        answers: impl IntoIterator<Item = Vec<IpAddr>>,
    ) -> Self {
        let answers = answers.into_iter().map(Answer::Addresses).collect();
        self.answers.insert(key(name), answers);
        self
    }

    /// Looking up `name` fails with an error of `kind`.
    pub fn with_error(mut self, name: &str, kind: io::ErrorKind) -> Self {
        self.answers.insert(key(name), vec![Answer::Error(kind)]);
        self
    }

    /// How many times `name` was looked up.
    pub fn lookups(&self, name: &str) -> usize {
        let counts = self.lookups.lock().unwrap_or_else(PoisonError::into_inner);
        counts.get(&key(name)).copied().unwrap_or(0)
    }

    fn answer(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        let name = key(name);
        let n = {
            let mut counts = self.lookups.lock().unwrap_or_else(PoisonError::into_inner);
            let count = counts.entry(name.clone()).or_default();
            *count += 1;
            *count - 1
        };
        let answers = self.answers.get(&name).map(Vec::as_slice).unwrap_or(&[]);
        match answers.get(n).or(answers.last()) {
            Some(Answer::Addresses(addresses)) => Ok(addresses.clone()),
            Some(Answer::Error(kind)) => {
                Err(io::Error::new(*kind, format!("lookup of {name} failed")))
            }
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no answer for {name}"),
            )),
        }
    }
}

impl Resolver for StaticResolver {
    fn lookup<'a>(&'a self, name: &'a str) -> Lookup<'a> {
        let answer = self.answer(name);
        Box::pin(async move { answer })
    }
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
