//! A local HTTPS server for the vendor stand-ins: a test CA and a certificate for
//! 127.0.0.1 made with openssl at test time, rustls, and an axum router.

use std::{net::SocketAddr, path::Path, process::Command, sync::Arc};

use axum::Router;
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `ca.pem` and a `server.pem`/`server.key` for 127.0.0.1 signed by it, in `dir`.
pub fn make_ca(dir: &Path) {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=sensor test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        dir,
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the certificate extensions");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "1",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
}

/// Serves `router` over TLS on 127.0.0.1 (a free port) with the certificate in `dir`, on
/// `runtime`; returns the address.
pub fn serve(runtime: &tokio::runtime::Runtime, dir: &Path, router: Router) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    serve_on(runtime, dir, router, listener)
}

/// As [`serve`], on a listener made elsewhere (in another network namespace, say).
pub fn serve_on(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    router: Router,
    listener: std::net::TcpListener,
) -> SocketAddr {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("read the server certificate")
        .map(|c| c.expect("a PEM certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("read the server key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("the server certificate and key");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let addr = listener.local_addr().expect("the bound address");
    let _guard = runtime.enter();
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    runtime.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                }
            });
        }
    });
    addr
}

/// A running stand-in: its runtime (keep it alive), its base URL, and the CA to trust.
#[derive(Debug)]
pub struct StandIn {
    /// The runtime the server runs on; also for the client under test.
    pub runtime: tokio::runtime::Runtime,
    /// `https://127.0.0.1:PORT`.
    pub base: String,
    /// The test CA's certificate.
    pub ca: std::path::PathBuf,
}

/// Makes a test CA in `dir` and serves `router` over TLS on a free local port.
pub fn stand_in(dir: &Path, router: Router) -> StandIn {
    make_ca(dir);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    let addr = serve(&runtime, dir, router);
    StandIn {
        runtime,
        base: format!("https://{addr}"),
        ca: dir.join("ca.pem"),
    }
}
