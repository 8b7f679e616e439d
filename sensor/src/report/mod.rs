//! Incident reports: one document (headings, paragraphs, lists, tables) built from an
//! incident, rendered as Markdown, as a self-contained HTML page with a picture of the
//! devices and connections involved, or as a PDF (pdf-writer, the standard fonts).
//!
//! # Layout
//! - [`markdown`], [`html`], [`pdf`]: the renderers.
//! - [`picture`]: the devices-and-connections drawing (SVG) of the HTML page.

pub mod html;
pub mod markdown;
pub mod pdf;
pub mod picture;

use crate::investigate::incident::Incident;

/// A report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Markdown.
    Md,
    /// A self-contained HTML page.
    Html,
    /// PDF.
    Pdf,
}

/// A piece of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Block {
    /// A heading, level 1-3.
    Heading(u8, String),
    /// A paragraph.
    Para(String),
    /// A bulleted list.
    List(Vec<String>),
    /// A table.
    Table(Vec<&'static str>, Vec<Vec<String>>),
    /// The picture of devices and connections (HTML only; the others skip it).
    Picture,
}

/// `incident` in `format`.
pub fn render(incident: &Incident, format: Format) -> Vec<u8> {
    let doc = document(incident);
    match format {
        Format::Md => markdown::render(&doc).into_bytes(),
        Format::Html => html::render(incident, &doc).into_bytes(),
        Format::Pdf => pdf::render(&incident.title, &doc),
    }
}

const TIME: &str = "%Y-%m-%d %H:%M:%S";

/// The document of `incident`.
pub fn document(i: &Incident) -> Vec<Block> {
    let mut doc = vec![
        Block::Heading(1, format!("Incident #{}: {}", i.id, i.title)),
        Block::Para(format!(
            "Score {} | activity {} to {} UTC | opened {} | updated {}",
            i.score,
            i.first.format(TIME),
            i.last.format(TIME),
            i.created.format(TIME),
            i.updated.format(TIME)
        )),
        Block::Heading(2, "Summary".to_owned()),
        Block::Para(i.summary.clone()),
        Block::Heading(2, "Recommended actions".to_owned()),
        Block::List(i.recommended.clone()),
        Block::Heading(2, "Devices".to_owned()),
        Block::Table(
            vec!["device", "addresses", "role"],
            i.devices
                .iter()
                .map(|d| {
                    vec![
                        d.name.clone(),
                        d.addrs.join(", "),
                        if d.origin { "investigated" } else { "related" }.to_owned(),
                    ]
                })
                .collect(),
        ),
        Block::Picture,
        Block::Heading(2, "Tactics".to_owned()),
    ];
    for t in &i.tactics {
        doc.push(Block::Heading(
            3,
            format!(
                "{}: confidence {}{}",
                t.tactic,
                t.confidence,
                if t.concluded { " (concluded)" } else { "" }
            ),
        ));
        let mut lines: Vec<String> = t.evidence_for.iter().map(|e| format!("for: {e}")).collect();
        lines.extend(t.evidence_against.iter().map(|e| format!("against: {e}")));
        doc.push(Block::List(lines));
    }
    doc.push(Block::Heading(2, "Timeline (UTC)".to_owned()));
    doc.push(Block::Table(
        vec!["time", "device", "kind", "what", "link"],
        i.timeline
            .iter()
            .map(|e| {
                vec![
                    e.ts.format(TIME).to_string(),
                    e.device.clone(),
                    e.kind.clone(),
                    e.summary.clone(),
                    e.link.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    ));
    doc.push(Block::Heading(2, "Connections".to_owned()));
    doc.push(Block::Table(
        vec!["from", "to", "service", "connections", "bytes"],
        i.links
            .iter()
            .map(|l| {
                vec![
                    l.from.clone(),
                    l.to.clone(),
                    l.service.clone(),
                    l.connections.to_string(),
                    l.bytes.to_string(),
                ]
            })
            .collect(),
    ));
    doc.push(Block::Heading(2, "How it was reached".to_owned()));
    doc.push(Block::Para(format!(
        "Triggered by: {}.",
        i.triggers.join("; ")
    )));
    for s in &i.steps {
        doc.push(Block::Heading(3, s.name.clone()));
        doc.push(Block::List(s.lines.clone()));
    }
    doc
}
