//! One rustls crypto provider for the whole process. kube-rs (ring) and aws-sdk-s3
//! (aws-lc-rs) each bring one, and rustls refuses to choose between two: every place
//! that makes a TLS-capable client calls `install_crypto_provider` first. Installing
//! is idempotent; the first provider installed stays.

/// Makes ring the process-wide default provider, unless one is installed already.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
