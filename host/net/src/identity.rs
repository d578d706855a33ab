//! Peer identities and the TLS 1.3 configurations that pin them.
//!
//! A node is its ed25519 peer key. It presents an ephemeral self-signed X.509
//! certificate carrying that key; no CA is involved. Both sides of every
//! connection check that the other's certificate is exactly one ed25519
//! certificate whose key is a configured peer's (the dialer additionally that
//! it is the peer it dialed), and rustls checks the handshake signature, so a
//! connection proves possession of the pinned key. Anything else fails the
//! handshake.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, RwLock};

use ed25519_dalek::SigningKey;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::NetError;

/// The ALPN protocol every connection negotiates, so an OCR endpoint never
/// talks to something else by accident.
pub const ALPN: &[u8] = b"ocr3/1";

/// The server name used on every connection: identities are keys, not names.
pub const SERVER_NAME: &str = "ocr-peer";

/// A peer's identity: its ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub [u8; 32]);

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", hex::encode(&self.0[..6]))
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// This node's peer key with its certificate.
pub struct LocalIdentity {
    id: PeerId,
    certificate: CertificateDer<'static>,
    key_pkcs8: Vec<u8>,
}

impl fmt::Debug for LocalIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalIdentity({:?})", self.id)
    }
}

impl LocalIdentity {
    /// The identity of the ed25519 key with this seed, with a fresh
    /// self-signed certificate.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, NetError> {
        let key = SigningKey::from_bytes(seed);
        let id = PeerId(key.verifying_key().to_bytes());
        let key_pkcs8 = ed25519_pkcs8(seed);
        let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(key_pkcs8.clone()),
            &rcgen::PKCS_ED25519,
        )
        .map_err(|e| NetError::Identity(format!("key pair: {e}")))?;
        let params = rcgen::CertificateParams::new(vec![SERVER_NAME.to_owned()])
            .map_err(|e| NetError::Identity(format!("certificate parameters: {e}")))?;
        let certificate =
            params.self_signed(&pair).map_err(|e| NetError::Identity(format!("self-signing: {e}")))?.der().clone();
        Ok(Self { id, certificate, key_pkcs8 })
    }

    /// The peer id.
    pub fn id(&self) -> PeerId {
        self.id
    }

    fn chain(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (vec![self.certificate.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone())))
    }
}

/// The PKCS#8 (v1) encoding of an ed25519 private key (RFC 8410 §7): a
/// fixed 16-byte prefix and the 32-byte seed.
fn ed25519_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
    const PREFIX: [u8; 16] =
        [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// The ed25519 key a certificate carries, if it is an ed25519 certificate.
pub fn certificate_key(der: &[u8]) -> Option<PeerId> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let spki = cert.public_key();
    if spki.algorithm.algorithm != x509_parser::oid_registry::OID_SIG_ED25519 {
        return None;
    }
    let key: [u8; 32] = spki.subject_public_key.data.as_ref().try_into().ok()?;
    Some(PeerId(key))
}

/// The peer a connection's certificate chain identifies (after the
/// handshake, which already checked it).
pub fn connection_peer(connection: &quinn::Connection) -> Option<PeerId> {
    let identity = connection.peer_identity()?;
    let chain = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    match chain.as_slice() {
        [only] => certificate_key(only),
        _ => None,
    }
}

/// The set of peers allowed to connect; shared so that a new config can
/// change it without restarting the endpoint.
#[derive(Clone, Debug, Default)]
pub struct AllowedPeers(Arc<RwLock<BTreeSet<PeerId>>>);

impl AllowedPeers {
    /// Replaces the allowed set.
    pub fn set(&self, peers: impl IntoIterator<Item = PeerId>) {
        if let Ok(mut allowed) = self.0.write() {
            *allowed = peers.into_iter().collect();
        }
    }

    /// Whether `peer` may connect.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.0.read().map(|allowed| allowed.contains(peer)).unwrap_or(false)
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks a presented chain: exactly one ed25519 certificate whose key
/// `accept` approves.
fn check_chain(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    accept: impl FnOnce(&PeerId) -> bool,
) -> Result<PeerId, rustls::Error> {
    if !intermediates.is_empty() {
        return Err(rustls::Error::General("a peer presents exactly one certificate".into()));
    }
    let Some(key) = certificate_key(end_entity) else {
        return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding));
    };
    if !accept(&key) {
        tracing::warn!(peer = %key, "refused a TLS peer whose key is not configured");
        return Err(rustls::Error::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure));
    }
    Ok(key)
}

/// Verifies the handshake signatures with the certificate's key: only
/// ed25519, only TLS 1.3.
#[derive(Debug)]
struct Signatures(WebPkiSupportedAlgorithms);

impl Signatures {
    fn new() -> Self {
        Self(provider().signature_verification_algorithms)
    }

    fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::NoSignatureSchemesInCommon));
        }
        verify_tls13_signature(message, cert, dss, &self.0)
    }
}

/// The dialer's check of the server it dialed.
#[derive(Debug)]
struct ExpectServer {
    expected: PeerId,
    signatures: Signatures,
}

impl ServerCertVerifier for ExpectServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        check_chain(end_entity, intermediates, |key| *key == self.expected)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The listener's check of a connecting client.
#[derive(Debug)]
struct AllowedClients {
    allowed: AllowedPeers,
    signatures: Signatures,
}

impl ClientCertVerifier for AllowedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_chain(end_entity, intermediates, |key| self.allowed.contains(key))?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The QUIC transport parameters shared by both directions.
fn transport() -> Arc<quinn::TransportConfig> {
    let mut transport = quinn::TransportConfig::default();
    // Idle connections are detected in seconds, not the default 30 s, so a
    // dead peer is redialled while its instance still needs it.
    transport.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(10_000))));
    transport.keep_alive_interval(Some(std::time::Duration::from_secs(2)));
    // One unidirectional stream per protocol instance and direction; a few
    // spare for reconfiguration. Peers cannot open bidirectional streams.
    transport.max_concurrent_uni_streams(quinn::VarInt::from_u32(16));
    transport.max_concurrent_bidi_streams(quinn::VarInt::from_u32(0));
    Arc::new(transport)
}

/// The listener's QUIC configuration: mutual TLS 1.3 with clients limited to
/// `allowed`.
pub fn server_config(identity: &LocalIdentity, allowed: AllowedPeers) -> Result<quinn::ServerConfig, NetError> {
    let verifier = Arc::new(AllowedClients { allowed, signatures: Signatures::new() });
    let (chain, key) = identity.chain();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NetError::Identity(format!("TLS versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| NetError::Identity(format!("server certificate: {e}")))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| NetError::Identity(format!("QUIC server crypto: {e}")))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(transport());
    Ok(config)
}

/// The dialer's QUIC configuration for dialing `expected`.
pub fn client_config(identity: &LocalIdentity, expected: PeerId) -> Result<quinn::ClientConfig, NetError> {
    let verifier = Arc::new(ExpectServer { expected, signatures: Signatures::new() });
    let (chain, key) = identity.chain();
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| NetError::Identity(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|e| NetError::Identity(format!("client certificate: {e}")))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| NetError::Identity(format!("QUIC client crypto: {e}")))?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(transport());
    Ok(config)
}
