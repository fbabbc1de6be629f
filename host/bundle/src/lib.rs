//! Bundles: plugins shared between teams, as a directory or a single `.seam` archive
//! (tar + gzip) holding `bundle.toml`, the `.wasm` components, and signature files.
//!
//! The manifest pins every component by SHA-256 and carries the bundle's test cases, so a
//! signature over the manifest covers everything. This module owns reading (with the
//! archive's safety rules), checking digests and signatures, building, and signing. It
//! must not compile anything: callers get a [`PluginSource`] only after every check
//! passed. See docs/bundles.md.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use seam_types::sha256_hex;
use seam_types::PluginKind;
use seam_types::PluginSource;

/// The manifest's file name.
pub const MANIFEST: &str = "bundle.toml";
/// The folder of signature files inside a bundle.
pub const SIGNATURES: &str = "signatures";
/// Largest `.seam` archive read.
pub const MAX_ARCHIVE_BYTES: u64 = 256 << 20;
/// Largest single file in a bundle.
pub const MAX_ENTRY_BYTES: u64 = 64 << 20;
/// Most files in a bundle.
pub const MAX_ENTRIES: usize = 1024;
/// Largest key, manifest or lock file read (text files of a few lines).
pub const MAX_TEXT_FILE_BYTES: u64 = 1 << 20;
/// What a signature signs: this prefix, then the manifest's bytes.
const SIGNING_DOMAIN: &[u8] = b"seam-bundle-v1\n";
const PUBLIC_PREFIX: &str = "seam-ed25519-public:";
const SECRET_PREFIX: &str = "seam-ed25519-secret:";

/// Why a bundle was refused. Every variant names the bundle (its path).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read bundle {bundle}: {reason}")]
    Read { bundle: String, reason: String },
    #[error("bundle {bundle}: archive entry `{entry}` {reason}; refused")]
    UnsafeEntry {
        bundle: String,
        entry: String,
        reason: String,
    },
    #[error("bundle {bundle}: {what} is {size} bytes, over the {limit}-byte cap")]
    TooLarge {
        bundle: String,
        what: String,
        size: u64,
        limit: u64,
    },
    #[error("bundle {bundle}: {MANIFEST}:{line}:{column}: {message}")]
    Manifest {
        bundle: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("bundle {bundle}: {message}")]
    Invalid { bundle: String, message: String },
    #[error("bundle {bundle}: plugin `{plugin}`: file `{file}` is missing")]
    MissingFile {
        bundle: String,
        plugin: String,
        file: String,
    },
    #[error("bundle {bundle}: plugin `{plugin}`: file `{file}` has SHA-256 {found}, but the manifest pins {expected}; the bundle was changed after it was built")]
    Digest {
        bundle: String,
        plugin: String,
        file: String,
        expected: String,
        found: String,
    },
    #[error("bundle {bundle}: {reason}")]
    Untrusted { bundle: String, reason: String },
    #[error("{0}")]
    Key(String),
}

/// `bundle.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub bundle: BundleMeta,
    #[serde(default)]
    pub plugins: Vec<PluginEntry>,
    #[serde(default)]
    pub cases: Vec<Case>,
}

/// The bundle's identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleMeta {
    pub name: String,
    /// Semantic version, e.g. `1.2.0`.
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub license: String,
}

/// One plugin of the bundle, as built (everything but `name` and `file` comes from
/// the component's own `describe()`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginEntry {
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    /// Path of the component inside the bundle.
    pub file: String,
    pub sha256: String,
    pub description: String,
    /// The settings schema, as JSON text.
    pub settings_schema: String,
}

/// A test case that travels with the plugins: settings + handoff → expected outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub plugin: String,
    pub name: String,
    #[serde(default = "empty_object")]
    pub settings: serde_json::Value,
    /// The payload; a string is a plain-text payload.
    pub payload: serde_json::Value,
    #[serde(default)]
    pub context: Option<serde_json::Value>,
    /// For a router: the gate verdicts it is given.
    #[serde(default)]
    pub verdicts: Vec<seam_types::GateVerdict>,
    pub expect: Expect,
}

fn empty_object() -> serde_json::Value {
    serde_json::json!({})
}

/// What a case expects.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Gates: `passed`, `failed` or `error`. Routers: the route's target.
    pub outcome: String,
    /// The finding codes, in order (gates; unchecked when absent).
    #[serde(default)]
    pub codes: Option<Vec<String>>,
    /// The repaired payload (gates; unchecked when absent).
    #[serde(default)]
    pub fix: Option<serde_json::Value>,
}

/// One signature on a bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// `seam-ed25519-public:HEX`.
    pub key: String,
    /// Hex of the 64-byte ed25519 signature over the manifest.
    pub signature: String,
}

/// Who must have signed a bundle for it to load.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Public keys whose signatures are trusted.
    pub trusted_keys: Vec<VerifyingKey>,
    /// Refuse bundles without a valid signature by a trusted key.
    pub require_signature: bool,
}

/// A signature's standing, for `inspect` and `verify`.
#[derive(Debug, Clone, Serialize)]
pub struct SignatureStatus {
    pub key: String,
    /// The signature checks out against the manifest.
    pub valid: bool,
    /// The key is one of the policy's trusted keys.
    pub trusted: bool,
}

/// An opened bundle: its manifest and files, read into memory, not yet trusted.
#[derive(Debug)]
pub struct Bundle {
    /// Where it was read from.
    pub path: PathBuf,
    pub manifest: Manifest,
    /// The manifest's exact bytes (what signatures sign and locks pin).
    pub manifest_text: String,
    files: BTreeMap<String, Vec<u8>>,
    pub signatures: Vec<SignatureFile>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Parses a public key: `seam-ed25519-public:HEX`, or a file holding that.
pub fn parse_public_key(spec: &str) -> Result<VerifyingKey, BundleError> {
    let text = match spec.strip_prefix(PUBLIC_PREFIX) {
        Some(_) => spec.to_string(),
        None => seam_types::files::read_regular_text(Path::new(spec), MAX_TEXT_FILE_BYTES)
            .map_err(|e| {
                BundleError::Key(format!(
                    "{spec} is neither a public key ({PUBLIC_PREFIX}…) nor a readable key file: {e}"
                ))
            })?,
    };
    let bytes = text
        .trim()
        .strip_prefix(PUBLIC_PREFIX)
        .and_then(unhex)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            BundleError::Key(format!(
                "{spec}: not a seam public key ({PUBLIC_PREFIX} and 64 hex digits)"
            ))
        })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| BundleError::Key(format!("{spec}: not a valid ed25519 public key: {e}")))
}

/// The text form of a public key.
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_PREFIX}{}", hex(key.as_bytes()))
}

/// A new key pair as (secret key text, public key text).
pub fn generate_key() -> Result<(String, String), BundleError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed)
        .map_err(|e| BundleError::Key(format!("no randomness for a new key: {e}")))?;
    let key = SigningKey::from_bytes(&seed);
    Ok((
        format!("{SECRET_PREFIX}{}", hex(&seed)),
        public_key_text(&key.verifying_key()),
    ))
}

/// Reads a secret key file written by [`generate_key`].
pub fn read_secret_key(path: &Path) -> Result<SigningKey, BundleError> {
    let text = seam_types::files::read_regular_text(path, MAX_TEXT_FILE_BYTES)
        .map_err(|e| BundleError::Key(format!("cannot read the key {}: {e}", path.display())))?;
    let seed = text
        .trim()
        .strip_prefix(SECRET_PREFIX)
        .and_then(unhex)
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            BundleError::Key(format!(
                "{} is not a seam secret key ({SECRET_PREFIX} and 64 hex digits; make one with `seam keygen`)",
                path.display()
            ))
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Whether `name` is a safe relative path inside a bundle (no `..`, not absolute).
fn safe_relative(name: &str) -> Result<(), &'static str> {
    let path = Path::new(name);
    if name.is_empty() {
        return Err("has an empty name");
    }
    for c in path.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("climbs out of the bundle with `..`"),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    Ok(())
}

fn normalize(name: &str) -> String {
    Path::new(name)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl Bundle {
    /// Opens a bundle directory or `.seam` archive, reading every file into memory
    /// under the size caps and refusing unsafe archive entries. Nothing is trusted yet.
    pub fn open(path: &Path) -> Result<Bundle, BundleError> {
        let bundle = path.display().to_string();
        let read_err = |reason: String| BundleError::Read {
            bundle: bundle.clone(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| read_err(e.to_string()))?;
        let files = if meta.is_dir() {
            read_dir(path, &bundle)?
        } else if !meta.is_file() {
            return Err(read_err(
                "it is neither a folder nor a .seam archive file (a FIFO, socket or device)".into(),
            ));
        } else {
            if meta.len() > MAX_ARCHIVE_BYTES {
                return Err(BundleError::TooLarge {
                    bundle,
                    what: "the archive".into(),
                    size: meta.len(),
                    limit: MAX_ARCHIVE_BYTES,
                });
            }
            let file = std::fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
            read_archive(file, &bundle)?
        };
        Self::from_files(path, files)
    }

    /// A `.seam` archive's bytes as a bundle, named `label` in errors: the same caps and
    /// checks as [`open`](Self::open).
    pub fn from_archive(label: &Path, bytes: &[u8]) -> Result<Bundle, BundleError> {
        if bytes.len() as u64 > MAX_ARCHIVE_BYTES {
            return Err(BundleError::TooLarge {
                bundle: label.display().to_string(),
                what: "the archive".into(),
                size: bytes.len() as u64,
                limit: MAX_ARCHIVE_BYTES,
            });
        }
        let files = read_archive(bytes, &label.display().to_string())?;
        Self::from_files(label, files)
    }

    fn from_files(
        path: &Path,
        mut files: BTreeMap<String, Vec<u8>>,
    ) -> Result<Bundle, BundleError> {
        let bundle = path.display().to_string();
        let Some(manifest_bytes) = files.remove(MANIFEST) else {
            return Err(BundleError::Invalid {
                bundle,
                message: format!("it has no {MANIFEST}"),
            });
        };
        let manifest_text =
            String::from_utf8(manifest_bytes).map_err(|_| BundleError::Invalid {
                bundle: bundle.clone(),
                message: format!("{MANIFEST} is not UTF-8"),
            })?;
        let manifest = parse_manifest(&manifest_text, &bundle)?;
        let mut signatures = Vec::new();
        let sig_names: Vec<String> = files
            .keys()
            .filter(|k| k.starts_with(&format!("{SIGNATURES}/")))
            .cloned()
            .collect();
        for name in sig_names {
            let bytes = files.remove(&name).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            let sig: SignatureFile = toml::from_str(&text).map_err(|e| BundleError::Invalid {
                bundle: bundle.clone(),
                message: format!("signature file {name} is malformed: {}", e.message()),
            })?;
            signatures.push(sig);
        }
        Ok(Bundle {
            path: path.to_path_buf(),
            manifest,
            manifest_text,
            files,
            signatures,
        })
    }

    /// The bundle's name for messages: `NAME VERSION (PATH)`.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({})",
            self.manifest.bundle.name,
            self.manifest.bundle.version,
            self.path.display()
        )
    }

    /// SHA-256 of the manifest, which pins every file: the bundle's identity in locks.
    pub fn digest(&self) -> String {
        sha256_hex(self.manifest_text.as_bytes())
    }

    /// The version, parsed (checked when the manifest was read).
    pub fn version(&self) -> semver::Version {
        semver::Version::parse(&self.manifest.bundle.version)
            .unwrap_or(semver::Version::new(0, 0, 0))
    }

    /// Checks that every plugin's file is present and has the pinned digest.
    pub fn verify_files(&self) -> Result<(), BundleError> {
        for p in &self.manifest.plugins {
            let Some(bytes) = self.files.get(&normalize(&p.file)) else {
                return Err(BundleError::MissingFile {
                    bundle: self.path.display().to_string(),
                    plugin: p.name.clone(),
                    file: p.file.clone(),
                });
            };
            let found = sha256_hex(bytes);
            if found != p.sha256 {
                return Err(BundleError::Digest {
                    bundle: self.path.display().to_string(),
                    plugin: p.name.clone(),
                    file: p.file.clone(),
                    expected: p.sha256.clone(),
                    found,
                });
            }
        }
        Ok(())
    }

    /// Every signature, checked against the manifest and the policy's keys.
    pub fn signature_status(&self, policy: &TrustPolicy) -> Vec<SignatureStatus> {
        let message = [SIGNING_DOMAIN, self.manifest_text.as_bytes()].concat();
        self.signatures
            .iter()
            .map(|s| {
                let key = parse_public_key(&s.key).ok();
                let sig = unhex(&s.signature)
                    .and_then(|b| <[u8; 64]>::try_from(b).ok())
                    .map(|b| ed25519_dalek::Signature::from_bytes(&b));
                let valid = match (&key, &sig) {
                    (Some(k), Some(sig)) => k.verify_strict(&message, sig).is_ok(),
                    _ => false,
                };
                let trusted = key.is_some_and(|k| policy.trusted_keys.contains(&k));
                SignatureStatus {
                    key: s.key.clone(),
                    valid,
                    trusted,
                }
            })
            .collect()
    }

    /// Checks the files and, when the policy requires it, a valid signature by a
    /// trusted key. A signature that is present but invalid is always refused.
    pub fn verify(&self, policy: &TrustPolicy) -> Result<(), BundleError> {
        self.verify_files()?;
        let statuses = self.signature_status(policy);
        let bundle = self.path.display().to_string();
        if let Some(bad) = statuses.iter().find(|s| !s.valid) {
            return Err(BundleError::Untrusted {
                bundle,
                reason: format!("the signature by {} does not match the manifest; the bundle was changed after it was signed", bad.key),
            });
        }
        if policy.require_signature && !statuses.iter().any(|s| s.valid && s.trusted) {
            let reason = if statuses.is_empty() {
                "it is not signed, and the trust policy requires a signature by a trusted key; sign it with `seam bundle sign`".to_string()
            } else {
                format!(
                    "it is signed only by untrusted keys ({}); trust one of them (--trusted-key) or have it signed by a trusted key",
                    statuses.iter().map(|s| s.key.as_str()).collect::<Vec<_>>().join(", ")
                )
            };
            return Err(BundleError::Untrusted { bundle, reason });
        }
        Ok(())
    }

    /// The plugin `name` as a source to load, after [`verify`](Self::verify).
    pub fn plugin(&self, name: &str) -> Result<(&PluginEntry, PluginSource), BundleError> {
        let entry = self
            .manifest
            .plugins
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| BundleError::Invalid {
                bundle: self.path.display().to_string(),
                message: format!(
                    "it has no plugin `{name}` (plugins: {})",
                    self.manifest
                        .plugins
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let bytes = self
            .files
            .get(&normalize(&entry.file))
            .cloned()
            .unwrap_or_default();
        let source = PluginSource {
            name: format!("{}/{}", self.manifest.bundle.name, entry.name),
            bytes: std::borrow::Cow::Owned(bytes),
            named_by_file: false,
        };
        Ok((entry, source))
    }

    /// Signs the manifest with `key`, adding (or replacing) that key's signature file
    /// in the bundle at its path (a directory, or the archive rewritten).
    pub fn sign(&mut self, key: &SigningKey) -> Result<SignatureFile, BundleError> {
        let message = [SIGNING_DOMAIN, self.manifest_text.as_bytes()].concat();
        let sig = SignatureFile {
            key: public_key_text(&key.verifying_key()),
            signature: hex(&key.sign(&message).to_bytes()),
        };
        self.signatures.retain(|s| s.key != sig.key);
        self.signatures.push(sig.clone());
        self.save(&self.path.clone())?;
        Ok(sig)
    }

    /// Writes the bundle to `path`: a directory if `path` is one (or has no `.seam`
    /// extension), else a `.seam` archive.
    pub fn save(&self, path: &Path) -> Result<(), BundleError> {
        let bundle = path.display().to_string();
        let err = |e: std::io::Error| BundleError::Read {
            bundle: bundle.clone(),
            reason: format!("writing failed: {e}"),
        };
        let mut entries: Vec<(String, Vec<u8>)> =
            vec![(MANIFEST.into(), self.manifest_text.clone().into_bytes())];
        for (name, bytes) in &self.files {
            entries.push((name.clone(), bytes.clone()));
        }
        for s in &self.signatures {
            let key_hex = s.key.strip_prefix(PUBLIC_PREFIX).unwrap_or(&s.key);
            let text = toml::to_string(s).map_err(|e| err(std::io::Error::other(e.to_string())))?;
            entries.push((
                format!("{SIGNATURES}/{}.toml", &key_hex[..16.min(key_hex.len())]),
                text.into_bytes(),
            ));
        }
        if path.is_dir() || path.extension().is_none_or(|e| e != "seam") {
            for (name, bytes) in entries {
                let target = path.join(&name);
                if let Some(dir) = target.parent() {
                    std::fs::create_dir_all(dir).map_err(err)?;
                }
                std::fs::write(target, bytes).map_err(err)?;
            }
            return Ok(());
        }
        seam_types::files::write_atomic(path, |file| {
            let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
            let mut tar = tar::Builder::new(gz);
            for (name, bytes) in entries {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_entry_type(tar::EntryType::Regular);
                header.set_cksum();
                tar.append_data(&mut header, &name, bytes.as_slice())?;
            }
            tar.into_inner()?.finish()?;
            Ok(())
        })
        .map_err(err)
    }

    /// Builds a bundle from a source folder: its `bundle.toml` lists `[bundle]`, the
    /// plugins (`name` and the built component's `file`, relative to the folder) and
    /// the cases; everything else is filled from what `describe` (the runtime calling
    /// each component's `describe()`) says: its info and SHA-256, or why it could not.
    pub fn build(
        dir: &Path,
        describe: impl Fn(&PluginSource) -> Result<(seam_types::PluginInfo, String), String>,
    ) -> Result<Bundle, BundleError> {
        let bundle = dir.display().to_string();
        let manifest_path = dir.join(MANIFEST);
        let text = seam_types::files::read_regular_text(&manifest_path, MAX_TEXT_FILE_BYTES)
            .map_err(|e| BundleError::Read {
                bundle: bundle.clone(),
                reason: format!("{}: {e}", manifest_path.display()),
            })?;
        let source: SourceManifest =
            toml::from_str(&text).map_err(|e| manifest_error(&text, &bundle, e))?;
        check_version(&source.bundle.version, &bundle)?;
        let mut plugins = Vec::new();
        let mut files = BTreeMap::new();
        for p in &source.plugins {
            let path = dir.join(&p.file);
            let bytes = seam_types::files::read_regular(&path, MAX_ENTRY_BYTES).map_err(|e| {
                BundleError::Read {
                    bundle: bundle.clone(),
                    reason: format!(
                        "plugin `{}`: {}: {e}; build it first",
                        p.name,
                        path.display()
                    ),
                }
            })?;
            let src = PluginSource {
                name: p.name.clone(),
                bytes: std::borrow::Cow::Owned(bytes.clone()),
                named_by_file: false,
            };
            let (info, sha256) = describe(&src).map_err(|message| BundleError::Invalid {
                bundle: bundle.clone(),
                message,
            })?;
            let file = format!("{}.wasm", p.name);
            plugins.push(PluginEntry {
                name: p.name.clone(),
                kind: info.kind,
                version: info.version,
                file: file.clone(),
                sha256,
                description: info.description,
                settings_schema: info.settings_schema.to_string(),
            });
            files.insert(file, bytes);
        }
        let manifest = Manifest {
            bundle: source.bundle,
            plugins,
            cases: source.cases,
        };
        let manifest_text = toml::to_string(&manifest).map_err(|e| BundleError::Invalid {
            bundle: bundle.clone(),
            message: format!("cannot write the manifest: {e}"),
        })?;
        // Read back through the same checks every loader applies.
        let mut all = files;
        all.insert(MANIFEST.into(), manifest_text.into_bytes());
        Bundle::from_files(dir, all)
    }
}

/// The author's `bundle.toml` in a source folder, before `seam bundle build`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceManifest {
    bundle: BundleMeta,
    #[serde(default)]
    plugins: Vec<SourcePlugin>,
    #[serde(default)]
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcePlugin {
    name: String,
    file: String,
    /// The command that builds `file`, as a program and its arguments, run in the
    /// source folder by `seam bundle build` before it reads the file.
    #[serde(default)]
    build: Option<Vec<String>>,
}

/// A plugin's build command from a source folder's `bundle.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildCommand {
    pub plugin: String,
    /// The program and its arguments (never empty).
    pub argv: Vec<String>,
}

/// The build commands a source folder's `bundle.toml` names, in plugin order; refuses
/// an empty one naming the plugin and line.
pub fn build_commands(dir: &Path) -> Result<Vec<BuildCommand>, BundleError> {
    let bundle = dir.display().to_string();
    let manifest_path = dir.join(MANIFEST);
    let text =
        seam_types::files::read_regular_text(&manifest_path, MAX_TEXT_FILE_BYTES).map_err(|e| {
            BundleError::Read {
                bundle: bundle.clone(),
                reason: format!("{}: {e}", manifest_path.display()),
            }
        })?;
    let source: SourceManifest =
        toml::from_str(&text).map_err(|e| manifest_error(&text, &bundle, e))?;
    let mut commands = Vec::new();
    for p in source.plugins {
        match p.build {
            None => {}
            Some(argv) if argv.first().is_none_or(|program| program.trim().is_empty()) => {
                return Err(BundleError::Invalid {
                    bundle,
                    message: format!(
                        "plugin `{}`: `build` is empty; give the program and its arguments, \
                         e.g. build = [\"cargo\", \"build\", \"--release\"], or leave it out",
                        p.name
                    ),
                })
            }
            Some(argv) => commands.push(BuildCommand {
                plugin: p.name,
                argv,
            }),
        }
    }
    Ok(commands)
}

/// The files a bundle's source folder names: its `bundle.toml` and each plugin's built
/// component (for a build that must not write over what it reads). Empty when the
/// manifest cannot be read; building reports why.
pub fn source_files(dir: &Path) -> Vec<PathBuf> {
    let manifest = dir.join(MANIFEST);
    let mut files = vec![manifest.clone()];
    if let Ok(text) = seam_types::files::read_regular_text(&manifest, MAX_TEXT_FILE_BYTES) {
        if let Ok(source) = toml::from_str::<SourceManifest>(&text) {
            files.extend(source.plugins.iter().map(|p| dir.join(&p.file)));
        }
    }
    files
}

fn manifest_error(text: &str, bundle: &str, e: toml::de::Error) -> BundleError {
    let (line, column) = seam_types::position::line_column(text, e.span().map_or(0, |s| s.start));
    BundleError::Manifest {
        bundle: bundle.to_string(),
        line,
        column,
        message: e.message().trim().to_string(),
    }
}

fn check_version(version: &str, bundle: &str) -> Result<(), BundleError> {
    semver::Version::parse(version)
        .map(|_| ())
        .map_err(|e| BundleError::Invalid {
            bundle: bundle.to_string(),
            message: format!("version `{version}` is not a semantic version (e.g. 1.2.0): {e}"),
        })
}

/// Parses and checks a bundle's `manifest.toml` (`bundle` names it in errors).
pub fn parse_manifest(text: &str, bundle: &str) -> Result<Manifest, BundleError> {
    let manifest: Manifest = toml::from_str(text).map_err(|e| manifest_error(text, bundle, e))?;
    check_version(&manifest.bundle.version, bundle)?;
    let invalid = |message: String| BundleError::Invalid {
        bundle: bundle.to_string(),
        message,
    };
    let mut seen = std::collections::HashSet::new();
    for p in &manifest.plugins {
        if !seen.insert(p.name.as_str()) {
            return Err(invalid(format!(
                "two plugins are named `{}`; plugin names must be unique",
                p.name
            )));
        }
        safe_relative(&p.file)
            .map_err(|why| invalid(format!("plugin `{}`: file `{}` {why}", p.name, p.file)))?;
    }
    for c in &manifest.cases {
        if !seen.contains(c.plugin.as_str()) {
            return Err(invalid(format!(
                "case `{}` is for plugin `{}`, which the bundle does not have",
                c.name, c.plugin
            )));
        }
    }
    Ok(manifest)
}

fn read_dir(root: &Path, bundle: &str) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    // First the whole tree is walked and measured, so that nothing is read from a
    // folder over the caps.
    let mut regular: Vec<(String, PathBuf)> = Vec::new();
    let mut entries_seen = 0usize;
    let mut total: u64 = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| BundleError::Read {
            bundle: bundle.into(),
            reason: format!("{}: {e}", dir.display()),
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| BundleError::Read {
                bundle: bundle.into(),
                reason: format!("{}: {e}", dir.display()),
            })?;
            let path = entry.path();
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let kind = entry.file_type().map_err(|e| BundleError::Read {
                bundle: bundle.into(),
                reason: e.to_string(),
            })?;
            if kind.is_symlink() {
                return Err(BundleError::UnsafeEntry {
                    bundle: bundle.into(),
                    entry: rel,
                    reason: "is a symbolic link".into(),
                });
            }
            // Folders count as entries too: a tree of empty folders is work as well.
            entries_seen += 1;
            if entries_seen > MAX_ENTRIES {
                return Err(BundleError::Invalid {
                    bundle: bundle.into(),
                    message: format!("it has more than {MAX_ENTRIES} files and folders"),
                });
            }
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            if !kind.is_file() {
                return Err(BundleError::UnsafeEntry {
                    bundle: bundle.into(),
                    entry: rel,
                    reason: "is not a regular file (a FIFO, socket or device)".into(),
                });
            }
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            if size > MAX_ENTRY_BYTES {
                return Err(BundleError::TooLarge {
                    bundle: bundle.into(),
                    what: format!("`{rel}`"),
                    size,
                    limit: MAX_ENTRY_BYTES,
                });
            }
            total += size;
            if total > MAX_ARCHIVE_BYTES {
                return Err(BundleError::TooLarge {
                    bundle: bundle.into(),
                    what: "the folder's contents".into(),
                    size: total,
                    limit: MAX_ARCHIVE_BYTES,
                });
            }
            regular.push((rel, path));
        }
    }
    let mut files = BTreeMap::new();
    for (rel, path) in regular {
        let bytes = seam_types::files::read_regular(&path, MAX_ENTRY_BYTES).map_err(|e| {
            BundleError::Read {
                bundle: bundle.into(),
                reason: format!("{}: {e}", path.display()),
            }
        })?;
        files.insert(rel, bytes);
    }
    Ok(files)
}

fn read_archive(file: impl Read, bundle: &str) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    let read_err = |e: std::io::Error| BundleError::Read {
        bundle: bundle.into(),
        reason: format!("not a readable .seam archive (tar + gzip): {e}"),
    };
    let gz = flate2::read::GzDecoder::new(file);
    // The decompressed stream is capped too, against gzip bombs.
    let mut archive = tar::Archive::new(gz.take(MAX_ARCHIVE_BYTES + 1));
    let mut files = BTreeMap::new();
    let mut total: u64 = 0;
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let name = entry.path_bytes();
        let name = String::from_utf8_lossy(&name).into_owned();
        let unsafe_entry = |reason: &str| BundleError::UnsafeEntry {
            bundle: bundle.into(),
            entry: name.clone(),
            reason: reason.into(),
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Directory => continue,
            tar::EntryType::Symlink => return Err(unsafe_entry("is a symbolic link")),
            tar::EntryType::Link => return Err(unsafe_entry("is a hard link")),
            _ => return Err(unsafe_entry("is not a regular file")),
        }
        safe_relative(&name).map_err(unsafe_entry)?;
        let size = entry.header().size().map_err(read_err)?;
        if size > MAX_ENTRY_BYTES {
            return Err(BundleError::TooLarge {
                bundle: bundle.into(),
                what: format!("archive entry `{name}`"),
                size,
                limit: MAX_ENTRY_BYTES,
            });
        }
        total += size;
        if total > MAX_ARCHIVE_BYTES {
            return Err(BundleError::TooLarge {
                bundle: bundle.into(),
                what: "the archive's contents".into(),
                size: total,
                limit: MAX_ARCHIVE_BYTES,
            });
        }
        if files.len() >= MAX_ENTRIES {
            return Err(BundleError::Invalid {
                bundle: bundle.into(),
                message: format!("it has more than {MAX_ENTRIES} files"),
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut bytes).map_err(read_err)?;
        let key = normalize(&name);
        if files.insert(key.clone(), bytes).is_some() {
            return Err(BundleError::Invalid {
                bundle: bundle.into(),
                message: format!("the archive holds `{key}` twice"),
            });
        }
    }
    Ok(files)
}

/// A reference to a plugin in a bundle: `NAME/PLUGIN` or `NAME@REQ/PLUGIN`, where REQ
/// is a semver requirement such as `^1` or `>=0.2, <0.4`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    pub bundle: String,
    pub requirement: semver::VersionReq,
    pub plugin: String,
}

impl PluginRef {
    /// Parses `spec` when it names a bundle's plugin (`None` for a standard plugin's name
    /// or a `.wasm` path).
    pub fn parse(spec: &str) -> Option<Result<PluginRef, BundleError>> {
        if spec.ends_with(".wasm") || Path::new(spec).exists() {
            return None;
        }
        let (bundle, plugin) = spec.split_once('/')?;
        if plugin.contains('/') || plugin.is_empty() || bundle.is_empty() {
            return None;
        }
        let (name, requirement) = match bundle.split_once('@') {
            Some((name, req)) => match semver::VersionReq::parse(req) {
                Ok(r) => (name, r),
                Err(e) => {
                    return Some(Err(BundleError::Key(format!(
                    "`{spec}`: `{req}` is not a version requirement (e.g. ^1, >=0.2, =1.4.0): {e}"
                ))))
                }
            },
            None => (bundle, semver::VersionReq::STAR),
        };
        Some(Ok(PluginRef {
            bundle: name.to_string(),
            requirement,
            plugin: plugin.to_string(),
        }))
    }
}

/// One pinned bundle in a lock file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Locked {
    pub name: String,
    pub version: String,
    /// SHA-256 of the bundle's manifest (which pins every file).
    pub sha256: String,
}

/// A lock file: the exact bundles a pipeline was locked to (`seam lock`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    #[serde(default, rename = "bundle")]
    pub bundles: Vec<Locked>,
}

impl Lock {
    /// Reads a lock file; errors name the file, line and column.
    pub fn read(path: &Path) -> Result<Lock, BundleError> {
        let text =
            seam_types::files::read_regular_text(path, MAX_TEXT_FILE_BYTES).map_err(|e| {
                BundleError::Read {
                    bundle: path.display().to_string(),
                    reason: e,
                }
            })?;
        toml::from_str(&text).map_err(|e| {
            let (line, column) =
                seam_types::position::line_column(&text, e.span().map_or(0, |s| s.start));
            BundleError::Key(format!(
                "{}:{line}:{column}: {}",
                path.display(),
                e.message().trim()
            ))
        })
    }

    /// Writes the lock file.
    pub fn write(&self, path: &Path) -> Result<(), BundleError> {
        let text = toml::to_string(self).map_err(|e| BundleError::Key(e.to_string()))?;
        seam_types::files::write_atomic(path, |w| {
            w.write_all(
                format!("# Written by `seam lock`: the exact bundles this pipeline loads.\n{text}")
                    .as_bytes(),
            )
        })
        .map_err(|e| BundleError::Read {
            bundle: path.display().to_string(),
            reason: format!("writing failed: {e}"),
        })
    }
}

/// Finds bundles in folders, checks them (digests, trust, lock) and hands out plugins.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    /// Folders holding bundle folders and `.seam` archives.
    pub paths: Vec<PathBuf>,
    pub policy: TrustPolicy,
    /// The lock to enforce, with its file for messages.
    pub lock: Option<(PathBuf, Lock)>,
}

impl Resolver {
    /// Every bundle found in the paths (unreadable ones are skipped by `find`, but
    /// reported when nothing else matches).
    fn candidates(&self) -> Vec<Result<Bundle, BundleError>> {
        let mut found = Vec::new();
        for dir in &self.paths {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                let is_bundle = (p.is_dir() && p.join(MANIFEST).exists())
                    || p.extension().is_some_and(|e| e == "seam");
                if is_bundle {
                    found.push(Bundle::open(&p));
                }
            }
        }
        found
    }

    /// `BUNDLE/PLUGIN` for every readable bundle in the paths that holds a plugin named
    /// `plugin` (for "did you mean" when a bare name is not a standard plugin).
    pub fn references_to(&self, plugin: &str) -> Vec<String> {
        let mut refs: Vec<String> = self
            .candidates()
            .into_iter()
            .flatten()
            .filter(|b| b.manifest.plugins.iter().any(|p| p.name == plugin))
            .map(|b| format!("{}/{plugin}", b.manifest.bundle.name))
            .collect();
        refs.dedup();
        refs
    }

    /// The highest version of bundle `name` that meets `req`, checked: files, trust and
    /// the lock. Nothing is compiled.
    pub fn find(&self, name: &str, req: &semver::VersionReq) -> Result<Bundle, BundleError> {
        let mut seen = Vec::new();
        let mut best: Option<Bundle> = None;
        for candidate in self.candidates() {
            let b = match candidate {
                Ok(b) => b,
                Err(e) => {
                    seen.push(format!("unreadable: {e}"));
                    continue;
                }
            };
            if b.manifest.bundle.name != name {
                continue;
            }
            seen.push(format!(
                "{} {}",
                b.manifest.bundle.name, b.manifest.bundle.version
            ));
            if req.matches(&b.version()) && best.as_ref().is_none_or(|x| b.version() > x.version())
            {
                best = Some(b);
            }
        }
        let Some(bundle) = best else {
            let dirs = self
                .paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let found = if seen.is_empty() {
                "none".to_string()
            } else {
                seen.join("; ")
            };
            return Err(BundleError::Key(format!(
                "no bundle `{name}` matching `{req}` in the bundle paths ({}); found: {found}",
                if dirs.is_empty() {
                    "none given: use --bundle-path or [bundles] paths".to_string()
                } else {
                    dirs
                }
            )));
        };
        bundle.verify(&self.policy)?;
        if let Some((file, lock)) = &self.lock {
            match lock.bundles.iter().find(|l| l.name == name) {
                Some(l) if l.sha256 == bundle.digest() => {}
                Some(l) => {
                    return Err(BundleError::Untrusted {
                        bundle: bundle.path.display().to_string(),
                        reason: format!(
                            "its manifest has SHA-256 {}, but {} pins {} {} at {}; run `seam lock` to accept the new bundle",
                            bundle.digest(),
                            file.display(),
                            l.name,
                            l.version,
                            l.sha256
                        ),
                    })
                }
                None => {
                    return Err(BundleError::Untrusted {
                        bundle: bundle.path.display().to_string(),
                        reason: format!("{} does not pin bundle `{name}`; run `seam lock` again", file.display()),
                    })
                }
            }
        }
        Ok(bundle)
    }

    /// The plugin a reference names, checked.
    pub fn source(&self, r: &PluginRef) -> Result<(Bundle, PluginSource), BundleError> {
        let bundle = self.find(&r.bundle, &r.requirement)?;
        let (_, source) = bundle.plugin(&r.plugin)?;
        Ok((bundle, source))
    }
}

/// The folders in `$SEAM_BUNDLE_PATH` (separated like `$PATH`).
pub fn env_paths() -> Vec<PathBuf> {
    std::env::var_os("SEAM_BUNDLE_PATH")
        .map(|v| {
            std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}
