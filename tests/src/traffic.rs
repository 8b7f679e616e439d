//! Real TCP traffic across the lab: a listener on the server, connection attempts from the
//! client.

use std::{
    process::{Child, Stdio},
    thread,
    time::Duration,
};

use crate::{Lab, xtask_lab as lab};

/// A TCP listener on the server that accepts connection after connection.
pub fn listen_tcp(lab: &Lab, port: u16) -> Child {
    listen(&lab.server, lab::SERVER_IP, port, Stdio::null())
}

/// A TCP listener in `ns` on `ip:port` that accepts connection after connection (one at a
/// time) and writes what it receives to `out`.
pub fn listen(ns: &xtask::netns::Netns, ip: &str, port: u16, out: impl Into<Stdio>) -> Child {
    let child = ns
        .command("nc")
        .args(["-l", "-k", ip, &port.to_string()])
        .stdin(Stdio::null())
        .stdout(out)
        .spawn()
        .expect("start nc -l -k");
    thread::sleep(Duration::from_millis(300));
    child
}

/// Whether a new TCP connection from the client to the server's `port` succeeds in 1 s.
pub fn connects(lab: &Lab, port: u16) -> bool {
    lab.client
        .command("nc")
        .args(["-z", "-w", "1", lab::SERVER_IP, &port.to_string()])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A session from the client to the server's `port` that sends `lines` lines, one every
/// 100 ms, then closes: traffic that is open while a rule arrives.
pub fn session(lab: &Lab, port: u16, lines: u32) -> Child {
    lab.client
        .command("sh")
        .args([
            "-c",
            &format!(
                "for i in $(seq 1 {lines}); do echo line$i; sleep 0.1; done | nc -N {} {port}",
                lab::SERVER_IP
            ),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the session")
}

/// Stops a child and reaps it.
pub fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `f` on a thread inside network namespace `ns`; sockets it makes stay there (so a
/// test can stand up servers where the agent can reach them).
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open the namespace");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("enter the namespace");
        f()
    })
    .join()
    .expect("namespace thread")
}
