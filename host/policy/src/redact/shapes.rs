//! The built-in secret shapes: credentials recognisable by their format alone.
//!
//! Every rule is a regular expression over the text. Two habits keep false positives down:
//! a rule starts at an ASCII word boundary (`(?-u:\b)`), so a prefix glued to a longer identifier
//! (`xghp_...`, `_stk_...`) does not match, and it demands the full length of the real format, so
//! a truncated example in prose does not either. The boundary is ASCII rather than Unicode
//! because a Unicode `\b` makes the regex engine abandon its DFA on non-ASCII text, and every
//! token here is ASCII anyway.
//!
//! A rule whose pattern has a `secret` group redacts only that group (the AWS secret key keeps
//! its label, so a reader still sees *what* was removed); the others redact the whole match.
//! Several rules may share a kind. Earlier rules are more specific: when two rules match
//! overlapping text, the earlier one names the redaction.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// One built-in rule.
pub(super) struct Rule {
    /// The finding kind, also the marker text `[REDACTED:<kind>]`.
    pub(super) kind: &'static str,
    /// The pattern; see [`RULES`] for each one's source format.
    pattern: &'static str,
}

/// The rules, most specific first. Sources are the issuers' documented token formats and the
/// corresponding gitleaks rules.
#[rustfmt::skip]
pub(super) const RULES: &[Rule] = &[
    // AWS access key id: `AKIA` (long-term) or `ASIA` (STS temporary), `ABIA`/`ACCA` (service
    // specific), then 16 uppercase letters or digits. AWS IAM user guide, "Access key IDs".
    Rule { kind: "aws_access_key", pattern: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)" },
    // AWS secret access key: 40 base64 characters, which alone look like any hash, so only when
    // labelled: `aws_secret_access_key = ...` (credentials file), `AWS_SECRET_ACCESS_KEY=...`
    // (environment), `"SecretAccessKey": "..."` (STS and CLI JSON, also with `\"` escapes).
    Rule {
        kind: "aws_secret_key",
        pattern: r#"(?i:(?-u:\b)(?:aws[_-]?)?secret[_-]?access[_-]?key)(?-u:\b)(?:\\?["'])?\s*(?:=>|[:=])\s*(?:\\?["'])?(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|\z)"#,
    },
    // GitHub: `ghp_` (classic personal), `gho_` (OAuth), `ghu_` (user-to-server), `ghs_`
    // (server-to-server), `ghr_` (refresh) + 36 base62 characters; fine-grained personal tokens
    // `github_pat_` + 82 characters of `[A-Za-z0-9_]`. GitHub docs, "About authentication",
    // token formats. Longer bodies are accepted: GitHub reserves the right to grow them.
    Rule { kind: "github_token", pattern: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{82,})(?-u:\b)" },
    // GitLab: `glpat-` personal/project/group access tokens and the other prefixed tokens from
    // GitLab's "Token prefixes" table (OAuth secrets, deploy, runner, CI job, trigger, feed,
    // incoming mail, SCIM, feature-flag client, agent), 20 or more of `[A-Za-z0-9_-]`, with the
    // optional `.<version>.<crc>` tail of the newer routable format.
    Rule {
        kind: "gitlab_token",
        pattern: r"(?-u:\b)gl(?:pat|oas|dt|rt|cbt|ptt|ft|imt|soat|ffct|agent)-[A-Za-z0-9_-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]+)?",
    },
    // Anthropic: `sk-ant-<kind and version>-` (`api03`, `admin01`, ...) + a long body. Before the
    // OpenAI rule, which would not match it anyway (`ant-` is not a legacy OpenAI body).
    Rule { kind: "anthropic_key", pattern: r"(?-u:\b)sk-ant-[a-z0-9]{2,12}-[A-Za-z0-9_-]{20,}" },
    // OpenAI: `sk-proj-`, `sk-svcacct-`, `sk-admin-` + a long `[A-Za-z0-9_-]` body, or the legacy
    // `sk-` + 48 base62 characters (20 or more accepted). The legacy form allows no `-` or `_`
    // in the body, so slugs like `sk-learn-compatible-wrapper` stay.
    Rule {
        kind: "openai_key",
        pattern: r"(?-u:\b)sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20,}(?-u:\b))",
    },
    // Slack tokens: `xoxb-` (bot), `xoxp-` (user), `xoxa-`, `xoxr-` (refresh), `xoxs-`, `xoxo-`,
    // `xoxe-` and the rotating `xoxe.xoxp-`; all start with a numeric team/user id after the
    // prefix, which keeps `xoxb-not-a-real-token` in documentation unredacted.
    Rule { kind: "slack_token", pattern: r"(?-u:\b)(?:xoxe\.)?xox[abeoprs]-[0-9]+-[0-9A-Za-z-]{8,}" },
    // Slack incoming webhooks: `https://hooks.slack.com/services/T.../B.../<secret>` (and the
    // `workflows`/`triggers` forms). The whole URL is the credential. `\/` is accepted for
    // slashes escaped in JSON text; a backslash is never the last character taken, so an
    // escaped quote after the URL stays intact.
    Rule {
        kind: "slack_webhook",
        pattern: r"(?:https?:\\?/\\?/)?(?-u:\b)hooks\.slack\.com\\?/(?:services|workflows|triggers)\\?/(?:[A-Za-z0-9_+-]|\\?/){20,}",
    },
    // PEM private keys (RFC 7468 labels `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, and the legacy
    // `RSA`/`EC`/`DSA`/`OPENSSH` ones) and OpenPGP `PRIVATE KEY BLOCK` armour: the whole block,
    // BEGIN to END. A block without its END line (truncated output) is redacted to the end of the
    // text or of the JSON string it is in: the body never crosses an unescaped `"`, so a key in
    // one JSON string cannot swallow the document around it.
    Rule {
        kind: "private_key",
        pattern: r#"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?s:(?:[^"\\]|\\.)*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|(?:[^"\\]|\\.)*)"#,
    },
    // Stockade's own API tokens: `stk_<id>_<secret>`, id 8 lowercase hex digits, secret 32
    // random bytes as 64 lowercase hex digits (host/storage/src/tokens.rs).
    Rule { kind: "stockade_token", pattern: r"(?-u:\b)stk_[0-9a-f]{8}_[0-9a-f]{64}(?-u:\b)" },
];

/// The compiled rules.
pub(super) struct Shapes {
    /// All rules at once: clean text costs this one scan.
    set: RegexSet,
    /// Each rule alone, run only when the set says it matched, to find where.
    regexes: Vec<Regex>,
    /// Whether each rule redacts only its `secret` group.
    grouped: Vec<bool>,
}

/// A match of rule `rule` at `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ShapeMatch {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) rule: usize,
}

static SHAPES: LazyLock<Shapes> = LazyLock::new(|| {
    let patterns = RULES.iter().map(|rule| rule.pattern);
    // The patterns are constants; the unit tests compile them, so this cannot fail at run time.
    let set = RegexSet::new(patterns).expect("built-in redaction patterns compile");
    let regexes: Vec<Regex> = RULES
        .iter()
        .map(|rule| Regex::new(rule.pattern).expect("built-in redaction pattern compiles"))
        .collect();
    let grouped = regexes
        .iter()
        .map(|regex| regex.capture_names().any(|name| name == Some("secret")))
        .collect();
    Shapes {
        set,
        regexes,
        grouped,
    }
});

/// The compiled rules, built on first use.
pub(super) fn shapes() -> &'static Shapes {
    &SHAPES
}

impl Shapes {
    /// Appends every match in `text` to `out`.
    pub(super) fn find(&self, text: &str, out: &mut Vec<ShapeMatch>) {
        for rule in self.set.matches(text).iter() {
            let regex = &self.regexes[rule];
            if self.grouped[rule] {
                for caps in regex.captures_iter(text) {
                    if let Some(secret) = caps.name("secret") {
                        out.push(ShapeMatch {
                            start: secret.start(),
                            end: secret.end(),
                            rule,
                        });
                    }
                }
            } else {
                for found in regex.find_iter(text) {
                    out.push(ShapeMatch {
                        start: found.start(),
                        end: found.end(),
                        rule,
                    });
                }
            }
        }
    }
}

/// Every distinct kind the rules report, in table order.
pub(super) fn kinds() -> impl Iterator<Item = &'static str> {
    RULES
        .iter()
        .enumerate()
        .filter(|(i, rule)| !RULES[..*i].iter().any(|earlier| earlier.kind == rule.kind))
        .map(|(_, rule)| rule.kind)
}
