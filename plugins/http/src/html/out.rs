//! [`Out`]: the text being written, with whitespace and breaks held back until they are
//! known to separate two visible characters.

/// The text being written, with whitespace and line breaks held back until the next visible
/// character, so that runs collapse and nothing dangles at the end of a line or the page.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub(super) text: String,
    /// Whitespace was seen since the last visible character.
    pending_space: bool,
    /// Newlines wanted before the next visible character: 1 a new line, 2 a blank line.
    pending_breaks: usize,
    /// A table cell started: ` | ` before the next visible character, unless at a line start.
    pub(super) separator: bool,
    /// List or heading marker for the start of the next line of text.
    pub(super) prefix: String,
}

impl Out {
    pub(super) fn space(&mut self) {
        self.pending_space = true;
    }

    pub(super) fn breaks(&mut self, count: usize) {
        self.pending_breaks = self.pending_breaks.max(count);
    }

    /// `<br>`: one more line break, so that two in a row leave a blank line.
    pub(super) fn line_break(&mut self) {
        self.pending_breaks = (self.pending_breaks + 1).min(2);
    }

    /// Writes a pending space now (before a link starts, so the link text excludes it).
    pub(super) fn flush_space(&mut self) {
        if self.pending_space && self.pending_breaks == 0 && !self.text.is_empty() {
            self.text.push(' ');
            self.pending_space = false;
        }
    }

    pub(super) fn visible(&mut self, c: char) {
        if self.text.is_empty() {
            // Nothing to separate from yet.
        } else if self.pending_breaks > 0 {
            let kept = self.text.trim_end_matches([' ', '\t']).len();
            self.text.truncate(kept);
            let have = self.text.len() - self.text.trim_end_matches('\n').len();
            for _ in have.min(2)..self.pending_breaks {
                self.text.push('\n');
            }
        } else if self.separator {
            let kept = self.text.trim_end_matches(' ').len();
            self.text.truncate(kept);
            if !self.text.ends_with('\n') {
                self.text.push_str(" | ");
            }
        } else if self.pending_space && !self.text.ends_with([' ', '\n']) {
            self.text.push(' ');
        }
        if self.pending_breaks > 0 || self.text.is_empty() || self.text.ends_with('\n') {
            self.text.push_str(&self.prefix);
            self.prefix.clear();
        }
        self.pending_space = false;
        self.pending_breaks = 0;
        self.separator = false;
        self.text.push(c);
    }

    pub(super) fn finish(self) -> String {
        self.text.trim().to_owned()
    }
}
