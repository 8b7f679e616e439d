//! Integration tests, one binary (one link step on a 2-core machine).
//!
//! They need root: they load the real XDP program and build network namespaces. Without
//! root each test says `SKIPPED` and `cargo xtask test` counts it.

#![expect(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "helpers of tests fail loudly by panicking"
)]

/// The XDP program's verdicts and counters on a table of packets, malformed ones included,
/// under `BPF_PROG_TEST_RUN`.
mod xdp_verdicts;

/// Both programs leave headroom under the verifier's budget.
mod verifier;

/// `sensor run` on a client ─ gateway ─ server lab: real nc traffic, flows checked against
/// the interface counters at both ends; `sensor flows` and `sensor status` read the pins.
mod flows;

/// The response rules under `BPF_PROG_TEST_RUN`: every class, never-block, expiry, hits.
mod rules;

/// Bursts of payload after silences inside one connection, counted in the flow table.
mod flow_rhythm;

/// The address filter in front of the IP quarantines and blocks: kept with the rules, and
/// rebuilt over pinned maps at load.
mod addr_filter;

/// The ring buffer's events under `BPF_PROG_TEST_RUN`, and the new-flow rate guard.
mod events;

/// Rules on real traffic in the lab: suspend with hping3 and an open nc session, CIDR
/// block and clear, quarantine each way, kernel-side expiry with no agent, restart.
mod enforce;

/// A million random and mutated frames under `BPF_PROG_TEST_RUN`: no aborts, all counted.
mod fuzz_frames;

/// Real VLAN/QinQ/IPv6 captures replayed with tcpreplay, checked against tshark.
mod replay_captures;

/// The Community ID hash against tshark's, packet by packet, on the shared captures.
mod community_id;

/// Connection records from live traffic, and across a kill -9 and restart of the agent.
mod records;

/// `sensor replay` on the shared captures against tshark on the same files.
mod replay;

/// Manual response through the CLI and the agent's API: block, suspend, quarantine, clear,
/// expiry, the device log; the API refuses other users; completions and man page.
mod respond;

/// Exports to local syslog (CEF/UDP, ECS/TCP) and HTTP (OCSF, retried) listeners: complete,
/// valid, with Community IDs; TLS verified; secrets never logged.
mod exports;

/// Detection: attack captures raise their models with evidence, benign ones stay quiet,
/// model commands and overrides, and a live nmap scan becomes a breach.
mod detect;

/// EDR alerts imported from files: fixtures once each, malformed ones counted, unjoined kept;
/// SentinelOne and Falcon stand-ins polled through 429s, 5xx, 401s and a restart.
mod edr;

/// The agent polls configured SentinelOne and Graph stand-ins; no secret in its log.
mod edr_agent;

/// Microsoft Defender through a stand-in Graph: tokens, paging, failures, host enrichment.
mod edr_microsoft;

/// The ws-02 story: lab traffic replayed and Graph alerts imported make one incident, whose
/// Markdown, HTML and PDF reports hold it (the PDF read with pdftotext, rendered with
/// pdftoppm).
mod incidents;

/// Response policies on real traffic: the shipped policy suspends what a fixture-shaped
/// EDR alert names while an open session goes on; dry run, confirm and approve, expiry,
/// never-block, extend, clear, reactivate, the audit log, and a restart.
mod policies;
