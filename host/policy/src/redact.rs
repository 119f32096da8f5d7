//! Output redaction: secrets are removed from tool outputs, error messages and logs before they
//! leave the server.
//!
//! A plugin that was handed a credential can print it, and so can an upstream API that echoes a
//! request, or a stack trace. The server therefore passes everything it is about to send or log
//! through a [`Redactor`], which replaces two kinds of text with a marker:
//!
//! - **Stored secrets**, by value: every value the redactor was given with
//!   [`Redactor::with_secret`], in each spelling listed in the `encodings` submodule (raw,
//!   JSON-escaped in several dialects, base64 standard and URL-safe with and without padding
//!   and at any alignment inside a longer blob, percent-encoded, hex). The marker is
//!   `[REDACTED:secret:<name>]`.
//! - **Secret shapes**: credentials recognisable by format even when Stockade never stored them —
//!   AWS keys, GitHub, GitLab, OpenAI, Anthropic and Slack tokens, Slack webhooks, PEM private
//!   key blocks and Stockade's own `stk_` API tokens (the `shapes` submodule documents each
//!   rule's source). The marker is `[REDACTED:<kind>]`.
//!
//! [`Redactor::redact`] returns the text with a [`Finding`] per kind and secret, counting the
//! redactions, for the event log. Findings carry a secret's *name*, never its value.
//! [`Redactor::redact_json`] does the same for every string (keys included) and number of a JSON
//! value, since tool outputs are JSON.
//!
//! # Short values
//!
//! Values shorter than [`MIN_SECRET_LEN`] (8) bytes, after trimming surrounding ASCII
//! whitespace, are not searched for: redacting `admin`, `true` or `8080` everywhere would garble
//! ordinary output and, through the markers, tell a reader exactly which common word is the
//! secret. Such a value is listed by [`Redactor::refused`] so the server can warn the operator,
//! and is weak as a credential anyway. A value with surrounding whitespace (a file read with its
//! trailing newline) is searched for both as given and trimmed.
//!
//! # Overlaps and guarantees
//!
//! All matches are collected first — overlapping ones included, from the literal search and
//! from every shape rule — and overlapping matches are merged into one redaction covering their
//! union, so no fragment of either survives. The merged span is named by a stored secret if one
//! is involved (the longest), else by the most specific shape rule. A span is widened to UTF-8
//! character boundaries and over a backslash that would otherwise escape the marker's `[`, so
//! redacting serialised JSON text does not leave a dangling escape behind (markers themselves
//! contain no quote or backslash).
//!
//! Redaction is idempotent by construction: after rewriting, the result is scanned again, and
//! only a scan that finds nothing ends the loop. (A rewrite can expose a match: a GitHub token
//! glued to a stored secret has no word boundary before it until the secret becomes a marker.)
//! Text inside a marker this redactor writes is never redacted again, or a secret whose value
//! happens to occur in a marker (`REDACTED`, a kind name) would nest markers forever; that text
//! is public by definition, so skipping it hides nothing. If the text is still changing after
//! [`MAX_REWRITES`] rewrites, or the literal search fails, the redactor fails closed: the whole
//! text becomes `[REDACTED:redaction_failed]`.
//!
//! # Cost
//!
//! Text without secrets costs one Aho-Corasick pass over it (all spellings of all secrets, and
//! the markers, at once) and one [`regex::RegexSet`] pass (all shape rules at once). Only rules
//! the set reports as matching are run again to locate their matches, and only text that was
//! rewritten is scanned again. Building a redactor costs about fifteen patterns per plain
//! stored value; [`Redactor::with_secrets`] builds the automaton once for a batch.
//!
//! # Limits
//!
//! A secret split across JSON strings, line-wrapped base64 (MIME, PEM bodies), encodings not
//! listed above (double base64, gzip, a different case), and credential formats without a rule
//! are not found; each JSON string is redacted on its own. In serialised JSON *text*, a stored
//! value that itself contains JSON syntax (`","`) can match across string boundaries and break
//! the document, which is one more reason to prefer [`Redactor::redact_json`] for JSON. A PEM
//! `BEGIN` line without its `END` is redacted to the end of the text or JSON string, which can
//! take ordinary text with it.

mod encodings;
mod json;
mod shapes;
mod spans;

use std::collections::HashMap;
use std::fmt;

use aho_corasick::{AhoCorasick, MatchKind};
use serde::Serialize;

use spans::{Hit, Label};

pub use json::RedactedJson;

/// Shortest stored value searched for, in bytes after trimming ASCII whitespace.
pub const MIN_SECRET_LEN: usize = 8;

/// Most rewrites of one text before the redactor gives up and fails closed. Real text settles
/// after one rewrite (two when a shape was glued to a stored secret).
pub const MAX_REWRITES: usize = 3;

/// The finding kind of a stored secret; its marker names the secret instead.
pub const STORED_SECRET: &str = "stored_secret";

/// The finding kind when the redactor failed closed and withheld the whole text.
pub const REDACTION_FAILED: &str = "redaction_failed";

/// Longest secret name written into a marker; longer names are cut.
const MAX_MARKER_NAME_LEN: usize = 64;

/// Replaces stored secret values and known credential shapes in text. Cheap to clone (the
/// automaton is shared); `Debug` shows secret names only.
///
/// ```
/// use stockade_policy::Redactor;
///
/// let redactor = Redactor::new().with_secret("DB_PASSWORD", "correct-horse-battery");
/// let out = redactor.redact(r#"{"error":"login failed for correct-horse-battery"}"#);
/// assert_eq!(out.text, r#"{"error":"login failed for [REDACTED:secret:DB_PASSWORD]"}"#);
/// assert_eq!(out.findings[0].kind, "stored_secret");
/// assert_eq!(out.findings[0].secret.as_deref(), Some("DB_PASSWORD"));
/// assert_eq!(out.findings[0].count, 1);
/// ```
#[derive(Clone)]
pub struct Redactor {
    secrets: Vec<StoredSecret>,
    refused: Vec<RefusedSecret>,
    search: Search,
}

/// A stored secret as the redactor keeps it: its name, its marker and every spelling searched
/// for (the raw value among them when it is UTF-8).
#[derive(Clone)]
struct StoredSecret {
    name: String,
    marker: String,
    spellings: Vec<String>,
}

/// The literal search over every secret spelling and every marker.
#[derive(Clone)]
struct Search {
    /// `None` if the automaton could not be built; every redaction then fails closed.
    automaton: Option<AhoCorasick>,
    /// What each automaton pattern is.
    needles: Vec<Needle>,
}

#[derive(Debug, Clone, Copy)]
enum Needle {
    /// A spelling of the secret at this index.
    Secret(usize),
    /// A marker this redactor writes: text inside it is left alone.
    Marker,
}

/// A stored secret that [`Redactor::with_secret`] would not search for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedSecret {
    /// The value is shorter than [`MIN_SECRET_LEN`] bytes once trimmed.
    #[error("secret {name:?} is not redacted from outputs: its value is shorter than {min} bytes")]
    TooShort {
        /// The secret's name.
        name: String,
        /// The minimum length.
        min: usize,
    },
}

impl RefusedSecret {
    /// The secret's name.
    pub fn name(&self) -> &str {
        match self {
            Self::TooShort { name, .. } => name,
        }
    }

    /// The stable machine code of this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "secret_too_short",
        }
    }
}

/// What was redacted: one entry per kind (and per stored secret), in order of first occurrence.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Finding {
    /// [`STORED_SECRET`], a shape kind such as `github_token`, or [`REDACTION_FAILED`].
    pub kind: &'static str,
    /// For a stored secret, its name. Never a value.
    pub secret: Option<String>,
    /// How many redactions.
    pub count: usize,
}

/// A redacted text and what was removed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The text with every secret replaced by a marker.
    pub text: String,
    /// What was redacted; empty if nothing was.
    pub findings: Vec<Finding>,
}

impl Redacted {
    /// Whether nothing was redacted.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secret_names().collect::<Vec<_>>())
            .field("refused", &self.refused)
            .field("patterns", &self.search.needles.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor with the built-in shape rules and no stored secrets.
    pub fn new() -> Self {
        let mut redactor = Self {
            secrets: Vec::new(),
            refused: Vec::new(),
            search: Search {
                automaton: None,
                needles: Vec::new(),
            },
        };
        redactor.rebuild();
        // Compile the shape rules now rather than during the first tool call.
        shapes::shapes();
        redactor
    }

    /// Adds a stored secret, redacted as `[REDACTED:secret:<name>]`. A value shorter than
    /// [`MIN_SECRET_LEN`] is not added and is listed by [`Redactor::refused`] instead. Values
    /// are bytes: a binary value is found in its encoded spellings only.
    ///
    /// Each call rebuilds the automaton; add many secrets with [`Redactor::with_secrets`].
    pub fn with_secret(mut self, name: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.add(name.into(), value.as_ref());
        self.rebuild();
        self
    }

    /// Adds several `(name, value)` stored secrets as [`Redactor::with_secret`] does, building
    /// the automaton once.
    pub fn with_secrets<I, N, V>(mut self, secrets: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: AsRef<[u8]>,
    {
        for (name, value) in secrets {
            self.add(name.into(), value.as_ref());
        }
        self.rebuild();
        self
    }

    /// The secrets given that are not searched for, and why.
    pub fn refused(&self) -> &[RefusedSecret] {
        &self.refused
    }

    /// The names of the stored secrets searched for, in the order added.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secrets.iter().map(|secret| secret.name.as_str())
    }

    /// `text` with every stored secret and secret shape replaced by a marker.
    pub fn redact(&self, text: &str) -> Redacted {
        let mut tally = Tally::default();
        let text = self
            .redact_counting(text, &mut tally)
            .unwrap_or_else(|| text.to_owned());
        Redacted {
            text,
            findings: tally.findings,
        }
    }

    fn add(&mut self, name: String, value: &[u8]) {
        let trimmed = value.trim_ascii();
        if trimmed.len() < MIN_SECRET_LEN {
            self.refused.push(RefusedSecret::TooShort {
                name,
                min: MIN_SECRET_LEN,
            });
            return;
        }
        let mut spellings = encodings::spellings(trimmed);
        if trimmed.len() != value.len() {
            for spelling in encodings::spellings(value) {
                if !spellings.contains(&spelling) {
                    spellings.push(spelling);
                }
            }
        }
        let marker = format!("[REDACTED:secret:{}]", marker_name(&name));
        self.secrets.push(StoredSecret {
            name,
            marker,
            spellings,
        });
    }

    fn rebuild(&mut self) {
        let mut patterns: Vec<&str> = Vec::new();
        let mut needles = Vec::new();
        let kind_markers: Vec<String> = shapes::kinds()
            .chain([REDACTION_FAILED])
            .map(marker_of_kind)
            .collect();
        for marker in &kind_markers {
            patterns.push(marker);
            needles.push(Needle::Marker);
        }
        for (index, secret) in self.secrets.iter().enumerate() {
            patterns.push(&secret.marker);
            needles.push(Needle::Marker);
            for spelling in &secret.spellings {
                patterns.push(spelling);
                needles.push(Needle::Secret(index));
            }
        }
        // Standard semantics, because only they support overlapping search: every occurrence
        // of every spelling is reported, so overlapping secrets are merged rather than one
        // hiding the tail of another.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok();
        self.search = Search { automaton, needles };
    }

    /// The redacted text, or `None` if `text` has nothing to redact.
    fn redact_counting(&self, text: &str, tally: &mut Tally) -> Option<String> {
        self.redact_with_limit(text, tally, MAX_REWRITES)
    }

    fn redact_with_limit(
        &self,
        text: &str,
        tally: &mut Tally,
        max_rewrites: usize,
    ) -> Option<String> {
        let mut rewritten: Option<String> = None;
        for rewrite in 0..=max_rewrites {
            let current = rewritten.as_deref().unwrap_or(text);
            let Some(spans) = self.scan(current) else {
                break;
            };
            if spans.is_empty() {
                return rewritten;
            }
            if rewrite == max_rewrites {
                break;
            }
            match self.apply(current, &spans, tally) {
                Some(next) => rewritten = Some(next),
                None => break,
            }
        }
        tally.add(REDACTION_FAILED, None);
        Some(marker_of_kind(REDACTION_FAILED))
    }

    /// The spans to redact in `text`, sorted and disjoint; `None` if the search failed.
    fn scan(&self, text: &str) -> Option<Vec<Hit>> {
        let automaton = self.search.automaton.as_ref()?;
        let mut hits = Vec::new();
        let mut markers = Vec::new();
        for found in automaton.try_find_overlapping_iter(text).ok()? {
            match self.search.needles.get(found.pattern().as_usize()) {
                Some(Needle::Secret(index)) => hits.push(Hit {
                    start: found.start(),
                    end: found.end(),
                    label: Label::Secret(*index),
                }),
                Some(Needle::Marker) => markers.push((found.start(), found.end())),
                None => {}
            }
        }
        let mut shape_hits = Vec::new();
        shapes::shapes().find(text, &mut shape_hits);
        hits.extend(shape_hits.into_iter().map(|found| Hit {
            start: found.start,
            end: found.end,
            label: Label::Shape(found.rule),
        }));
        if hits.is_empty() {
            return Some(hits);
        }
        let markers = spans::union(markers);
        hits.retain(|hit| !spans::inside(&markers, hit));
        for hit in &mut hits {
            hit.widen_to_char_boundaries(text);
        }
        Some(spans::merge(text, hits))
    }

    /// `text` with `spans` replaced by their markers; `None` only if a span were not on
    /// character boundaries, which [`Hit::widen_to_char_boundaries`] rules out.
    fn apply(&self, text: &str, spans: &[Hit], tally: &mut Tally) -> Option<String> {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for span in spans {
            out.push_str(text.get(last..span.start)?);
            match span.label {
                Label::Secret(index) => {
                    let secret = self.secrets.get(index)?;
                    out.push_str(&secret.marker);
                    tally.add(STORED_SECRET, Some((index, &secret.name)));
                }
                Label::Shape(rule) => {
                    let kind = shapes::RULES.get(rule)?.kind;
                    out.push_str(&marker_of_kind(kind));
                    tally.add(kind, None);
                }
            }
            last = span.end;
        }
        out.push_str(text.get(last..)?);
        Some(out)
    }
}

fn marker_of_kind(kind: &str) -> String {
    format!("[REDACTED:{kind}]")
}

/// A secret's name as written in its marker: ASCII letters, digits, `_`, `.` and `-` (anything
/// else becomes `_`), so a name can neither end the marker early nor smuggle text into it.
fn marker_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .take(MAX_MARKER_NAME_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "unnamed".to_owned()
    } else {
        cleaned
    }
}

/// Findings in order of first occurrence, one per kind and stored secret.
#[derive(Debug, Default)]
struct Tally {
    findings: Vec<Finding>,
    index: HashMap<(&'static str, Option<usize>), usize>,
}

impl Tally {
    fn add(&mut self, kind: &'static str, secret: Option<(usize, &str)>) {
        let key = (kind, secret.map(|(index, _)| index));
        match self.index.get(&key) {
            Some(&at) => self.findings[at].count += 1,
            None => {
                self.index.insert(key, self.findings.len());
                self.findings.push(Finding {
                    kind,
                    secret: secret.map(|(_, name)| name.to_owned()),
                    count: 1,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
