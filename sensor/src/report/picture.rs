//! The devices and connections of an incident as an SVG drawing: each address a node on a
//! circle (the investigated device red, related ones orange, other peers grey, named by
//! host name where known), each link a line as thick as its connections are many, labelled
//! with its service.

use std::fmt::Write as _;

use std::collections::BTreeMap;

use super::html::escape;
use crate::investigate::incident::Incident;

/// Nodes drawn at most (the busiest links' ends).
const MAX_NODES: usize = 16;

/// The drawing.
pub fn svg(incident: &Incident) -> String {
    let (width, height, radius) = (760.0f64, 460.0f64, 170.0f64);
    let (cx, cy) = (width / 2.0, height / 2.0);
    // Nodes: the incident's devices' addresses first, then the links' ends.
    let mut order: Vec<String> = Vec::new();
    let mut role: BTreeMap<String, (&str, String)> = BTreeMap::new();
    for d in &incident.devices {
        for a in &d.addrs {
            let colour = if d.origin { "#c0392b" } else { "#e67e22" };
            role.insert(a.clone(), (colour, d.name.clone()));
        }
    }
    for l in &incident.links {
        for a in [&l.from, &l.to] {
            if !order.contains(a) && order.len() < MAX_NODES {
                order.push(a.clone());
            }
        }
    }
    for d in &incident.devices {
        if let Some(a) = d.addrs.first()
            && !order.contains(a)
            && order.len() < MAX_NODES
        {
            order.push(a.clone());
        }
    }
    let count = order.len().max(1) as f64;
    let at: BTreeMap<&str, (f64, f64)> = order
        .iter()
        .enumerate()
        .map(|(k, a)| {
            let angle = std::f64::consts::TAU * k as f64 / count - std::f64::consts::FRAC_PI_2;
            (
                a.as_str(),
                (
                    radius.mul_add(angle.cos(), cx),
                    radius.mul_add(angle.sin(), cy),
                ),
            )
        })
        .collect();
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" \
         height=\"{height}\" role=\"img\" aria-label=\"devices and connections\">\n"
    );
    for l in &incident.links {
        let (Some(&(x1, y1)), Some(&(x2, y2))) = (at.get(l.from.as_str()), at.get(l.to.as_str()))
        else {
            continue;
        };
        let width = (l.connections as f64).ln_1p().mul_add(1.5, 1.0);
        let _ = write!(
            out,
            "<line x1=\"{x1:.0}\" y1=\"{y1:.0}\" x2=\"{x2:.0}\" y2=\"{y2:.0}\" stroke=\"#34495e\" \
             stroke-width=\"{width:.1}\" opacity=\"0.6\"><title>{} -&gt; {} {}: {} connections, \
             {} bytes</title></line>\n<text x=\"{:.0}\" y=\"{:.0}\" font-size=\"11\" \
             fill=\"#2c3e50\">{}</text>\n",
            escape(&l.from),
            escape(&l.to),
            escape(&l.service),
            l.connections,
            l.bytes,
            f64::midpoint(x1, x2),
            f64::midpoint(y1, y2) - 4.0,
            escape(&l.service)
        );
    }
    for a in &order {
        let (x, y) = at[a.as_str()];
        let (colour, name) = role
            .get(a)
            .map_or(("#95a5a6", a.clone()), |(c, n)| (*c, format!("{n} ({a})")));
        let _ = write!(
            out,
            "<circle cx=\"{x:.0}\" cy=\"{y:.0}\" r=\"18\" fill=\"{colour}\" stroke=\"#fff\" \
             stroke-width=\"2\"/>\n<text x=\"{x:.0}\" y=\"{:.0}\" font-size=\"12\" \
             text-anchor=\"middle\">{}</text>\n",
            y + 34.0,
            escape(&name)
        );
    }
    out.push_str("</svg>\n");
    out
}
