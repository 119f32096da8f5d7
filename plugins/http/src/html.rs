//! HTML → readable text for `fetch_text`: [`to_text`] returns a [`Page`] (title and text).
//!
//! A single forward pass over the markup, not a DOM: the agent needs the words, the
//! structure that changes their meaning (headings, paragraphs, list items, table cells) and
//! where links go, and a reducer this small can be read in one sitting and cannot be made to
//! recurse or allocate without bound by hostile markup. What it does:
//!
//! - skips `script`, `style`, `noscript`, `template`, `svg`, `math` and form/embed widgets up
//!   to their end tag (content of the first `title` becomes [`Page::title`]); comments,
//!   doctypes and processing instructions vanish;
//! - paragraphs, headings, lists, tables and quotes become blank-line separated blocks;
//!   `div`-like elements, list items, rows and `<br>` start new lines; headings are prefixed
//!   `#`..`######`, list items `- ` or `1. ` (indented when nested), cells are joined by ` | `;
//! - links read `text (href)` with `href` resolved against the page URL; fragment-only and
//!   `javascript:` links, and links whose text already is the URL, stay plain text;
//! - character references are decoded ([`entities`]) and whitespace collapsed, except
//!   inside `pre`, which is kept as written.

pub mod entities;
mod out;
mod tags;

use crate::url::{self, Url};
use out::Out;
use tags::{Tag, parse_tag, raw_content};

/// The readable content of an HTML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The first `<title>`, whitespace collapsed; `None` when absent or empty.
    pub title: Option<String>,
    /// The text, as described in the module docs, without leading or trailing whitespace.
    pub text: String,
}

/// Reduces `html`, fetched from `base`, to its title and readable text.
pub fn to_text(html: &str, base: &Url) -> Page {
    let mut reducer = Reducer {
        base,
        out: Out::default(),
        title: None,
        pre_depth: 0,
        pre_starts: false,
        lists: Vec::new(),
        link: None,
    };
    reducer.run(html);
    let title = reducer.title.filter(|title| !title.is_empty());
    Page {
        title,
        text: reducer.out.finish(),
    }
}

/// Elements whose content is skipped up to the matching end tag: code, styling, fallbacks,
/// graphics and form widgets are not prose.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "math", "textarea", "select", "iframe",
    "object", "canvas", "audio", "video",
];

/// Elements that stand apart as paragraphs: a blank line before and after.
const PARAGRAPHS: &[&str] = &[
    "p",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dl",
    "hr",
    "figure",
    "form",
    "fieldset",
    "details",
    "address",
];

/// Elements that start and end a line.
const LINES: &[&str] = &[
    "div",
    "li",
    "tr",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "nav",
    "aside",
    "main",
    "figcaption",
    "caption",
    "summary",
    "legend",
    "body",
    "center",
    "thead",
    "tbody",
    "tfoot",
    "option",
];

/// An open `<a>`: where its text starts in the output, and where it points.
#[derive(Debug)]
struct Link {
    href: Option<String>,
    start: usize,
}

struct Reducer<'a> {
    base: &'a Url,
    out: Out,
    title: Option<String>,
    pre_depth: usize,
    /// Just after `<pre>`, where a leading newline is not content.
    pre_starts: bool,
    /// Open lists: `None` for `ul`, `Some(next number)` for `ol`.
    lists: Vec<Option<u32>>,
    link: Option<Link>,
}

impl Reducer<'_> {
    fn run(&mut self, html: &str) {
        let mut rest = html;
        while let Some(lt) = rest.find('<') {
            self.text(&rest[..lt]);
            let markup = &rest[lt..];
            let bytes = markup.as_bytes();
            let is_letter = |at: usize| bytes.get(at).is_some_and(u8::is_ascii_alphabetic);
            let used = if let Some(comment) = markup.strip_prefix("<!--") {
                comment.find("-->").map_or(markup.len(), |end| 4 + end + 3)
            } else if markup.starts_with("<!")
                || markup.starts_with("<?")
                || (markup.starts_with("</") && !is_letter(2))
            {
                // Doctype, CDATA, processing instruction or a bogus end tag.
                markup.find('>').map_or(markup.len(), |end| end + 1)
            } else if is_letter(1) || (bytes.get(1) == Some(&b'/') && is_letter(2)) {
                let (tag, used) = parse_tag(markup);
                used + self.tag(&tag, &markup[used..])
            } else {
                self.text("<");
                1
            };
            rest = &markup[used..];
        }
        self.text(rest);
        self.close_link();
    }

    fn text(&mut self, raw: &str) {
        if raw.is_empty() {
            return;
        }
        let decoded = entities::decode(raw);
        let mut chars = decoded.chars().peekable();
        if std::mem::take(&mut self.pre_starts) && self.pre_depth > 0 {
            chars.next_if_eq(&'\n');
        }
        for c in chars {
            match c {
                '\u{ad}' | '\r' => {}
                _ if self.pre_depth > 0 => self.out.visible(c),
                _ if c.is_whitespace() => self.out.space(),
                _ => self.out.visible(c),
            }
        }
    }

    /// Handles a tag; `after` is the markup following it. Returns how many bytes of `after`
    /// it consumed (the content of a skipped element).
    fn tag(&mut self, tag: &Tag<'_>, after: &str) -> usize {
        let name = tag.name.as_str();
        if tag.end {
            self.end_tag(name);
            return 0;
        }
        if name == "title" || SKIPPED.contains(&name) {
            if tag.self_closing && matches!(name, "svg" | "math") {
                return 0;
            }
            let (content, used) = raw_content(after, name);
            if name == "title" && self.title.is_none() {
                self.title = Some(collapse(&entities::decode(content)));
            }
            return used;
        }
        self.start_tag(tag);
        0
    }

    fn start_tag(&mut self, tag: &Tag<'_>) {
        let name = tag.name.as_str();
        match name {
            "br" => self.out.line_break(),
            "a" => {
                self.close_link();
                let href = tag
                    .attr("href")
                    .and_then(|h| url::resolve_link(self.base, &h));
                self.out.flush_space();
                self.link = Some(Link {
                    href,
                    start: self.out.text.len(),
                });
            }
            // An image inside a link is often all the link's text.
            "img" if self.link.is_some() => {
                if let Some(alt) = tag.attr("alt").filter(|alt| !alt.trim().is_empty()) {
                    self.out.space();
                    for c in collapse(&alt).chars() {
                        self.out.visible(c);
                    }
                }
            }
            "ul" | "ol" => {
                // A nested list continues its item's lines; a top-level one is a block.
                self.out.breaks(if self.lists.is_empty() { 2 } else { 1 });
                self.lists.push((name == "ol").then_some(1));
            }
            "li" => {
                self.out.breaks(1);
                let depth = self.lists.len().max(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(number)) => {
                        let marker = format!("{number}. ");
                        *number += 1;
                        marker
                    }
                    _ => "- ".to_owned(),
                };
                self.out.prefix = format!("{}{marker}", "  ".repeat(depth - 1));
            }
            "td" | "th" => self.out.separator = true,
            "pre" => {
                self.out.breaks(2);
                self.pre_depth += 1;
                self.pre_starts = true;
            }
            _ => {
                if let Some(level) = heading_level(name) {
                    self.out.breaks(2);
                    self.out.prefix = format!("{} ", "#".repeat(level));
                } else if PARAGRAPHS.contains(&name) {
                    self.out.breaks(2);
                } else if LINES.contains(&name) {
                    self.out.breaks(1);
                }
            }
        }
    }

    fn end_tag(&mut self, name: &str) {
        match name {
            "a" => self.close_link(),
            "br" => self.out.line_break(),
            "ul" | "ol" => {
                self.lists.pop();
                self.out.breaks(if self.lists.is_empty() { 2 } else { 1 });
            }
            "li" => {
                self.out.prefix.clear();
                self.out.breaks(1);
            }
            "pre" => {
                self.pre_depth = self.pre_depth.saturating_sub(1);
                self.out.breaks(2);
            }
            _ => {
                if heading_level(name).is_some() {
                    self.out.prefix.clear();
                    self.out.breaks(2);
                } else if PARAGRAPHS.contains(&name) {
                    self.out.breaks(2);
                } else if LINES.contains(&name) {
                    self.out.breaks(1);
                }
            }
        }
    }

    /// Ends the open link, if any, appending ` (href)` after its text.
    fn close_link(&mut self) {
        let Some(link) = self.link.take() else {
            return;
        };
        let Some(href) = link.href else {
            return;
        };
        let text = self.out.text.get(link.start..).unwrap_or_default().trim();
        if text.is_empty()
            || text == href
            || text.trim_end_matches('/') == href.trim_end_matches('/')
        {
            return;
        }
        self.out.text.push_str(&format!(" ({href})"));
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name.as_bytes() {
        [b'h', digit @ b'1'..=b'6'] => Some(usize::from(digit - b'0')),
        _ => None,
    }
}

/// Collapses whitespace runs to one space and trims.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(html: &str) -> Page {
        let base = match url::parse("url", "https://site.example/docs/page.html") {
            Ok(base) => base,
            Err(err) => panic!("{err}"),
        };
        to_text(html, &base)
    }

    /// Each row: name, HTML, expected text.
    #[test]
    fn reduces_markup_to_readable_text() {
        let cases: &[(&str, &str, &str)] = &[
            ("plain text", "just words", "just words"),
            ("whitespace collapses", "  a \n\t b  ", "a b"),
            (
                "inline tags join",
                "<b>bold</b> and <i>it</i>al<span>ic</span>",
                "bold and italic",
            ),
            ("paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"),
            ("unclosed paragraphs", "<p>one<p>two", "one\n\ntwo"),
            ("divs are lines", "<div>a</div><div>b</div>c", "a\nb\nc"),
            ("br", "a<br>b<br/><br />c", "a\nb\n\nc"),
            (
                "headings",
                "<h1>Title</h1><p>x</p><h3>Sub</h3>y",
                "# Title\n\nx\n\n### Sub\n\ny",
            ),
            ("list", "<ul><li>a</li><li>b</ul>after", "- a\n- b\n\nafter"),
            ("ordered list", "<ol><li>a<li>b</ol>", "1. a\n2. b"),
            (
                "nested list",
                "<ul><li>a<ul><li>a1</li></ul></li><li>b</li></ul>",
                "- a\n  - a1\n- b",
            ),
            (
                "list item with paragraph",
                "<ul><li><p>a</p></li></ul>",
                "- a",
            ),
            (
                "table",
                "<table><tr><th>k</th><th>v</th></tr><tr><td>1</td><td> 2 </td></tr></table>",
                "k | v\n1 | 2",
            ),
            (
                "script skipped",
                "a<script>if (a < b) { x = '</p>'; }</script>b",
                "ab",
            ),
            ("script end tag case", "a<SCRIPT type=x>1</Script >b", "ab"),
            (
                "script end lookalike",
                "a<script>x</scripts>y</script>b",
                "ab",
            ),
            (
                "style and noscript",
                "<style>p{}</style><noscript><img></noscript>t",
                "t",
            ),
            (
                "template skipped",
                "<template><p>hidden</p></template>shown",
                "shown",
            ),
            (
                "svg skipped, title ignored",
                "<svg><title>icon</title><path/></svg>text",
                "text",
            ),
            ("self-closing svg", "<svg/>text", "text"),
            ("unterminated script", "a<script>forever", "a"),
            (
                "head skipped but title",
                "<html><head><title>T</title><meta charset=utf-8><style>x</style></head><body>b</body></html>",
                "b",
            ),
            ("comments", "a<!-- <p>no</p> -->b<!-- unterminated", "ab"),
            (
                "doctype and pi",
                "<!DOCTYPE html><?xml version=\"1.0\"?>x",
                "x",
            ),
            ("stray less-than", "1 < 2 and 3 <4 <", "1 < 2 and 3 <4 <"),
            ("bogus end tag", "a</ >b</3>c", "abc"),
            (
                "entities in text",
                "caf&eacute; &amp; &#8212; &lt;p&gt;",
                "café & — <p>",
            ),
            ("nbsp collapses", "a&nbsp;&nbsp; b", "a b"),
            ("soft hyphen dropped", "hy&shy;phen", "hyphen"),
            (
                "pre keeps whitespace",
                "<pre>\n  a  b\n    c\n</pre>after",
                "a  b\n    c\n\nafter",
            ),
            ("pre entities", "<pre>&lt;tag&gt;</pre>", "<tag>"),
            (
                "link",
                "see <a href=\"/api\">the API</a>.",
                "see the API (https://site.example/api).",
            ),
            (
                "relative link",
                "<a href='next.html'>Next</a>",
                "Next (https://site.example/docs/next.html)",
            ),
            (
                "link entity in href",
                "<a href=\"?a=1&amp;b=2\">q</a>",
                "q (https://site.example/docs/page.html?a=1&b=2)",
            ),
            ("fragment link plain", "<a href=\"#top\">Top</a>", "Top"),
            (
                "javascript link plain",
                "<a href=\"javascript:go()\">Go</a>",
                "Go",
            ),
            (
                "link text is the url",
                "<a href=\"https://x.example/\">https://x.example</a>",
                "https://x.example",
            ),
            ("empty link dropped", "<a href=\"/x\"></a>text", "text"),
            (
                "image link uses alt",
                "<a href=\"/\"><img src=logo.png alt=\"Home\"></a>",
                "Home (https://site.example/)",
            ),
            ("image outside link ignored", "<img alt=\"decor\">x", "x"),
            (
                "unclosed link closes",
                "<a href=/a>A<a href=/b>B",
                "A (https://site.example/a)B (https://site.example/b)",
            ),
            (
                "link spanning block",
                "<a href=/c><div>Card</div></a>next",
                "Card (https://site.example/c)\nnext",
            ),
            (
                "attribute with >",
                "<a title=\"a > b\" href=/t>T</a>",
                "T (https://site.example/t)",
            ),
            (
                "unquoted and stray attributes",
                "<p class=x = id='y'>t",
                "t",
            ),
            ("unterminated tag", "text<a href=\"/x", "text"),
            ("uppercase tags", "<P>A</P><DIV>B</DIV>", "A\n\nB"),
            (
                "form widgets skipped",
                "<select><option>1</option></select><textarea>t</textarea>ok",
                "ok",
            ),
            ("utf-8 around tags", "<p>日本語</p><p>ü</p>", "日本語\n\nü"),
            ("no trailing breaks", "<p>a</p><p></p><div></div>", "a"),
            ("empty", "", ""),
        ];
        for (name, html, expected) in cases {
            assert_eq!(page(html).text, *expected, "{name}");
        }
    }

    #[test]
    fn title_is_the_first_title_decoded_and_collapsed() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("simple", "<title>Hello</title>", Some("Hello")),
            (
                "entities and space",
                "<TITLE>\n  A &amp;\n B </TITLE>",
                Some("A & B"),
            ),
            (
                "first wins",
                "<title>one</title><title>two</title>",
                Some("one"),
            ),
            (
                "tags are text in title",
                "<title>a <b> c</title>",
                Some("a <b> c"),
            ),
            ("empty", "<title> </title>", None),
            ("absent", "<p>x</p>", None),
            (
                "svg title is not the page title",
                "<svg><title>i</title></svg>",
                None,
            ),
        ];
        for (name, html, expected) in cases {
            assert_eq!(page(html).title.as_deref(), *expected, "{name}");
        }
    }
}
