//! Part files: objects as JSON Lines, compressed with zstd, optionally encrypted with
//! age, hashed (sha256 of the stored bytes) as they are written. Parts are built in a
//! local spool file and uploaded whole, and read back from a local file after
//! download, so neither side holds a part in memory. The functions here do blocking
//! IO: call them from `spawn_blocking`.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::crypt::{IDENTITY_ENV, Identities, Recipients};

/// zstd level: fast, and JSON compresses well at it.
const LEVEL: i32 = 3;

/// A file being written that counts and hashes what goes through it.
struct HashingFile {
    file: BufWriter<File>,
    hasher: Sha256,
    /// Shared so the size can be read while an encryptor owns the file.
    bytes: Arc<AtomicU64>,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Where compressed bytes go: straight to the file, or through age first.
enum Sink {
    Plain(HashingFile),
    Encrypted(age::stream::StreamWriter<HashingFile>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(f) => f.write(buf),
            Sink::Encrypted(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(f) => f.flush(),
            Sink::Encrypted(w) => w.flush(),
        }
    }
}

impl Sink {
    fn finish(self) -> io::Result<HashingFile> {
        match self {
            Sink::Plain(f) => Ok(f),
            Sink::Encrypted(w) => w.finish(),
        }
    }
}

/// A part being written.
pub struct PartWriter {
    path: PathBuf,
    encoder: zstd::Encoder<'static, Sink>,
    stored: Arc<AtomicU64>,
    objects: u64,
    line: Vec<u8>,
}

/// A finished part file.
#[derive(Clone, Debug)]
pub struct PartFile {
    pub path: PathBuf,
    pub objects: u64,
    pub bytes: u64,
    pub sha256: String,
}

impl PartWriter {
    /// A new part at `path`, encrypted to `recipients` when given.
    pub fn create(path: &Path, recipients: Option<&Recipients>) -> io::Result<PartWriter> {
        let file = File::create(path)?;
        let stored = Arc::new(AtomicU64::new(0));
        let hashing = HashingFile {
            file: BufWriter::with_capacity(256 * 1024, file),
            hasher: Sha256::new(),
            bytes: stored.clone(),
        };
        let sink = match recipients {
            Some(r) => Sink::Encrypted(r.encryptor()?.wrap_output(hashing)?),
            None => Sink::Plain(hashing),
        };
        Ok(PartWriter {
            path: path.to_path_buf(),
            encoder: zstd::Encoder::new(sink, LEVEL)?,
            stored,
            objects: 0,
            line: Vec::with_capacity(4096),
        })
    }

    /// Appends one object as one line.
    pub fn write_object(&mut self, object: &Value) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, object).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.encoder.write_all(&self.line)?;
        self.objects += 1;
        Ok(())
    }

    pub fn objects(&self) -> u64 {
        self.objects
    }

    /// Bytes written to the file so far (what has left the compressor and encryptor).
    pub fn stored_bytes(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// Ends the compressed (and encrypted) stream and syncs the file.
    pub fn finish(self) -> io::Result<PartFile> {
        let mut hashing = self.encoder.finish()?.finish()?;
        hashing.flush()?;
        let HashingFile {
            file,
            hasher,
            bytes,
        } = hashing;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(PartFile {
            path: self.path,
            objects: self.objects,
            bytes: bytes.load(Ordering::Relaxed),
            sha256: hex(&hasher.finalize()),
        })
    }
}

/// The sha256 and size of a file's bytes.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex(&hasher.finalize()), total))
}

type Plain = BufReader<zstd::Decoder<'static, BufReader<Box<dyn Read + Send>>>>;

/// The longest line (one object) a part may hold. The API server refuses objects over
/// about 3 MiB; a longer line is not an object a backup took.
pub const MAX_OBJECT_BYTES: u64 = 16 * 1024 * 1024;

/// The most a part may decompress to, whatever its manifest counts (a manifest that
/// claims absurd counts gets no more room than this).
pub const MAX_PART_PLAIN_BYTES: u64 = 64 * 1024 * 1024 * 1024;

/// Reads the objects of a part file in batches, within bounds: no line longer than
/// `MAX_OBJECT_BYTES`, and no more decompressed bytes than the objects the manifest
/// counts could take (so a compressed bomb whose manifest matches cannot exhaust
/// memory or disk).
pub struct PartReader {
    plain: Plain,
    line_no: u64,
    /// Decompressed bytes read so far, and how many may be.
    read: u64,
    limit: u64,
    line: Vec<u8>,
}

impl PartReader {
    /// Opens a part; an encrypted one needs `identities`.
    /// Opens a part the manifest says holds `objects` objects; an encrypted one needs
    /// `identities`.
    pub fn open(
        path: &Path,
        encrypted: bool,
        identities: Option<&Identities>,
        objects: u64,
    ) -> io::Result<PartReader> {
        let file = BufReader::with_capacity(256 * 1024, File::open(path)?);
        let stored: Box<dyn Read + Send> = match (encrypted, identities) {
            (false, _) => Box::new(file),
            (true, Some(ids)) => Box::new(ids.decrypt(file)?),
            (true, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the part is encrypted and no age identity was given (set `identity_file` under the store's `encryption`, or {IDENTITY_ENV})"
                    ),
                ));
            }
        };
        let decoder = zstd::Decoder::new(stored)?;
        Ok(PartReader {
            plain: BufReader::with_capacity(256 * 1024, decoder),
            line_no: 0,
            read: 0,
            limit: objects
                .saturating_add(1)
                .saturating_mul(MAX_OBJECT_BYTES)
                .min(MAX_PART_PLAIN_BYTES),
            line: Vec::new(),
        })
    }

    /// The next batch of at most `batch` objects; empty at the end. A line that is
    /// not a JSON object is an error naming its line number.
    pub fn next_batch(&mut self, batch: usize) -> io::Result<Vec<Value>> {
        let mut out = Vec::with_capacity(batch.min(1024));
        while out.len() < batch {
            self.line.clear();
            let n = (&mut self.plain)
                .take(MAX_OBJECT_BYTES + 1)
                .read_until(b'\n', &mut self.line)?;
            if n == 0 {
                break;
            }
            self.line_no += 1;
            self.read += n as u64;
            if self.read > self.limit {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "it decompresses to more than {} bytes, more than the objects its manifest counts can take: a damaged or hostile part",
                        self.limit
                    ),
                ));
            }
            if self.line.last() == Some(&b'\n') {
                self.line.pop();
            } else if n as u64 > MAX_OBJECT_BYTES {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "line {} is longer than {} MiB: no object of a backup is",
                        self.line_no,
                        MAX_OBJECT_BYTES / (1024 * 1024)
                    ),
                ));
            }
            if self.line.is_empty() {
                continue;
            }
            let value: Value = serde_json::from_slice(&self.line).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line {} is not JSON: {e}", self.line_no),
                )
            })?;
            if !value.is_object() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("line {} is not a JSON object", self.line_no),
                ));
            }
            out.push(value);
        }
        Ok(out)
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    ::hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::x25519;

    #[test]
    fn a_part_round_trips_and_its_hash_is_the_file_hash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl.zst");
        let mut w = PartWriter::create(&path, None).unwrap();
        for i in 0..1200 {
            w.write_object(
                &serde_json::json!({"kind": "ConfigMap", "metadata": {"name": format!("c{i}")}}),
            )
            .unwrap();
        }
        let part = w.finish().unwrap();
        assert_eq!(part.objects, 1200);
        assert_eq!(hash_file(&path).unwrap(), (part.sha256.clone(), part.bytes));
        let mut r = PartReader::open(&path, false, None, 1200).unwrap();
        let mut n = 0;
        loop {
            let batch = r.next_batch(500).unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 500);
            n += batch.len();
        }
        assert_eq!(n, 1200);
        // The stored bytes are plain zstd: the `zstd` tool reads them.
        let raw = zstd::decode_all(File::open(&path).unwrap()).unwrap();
        assert_eq!(raw.iter().filter(|&&b| b == b'\n').count(), 1200);
    }

    #[test]
    fn an_encrypted_part_hides_its_content_and_needs_the_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl.zst.age");
        let id = x25519::Identity::generate();
        let recipients = Recipients::parse(&[id.to_public().to_string()]).unwrap();
        let mut w = PartWriter::create(&path, Some(&recipients)).unwrap();
        w.write_object(&serde_json::json!({"data": {"password": "hunter2-hunter2"}}))
            .unwrap();
        let part = w.finish().unwrap();
        let stored = std::fs::read(&path).unwrap();
        assert_eq!(hash_file(&path).unwrap(), (part.sha256, part.bytes));
        assert!(stored.starts_with(b"age-encryption.org/v1"));
        assert!(PartReader::open(&path, true, None, 1).is_err());
        let wrong = identities_of(&x25519::Identity::generate(), dir.path());
        let err = PartReader::open(&path, true, Some(&wrong), 1)
            .err()
            .unwrap();
        assert!(err.to_string().contains("wrong key"), "{err}");
        let right = identities_of(&id, dir.path());
        let mut r = PartReader::open(&path, true, Some(&right), 1).unwrap();
        let batch = r.next_batch(10).unwrap();
        assert_eq!(batch[0]["data"]["password"], "hunter2-hunter2");
    }

    /// Secret data of an encrypted store never reaches the disk in the clear, not even
    /// while its part is being written (the spool file holds what the encryptor
    /// emitted); restore spools the stored, encrypted bytes and decrypts as it reads.
    #[test]
    fn an_encrypted_part_never_holds_plaintext_on_disk_while_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl.zst.age");
        let id = x25519::Identity::generate();
        let recipients = Recipients::parse(&[id.to_public().to_string()]).unwrap();
        let mut w = PartWriter::create(&path, Some(&recipients)).unwrap();
        let secret = "planted-secret-7c1e93";
        // Write until the spool file has grown (past the buffers), then look at it.
        let mut i: u64 = 0;
        while std::fs::metadata(&path).unwrap().len() == 0 {
            assert!(i < 1_000_000, "nothing reached the file before finish");
            // Names that do not compress away, so the part grows while written.
            let name = format!("s{:x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            w.write_object(&serde_json::json!({"kind": "Secret", "metadata": {"name": name}, "stringData": {"password": secret}}))
                .unwrap();
            i += 1;
        }
        let mid = std::fs::read(&path).unwrap();
        let part = w.finish().unwrap();
        let stored = std::fs::read(&path).unwrap();
        for bytes in [&mid, &stored] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "plaintext on disk"
            );
        }
        let right = identities_of(&id, dir.path());
        let mut r = PartReader::open(&path, true, Some(&right), part.objects).unwrap();
        assert_eq!(
            r.next_batch(1).unwrap()[0]["stringData"]["password"],
            secret
        );
    }

    /// Reads every object of the part at `path`, as restore and verify do.
    fn read_all(path: &Path, objects: u64) -> io::Result<u64> {
        let mut r = PartReader::open(path, false, None, objects)?;
        let mut n = 0;
        loop {
            let batch = r.next_batch(100)?;
            if batch.is_empty() {
                return Ok(n);
            }
            n += batch.len() as u64;
        }
    }

    /// Regression: lines were read with no bound on their length or on the
    /// decompressed size, so a zstd bomb whose manifest matched exhausted memory.
    #[test]
    fn a_part_bigger_than_its_objects_can_be_is_refused_while_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.jsonl.zst");
        let mut w = PartWriter::create(&path, None).unwrap();
        let big = "a".repeat(4 * 1024 * 1024);
        for i in 0..20 {
            w.write_object(
                &serde_json::json!({"metadata": {"name": format!("c{i}")}, "data": {"x": big}}),
            )
            .unwrap();
        }
        let part = w.finish().unwrap();
        // A few KiB stored, 80 MiB inside.
        assert!(part.bytes < 1024 * 1024, "{}", part.bytes);
        assert_eq!(read_all(&path, 20).unwrap(), 20);
        // The manifest says one object: its part may not decompress past two lines' worth.
        let err = read_all(&path, 1)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("more than the objects its manifest counts"),
            "{err}"
        );
    }

    #[test]
    fn a_line_longer_than_any_object_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.jsonl.zst");
        let mut w = PartWriter::create(&path, None).unwrap();
        let huge = "a".repeat(MAX_OBJECT_BYTES as usize + 10);
        w.write_object(&serde_json::json!({"data": {"x": huge}}))
            .unwrap();
        w.finish().unwrap();
        let err = read_all(&path, 1000)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("line 1 is longer than 16 MiB"), "{err}");
    }

    fn identities_of(id: &x25519::Identity, dir: &Path) -> Identities {
        use age::secrecy::ExposeSecret;
        let file = dir.join(format!("key-{}.txt", id.to_public()));
        std::fs::write(&file, id.to_string().expose_secret()).unwrap();
        Identities::from_file(&file).unwrap()
    }
}
