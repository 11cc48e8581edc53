//! Client-side encryption of parts with age (X25519 recipients): parts are compressed,
//! then encrypted, so the stored bytes reveal nothing and the standard `age -d -i KEY`
//! followed by `zstd -d` reads them. Identities come from an identity file (the
//! format `age-keygen` writes) or from `LIFEBOAT_AGE_IDENTITY` (a file path, or the
//! `AGE-SECRET-KEY-...` line itself). Key material never appears in messages.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use age::x25519;

/// The environment variable that names the identity (a file, or the key itself).
pub const IDENTITY_ENV: &str = "LIFEBOAT_AGE_IDENTITY";

/// Recipients parts are encrypted to.
#[derive(Clone)]
pub struct Recipients(Arc<Vec<x25519::Recipient>>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipients({})", self.0.len())
    }
}

impl Recipients {
    pub fn parse(keys: &[String]) -> Result<Recipients, String> {
        if keys.is_empty() {
            return Err("`age_recipients` is empty: name at least one `age1...` public key".into());
        }
        let parsed = keys
            .iter()
            .map(|k| {
                x25519::Recipient::from_str(k.trim()).map_err(|_| {
                    format!("`{}` is not an age X25519 recipient (`age1...`, as `age-keygen -y` prints)", shorten(k))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Recipients(Arc::new(parsed)))
    }

    /// An encryptor for one part.
    pub fn encryptor(&self) -> std::io::Result<age::Encryptor> {
        age::Encryptor::with_recipients(self.0.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| std::io::Error::other(format!("cannot encrypt: {e}")))
    }
}

/// Identities that can decrypt parts.
#[derive(Clone)]
pub struct Identities(Arc<Vec<x25519::Identity>>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({})", self.0.len())
    }
}

impl Identities {
    /// Reads the identities of an identity file (`#` comments and blank lines allowed).
    pub fn from_file(path: &Path) -> Result<Identities, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the age identity file {}: {e}", path.display()))?;
        Self::from_text(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn from_text(text: &str) -> Result<Identities, String> {
        let mut ids = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = x25519::Identity::from_str(line).map_err(|_| {
                format!(
                    "line {} is not an age X25519 identity (`AGE-SECRET-KEY-...`)",
                    n + 1
                )
            })?;
            ids.push(id);
        }
        if ids.is_empty() {
            return Err("it holds no age identity".into());
        }
        Ok(Identities(Arc::new(ids)))
    }

    /// The identity given by `file`, else by `LIFEBOAT_AGE_IDENTITY`, else none.
    pub fn find(file: Option<&Path>) -> Result<Option<Identities>, String> {
        if let Some(f) = file {
            return Self::from_file(f).map(Some);
        }
        match std::env::var(IDENTITY_ENV) {
            Ok(v) if v.trim_start().starts_with("AGE-SECRET-KEY-") => Self::from_text(&v)
                .map(Some)
                .map_err(|e| format!("{IDENTITY_ENV}: {e}")),
            Ok(v) if !v.is_empty() => Self::from_file(Path::new(&v)).map(Some),
            _ => Ok(None),
        }
    }

    /// A reader of the plaintext of an age file.
    pub fn decrypt<R: std::io::Read>(
        &self,
        input: R,
    ) -> std::io::Result<age::stream::StreamReader<R>> {
        let decryptor = age::Decryptor::new(input).map_err(decrypt_error)?;
        decryptor
            .decrypt(self.0.iter().map(|i| i as &dyn age::Identity))
            .map_err(decrypt_error)
    }
}

fn decrypt_error(e: age::DecryptError) -> std::io::Error {
    let message = match e {
        age::DecryptError::NoMatchingKeys => {
            "cannot decrypt: none of the given identities is a recipient of this part (wrong key?)"
                .to_string()
        }
        other => format!("cannot decrypt: {other}"),
    };
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

fn shorten(s: &str) -> String {
    if s.len() > 16 {
        format!("{}...", &s[..16.min(s.len())])
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_that_is_not_a_key_is_refused_without_echoing_it_whole() {
        let err = Recipients::parse(&["age1notakeyatallbutquitealongstringofletters".into()])
            .unwrap_err();
        assert!(err.contains("is not an age X25519 recipient"), "{err}");
        assert!(!err.contains("quitealongstring"), "{err}");
        assert!(Recipients::parse(&[]).is_err());
    }

    #[test]
    fn identity_files_may_hold_comments() {
        let id = x25519::Identity::generate();
        use age::secrecy::ExposeSecret;
        let text = format!(
            "# created: today\n# public key: {}\n{}\n",
            id.to_public(),
            id.to_string().expose_secret()
        );
        assert!(Identities::from_text(&text).is_ok());
        let err = Identities::from_text("# nothing\n").unwrap_err();
        assert!(err.contains("no age identity"), "{err}");
    }
}
