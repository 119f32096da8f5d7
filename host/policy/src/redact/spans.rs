//! Turning overlapping matches into disjoint spans to replace.
//!
//! The literal search and the shape rules report matches independently and may overlap: two
//! stored secrets sharing text, a stored token that is also a GitHub token, a shape rule that
//! runs into a secret. Replacing only one of two overlapping matches would leave the other's
//! tail in the output, so overlapping matches become one span covering their union, named by
//! the match that says most about what leaked.

/// A match, then (after merging) a span to redact.
#[derive(Debug, Clone, Copy)]
pub(super) struct Hit {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) label: Label,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Label {
    /// A stored secret, by index.
    Secret(usize),
    /// A shape rule, by index in [`super::shapes::RULES`].
    Shape(usize),
}

impl Hit {
    /// Matches of UTF-8 patterns in UTF-8 text already fall on boundaries; this only makes
    /// slicing infallible whatever a regex or the automaton reports.
    pub(super) fn widen_to_char_boundaries(&mut self, text: &str) {
        self.end = self.end.min(text.len());
        self.start = self.start.min(self.end);
        while !text.is_char_boundary(self.start) {
            self.start -= 1;
        }
        while !text.is_char_boundary(self.end) {
            self.end += 1;
        }
    }

    /// Whether this hit should name a merged span rather than `other`: a stored secret over a
    /// shape (it says which credential leaked), the longer of two secrets (the other is a
    /// prefix or part of it), the earlier, more specific of two rules.
    fn outranks(&self, other: &Self) -> bool {
        match (self.label, other.label) {
            (Label::Secret(_), Label::Shape(_)) => true,
            (Label::Shape(_), Label::Secret(_)) => false,
            (Label::Secret(a), Label::Secret(b)) => {
                let (len, other_len) = (self.end - self.start, other.end - other.start);
                len > other_len || (len == other_len && a < b)
            }
            (Label::Shape(a), Label::Shape(b)) => a < b,
        }
    }
}

/// Sorted, disjoint unions of overlapping or touching ranges.
pub(super) fn union(mut ranges: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    ranges.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// Whether `hit` lies wholly inside one of the sorted, disjoint `ranges`.
pub(super) fn inside(ranges: &[(usize, usize)], hit: &Hit) -> bool {
    let after = ranges.partition_point(|&(start, _)| start <= hit.start);
    after > 0 && hit.end <= ranges[after - 1].1
}

/// Merges overlapping hits into disjoint spans in text order, each named by its best hit, and
/// takes in a backslash that would otherwise escape the marker.
pub(super) fn merge(text: &str, mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_unstable_by_key(|hit| (hit.start, std::cmp::Reverse(hit.end)));
    let mut spans: Vec<Hit> = Vec::with_capacity(hits.len());
    // The hit naming the current span, kept apart because the span grows beyond it.
    let mut best: Option<Hit> = None;
    for hit in hits {
        match spans.last_mut() {
            Some(span) if hit.start < span.end => {
                span.end = span.end.max(hit.end);
                if best.is_some_and(|b| hit.outranks(&b)) {
                    best = Some(hit);
                    span.label = hit.label;
                }
            }
            _ => {
                spans.push(hit);
                best = Some(hit);
            }
        }
    }
    let bytes = text.as_bytes();
    let mut previous_end = 0;
    for span in &mut spans {
        let run = bytes
            .get(previous_end..span.start)
            .unwrap_or_default()
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if run % 2 == 1 {
            span.start -= 1;
        }
        previous_end = span.end;
    }
    spans
}
