//! The report as a PDF: A4 pages of text in the standard Helvetica fonts (every reader has
//! them, nothing is embedded), written with pdf-writer. Lines are wrapped by an estimate of
//! Helvetica's widths; characters outside Windows-1252 print as `?`.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::Block;

const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
const MARGIN: f32 = 50.0;

/// A font of the page resources.
#[derive(Clone, Copy)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    const fn name(self) -> Name<'static> {
        match self {
            Self::Regular => Name(b"F1"),
            Self::Bold => Name(b"F2"),
        }
    }
}

/// One line to set.
struct Line {
    font: Font,
    size: f32,
    indent: f32,
    text: String,
    /// Space before it.
    gap: f32,
}

/// `s` in Windows-1252, the encoding the fonts are declared with.
fn encode(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c as u8,
            '\u{a0}'..='\u{ff}' => c as u32 as u8,
            '\u{2013}' | '\u{2014}' => b'-',
            '\u{2018}' | '\u{2019}' => b'\'',
            '\u{201c}' | '\u{201d}' => b'"',
            '\t' => b' ',
            _ => b'?',
        })
        .collect()
}

/// `text` cut into lines that fit `width` points at `size`.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    // Helvetica's average advance is about half the size; 0.55 leaves room for capitals.
    let max = ((width / (size * 0.55)) as usize).max(10);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let mut word = word.to_owned();
        while word.chars().count() > max {
            let head: String = word.chars().take(max).collect();
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(head);
            word = word.chars().skip(max).collect();
        }
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn lines(doc: &[Block]) -> Vec<Line> {
    let text_width = WIDTH - 2.0 * MARGIN;
    let mut out = Vec::new();
    let mut push = |font, size, indent: f32, text: &str, gap| {
        for (k, l) in wrap(text, size, text_width - indent)
            .into_iter()
            .enumerate()
        {
            out.push(Line {
                font,
                size,
                indent,
                text: l,
                gap: if k == 0 { gap } else { 0.0 },
            });
        }
    };
    for b in doc {
        match b {
            Block::Heading(1, t) => push(Font::Bold, 16.0, 0.0, t, 0.0),
            Block::Heading(2, t) => push(Font::Bold, 13.0, 0.0, t, 12.0),
            Block::Heading(_, t) => push(Font::Bold, 11.0, 0.0, t, 6.0),
            Block::Para(t) => push(Font::Regular, 10.0, 0.0, t, 4.0),
            Block::List(items) => {
                if items.is_empty() {
                    push(Font::Regular, 10.0, 10.0, "(none)", 2.0);
                }
                for i in items {
                    push(Font::Regular, 10.0, 10.0, &format!("- {i}"), 2.0);
                }
            }
            Block::Table(headers, rows) => {
                push(Font::Bold, 9.0, 0.0, &headers.join(" | "), 4.0);
                for r in rows {
                    push(Font::Regular, 9.0, 0.0, &r.join(" | "), 2.0);
                }
            }
            Block::Picture => {}
        }
    }
    out
}

/// `doc` as a PDF titled `title`.
pub fn render(title: &str, doc: &[Block]) -> Vec<u8> {
    // Set the lines on pages.
    let mut pages: Vec<Content> = Vec::new();
    let mut content = Content::new();
    let mut y = HEIGHT - MARGIN;
    for l in lines(doc) {
        let step = l.size * 1.3 + l.gap;
        if y - step < MARGIN {
            pages.push(std::mem::replace(&mut content, Content::new()));
            y = HEIGHT - MARGIN;
        }
        y -= step;
        content.begin_text();
        content.set_font(l.font.name(), l.size);
        content.next_line(MARGIN + l.indent, y);
        content.show(Str(&encode(&l.text)));
        content.end_text();
    }
    pages.push(content);

    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let (regular, bold, info) = (Ref::new(3), Ref::new(4), Ref::new(5));
    let page_ids: Vec<(Ref, Ref)> = (0..pages.len() as i32)
        .map(|k| (Ref::new(6 + 2 * k), Ref::new(7 + 2 * k)))
        .collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().map(|(p, _)| *p))
        .count(page_ids.len() as i32);
    for (font, base) in [
        (regular, Name(b"Helvetica")),
        (bold, Name(b"Helvetica-Bold")),
    ] {
        pdf.type1_font(font)
            .base_font(base)
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    pdf.document_info(info)
        .title(TextStr(title))
        .creator(TextStr("sensor"));
    for ((page, contents), content) in page_ids.iter().zip(pages) {
        let mut p = pdf.page(*page);
        p.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
            .parent(tree)
            .contents(*contents);
        p.resources()
            .fonts()
            .pair(Font::Regular.name(), regular)
            .pair(Font::Bold.name(), bold);
        p.finish();
        pdf.stream(*contents, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_words_and_lines_wrap() {
        let lines = super::wrap(&format!("short {} end", "x".repeat(300)), 10.0, 495.0);
        assert!(lines.len() >= 4, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 90));
        assert_eq!(super::encode("a\u{2014}b\u{e9}\u{4e2d}"), b"a-b\xe9?");
    }
}
