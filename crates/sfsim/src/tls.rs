//! HTTPS for the emulated org: a certificate authority and a server certificate generated
//! at start, and a rustls + hyper accept loop serving an axum router.
//!
//! Real clients check certificates (Python's `requests`, reqwest, Java...); the CA is
//! written to a PEM file so they can be told to trust it the ordinary way
//! (`REQUESTS_CA_BUNDLE`, `verify=`, `SSL_CERT_FILE`), never by disabling verification.
//! The CA is a proper one (basicConstraints CA:TRUE, keyCertSign) because OpenSSL refuses
//! a bundle whose only certificate is a leaf; the leaf names every host in its SANs.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The hosts the server certificate is valid for by default.
pub const DEFAULT_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// How long the certificates are valid: long enough for any test or demo run.
const VALIDITY: time::Duration = time::Duration::days(30);

/// A client that opens TCP but never finishes the handshake must not hold a task forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the certificate failed: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("configuring TLS failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("writing the CA certificate to {path} failed: {source}")]
    WriteCa { path: PathBuf, source: io::Error },
}

/// The CA file on disk; removed (with its directory) when the last handle is dropped.
#[derive(Debug)]
struct CaFile {
    dir: PathBuf,
    path: PathBuf,
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Everything a TLS server and its clients need. Cheap to clone.
#[derive(Clone)]
pub struct TlsMaterial {
    server_config: Arc<rustls::ServerConfig>,
    ca_cert_pem: String,
    ca_file: Arc<CaFile>,
}

impl std::fmt::Debug for TlsMaterial {
    /// The private key lives only inside the rustls config and is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_cert_path", &self.ca_file.path)
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.server_config)
    }

    /// The CA certificate in PEM, for clients to trust.
    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// Path of a PEM file holding only the CA certificate.
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_file.path
    }
}

/// Generates a CA and a server certificate for `hosts` (DNS names or IP addresses) and
/// writes the CA to a fresh file in the temporary directory.
pub fn generate(hosts: &[&str]) -> Result<TlsMaterial, TlsError> {
    let now = time::OffsetDateTime::now_utc();
    // Backdated a little so a client whose clock is slightly behind still accepts it.
    let not_before = now - time::Duration::hours(1);
    let not_after = now + VALIDITY;

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name = name("sfsim local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate()?;
    let mut leaf_params =
        CertificateParams::new(hosts.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())?;
    leaf_params.distinguished_name = name(hosts.first().copied().unwrap_or("localhost"));
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Python 3.13's strict verification requires the authority key identifier.
    leaf_params.use_authority_key_identifier_extension = true;
    leaf_params.not_before = not_before;
    leaf_params.not_after = not_after;
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer)?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone()];
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    // Only HTTP/1.1 is served.
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];

    let ca_cert_pem = ca_cert.pem();
    let ca_file = write_ca_file(&ca_cert_pem)?;
    Ok(TlsMaterial {
        server_config: Arc::new(server_config),
        ca_cert_pem,
        ca_file: Arc::new(ca_file),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "TrailSpark sfsim");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn write_ca_file(pem: &str) -> Result<CaFile, TlsError> {
    let suffix: u64 = rand::random();
    let dir = std::env::temp_dir().join(format!("sfsim-{}-{suffix:016x}", std::process::id()));
    let path = dir.join("ca.pem");
    let err = |source| TlsError::WriteCa {
        path: path.clone(),
        source,
    };
    std::fs::create_dir(&dir).map_err(err)?;
    let file = CaFile {
        dir,
        path: path.clone(),
    };
    std::fs::write(&path, pem).map_err(err)?;
    Ok(file)
}

/// Serves `router` over TLS on `listener` until `shutdown` completes, then lets requests in
/// flight finish. Handshakes run in the connection's own task so a slow client never holds
/// up the accept loop.
pub async fn serve<F>(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let acceptor = TlsAcceptor::from(tls);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        while connections.try_join_next().is_some() {}
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(e) => {
                // Running out of file descriptors and similar are transient: pause briefly
                // instead of spinning or giving up.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let service = TowerToHyperService::new(router);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}
