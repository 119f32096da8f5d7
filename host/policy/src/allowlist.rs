//! Agent tool allowlists: which tools an agent may call.
//!
//! An [`AgentProfile`] is what the operator configured (`allow`, `deny`, `read_only`). The
//! server turns it into an [`Allowlist`] with [`AgentProfile::validate`] every time it loads the
//! agent, passing the server's [`Mode`], so a profile created in development mode with
//! `allow = ["*"]` stops working the moment the server runs in production.
//!
//! [`Allowlist::decide`] applies, in order: the tool name must be well formed; any matching
//! `deny` rule denies; a read-only agent is denied write tools; the first matching `allow` rule
//! allows; nothing matching denies. The [`Verdict`] names the rule so the event log records why.
//! Pattern syntax is described in [`ToolPattern`].

mod pattern;

pub use pattern::{PatternError, ToolPattern};

use serde::{Deserialize, Serialize};

/// Most patterns accepted in one `allow` or `deny` list; a bound on per-call matching work.
pub const MAX_PATTERNS: usize = 256;

/// The mode the server runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Local experimentation: `allow = ["*"]` is accepted.
    Development,
    /// Production: an allowlist that grants every tool is refused.
    Production,
}

/// Whether a tool only reads or may change something. The server derives it from the bundle
/// manifest (for example, any read-write directory grant or egress makes a tool a write tool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// The tool cannot change state outside its own output.
    Read,
    /// The tool may write files, send requests or otherwise change state.
    Write,
}

impl ToolKind {
    /// `Write` if `writes`, else `Read`.
    pub fn from_writes(writes: bool) -> Self {
        if writes { Self::Write } else { Self::Read }
    }
}

/// An agent's tool policy as configured (`tools.allow`, `tools.deny`, `read_only`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    /// Globs of tools the agent may call. Empty means none.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Globs of tools the agent may never call; these win over `allow`.
    #[serde(default)]
    pub deny: Vec<String>,
    /// A read-only agent is denied every [`ToolKind::Write`] tool, whatever `allow` says.
    #[serde(default)]
    pub read_only: bool,
}

/// Which list of a profile a pattern came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleList {
    /// `tools.allow`.
    Allow,
    /// `tools.deny`.
    Deny,
}

impl std::fmt::Display for RuleList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        })
    }
}

/// Why a profile cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    /// A pattern is not a valid tool glob.
    #[error("{list}[{index}]: {source}")]
    InvalidPattern {
        /// The list it is in.
        list: RuleList,
        /// Its position in that list.
        index: usize,
        /// What is wrong with it.
        #[source]
        source: PatternError,
    },
    /// A list has more than [`MAX_PATTERNS`] entries.
    #[error("{list} has {count} patterns; at most {max} are allowed")]
    TooManyPatterns {
        /// The list.
        list: RuleList,
        /// How many it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Production mode refuses an `allow` pattern that matches every tool (`*`, `*.*`).
    #[error(
        "allow pattern {pattern:?} grants every tool, which production mode refuses; list the tools or bundles instead"
    )]
    AllowAllForbidden {
        /// The offending pattern.
        pattern: String,
    },
}

impl AllowlistError {
    /// The stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidPattern { .. } => "invalid_pattern",
            Self::TooManyPatterns { .. } => "too_many_patterns",
            Self::AllowAllForbidden { .. } => "allow_all_forbidden",
        }
    }
}

impl AgentProfile {
    /// Checks every pattern and the mode's rules, and compiles the profile for
    /// [`Allowlist::decide`].
    ///
    /// Production refuses an individual `allow` pattern that matches every tool. It does not try
    /// to prove that a union of narrower patterns (`a*.*`, `b*.*`, ...) covers everything: the
    /// rule exists to stop the lazy `["*"]`, and an operator who spells out 26 patterns has made
    /// a deliberate choice that the event log will show.
    pub fn validate(&self, mode: Mode) -> Result<Allowlist, AllowlistError> {
        let allow = compile(RuleList::Allow, &self.allow)?;
        let deny = compile(RuleList::Deny, &self.deny)?;
        if mode == Mode::Production
            && let Some(all) = allow.iter().find(|p| p.matches_every_tool())
        {
            return Err(AllowlistError::AllowAllForbidden {
                pattern: all.as_str().to_owned(),
            });
        }
        Ok(Allowlist {
            allow,
            deny,
            read_only: self.read_only,
        })
    }
}

fn compile(list: RuleList, raw: &[String]) -> Result<Vec<ToolPattern>, AllowlistError> {
    if raw.len() > MAX_PATTERNS {
        return Err(AllowlistError::TooManyPatterns {
            list,
            count: raw.len(),
            max: MAX_PATTERNS,
        });
    }
    raw.iter()
        .enumerate()
        .map(|(index, p)| {
            ToolPattern::parse(p).map_err(|source| AllowlistError::InvalidPattern {
                list,
                index,
                source,
            })
        })
        .collect()
}

/// A validated agent policy, ready to decide tool calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowlist {
    allow: Vec<ToolPattern>,
    deny: Vec<ToolPattern>,
    read_only: bool,
}

impl Allowlist {
    /// Whether the agent is read-only.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Decides whether the agent may call `tool` (`bundle.tool`) of the given kind.
    pub fn decide(&self, tool: &str, kind: ToolKind) -> Verdict {
        let denied = |reason| Verdict::Denied(reason);
        let Some((bundle, name)) = pattern::split_tool_name(tool) else {
            return denied(Denial::InvalidToolName {
                tool: tool.to_owned(),
            });
        };
        if let Some(rule) = self.deny.iter().find(|p| p.matches(bundle, name)) {
            return denied(Denial::DenyRule {
                tool: tool.to_owned(),
                rule: rule.as_str().to_owned(),
            });
        }
        if self.read_only && kind == ToolKind::Write {
            return denied(Denial::ReadOnlyAgent {
                tool: tool.to_owned(),
            });
        }
        match self.allow.iter().find(|p| p.matches(bundle, name)) {
            Some(rule) => Verdict::Allowed {
                rule: rule.as_str().to_owned(),
            },
            None => denied(Denial::NoAllowRule {
                tool: tool.to_owned(),
            }),
        }
    }
}

/// The outcome of [`Allowlist::decide`].
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The call may proceed; `rule` is the `allow` pattern that matched.
    Allowed {
        /// The matching allow pattern, as written.
        rule: String,
    },
    /// The call is refused.
    Denied(Denial),
}

impl Verdict {
    /// Whether the call may proceed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// The verdict as a `Result`: the matching allow rule, or the denial.
    pub fn into_result(self) -> Result<String, Denial> {
        match self {
            Self::Allowed { rule } => Ok(rule),
            Self::Denied(denial) => Err(denial),
        }
    }
}

/// Why a tool call was refused. Every variant has the code `tool_not_allowed`; [`Denial::reason`]
/// tells them apart for the event log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The name is not `bundle.tool` with well-formed parts.
    #[error("{tool:?} is not a valid tool name (expected `bundle.tool`)")]
    InvalidToolName {
        /// The name as requested.
        tool: String,
    },
    /// A `deny` rule matched.
    #[error("tool `{tool}` is denied by rule `{rule}`")]
    DenyRule {
        /// The tool.
        tool: String,
        /// The deny pattern that matched.
        rule: String,
    },
    /// The agent is read-only and the tool writes.
    #[error("tool `{tool}` can write and this agent is read-only")]
    ReadOnlyAgent {
        /// The tool.
        tool: String,
    },
    /// No `allow` rule matched.
    #[error("tool `{tool}` is not in this agent's allowlist")]
    NoAllowRule {
        /// The tool.
        tool: String,
    },
}

impl Denial {
    /// The stable machine code: always `tool_not_allowed`.
    pub fn code(&self) -> &'static str {
        "tool_not_allowed"
    }

    /// A stable machine reason distinguishing the variants.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidToolName { .. } => "invalid_tool_name",
            Self::DenyRule { .. } => "deny_rule",
            Self::ReadOnlyAgent { .. } => "read_only_agent",
            Self::NoAllowRule { .. } => "no_allow_rule",
        }
    }

    /// The deny pattern that matched, if a deny rule decided.
    pub fn rule(&self) -> Option<&str> {
        match self {
            Self::DenyRule { rule, .. } => Some(rule),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
