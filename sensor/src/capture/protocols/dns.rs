//! DNS: the question and the answers, over UDP or TCP (length-prefixed).

use serde::{Deserialize, Serialize};
use simple_dns::{Packet, rdata::RData};

/// A DNS exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// The queried name.
    pub query: String,
    /// The query type (`A`, `AAAA`, `TXT`, …).
    pub qtype: String,
    /// The answers, rendered (addresses, names, or the record type when neither).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
    /// The response code, if a response was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rcode: Option<String>,
}

fn message(bytes: &[u8], tcp: bool) -> Option<Packet<'_>> {
    let body = if tcp { bytes.get(2..)? } else { bytes };
    Packet::parse(body).ok()
}

impl Dns {
    /// Parses the query and, if it parses, the response. A response cut short by the
    /// snippet bound gives the question but no answers.
    pub fn parse(query: &[u8], response: &[u8], tcp: bool) -> Option<Self> {
        let q = message(query, tcp)?;
        let question = q.questions.first()?;
        let mut dns = Self {
            query: question.qname.to_string(),
            qtype: bare(&format!("{:?}", question.qtype)),
            ..Self::default()
        };
        if let Some(r) = message(response, tcp) {
            dns.rcode = Some(bare(&format!("{:?}", r.rcode())));
            dns.answers = r.answers.iter().map(|a| render(&a.rdata)).collect();
        }
        Some(dns)
    }
}

/// `TYPE(A)` → `A`: the name inside a debug-printed wrapper.
fn bare(debug: &str) -> String {
    debug
        .find('(')
        .and_then(|i| debug.strip_suffix(')').map(|d| &d[i + 1..]))
        .unwrap_or(debug)
        .to_owned()
}

fn render(rdata: &RData<'_>) -> String {
    match rdata {
        RData::A(a) => std::net::Ipv4Addr::from(a.address).to_string(),
        RData::AAAA(a) => std::net::Ipv6Addr::from(a.address).to_string(),
        RData::CNAME(n) => n.0.to_string(),
        RData::NS(n) => n.0.to_string(),
        RData::PTR(n) => n.0.to_string(),
        other => bare(&format!("{:?}", other.type_code())),
    }
}

#[cfg(test)]
mod tests {
    use simple_dns::{
        CLASS, Name, Packet, Question, ResourceRecord, TYPE,
        rdata::{A, RData},
    };

    use super::Dns;

    #[test]
    fn query_and_answer() {
        let mut q = Packet::new_query(7);
        q.questions.push(Question::new(
            Name::new_unchecked("c2.example.test"),
            TYPE::A.into(),
            CLASS::IN.into(),
            false,
        ));
        let query = q.build_bytes_vec().unwrap();
        let mut r = Packet::new_reply(7);
        r.questions.push(q.questions[0].clone());
        r.answers.push(ResourceRecord::new(
            Name::new_unchecked("c2.example.test"),
            CLASS::IN,
            60,
            RData::A(A {
                address: 0xcb00_7142,
            }),
        ));
        let response = r.build_bytes_vec().unwrap();
        let dns = Dns::parse(&query, &response, false).unwrap();
        assert_eq!(dns.query, "c2.example.test");
        assert_eq!(dns.qtype, "A");
        assert_eq!(dns.answers, vec!["203.0.113.66".to_owned()]);
        let cut = Dns::parse(&query, &response[..response.len() - 3], false).unwrap();
        assert!(
            cut.answers.is_empty(),
            "a cut response gives no answers, not garbage"
        );
        assert_eq!(Dns::parse(b"\x00\x01garbage", b"", false), None);
    }
}
