//! Port sets of a rule: `80`, `80,8080`, `8000-8100`, `80,8000-8100`, `*`.

use std::fmt;

/// A set of ports from 1 to 65535, held as sorted, merged, inclusive ranges.
///
/// Port 0 is never in a set: it is not a destination anyone can connect to, and `*` means
/// `1-65535` (and `1-65535` displays as `*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortSet {
    /// Sorted, non-overlapping, non-adjacent, non-empty.
    ranges: Vec<(u16, u16)>,
}

impl PortSet {
    /// Every port, `*`.
    pub fn any() -> Self {
        Self {
            ranges: vec![(1, u16::MAX)],
        }
    }

    /// One port; `None` for port 0.
    pub fn single(port: u16) -> Option<Self> {
        (port != 0).then(|| Self {
            ranges: vec![(port, port)],
        })
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi)
    }

    /// Whether every port of `self` is in `other`.
    pub fn is_subset(&self, other: &PortSet) -> bool {
        // `other` is merged, so a contiguous range of `self` lies inside one range of `other`.
        self.ranges.iter().all(|&(lo, hi)| {
            other
                .ranges
                .iter()
                .any(|&(olo, ohi)| olo <= lo && hi <= ohi)
        })
    }

    /// The ports in either set.
    pub fn union(&self, other: &PortSet) -> PortSet {
        let mut ranges = self.ranges.clone();
        ranges.extend_from_slice(&other.ranges);
        Self::normalised(ranges)
    }

    /// The empty set (used only as the start of a union).
    pub(crate) fn empty() -> Self {
        Self { ranges: Vec::new() }
    }

    /// Parses the text after the host's `:`.
    pub(crate) fn parse(text: &str) -> Result<PortSet, String> {
        if text == "*" {
            return Ok(Self::any());
        }
        if text.is_empty() {
            return Err("empty port list after ':'".into());
        }
        let mut ranges = Vec::new();
        for part in text.split(',') {
            if part.is_empty() {
                return Err("empty entry in the port list".into());
            }
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (port(lo)?, port(hi)?),
                None => (port(part)?, port(part)?),
            };
            if lo > hi {
                return Err(format!("port range {lo}-{hi} is reversed"));
            }
            ranges.push((lo, hi));
        }
        Ok(Self::normalised(ranges))
    }

    fn normalised(mut ranges: Vec<(u16, u16)>) -> Self {
        ranges.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Self { ranges: merged }
    }
}

/// One port number: decimal digits, 1 to 65535.
fn port(text: &str) -> Result<u16, String> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port {text:?}"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err("port 0 is not allowed".into()),
        Ok(n) => u16::try_from(n).map_err(|_| format!("port {n} is out of range (1-65535)")),
        Err(_) => Err(format!("invalid port {text:?}")),
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ranges == [(1, u16::MAX)] {
            return f.write_str("*");
        }
        for (i, &(lo, hi)) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}
