//! Signed manifests: an Ed25519 signature of a backup's `manifest.json`, kept beside it
//! as `manifest.json.minisig` in minisign's format, so the standard `minisign` tool
//! verifies it (`minisign -V -p KEY.pub -m manifest.json`). The manifest holds the
//! sha256 of every part, so a valid signature vouches for the whole backup.
//!
//! Keys are minisign's own files: a secret key made by `minisign -G` (encrypted with a
//! password, scrypt, or not with `-W`) and its public key. Signatures are minisign's
//! default, prehashed (`ED`: Ed25519 over the BLAKE2b-512 of the file); legacy ones
//! (`Ed`, over the file itself) are verified too. The trusted comment names the
//! backup, and is signed with the signature (minisign's global signature).

use std::path::Path;

use super::{ArchiveError, layout};
use crate::store::{PutMode, Store, StoreError};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use blake2::Digest;
use ed25519_dalek::{Signature, Signer, VerifyingKey};

/// What went wrong with a key or a signature.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("cannot use the key {path}: {message}")]
    Key { path: String, message: String },
    #[error("the signature is not in minisign's format: {0}")]
    Format(String),
    #[error(
        "the signature was made with key {found}, not with the configured public key {expected}"
    )]
    OtherKey { found: String, expected: String },
    #[error("the signature does not match: the manifest was changed after it was signed")]
    Mismatch,
    #[error("the signature's trusted comment does not match its signature: it was changed")]
    CommentMismatch,
}

const UNTRUSTED: &str = "untrusted comment: ";
const TRUSTED: &str = "trusted comment: ";

/// A secret key that signs.
pub struct SigningKey {
    key_id: [u8; 8],
    key: ed25519_dalek::SigningKey,
}

/// A public key that verifies.
#[derive(Clone, Debug)]
pub struct PublicKey {
    key_id: [u8; 8],
    key: VerifyingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", key_id_text(&self.key_id))
    }
}

/// How minisign shows a key id: the 8 bytes as a little-endian number, in hex.
fn key_id_text(id: &[u8; 8]) -> String {
    format!("{:016X}", u64::from_le_bytes(*id))
}

/// The base64 payload line of a minisign file (the first line after the untrusted
/// comment).
fn payload(text: &str) -> Result<Vec<u8>, String> {
    let mut lines = text.lines();
    let comment = lines.next().ok_or("the file is empty")?;
    if !comment.starts_with(UNTRUSTED) {
        return Err(format!("its first line does not start with `{UNTRUSTED}`"));
    }
    let line = lines.next().ok_or("it has no second line")?;
    STANDARD
        .decode(line.trim())
        .map_err(|e| format!("its second line is not base64: {e}"))
}

impl SigningKey {
    /// Reads a minisign secret key; `password` unlocks an encrypted one.
    pub fn read(path: &Path, password: Option<&str>) -> Result<SigningKey, SignatureError> {
        let fail = |message: String| SignatureError::Key {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        SigningKey::parse(&text, password).map_err(fail)
    }

    fn parse(text: &str, password: Option<&str>) -> Result<SigningKey, String> {
        let bytes = payload(text)?;
        if bytes.len() != 158 {
            return Err(format!(
                "a minisign secret key holds 158 bytes, this one {}",
                bytes.len()
            ));
        }
        if &bytes[0..2] != b"Ed" || &bytes[4..6] != b"B2" {
            return Err("it is not an Ed25519 minisign secret key".into());
        }
        let kdf = &bytes[2..4];
        let mut secret: [u8; 104] = bytes[54..158]
            .try_into()
            .map_err(|_| "the key is cut short".to_string())?;
        let encrypted = match kdf {
            b"Sc" => true,
            [0, 0] => false,
            _ => return Err("its key derivation is neither scrypt nor none".into()),
        };
        if encrypted {
            let password = password.ok_or(
                "it is encrypted: give its password in the environment variable `password_env` names",
            )?;
            let salt = &bytes[6..38];
            let ops = u64::from_le_bytes(bytes[38..46].try_into().map_err(|_| "bad limits")?);
            let mem = u64::from_le_bytes(bytes[46..54].try_into().map_err(|_| "bad limits")?);
            let (log_n, r, p) = scrypt_params(ops, mem)?;
            let params = scrypt::Params::new(log_n, r, p, 32)
                .map_err(|e| format!("its scrypt parameters are unusable: {e}"))?;
            let mut stream = [0u8; 104];
            scrypt::scrypt(password.as_bytes(), salt, &params, &mut stream)
                .map_err(|e| format!("scrypt failed: {e}"))?;
            for (b, s) in secret.iter_mut().zip(stream) {
                *b ^= s;
            }
        }
        let key_id: [u8; 8] = secret[0..8].try_into().map_err(|_| "bad key id")?;
        let sk = &secret[8..72];
        let checksum = &secret[72..104];
        let mut hasher = blake2::Blake2b::<blake2::digest::consts::U32>::new();
        hasher.update(b"Ed");
        hasher.update(key_id);
        hasher.update(sk);
        let computed = hasher.finalize();
        // `minisign -G -W` leaves the checksum of an unencrypted key zero.
        let unchecked = !encrypted && checksum.iter().all(|b| *b == 0);
        if computed.as_slice() != checksum && !unchecked {
            return Err(if encrypted {
                "wrong password for this key".into()
            } else {
                "its checksum does not match: the key is damaged".into()
            });
        }
        let seed: [u8; 32] = sk[0..32].try_into().map_err(|_| "bad key")?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        if key.verifying_key().as_bytes() != &sk[32..64] {
            return Err("its public half does not match its secret half".into());
        }
        Ok(SigningKey { key_id, key })
    }

    /// The public key of this secret key.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// A `.minisig` file signing `message`, with `trusted_comment` (one line).
    pub fn sign(&self, message: &[u8], trusted_comment: &str) -> String {
        let trusted_comment = trusted_comment.replace(['\r', '\n'], " ");
        let signature = self.key.sign(&blake2::Blake2b512::digest(message));
        let mut line2 = Vec::with_capacity(74);
        line2.extend_from_slice(b"ED");
        line2.extend_from_slice(&self.key_id);
        line2.extend_from_slice(&signature.to_bytes());
        let mut global = signature.to_bytes().to_vec();
        global.extend_from_slice(trusted_comment.as_bytes());
        let global = self.key.sign(&global);
        format!(
            "{UNTRUSTED}signature from lifeboat, key {}\n{}\n{TRUSTED}{trusted_comment}\n{}\n",
            key_id_text(&self.key_id),
            STANDARD.encode(line2),
            STANDARD.encode(global.to_bytes()),
        )
    }
}

/// libsodium's scrypt parameters for an opslimit and memlimit (as minisign stores them).
fn scrypt_params(opslimit: u64, memlimit: u64) -> Result<(u8, u32, u32), String> {
    let ops = opslimit.max(32768);
    let r: u64 = 8;
    let (max_n, p) = if ops < memlimit / 32 {
        (ops / (r * 4), 1)
    } else {
        (memlimit / (r * 128), 0)
    };
    let log_n = (1..63u8)
        .find(|n| (1u64 << n) > max_n / 2)
        .ok_or("its scrypt limits are out of range")?;
    let p = if p == 1 {
        1
    } else {
        ((ops / 4) >> log_n).min(0x3fff_ffff) / r
    };
    if log_n > 20 {
        return Err("its scrypt limits would take more memory than lifeboat allows".into());
    }
    Ok((log_n, r as u32, p.max(1) as u32))
}

impl PublicKey {
    /// Reads a minisign public key file.
    pub fn read(path: &Path) -> Result<PublicKey, SignatureError> {
        let fail = |message: String| SignatureError::Key {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let bytes = payload(&text).map_err(fail)?;
        PublicKey::from_payload(&bytes).map_err(fail)
    }

    fn from_payload(bytes: &[u8]) -> Result<PublicKey, String> {
        if bytes.len() != 42 || &bytes[0..2] != b"Ed" {
            return Err("it is not a minisign Ed25519 public key".into());
        }
        let key_id: [u8; 8] = bytes[2..10].try_into().map_err(|_| "bad key id")?;
        let pk: [u8; 32] = bytes[10..42].try_into().map_err(|_| "bad key")?;
        let key = VerifyingKey::from_bytes(&pk).map_err(|e| format!("bad key: {e}"))?;
        Ok(PublicKey { key_id, key })
    }

    /// The key's id as minisign prints it.
    pub fn id(&self) -> String {
        key_id_text(&self.key_id)
    }

    /// This key as a minisign public key file.
    pub fn to_file(&self) -> String {
        let mut bytes = Vec::with_capacity(42);
        bytes.extend_from_slice(b"Ed");
        bytes.extend_from_slice(&self.key_id);
        bytes.extend_from_slice(self.key.as_bytes());
        format!(
            "{UNTRUSTED}minisign public key {}\n{}\n",
            self.id(),
            STANDARD.encode(bytes)
        )
    }

    /// Verifies the `.minisig` text `signature` of `message`; returns its trusted
    /// comment.
    pub fn verify(&self, message: &[u8], signature: &str) -> Result<String, SignatureError> {
        let format = SignatureError::Format;
        let mut lines = signature.lines();
        let first = lines.next().unwrap_or_default();
        if !first.starts_with(UNTRUSTED) {
            return Err(format(format!(
                "its first line does not start with `{UNTRUSTED}`"
            )));
        }
        let sig_line = STANDARD
            .decode(lines.next().unwrap_or_default().trim())
            .map_err(|e| format(format!("its second line is not base64: {e}")))?;
        let comment = lines
            .next()
            .and_then(|l| l.strip_prefix(TRUSTED))
            .ok_or_else(|| format(format!("its third line does not start with `{TRUSTED}`")))?
            .trim_end_matches('\r');
        let global = STANDARD
            .decode(lines.next().unwrap_or_default().trim())
            .map_err(|e| format(format!("its fourth line is not base64: {e}")))?;
        if sig_line.len() != 74 {
            return Err(format(format!(
                "its signature holds {} bytes, not 74",
                sig_line.len()
            )));
        }
        let prehashed = match &sig_line[0..2] {
            b"ED" => true,
            b"Ed" => false,
            _ => return Err(format("it is not an Ed25519 signature".into())),
        };
        let key_id: [u8; 8] = sig_line[2..10]
            .try_into()
            .map_err(|_| format("bad key id".into()))?;
        if key_id != self.key_id {
            return Err(SignatureError::OtherKey {
                found: key_id_text(&key_id),
                expected: self.id(),
            });
        }
        let sig_bytes: [u8; 64] = sig_line[10..74]
            .try_into()
            .map_err(|_| format("bad signature".into()))?;
        let sig = Signature::from_bytes(&sig_bytes);
        let signed = if prehashed {
            self.key
                .verify_strict(&blake2::Blake2b512::digest(message), &sig)
        } else {
            self.key.verify_strict(message, &sig)
        };
        signed.map_err(|_| SignatureError::Mismatch)?;
        let global: [u8; 64] = global
            .as_slice()
            .try_into()
            .map_err(|_| format("its comment signature is not 64 bytes".into()))?;
        let mut covered = sig_bytes.to_vec();
        covered.extend_from_slice(comment.as_bytes());
        self.key
            .verify_strict(&covered, &Signature::from_bytes(&global))
            .map_err(|_| SignatureError::CommentMismatch)?;
        Ok(comment.to_string())
    }
}

/// What a reader of a store trusts: its public key, and whether a backup must be
/// signed to be read.
#[derive(Clone, Debug, Default)]
pub struct Trust {
    pub key: Option<PublicKey>,
    pub required: bool,
}

/// What the signature check of one manifest found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Signed with the trusted key; the trusted comment.
    Verified { key_id: String, comment: String },
    /// No signature, and none required.
    Unsigned,
    /// Signed, but no public key is configured to check it with.
    NotChecked,
}

impl SignatureCheck {
    /// One line for people: `signed with key X`, `not signed`, ...
    pub fn describe(&self) -> String {
        match self {
            SignatureCheck::Verified { key_id, .. } => format!("signature verified (key {key_id})"),
            SignatureCheck::Unsigned => "not signed".to_string(),
            SignatureCheck::NotChecked => {
                "signed, not checked (no public key is configured)".to_string()
            }
        }
    }
}

/// Checks the signature of backup `id`'s manifest, whose bytes are `manifest` (the
/// very bytes the caller goes on to read), as `trust` asks.
pub async fn check(
    store: &Store,
    id: &str,
    manifest: &[u8],
    trust: &Trust,
) -> Result<SignatureCheck, ArchiveError> {
    let fail = |message: String| ArchiveError::Signature {
        id: id.to_string(),
        message,
    };
    let signature = match store.get(&layout::signature_key(id)).await {
        Ok(bytes) => Some(
            String::from_utf8(bytes).map_err(|_| fail("the signature file is not text".into()))?,
        ),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    match (signature, &trust.key) {
        (None, _) if trust.required => Err(fail(format!(
            "it has no signature ({} is missing) and the store requires one; it is not used",
            layout::signature_key(id)
        ))),
        (None, _) => Ok(SignatureCheck::Unsigned),
        (Some(_), None) => Ok(SignatureCheck::NotChecked),
        (Some(signature), Some(key)) => {
            let comment = key
                .verify(manifest, &signature)
                .map_err(|e| fail(format!("{e}; it is not used")))?;
            // A signature names the backup it was made for: one copied from another
            // backup's folder, over an identical manifest, is not this backup's.
            if !comment
                .split('\t')
                .any(|field| field == format!("backup:{id}"))
            {
                return Err(fail(format!(
                    "its signature was made for another backup (trusted comment `{comment}`); it is not used"
                )));
            }
            Ok(SignatureCheck::Verified {
                key_id: key.id(),
                comment,
            })
        }
    }
}

/// Signs the manifest of backup `id` as it is in `store`, writing its signature beside
/// it. Signing again (a resumed run) replaces the signature with an equivalent one.
pub async fn sign(store: &Store, id: &str, key: &SigningKey) -> Result<(), ArchiveError> {
    let manifest = store.get(&layout::manifest_key(id)).await?;
    let comment = format!(
        "timestamp:{}\tfile:manifest.json\tbackup:{id}",
        crate::clock::now_secs()
    );
    let signature = key.sign(&manifest, &comment);
    store
        .put(
            &layout::signature_key(id),
            signature.into_bytes(),
            PutMode::Overwrite,
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secret key file for seed `seed`, unencrypted, as `minisign -G -W` writes it
    /// (with its checksum, as `minisign -C -W` leaves it).
    fn secret_key_file(seed: [u8; 32], key_id: [u8; 8]) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let mut sk = seed.to_vec();
        sk.extend_from_slice(key.verifying_key().as_bytes());
        let mut hasher = blake2::Blake2b::<blake2::digest::consts::U32>::new();
        hasher.update(b"Ed");
        hasher.update(key_id);
        hasher.update(&sk);
        let mut bytes = b"Ed\0\0B2".to_vec();
        bytes.extend_from_slice(&[0u8; 48]);
        bytes.extend_from_slice(&key_id);
        bytes.extend_from_slice(&sk);
        bytes.extend_from_slice(&hasher.finalize());
        format!("{UNTRUSTED}test key\n{}\n", STANDARD.encode(bytes))
    }

    fn key() -> SigningKey {
        SigningKey::parse(&secret_key_file([7; 32], [1, 2, 3, 4, 5, 6, 7, 8]), None)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_signature_verifies_and_names_its_trusted_comment() {
        let key = key();
        let sig = key.sign(b"{\"backup_id\":\"b1\"}", "backup:b1");
        let comment = key.public().verify(b"{\"backup_id\":\"b1\"}", &sig);
        assert_eq!(comment.ok().as_deref(), Some("backup:b1"));
    }

    #[test]
    fn a_changed_manifest_or_comment_or_another_key_is_refused() {
        let key = key();
        let sig = key.sign(b"manifest", "backup:b1");
        assert!(matches!(
            key.public().verify(b"manifesT", &sig),
            Err(SignatureError::Mismatch)
        ));
        let moved = sig.replace("backup:b1", "backup:b2");
        assert!(matches!(
            key.public().verify(b"manifest", &moved),
            Err(SignatureError::CommentMismatch)
        ));
        let other = SigningKey::parse(&secret_key_file([9; 32], [8; 8]), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            other.public().verify(b"manifest", &sig),
            Err(SignatureError::OtherKey { .. })
        ));
    }

    #[test]
    fn a_public_key_file_reads_back() {
        let public = key().public();
        let bytes = payload(&public.to_file()).unwrap_or_else(|e| panic!("{e}"));
        let read = PublicKey::from_payload(&bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.id(), public.id());
        assert_eq!(read.id(), "0807060504030201");
    }

    #[test]
    fn a_damaged_key_or_an_encrypted_one_without_its_password_is_refused() {
        let mut text = secret_key_file([7; 32], [1; 8]);
        // Flip a byte of the secret key (inside the base64 payload, not the checksum).
        let line = text.lines().nth(1).unwrap_or_default().to_string();
        let mut bytes = STANDARD.decode(&line).unwrap_or_default();
        bytes[70] ^= 1;
        text = text.replace(&line, &STANDARD.encode(&bytes));
        assert!(SigningKey::parse(&text, None).is_err());
        bytes[70] ^= 1;
        bytes[2..4].copy_from_slice(b"Sc");
        let encrypted = format!("{UNTRUSTED}k\n{}\n", STANDARD.encode(&bytes));
        let e = SigningKey::parse(&encrypted, None)
            .err()
            .unwrap_or_default();
        assert!(e.contains("encrypted"), "{e}");
    }

    #[test]
    fn scrypt_parameters_are_libsodiums() {
        // minisign 0.11's sensitive limits: N = 2^20, r = 8, p = 1.
        assert_eq!(scrypt_params(33_554_432, 1_073_741_824), Ok((20, 8, 1)));
        // rust-minisign's: N = 2^15.
        assert_eq!(scrypt_params(1_048_576, 33_554_432), Ok((15, 8, 1)));
    }
}
